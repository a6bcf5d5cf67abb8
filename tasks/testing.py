"""Small synthetic shards for tests and smoke runs (no paddle, no real corpus).

``build_toy_shards(root)`` writes a vocabulary and shards for all seven tasks: documents of
sentences made of words (1 to 3 pieces), phrases (2 to 3 words) and entities (1 to 2 capitalised
words), with truthful ``word``/``phrase``/``entity``/``cap``/``tdr`` fields, discourse pairs whose
second sentence starts with a class cue, and query/title pairs whose overlap follows the label. Each
label has a signal a model can learn, so short training runs can show learning.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from data_tools.shards import ALL_TASKS, IGNORE, TaskShardWriter, sha256_file, write_manifest

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DISCOURSE_CLASSES = ["but", "because", "so", "for_example"]


def write_vocab(path: str, tokens: Sequence[str]) -> dict[str, int]:
    """``SPECIALS`` then ``tokens``, one per line; returns token -> id."""
    vocab = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    return {token: k for k, token in enumerate(vocab)}


def write_shards(
    root: str,
    vocab_file: str,
    documents: dict[str, list],
    pairs: Optional[dict[str, list]] = None,
    classes: Optional[dict[str, list[str]]] = None,
    language: str = "en",
) -> str:
    """Write task folders and the manifest.

    ``documents[task]`` is a list of documents, each a list of ``(ids, fields)`` sentences with
    ``fields`` a dict of per-token values for the task's fields; ``pairs[task]`` a list of
    ``(first ids, second ids, label)``; ``classes[task]`` the class names of a pair task.
    """
    vocab_size = sum(1 for _ in open(vocab_file, encoding="utf-8"))
    dtype = np.uint16 if vocab_size < 65500 else np.int32
    info = {}
    for task, docs in documents.items():
        writer = TaskShardWriter(root, task, dtype)
        for doc in docs:
            ids = [np.asarray(s, dtype=np.int64) for s, _ in doc]
            names = writer.field_names
            fields = {name: [np.asarray(f[name], dtype=np.uint8) for _, f in doc] for name in names}
            writer.add_document(ids, fields)
        info[task] = writer.finalize()
    for task, items in (pairs or {}).items():
        writer = TaskShardWriter(root, task, dtype)
        for first, second, label in items:
            writer.add_pair(first, second, label)
        info[task] = writer.finalize()
        if classes and task in classes:
            info[task]["classes"] = list(classes[task])
    write_manifest(
        root,
        {
            "tool_version": "tasks.testing",
            "language": language,
            "vocab": {
                "file": vocab_file,
                "sha256": sha256_file(vocab_file),
                "size": vocab_size,
                "lower_case": True,
            },
            "tasks": info,
        },
    )
    return root


def toy_vocabulary() -> list[str]:
    words = [f"w{k}" for k in range(80)]
    pieces = [f"##p{k}" for k in range(20)]
    entities = [f"e{k}" for k in range(30)]
    cues = [f"cue{k}" for k in range(len(DISCOURSE_CLASSES))]
    return words + pieces + entities + cues + [".", "the", "of"]


def toy_documents(vocab: dict[str, int], num_docs: int, seed: int = 0) -> list[list[tuple[list[int], dict]]]:
    """Documents with every field (word, phrase, entity, cap, tdr) filled truthfully."""
    rng = np.random.default_rng(seed)
    stop = {vocab["the"], vocab["of"]}
    docs = []
    for _ in range(num_docs):
        # A document draws from its own small set of words and entities, so words repeat within it
        # (token-document relation) and documents differ (sentence distance).
        doc_words = rng.choice(80, size=12, replace=False)
        doc_entities = rng.choice(30, size=4, replace=False)
        sentences = []
        for _ in range(int(rng.integers(3, 8))):
            cols: dict[str, list] = {
                "tokens": [],
                "word": [],
                "phrase": [],
                "entity": [],
                "cap": [],
                "keys": [],
            }
            for _ in range(int(rng.integers(3, 7))):
                kind = rng.random()
                if kind < 0.25:
                    for k in range(int(rng.integers(1, 3))):
                        _add_word(
                            cols, vocab, rng, f"e{int(rng.choice(doc_entities))}", True, 0, 1 if k == 0 else 2
                        )
                elif kind < 0.5:
                    for k in range(int(rng.integers(2, 4))):
                        key = "the" if k == 1 and rng.random() < 0.5 else f"w{int(rng.choice(doc_words))}"
                        _add_word(cols, vocab, rng, key, not cols["tokens"], 1 if k == 0 else 2, 0)
                else:
                    _add_word(cols, vocab, rng, f"w{int(rng.choice(doc_words))}", not cols["tokens"], 0, 0)
            for name, value in (
                ("tokens", vocab["."]),
                ("word", 1),
                ("phrase", 0),
                ("entity", 0),
                ("cap", IGNORE),
                ("keys", "."),
            ):
                cols[name].append(value)
            fields = {name: cols[name] for name in ("word", "phrase", "entity", "cap")}
            sentences.append((cols["tokens"], fields, cols["keys"]))
        # tdr: the token's word occurs in another sentence of the document.
        out = []
        for k, (tokens, fields, keys) in enumerate(sentences):
            others = {key for j, (_, _, other) in enumerate(sentences) if j != k for key in other}
            tdr = [IGNORE if key == "." or vocab.get(key) in stop else int(key in others) for key in keys]
            out.append((tokens, {**fields, "tdr": tdr}))
        docs.append(out)
    return docs


def _add_word(
    cols: dict, vocab: dict, rng: np.random.Generator, key: str, capital: bool, in_phrase: int, in_entity: int
) -> None:
    """Append one word (1 to 3 pieces; entities are single pieces) with its field values."""
    n_pieces = 1 if key.startswith("e") or rng.random() < 0.7 else int(rng.integers(2, 4))
    ids = [vocab[key]] + [vocab[f"##p{int(rng.integers(0, 20))}"] for _ in range(n_pieces - 1)]
    for k, token in enumerate(ids):
        cols["tokens"].append(token)
        cols["word"].append(1 if k == 0 else 2)
        cols["phrase"].append(0 if not in_phrase else (1 if in_phrase == 1 and k == 0 else 2))
        cols["entity"].append(0 if not in_entity else (1 if in_entity == 1 and k == 0 else 2))
        cols["cap"].append(1 if capital else 0)
        cols["keys"].append(key)


def build_toy_shards(root: str, num_docs: int = 40, num_pairs: int = 200, seed: int = 0) -> tuple[str, str]:
    """Vocabulary and shards of all seven tasks under ``root``; returns ``(shard dir, vocab file)``."""
    vocab_file = os.path.join(root, "vocab.txt")
    vocab = write_vocab(vocab_file, toy_vocabulary())
    docs = toy_documents(vocab, num_docs, seed)

    def only(names):
        return [[(ids, {n: f[n] for n in names}) for ids, f in doc] for doc in docs]

    documents = {
        "knowledge_masking": only(("word", "phrase", "entity")),
        "capitalization": only(("cap",)),
        "token_document": only(("tdr",)),
        "sentence_reordering": only(()),
        "sentence_distance": only(()),
    }
    rng = np.random.default_rng(seed + 1)
    sentences = [ids for doc in docs for ids, _ in doc]
    discourse = []
    for _ in range(num_pairs):
        label = int(rng.integers(0, len(DISCOURSE_CLASSES)))
        first = sentences[int(rng.integers(0, len(sentences)))]
        second = [vocab[f"cue{label}"]] + list(sentences[int(rng.integers(0, len(sentences)))])
        discourse.append((first, second, label))
    ir = []
    for _ in range(num_pairs):
        label = int(rng.integers(0, 3))
        query = [vocab[f"w{int(k)}"] for k in rng.choice(80, size=3, replace=False)]
        noise = [vocab[f"w{int(k)}"] for k in rng.choice(80, size=5)]
        title = {0: query + noise[:2], 1: query[:1] + noise, 2: noise}[label]
        ir.append((query, [int(t) for t in rng.permutation(title)], label))
    shard_dir = os.path.join(root, "shards")
    write_shards(
        shard_dir,
        vocab_file,
        documents,
        pairs={"discourse_relation": discourse, "ir_relevance": ir},
        classes={"discourse_relation": DISCOURSE_CLASSES},
    )
    assert set(documents) | {"discourse_relation", "ir_relevance"} == set(ALL_TASKS)
    return shard_dir, vocab_file


def tiny_model_config(
    path: str, vocab_size: int, hidden: int = 32, layers: int = 1, dropout: float = 0.0
) -> str:
    """A tiny model JSON for tests (task embedding on, 4 sentence types)."""
    import json

    config = {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "intermediate_size": hidden * 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": dropout,
        "attention_probs_dropout_prob": dropout,
        "max_position_embeddings": 128,
        "type_vocab_size": 4,
        "task_type_vocab_size": 8,
        "use_task_id": True,
        "initializer_range": 0.02,
        "pad_token_id": 0,
        "layer_norm_eps": 1e-12,
        "model_type": "ernie",
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    return path
