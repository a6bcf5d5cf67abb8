"""Sample construction of each pre-training task against hand-worked examples."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from data_tools.shards import IGNORE, open_task
from ernie.errors import ConfigError
from tasks import IGNORE_INDEX, TaskContext, VocabInfo, task_class
from tasks.knowledge_masking import select_units, unit_starts
from tasks.sentence_reordering import permutation_from_index, permutation_index, segments_of_class
from tests.fixtures.pretrain.toy_shards import build_toy_shards, write_shards, write_vocab

# Special ids of write_vocab: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the tokens.
PAD, UNK, CLS, SEP, MASK = range(5)


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    write_vocab(str(path), [f"t{k}" for k in range(195)])  # ids 5..199
    return str(path)


def vocab_info(size: int = 200) -> VocabInfo:
    return VocabInfo(
        size=size, cls_id=CLS, sep_id=SEP, pad_id=PAD, mask_id=MASK, unk_id=UNK, special_ids=(0, 1, 2, 3, 4)
    )


def context(
    max_seq_len: int = 32, heldout: float = 0, seed: int = 1, type_vocab_size: int = 4
) -> TaskContext:
    return TaskContext(
        seed=seed,
        max_seq_len=max_seq_len,
        vocab=vocab_info(),
        type_vocab_size=type_vocab_size,
        heldout=heldout,
    )


def make_task(root, vocab_file, name, documents=None, pairs=None, classes=None, ctx=None, options=None):
    write_shards(str(root), vocab_file, documents or {}, pairs=pairs, classes=classes)
    return task_class(name)(0, options or {}, open_task(str(root), name), ctx or context())


# ---------------------------------------------------------------------------------------------- reordering
def test_permutation_index_table_for_up_to_three_segments():
    # Worked by hand: classes of 1 segment, then 2, then 3, each block in lexicographic order.
    table = {
        (0,): 0,
        (0, 1): 1,
        (1, 0): 2,
        (0, 1, 2): 3,
        (0, 2, 1): 4,
        (1, 0, 2): 5,
        (1, 2, 0): 6,
        (2, 0, 1): 7,
        (2, 1, 0): 8,
    }
    for perm, label in table.items():
        assert permutation_index(perm) == label
        assert permutation_from_index(label) == list(perm)


def test_permutation_index_matches_brute_force_and_class_counts():
    offset = 0
    for m in range(1, 6):
        for rank, perm in enumerate(itertools.permutations(range(m))):
            label = permutation_index(perm)
            assert label == offset + rank
            assert permutation_from_index(label) == list(perm)
            assert segments_of_class(label) == m
        offset += math.factorial(m)
    # m = 3, 4, 5 -> 9, 33, 153 classes
    assert [sum(math.factorial(n) for n in range(1, m + 1)) for m in (3, 4, 5)] == [9, 33, 153]


@pytest.mark.parametrize("max_segments,classes", [(3, 9), (4, 33), (5, 153)])
def test_reordering_sample_unshuffles_to_the_original(tmp_path, vocab_file, max_segments, classes):
    # One document of six 3-token sentences with distinct ids: 10 11 12 | 13 14 15 | ...
    sentences = [[10 + 3 * k, 11 + 3 * k, 12 + 3 * k] for k in range(6)]
    documents = {"sentence_reordering": [[(s, {}) for s in sentences], [([50, 51, 52, 53], {})]]}
    task = make_task(
        tmp_path,
        vocab_file,
        "sentence_reordering",
        documents,
        ctx=context(max_seq_len=64),
        options={"max_segments": max_segments, "segment_counts": "balanced"},
    )
    assert task.num_classes == classes
    seen = set()
    for index in range(300):
        sample = task.sample(index)
        ids, types, label = sample["input_ids"], sample["token_type_ids"], sample["label"]
        assert ids[0] == CLS and ids[-1] == SEP and len(ids) <= 64
        perm = permutation_from_index(label)
        m = len(perm)
        seen.add(m)
        cuts = np.flatnonzero(ids == SEP)
        assert len(cuts) == m
        shown = np.split(ids[1:], cuts[:-1])  # each shown segment with its trailing [SEP]
        original = [None] * m
        for k, segment in enumerate(shown):
            assert segment[-1] == SEP
            original[perm[k]] = segment[:-1]
            # The sentence (type) id tells the shown position, capped at type_vocab_size - 1.
            start = 1 + sum(len(s) for s in shown[:k])
            assert set(types[start : start + len(segment)]) == {min(k, 3)}
        restored = np.concatenate(original)
        # Restoring the order gives back the chunk: consecutive sentences of a document.
        assert restored.tolist() in ([t for s in sentences for t in s], [50, 51, 52, 53])
        if restored[0] == 10 and m <= 6:
            # Six sentences >= m: cuts fall on sentence boundaries.
            assert all(len(o) % 3 == 0 for o in original)
    assert seen == set(range(1, max_segments + 1))


def test_reordering_uniform_segment_counts_and_chance(tmp_path, vocab_file):
    sentences = [[10 + k] * 4 for k in range(8)]
    documents = {"sentence_reordering": [[(s, {}) for s in sentences], [([60] * 5, {})]]}
    task = make_task(tmp_path, vocab_file, "sentence_reordering", documents, ctx=context(max_seq_len=64))
    labels = np.array([task.sample(i)["label"] for i in range(3000)])
    counts = np.bincount([segments_of_class(int(x)) for x in labels], minlength=4)[1:]
    assert np.all(np.abs(counts / 3000 - 1 / 3) < 0.03)
    batch = {"labels": labels}
    # A guess that knows m: 1, 1/2, 1/6 for m = 1, 2, 3 drawn uniformly.
    assert task.chance_level([batch]) == pytest.approx((1 + 1 / 2 + 1 / 6) / 3, abs=0.02)


# ---------------------------------------------------------------------------------------------- distance
def test_sentence_distance_labels_on_a_three_document_corpus(tmp_path, vocab_file):
    # Documents of 4, 3 and 2 sentences; sentence (d, p) is the single token 10 + 10 * d + p.
    docs = [[([10 + 10 * d + p], {}) for p in range(n)] for d, n in enumerate((4, 3, 2))]
    task = make_task(tmp_path, vocab_file, "sentence_distance", {"sentence_distance": docs})
    name = {10 + 10 * d + p: (d, p) for d, n in enumerate((4, 3, 2)) for p in range(n)}
    # Worked by hand: class 0 = (A, next sentence); class 1 = same document, distance >= 2.
    adjacent = {
        ((0, 0), (0, 1)),
        ((0, 1), (0, 2)),
        ((0, 2), (0, 3)),
        ((1, 0), (1, 1)),
        ((1, 1), (1, 2)),
        ((2, 0), (2, 1)),
    }
    distant = {
        ((0, 0), (0, 2)),
        ((0, 0), (0, 3)),
        ((0, 1), (0, 3)),
        ((0, 2), (0, 0)),
        ((0, 3), (0, 0)),
        ((0, 3), (0, 1)),
        ((1, 0), (1, 2)),
        ((1, 2), (1, 0)),
    }
    seen = {0: set(), 1: set(), 2: set()}
    for block in range(60):
        labels = []
        for index in range(3 * block, 3 * block + 3):
            sample = task.sample(index)
            ids = sample["input_ids"]
            assert ids.tolist()[:1] == [CLS] and ids[2] == SEP and ids[4] == SEP and len(ids) == 5
            assert sample["token_type_ids"].tolist() == [0, 0, 0, 1, 1]
            a, b = name[int(ids[1])], name[int(ids[3])]
            label = sample["label"]
            labels.append(label)
            if label == 2:
                assert a[0] != b[0]
            seen[label].add((a, b) if label < 2 else (a[0], b[0]))
        assert sorted(labels) == [0, 1, 2]  # exactly balanced in every block of three
    assert seen[0] == adjacent
    assert seen[1] == distant
    assert seen[2] == {(x, y) for x in range(3) for y in range(3) if x != y}
    # One pass per class: the first 6 samples of class 0 use each of its 6 anchors once.
    firsts = [name[int(task.sample(i)["input_ids"][1])] for i in range(18) if task.label_of(i) == 0]
    assert len(set(firsts)) == 6


def test_sentence_distance_rejects_a_corpus_without_every_class(tmp_path, vocab_file):
    docs = [[([10], {}), ([11], {})]]  # one document of two sentences: no class 1, no class 2
    with pytest.raises(Exception, match="distance class"):
        make_task(tmp_path, vocab_file, "sentence_distance", {"sentence_distance": docs})


# ---------------------------------------------------------------------------------------------- masking
def test_unit_starts_by_level():
    # Tokens 0..7; a word of two pieces at 3-4; an entity over tokens 2-4; a phrase over 5-7.
    fields = {
        "word": np.array([1, 1, 1, 1, 2, 1, 1, 1], dtype=np.uint8),
        "entity": np.array([0, 0, 1, 2, 2, 0, 0, 0], dtype=np.uint8),
        "phrase": np.array([0, 0, 0, 0, 0, 1, 2, 2], dtype=np.uint8),
    }
    starts = np.array([0])
    assert unit_starts("basic", fields, starts, 8).tolist() == [True] * 8
    assert unit_starts("word", fields, starts, 8).tolist() == [1, 1, 1, 1, 0, 1, 1, 1]
    assert unit_starts("entity", fields, starts, 8).tolist() == [1, 1, 1, 0, 0, 1, 1, 1]
    assert unit_starts("phrase", fields, starts, 8).tolist() == [1, 1, 1, 1, 0, 1, 0, 0]
    # A unit never crosses a sentence start (a second sentence starting at token 6).
    assert unit_starts("phrase", fields, np.array([0, 6]), 8).tolist() == [1, 1, 1, 1, 0, 1, 1, 0]


def test_entity_masking_covers_the_whole_entity(tmp_path, vocab_file):
    task = make_task(tmp_path, vocab_file, "knowledge_masking", _km_toy())
    tokens = np.arange(10, 30, dtype=np.int64)  # 20 tokens
    entity = np.zeros(20, dtype=np.uint8)
    entity[4:9] = [1, 2, 2, 2, 2]  # a five-token entity
    entity[12:14] = [1, 2]
    word = np.ones(20, dtype=np.uint8)
    word[[5, 7]] = 2  # the entity's words: 4-5, 6-7, 8
    fields = {"word": word, "phrase": np.zeros(20, dtype=np.uint8), "entity": entity}
    hits = 0
    for k in range(400):
        sample = task.mask(tokens, fields, np.array([0]), "entity", np.random.default_rng(k))
        masked = set((sample["mlm_positions"] - 1).tolist())  # positions after [CLS]
        for span in (range(4, 9), range(12, 14)):
            inside = masked & set(span)
            assert not inside or inside == set(span), (k, sorted(masked))
            hits += bool(inside)
        assert sample["mlm_labels"].tolist() == tokens[sorted(masked)].tolist()
        changed = np.flatnonzero(sample["input_ids"][1:-1] != tokens)
        assert set(changed.tolist()) <= masked
    assert hits > 20  # the entities do get masked


def test_masking_never_touches_special_tokens(tmp_path, vocab_file):
    task = make_task(tmp_path, vocab_file, "knowledge_masking", _km_toy(), options={"mask_prob": 0.9})
    tokens = np.array([10, UNK, 12, 13, 14, 15, UNK, 17], dtype=np.int64)
    fields = {"word": np.array([1, 2, 1, 1, 1, 1, 1, 1], dtype=np.uint8)}
    fields["phrase"] = fields["entity"] = np.zeros(8, dtype=np.uint8)
    for k in range(200):
        sample = task.mask(tokens, fields, np.array([0]), "word", np.random.default_rng(k))
        positions = set((sample["mlm_positions"] - 1).tolist())
        # The word 10 [UNK] holds a special token: neither of its tokens is masked; [UNK] at 6 neither.
        assert not positions & {0, 1, 6}
        assert sample["input_ids"][0] == CLS and sample["input_ids"][-1] == SEP


def test_select_units_expected_share_is_exact():
    # Units of 5 tokens only: a "skip what does not fit" rule would mask 10 of 80 (12.5%).
    lengths = np.full(16, 5)
    rng = np.random.default_rng(0)
    total = sum(lengths[select_units(lengths, np.ones(16, bool), 0.15, rng)].sum() for _ in range(20000))
    assert total / (20000 * 80) == pytest.approx(0.15, abs=0.002)


def _km_toy():
    docs = [[([10, 11, 12], {"word": [1, 1, 1], "phrase": [0, 0, 0], "entity": [0, 0, 0]})]]
    return {"knowledge_masking": docs}


# ---------------------------------------------------------------------------------------------- token fields
@pytest.mark.parametrize("name,field", [("capitalization", "cap"), ("token_document", "tdr")])
def test_token_labels_align_with_ids(tmp_path, vocab_file, name, field):
    doc = [
        ([10, 11, 12, 13], {field: [1, 0, IGNORE, 1]}),
        ([14, 15], {field: [0, 1]}),
        ([16, 17, 18, 19, 20, 21, 22], {field: [1, 1, 0, 0, IGNORE, 0, 1]}),
    ]
    task = make_task(tmp_path, vocab_file, name, {name: [doc]}, ctx=context(max_seq_len=10))
    # Budget 8 tokens: [s0 s1] (6 tokens) is one chunk, s2 (7) another.
    samples = sorted((task.sample(i) for i in range(2)), key=lambda s: int(s["input_ids"][1]))
    assert samples[0]["input_ids"].tolist() == [CLS, 10, 11, 12, 13, 14, 15, SEP]
    assert samples[0]["token_labels"].tolist() == [IGNORE_INDEX, 1, 0, IGNORE_INDEX, 1, 0, 1, IGNORE_INDEX]
    assert samples[1]["input_ids"].tolist() == [CLS, 16, 17, 18, 19, 20, 21, 22, SEP]
    assert samples[1]["token_labels"].tolist() == [IGNORE_INDEX, 1, 1, 0, 0, IGNORE_INDEX, 0, 1, IGNORE_INDEX]
    batch = task.collate(samples)
    assert batch["token_labels"].shape == batch["input_ids"].shape == (2, 9)
    assert batch["token_labels"][0, -1] == IGNORE_INDEX and batch["input_ids"][0, -1] == PAD
    assert batch["attention_mask"].sum(axis=1).tolist() == [8, 9]
    assert task.label_count(batch) == 5 + 6


def test_a_sentence_longer_than_the_budget_is_cut(tmp_path, vocab_file):
    doc = [(list(range(10, 30)), {"cap": [1] * 20})]
    task = make_task(
        tmp_path, vocab_file, "capitalization", {"capitalization": [doc]}, ctx=context(max_seq_len=8)
    )
    sample = task.sample(0)
    assert sample["input_ids"].tolist() == [CLS, 10, 11, 12, 13, 14, 15, SEP]
    assert len(sample["token_labels"]) == 8


# ---------------------------------------------------------------------------------------------- pairs
def test_discourse_and_ir_pairs(tmp_path, vocab_file):
    pairs = {
        "discourse_relation": [([10, 11], [12, 13, 14], 2), ([15] * 10, [16] * 3, 0), ([17], [18], 1)],
        "ir_relevance": [([20, 21], [22, 23], 0), ([24], [25, 26], 2)],
    }
    classes = {"discourse_relation": ["but", "because", "so"]}
    write_shards(str(tmp_path), vocab_file, {}, pairs=pairs, classes=classes)
    ctx = context(max_seq_len=10)
    discourse = task_class("discourse_relation")(5, {}, open_task(str(tmp_path), "discourse_relation"), ctx)
    ir = task_class("ir_relevance")(6, {}, open_task(str(tmp_path), "ir_relevance"), ctx)
    assert discourse.num_classes == 3 and ir.num_classes == 3
    got = {
        tuple(s["input_ids"].tolist()): (s["token_type_ids"].tolist(), s["label"])
        for s in discourse.samples(range(3))
    }
    assert got[(CLS, 10, 11, SEP, 12, 13, 14, SEP)] == ([0, 0, 0, 0, 1, 1, 1, 1], 2)
    # 10 + 3 tokens in a budget of 7: the longer side is trimmed first.
    assert got[(CLS, 15, 15, 15, 15, SEP, 16, 16, 16, SEP)] == ([0] * 6 + [1] * 4, 0)
    assert got[(CLS, 17, SEP, 18, SEP)] == ([0, 0, 0, 1, 1], 1)
    got = {tuple(s["input_ids"].tolist()): s["label"] for s in ir.samples(range(2))}
    assert got == {(CLS, 20, 21, SEP, 22, 23, SEP): 0, (CLS, 24, SEP, 25, 26, SEP): 2}
    batch = ir.batch(range(2))
    assert batch["task_type_ids"].tolist() == [[6] * 7, [6] * 7]
    assert sorted(batch["labels"].tolist()) == [0, 2]


def test_balanced_discourse_pairs_take_the_classes_in_turn(tmp_path, vocab_file):
    # 8 pairs of class 0, 2 of class 1, 1 of class 2, none of class 3; first token = pair number + 10.
    labels = [0] * 8 + [1] * 2 + [2]
    pairs = {"discourse_relation": [([10 + k], [50], label) for k, label in enumerate(labels)]}
    classes = {"discourse_relation": ["but", "because", "so", "then"]}
    task = make_task(tmp_path, vocab_file, "discourse_relation", pairs=pairs, classes=classes)
    assert task.options["balance_classes"] and task.metric_name == "balanced_accuracy"
    samples = task.samples(range(24), "train")
    drawn = [(int(s["input_ids"][1]) - 10, s["label"]) for s in samples]
    assert all(labels[pair] == label for pair, label in drawn)
    # Every block of 3 consecutive samples holds each present class once (class 3 has no pair).
    for block in range(8):
        assert sorted(label for _, label in drawn[3 * block : 3 * block + 3]) == [0, 1, 2]
    # Each class walks all of its pairs before repeating one.
    of_class = {c: [pair for pair, label in drawn if label == c] for c in range(3)}
    assert sorted(of_class[0]) == list(range(8))
    assert sorted(of_class[1][:2]) == sorted(of_class[1][2:4]) == [8, 9]
    assert of_class[2] == [10] * 8
    # Held-out samples keep the natural mix: unbalanced, each pair once.
    natural = make_task(
        tmp_path / "natural",
        vocab_file,
        "discourse_relation",
        pairs=pairs,
        classes=classes,
        options={"balance_classes": False},
    )
    assert natural.metric_name == "accuracy"
    assert sorted(int(s["input_ids"][1]) - 10 for s in natural.samples(range(11))) == list(range(11))


def test_class_stats_give_the_recall_of_each_class(tmp_path, vocab_file):
    import paddle

    pairs = {"ir_relevance": [([10], [11], 0), ([12], [13], 1)]}
    task = make_task(tmp_path, vocab_file, "ir_relevance", pairs=pairs)
    # Predictions 0 0 0 1 0 for labels 0 0 1 1 2: class 0 2/2, class 1 1/2, class 2 0/1.
    logits = paddle.to_tensor(np.eye(3)[[0, 0, 0, 1, 0]], dtype="float32")
    correct, count = task.class_stats(logits, {"labels": paddle.to_tensor([0, 0, 1, 1, 2])})
    assert correct.tolist() == [2, 1, 0] and count.tolist() == [2, 2, 1]
    # Token labels: ignored positions are not scored.
    token_logits = paddle.to_tensor(np.eye(2)[[[1, 1, 0]]], dtype="float32")
    token_labels = paddle.to_tensor([[IGNORE_INDEX, 1, 1]])
    binary = make_task(
        tmp_path / "cap", vocab_file, "capitalization", {"capitalization": [[([10, 11], {"cap": [1, 0]})]]}
    )
    correct, count = binary.class_stats(token_logits, {"token_labels": token_labels})
    assert correct.tolist() == [0, 1] and count.tolist() == [0, 2]


def test_ir_labels_out_of_range_are_rejected(tmp_path, vocab_file):
    write_shards(str(tmp_path), vocab_file, {}, pairs={"ir_relevance": [([10], [11], 3), ([12], [13], 0)]})
    with pytest.raises(Exception, match="labels outside"):
        task_class("ir_relevance")(0, {}, open_task(str(tmp_path), "ir_relevance"), context())


# ---------------------------------------------------------------------------------------------- determinism, splits
@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_shards(str(tmp_path_factory.mktemp("toy")))


def _toy_task(toy, name, seed=1, heldout=0.1, max_seq_len=32):
    shard_dir, _ = toy
    return task_class(name)(0, {}, open_task(shard_dir, name), context(max_seq_len, heldout, seed))


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


@pytest.mark.parametrize(
    "name",
    [
        "knowledge_masking",
        "capitalization",
        "token_document",
        "sentence_reordering",
        "sentence_distance",
        "discourse_relation",
        "ir_relevance",
    ],
)
def test_samples_are_a_pure_function_of_seed_and_index(toy, name):
    first, second = _toy_task(toy, name), _toy_task(toy, name)
    indices = [0, 5, 1000, 17, 5]
    for split in ("train", "heldout"):
        a = [first.sample(i, split) for i in indices]
        b = [second.sample(i, split) for i in reversed(indices)][::-1]
        assert all(_same(x, y) for x, y in zip(a, b))
        assert _same(a[1], a[4])
    other_seed = _toy_task(toy, name, seed=2)
    assert not all(_same(first.sample(i), other_seed.sample(i)) for i in range(8))


def test_one_pass_visits_every_unit_once_and_splits_are_disjoint(toy):
    task = _toy_task(toy, "capitalization")
    n = task.num_units("train")
    assert sorted(task.unit_for(i, "train") for i in range(n)) == list(range(n))
    assert [task.unit_for(i, "train") for i in range(n, 2 * n)] != [
        task.unit_for(i, "train") for i in range(n)
    ]
    train_docs = set(task.chunks["train"].first.tolist())
    heldout_docs = set(task.chunks["heldout"].first.tolist())
    assert train_docs and heldout_docs and not train_docs & heldout_docs
    # Tasks over the same corpus hold out the same documents.
    other = _toy_task(toy, "knowledge_masking")
    assert set(other.chunks["heldout"].first.tolist()) == heldout_docs


def test_unknown_and_bad_options_name_the_key():
    with pytest.raises(ConfigError, match="tasks.knowledge_masking.colour"):
        task_class("knowledge_masking").check_options({"colour": 1}, "tasks.knowledge_masking")
    with pytest.raises(ConfigError, match="tasks.knowledge_masking.levels.sentence"):
        task_class("knowledge_masking").check_options({"levels": {"sentence": 1}}, "tasks.knowledge_masking")
    with pytest.raises(ConfigError, match="tasks.sentence_reordering.max_segments"):
        task_class("sentence_reordering").check_options({"max_segments": 0}, "tasks.sentence_reordering")
    with pytest.raises(ConfigError, match="unknown task 'tasks.masking'"):
        task_class("masking", where="tasks")


def test_reordering_token_cuts_fall_inside_sentences(tmp_path, vocab_file):
    sentences = [[10 + 3 * k, 11 + 3 * k, 12 + 3 * k] for k in range(6)]
    documents = {"sentence_reordering": [[(s, {}) for s in sentences], [([50, 51, 52, 53], {})]]}
    options = {"max_segments": 3, "segment_counts": "balanced"}
    by_token = make_task(
        tmp_path / "t",
        vocab_file,
        "sentence_reordering",
        documents,
        ctx=context(64),
        options={**options, "cuts": "token"},
    )
    by_sentence = make_task(
        tmp_path / "s", vocab_file, "sentence_reordering", documents, ctx=context(64), options=options
    )

    def lengths(task):
        out = set()
        for index in range(200):
            sample = task.sample(index)
            if 10 in sample["input_ids"]:
                cuts = np.flatnonzero(sample["input_ids"] == SEP)
                out |= set(np.diff(np.concatenate([[0], cuts])).tolist())  # segment length + 1
        return out

    assert all((n - 1) % 3 == 0 for n in lengths(by_sentence))
    assert any((n - 1) % 3 != 0 for n in lengths(by_token))
