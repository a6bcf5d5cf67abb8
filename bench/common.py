"""What the benches share: the repository on ``sys.path`` (they run as scripts) and the model sizes.

It imports neither paddle nor ``ernie``: a bench chooses when ``MKL_DEBUG_CPU_TYPE`` gets set (importing
``ernie`` before paddle sets it on AMD CPUs).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
warnings.filterwarnings("ignore")
DATA = os.environ.get("ERNIE_TEST_DATA", os.path.join(ROOT, "..", "shared", "data"))


def bench_parser(doc: str) -> argparse.ArgumentParser:
    """A bench's parser: its docstring as the help, and ``--data`` (the real data folder)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DATA, help="the real data folder (default: $ERNIE_TEST_DATA)")
    return parser


# ERNIE tiny (4 x 312) and base (12 x 768).
SIZES = {
    "tiny": dict(hidden_size=312, num_hidden_layers=4, num_attention_heads=12, intermediate_size=1248),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}


def engine_step_timer(engine, work_dir: str):
    """A function timing one ``Engine.train_step`` and the run log's bookkeeping: ``() -> (seconds, tokens)``."""
    import itertools
    import time

    from ernie.engine.reporting import RunLog

    log = RunLog(work_dir, main=False, logging_steps=10)
    numbers = itertools.count(1)

    def step() -> tuple[float, int]:
        start = time.perf_counter()
        record = engine.train_step(next(numbers))
        log.step(record, last=False, fields=engine.objective.log_fields)
        return time.perf_counter() - start, int(record.stats["tokens"])

    return step


def alternate(full_step, bare_step, warmup: int, steps: int) -> tuple[list[float], list[float], int]:
    """Full and bare steps in turn (machine noise hits both alike): ``(full times, bare times, tokens)``.

    ``bare_step(k)`` times the bare step on the batch the full loop trained at its step k (0-based)."""
    for k in range(warmup):
        full_step()
        bare_step(k)
    full_times, bare_times, tokens = [], [], 0
    for k in range(warmup, warmup + steps):
        seconds, n = full_step()
        full_times.append(seconds)
        tokens += n
        bare_times.append(bare_step(k))
    return full_times, bare_times, tokens


def random_classifier(directory: str, size: str, vocab: str) -> str:
    """A random-weight classifier checkpoint of ``size`` with the English vocabulary."""
    import paddle

    from ernie import ErnieConfig, ErnieTokenizer
    from ernie.modeling import ErnieForSequenceClassification

    tokenizer = ErnieTokenizer(vocab)
    paddle.seed(0)
    config = ErnieConfig(
        vocab_size=tokenizer.vocab_size, num_labels=2, id2label={"0": "0", "1": "1"}, **SIZES[size]
    )
    model = ErnieForSequenceClassification(config)
    with paddle.no_grad():  # the initialiser's head gives near-ties on every input
        model.classifier.weight.set_value(paddle.randn(model.classifier.weight.shape) * 2.0)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
