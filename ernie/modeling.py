"""The ERNIE encoder and its heads, in one file, forward passes readable top to bottom.

Architecture (ERNIE 1.0/2.0, BERT-sized, post-LayerNorm):

    embeddings = LayerNorm(word + position + sentence [+ task]) -> dropout
    each layer:  h   = LayerNorm(x + dropout(SelfAttention(x)))
                 out = LayerNorm(h + dropout(W2 act(W1 h)))
    pooled     = tanh(W_pool sequence_output[:, 0])

Parameter names are PaddleNLP's (``embeddings.word_embeddings.weight``,
``encoder.layers.{i}.self_attn.q_proj.weight``, ``pooler.dense.weight``, ...; head models prefix the
encoder with ``ernie.``), Linear weights are ``[in, out]``, so checkpoints move both ways between
PaddleNLP and this code without renaming. See ``ernie/checkpoint.py`` for loading rules.
"""

from __future__ import annotations

import os
from typing import Optional

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .config import ErnieConfig

Tensor = paddle.Tensor

# Additive mask value for padded keys: large enough to zero softmax weights, small enough for fp16.
MASK_VALUE = -1e4


def activation_fn(name: str):
    if name == "gelu":
        return lambda x: F.gelu(x, approximate=False)  # exact erf gelu, as the official code and PaddleNLP
    if name in ("gelu_new", "gelu_approximate"):
        return lambda x: F.gelu(x, approximate=True)
    return {"relu": F.relu, "tanh": paddle.tanh, "silu": F.silu}[name]


def _weight_attr(config: ErnieConfig) -> paddle.ParamAttr:
    return paddle.ParamAttr(
        initializer=nn.initializer.TruncatedNormal(mean=0.0, std=config.initializer_range)
    )


def additive_attention_mask(
    input_ids: Tensor, attention_mask: Optional[Tensor], pad_token_id: int, dtype
) -> Tensor:
    """A mask broadcastable to [batch, heads, query, key] that is added to the attention scores.

    ``None``: keys equal to ``pad_token_id`` are masked. A 2-D 0/1 (or bool) mask from the tokenizer:
    zeros are masked. A bool mask of higher rank: False is masked. Any other float mask of rank 3/4 is
    taken as already additive (PaddleNLP's convention).
    """
    if attention_mask is None:
        mask = (input_ids == pad_token_id).astype(dtype) * MASK_VALUE
        return mask.unsqueeze([1, 2])
    if attention_mask.ndim == 2:
        return ((1.0 - attention_mask.astype(dtype)) * MASK_VALUE).unsqueeze([1, 2])
    if attention_mask.dtype == paddle.bool:
        mask = (1.0 - attention_mask.astype(dtype)) * MASK_VALUE
    else:
        mask = attention_mask.astype(dtype)
    return mask.unsqueeze(1) if mask.ndim == 3 else mask


def cross_entropy_ignoring(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Mean cross entropy over the labels that are not ``ignore_index``.

    Paddle 3.3's ``F.cross_entropy(..., ignore_index=i)`` divides the sum by every label, ignored ones
    included, which shrinks the loss with the amount of padding; we divide by the counted ones.
    """
    labels = labels.reshape([-1]).astype("int64")
    per_label = F.cross_entropy(
        logits.reshape([-1, logits.shape[-1]]), labels, ignore_index=ignore_index, reduction="none"
    )
    counted = (labels != ignore_index).astype(per_label.dtype).sum()
    return per_label.sum() / paddle.clip(counted, min=1.0)


class ErnieEmbeddings(nn.Layer):
    def __init__(self, config: ErnieConfig):
        super().__init__()
        attr = _weight_attr(config)
        # padding_idx: the [PAD] row reads as zeros and never trains, as in PaddleNLP.
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id, weight_attr=attr
        )
        self.position_embeddings = nn.Embedding(
            config.max_position_embeddings, config.hidden_size, weight_attr=attr
        )
        self.token_type_embeddings = (
            nn.Embedding(config.type_vocab_size, config.hidden_size, weight_attr=attr)
            if config.type_vocab_size > 0
            else None
        )
        self.task_type_embeddings = (
            nn.Embedding(config.task_type_vocab_size, config.hidden_size, weight_attr=attr)
            if config.use_task_id
            else None
        )
        self.default_task_id = config.task_id
        self.layer_norm = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Optional[Tensor] = None,
        position_ids: Optional[Tensor] = None,
        task_type_ids: Optional[Tensor] = None,
    ) -> Tensor:
        if position_ids is None:
            # cumsum instead of arange(seq_len): no Python int of the length, so it also exports.
            position_ids = paddle.cumsum(paddle.ones_like(input_ids), axis=1) - 1
        embeddings = self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = paddle.zeros_like(input_ids)
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        if self.task_type_embeddings is not None:
            if task_type_ids is None:
                task_type_ids = paddle.full_like(input_ids, self.default_task_id)
            embeddings = embeddings + self.task_type_embeddings(task_type_ids)
        return self.dropout(self.layer_norm(embeddings))


class ErnieSelfAttention(nn.Layer):
    def __init__(self, config: ErnieConfig):
        super().__init__()
        hidden, attr = config.hidden_size, _weight_attr(config)
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(hidden, hidden, weight_attr=attr)
        self.k_proj = nn.Linear(hidden, hidden, weight_attr=attr)
        self.v_proj = nn.Linear(hidden, hidden, weight_attr=attr)
        self.out_proj = nn.Linear(hidden, hidden, weight_attr=attr)
        self.attn_dropout = config.attention_probs_dropout_prob

    def forward(self, hidden_states: Tensor, attn_mask: Tensor) -> Tensor:
        # One GEMM for q, k and v: the three [in, out] weights side by side (cheaper than three calls).
        qkv_weight = paddle.concat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight], axis=1)
        qkv_bias = paddle.concat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias], axis=0)
        # split (backward: one concat) is much cheaper on CPU than slicing a stacked tensor.
        q, k, v = paddle.split(F.linear(hidden_states, qkv_weight, qkv_bias), 3, axis=-1)
        # reshape's 0 keeps that input dim: works for the dynamic batch/length of exported programs.
        q, k, v = (
            t.reshape([0, 0, self.num_heads, self.head_dim]).transpose([0, 2, 1, 3]) for t in (q, k, v)
        )

        scores = paddle.matmul(q * (self.head_dim**-0.5), k, transpose_y=True) + attn_mask
        probs = F.softmax(scores, axis=-1)
        probs = F.dropout(probs, self.attn_dropout, training=self.training)
        context = (
            paddle.matmul(probs, v).transpose([0, 2, 1, 3]).reshape([0, 0, self.num_heads * self.head_dim])
        )
        return self.out_proj(context)


class ErnieLayer(nn.Layer):
    """Post-LayerNorm Transformer block; attribute names match paddle.nn.TransformerEncoderLayer."""

    def __init__(self, config: ErnieConfig):
        super().__init__()
        attr = _weight_attr(config)
        self.self_attn = ErnieSelfAttention(config)
        self.linear1 = nn.Linear(config.hidden_size, config.intermediate_size, weight_attr=attr)
        self.linear2 = nn.Linear(config.intermediate_size, config.hidden_size, weight_attr=attr)
        self.norm1 = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.norm2 = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.dropout1 = nn.Dropout(config.hidden_dropout_prob)
        self.dropout2 = nn.Dropout(config.hidden_dropout_prob)
        self.activation = activation_fn(config.hidden_act)

    def forward(self, hidden_states: Tensor, attn_mask: Tensor) -> Tensor:
        hidden_states = self.norm1(hidden_states + self.dropout1(self.self_attn(hidden_states, attn_mask)))
        ffn_output = self.linear2(self.activation(self.linear1(hidden_states)))
        return self.norm2(hidden_states + self.dropout2(ffn_output))


class ErnieEncoder(nn.Layer):
    def __init__(self, config: ErnieConfig):
        super().__init__()
        self.layers = nn.LayerList([ErnieLayer(config) for _ in range(config.num_hidden_layers)])
        # Recompute trades compute for activation memory (large models on GPU); off by default.
        self.enable_recompute = False

    def forward(self, hidden_states: Tensor, attn_mask: Tensor) -> Tensor:
        for layer in self.layers:
            if self.enable_recompute and self.training:
                from paddle.distributed.fleet.utils import recompute

                hidden_states = recompute(layer, hidden_states, attn_mask)
            else:
                hidden_states = layer(hidden_states, attn_mask)
        return hidden_states


class ErniePooler(nn.Layer):
    def __init__(self, config: ErnieConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, weight_attr=_weight_attr(config))

    def forward(self, sequence_output: Tensor) -> Tensor:
        return paddle.tanh(self.dense(sequence_output[:, 0]))


class ErniePretrainedModel(nn.Layer):
    """Checkpoint I/O shared by every model class: PaddleNLP directory layout and key names."""

    base_model_prefix = "ernie"
    config: ErnieConfig

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        config: Optional[ErnieConfig] = None,
        strict: bool = True,
        verbose: bool = True,
        init_kwargs: Optional[dict] = None,
        **overrides,
    ):
        """Build the model from ``path`` (our, PaddleNLP or converted official checkpoint dir).

        ``overrides`` change config keys (e.g. ``num_labels=3``, ``hidden_dropout_prob=0``). Loading is
        strict: keys or shapes that do not match raise ``CheckpointError`` listing them, except a head
        that the checkpoint does not have (reported, left at its initialisation). ``strict=False``
        loads what matches and reports the rest. ``init_kwargs`` go to the constructor (e.g. the
        ``task_heads`` of ``ErnieForPretraining``).
        """
        from .checkpoint import load_weights_into

        if config is None:
            config = ErnieConfig.from_pretrained(path, **overrides)
        elif overrides:
            config = config.replace(**overrides)
        model = cls(config, **(init_kwargs or {}))
        model.load_report = load_weights_into(model, path, strict=strict, verbose=verbose)
        model.eval()  # unlike the official code (issue #474): callers switch to train() explicitly
        return model

    def save_pretrained(self, path: str) -> None:
        """Write ``config.json`` and ``model_state.pdparams`` into directory ``path``."""
        from .checkpoint import save_weights

        os.makedirs(path, exist_ok=True)
        # architectures tells loaders (ours, PaddleNLP's Auto classes, tools/predict.py) which head this is.
        self.config.replace(architectures=[type(self).__name__]).save(os.path.join(path, "config.json"))
        save_weights(self, path)


class ErnieModel(ErniePretrainedModel):
    """The bare encoder: ``(sequence_output [B, T, H], pooled_output [B, H])``."""

    def __init__(self, config: ErnieConfig):
        super().__init__()
        self.config = config
        self.embeddings = ErnieEmbeddings(config)
        self.encoder = ErnieEncoder(config)
        self.pooler = ErniePooler(config)

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Optional[Tensor] = None,
        position_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        task_type_ids: Optional[Tensor] = None,
    ) -> tuple[Tensor, Tensor]:
        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, task_type_ids)
        attn_mask = additive_attention_mask(
            input_ids, attention_mask, self.config.pad_token_id, embedding_output.dtype
        )
        attn_mask.stop_gradient = True
        sequence_output = self.encoder(embedding_output, attn_mask)
        pooled_output = self.pooler(sequence_output)
        return sequence_output, pooled_output


class _ErnieWithHead(ErniePretrainedModel):
    def __init__(self, config: ErnieConfig):
        super().__init__()
        self.config = config
        self.ernie = ErnieModel(config)
        dropout = (
            config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        )
        self.dropout = nn.Dropout(dropout)


class ErnieForSequenceClassification(_ErnieWithHead):
    """Classifier on the pooled [CLS]; ``num_labels == 1`` makes it a regressor (MSE loss).

    Returns logits ``[B, num_labels]``, or ``(loss, logits)`` when ``labels`` is given.
    """

    def __init__(self, config: ErnieConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, weight_attr=_weight_attr(config))

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Optional[Tensor] = None,
        position_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        task_type_ids: Optional[Tensor] = None,
        labels: Optional[Tensor] = None,
    ):
        _, pooled_output = self.ernie(input_ids, token_type_ids, position_ids, attention_mask, task_type_ids)
        logits = self.classifier(self.dropout(pooled_output))
        if labels is None:
            return logits
        if self.num_labels == 1:
            loss = F.mse_loss(logits.reshape([-1]), labels.reshape([-1]).astype(logits.dtype))
        else:
            loss = F.cross_entropy(logits, labels.reshape([-1]).astype("int64"))
        return loss, logits


class ErnieForTokenClassification(_ErnieWithHead):
    """Per-token classifier (NER). Labels equal to -100 (padding, sub-word pieces) carry no loss."""

    ignore_index = -100

    def __init__(self, config: ErnieConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, weight_attr=_weight_attr(config))

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Optional[Tensor] = None,
        position_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        task_type_ids: Optional[Tensor] = None,
        labels: Optional[Tensor] = None,
    ):
        sequence_output, _ = self.ernie(
            input_ids, token_type_ids, position_ids, attention_mask, task_type_ids
        )
        logits = self.classifier(self.dropout(sequence_output))
        if labels is None:
            return logits
        return cross_entropy_ignoring(logits, labels, self.ignore_index), logits


class ErnieForQuestionAnswering(_ErnieWithHead):
    """Span extraction: start and end logits over the tokens (``classifier`` maps H -> 2).

    Returns ``(start_logits, end_logits)``, or ``(loss, start_logits, end_logits)`` with positions;
    the loss is the mean of the start and end cross entropies.
    """

    def __init__(self, config: ErnieConfig):
        super().__init__(config)
        self.classifier = nn.Linear(config.hidden_size, 2, weight_attr=_weight_attr(config))

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Optional[Tensor] = None,
        position_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        task_type_ids: Optional[Tensor] = None,
        start_positions: Optional[Tensor] = None,
        end_positions: Optional[Tensor] = None,
    ):
        sequence_output, _ = self.ernie(
            input_ids, token_type_ids, position_ids, attention_mask, task_type_ids
        )
        logits = self.classifier(sequence_output)  # no dropout, as PaddleNLP and the official MRC head
        start_logits, end_logits = logits[:, :, 0], logits[:, :, 1]
        if start_positions is None or end_positions is None:
            return start_logits, end_logits
        loss = (
            F.cross_entropy(start_logits, start_positions.reshape([-1]).astype("int64"))
            + F.cross_entropy(end_logits, end_positions.reshape([-1]).astype("int64"))
        ) / 2
        return loss, start_logits, end_logits


class ErnieLMPredictionHead(nn.Layer):
    """Masked-LM head: transform -> act -> LayerNorm -> decoder^T + bias; the decoder is the word
    embeddings (tied, the default) or, with ``tie_word_embeddings`` false, a matrix of its own.

    ``masked_positions`` are flat indices into ``[B * T]``; only those rows are projected onto the
    vocabulary, which is where the cost of a pre-training step's head lies.
    """

    def __init__(self, config: ErnieConfig, word_embeddings: paddle.Tensor):
        super().__init__()
        self.transform = nn.Linear(config.hidden_size, config.hidden_size, weight_attr=_weight_attr(config))
        self.activation = activation_fn(config.hidden_act)
        self.layer_norm = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        if config.tie_word_embeddings:
            # The word embeddings [vocab, hidden]; set past Layer.__setattr__ so that it is not
            # registered (and saved) a second time under this head.
            object.__setattr__(self, "decoder_weight", word_embeddings)
        else:  # saved as cls.predictions.decoder_weight
            self.decoder_weight = self.create_parameter(
                shape=word_embeddings.shape, dtype=word_embeddings.dtype, attr=_weight_attr(config)
            )
        self.decoder_bias = self.create_parameter(
            shape=[config.vocab_size], dtype=word_embeddings.dtype, is_bias=True
        )

    def forward(self, sequence_output: Tensor, masked_positions: Optional[Tensor] = None) -> Tensor:
        if masked_positions is not None:
            hidden = sequence_output.reshape([-1, sequence_output.shape[-1]])
            sequence_output = paddle.gather(hidden, masked_positions.reshape([-1]))
        hidden = self.layer_norm(self.activation(self.transform(sequence_output)))
        return paddle.matmul(hidden, self.decoder_weight, transpose_y=True) + self.decoder_bias


class ErniePretrainingHeads(nn.Layer):
    def __init__(self, config: ErnieConfig, word_embeddings: paddle.Tensor):
        super().__init__()
        self.predictions = ErnieLMPredictionHead(config, word_embeddings)


class ErnieForPretraining(ErniePretrainedModel):
    """Shared encoder + the masked-LM head (PaddleNLP keys ``cls.predictions.*``) + one head per task.

    ``task_heads`` maps a task name to a layer ``head(sequence_output, pooled_output) -> logits``
    (ERNIE 2.0's capitalization, token-document, reordering, distance, discourse and IR heads);
    their parameters are saved as ``task_heads.<name>.*``.

    ``forward(..., head=None)`` returns masked-LM logits at ``masked_positions`` (``[N, vocab]``);
    ``head="<task>"`` returns that task head's logits. All calls go through ``forward`` so that a
    data-parallel wrapper sees them.
    """

    def __init__(self, config: ErnieConfig, task_heads: Optional[dict[str, nn.Layer]] = None):
        super().__init__()
        self.config = config
        self.ernie = ErnieModel(config)
        self.cls = ErniePretrainingHeads(config, self.ernie.embeddings.word_embeddings.weight)
        self.task_heads = nn.LayerDict(task_heads or {})

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Optional[Tensor] = None,
        position_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        task_type_ids: Optional[Tensor] = None,
        masked_positions: Optional[Tensor] = None,
        head: Optional[str] = None,
    ) -> Tensor:
        sequence_output, pooled_output = self.ernie(
            input_ids, token_type_ids, position_ids, attention_mask, task_type_ids
        )
        if head is None or head == "mlm":
            return self.cls.predictions(sequence_output, masked_positions)
        return self.task_heads[head](sequence_output, pooled_output)
