"""The accuracy guard of a reduced-precision export: its outputs against fp32's on a file of real examples.

``tools/export.py --calibrate FILE`` runs the new export twice over the examples of FILE (read as
``tools/predict.py`` reads its input): with Paddle Inference in fp32 (the reference) and as the export
will serve them (its backend and precision). The report, printed and recorded in the export metadata
(key ``calibration``):

* ``agreement``: the share of examples whose label (classification), entities (token
  classification) or answer span (question answering) equals fp32's; null for regression and the bare
  encoder, whose outputs are numbers: see the max differences;
* ``max_prob_diff`` (classification), ``max_score_diff`` (regression), ``max_embedding_diff``
  (encoder): the largest absolute difference from fp32 over all examples;
* ``metrics``: when the file carries gold answers, fine-tuning's metrics (``scoring``) of both runs.

``measured`` names the backend and precision that actually ran: bf16 on a CPU without avx512_bf16 runs
fp32, and then the report says nothing about bf16 (a warning says so).
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import numpy as np

from .inputs import Example
from .metadata import ENCODER, FP32, PADDLE, QUESTION_ANSWERING, REGRESSION_HEAD, TOKEN_CLASSIFICATION
from .predictor import Predictor
from .scoring import Gold, score

logger = logging.getLogger("ernie")


def _max_diff(reference: Sequence[dict], results: Sequence[dict], key: str) -> float:
    return max(
        float(np.max(np.abs(np.asarray(a[key], dtype=np.float64) - np.asarray(b[key], dtype=np.float64))))
        for a, b in zip(reference, results)
    )


def _same(head: str, a: dict, b: dict) -> bool:
    if head == TOKEN_CLASSIFICATION:
        return a["entities"] == b["entities"]
    if head == QUESTION_ANSWERING:
        return (a["answer"]["start"], a["answer"]["end"]) == (b["answer"]["start"], b["answer"]["end"])
    return a["label"] == b["label"]


def compare(head: str, reference: Sequence[dict], results: Sequence[dict]) -> dict[str, Any]:
    """Agreement and largest differences of ``results`` against ``reference`` (predictor outputs, in order)."""
    if head == REGRESSION_HEAD:
        return {"agreement": None, "max_score_diff": _max_diff(reference, results, "score")}
    if head == ENCODER:
        return {"agreement": None, "max_embedding_diff": _max_diff(reference, results, "embedding")}
    same = sum(_same(head, a, b) for a, b in zip(reference, results))
    report: dict[str, Any] = {"agreement": same / len(reference), "different": len(reference) - same}
    if "probs" in reference[0]:
        report["max_prob_diff"] = _max_diff(reference, results, "probs")
    return report


def _metrics(gold: Gold, results: Sequence[dict]) -> dict[str, float]:
    return {
        key: round(float(value), 6) for key, value in score(gold, results).items() if isinstance(value, float)
    }


def calibrate(
    prefix: str, examples: Sequence[Example], gold: Optional[Gold], source: str, threads: Optional[int] = None
) -> dict[str, Any]:
    """The report of the export ``prefix`` on ``examples`` (read from ``source``), ``gold`` their answers."""
    reference = Predictor(prefix, backend=PADDLE, precision=FP32, threads=threads)
    served = Predictor(prefix, threads=threads)
    expected = reference.predict(examples)
    results = served.predict(examples)
    report: dict[str, Any] = {
        "file": source,
        "examples": len(examples),
        "reference": {"backend": PADDLE, "precision": FP32},
        "measured": {"backend": served.backend, "precision": served.precision},
        **compare(reference.head, expected, results),
    }
    if gold is not None:
        report["metrics"] = {"reference": _metrics(gold, expected), "measured": _metrics(gold, results)}
        report["labelled"] = gold.labelled
    logger.info("calibration on %s: %s", source, describe(report))
    if served.precision != served.meta["precision"]:
        logger.warning(
            "calibration: %s ran as %s here, so the report says nothing about %s",
            served.meta["precision"],
            served.precision,
            served.meta["precision"],
        )
    return report


def describe(report: dict[str, Any]) -> str:
    """One line: what ran, agreement, largest difference and metrics."""
    measured = f"{report['measured']['backend']} {report['measured']['precision']}"
    parts = [f"{measured} vs paddle fp32 over {report['examples']} examples"]
    if report["agreement"] is not None:
        parts.append(f"agreement {100 * report['agreement']:.2f}% ({report['different']} different)")
    for key in ("max_prob_diff", "max_score_diff", "max_embedding_diff"):
        if key in report:
            parts.append(f"{key} {report[key]:.3g}")
    for key, value in report.get("metrics", {}).get("measured", {}).items():
        parts.append(f"{key} {100 * value:.2f} (fp32 {100 * report['metrics']['reference'][key]:.2f})")
    return ", ".join(parts)


__all__ = ["calibrate", "compare", "describe"]
