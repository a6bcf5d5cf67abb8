"""What a fine-tuning run leaves behind besides the model: predictions, submission files, the results table."""

from __future__ import annotations

import os

from ..files import atomic_write_text, json_dumps
from .benchmarks import MRC, REGRESSION, BenchmarkSpec


def _json_line(obj: dict) -> str:
    return json_dumps(obj, ensure_ascii=False)


def write_predictions(spec: BenchmarkSpec, split: str, name: str, predictions: list, output_dir: str) -> str:
    """Write one split's predictions; test splits of GLUE/CLUE tasks in the benchmark's submission format."""
    submission_file = spec.submission_files.get(name) if split == "test" else None
    if submission_file and spec.submission == "glue":
        path = os.path.join(output_dir, "submission", submission_file)
        if spec.kind == REGRESSION:
            rows = [f"{p['index']}\t{p['score']:.3f}" for p in predictions]
        else:
            rows = [f"{p['index']}\t{p['label']}" for p in predictions]
        atomic_write_text(path, "index\tprediction\n" + "".join(r + "\n" for r in rows))
        return path
    if submission_file and spec.submission == "clue":
        path = os.path.join(output_dir, "submission", submission_file)
        lines = []
        for p in predictions:
            index = int(p["index"]) if str(p["index"]).isdigit() else p["index"]
            lines.append(_json_line({"id": index, "label": p["label"]}))
        atomic_write_text(path, "".join(line + "\n" for line in lines))
        return path
    stem = split if name == split else f"{split}_{name}"
    if spec.kind == MRC:
        # {qid: answer}: the input of the official CMRC 2018 evaluation script and the CLUE submission form.
        path = os.path.join(output_dir, "predictions", f"{stem}.json")
        answers = {p["qid"]: p["text"] for p in predictions}
        atomic_write_text(path, json_dumps(answers, ensure_ascii=False, indent=1) + "\n")
        return path
    path = os.path.join(output_dir, "predictions", f"{stem}.jsonl")
    atomic_write_text(path, "".join(_json_line(p) + "\n" for p in predictions))
    return path


def format_table(results: dict) -> str:
    lines = [
        f"benchmark {results['benchmark']} ({results['suite']}), model {results['model_dir']}",
        f"best step {results.get('best_step')} of {results.get('steps', 0)} (by dev {results['selection_metric']})",
        f"{'split':<22}{'metric':<16}{'value':>10}",
    ]
    for split in ("dev", "test"):
        for name, metrics in (results.get(f"{split}_splits") or {}).items():
            if not metrics:
                continue
            label = split if name == split else f"{split} {name}"
            for key, value in metrics.items():
                if isinstance(value, float):
                    lines.append(f"{label:<22}{key:<16}{100 * value:>10.2f}")
    for path in results.get("predictions", {}).values():
        lines.append(f"predictions: {path}")
    return "\n".join(lines)
