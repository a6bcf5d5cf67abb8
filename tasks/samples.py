"""Building samples from shards: collation into padded batches, [CLS]/[SEP] framing, chunks of documents."""

from __future__ import annotations

import math

import numpy as np

from data_tools.shards import IGNORE, TaskShards

from .context import IGNORE_INDEX, Batch, Sample, TaskContext, VocabInfo, split_units, stable_key


def collate(samples: list[Sample], pad_id: int, task_id: int) -> Batch:
    """Pad a list of samples into numpy arrays (the longest sample sets the length).

    Masked-LM positions become flat indices ``b * seq_len + t`` into the ``[B * T]`` rows, as the
    model's MLM head gathers them.
    """
    if not samples:
        raise ValueError("collate: no samples")
    batch_size = len(samples)
    seq_len = max(len(s["input_ids"]) for s in samples)
    input_ids = np.full((batch_size, seq_len), pad_id, dtype=np.int64)
    token_type_ids = np.zeros((batch_size, seq_len), dtype=np.int64)
    attention_mask = np.zeros((batch_size, seq_len), dtype=np.int64)
    for b, s in enumerate(samples):
        n = len(s["input_ids"])
        input_ids[b, :n] = s["input_ids"]
        token_type_ids[b, :n] = s["token_type_ids"]
        attention_mask[b, :n] = 1
    batch: Batch = {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "task_type_ids": np.full((batch_size, seq_len), task_id, dtype=np.int64),
    }
    first = samples[0]
    if "label" in first:
        batch["labels"] = np.array([s["label"] for s in samples], dtype=np.int64)
    if "token_labels" in first:
        labels = np.full((batch_size, seq_len), IGNORE_INDEX, dtype=np.int64)
        for b, s in enumerate(samples):
            labels[b, : len(s["token_labels"])] = s["token_labels"]
        batch["token_labels"] = labels
    if "mlm_positions" in first:
        batch["masked_positions"] = np.concatenate(
            [np.asarray(s["mlm_positions"], dtype=np.int64) + b * seq_len for b, s in enumerate(samples)]
        )
        batch["masked_labels"] = np.concatenate(
            [np.asarray(s["mlm_labels"], dtype=np.int64) for s in samples]
        )
        if batch["masked_positions"].size == 0:
            # Nothing was maskable: one ignored position keeps the head's gather non-empty.
            batch["masked_positions"] = np.zeros(1, dtype=np.int64)
            batch["masked_labels"] = np.full(1, IGNORE_INDEX, dtype=np.int64)
    return batch


def with_specials(tokens: np.ndarray, vocab: VocabInfo) -> np.ndarray:
    """``[CLS] tokens [SEP]`` as int64."""
    out = np.empty(len(tokens) + 2, dtype=np.int64)
    out[0] = vocab.cls_id
    out[1:-1] = tokens
    out[-1] = vocab.sep_id
    return out


def pair_input(first: np.ndarray, second: np.ndarray, vocab: VocabInfo, max_seq_len: int) -> Sample:
    """``[CLS] a [SEP] b [SEP]``, types 0 then 1, the longer side trimmed first to fit ``max_seq_len``."""
    len_a, len_b = len(first), len(second)
    budget = max_seq_len - 3
    while len_a + len_b > budget:
        if len_a >= len_b:
            len_a -= 1
        else:
            len_b -= 1
    ids = np.concatenate(
        [[vocab.cls_id], first[:len_a], [vocab.sep_id], second[:len_b], [vocab.sep_id]]
    ).astype(np.int64)
    types = np.zeros(len(ids), dtype=np.int64)
    types[len_a + 2 :] = 1
    return {"input_ids": ids, "token_type_ids": types}


def field_labels(values: np.ndarray) -> np.ndarray:
    """uint8 0/1/IGNORE field values as int64 labels with IGNORE_INDEX."""
    labels = values.astype(np.int64)
    labels[values == IGNORE] = IGNORE_INDEX
    return labels


class DocumentChunks:
    """Documents cut into chunks of consecutive sentences that fit a token budget.

    A chunk is ``(first sentence, end sentence)`` of one document; sentences are added while the
    chunk stays within ``budget`` tokens, and a sentence longer than the budget is a chunk of its own
    (truncated when read). Chunks with fewer than ``min_tokens`` tokens are dropped.
    """

    def __init__(self, shards: TaskShards, documents: np.ndarray, budget: int, min_tokens: int = 1):
        lengths = np.asarray(shards.ids.sequence_lengths, dtype=np.int64)
        doc_index = np.asarray(shards.ids.document_index, dtype=np.int64)
        firsts: list[int] = []
        ends: list[int] = []
        sizes: list[int] = []
        for doc in documents:
            start, stop = int(doc_index[doc]), int(doc_index[doc + 1])
            chunk_start, tokens = start, 0
            for seq in range(start, stop):
                n = int(lengths[seq])
                if tokens and tokens + n > budget:
                    firsts.append(chunk_start)
                    ends.append(seq)
                    sizes.append(tokens)
                    chunk_start, tokens = seq, 0
                tokens += n
            if stop > chunk_start:
                firsts.append(chunk_start)
                ends.append(stop)
                sizes.append(tokens)
        firsts_a = np.asarray(firsts, dtype=np.int64)
        ends_a = np.asarray(ends, dtype=np.int64)
        sizes_a = np.minimum(np.asarray(sizes, dtype=np.int64), budget)
        keep = sizes_a >= min_tokens
        self.first, self.end, self.tokens = firsts_a[keep], ends_a[keep], sizes_a[keep]
        self.budget = budget

    def __len__(self) -> int:
        return len(self.first)

    def read(
        self, shards: TaskShards, chunk: int, fields: tuple[str, ...] = ()
    ) -> tuple[np.ndarray, dict, np.ndarray]:
        """``(ids, {field: values}, sentence start offsets)`` of a chunk, cut to the budget."""
        first, end = int(self.first[chunk]), int(self.end[chunk])
        lengths = np.asarray(shards.ids.sequence_lengths[first:end], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        total = min(int(lengths.sum()), self.budget)
        ids, values = shards.span(first, end, fields, max_tokens=total)
        return ids.astype(np.int64), values, starts[starts < total]


def documents_split(shards: TaskShards, context: TaskContext) -> dict[str, np.ndarray]:
    """Held-out documents; the key does not depend on the task, so tasks built from the same corpus
    (same document count) hold out the same documents and never train on each other's held-out text."""
    train, heldout = split_units(
        shards.num_documents, context.heldout, stable_key("documents"), f"{shards.root}/{shards.name}"
    )
    return {"train": train, "heldout": heldout}


def balanced_class(seed: int, name: str, index: int, classes: list[int]) -> tuple[int, int]:
    """``(class, draw)`` of sample ``index`` when the classes take turns.

    Every block of ``len(classes)`` consecutive indices holds each class once, in a seeded order, so
    any window of samples is balanced to within one per class; ``draw`` (the block number) counts
    the earlier samples of that class.
    """
    block, slot = divmod(index, len(classes))
    order = np.random.default_rng([seed, stable_key(name), 7, block]).permutation(len(classes))
    return classes[int(order[slot])], block


def factorial_sum(m: int) -> int:
    return sum(math.factorial(n) for n in range(1, m + 1))
