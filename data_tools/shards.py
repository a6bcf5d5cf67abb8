"""Per-task shard folders: the writer and the memory-mapped reader of ``data_tools.layout``.

Checked where read: ``open_task`` checks the manifest (checksum and structure), the file sizes, each
index's consistency and the manifest's counts against it (cheap, no pass over the data); every read
(``span``, ``sentence``, ``pair``) checks its token ids against the vocabulary and its label values
(one vectorised pass over what is read). ``verify`` re-hashes every file and reads everything.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from .indexed import IndexedDataset, IndexedDatasetError, IndexedDatasetWriter, bin_path, idx_path
from .layout import (
    ALL_TASKS,
    FIELD_VALUES,
    FORMAT_VERSION,
    IGNORE,
    MANIFEST_NAME,
    TASK_LAYOUT,
    ShardError,
    read_manifest,
    sha256_file,
    task_files,
    write_manifest,
)


# ---------------------------------------------------------------------------------------------- writing
class TaskShardWriter:
    """Writes one task folder. Call ``add_document`` (or ``add_pair``), then ``finalize``."""

    def __init__(self, root: str, task: str, token_dtype: np.dtype):
        if task not in TASK_LAYOUT:
            raise ValueError(f"unknown task {task!r}; known: {', '.join(ALL_TASKS)}")
        self.task = task
        self.folder = os.path.join(root, task)
        os.makedirs(self.folder, exist_ok=True)
        layout = TASK_LAYOUT[task]
        self.field_names: tuple[str, ...] = layout["fields"]
        self.pairs: bool = layout["pairs"]
        self.ids = IndexedDatasetWriter(os.path.join(self.folder, "ids"), token_dtype)
        self.fields = {
            name: IndexedDatasetWriter(os.path.join(self.folder, name), np.uint8) for name in self.field_names
        }
        # Pair labels are spilled to a side file as they come (memory must not grow with the corpus).
        self._labels_file = open(os.path.join(self.folder, "labels.tmp"), "wb") if self.pairs else None
        self.num_labels = 0
        self.num_tokens = 0

    def add_document(
        self, sentences: Sequence[Sequence[int]], fields: Optional[dict[str, Sequence]] = None
    ) -> None:
        """One document: its sentences' ids, and for each field one array per sentence."""
        fields = fields or {}
        if set(fields) != set(self.field_names):
            raise ValueError(f"{self.task}: fields {sorted(fields)} given, {list(self.field_names)} expected")
        for k, sentence in enumerate(sentences):
            self.ids.add_sequence(sentence)
            self.num_tokens += len(sentence)
            for name in self.field_names:
                values = fields[name][k]
                if len(values) != len(sentence):
                    raise ValueError(
                        f"{self.task}: field {name} has {len(values)} values for {len(sentence)} tokens"
                    )
                self.fields[name].add_sequence(np.asarray(values, dtype=np.uint8))
        self.ids.end_document()
        for writer in self.fields.values():
            writer.end_document()

    def add_pair(self, first: Sequence[int], second: Sequence[int], label: int) -> None:
        if not self.pairs:
            raise ValueError(f"{self.task} is not a pair task")
        self.add_document([first, second])
        self._labels_file.write(np.asarray([label], dtype="<i8").tobytes())
        self.num_labels += 1

    def add_documents(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        document_sizes: np.ndarray,
        fields: Optional[dict[str, np.ndarray]] = None,
    ) -> None:
        """Many documents at once, byte-identical to ``add_document`` for each of them.

        ``ids`` and each field are the concatenated sentences, ``lengths`` the sentence lengths,
        ``document_sizes`` the number of sentences of each document (each > 0).
        """
        fields = fields or {}
        if set(fields) != set(self.field_names):
            raise ValueError(f"{self.task}: fields {sorted(fields)} given, {list(self.field_names)} expected")
        ids = np.asarray(ids)
        for name in self.field_names:
            if len(fields[name]) != len(ids):
                raise ValueError(
                    f"{self.task}: field {name} has {len(fields[name])} values for {len(ids)} tokens"
                )
        self.ids.add_sequences(ids, lengths, document_sizes)
        self.num_tokens += len(ids)
        for name in self.field_names:
            self.fields[name].add_sequences(np.asarray(fields[name], dtype=np.uint8), lengths, document_sizes)

    def add_pairs(self, ids: np.ndarray, lengths: np.ndarray, labels: np.ndarray) -> None:
        """Many pairs at once: ``lengths`` holds two entries per pair (first, second)."""
        if not self.pairs:
            raise ValueError(f"{self.task} is not a pair task")
        labels = np.asarray(labels, dtype="<i8")
        if len(lengths) != 2 * len(labels):
            raise ValueError(f"{self.task}: {len(lengths)} sequences for {len(labels)} pairs")
        self.ids.add_sequences(ids, lengths, np.full(len(labels), 2, dtype=np.int64))
        self.num_tokens += len(ids)
        self._labels_file.write(labels.tobytes())
        self.num_labels += len(labels)

    def finalize(self) -> dict[str, Any]:
        """Close the files; returns the task's counts for the manifest."""
        self.ids.finalize()
        for writer in self.fields.values():
            writer.finalize()
        if self.pairs:
            self._write_labels()
        return {
            "documents": self.ids.num_documents,
            "sequences": self.ids.num_sequences,
            "tokens": self.num_tokens,
            "fields": list(self.field_names),
        }

    def _write_labels(self) -> None:
        """``labels.npy`` streamed from the side file; the bytes equal ``np.save`` of the labels."""
        self._labels_file.close()
        path = os.path.join(self.folder, "labels.npy")
        side = os.path.join(self.folder, "labels.tmp")
        header = {"descr": "<i8", "fortran_order": False, "shape": (self.num_labels,)}
        with open(path + ".tmp", "wb") as out, open(side, "rb") as src:
            _write_npy_header(out, header)
            while block := src.read(1 << 22):
                out.write(block)
        os.replace(path + ".tmp", path)
        os.remove(side)

    def abort(self) -> None:
        self.ids.abort()
        for writer in self.fields.values():
            writer.abort()
        if self._labels_file is not None:
            self._labels_file.close()
            for name in ("labels.tmp", "labels.npy.tmp"):
                path = os.path.join(self.folder, name)
                if os.path.exists(path):
                    os.remove(path)


def _write_npy_header(f, header: dict[str, Any]) -> None:
    """The header ``np.save`` writes for a 1-D int64 array (format 1.0), so ``labels.npy`` is identical."""
    from numpy.lib import format as npy_format

    npy_format.write_array_header_1_0(f, header)


# ---------------------------------------------------------------------------------------------- reading
class TaskShards:
    """Read side of one task folder, memory-mapped, checked where read (see the module docstring).

    ``ids`` and ``fields[name]`` are ``IndexedDataset``s; ``labels`` (pair tasks) is a memory-mapped
    int64 array; ``classes`` the class names when the task has them (from the manifest). Token ids
    must stay below ``id_limit``: the manifest's, or the model's vocabulary size when that is smaller.
    """

    def __init__(
        self, root: str, task: str, vocab_sha256: Optional[str] = None, id_limit: Optional[int] = None
    ):
        self.root = root
        self.name = task
        self.manifest = read_manifest(root)
        manifest_path = os.path.join(root, MANIFEST_NAME)
        if task not in TASK_LAYOUT:
            raise ShardError(f"unknown task {task!r}; known: {', '.join(ALL_TASKS)}")
        if task not in self.manifest["tasks"]:
            built = ", ".join(self.manifest["tasks"]) or "none"
            raise ShardError(f"{manifest_path}: no shards for task '{task}' (built: {built})")
        vocab = self.manifest["vocab"]
        if vocab_sha256 is not None and vocab["sha256"] != vocab_sha256:
            raise ShardError(
                f"{manifest_path}: key 'vocab.sha256' differs from the model's vocabulary: shards were built with "
                f"{vocab.get('file')}"
            )
        limits = [vocab.get("id_limit", vocab["size"])] + ([id_limit] if id_limit is not None else [])
        self.id_limit = int(min(limits))
        self.info: dict[str, Any] = self.manifest["tasks"][task]
        for rel in task_files(task):
            path = os.path.join(root, rel)
            entry = self.manifest["files"][rel]
            if not os.path.isfile(path):
                raise ShardError(f"{path}: missing shard file")
            if os.path.getsize(path) != entry["bytes"]:
                raise ShardError(f"{path}: {os.path.getsize(path)} bytes, the manifest says {entry['bytes']}")
        folder = os.path.join(root, task)
        try:
            self.ids = IndexedDataset(os.path.join(folder, "ids"))
            self.fields = {
                name: IndexedDataset(os.path.join(folder, name)) for name in TASK_LAYOUT[task]["fields"]
            }
            for dataset in [self.ids, *self.fields.values()]:
                dataset.check()
        except IndexedDatasetError as exc:
            raise ShardError(str(exc)) from None
        self._check_counts(manifest_path)
        for name, field in self.fields.items():
            if field.dtype != np.uint8 or not np.array_equal(
                field.sequence_lengths, self.ids.sequence_lengths
            ):
                raise ShardError(f"{os.path.join(folder, name)}.idx: lengths or type differ from ids.idx")
        self._allowed = {name: _allowed_values(name) for name in self.fields}
        self.classes: Optional[list[str]] = self.info.get("classes")
        self.labels: Optional[np.ndarray] = None
        if TASK_LAYOUT[task]["pairs"]:
            self.labels = self._open_labels(os.path.join(folder, "labels.npy"))
        self._views: Optional[list] = None

    def _check_counts(self, manifest_path: str) -> None:
        found = {
            "documents": self.ids.num_documents,
            "sequences": len(self.ids),
            "tokens": int(self.ids.sequence_lengths.sum(dtype=np.int64)),
        }
        for key, value in found.items():
            if self.info[key] != value:
                raise ShardError(
                    f"{manifest_path}: key 'tasks.{self.name}.{key}' is {self.info[key]}, the index holds {value}"
                )

    def _open_labels(self, path: str) -> np.ndarray:
        try:
            labels = np.load(path, mmap_mode="r")
        except (ValueError, OSError, EOFError) as exc:
            raise ShardError(f"{path}: not a readable .npy file ({exc})") from None
        if labels.dtype != np.dtype("<i8") or labels.ndim != 1 or len(labels) != self.ids.num_documents:
            raise ShardError(
                f"{path}: {labels.dtype} {labels.shape}, expected int64 ({self.ids.num_documents},): one label per pair"
            )
        top = len(self.classes) - 1 if self.classes else None
        bad = np.flatnonzero((labels < 0) | (labels > top if top is not None else False))
        if len(bad):
            raise ShardError(
                f"{path}: pair {int(bad[0])} has label {int(labels[bad[0]])}, outside 0..{top if top is not None else 'inf'}"
            )
        return labels

    @property
    def num_documents(self) -> int:
        return self.ids.num_documents

    @property
    def num_sequences(self) -> int:
        return len(self.ids)

    def document(self, doc: int) -> range:
        return self.ids.document(doc)

    def span(
        self,
        first: int,
        end: int,
        fields: Optional[Sequence[str]] = None,
        max_tokens: Optional[int] = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Ids and label fields (all, or ``fields``) of the consecutive sequences ``[first, end)``, at most
        ``max_tokens`` of them: one zero-copy view each, checked."""
        if self._views is None:  # memoryviews once: frombuffer on them is cheaper than on the memmaps
            self._views = [
                (memoryview(d._data) if d._data.size else b"", d.dtype.newbyteorder("<"))
                for d in [self.ids, *self.fields.values()]
            ]
        ids = self.ids
        if not 0 <= first <= end <= len(ids):
            raise IndexError(f"{ids.prefix}: sequences [{first}, {end}) outside 0..{len(ids)}")
        if first == end:
            start = count = 0
        else:
            start = int(ids.sequence_pointers[first]) // ids.dtype.itemsize
            last = end - 1
            count = (
                int(ids.sequence_pointers[last]) // ids.dtype.itemsize
                + int(ids.sequence_lengths[last])
                - start
            )
        if max_tokens is not None:
            count = min(count, max_tokens)
        (data, dtype), *views = self._views
        out_ids = np.frombuffer(data, dtype=dtype, count=count, offset=start * dtype.itemsize)
        self._check_ids(out_ids, first)
        out_fields = {}
        for name, (view, _) in zip(self.fields, views):
            if fields is None or name in fields:
                values = np.frombuffer(view, dtype=np.uint8, count=count, offset=start)
                self._check_field(name, values, first)
                out_fields[name] = values
        return out_ids, out_fields

    def _check_ids(self, ids: np.ndarray, first: int) -> None:
        if ids.size and (int(ids.max()) >= self.id_limit or (ids.dtype.kind == "i" and int(ids.min()) < 0)):
            k = int(np.flatnonzero((ids >= self.id_limit) | (ids < 0))[0])
            raise ShardError(
                f"{self.ids.prefix}.bin: sequence {self._sequence_of(first, k)} holds token id {int(ids[k])} "
                f"outside the vocabulary ({self.id_limit} ids)"
            )

    def _check_field(self, name: str, values: np.ndarray, first: int) -> None:
        allowed = self._allowed[name][values]
        if not allowed.all():
            k = int(np.flatnonzero(~allowed)[0])
            raise ShardError(
                f"{self.fields[name].prefix}.bin: sequence {self._sequence_of(first, k)}: value {int(values[k])} "
                f"is not a {name} label"
            )

    def _sequence_of(self, first: int, element: int) -> int:
        """The sequence holding the ``element``-th element counted from the start of sequence ``first``."""
        pointers = self.ids.sequence_pointers
        target = int(pointers[first]) + element * self.ids.dtype.itemsize
        return int(np.searchsorted(pointers, target, side="right")) - 1

    def sentence(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Ids and label fields of sequence ``index`` (zero-copy views, checked)."""
        return self.span(index, index + 1)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(first ids, second ids, label)`` of pair ``index`` (pair tasks)."""
        first, second = self.ids.document(index)
        return self.span(first, first + 1)[0], self.span(second, second + 1)[0], int(self.labels[index])

    def check_all(self, block: int = 1 << 16) -> None:
        """Read every sequence (ids and fields) through the checks, ``block`` sequences at a time."""
        for first in range(0, len(self.ids), block):
            self.span(first, min(first + block, len(self.ids)))


def _allowed_values(name: str) -> np.ndarray:
    """A lookup table: ``table[value]`` is True when ``value`` may appear in field ``name``."""
    table = np.zeros(256, dtype=bool)
    table[list(FIELD_VALUES[name])] = True
    return table


def open_task(
    root: str, task: str, vocab_sha256: Optional[str] = None, id_limit: Optional[int] = None
) -> TaskShards:
    return TaskShards(root, task, vocab_sha256, id_limit)


def verify(root: str) -> dict[str, Any]:
    """Re-hash every file, check every index and read every value; raises ``ShardError`` naming the first
    damaged file."""
    manifest = read_manifest(root)
    for rel, entry in sorted(manifest["files"].items()):
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            raise ShardError(f"{path}: missing shard file")
        if os.path.getsize(path) != entry["bytes"]:
            raise ShardError(f"{path}: {os.path.getsize(path)} bytes, the manifest says {entry['bytes']}")
        if sha256_file(path) != entry["sha256"]:
            raise ShardError(f"{path}: sha256 differs from the manifest (the file is damaged)")
    for task in manifest["tasks"]:
        TaskShards(root, task).check_all()
    return manifest


def iter_prefixes(root: str, task: str) -> Iterable[str]:
    """Path prefixes of a task's indexed datasets (for other readers, e.g. Megatron's)."""
    for name in ["ids", *TASK_LAYOUT[task]["fields"]]:
        yield os.path.join(root, task, name)


__all__ = [
    "ALL_TASKS",
    "FIELD_VALUES",
    "FORMAT_VERSION",
    "IGNORE",
    "MANIFEST_NAME",
    "ShardError",
    "TASK_LAYOUT",
    "TaskShardWriter",
    "TaskShards",
    "bin_path",
    "idx_path",
    "open_task",
    "read_manifest",
    "sha256_file",
    "task_files",
    "verify",
    "write_manifest",
]
