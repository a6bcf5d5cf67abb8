"""Benchmark metrics, written out so each can be checked by hand.

All scores are fractions in [0, 1] (the results table prints them x100). A correlation that is
undefined (constant predictions or labels) is reported as 0.0, not NaN, so results.json stays
valid JSON. A NaN or infinite prediction is an error (``ValueError``), never a score: evaluation
refuses such outputs before they get here (``evaluation.evaluate_splits``).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Hashable, Iterable, Optional, Sequence

import numpy as np

from .official_tokenize import word_tokenize


# ---------------------------------------------------------------------------------------------- classification
def accuracy(preds: Sequence[int], labels: Sequence[int]) -> float:
    preds, labels = np.asarray(preds), np.asarray(labels)
    return float((preds == labels).mean()) if len(labels) else 0.0


def binary_f1(preds: Sequence[int], labels: Sequence[int], positive: int = 1) -> float:
    preds, labels = np.asarray(preds), np.asarray(labels)
    tp = int(((preds == positive) & (labels == positive)).sum())
    fp = int(((preds == positive) & (labels != positive)).sum())
    fn = int(((preds != positive) & (labels == positive)).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall)


def matthews_corrcoef(preds: Sequence[int], labels: Sequence[int]) -> float:
    """Matthews correlation from the confusion matrix (Gorodkin's K-class form; the usual one for K=2)."""
    preds, labels = np.asarray(preds, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    classes = np.union1d(preds, labels)
    k = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    for t, p in zip(labels, preds):
        confusion[k[t], k[p]] += 1
    true_counts, pred_counts = confusion.sum(axis=1), confusion.sum(axis=0)
    correct, total = np.trace(confusion), confusion.sum()
    numerator = correct * total - float(true_counts @ pred_counts)
    denominator = math.sqrt(
        (total**2 - float(pred_counts @ pred_counts)) * (total**2 - float(true_counts @ true_counts))
    )
    return float(numerator / denominator) if denominator > 0 else 0.0


def _finite(values: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{int((~np.isfinite(array)).sum())} of the {what} are not finite (NaN or infinite)")
    return array


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    x, y = _finite(x, "predictions"), _finite(y, "labels")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy / denominator) if denominator > 0 else 0.0


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return pearson(_average_ranks(_finite(x, "predictions")), _average_ranks(_finite(y, "labels")))


def mean_reciprocal_rank(qids: Sequence[Hashable], scores: Sequence[float], labels: Sequence[int]) -> float:
    """MRR as the official ERNIE scripts compute it for NLPCC-DBQA, questions told apart by ``qids``.

    Candidates of a question are ranked by score (ties keep file order); a question scores
    1/rank of its first correct candidate, 0 if it has none, and every question counts.
    """
    groups: dict[Hashable, list] = defaultdict(list)
    for position, (qid, score, label) in enumerate(zip(qids, scores, labels)):
        groups[qid].append((-float(score), position, int(label)))
    if not groups:
        return 0.0
    total = 0.0
    for candidates in groups.values():
        for rank, (_, _, label) in enumerate(sorted(candidates), 1):
            if label != 0:
                total += 1.0 / rank
                break
    return total / len(groups)


def integer_qids(qids: Sequence[str]) -> Optional[list[int]]:
    """The qids as the official DBQA reader reads them (``int()``: "01" and "1" are one question), or
    None when one is not an integer (the official reader fails on such a file, so it has no score)."""
    try:
        return [int(qid) for qid in qids]
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------- NER
def bio_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities ``(type, start, end)`` (end exclusive) of a BIO tag sequence, conlleval's way.

    A chunk starts at ``B-X``, or at ``I-X`` after ``O`` or after a chunk of another type; it ends
    before ``O``, ``B-*`` or ``I-Y`` with another type.
    """
    entities = []
    current: Optional[str] = None
    start = 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, kind = tag.partition("-")
        if prefix not in ("B", "I") or not kind:
            prefix, kind = "O", ""
        begins = prefix == "B" or (prefix == "I" and kind != current)
        if current is not None and (prefix == "O" or begins):
            entities.append((current, start, i))
            current = None
        if begins:
            current, start = kind, i
    return entities


def entity_prf(gold: Iterable[Sequence[str]], pred: Iterable[Sequence[str]]) -> dict:
    """Micro precision, recall and F1 over exact entity matches (type and span)."""
    n_gold = n_pred = n_correct = 0
    for gold_tags, pred_tags in zip(gold, pred):
        g, p = set(bio_entities(gold_tags)), set(bio_entities(pred_tags))
        n_gold += len(g)
        n_pred += len(p)
        n_correct += len(g & p)
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "gold_entities": n_gold,
        "pred_entities": n_pred,
    }


# ---------------------------------------------------------------------------------------------- MRC (CMRC2018/DRCD)
# CMRC 2018 and DRCD are scored as by the official CMRC 2018 evaluation (cmrc2018_evaluate.py, which ERNIE
# also uses for DRCD; there is no SQuAD-style English scoring here):
# - F1: both texts are lower-cased and cut into segments, each Chinese character (\u4e00-\u9fa5) alone and
#   each other run of characters split by nltk.word_tokenize (official_tokenize.word_tokenize, the same
#   without nltk or its data), with these punctuation characters removed first; F1 is over the longest
#   common *contiguous* run of segments.
# - EM: the lower-cased, stripped strings are equal once these punctuation characters are removed.
# - A question takes its best score over its gold answers; an unanswered question scores 0.
# (The list holds '……' as one string, which never equals a single character, so '…' is kept: that is the
# official behaviour.)
MRC_PUNCTUATION = frozenset(
    [
        "-",
        ":",
        "_",
        "*",
        "^",
        "/",
        "\\",
        "~",
        "`",
        "+",
        "=",
        "，",
        "。",
        "：",
        "？",
        "！",
        "“",
        "”",
        "；",
        "’",
    ]
    + ["《", "》", "……", "·", "、", "「", "」", "（", "）", "－", "～", "『", "』"]
)
_CJK = re.compile("[\u4e00-\u9fa5]")


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    text = text.lower().strip()
    segments: list[str] = []
    pending = ""
    for char in text:
        if remove_punctuation and char in MRC_PUNCTUATION:
            continue  # skipped without ending the pending word, as the official script does
        if _CJK.match(char) or char in MRC_PUNCTUATION:
            segments.extend(word_tokenize(pending))
            pending = ""
            segments.append(char)
        else:
            pending += char
    segments.extend(word_tokenize(pending))
    return segments


def strip_mrc_punctuation(text: str) -> str:
    return "".join(c for c in text.lower().strip() if c not in MRC_PUNCTUATION)


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def mrc_f1(answers: Sequence[str], prediction: str) -> float:
    scores = [0.0]
    predicted = mixed_segmentation(prediction, remove_punctuation=True)
    for answer in answers:
        gold = mixed_segmentation(answer, remove_punctuation=True)
        common = longest_common_run(gold, predicted)
        if common == 0:
            continue
        precision, recall = common / len(predicted), common / len(gold)
        scores.append(2 * precision * recall / (precision + recall))
    return max(scores)


def mrc_em(answers: Sequence[str], prediction: str) -> float:
    predicted = strip_mrc_punctuation(prediction)
    return float(any(strip_mrc_punctuation(answer) == predicted for answer in answers))


def mrc_scores(gold: dict, predictions: dict) -> dict:
    """EM and F1 over every gold question (``qid -> [answer texts]``); an unanswered one scores 0."""
    em = f1 = 0.0
    for qid, answers in gold.items():
        if qid not in predictions:
            continue
        em += mrc_em(answers, predictions[qid])
        f1 += mrc_f1(answers, predictions[qid])
    n = max(len(gold), 1)
    return {"em": em / n, "f1": f1 / n, "avg": (em + f1) / 2 / n, "questions": len(gold)}


# ---------------------------------------------------------------------------------------------- per task
def classification_metrics(
    kind: str, preds: Sequence, labels: Sequence, scores: Optional[Sequence[float]] = None, qids=None
) -> dict:
    """The metric set ``kind`` (a ``BenchmarkSpec.metrics`` value) for sentence-level predictions."""
    out: dict = {"examples": len(labels)}
    if kind == "corr":
        p, s = pearson(preds, labels), spearman(preds, labels)
        out.update(pearson=p, spearman=s, corr=(p + s) / 2)
        return out
    out["acc"] = accuracy(preds, labels)
    if kind == "mcc":
        out["mcc"] = matthews_corrcoef(preds, labels)
    elif kind == "acc_f1":
        out["f1"] = binary_f1(preds, labels)
        out["acc_and_f1"] = (out["acc"] + out["f1"]) / 2
    elif kind == "mrr_f1":
        out["f1"] = binary_f1(preds, labels)
        out["mrr"] = mean_reciprocal_rank(qids, scores, labels)
        # Beside ours, the official script's MRR, which groups questions by integer qid; its F1 reads no
        # qid, so F1 needs no official variant.
        official = integer_qids(qids)
        if official is not None:
            out["mrr_official"] = mean_reciprocal_rank(official, scores, labels)
    return out
