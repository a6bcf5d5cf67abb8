"""What differs between kinds of task, behind one small interface the training loop uses.

For each kind (sentence classification or regression, NER, reading comprehension) an adapter says:
which model class to build, how examples become features, how a batch of features becomes model
inputs, the *summed* loss and the number of units it sums over (examples, labelled tokens or
windows: the loop divides by the global batch's total so any split across processes and
micro-batches gives the same gradient), what to keep of the outputs, and how kept outputs become
metrics and predictions.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import paddle
import paddle.nn.functional as F

from . import metrics as M
from .benchmarks import CLASSIFICATION, MRC, NER, REGRESSION, BenchmarkSpec
from .data import TextFeature, build_text_features, pad
from .mrc import MrcFeature, best_answers, build_mrc_features
from .ner import (
    IGNORE,
    NerFeature,
    build_ner_features,
    decode_units,
    entities_with_text,
    official_scored_units,
)
from .readers import DataIssue, LabelSet, ReadResult


class Adapter:
    model_class_name = ""

    def __init__(self, spec: BenchmarkSpec, labels: Optional[LabelSet], tokenizer, data_config: dict):
        self.spec, self.labels, self.tokenizer, self.data = spec, labels, tokenizer, data_config

    def model_overrides(self) -> dict:
        return {}

    def features(self, split: ReadResult, training: bool) -> list:
        raise NotImplementedError

    def inputs(self, features: Sequence) -> dict:
        batch = {
            "input_ids": pad([f.input_ids for f in features], self.tokenizer.pad_token_id),
            "token_type_ids": pad([f.token_type_ids for f in features], 0),
        }
        batch["attention_mask"] = (
            np.arange(batch["input_ids"].shape[1])[None, :] < np.array([[len(f.input_ids)] for f in features])
        ).astype("int64")
        return batch

    def units(self, feature) -> int:
        return 1

    def loss_sum(self, model, batch: dict, features: Sequence) -> paddle.Tensor:
        raise NotImplementedError

    def outputs(self, model, batch: dict, features: Sequence) -> list:
        """Per feature, the numpy outputs kept for evaluation and prediction."""
        raise NotImplementedError

    def evaluate(
        self, split: ReadResult, features: Sequence, outputs: Sequence
    ) -> tuple[Optional[dict], list]:
        """``(metrics or None when unlabelled, per-example predictions)``."""
        raise NotImplementedError


def _tensors(batch: dict) -> dict:
    return {k: paddle.to_tensor(v) for k, v in batch.items()}


# ---------------------------------------------------------------------------------------------- sentence level
class SequenceAdapter(Adapter):
    model_class_name = "ErnieForSequenceClassification"

    def model_overrides(self) -> dict:
        if self.spec.kind == REGRESSION:
            return {"num_labels": 1, "id2label": None}
        return {"num_labels": len(self.labels.labels), "id2label": self.labels.id2label}

    def features(self, split: ReadResult, training: bool) -> list[TextFeature]:
        return build_text_features(split.examples, self.tokenizer, self.data["max_seq_len"])

    def loss_sum(self, model, batch: dict, features: Sequence[TextFeature]) -> paddle.Tensor:
        logits = model(**_tensors(batch))
        if self.spec.kind == REGRESSION:
            targets = paddle.to_tensor(np.array([f.label for f in features], dtype="float32"))
            return ((logits.reshape([-1]).astype("float32") - targets) ** 2).sum()
        targets = paddle.to_tensor(np.array([f.label for f in features], dtype="int64"))
        return F.cross_entropy(logits.astype("float32"), targets, reduction="sum")

    def outputs(self, model, batch: dict, features: Sequence) -> list:
        logits = model(**_tensors(batch)).astype("float32").numpy()
        return list(logits)

    def evaluate(
        self, split: ReadResult, features: Sequence, outputs: Sequence
    ) -> tuple[Optional[dict], list]:
        # Imported here, not at the top, to keep this edit inside evaluate (serving decodes with it too).
        from .decoding import classify, regress

        logits = (
            np.stack(outputs) if outputs else np.zeros((0, max(1, self.spec.num_labels)), dtype="float32")
        )
        examples = split.examples
        if self.spec.kind == REGRESSION:
            scores = regress(logits)
            predictions = [{"index": e.index, "score": score} for e, score in zip(examples, scores)]
            metrics = None
            if split.labelled:
                metrics = M.classification_metrics("corr", scores, [e.label for e in examples])
            return metrics, predictions
        decoded = classify(logits, self.labels.labels)
        predictions = [
            {"index": e.index, "label": d.label, "probs": [round(p, 6) for p in d.probs]}
            for e, d in zip(examples, decoded)
        ]
        metrics = None
        if split.labelled:
            gold = [e.label for e in examples]
            positive = [d.probs[1] for d in decoded] if logits.shape[1] > 1 else None
            metrics = M.classification_metrics(
                self.spec.metrics,
                [d.label_id for d in decoded],
                gold,
                scores=positive,
                qids=[e.qid for e in examples],
            )
        return metrics, predictions


# ---------------------------------------------------------------------------------------------- NER
class NerAdapter(Adapter):
    model_class_name = "ErnieForTokenClassification"

    def model_overrides(self) -> dict:
        return {"num_labels": len(self.labels.labels), "id2label": self.labels.id2label}

    def features(self, split: ReadResult, training: bool) -> list[NerFeature]:
        features, empty = build_ner_features(split.examples, self.tokenizer, self.data["max_seq_len"])
        if empty:
            split.notes.append(
                DataIssue(
                    split.path, None, f"{empty} units produce no token and are predicted O", key="units"
                )
            )
        return features

    def inputs(self, features: Sequence[NerFeature]) -> dict:
        return super().inputs(features)

    def units(self, feature: NerFeature) -> int:
        return sum(1 for label in feature.labels if label != IGNORE)

    def loss_sum(self, model, batch: dict, features: Sequence[NerFeature]) -> paddle.Tensor:
        logits = model(**_tensors(batch)).astype("float32")
        labels = paddle.to_tensor(pad([f.labels for f in features], IGNORE, batch["input_ids"].shape[1]))
        return F.cross_entropy(
            logits.reshape([-1, logits.shape[-1]]), labels.reshape([-1]), ignore_index=IGNORE, reduction="sum"
        )

    def outputs(self, model, batch: dict, features: Sequence[NerFeature]) -> list:
        logits = model(**_tensors(batch)).astype("float32").numpy()
        return [row[: len(f.input_ids)] for row, f in zip(logits, features)]

    def evaluate(
        self, split: ReadResult, features: Sequence, outputs: Sequence
    ) -> tuple[Optional[dict], list]:
        outside = self.labels.labels.index("O")
        predicted = decode_units(split.examples, features, outputs, outside)
        names = self.labels.labels
        predictions = []
        for example, ids in zip(split.examples, predicted):
            tags = [names[i] for i in ids]
            predictions.append(
                {"index": example.index, "labels": tags, "entities": entities_with_text(example.units, tags)}
            )
        metrics = None
        if split.labelled:
            gold = [[names[i] for i in e.labels] for e in split.examples]
            metrics = M.entity_prf(gold, [p["labels"] for p in predictions])
            # Beside ours (every unit), the official script's F1 over the first 254 word pieces, which
            # published MSRA-NER numbers use.
            kept = official_scored_units(split.examples, features)
            official = M.entity_prf(
                [[tags[u] for u in units] for tags, units in zip(gold, kept)],
                [[p["labels"][u] for u in units] for p, units in zip(predictions, kept)],
            )
            metrics["f1_official_254"] = official["f1"]
            metrics["gold_entities_official_254"] = official["gold_entities"]
            metrics["sentences"] = len(split.examples)
        return metrics, predictions


# ---------------------------------------------------------------------------------------------- MRC
class MrcAdapter(Adapter):
    model_class_name = "ErnieForQuestionAnswering"

    def features(self, split: ReadResult, training: bool) -> list[MrcFeature]:
        features, unusable = build_mrc_features(
            split.examples,
            self.tokenizer,
            self.data["max_seq_len"],
            self.data["doc_stride"],
            self.data["max_query_len"],
            training,
        )
        for k in unusable:
            example = split.examples[k]
            split.skipped.append(
                DataIssue(
                    split.path, None, "no answer located in the context: not trained on", key=example.key
                )
            )
        return features

    def loss_sum(self, model, batch: dict, features: Sequence[MrcFeature]) -> paddle.Tensor:
        start_logits, end_logits = model(**_tensors(batch))
        starts = paddle.to_tensor(np.array([f.start_position for f in features], dtype="int64"))
        ends = paddle.to_tensor(np.array([f.end_position for f in features], dtype="int64"))
        return (
            F.cross_entropy(start_logits.astype("float32"), starts, reduction="sum")
            + F.cross_entropy(end_logits.astype("float32"), ends, reduction="sum")
        ) / 2

    def outputs(self, model, batch: dict, features: Sequence[MrcFeature]) -> list:
        start_logits, end_logits = model(**_tensors(batch))
        starts, ends = start_logits.astype("float32").numpy(), end_logits.astype("float32").numpy()
        return [
            np.stack([s[: len(f.input_ids)], e[: len(f.input_ids)]])
            for s, e, f in zip(starts, ends, features)
        ]

    def evaluate(
        self, split: ReadResult, features: Sequence, outputs: Sequence
    ) -> tuple[Optional[dict], list]:
        answers = best_answers(
            split.examples,
            features,
            [o[0] for o in outputs],
            [o[1] for o in outputs],
            n_best=self.data["n_best"],
            max_answer_len=self.data["max_answer_len"],
        )
        predictions = [{"qid": e.qid, **answers[e.qid]} for e in split.examples]
        metrics = None
        if split.labelled:
            gold = {e.qid: [a["text"] for a in e.answers] for e in split.examples}
            metrics = M.mrc_scores(gold, {qid: a["text"] for qid, a in answers.items()})
        return metrics, predictions


def make_adapter(spec: BenchmarkSpec, labels: Optional[LabelSet], tokenizer, data_config: dict) -> Adapter:
    cls = {CLASSIFICATION: SequenceAdapter, REGRESSION: SequenceAdapter, NER: NerAdapter, MRC: MrcAdapter}[
        spec.kind
    ]
    return cls(spec, labels, tokenizer, data_config)


def model_class(adapter: Adapter) -> Any:
    from .. import modeling

    return getattr(modeling, adapter.model_class_name)
