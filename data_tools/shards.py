"""Per-task shard folders and the build manifest: the writer and the reader of the layout.

An output directory of ``python -m data_tools build`` looks like::

    OUT/manifest.json
    OUT/<task>/ids.bin, ids.idx           token ids, one sequence per sentence (no [CLS]/[SEP]);
                                          the document index groups sentences into documents
    OUT/<task>/<field>.bin, <field>.idx   uint8 per-token labels aligned with ids (same lengths)
    OUT/<task>/labels.npy                 int64, one label per document (pair tasks)

Per task (``TASK_LAYOUT``):

=====================  ========================  ==================================================
task                   fields                    documents are
=====================  ========================  ==================================================
knowledge_masking      word, phrase, entity      corpus documents (sentences in order)
capitalization         cap                       corpus documents (ids of the lower-cased text)
token_document         tdr                       corpus documents
sentence_reordering    -                         corpus documents
sentence_distance      -                         corpus documents
discourse_relation     -  (labels.npy)           pairs: [first sentence, second without marker]
ir_relevance           -  (labels.npy)           pairs: [query, title]
=====================  ========================  ==================================================

Field values (uint8):

* ``word`` / ``phrase`` / ``entity``: ``0`` outside any unit of that level, ``1`` first token of a
  unit, ``2`` continuation of the unit. Every token is inside a word (1 or 2).
* ``cap``: ``1`` the token's source word starts with an upper-case letter, ``0`` it does not,
  ``IGNORE`` (255) no letter to judge (punctuation, digits): not scored.
* ``tdr``: ``1`` the token's word also occurs in another sentence of the same document, ``0`` it
  does not, ``IGNORE`` not scored (punctuation, stop words).

``manifest.json`` holds the tool version, the language, the vocabulary (path, sha256, size,
lower-casing), the build settings, per-task counts (documents, sequences, tokens, class counts),
the read/skipped counts with reasons, and the sha256 and size of every file. ``open_task`` checks
the manifest and file sizes when a reader opens a task (cheap); ``verify`` re-hashes everything.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from ernie.errors import ErnieError

from .indexed import IndexedDataset, IndexedDatasetError, IndexedDatasetWriter, bin_path, idx_path

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
IGNORE = 255

TASK_LAYOUT: dict[str, dict[str, Any]] = {
    "knowledge_masking": {"fields": ("word", "phrase", "entity"), "pairs": False},
    "capitalization": {"fields": ("cap",), "pairs": False},
    "token_document": {"fields": ("tdr",), "pairs": False},
    "sentence_reordering": {"fields": (), "pairs": False},
    "sentence_distance": {"fields": (), "pairs": False},
    "discourse_relation": {"fields": (), "pairs": True},
    "ir_relevance": {"fields": (), "pairs": True},
}
ALL_TASKS = tuple(TASK_LAYOUT)


class ShardError(ErnieError):
    """Missing, damaged or mismatched shards; the message names the file (and key)."""


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


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


def task_files(task: str) -> list[str]:
    """Files of a task folder, relative to the output directory."""
    names = ["ids", *TASK_LAYOUT[task]["fields"]]
    files = []
    for name in names:
        files += [f"{task}/{name}.bin", f"{task}/{name}.idx"]
    if TASK_LAYOUT[task]["pairs"]:
        files.append(f"{task}/labels.npy")
    return files


def write_manifest(root: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Add ``format_version`` and the files' sizes and sha256, then write ``manifest.json`` atomically."""
    manifest = dict(manifest)
    manifest["format_version"] = FORMAT_VERSION
    files = {}
    for task in manifest.get("tasks", {}):
        for rel in task_files(task):
            path = os.path.join(root, rel)
            files[rel] = {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}
    manifest["files"] = files
    path = os.path.join(root, MANIFEST_NAME)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return manifest


# ---------------------------------------------------------------------------------------------- reading
def read_manifest(root: str) -> dict[str, Any]:
    path = os.path.join(root, MANIFEST_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise ShardError(f"{path}: no manifest; build the shards with 'python -m data_tools build'") from None
    except json.JSONDecodeError as exc:
        raise ShardError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise ShardError(
            f"{path}: key 'format_version' is {manifest.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    for key in ("tasks", "files", "vocab", "language"):
        if key not in manifest:
            raise ShardError(f"{path}: key '{key}' missing")
    return manifest


class TaskShards:
    """Read side of one task folder, memory-mapped.

    ``ids`` and ``fields[name]`` are ``IndexedDataset``s; ``labels`` (pair tasks) is a memory-mapped
    int64 array; ``classes`` the class names when the task has them (from the manifest).
    """

    def __init__(self, root: str, task: str, vocab_sha256: Optional[str] = None):
        self.root = root
        self.name = task
        self.manifest = read_manifest(root)
        manifest_path = os.path.join(root, MANIFEST_NAME)
        if task not in TASK_LAYOUT:
            raise ShardError(f"unknown task {task!r}; known: {', '.join(ALL_TASKS)}")
        if task not in self.manifest["tasks"]:
            built = ", ".join(self.manifest["tasks"]) or "none"
            raise ShardError(f"{manifest_path}: no shards for task '{task}' (built: {built})")
        if vocab_sha256 is not None and self.manifest["vocab"].get("sha256") != vocab_sha256:
            raise ShardError(
                f"{manifest_path}: key 'vocab.sha256' differs from the model's vocabulary: shards were built with "
                f"{self.manifest['vocab'].get('file')}"
            )
        self.info: dict[str, Any] = self.manifest["tasks"][task]
        for rel in task_files(task):
            path = os.path.join(root, rel)
            entry = self.manifest["files"].get(rel)
            if entry is None:
                raise ShardError(f"{manifest_path}: key 'files.{rel}' missing")
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
        except IndexedDatasetError as exc:
            raise ShardError(str(exc)) from None
        for name, field in self.fields.items():
            if len(field) != len(self.ids) or not np.array_equal(
                field.sequence_lengths, self.ids.sequence_lengths
            ):
                raise ShardError(f"{os.path.join(folder, name)}.idx: lengths differ from ids.idx")
        self.labels: Optional[np.ndarray] = None
        if TASK_LAYOUT[task]["pairs"]:
            self.labels = np.load(os.path.join(folder, "labels.npy"), mmap_mode="r")
            if len(self.labels) != self.ids.num_documents:
                raise ShardError(
                    f"{os.path.join(folder, 'labels.npy')}: {len(self.labels)} labels for {self.ids.num_documents} pairs"
                )
        self.classes: Optional[list[str]] = self.info.get("classes")
        self._views: Optional[list] = None

    @property
    def num_documents(self) -> int:
        return self.ids.num_documents

    @property
    def num_sequences(self) -> int:
        return len(self.ids)

    def document(self, doc: int) -> range:
        return self.ids.document(doc)

    def span(self, first: int, end: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Ids and label fields of the consecutive sequences ``[first, end)``: one zero-copy view each."""
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
        (data, dtype), *fields = self._views
        out_ids = np.frombuffer(data, dtype=dtype, count=count, offset=start * dtype.itemsize)
        return out_ids, {
            name: np.frombuffer(view, dtype=np.uint8, count=count, offset=start)
            for name, (view, _) in zip(self.fields, fields)
        }

    def sentence(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Ids and label fields of sequence ``index`` (zero-copy views)."""
        return self.span(index, index + 1)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(first ids, second ids, label)`` of pair ``index`` (pair tasks)."""
        first, second = self.ids.document(index)
        return self.ids[first], self.ids[second], int(self.labels[index])


def open_task(root: str, task: str, vocab_sha256: Optional[str] = None) -> TaskShards:
    return TaskShards(root, task, vocab_sha256)


def verify(root: str) -> dict[str, Any]:
    """Re-hash every file and check every index; raises ``ShardError`` naming the first damaged file."""
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
        shards = TaskShards(root, task)
        for dataset in [shards.ids, *shards.fields.values()]:
            try:
                dataset.check()
            except IndexedDatasetError as exc:
                raise ShardError(str(exc)) from None
    return manifest


def iter_prefixes(root: str, task: str) -> Iterable[str]:
    """Path prefixes of a task's indexed datasets (for other readers, e.g. Megatron's)."""
    for name in ["ids", *TASK_LAYOUT[task]["fields"]]:
        yield os.path.join(root, task, name)


__all__ = [
    "ALL_TASKS",
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
