"""``build_shards``: raw corpora -> per-task shards (the Python API behind ``python -m data_tools build``).

The main process streams the inputs into chunks of whole documents (``sources``), hands them to
``workers`` processes (``process``) through an ordered map that keeps at most a few chunks in flight
(memory is bounded by the worker count, not the corpus size), and appends each result, in input
order, to the task writers (``shards``). Output is built in a temporary directory beside the output
and renamed into place at the end; an error or an interrupt removes it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import sys
from collections import Counter, deque
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

from ernie.errors import UsageError
from ernie.files import remove_quietly, writing

from . import __version__, lexicon
from .indexed import token_dtype
from .process import Chunk, ChunkResult, Processor, Settings
from .shards import ALL_TASKS, TaskShardWriter, sha256_file, write_manifest
from .sources import FORMATS, check_readable, detect_format, iter_chunks, line_shape

log = logging.getLogger("data_tools")

CORPUS_TASKS = (
    "knowledge_masking",
    "capitalization",
    "token_document",
    "sentence_reordering",
    "sentence_distance",
)
# What "--tasks all" means per language (ir_relevance joins when --ir files are given).
LANGUAGE_TASKS = {
    "en": (
        "knowledge_masking",
        "capitalization",
        "token_document",
        "sentence_reordering",
        "sentence_distance",
        "discourse_relation",
    ),
    "zh": (
        "knowledge_masking",
        "token_document",
        "sentence_reordering",
        "sentence_distance",
        "discourse_relation",
    ),
}
EXAMPLES_PER_REASON = 5
# Auto-detected sentence-per-line files whose lines hold this many sentences or more are probably
# paragraphs or documents per line: the build says so and names --format docs.
DOUBTFUL_SENTENCES_PER_LINE = 1.5
DOUBTFUL_WRAPPED_SHARE = 0.3  # lines ending mid-sentence, continued on the next line
DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_corpus")


def demo_corpus(lang: str) -> tuple[list[str], list[str]]:
    """``(inputs, ir_files)`` of the bundled demo corpus of a language."""
    if lang not in LANGUAGE_TASKS:
        raise UsageError(f"--lang {lang!r}: expected one of {', '.join(LANGUAGE_TASKS)}")
    ir = [os.path.join(DEMO_DIR, "zh_ir.tsv")] if lang == "zh" else []
    return [os.path.join(DEMO_DIR, f"{lang}.txt")], ir


class Report:
    """What was read, written and skipped (with reasons and the first places), for the manifest and summary."""

    def __init__(self) -> None:
        self.read: Counter = Counter()
        self.notes: Counter = Counter()
        self.skipped: dict[str, dict[str, Any]] = {}

    def skip(self, reason: str, file: str, line: int, detail: str = "") -> None:
        """Count one skipped input under a fixed ``reason``; what varies (a byte, a value) is ``detail``
        and goes with the example place, so that reasons stay a short list however varied the damage."""
        entry = self.skipped.setdefault(reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < EXAMPLES_PER_REASON:
            entry["examples"].append(f"{file}:{line}" + (f" ({detail})" if detail else ""))
            if len(entry["examples"]) == 1:
                log.warning("skipped %s:%d: %s%s", file, line, reason, f" ({detail})" if detail else "")

    def merge(self, result: ChunkResult) -> None:
        self.read.update(result.counts)
        self.notes.update(result.notes)
        for skipped in result.skipped:
            self.skip(*skipped)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": dict(sorted(self.read.items())),
            "skipped": {k: self.skipped[k] for k in sorted(self.skipped)},
            "notes": dict(sorted(self.notes.items())),
        }


def resolve_tasks(
    tasks: Union[str, Sequence[str]], lang: str, have_corpus: bool, have_ir: bool, have_text: bool
) -> list[str]:
    """The tasks to build. ``have_text``: some input is raw text (ERNIE 1.0 files alone give only ids, so
    only knowledge masking); mixed with text, they add to knowledge masking and the rest come from the text.
    """
    if isinstance(tasks, str):
        names = [t.strip() for t in tasks.split(",") if t.strip()]
    else:
        names = list(tasks)
    if names == ["all"]:
        if have_corpus and not have_text:
            chosen = ["knowledge_masking"]
        else:
            chosen = list(LANGUAGE_TASKS[lang]) if have_corpus else []
        if have_ir:
            chosen.append("ir_relevance")
        return chosen
    for name in names:
        if name not in ALL_TASKS:
            raise UsageError(f"--tasks: unknown task {name!r}; known: all, {', '.join(ALL_TASKS)}")
    if not names:
        raise UsageError("--tasks: no task given")
    if "ir_relevance" in names and not have_ir:
        raise UsageError("--tasks: ir_relevance needs --ir QUERY_TITLE.tsv")
    if have_ir and "ir_relevance" not in names:
        raise UsageError("--ir given but ir_relevance is not in --tasks")
    corpus_needed = [n for n in names if n != "ir_relevance"]
    if corpus_needed and not have_corpus:
        raise UsageError(f"--tasks {','.join(corpus_needed)} need --input files")
    if have_corpus and not have_text and set(corpus_needed) - {"knowledge_masking"}:
        raise UsageError(
            "ERNIE 1.0 format input only provides knowledge_masking (it has no raw text); "
            "add raw text inputs for the other tasks"
        )
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------------------- workers
_PROCESSOR: Optional[Processor] = None


def _work(chunk: Chunk) -> ChunkResult:
    return _PROCESSOR.process(chunk)


def ordered_map(
    func: Callable[[Chunk], ChunkResult], items: Iterable[Chunk], workers: int
) -> Iterator[ChunkResult]:
    """``map`` over ``workers`` forked processes, in input order, with at most 2 chunks per worker in flight.

    (``Pool.imap`` would read the whole input ahead of the workers.)
    """
    if workers <= 1:
        for item in items:
            yield func(item)
        return
    context = multiprocessing.get_context("fork")  # workers inherit the tokenizer, jieba and the tables
    with context.Pool(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.apply_async(func, (item,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# ---------------------------------------------------------------------------------------------- build
def build_shards(
    inputs: Sequence[str],
    vocab: str,
    output: str,
    lang: str,
    tasks: Union[str, Sequence[str]] = "all",
    workers: int = 1,
    ir: Optional[Sequence[str]] = None,
    *,
    input_format: Union[str, Sequence[str]] = "auto",
    text_key: str = "text",
    max_sentence_tokens: int = 256,
    max_document_sentences: int = 512,
    discourse_within_sentences: bool = False,
    do_lower_case: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    chunk_chars: int = 1 << 18,
) -> dict[str, Any]:
    """Build the shards of ``tasks`` from ``inputs`` (and ``ir`` TSV files) into ``output``; returns the manifest.

    ``input_format``: one format for every input, or one per input in their order (``--format``).
    Raises ``UsageError`` / ``FileNotFoundError`` / ``TokenizerError`` (bad arguments or files,
    before anything is written) and ``ShardError`` never; skipped input is counted in the manifest.
    """
    from ernie.tokenizer import ErnieTokenizer

    global _PROCESSOR
    inputs = list(inputs or [])
    ir = list(ir or [])
    if lang not in LANGUAGE_TASKS:
        raise UsageError(f"--lang {lang!r}: expected one of {', '.join(LANGUAGE_TASKS)}")
    requested = [input_format] if isinstance(input_format, str) else list(input_format)
    for fmt in requested:
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if len(requested) == 1:
        requested *= len(inputs)
    elif len(requested) != len(inputs):
        raise UsageError(
            f"--format: {len(requested)} formats for {len(inputs)} --input files "
            "(give one for all, or one per file in order)"
        )
    if workers < 1:
        raise UsageError(f"--workers {workers}: expected at least 1")
    if max_sentence_tokens < 1 or max_document_sentences < 1:
        raise UsageError("--max-sentence-tokens and --max-document-sentences must be at least 1")
    if not inputs and not ir:
        raise UsageError("nothing to build: give --input files and/or --ir files")
    for path in inputs + ir:
        check_readable(path)
    if not os.path.isfile(vocab):
        raise FileNotFoundError(2, "no such vocabulary file", vocab)
    output = os.path.abspath(output)
    if os.path.exists(output) and not overwrite:
        raise UsageError(f"{output}: already exists (use --overwrite to replace it)")
    detected = [detect_format(path, fmt) for path, fmt in zip(inputs, requested)]
    formats = [fmt for fmt, _ in detected]
    have_text = any(f != "ernie1" for f in formats)
    chosen = resolve_tasks(tasks, lang, bool(inputs), bool(ir), have_text)
    if not chosen:
        raise UsageError("no task to build")

    tokenizer = ErnieTokenizer(vocab, do_lower_case=do_lower_case)
    if "capitalization" in chosen and not do_lower_case:
        raise UsageError("capitalization needs a lower-casing (uncased) tokenizer: drop --cased")
    settings = Settings(
        lang, tuple(chosen), max_sentence_tokens, max_document_sentences, text_key, discourse_within_sentences
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core per worker, fork-safe
    _PROCESSOR = Processor(tokenizer, settings)
    dtype = token_dtype(tokenizer.vocab_size)

    for path, (fmt, why) in zip(inputs, detected):
        log.info("format  %s: %s (%s)", path, fmt, why)
        if fmt == "lines" and why.startswith("auto"):
            per_line, wrapped = line_shape(path, lang)
            if wrapped >= DOUBTFUL_WRAPPED_SHARE:
                log.warning(
                    "%s: %.0f%% of its lines stop mid-sentence and go on in the next one (hard-wrapped "
                    "text); pass --format paragraphs, or the sentence tasks see line fragments as sentences",
                    path,
                    100 * wrapped,
                )
            elif per_line >= DOUBTFUL_SENTENCES_PER_LINE:
                log.warning(
                    "%s: its lines hold %.1f sentences on average; if each line is a paragraph, pass "
                    "--format paragraphs (or docs: a document per line), or the sentence tasks see one "
                    "sentence per line",
                    path,
                    per_line,
                )

    parent = os.path.dirname(output)
    tmp = os.path.join(parent, f".{os.path.basename(output)}.tmp-{os.getpid()}")
    writers: dict[str, TaskShardWriter] = {}
    report = Report()
    try:
        with writing(output):  # a full or read-only disk: one line naming the output, nothing left behind
            os.makedirs(parent, exist_ok=True)
            if os.path.exists(tmp):
                shutil.rmtree(tmp)
            os.makedirs(tmp)
            writers = {task: TaskShardWriter(tmp, task, dtype) for task in chosen}
            total = sum(os.path.getsize(p) for p in inputs + ir)
            bar = _progress_bar(total, progress)
            chunks = _all_chunks(inputs, formats, ir, settings, chunk_chars, report)
            for result in ordered_map(_work, chunks, workers):
                report.merge(result)
                _write(result, writers)
                bar.update(result.progress)
            bar.close()
            task_entries = {}
            for task, writer in writers.items():
                entry = writer.finalize()
                if task == "discourse_relation":
                    entry["classes"] = list(lexicon.DISCOURSE_CLASSES)
                    entry["class_counts"] = _class_counts(writer, entry["classes"])
                if task == "ir_relevance":
                    entry["classes"] = ["0", "1", "2"]
                    entry["class_counts"] = _class_counts(writer, entry["classes"])
                task_entries[task] = entry
            _check_not_empty(task_entries, inputs, ir, report)
            manifest = {
                "tool": "data_tools",
                "version": __version__,
                "language": lang,
                "vocab": {
                    "file": os.path.abspath(vocab),
                    "sha256": sha256_file(vocab),
                    # Both the largest id + 1: a token on two lines makes it more than the distinct tokens.
                    "size": tokenizer.vocab_size,
                    "id_limit": tokenizer.vocab_size,
                    "do_lower_case": do_lower_case,
                },
                "inputs": [
                    {
                        "file": os.path.abspath(p),
                        "format": f,
                        "format_reason": why,
                        "bytes": os.path.getsize(p),
                    }
                    for p, (f, why) in zip(inputs, detected)
                ]
                + [{"file": os.path.abspath(p), "format": "ir", "bytes": os.path.getsize(p)} for p in ir],
                "settings": {
                    "tasks": chosen,
                    "max_sentence_tokens": max_sentence_tokens,
                    "max_document_sentences": max_document_sentences,
                    "discourse_within_sentences": discourse_within_sentences,
                    "text_key": text_key,
                    "segmenter": _segmenter_name(lang),
                    "token_dtype": str(dtype),
                },
                "counts": report.as_dict(),
                "tasks": task_entries,
            }
            manifest = write_manifest(tmp, manifest)
            _publish(tmp, output, overwrite)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        remove_quietly(tmp)
        raise
    finally:
        _PROCESSOR = None
    return manifest


def _check_not_empty(entries: dict[str, dict], inputs: list[str], ir: list[str], report: Report) -> None:
    """A build that keeps nothing of its input is an error, not an empty success; one empty task is a
    warning (a small corpus may hold no discourse pair), and the manifest shows its zero."""
    skipped = sum(entry["count"] for entry in report.skipped.values())
    why = f" ({skipped:,} inputs skipped: {', '.join(sorted(report.skipped))})" if skipped else ""
    if ir and entries.get("ir_relevance", {}).get("sequences", 1) == 0:
        raise UsageError(f"{', '.join(ir)}: no usable query-title row{why}")
    text_tasks = [t for t in entries if t != "ir_relevance"]
    if inputs and text_tasks and all(entries[t]["sequences"] == 0 for t in text_tasks):
        raise UsageError(f"{', '.join(inputs)}: no usable text{why}")
    for task in text_tasks:
        if entries[task]["sequences"] == 0:
            log.warning("%s: no samples in this corpus (its shard is empty)", task)


def _all_chunks(
    inputs: list[str], formats: list[str], ir: list[str], settings: Settings, chunk_chars: int, report: Report
) -> Iterator[Chunk]:
    for path, kind in zip(inputs, formats):
        yield from iter_chunks(
            path, kind, chunk_chars, settings.max_document_sentences, report.skip, report.read, report.notes
        )
    for path in ir:
        yield from iter_chunks(
            path, "ir", chunk_chars, settings.max_document_sentences, report.skip, report.read, report.notes
        )


def _write(result: ChunkResult, writers: dict[str, TaskShardWriter]) -> None:
    corpus = result.corpus
    if corpus is not None and len(corpus["doc_sizes"]):
        for task in result.corpus_tasks or CORPUS_TASKS:
            writer = writers.get(task)
            if writer is None:
                continue
            fields = {name: corpus["fields"][name] for name in writer.field_names}
            writer.add_documents(corpus["ids"], corpus["lengths"], corpus["doc_sizes"], fields)
    for task, pairs in result.pairs.items():
        writer = writers.get(task)
        if writer is not None:
            writer.add_pairs(pairs["ids"], pairs["lengths"], pairs["labels"])


def _class_counts(writer: TaskShardWriter, classes: list[str]) -> dict[str, int]:
    import numpy as np

    labels = np.load(os.path.join(writer.folder, "labels.npy"), mmap_mode="r")
    counts = (
        np.bincount(np.asarray(labels), minlength=len(classes))
        if len(labels)
        else np.zeros(len(classes), dtype=int)
    )
    return {name: int(counts[k]) for k, name in enumerate(classes)}


def _publish(tmp: str, output: str, overwrite: bool) -> None:
    """Rename the finished build into place (replacing an old one only when asked)."""
    if os.path.exists(output):
        if not overwrite:
            raise UsageError(f"{output}: already exists (use --overwrite to replace it)")
        old = f"{tmp}.old"
        os.replace(output, old)
        os.replace(tmp, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, output)


def _segmenter_name(lang: str) -> str:
    if lang == "zh":
        import jieba

        return f"jieba {jieba.__version__} cut (accurate, HMM)"
    return "regex [^\\W_]+|\\S"


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="build", file=sys.stderr, dynamic_ncols=True)


def summary(manifest: dict[str, Any]) -> str:
    """Human-readable lines: what was read, written and skipped and why."""
    counts = manifest["counts"]
    read = counts["read"]
    out = [
        f"read    {read.get('files', 0)} file(s), {read.get('bytes', 0):,} bytes, {read.get('lines', 0):,} lines -> "
        f"{read.get('documents', 0):,} documents, {read.get('sentences', 0):,} sentences"
        + (f", {read.get('ir rows', 0):,} IR rows" if "ir rows" in read else "")
    ]
    for task, entry in manifest["tasks"].items():
        unit = "pairs" if task in ("discourse_relation", "ir_relevance") else "documents"
        line = f"wrote   {task}: {entry['documents']:,} {unit}, {entry['sequences']:,} sequences, {entry['tokens']:,} tokens"
        if "class_counts" in entry:
            line += " (" + ", ".join(f"{k} {v:,}" for k, v in entry["class_counts"].items()) + ")"
        out.append(line)
    skipped = counts["skipped"]
    if skipped:
        total = sum(v["count"] for v in skipped.values())
        out.append(f"skipped {total:,}:")
        for reason, entry in skipped.items():
            out.append(f"        {reason}: {entry['count']:,} (first at {', '.join(entry['examples'][:3])})")
    else:
        out.append("skipped nothing")
    for note, value in counts["notes"].items():
        out.append(f"note    {note}: {value:,}")
    return "\n".join(out)
