"""Task heads on the shared encoder: ``head(sequence_output, pooled_output) -> logits``.

Sentence-level tasks classify the pooled [CLS] (as the official static 2.0 code's
``get_task_output``: one fully connected layer per task on the pooled output); token-level tasks
classify every token. Their parameters are saved as ``task_heads.<task>.classifier.*``.
"""

from __future__ import annotations

import paddle
import paddle.nn as nn

from ernie.config import ErnieConfig


def _weight_attr(config: ErnieConfig) -> paddle.ParamAttr:
    return paddle.ParamAttr(
        initializer=nn.initializer.TruncatedNormal(mean=0.0, std=config.initializer_range)
    )


def _dropout(config: ErnieConfig) -> float:
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


class SentenceClassificationHead(nn.Layer):
    """dropout -> Linear(hidden, classes) on the pooled output: ``[B, classes]``."""

    def __init__(self, config: ErnieConfig, num_classes: int):
        super().__init__()
        self.dropout = nn.Dropout(_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, num_classes, weight_attr=_weight_attr(config))

    def forward(self, sequence_output: paddle.Tensor, pooled_output: paddle.Tensor) -> paddle.Tensor:
        return self.classifier(self.dropout(pooled_output))


class TokenClassificationHead(nn.Layer):
    """dropout -> Linear(hidden, classes) on every token: ``[B, T, classes]``."""

    def __init__(self, config: ErnieConfig, num_classes: int):
        super().__init__()
        self.dropout = nn.Dropout(_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, num_classes, weight_attr=_weight_attr(config))

    def forward(self, sequence_output: paddle.Tensor, pooled_output: paddle.Tensor) -> paddle.Tensor:
        return self.classifier(self.dropout(sequence_output))
