"""``inspect``: stats and decoded samples with their labels (``verify`` is ``data_tools.shards.verify``).

Samples are rendered so that each label kind can be read off the text:

* knowledge_masking: one line per level; units in brackets, ``[北京 大学]``, tokens outside any
  unit bare;
* capitalization: the lower-cased tokens, with label 1 shown by upper-casing the first letter
  again (``paris`` -> ``Paris``) and IGNORE tokens in ``<>``;
* token_document: tokens labelled 1 in ``*stars*``, IGNORE tokens in ``<>``;
* sentence tasks: the document's sentences numbered;
* pair tasks: ``label (class): first ||| second``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np

from ernie.wordpiece import is_chinese_char, load_vocab

from .shards import ALL_TASKS, FIELD_VALUES, IGNORE, TASK_LAYOUT, ShardError, TaskShards, read_manifest


def _vocab_tokens(manifest: dict[str, Any], root: str, vocab: Optional[str]) -> dict[int, str]:
    path = vocab or manifest["vocab"].get("file")
    if not path or not os.path.isfile(path):
        raise ShardError(
            f"{os.path.join(root, 'manifest.json')}: key 'vocab.file' names {path!r}, which is missing: pass --vocab"
        )
    return {index: token for token, index in load_vocab(path).items()}


def join_tokens(tokens: list[str]) -> str:
    """Word pieces glued (``##``), CJK characters side by side, everything else space-separated."""
    out = ""
    prev_cjk = False
    for token in tokens:
        bare = token.strip("[]") or token
        cjk = len(bare) == 1 and is_chinese_char(ord(bare))
        if token.startswith("##") and len(token) > 2:
            out += token[2:]
        elif out and not (cjk and prev_cjk):
            out += " " + token
        else:
            out += token
        prev_cjk = cjk
    return out


def render_units(tokens: list[str], labels: np.ndarray) -> str:
    """Units in brackets: ``[` before a unit's first token, ``]`` after its last."""
    shown = list(tokens)
    values = labels.tolist()
    for k, label in enumerate(values):
        if label == 1:
            shown[k] = "[" + shown[k]
        if label != 0 and (k + 1 == len(values) or values[k + 1] != 2):
            shown[k] = shown[k] + "]"
    return join_tokens(shown)


def render_marked(tokens: list[str], labels: np.ndarray, kind: str) -> str:
    """Token labels made visible on whole words (every piece of a word carries the word's label):
    ``cap`` upper-cases the word's first letter, ``tdr`` puts the word in ``*...*``, IGNORE in ``<...>``."""
    values = labels.tolist()
    shown = []
    for k, (token, label) in enumerate(zip(tokens, values)):
        piece = token.startswith("##") and len(token) > 2
        word_ends = k + 1 == len(tokens) or not tokens[k + 1].startswith("##")
        text = token[2:] if piece else token
        if label == 1 and kind == "cap" and not piece:
            text = text[:1].upper() + text[1:]
        opener, closer = {IGNORE: ("<", ">"), 1: ("*", "*") if kind == "tdr" else ("", "")}.get(
            label, ("", "")
        )
        text = ("" if piece else opener) + text + (closer if word_ends else "")
        shown.append("##" + text if piece else text)
    return join_tokens(shown)


def inspect(
    root: str, samples: int = 3, tasks: Optional[list[str]] = None, vocab: Optional[str] = None, seed: int = 0
) -> str:
    """Stats from the manifest and ``samples`` decoded samples per task."""
    manifest = read_manifest(root)
    id_to_token = _vocab_tokens(manifest, root, vocab)

    def tokens(ids: np.ndarray) -> list[str]:
        return [id_to_token.get(int(i), "[?]") for i in ids]

    out = [
        f"{root}: data_tools {manifest.get('version')}, language {manifest['language']}, "
        f"vocab {manifest['vocab'].get('file')} ({manifest['vocab'].get('size')} tokens)",
    ]
    counts = manifest.get("counts", {})
    read = counts.get("read", {})
    out.append("read: " + ", ".join(f"{k} {v:,}" for k, v in read.items()))
    for reason, entry in counts.get("skipped", {}).items():
        out.append(f"skipped: {reason}: {entry['count']:,} (e.g. {', '.join(entry['examples'][:3])})")
    for note, value in counts.get("notes", {}).items():
        out.append(f"note: {note}: {value:,}")
    rng = np.random.default_rng(seed)
    for task in tasks or list(manifest["tasks"]):
        if task not in ALL_TASKS:
            raise ShardError(f"unknown task {task!r}; known: {', '.join(ALL_TASKS)}")
        shards = TaskShards(root, task)
        info = manifest["tasks"][task]
        lengths = shards.ids.sequence_lengths
        line = (
            f"\n== {task}: {info['documents']:,} documents, {info['sequences']:,} sequences, {info['tokens']:,} tokens"
            + (f", sequence length mean {lengths.mean():.1f} max {lengths.max()}" if len(lengths) else "")
        )
        if "class_counts" in info:
            line += "\n   classes: " + ", ".join(f"{k} {v:,}" for k, v in info["class_counts"].items())
        for name, field in shards.fields.items():
            values = _value_counts(field)
            shown = {v: int(values[v]) for v in FIELD_VALUES[name] if values[v]}
            line += f"\n   {name} values: " + ", ".join(
                f"{'IGNORE' if v == IGNORE else v}: {c:,}" for v, c in shown.items()
            )
        out.append(line)
        if shards.num_documents == 0:
            continue
        picks = sorted(
            rng.choice(shards.num_documents, size=min(samples, shards.num_documents), replace=False).tolist()
        )
        for doc in picks:
            if TASK_LAYOUT[task]["pairs"]:
                first, second, label = shards.pair(doc)
                name = (
                    shards.classes[label]
                    if shards.classes and 0 <= label < len(shards.classes)
                    else str(label)
                )
                out.append(
                    f"-- pair {doc}: label {label} ({name}): {join_tokens(tokens(first))} ||| {join_tokens(tokens(second))}"
                )
                continue
            sentences = list(shards.document(doc))
            if not shards.fields:
                out.append(f"-- document {doc} ({len(sentences)} sentences):")
                for k, s in enumerate(sentences[:8]):
                    out.append(f"   [{k}] {join_tokens(tokens(shards.ids[s]))}")
                continue
            s = sentences[int(rng.integers(len(sentences)))]
            toks = tokens(shards.ids[s])
            out.append(f"-- document {doc}, sentence {s}: {join_tokens(toks)}")
            for name, field in shards.fields.items():
                if name in ("cap", "tdr"):
                    out.append(f"   {name:7s} {render_marked(toks, field[s], name)}")
                else:
                    out.append(f"   {name:7s} {render_units(toks, field[s])}")
    return "\n".join(out)


def _value_counts(field) -> np.ndarray:
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, len(field), 1 << 16):
        counts += np.bincount(_block(field, start), minlength=256)
    return counts


def _block(dataset, start: int) -> np.ndarray:
    """Elements of sequences [start, start + 65536) as one memory-mapped view."""
    end = min(start + (1 << 16), len(dataset))
    first = int(dataset.sequence_pointers[start]) // dataset.dtype.itemsize
    count = int(dataset.sequence_lengths[start:end].astype(np.int64).sum())
    return np.frombuffer(
        dataset._data,
        dtype=dataset.dtype.newbyteorder("<"),
        count=count,
        offset=first * dataset.dtype.itemsize,
    )
