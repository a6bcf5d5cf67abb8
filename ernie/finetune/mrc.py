"""Span-extraction reading comprehension: windows over long contexts and answers back to text.

A context longer than the room left by the question is cut into windows of at most
``max_seq_len - len(question) - 3`` tokens, each starting ``doc_stride`` tokens after the last
(BERT/ERNIE's sliding window). Every token keeps its character span in the context, so a predicted
token span maps back to the exact substring of the original context (spaces and all). A token
seen by several windows is scored only in the window where it has the most context on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import ConfigError
from .readers import MrcExample


@dataclass
class MrcFeature:
    example_index: int
    input_ids: list
    token_type_ids: list
    offsets: list  # per position: (start, end) char span in the context, or None (question, specials)
    max_context: list  # per position: True where this window is the token's best window
    start_position: int = 0  # training target (0 = [CLS]: the answer is not in this window)
    end_position: int = 0


def _windows(n_tokens: int, room: int, stride: int) -> list[tuple[int, int]]:
    spans, start = [], 0
    while True:
        length = min(n_tokens - start, room)
        spans.append((start, length))
        if start + length >= n_tokens:
            return spans
        start += min(length, stride)


def _max_context(spans: list[tuple[int, int]], window: int, position: int) -> bool:
    best_score, best_window = None, None
    for w, (start, length) in enumerate(spans):
        if not start <= position < start + length:
            continue
        score = min(position - start, start + length - 1 - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_window = score, w
    return best_window == window


def answer_token_span(offsets: Sequence[tuple], start_char: int, end_char: int) -> Optional[tuple[int, int]]:
    """First and last context token covering characters ``[start_char, end_char)``."""
    first = next((i for i, (s, e) in enumerate(offsets) if e > start_char), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end_char), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def build_mrc_features(
    examples: Sequence[MrcExample],
    tokenizer,
    max_seq_len: int,
    doc_stride: int,
    max_query_len: int,
    training: bool,
) -> tuple[list[MrcFeature], list[int]]:
    """Features of all windows, and (training) the indices of examples that have no usable answer."""
    questions = tokenizer.encode_texts([e.question for e in examples])
    contexts, context_offsets = tokenizer.encode_texts([e.context for e in examples], return_offsets=True)
    features: list[MrcFeature] = []
    unusable: list[int] = []
    for k, example in enumerate(examples):
        query = list(questions[k][:max_query_len])
        ids, offsets = contexts[k], [tuple(o) for o in context_offsets[k]]
        room = max_seq_len - len(query) - 3
        if room <= 0:
            raise ConfigError(
                f"key 'data.max_seq_len' ({max_seq_len}) leaves no room for the context after a question of "
                f"{len(query)} tokens: raise it or lower data.max_query_len ({max_query_len})"
            )
        target = None
        if training:
            answer = next((a for a in example.answers if a["answer_start"] is not None), None)
            if answer is not None:
                target = answer_token_span(
                    offsets, answer["answer_start"], answer["answer_start"] + len(answer["text"])
                )
            if target is None:
                unusable.append(k)
                continue
        spans = _windows(len(ids), room, doc_stride)
        for w, (start, length) in enumerate(spans):
            head = [tokenizer.cls_token_id] + query + [tokenizer.sep_token_id]
            input_ids = head + list(ids[start : start + length]) + [tokenizer.sep_token_id]
            token_type_ids = [0] * len(head) + [1] * (length + 1)
            feature_offsets = [None] * len(head) + offsets[start : start + length] + [None]
            max_context = (
                [False] * len(head) + [_max_context(spans, w, start + i) for i in range(length)] + [False]
            )
            feature = MrcFeature(k, input_ids, token_type_ids, feature_offsets, max_context)
            if target is not None and start <= target[0] and target[1] < start + length:
                feature.start_position = len(head) + target[0] - start
                feature.end_position = len(head) + target[1] - start
            features.append(feature)
    return features, unusable


def best_answers(
    examples: Sequence[MrcExample],
    features: Sequence[MrcFeature],
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    n_best: int = 20,
    max_answer_len: int = 100,
) -> dict[str, dict]:
    """``qid -> {"text", "start", "end", "score"}``: the best valid span over an example's windows.

    A span is valid when both ends are context tokens, the start token is in its best window, the
    end is not before the start and it is at most ``max_answer_len`` tokens long. The score is the
    sum of the start and end logits. A question with no valid span gets the empty answer.
    """
    by_example: dict[int, list[int]] = {}
    for f, feature in enumerate(features):
        by_example.setdefault(feature.example_index, []).append(f)
    answers = {}
    for k, example in enumerate(examples):
        best = None
        for f in by_example.get(k, []):
            feature = features[f]
            starts = np.asarray(start_logits[f])[: len(feature.input_ids)]
            ends = np.asarray(end_logits[f])[: len(feature.input_ids)]
            top_starts = np.argsort(-starts, kind="stable")[:n_best]
            top_ends = np.argsort(-ends, kind="stable")[:n_best]
            for s in top_starts:
                if feature.offsets[s] is None or not feature.max_context[s]:
                    continue
                for e in top_ends:
                    if feature.offsets[e] is None or e < s or e - s + 1 > max_answer_len:
                        continue
                    score = float(starts[s] + ends[e])
                    if best is None or score > best[0]:
                        best = (score, feature.offsets[s][0], feature.offsets[e][1])
        if best is None:
            answers[example.qid] = {"text": "", "start": -1, "end": -1, "score": None}
        else:
            score, start, end = best
            answers[example.qid] = {
                "text": example.context[start:end],
                "start": start,
                "end": end,
                "score": score,
            }
    return answers
