"""Features: reading-comprehension windows and answer recovery, NER alignment, the training batch order."""

from __future__ import annotations

import numpy as np
import pytest

from ernie.finetune.data import BatchOrder, rank_micro_batches
from ernie.finetune.mrc import best_answers, build_mrc_features
from ernie.finetune.ner import IGNORE, build_ner_features, decode_units
from ernie.finetune.readers import MrcExample, NerExample
from ernie.tokenizer import ErnieTokenizer
from tests.fixtures.finetune.tiny import vocab_from_texts  # noqa: E402

CONTEXT = (
    "长江是亚洲第一长河，全长约6300公里。它发源于青藏高原的唐古拉山脉，"
    "流经青海、西藏、四川、云南、重庆、湖北、湖南、江西、安徽、江苏和上海，最后注入东海。"
    "The Yangtze is also called Chang Jiang in English texts. 长江流域是中国经济最发达的地区之一。"
)
QUESTIONS = [
    ("q1", "长江发源于哪里？", "青藏高原的唐古拉山脉"),
    ("q2", "长江注入哪里？", "东海"),
    ("q3", "英文名叫什么？", "Chang Jiang"),
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    tokens = vocab_from_texts([CONTEXT] + [q for _, q, _ in QUESTIONS] + ["你好 世界"])
    path.write_text("\n".join(tokens + ["##s"]) + "\n", encoding="utf-8")
    return ErnieTokenizer(str(path))


def _examples():
    return [
        MrcExample(qid, q, CONTEXT, [{"text": a, "answer_start": CONTEXT.index(a)}])
        for qid, q, a in QUESTIONS
    ]


def test_windows_cover_the_context_and_targets_point_at_the_answer(tokenizer):
    examples = _examples()
    n_context = len(tokenizer.encode_texts([CONTEXT])[0])
    features, unusable = build_mrc_features(
        examples, tokenizer, max_seq_len=48, doc_stride=16, max_query_len=8, training=True
    )
    assert unusable == []
    for k, example in enumerate(examples):
        windows = [f for f in features if f.example_index == k]
        assert len(windows) > 1  # the context is longer than one window
        covered = set()
        best_count: dict = {}
        for f in windows:
            assert len(f.input_ids) <= 48
            spans = [o for o in f.offsets if o is not None]
            covered.update(spans)
            for offset, is_best in zip(f.offsets, f.max_context):
                if offset is not None and is_best:
                    best_count[offset] = best_count.get(offset, 0) + 1
        assert len(covered) == n_context
        assert (
            set(best_count.values()) == {1} and len(best_count) == n_context
        )  # each token's one best window
        answer = example.answers[0]["text"]
        hits = [f for f in windows if f.start_position > 0]
        assert hits
        for f in hits:
            start, end = f.offsets[f.start_position][0], f.offsets[f.end_position][1]
            assert CONTEXT[start:end] == answer
        for f in windows:
            if f.start_position == 0:
                assert f.end_position == 0


def test_best_answers_recover_the_text_from_logits(tokenizer):
    examples = _examples()
    features, _ = build_mrc_features(
        examples, tokenizer, max_seq_len=48, doc_stride=16, max_query_len=8, training=True
    )
    starts, ends = [], []
    for f in features:
        s = np.zeros(len(f.input_ids), dtype="float32")
        e = np.zeros(len(f.input_ids), dtype="float32")
        if f.start_position > 0 and f.max_context[f.start_position]:
            s[f.start_position], e[f.end_position] = 5.0, 5.0
        # Higher scores on invalid spans: the question ([CLS] at 0, query tokens) and end before start.
        s[1], e[1] = 9.0, 9.0
        starts.append(s)
        ends.append(e)
    answers = best_answers(examples, features, starts, ends, n_best=20, max_answer_len=30)
    assert {qid: a["text"] for qid, a in answers.items()} == {qid: a for qid, _, a in QUESTIONS}
    for qid, _, text in QUESTIONS:
        assert answers[qid]["start"] == CONTEXT.index(text)
    # Too short a max_answer_len rules the long answer out.
    short = best_answers(examples, features, starts, ends, n_best=20, max_answer_len=2)
    assert short["q1"]["text"] != "青藏高原的唐古拉山脉" and short["q2"]["text"] == "东海"


def test_an_answer_missing_from_the_context_is_not_trained_on(tokenizer):
    example = MrcExample("x", "问题", CONTEXT, [{"text": "黄河", "answer_start": None}])
    features, unusable = build_mrc_features([example], tokenizer, 64, 32, 8, training=True)
    assert features == [] and unusable == [0]
    features, unusable = build_mrc_features([example], tokenizer, 64, 32, 8, training=False)
    assert features and unusable == []


def test_ner_windows_keep_every_unit_and_label_first_pieces(tokenizer):
    units = list("长江流经青海西藏四川云南重庆湖北湖南江西安徽江苏和上海") + ["Chang", "Jiangs"]
    labels = [6] * len(units)
    labels[4:6] = [4, 5]  # 青海: B-LOC I-LOC
    labels[-2:] = [4, 5]
    example = NerExample(units, labels)
    features, empty = build_ner_features([example], tokenizer, max_seq_len=8)
    assert empty == 0 and len(features) > 3
    seen = [u for f in features for u, _ in f.unit_positions]
    assert seen == list(range(len(units)))
    for f in features:
        assert len(f.input_ids) <= 8
        for u, position in f.unit_positions:
            assert f.labels[position] == labels[u]
        assert sum(1 for x in f.labels if x != IGNORE) == len(f.unit_positions)
    # 'jiangs' is two pieces (jiang + ##s): the second carries no label.
    last = features[-1]
    assert last.labels[-3:] == [5, IGNORE, IGNORE]
    # One-hot logits at the gold labels decode back to the gold labels.
    logits = []
    for f in features:
        row = np.zeros((len(f.input_ids), 7), dtype="float32")
        for u, position in f.unit_positions:
            row[position, labels[u]] = 1.0
        logits.append(row)
    assert decode_units([example], features, logits, outside_id=6) == [labels]


def test_ner_unit_without_tokens_is_counted_and_predicted_outside(tokenizer):
    example = NerExample(["长", "\u200b", "江"], [4, 5, 5])  # a zero-width space tokenizes to nothing
    features, empty = build_ner_features([example], tokenizer, max_seq_len=16)
    assert empty == 1
    assert [u for u, _ in features[0].unit_positions] == [0, 2]
    logits = [np.eye(7, dtype="float32")[[0, 4, 5, 0]]]
    assert decode_units([example], features, logits, outside_id=6) == [[4, 6, 5]]


def test_training_batches_do_not_depend_on_the_number_of_processes():
    order = BatchOrder(n_examples=10, batch_size=4, seed=3)
    batches = [order.batch(step) for step in range(6)]
    # A pure function of the step: asked again in any order (a resumed run), the same batches.
    assert [BatchOrder(10, 4, 3).batch(step) for step in (5, 0, 3)] == [batches[5], batches[0], batches[3]]
    assert all(len(b) == 4 for b in batches)
    stream = [i for b in batches for i in b]
    # One permutation per epoch, laid end to end: the first 20 indices are two epochs of 0..9.
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    assert stream[:10] != stream[10:20]
    for batch in batches:
        one = rank_micro_batches(batch, micro_batch_size=2, accumulate_steps=2, rank=0, world=1)
        two = [rank_micro_batches(batch, 1, 2, r, 2) for r in range(2)]
        assert sorted(i for m in one for i in m) == sorted(batch)
        assert sorted(i for r in two for m in r for i in m) == sorted(batch)
