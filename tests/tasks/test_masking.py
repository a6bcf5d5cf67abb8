"""Knowledge masking statistics over 10,000 samples of a synthetic corpus with words, phrases and entities."""

from __future__ import annotations

import numpy as np
import pytest

from data_tools.shards import open_task
from ernie.tokenizer import ErnieTokenizer
from tasks import TaskContext, VocabInfo, task_class
from tests.fixtures.pretrain.toy_shards import build_toy_shards

N_SAMPLES = 10_000


def runs(field: np.ndarray) -> list[range]:
    """Spans of a 0/1/2 boundary field, read directly (1 opens a span, 2 continues it)."""
    spans, start = [], None
    for t, value in enumerate(list(field) + [0]):
        if value != 2 and start is not None:
            spans.append(range(start, t))
            start = None
        if value == 1:
            start = t
    return spans


@pytest.fixture(scope="module")
def masked_samples(tmp_path_factory):
    shard_dir, vocab_file = build_toy_shards(str(tmp_path_factory.mktemp("km")), num_docs=120)
    vocab = VocabInfo.from_tokenizer(ErnieTokenizer(vocab_file))
    context = TaskContext(seed=3, max_seq_len=48, vocab=vocab, heldout=0)
    options = {"levels": {"basic": 1, "word": 1, "phrase": 1, "entity": 1}}
    task = task_class("knowledge_masking")(0, options, open_task(shard_dir, "knowledge_masking"), context)
    samples = [task.sample(i) for i in range(N_SAMPLES)]
    return task, vocab, samples


def test_masked_share_and_replacement_split(masked_samples):
    task, vocab, samples = masked_samples
    tokens = sum(len(s["input_ids"]) - 2 for s in samples)  # no special token in this corpus
    masked = sum(len(s["mlm_positions"]) for s in samples)
    assert abs(masked / tokens - 0.15) <= 0.005, masked / tokens

    to_mask = to_random = kept = 0
    for s in samples:
        shown = s["input_ids"][s["mlm_positions"]]
        to_mask += int((shown == vocab.mask_id).sum())
        kept += int((shown == s["mlm_labels"]).sum())
        to_random += int(((shown != vocab.mask_id) & (shown != s["mlm_labels"])).sum())
    # A random replacement equal to the original counts as kept: 1 in ~140 tokens here, well in the margin.
    assert abs(to_mask / masked - 0.8) <= 0.01
    assert abs(to_random / masked - 0.1) <= 0.01
    assert abs(kept / masked - 0.1) <= 0.01


def test_no_special_token_is_masked_or_inserted(masked_samples):
    _, vocab, samples = masked_samples
    specials = set(vocab.special_ids)
    for s in samples:
        ids, positions = s["input_ids"], s["mlm_positions"]
        assert ids[0] == vocab.cls_id and ids[-1] == vocab.sep_id
        if not len(positions):
            continue  # the unit that overshot the target lost its draw: nothing masked (rare)
        assert positions.min() >= 1 and positions.max() <= len(ids) - 2
        assert len(set(positions.tolist())) == len(positions)
        assert not specials & set(s["mlm_labels"].tolist())
        # Replacements are [MASK] or ordinary tokens, never [CLS]/[SEP]/[PAD]/[UNK].
        replaced = ids[positions]
        assert not (specials - {vocab.mask_id}) & set(replaced.tolist())


def test_whole_units_are_masked_together(masked_samples):
    task, _, samples = masked_samples
    checked = {"word": 0, "phrase": 0, "entity": 0}
    for index, s in enumerate(samples[:3000]):
        level = s["level"]
        if level == "basic":
            continue
        # Re-read the chunk's boundary fields straight from the shards.
        _, fields, sentence_starts = task.chunks["train"].read(
            task.shards, task.unit_for(index, "train"), ("word", "phrase", "entity")
        )
        masked = set((s["mlm_positions"] - 1).tolist())
        for span in runs(fields[level]):
            inside = masked & set(span)
            assert not inside or inside == set(span), (index, level, list(span), sorted(masked))
            checked[level] += bool(inside)
        if level != "word":
            for span in runs(fields["word"]):  # outside the units, whole words
                if not any(fields[level][t] for t in span):
                    inside = masked & set(span)
                    assert not inside or inside == set(span)
    assert min(checked.values()) > 50, checked


def test_levels_follow_the_mix(masked_samples):
    _, _, samples = masked_samples
    levels = [s["level"] for s in samples]
    for level in ("basic", "word", "phrase", "entity"):
        assert abs(levels.count(level) / len(levels) - 0.25) < 0.02
