"""The encoder and heads against PaddleNLP 2.8.1 (the reference), both checkpoint directions.

PaddleNLP saves random weights with its own ``save_pretrained``; ours loads them and must give the
same sequence output, pooled output, head logits and masked-position MLM logits (max abs diff
<= 1e-5, eval mode). Then the reverse: ours saves, PaddleNLP loads, same outputs.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from ernie import (
    ErnieConfig,
    ErnieForPretraining,
    ErnieForQuestionAnswering,
    ErnieForSequenceClassification,
    ErnieForTokenClassification,
    ErnieModel,
)
from tests.conftest import paddlenlp_or_skip

TOL = 1e-5
VOCAB = 150
CASES = [
    pytest.param({"hidden_act": "relu", "use_task_id": False, "type_vocab_size": 2}, id="relu-notask-2types"),
    pytest.param({"hidden_act": "gelu", "use_task_id": True, "type_vocab_size": 4}, id="gelu-task-4types"),
    pytest.param({"hidden_act": "gelu", "use_task_id": False, "type_vocab_size": 4}, id="gelu-notask-4types"),
    pytest.param({"hidden_act": "relu", "use_task_id": True, "type_vocab_size": 2}, id="relu-task-2types"),
]


def tiny_kwargs(**extra) -> dict:
    base = dict(
        vocab_size=VOCAB,
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=80,
        max_position_embeddings=64,
        task_type_vocab_size=3,
        task_id=1,
        num_labels=3,
        layer_norm_eps=1e-12,
    )
    base.update(extra)
    return base


def make_inputs(type_vocab_size: int, seed: int = 0):
    rng = np.random.RandomState(seed)
    input_ids = rng.randint(1, VOCAB, size=(3, 24)).astype("int64")
    input_ids[0, 17:] = 0  # padding
    input_ids[2, 9:] = 0
    token_type_ids = rng.randint(0, type_vocab_size, size=(3, 24)).astype("int64")
    masked_positions = np.array([2, 5, 24 + 3, 48 + 8], dtype="int64")  # flat b * seq_len + t
    return paddle.to_tensor(input_ids), paddle.to_tensor(token_type_ids), paddle.to_tensor(masked_positions)


def randomize_every_parameter(model, seed: int) -> None:
    """Biases start at 0 and LayerNorms at 1/0: a bias or LayerNorm loaded under the wrong name would go
    unnoticed. Random values everywhere (the [PAD] row included) make every tensor count."""
    rng = np.random.RandomState(seed)
    with paddle.no_grad():
        for param in model.parameters():
            param.set_value(param.numpy() + rng.normal(0.0, 0.05, size=param.shape).astype("float32"))


def max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


@pytest.mark.parametrize("case", CASES)
def test_paddlenlp_checkpoint_loads_into_ours_with_same_outputs(case, tmp_path):
    paddlenlp_or_skip()
    from paddlenlp.transformers import ErnieConfig as PConfig
    from paddlenlp.transformers import ErnieForPretraining as PPretraining
    from paddlenlp.transformers import ErnieForSequenceClassification as PSeqCls

    paddle.seed(1)
    pconfig = PConfig(**tiny_kwargs(**case))
    reference = PPretraining(pconfig)
    randomize_every_parameter(reference, 11)
    reference.eval()
    reference.save_pretrained(str(tmp_path / "pre"))
    classifier = PSeqCls(pconfig)
    randomize_every_parameter(classifier, 12)
    classifier.eval()
    classifier.save_pretrained(str(tmp_path / "cls"))

    ours = ErnieForPretraining.from_pretrained(str(tmp_path / "pre"), verbose=False)
    assert ours.load_report.dropped_keys == ["cls.seq_relationship.weight", "cls.seq_relationship.bias"]
    input_ids, token_type_ids, masked_positions = make_inputs(case["type_vocab_size"])
    with paddle.no_grad():
        seq_ref, pooled_ref = reference.ernie(input_ids, token_type_ids=token_type_ids)
        seq, pooled = ours.ernie(input_ids, token_type_ids=token_type_ids)
        assert max_diff(seq, seq_ref) <= TOL
        assert max_diff(pooled, pooled_ref) <= TOL
        mlm_ref, _ = reference(input_ids, token_type_ids=token_type_ids, masked_positions=masked_positions)
        mlm = ours(input_ids, token_type_ids=token_type_ids, masked_positions=masked_positions)
        assert mlm.shape == [4, VOCAB]
        assert max_diff(mlm, mlm_ref) <= TOL
        if case["use_task_id"]:
            task_ids = paddle.full_like(input_ids, 2)
            seq_ref, _ = reference.ernie(input_ids, token_type_ids=token_type_ids, task_type_ids=task_ids)
            seq, _ = ours.ernie(input_ids, token_type_ids=token_type_ids, task_type_ids=task_ids)
            assert max_diff(seq, seq_ref) <= TOL

        ours_cls = ErnieForSequenceClassification.from_pretrained(str(tmp_path / "cls"), verbose=False)
        assert ours_cls.load_report.new_head_keys == []
        logits_ref = classifier(input_ids, token_type_ids=token_type_ids)
        logits = ours_cls(input_ids, token_type_ids=token_type_ids)
        assert max_diff(logits, logits_ref) <= TOL


@pytest.mark.parametrize("case", CASES)
def test_our_checkpoint_loads_into_paddlenlp_with_same_outputs(case, tmp_path):
    paddlenlp_or_skip()
    from paddlenlp.transformers import ErnieForPretraining as PPretraining
    from paddlenlp.transformers import ErnieForQuestionAnswering as PQA
    from paddlenlp.transformers import ErnieForSequenceClassification as PSeqCls
    from paddlenlp.transformers import ErnieForTokenClassification as PTokCls
    from paddlenlp.transformers import ErnieModel as PModel

    paddle.seed(2)
    config = ErnieConfig(**tiny_kwargs(**case))
    input_ids, token_type_ids, masked_positions = make_inputs(case["type_vocab_size"], seed=3)
    pairs = [
        (ErnieModel, PModel),
        (ErnieForSequenceClassification, PSeqCls),
        (ErnieForTokenClassification, PTokCls),
        (ErnieForQuestionAnswering, PQA),
        (ErnieForPretraining, PPretraining),
    ]
    for ours_cls, theirs_cls in pairs:
        ours = ours_cls(config)
        randomize_every_parameter(ours, 13)
        ours.eval()
        path = str(tmp_path / ours_cls.__name__)
        ours.save_pretrained(path)
        theirs = theirs_cls.from_pretrained(path)
        theirs.eval()
        with paddle.no_grad():
            if ours_cls is ErnieForPretraining:
                expected = theirs(
                    input_ids, token_type_ids=token_type_ids, masked_positions=masked_positions
                )[0]
                got = ours(input_ids, token_type_ids=token_type_ids, masked_positions=masked_positions)
                assert max_diff(got, expected) <= TOL, ours_cls.__name__
                continue
            got = ours(input_ids, token_type_ids=token_type_ids)
            expected = theirs(input_ids, token_type_ids=token_type_ids)
            got = got if isinstance(got, (tuple, list)) else [got]
            expected = expected if isinstance(expected, (tuple, list)) else [expected]
            for g, e in zip(got, expected):
                assert max_diff(g, e) <= TOL, ours_cls.__name__


def test_padding_does_not_change_real_positions():
    paddle.seed(3)
    model = ErnieModel(ErnieConfig(**tiny_kwargs()))
    model.eval()
    ids = np.array([[5, 17, 33, 9, 41]], dtype="int64")
    padded = np.concatenate([ids, np.zeros((1, 7), dtype="int64")], axis=1)
    with paddle.no_grad():
        seq, pooled = model(paddle.to_tensor(ids))
        seq_p, pooled_p = model(paddle.to_tensor(padded))
        mask = paddle.to_tensor((padded != 0).astype("int64"))
        seq_m, _ = model(paddle.to_tensor(padded), attention_mask=mask)
    assert max_diff(seq, seq_p[:, :5]) <= 1e-5
    assert max_diff(pooled, pooled_p) <= 1e-5
    assert max_diff(seq_m, seq_p) <= 1e-6  # a 0/1 mask from the tokenizer equals the implied one


def test_task_embedding_changes_output_only_when_enabled():
    paddle.seed(4)
    ids = paddle.to_tensor(np.array([[5, 17, 33, 9]], dtype="int64"))
    with_task = ErnieModel(ErnieConfig(**tiny_kwargs(use_task_id=True)))
    with_task.eval()
    with paddle.no_grad():
        default = with_task(ids)[0]
        explicit_default = with_task(ids, task_type_ids=paddle.full_like(ids, 1))[0]  # config task_id = 1
        other = with_task(ids, task_type_ids=paddle.full_like(ids, 2))[0]
    assert max_diff(default, explicit_default) == 0.0
    assert max_diff(default, other) > 1e-3
    assert (
        "embeddings.task_type_embeddings.weight" not in ErnieModel(ErnieConfig(**tiny_kwargs())).state_dict()
    )


def test_head_losses_match_numpy():
    paddle.seed(5)
    ids = paddle.to_tensor(np.array([[5, 17, 33, 9], [7, 8, 0, 0]], dtype="int64"))

    regressor = ErnieForSequenceClassification(ErnieConfig(**tiny_kwargs(num_labels=1)))
    regressor.eval()
    targets = paddle.to_tensor(np.array([0.5, 3.25], dtype="float32"))
    loss, logits = regressor(ids, labels=targets)
    expected = np.mean((logits.numpy().reshape(-1) - targets.numpy()) ** 2)
    assert abs(float(loss) - expected) <= 1e-6

    classifier = ErnieForSequenceClassification(ErnieConfig(**tiny_kwargs(num_labels=3)))
    classifier.eval()
    labels = paddle.to_tensor(np.array([2, 0], dtype="int64"))
    loss, logits = classifier(ids, labels=labels)
    z = logits.numpy()
    log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
    assert abs(float(loss) - -np.mean(log_probs[[0, 1], [2, 0]])) <= 1e-5

    tagger = ErnieForTokenClassification(ErnieConfig(**tiny_kwargs(num_labels=3)))
    tagger.eval()
    tags = np.array([[0, 1, 2, -100], [2, 1, -100, -100]], dtype="int64")
    loss, logits = tagger(ids, labels=paddle.to_tensor(tags))
    z = logits.numpy()
    log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
    keep = tags != -100
    assert abs(float(loss) - -np.mean(log_probs[keep, tags[keep]])) <= 1e-5

    reader = ErnieForQuestionAnswering(ErnieConfig(**tiny_kwargs()))
    reader.eval()
    starts, ends = np.array([1, 0]), np.array([2, 1])
    loss, start_logits, end_logits = reader(
        ids, start_positions=paddle.to_tensor(starts), end_positions=paddle.to_tensor(ends)
    )

    def ce(z, gold):
        log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return -np.mean(log_probs[np.arange(len(gold)), gold])

    expected = (ce(start_logits.numpy(), starts) + ce(end_logits.numpy(), ends)) / 2
    assert abs(float(loss) - expected) <= 1e-5


def test_mlm_head_is_tied_and_computes_only_masked_positions():
    paddle.seed(6)
    model = ErnieForPretraining(ErnieConfig(**tiny_kwargs()))
    model.eval()
    state = model.state_dict()
    assert not any("decoder_weight" in k for k in state)  # the tied matrix is saved once
    assert model.cls.predictions.decoder_weight is model.ernie.embeddings.word_embeddings.weight
    ids = paddle.to_tensor(np.random.RandomState(0).randint(1, VOCAB, size=(2, 10)).astype("int64"))
    positions = paddle.to_tensor(np.array([1, 4, 13], dtype="int64"))
    with paddle.no_grad():
        at_masks = model(ids, masked_positions=positions)
        everywhere = model(ids)  # [2, 10, vocab]
    flat = everywhere.numpy().reshape(20, VOCAB)
    assert max_diff(at_masks, flat[[1, 4, 13]]) <= 1e-5


@pytest.mark.parametrize("tied", [True, False])
def test_an_untied_decoder_leaves_the_embeddings_of_absent_tokens_alone(tied, tmp_path):
    # One SGD step of masked LM on tokens 5..9: with the tied decoder the softmax's gradient reaches every
    # row of the word embeddings (the drift that makes a small corpus collapse the tokens it never shows);
    # untied, only the rows of tokens in the input move, and the decoder is a parameter of its own.
    paddle.seed(3)
    model = ErnieForPretraining(ErnieConfig(**tiny_kwargs(hidden_dropout_prob=0.0, tie_word_embeddings=tied)))
    words = model.ernie.embeddings.word_embeddings.weight
    before = words.numpy().copy()
    ids = paddle.to_tensor(np.array([[1, 5, 6, 7, 8, 9, 2]], dtype="int64"))
    logits = model(ids, masked_positions=paddle.to_tensor(np.array([2, 4], dtype="int64")))
    loss = paddle.nn.functional.cross_entropy(logits, paddle.to_tensor(np.array([[6], [8]], dtype="int64")))
    optimizer = paddle.optimizer.SGD(learning_rate=1.0, parameters=model.parameters())
    loss.backward()
    optimizer.step()
    moved = np.abs(words.numpy() - before).max(axis=1) > 0
    absent = np.ones(VOCAB, dtype=bool)
    absent[[1, 2, 5, 6, 7, 8, 9]] = False
    assert moved[absent].all() if tied else not moved[absent].any()
    assert moved[[5, 6, 7, 8, 9]].all()
    has_own = any(k.endswith("cls.predictions.decoder_weight") for k in model.state_dict())
    assert has_own == (not tied)
    model.save_pretrained(str(tmp_path))
    back = ErnieForPretraining.from_pretrained(str(tmp_path), verbose=False)
    assert back.config.tie_word_embeddings == tied
    assert np.array_equal(
        back.cls.predictions.decoder_weight.numpy(), model.cls.predictions.decoder_weight.numpy()
    )
