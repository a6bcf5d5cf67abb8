"""The predictor: examples -> fine-tuning's features -> the exported model (``backend``) -> decoded outputs.

Features and decoding are fine-tuning's own (``ernie.finetune``), with the settings the model was
fine-tuned with (``finetune_settings.json``, copied into the export metadata), so a served model
answers what its fine-tuning evaluation predicted for the same text. Output (one dict per example):

* sequence classification: ``{"label": str, "probs": [float, ...]}`` (probs in label-id order);
  pairs are truncated longest-first to max_seq_len (``finetune.data.build_text_features``);
* regression (``num_labels == 1``): ``{"score": float}``;
* token classification: ``{"entities": [{"type", "start", "end", "text"}, ...]}`` with character
  offsets into ``text_a`` (``text == text_a[start:end]``). ``text_a`` is cut into the units the
  model was fine-tuned on (``ner_units``: every character, or every word, between whitespace and
  the \\x02 of the ERNIE task data's NER files); a unit takes the tag of its first word piece
  (``finetune.ner``) and entities are read from the BIO tags as the NER metric reads them;
* question answering: ``{"answer": {"text", "start", "end", "score"}}``, character offsets into
  ``context``; the best span over all document windows (``finetune.mrc.best_answers``: among the
  ``n_best`` starts and ends of each window, at most ``max_answer_len`` tokens, scored start logit
  + end logit); a question without a valid span gets ``{"text": "", "start": -1, "end": -1,
  "score": null}``;
* bare encoder: ``{"embedding": [float, ...]}`` (the pooled [CLS] vector).

An input ``id`` (JSONL) is copied to its output line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from ..finetune.data import build_text_features
from ..finetune.decoding import classify, regress
from ..finetune.mrc import best_answers, build_mrc_features
from ..finetune.ner import build_ner_features, decode_units, entities_with_text
from ..finetune.readers import MrcExample, NerExample, TextExample
from ..finetune.settings_file import NER_UNITS
from ..tokenizer import TOKENIZER_CONFIG_NAME, VOCAB_NAME, ErnieTokenizer
from .backend import open_backend
from .errors import ServingError
from .inputs import Example
from .metadata import (
    ENCODER,
    META_SUFFIX,
    QA_KEYS,
    QUESTION_ANSWERING,
    REGRESSION_HEAD,
    TOKEN_CLASSIFICATION,
    check_max_seq_len,
    check_positive,
    read_metadata,
    resolve_prefix,
    sha256_of,
)

# Chosen by bench/predictor_memory.py (base, SST-2 dev, peak RSS / speed vs the old cache of 16): a cache of
# one shape, 1.33 GB / 1.15x (16: 6.4 GB, every new width builds ~350 MB of oneDNN primitives; 2: 1.63 GB;
# 4: 2.29 GB). Widths are not rounded up: a multiple of 8 saves ~50 MB and costs 7% on short text.
ONEDNN_CACHE = 1
WIDTH_MULTIPLE = 1


@dataclass
class PredictStats:
    examples: int = 0
    truncated: int = 0  # inputs cut to max_seq_len (QA: questions cut to max_query_len)
    windows: int = 0  # QA and NER: features run (one per window)
    split: int = 0  # QA contexts / NER texts longer than one window
    empty_units: int = 0  # NER: units that produce no token (predicted O)
    truncated_lines: list = field(default_factory=list)  # input line numbers of the first truncations

    def count_truncated(self, line: int, keep: int = 10) -> None:
        self.truncated += 1
        if len(self.truncated_lines) < keep:
            self.truncated_lines.append(line)

    def summary(self, head: str) -> str:
        parts = [f"{self.examples} examples"]
        if head in (QUESTION_ANSWERING, TOKEN_CLASSIFICATION):
            what = "contexts" if head == QUESTION_ANSWERING else "texts"
            parts.append(f"{self.windows} windows ({self.split} {what} split into several)")
        if head == TOKEN_CLASSIFICATION:  # long texts are windowed, never truncated
            if self.empty_units:
                parts.append(f"{self.empty_units} units without tokens tagged O")
            return ", ".join(parts)
        what = "questions truncated" if head == QUESTION_ANSWERING else "truncated to max_seq_len"
        truncated = f"{self.truncated} {what}"
        if self.truncated:
            more = ", ..." if self.truncated > len(self.truncated_lines) else ""
            truncated += f" (lines {', '.join(str(n) for n in self.truncated_lines)}{more})"
        parts.append(truncated)
        return ", ".join(parts)


def text_units(text: str, units: str) -> list[tuple[int, int]]:
    """Character spans of the NER units of ``text``: each character, or each word, between separators.

    Separators are whitespace and \\x02, which joins the units of the ERNIE task data's NER files (so
    such a file's text_a is cut into the units fine-tuning reads from it).
    """
    if units == "characters":
        return [(i, i + 1) for i, char in enumerate(text) if not char.isspace() and char != "\x02"]
    return [match.span() for match in re.finditer(r"[^\s\x02]+", text)]


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Predictor:
    """A predictor over an export, with fine-tuning's features and decoders.

    ``run(arrays)`` runs the model on ready-made int64 arrays; ``predict(examples)`` goes from
    ``Example`` objects to output dicts; ``stats`` counts truncations across calls. Settings left
    None take the export's values (those the model was fine-tuned with, see ``metadata``); so do
    ``backend`` (``paddle`` or ``onnxruntime``) and ``precision`` (``fp32``, ``bf16``, ``int8``).
    """

    def __init__(
        self,
        prefix: str,
        device: str = "cpu",
        threads: Optional[int] = None,
        batch_size: int = 32,
        max_seq_len: Optional[int] = None,
        use_onednn: bool = True,
        doc_stride: Optional[int] = None,
        max_query_len: Optional[int] = None,
        max_answer_len: Optional[int] = None,
        n_best: Optional[int] = None,
        ner_units: Optional[str] = None,
        onednn_cache: int = ONEDNN_CACHE,
        width_multiple: int = WIDTH_MULTIPLE,
        backend: Optional[str] = None,
        precision: Optional[str] = None,
    ):
        self.prefix = resolve_prefix(prefix)
        self.meta = meta = read_metadata(self.prefix)
        self.head: str = meta["head"]
        directory = os.path.dirname(os.path.abspath(self.prefix))
        meta_path = self.prefix + META_SUFFIX

        vocab = os.path.join(directory, VOCAB_NAME)
        if not os.path.isfile(vocab):
            raise ServingError(f"{directory}: no {VOCAB_NAME} (the tokenizer files belong beside the model)")
        if meta.get("vocab_sha256") and sha256_of(vocab) != meta["vocab_sha256"]:
            raise ServingError(
                f"{vocab}: differs from the vocabulary this model was exported with ({meta_path})"
            )
        self.tokenizer = ErnieTokenizer.from_pretrained(directory)
        if "do_lower_case" in meta and self.tokenizer.do_lower_case != meta["do_lower_case"]:
            raise ServingError(
                f"{os.path.join(directory, TOKENIZER_CONFIG_NAME)}: do_lower_case differs from {meta_path}"
            )
        self.labels: Optional[list[str]] = meta.get("labels")

        def pick(value, key):
            return meta[key] if value is None else value

        self.max_seq_len = pick(max_seq_len, "max_seq_len")
        source = "--max_seq_len" if max_seq_len is not None else f"{meta_path}: key 'max_seq_len'"
        check_max_seq_len(self.max_seq_len, int(meta["max_position_embeddings"]), source)
        if self.head == QUESTION_ANSWERING and self.max_seq_len < 5:
            raise ServingError(
                f"{source}: question answering needs at least 5 tokens, got {self.max_seq_len}"
            )
        check_positive("--batch_size", batch_size)
        self.batch_size = batch_size
        self.doc_stride = pick(doc_stride, "doc_stride")
        self.max_query_len = pick(max_query_len, "max_query_len")
        self.max_answer_len = pick(max_answer_len, "max_answer_len")
        self.n_best = pick(n_best, "n_best")
        for name in QA_KEYS:
            check_positive(f"--{name}", getattr(self, name))
        self.ner_units = pick(ner_units, "ner_units")
        if self.head == TOKEN_CLASSIFICATION and self.ner_units not in NER_UNITS:
            raise ServingError(f"--ner_units: expected {' or '.join(NER_UNITS)}, got {self.ner_units!r}")
        self.task_id = meta.get("task_id")
        self.stats = PredictStats()
        check_positive("onednn_cache", onednn_cache)
        check_positive("width_multiple", width_multiple)
        self.width_multiple = width_multiple
        # The export's precision and backend unless told otherwise (fp32 on Paddle always works: every export
        # has the program; calibration runs it as the reference).
        self._backend = open_backend(
            self.prefix,
            meta,
            backend or meta["backend"],
            precision or meta["precision"],
            device,
            threads or default_threads(),
            use_onednn,
            onednn_cache,
        )
        self.backend: str = self._backend.name
        self.precision: str = self._backend.precision  # what runs (bf16 without CPU support runs fp32)
        self._input_names = self._backend.input_names
        if sorted(self._input_names) != sorted(meta["inputs"]):
            raise ServingError(
                f"{self.prefix} ({self.backend}): inputs {self._input_names} differ from {meta_path} "
                f"({meta['inputs']})"
            )
        if len(self._backend.output_names) != len(meta["outputs"]):
            raise ServingError(
                f"{self.prefix} ({self.backend}): {len(self._backend.output_names)} outputs, {meta_path} "
                f"names {meta['outputs']}"
            )

    # ------------------------------------------------------------------ raw program
    def run(self, input_ids: np.ndarray, token_type_ids: Optional[np.ndarray] = None) -> list[np.ndarray]:
        """The program's outputs (in ``meta['outputs']`` order) for int64 ``[batch, seq_len]`` arrays."""
        input_ids = np.ascontiguousarray(input_ids, dtype=np.int64)
        arrays = {"input_ids": input_ids}
        if "token_type_ids" in self._input_names:
            arrays["token_type_ids"] = (
                np.zeros_like(input_ids)
                if token_type_ids is None
                else np.ascontiguousarray(token_type_ids, dtype=np.int64)
            )
        if "task_type_ids" in self._input_names:
            arrays["task_type_ids"] = np.full_like(input_ids, int(self.task_id or 0))
        return self._backend.run(arrays)

    def _run_features(self, features: Sequence) -> list[list[np.ndarray]]:
        """Outputs per feature (padding removed), batches formed from features of similar length."""
        results: list = [None] * len(features)
        order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
        pad = self.tokenizer.pad_token_id
        per_token = [
            name in ("sequence_output", "start_logits", "end_logits")
            or (name == "logits" and self.head == TOKEN_CLASSIFICATION)
            for name in self.meta["outputs"]
        ]
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            longest = max(len(features[i].input_ids) for i in batch)
            # Widths rounded up to a multiple: fewer distinct shapes, so fewer oneDNN primitives to build.
            width = min(-(-longest // self.width_multiple) * self.width_multiple, self.max_seq_len)
            width = max(width, longest)
            ids = np.full((len(batch), width), pad, dtype=np.int64)
            types = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(features[i].input_ids)
                ids[row, :n] = features[i].input_ids
                types[row, :n] = features[i].token_type_ids
            outputs = self.run(ids, types)
            for row, i in enumerate(batch):
                n = len(features[i].input_ids)
                # Per-token outputs lose their padding; per-sequence outputs are kept whole.
                results[i] = [out[row, :n] if per_token[j] else out[row] for j, out in enumerate(outputs)]
        return results

    def _count_windows(self, example_indices: Sequence[int]) -> None:
        counts = np.bincount(np.asarray(example_indices, dtype=np.int64))
        self.stats.windows += len(example_indices)
        self.stats.split += int((counts > 1).sum())

    # ------------------------------------------------------------------ examples -> outputs
    def predict(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """One output dict per example, in order."""
        if not examples:
            return []
        if self.head == QUESTION_ANSWERING:
            results = self._answers(examples)
        elif self.head == TOKEN_CLASSIFICATION:
            results = self._entities(examples)
        else:
            results = self._sentences(examples)
        self.stats.examples += len(examples)
        return [
            {"id": example.id, **result} if example.id is not None else result
            for example, result in zip(examples, results)
        ]

    def predict_stream(self, examples: Sequence[Example], chunk_size: int = 0) -> Iterator[dict[str, Any]]:
        """``predict`` over chunks of examples (features of a chunk are sorted by length before batching)."""
        chunk_size = chunk_size or self.batch_size * 32
        for begin in range(0, len(examples), chunk_size):
            yield from self.predict(examples[begin : begin + chunk_size])

    def _sentences(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        text_examples = [TextExample(text_a=e.text_a, text_b=e.text_b) for e in examples]
        features = build_text_features(text_examples, self.tokenizer, self.max_seq_len)
        for example, feature in zip(examples, features):
            if feature.truncated:
                self.stats.count_truncated(example.line)
        outputs = self._run_features(features)
        if self.head == ENCODER:
            return [{"embedding": [float(x) for x in out[1]]} for out in outputs]
        logits = np.stack([out[0] for out in outputs])
        if self.head == REGRESSION_HEAD:
            return [{"score": score} for score in regress(logits)]
        return [{"label": d.label, "probs": d.probs} for d in classify(logits, self.labels)]

    def _entities(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        spans = [text_units(e.text_a, self.ner_units) for e in examples]
        ner_examples = [NerExample(units=[e.text_a[s:t] for s, t in u]) for e, u in zip(examples, spans)]
        features, empty_units = build_ner_features(ner_examples, self.tokenizer, self.max_seq_len)
        self.stats.empty_units += empty_units
        self._count_windows([f.example_index for f in features])
        logits = [out[0] for out in self._run_features(features)]
        predicted = decode_units(ner_examples, features, logits, self.labels.index("O"))
        results = []
        for example, ner_example, unit_spans, ids in zip(examples, ner_examples, spans, predicted):
            entities = []
            for entity in entities_with_text(ner_example.units, [self.labels[i] for i in ids]):
                # Unit offsets -> character offsets into text_a.
                start, end = unit_spans[entity["start"]][0], unit_spans[entity["end"] - 1][1]
                entities.append(
                    {"type": entity["type"], "start": start, "end": end, "text": example.text_a[start:end]}
                )
            results.append({"entities": entities})
        return results

    def _answers(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        # A question keeps at most max_seq_len - 4 tokens so that every window holds some context;
        # fine-tuning refuses such questions instead, so its features are the same wherever it has any.
        query_len = min(self.max_query_len, self.max_seq_len - 4)
        for example, ids in zip(examples, self.tokenizer.encode_texts([e.question for e in examples])):
            if len(ids) > query_len:
                self.stats.count_truncated(example.line)
        mrc_examples = [MrcExample(str(k), e.question, e.context, []) for k, e in enumerate(examples)]
        features, _ = build_mrc_features(
            mrc_examples, self.tokenizer, self.max_seq_len, self.doc_stride, query_len, training=False
        )
        self._count_windows([f.example_index for f in features])
        outputs = self._run_features(features)
        answers = best_answers(
            mrc_examples,
            features,
            [out[0] for out in outputs],
            [out[1] for out in outputs],
            n_best=self.n_best,
            max_answer_len=self.max_answer_len,
        )
        return [{"answer": answers[e.qid]} for e in mrc_examples]


__all__ = ["Predictor", "PredictStats", "default_threads", "text_units"]
