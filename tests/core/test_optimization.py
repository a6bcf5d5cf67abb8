"""AdamW decay set, the warm-up/decay schedule and clipping, against hand-worked values."""

from __future__ import annotations

import numpy as np
import paddle

from ernie import ErnieConfig, ErnieForPretraining, ErnieForSequenceClassification
from ernie.optimization import (
    LinearWarmupDecay,
    build_optimizer,
    decay_parameter_names,
    no_decay_parameter_names,
)


def tiny(**extra) -> ErnieConfig:
    return ErnieConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=20,
        type_vocab_size=2,
        **extra,
    )


def test_decay_applies_to_weights_not_biases_or_layer_norm():
    model = ErnieForSequenceClassification(tiny())
    decayed = set(decay_parameter_names(model))
    expected = {
        "ernie.embeddings.word_embeddings.weight",
        "ernie.embeddings.position_embeddings.weight",
        "ernie.embeddings.token_type_embeddings.weight",
        "ernie.pooler.dense.weight",
        "classifier.weight",
    }
    for i in range(2):
        for name in (
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.out_proj",
            "linear1",
            "linear2",
        ):
            expected.add(f"ernie.encoder.layers.{i}.{name}.weight")
    assert decayed == expected
    excluded = no_decay_parameter_names(model)
    assert "ernie.embeddings.layer_norm.weight" in excluded  # a LayerNorm scale is not named *bias
    assert "ernie.encoder.layers.1.norm2.weight" in excluded
    assert len(decayed) + len(excluded) == len(list(model.named_parameters()))


def test_mlm_decoder_bias_is_not_decayed():
    assert "cls.predictions.decoder_bias" in no_decay_parameter_names(ErnieForPretraining(tiny()))


def test_optimizer_step_decays_only_the_decay_set():
    paddle.seed(0)
    model = ErnieForSequenceClassification(tiny(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    optimizer, _ = build_optimizer(
        model, learning_rate=0.1, total_steps=10, warmup=0, weight_decay=0.5, max_grad_norm=None
    )
    before = {name: p.numpy().copy() for name, p in model.named_parameters()}
    # Zero gradients everywhere: Adam's update is zero, so only decoupled decay moves a parameter.
    loss = (model(paddle.to_tensor([[3, 4, 5]])) * 0.0).sum()
    loss.backward()
    optimizer.step()
    decayed = set(decay_parameter_names(model))
    for name, p in model.named_parameters():
        if name in decayed:
            np.testing.assert_allclose(p.numpy(), before[name] * (1 - 0.1 * 0.5), rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(p.numpy(), before[name])


def test_schedule_values_by_hand():
    schedule = LinearWarmupDecay(1.0, total_steps=10, warmup_steps=4)
    values = []
    for _ in range(12):
        values.append(schedule())
        schedule.step()
    expected = [0.0, 0.25, 0.5, 0.75, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0, 0.0]
    np.testing.assert_allclose(values, expected, atol=1e-9)


def test_global_norm_clipping():
    paddle.seed(1)
    layer = paddle.nn.Linear(4, 3)
    optimizer, _ = build_optimizer(
        layer,
        learning_rate=1.0,
        total_steps=1,
        warmup=0,
        weight_decay=0.0,
        max_grad_norm=0.5,
        beta1=0.0,
        beta2=0.0,
        epsilon=1e-12,
    )
    x = paddle.to_tensor(np.ones((2, 4), dtype="float32") * 10)
    (layer(x) ** 2).sum().backward()
    grads = [p.grad.numpy().copy() for p in layer.parameters()]
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    assert norm > 0.5
    clipped = optimizer._grad_clip([(p, p.grad) for p in layer.parameters()])
    for (_, g), raw in zip(clipped, grads):
        np.testing.assert_allclose(g.numpy(), raw * 0.5 / norm, rtol=1e-5)
