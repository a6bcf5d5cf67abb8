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

from ernie.errors import ErnieError

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


class IndexedDatasetError(ErnieError):
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

    The data goes to ``PREFIX.bin.tmp`` as it comes; the sequence lengths and the document index
    are spilled to two side files (``PREFIX.lengths.tmp``, ``PREFIX.docs.tmp``) so that memory does
    not grow with the corpus. ``finalize`` streams the index together, then renames both files into
    place, so an interrupted build leaves no file that looks complete.
    """

    _FLUSH = 1 << 16  # buffered index entries before they are spilled to the side files

    def __init__(self, prefix: str, dtype: Union[np.dtype, type, str]):
        self.prefix = prefix
        self.dtype = np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"{prefix}: dtype {self.dtype} has no Megatron code")
        self._bin = open(bin_path(prefix) + ".tmp", "wb")
        self._len_file = open(prefix + ".lengths.tmp", "wb")
        self._doc_file = open(prefix + ".docs.tmp", "wb")
        self._len_buffer: list[np.ndarray] = []
        self._doc_buffer: list[np.ndarray] = []
        self._buffered = 0
        self._num_sequences = 0
        self._num_documents = 0
        self._last_doc_start = 0  # sequence number where the open document starts
        self._finalized = False

    def _check_range(self, array: np.ndarray) -> np.ndarray:
        if array.dtype != self.dtype:
            if array.size and self.dtype.kind in "iu":
                info = np.iinfo(self.dtype)
                low, high = array.min(), array.max()
                if low < info.min:
                    raise ValueError(f"{self.prefix}: value {low} does not fit {self.dtype}")
                if high > info.max:
                    raise ValueError(f"{self.prefix}: value {high} does not fit {self.dtype}")
            array = array.astype(self.dtype)
        return array

    def _push_lengths(self, lengths: np.ndarray) -> None:
        self._len_buffer.append(lengths.astype("<i4", copy=False))
        self._num_sequences += len(lengths)
        self._buffered += len(lengths)
        if self._buffered >= self._FLUSH:
            self._flush()

    def _push_doc_ends(self, ends: np.ndarray) -> None:
        self._doc_buffer.append(ends.astype("<i8", copy=False))
        self._num_documents += len(ends)
        self._buffered += len(ends)
        if self._buffered >= self._FLUSH:
            self._flush()

    def _flush(self) -> None:
        for buffer, f in ((self._len_buffer, self._len_file), (self._doc_buffer, self._doc_file)):
            for block in buffer:
                f.write(block.tobytes())
            buffer.clear()
        self._buffered = 0

    def add_sequence(self, values: Union[np.ndarray, Iterable[int]]) -> None:
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(f"{self.prefix}: a sequence must be 1-D, got shape {array.shape}")
        array = self._check_range(array)
        self._bin.write(array.astype(self.dtype.newbyteorder("<"), copy=False).tobytes(order="C"))
        self._push_lengths(np.asarray([array.size], dtype=np.int32))

    def add_sequences(
        self, values: np.ndarray, lengths: np.ndarray, document_sizes: Optional[np.ndarray] = None
    ) -> None:
        """Many sequences at once: ``values`` concatenated, ``lengths`` per sequence.

        With ``document_sizes`` (sequences per document, each > 0, summing to ``len(lengths)``)
        every listed document is closed, as ``add_document`` would; the files are byte-identical
        to adding the sequences one by one.
        """
        values = np.asarray(values)
        lengths = np.asarray(lengths, dtype=np.int64)
        if values.ndim != 1 or lengths.ndim != 1:
            raise ValueError(f"{self.prefix}: values and lengths must be 1-D")
        if int(lengths.sum()) != values.size or (lengths < 0).any():
            raise ValueError(
                f"{self.prefix}: lengths sum to {int(lengths.sum())}, {values.size} values given"
            )
        values = self._check_range(values)
        self._bin.write(values.astype(self.dtype.newbyteorder("<"), copy=False).tobytes(order="C"))
        start = self._num_sequences
        self._push_lengths(lengths.astype(np.int32))
        if document_sizes is not None:
            sizes = np.asarray(document_sizes, dtype=np.int64)
            if (sizes <= 0).any() or int(sizes.sum()) != len(lengths):
                raise ValueError(f"{self.prefix}: document sizes must be > 0 and sum to {len(lengths)}")
            if self._last_doc_start != start:  # close a document left open by add_sequence
                self.end_document()
            ends = start + np.cumsum(sizes)
            if len(ends):
                self._push_doc_ends(ends)
                self._last_doc_start = int(ends[-1])

    def end_document(self) -> None:
        """Close the current document (a no-op when it holds no sequence)."""
        if self._last_doc_start != self._num_sequences:
            self._push_doc_ends(np.asarray([self._num_sequences], dtype=np.int64))
            self._last_doc_start = self._num_sequences

    def add_document(self, sequences: Iterable) -> None:
        for sequence in sequences:
            self.add_sequence(sequence)
        self.end_document()

    @property
    def num_sequences(self) -> int:
        return self._num_sequences

    @property
    def num_documents(self) -> int:
        return self._num_documents

    def finalize(self) -> None:
        if self._finalized:
            return
        self.end_document()
        self._flush()
        self._bin.close()
        self._len_file.close()
        self._doc_file.close()
        count, doc_count = self._num_sequences, self._num_documents + 1
        block = 1 << 20
        tmp_idx = idx_path(self.prefix) + ".tmp"
        with open(tmp_idx, "wb") as f:
            f.write(HEADER.pack(MAGIC, VERSION, DTYPE_CODES[self.dtype], count, doc_count))
            with open(self.prefix + ".lengths.tmp", "rb") as lengths_file:
                while chunk := lengths_file.read(block * 4):
                    f.write(chunk)
            # Byte pointers: the running sum of the previous lengths, streamed block by block.
            offset = 0
            with open(self.prefix + ".lengths.tmp", "rb") as lengths_file:
                while chunk := lengths_file.read(block * 4):
                    sizes = np.frombuffer(chunk, dtype="<i4").astype(np.int64) * self.dtype.itemsize
                    ends = np.cumsum(sizes) + offset
                    f.write((ends - sizes).astype("<i8").tobytes())
                    offset = int(ends[-1])
            f.write(np.zeros(1, dtype="<i8").tobytes())
            with open(self.prefix + ".docs.tmp", "rb") as docs_file:
                while chunk := docs_file.read(block * 8):
                    f.write(chunk)
        os.replace(bin_path(self.prefix) + ".tmp", bin_path(self.prefix))
        os.replace(tmp_idx, idx_path(self.prefix))
        for side in (".lengths.tmp", ".docs.tmp"):
            os.remove(self.prefix + side)
        self._finalized = True

    def abort(self) -> None:
        """Drop the partial files (used when the build fails)."""
        for f in (self._bin, self._len_file, self._doc_file):
            if not f.closed:
                f.close()
        for path in (
            bin_path(self.prefix) + ".tmp",
            idx_path(self.prefix) + ".tmp",
            self.prefix + ".lengths.tmp",
            self.prefix + ".docs.tmp",
        ):
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
            raise IndexError(
                f"{self.prefix}: [{offset}, {offset + length}) outside sequence {index} of length {total}"
            )
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

    def check(self, block: int = 1 << 20) -> None:
        """Index consistency beyond what opening checks: pointers, lengths and document bounds.

        One pass over the index, ``block`` sequences at a time (memory stays flat on large indexes).
        """
        path = idx_path(self.prefix)
        offset = 0
        for first in range(0, len(self), block):
            lengths = self.sequence_lengths[first : first + block].astype(np.int64)
            if (lengths < 0).any():
                raise IndexedDatasetError(f"{path}: negative sequence length")
            sizes = lengths * self.dtype.itemsize
            expected = np.cumsum(sizes) - sizes + offset
            if not np.array_equal(expected, self.sequence_pointers[first : first + block]):
                raise IndexedDatasetError(f"{path}: sequence pointers do not follow the lengths")
            offset += int(sizes.sum())
        doc = self.document_index
        if len(doc) == 0 or doc[0] != 0 or doc[-1] != len(self) or (np.diff(doc) < 0).any():
            raise IndexedDatasetError(
                f"{path}: document index is not an increasing list from 0 to {len(self)}"
            )
