"""Megatron-compatible indexed dataset: a writer and a memory-mapped reader, nothing else.

A dataset is two files sharing a prefix:

``PREFIX.bin``  the sequences' elements, concatenated, little-endian, one dtype.
``PREFIX.idx``  the index, little-endian:

    offset  size                 field
    0       9                    magic b"MMIDIDX\\x00\\x00"
    9       8  uint64            version = 1
    17      1  uint8             dtype code (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
                                 6 float64, 7 float32, 8 uint16)
    18      8  uint64            sequence count S
    26      8  uint64            document count D (entries of the document index, = documents + 1)
    34      4*S int32            sequence lengths (elements)
    ..      8*S int64            sequence byte offsets into .bin
    ..      8*D int64            document index: sequence number where each document starts, then S

This is the layout of Megatron-LM's ``MMapIndexedDataset`` (and PaddleNLP's copy of it), so their
readers open our files. Token ids use uint16 when the vocabulary has fewer than 65,500 entries,
int32 otherwise; per-token label fields use uint8.
"""

from __future__ import annotations

import os
import struct
from typing import Iterable, Iterator, Optional, Union

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
HEADER = struct.Struct("<9sQBQQ")  # 34 bytes

DTYPE_CODES = {
    np.dtype(np.uint8): 1,
    np.dtype(np.int8): 2,
    np.dtype(np.int16): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int64): 5,
    np.dtype(np.float64): 6,
    np.dtype(np.float32): 7,
    np.dtype(np.uint16): 8,
}
CODE_DTYPES = {code: dtype for dtype, code in DTYPE_CODES.items()}


class IndexedDatasetError(ValueError):
    """A damaged or foreign index file; the message names it."""


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (Megatron's threshold), else int32."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def bin_path(prefix: str) -> str:
    return prefix + ".bin"


def idx_path(prefix: str) -> str:
    return prefix + ".idx"


class IndexedDatasetWriter:
    """Append sequences, close documents, then ``finalize``; files appear only when finalized.

    The data goes to ``PREFIX.bin.tmp`` as it comes and the index is written at the end, then both
    are renamed into place, so an interrupted build leaves no file that looks complete.
    """

    def __init__(self, prefix: str, dtype: Union[np.dtype, type, str]):
        self.prefix = prefix
        self.dtype = np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"{prefix}: dtype {self.dtype} has no Megatron code")
        self._bin = open(bin_path(prefix) + ".tmp", "wb")
        self._lengths: list[int] = []
        self._doc_index: list[int] = [0]
        self._finalized = False

    def add_sequence(self, values: Union[np.ndarray, Iterable[int]]) -> None:
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(f"{self.prefix}: a sequence must be 1-D, got shape {array.shape}")
        if array.dtype != self.dtype:
            if array.size and (array.min() < np.iinfo(self.dtype).min if self.dtype.kind in "iu" else False):
                raise ValueError(f"{self.prefix}: value {array.min()} does not fit {self.dtype}")
            if array.size and (array.max() > np.iinfo(self.dtype).max if self.dtype.kind in "iu" else False):
                raise ValueError(f"{self.prefix}: value {array.max()} does not fit {self.dtype}")
            array = array.astype(self.dtype)
        self._bin.write(array.astype(self.dtype.newbyteorder("<"), copy=False).tobytes(order="C"))
        self._lengths.append(int(array.size))

    def end_document(self) -> None:
        """Close the current document (a no-op when it holds no sequence)."""
        if self._doc_index[-1] != len(self._lengths):
            self._doc_index.append(len(self._lengths))

    def add_document(self, sequences: Iterable) -> None:
        for sequence in sequences:
            self.add_sequence(sequence)
        self.end_document()

    @property
    def num_sequences(self) -> int:
        return len(self._lengths)

    @property
    def num_documents(self) -> int:
        return len(self._doc_index) - 1

    def finalize(self) -> None:
        if self._finalized:
            return
        self.end_document()
        self._bin.close()
        lengths = np.asarray(self._lengths, dtype=np.int32)
        pointers = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths) > 1:
            np.cumsum(lengths[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        doc_index = np.asarray(self._doc_index, dtype=np.int64)
        tmp_idx = idx_path(self.prefix) + ".tmp"
        with open(tmp_idx, "wb") as f:
            f.write(HEADER.pack(MAGIC, VERSION, DTYPE_CODES[self.dtype], len(lengths), len(doc_index)))
            f.write(lengths.astype("<i4").tobytes())
            f.write(pointers.astype("<i8").tobytes())
            f.write(doc_index.astype("<i8").tobytes())
        os.replace(bin_path(self.prefix) + ".tmp", bin_path(self.prefix))
        os.replace(tmp_idx, idx_path(self.prefix))
        self._finalized = True

    def abort(self) -> None:
        """Drop the partial files (used when the build fails)."""
        if not self._bin.closed:
            self._bin.close()
        for path in (bin_path(self.prefix) + ".tmp", idx_path(self.prefix) + ".tmp"):
            if os.path.exists(path):
                os.remove(path)

    def __enter__(self) -> IndexedDatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self.abort()


class IndexedDataset:
    """Memory-mapped reader: ``ds[i]`` is a zero-copy numpy view of sequence ``i``.

    ``sequence_lengths``, ``sequence_pointers`` and ``document_index`` are memory-mapped too; a
    document ``d`` spans sequences ``document_index[d]`` to ``document_index[d + 1]``.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        path = idx_path(prefix)
        try:
            self._index = np.memmap(path, dtype=np.uint8, mode="r")
        except FileNotFoundError:
            raise IndexedDatasetError(f"{path}: no such index file") from None
        except ValueError:  # empty file
            raise IndexedDatasetError(f"{path}: empty index file") from None
        if len(self._index) < HEADER.size:
            raise IndexedDatasetError(f"{path}: truncated header ({len(self._index)} bytes)")
        magic, version, code, count, doc_count = HEADER.unpack(bytes(self._index[: HEADER.size]))
        if magic != MAGIC:
            raise IndexedDatasetError(f"{path}: not a Megatron indexed dataset (bad magic {magic!r})")
        if version != VERSION:
            raise IndexedDatasetError(f"{path}: unsupported version {version}")
        if code not in CODE_DTYPES:
            raise IndexedDatasetError(f"{path}: unknown dtype code {code}")
        self.dtype = CODE_DTYPES[code]
        expected = HEADER.size + count * 12 + doc_count * 8
        if len(self._index) < expected:
            raise IndexedDatasetError(f"{path}: truncated index ({len(self._index)} of {expected} bytes)")
        offset = HEADER.size
        buffer = self._index
        self.sequence_lengths = np.frombuffer(buffer, dtype="<i4", count=count, offset=offset)
        offset += count * 4
        self.sequence_pointers = np.frombuffer(buffer, dtype="<i8", count=count, offset=offset)
        offset += count * 8
        self.document_index = np.frombuffer(buffer, dtype="<i8", count=doc_count, offset=offset)

        data_path = bin_path(prefix)
        if not os.path.isfile(data_path):
            raise IndexedDatasetError(f"{data_path}: no such data file")
        size = os.path.getsize(data_path)
        needed = int(self.sequence_lengths.astype(np.int64).sum()) * self.dtype.itemsize
        if size != needed:
            raise IndexedDatasetError(f"{data_path}: {size} bytes, the index describes {needed}")
        self._data = np.memmap(data_path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.sequence_lengths)

    @property
    def num_documents(self) -> int:
        return max(len(self.document_index) - 1, 0)

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.prefix}: sequence {index} out of range ({len(self)} sequences)")
        index %= len(self)
        return np.frombuffer(
            self._data,
            dtype=self.dtype.newbyteorder("<"),
            count=int(self.sequence_lengths[index]),
            offset=int(self.sequence_pointers[index]),
        )

    def get(self, index: int, offset: int = 0, length: Optional[int] = None) -> np.ndarray:
        """Part of a sequence without touching the rest of it."""
        total = int(self.sequence_lengths[index])
        if length is None:
            length = total - offset
        if offset < 0 or length < 0 or offset + length > total:
            raise IndexError(f"{self.prefix}: [{offset}, {offset + length}) outside sequence {index} of length {total}")
        return np.frombuffer(
            self._data,
            dtype=self.dtype.newbyteorder("<"),
            count=length,
            offset=int(self.sequence_pointers[index]) + offset * self.dtype.itemsize,
        )

    def document(self, doc: int) -> range:
        """Sequence numbers of document ``doc``."""
        return range(int(self.document_index[doc]), int(self.document_index[doc + 1]))

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]

    def check(self) -> None:
        """Index consistency beyond what opening checks: pointers, lengths and document bounds."""
        path = idx_path(self.prefix)
        if (self.sequence_lengths < 0).any():
            raise IndexedDatasetError(f"{path}: negative sequence length")
        expected = np.zeros(len(self), dtype=np.int64)
        if len(self) > 1:
            np.cumsum(self.sequence_lengths[:-1].astype(np.int64) * self.dtype.itemsize, out=expected[1:])
        if not np.array_equal(expected, self.sequence_pointers):
            raise IndexedDatasetError(f"{path}: sequence pointers do not follow the lengths")
        doc = self.document_index
        if len(doc) == 0 or doc[0] != 0 or doc[-1] != len(self) or (np.diff(doc) < 0).any():
            raise IndexedDatasetError(f"{path}: document index is not an increasing list from 0 to {len(self)}")
