"""The shard directory's layout and its manifest: what ``data_tools.shards`` writes and reads.

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
the read/skipped counts with reasons, the sha256 and size of every file, and ``manifest_sha256``: the
sha256 of the manifest itself (its canonical JSON without that key), so an edited or damaged manifest
is caught like a damaged shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from ernie.errors import ErnieError

FORMAT_VERSION = 2  # 2: the manifest carries its own checksum; 1 (no checksum) is still read, with a warning
MANIFEST_NAME = "manifest.json"
CHECKSUM_KEY = "manifest_sha256"
IGNORE = 255

logger = logging.getLogger("data_tools")

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
# The values each label field may hold (see above); anything else is damage.
FIELD_VALUES = {
    "word": (1, 2),
    "phrase": (0, 1, 2),
    "entity": (0, 1, 2),
    "cap": (0, 1, IGNORE),
    "tdr": (0, 1, IGNORE),
}


class ShardError(ErnieError):
    """Missing, damaged or mismatched shards; the message names the file (and key)."""


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def task_files(task: str) -> list[str]:
    """Files of a task folder, relative to the output directory."""
    names = ["ids", *TASK_LAYOUT[task]["fields"]]
    files = []
    for name in names:
        files += [f"{task}/{name}.bin", f"{task}/{name}.idx"]
    if TASK_LAYOUT[task]["pairs"]:
        files.append(f"{task}/labels.npy")
    return files


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON without its own checksum: layout and whitespace do not count."""
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_manifest(root: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Add ``format_version``, the files' sizes and sha256 and the manifest's own checksum, then write
    ``manifest.json`` atomically."""
    manifest = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    manifest["format_version"] = FORMAT_VERSION
    files = {}
    for task in manifest.get("tasks", {}):
        for rel in task_files(task):
            path = os.path.join(root, rel)
            files[rel] = {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}
    manifest["files"] = files
    manifest[CHECKSUM_KEY] = manifest_checksum(manifest)
    path = os.path.join(root, MANIFEST_NAME)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return manifest


def read_manifest(root: str) -> dict[str, Any]:
    """``root/manifest.json``, checked: its checksum, then the structure every reader relies on."""
    if not os.path.isdir(root):
        raise ShardError(
            f"{root}: not a directory" if os.path.exists(root) else f"{root}: no such shard directory"
        )
    path = os.path.join(root, MANIFEST_NAME)
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise ShardError(f"{path}: no manifest; build the shards with 'python -m data_tools build'") from None
    except UnicodeDecodeError as exc:
        raise ShardError(f"{path}: not UTF-8 (byte {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        raise ShardError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(manifest, dict):
        raise ShardError(f"{path}: expected a JSON object")
    version = manifest.get("format_version")
    if version not in (1, FORMAT_VERSION) or isinstance(version, bool):
        raise ShardError(f"{path}: key 'format_version' is {version!r}, expected {FORMAT_VERSION}")
    if CHECKSUM_KEY in manifest or version != 1:
        if manifest.get(CHECKSUM_KEY) != manifest_checksum(manifest):
            raise ShardError(
                f"{path}: the manifest differs from its checksum (key '{CHECKSUM_KEY}'): it was edited or "
                "damaged; rebuild the shards"
            )
    else:
        logger.warning("%s: format 1, not protected by a checksum; rebuild to protect it", path)
    _check_structure(path, manifest)
    return manifest


_JSON_NAMES = {int: "a count", str: "a string", dict: "an object", list: "a list"}


def _expect(path: str, value: Any, kind: type, key: str) -> Any:
    """``value`` if it has type ``kind`` (an int must be a count: >= 0), else a ShardError naming ``key``."""
    if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
        raise ShardError(f"{path}: key '{key}' is {value!r}, expected {_JSON_NAMES[kind]}")
    return value


def _check_structure(path: str, manifest: dict[str, Any]) -> None:
    """Every key a reader uses is there with the right type, so no reader fails on a damaged manifest."""
    _expect(path, manifest.get("language"), str, "language")
    vocab = _expect(path, manifest.get("vocab"), dict, "vocab")
    _expect(path, vocab.get("sha256"), str, "vocab.sha256")
    _expect(path, vocab.get("size"), int, "vocab.size")
    if manifest["format_version"] != 1 or "id_limit" in vocab:
        _expect(path, vocab.get("id_limit"), int, "vocab.id_limit")
    if vocab.get("file") is not None:
        _expect(path, vocab["file"], str, "vocab.file")
    tasks = _expect(path, manifest.get("tasks"), dict, "tasks")
    files = _expect(path, manifest.get("files"), dict, "files")
    for task, info in tasks.items():
        if task not in TASK_LAYOUT:
            raise ShardError(f"{path}: key 'tasks.{task}' is not a task; known: {', '.join(ALL_TASKS)}")
        _expect(path, info, dict, f"tasks.{task}")
        for key in ("documents", "sequences", "tokens"):
            _expect(path, info.get(key), int, f"tasks.{task}.{key}")
        if info.get("classes") is not None:
            for k, name in enumerate(_expect(path, info["classes"], list, f"tasks.{task}.classes")):
                _expect(path, name, str, f"tasks.{task}.classes.{k}")
        for rel in task_files(task):
            entry = _expect(path, files.get(rel), dict, f"files.{rel}")
            _expect(path, entry.get("bytes"), int, f"files.{rel}.bytes")
            _expect(path, entry.get("sha256"), str, f"files.{rel}.sha256")
    counts = _expect(path, manifest.get("counts", {}), dict, "counts")
    for group in ("read", "notes"):
        for key, value in _expect(path, counts.get(group, {}), dict, f"counts.{group}").items():
            _expect(path, value, int, f"counts.{group}.{key}")
    for reason, entry in _expect(path, counts.get("skipped", {}), dict, "counts.skipped").items():
        _expect(path, entry, dict, f"counts.skipped.{reason}")
        _expect(path, entry.get("count"), int, f"counts.skipped.{reason}.count")
        for k, example in enumerate(
            _expect(path, entry.get("examples"), list, f"counts.skipped.{reason}.examples")
        ):
            _expect(path, example, str, f"counts.skipped.{reason}.examples.{k}")
