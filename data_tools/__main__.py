"""``python -m data_tools build|inspect|verify|vocab`` (``ernie-data``): a thin CLI over ``build``, ``inspect`` and ``vocab``."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from ernie.cli import run_cli, setup_logging
from ernie.errors import UsageError

from .build import LANGUAGE_TASKS, build_shards, summary
from .inspect import inspect
from .shards import ALL_TASKS, verify
from .sources import FORMATS
from .vocab import build_vocab, write_vocab


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line, like bad input
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m data_tools", description="Raw corpora -> ERNIE 2.0 per-task shards.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    build = commands.add_parser(
        "build",
        help="build shards from raw text",
        description="Build per-task shards (Megatron .bin/.idx + manifest.json) from raw corpora.",
        epilog=(
            "tasks: all, or a comma-separated list of "
            + ", ".join(ALL_TASKS)
            + ". 'all' is "
            + "; ".join(f"{lang}: {', '.join(tasks)}" for lang, tasks in LANGUAGE_TASKS.items())
            + " (+ ir_relevance with --ir). Input files may be gzip-compressed."
        ),
    )
    build.add_argument("--lang", required=True, choices=sorted(LANGUAGE_TASKS), help="language of the corpus")
    build.add_argument("--input", nargs="+", default=[], metavar="FILE", help="corpus files")
    build.add_argument("--vocab", required=True, help="vocabulary file (vocab.txt)")
    build.add_argument("--tasks", default="all", help="all, or T1,T2,... (default: all)")
    build.add_argument("--output", required=True, metavar="DIR", help="output directory (must not exist)")
    build.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); output is identical for any count",
    )
    build.add_argument(
        "--ir", nargs="+", default=[], metavar="TSV", help="query<TAB>title<TAB>label files (labels 0/1/2)"
    )
    build.add_argument(
        "--format",
        nargs="+",
        default=["auto"],
        choices=FORMATS,
        help="one for all inputs, or one per --input file in order. lines: a sentence per line, blank line between documents; paragraphs: blank line between "
        "paragraphs (lines joined), two between documents; docs: a document per line; "
        'jsonl: {"text": ...} per line; ernie1: official ERNIE 1.0 pre-training lines; auto (default): by name/content',
    )
    build.add_argument("--text-key", default="text", help="JSONL key holding the text (default: text)")
    build.add_argument(
        "--max-sentence-tokens",
        type=int,
        default=256,
        help="longer sentences are skipped and reported (default 256)",
    )
    build.add_argument(
        "--max-document-sentences",
        type=int,
        default=512,
        help="longer documents are cut into several (default 512)",
    )
    build.add_argument(
        "--discourse-within-sentences",
        action="store_true",
        help='discourse_relation: also mine "clause, marker clause" inside a sentence (more, noisier pairs)',
    )
    build.add_argument("--cased", action="store_true", help="do not lower-case (cased vocabularies)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.add_argument("--chunk-chars", type=int, default=1 << 18, help=argparse.SUPPRESS)

    show = commands.add_parser(
        "inspect",
        help="stats and decoded samples",
        description="Show stats and decoded samples with their labels.",
    )
    show.add_argument("dir", help="shard directory")
    show.add_argument("--samples", type=int, default=3, help="samples per task (default 3)")
    show.add_argument("--task", action="append", help="only this task (repeatable)")
    show.add_argument("--vocab", help="vocabulary to decode with (default: the manifest's)")
    show.add_argument("--seed", type=int, default=0, help="sample selection seed")

    check = commands.add_parser(
        "verify",
        help="check checksums and indexes",
        description="Re-hash every shard file and check indexes and label values.",
    )
    check.add_argument("dir", help="shard directory")

    vocab = commands.add_parser(
        "vocab",
        help="make a vocabulary from a corpus",
        description="Write a WordPiece vocabulary (specials, every character, frequent words) for text files.",
    )
    vocab.add_argument(
        "--input", nargs="+", required=True, metavar="FILE", help="UTF-8 text files (.tsv: text columns)"
    )
    vocab.add_argument("--output", required=True, help="vocabulary file to write")
    vocab.add_argument("--max-size", type=int, default=8000, help="at most this many tokens (default 8000)")
    vocab.add_argument("--cased", action="store_true", help="do not lower-case")
    return parser


def _main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "build":
        setup_logging()
        manifest = build_shards(
            args.input,
            args.vocab,
            args.output,
            args.lang,
            args.tasks,
            workers=args.workers,
            ir=args.ir,
            input_format=args.format,
            text_key=args.text_key,
            max_sentence_tokens=args.max_sentence_tokens,
            max_document_sentences=args.max_document_sentences,
            discourse_within_sentences=args.discourse_within_sentences,
            do_lower_case=not args.cased,
            overwrite=args.overwrite,
            progress=not args.quiet,
            chunk_chars=args.chunk_chars,
        )
        print(summary(manifest), file=sys.stderr)
        print(f"shards in {args.output}", file=sys.stderr)
    elif args.command == "inspect":
        print(inspect(args.dir, samples=args.samples, tasks=args.task, vocab=args.vocab, seed=args.seed))
    elif args.command == "vocab":
        tokens = build_vocab(args.input, max_size=args.max_size, do_lower_case=not args.cased)
        write_vocab(tokens, args.output)
        print(f"{len(tokens)} tokens in {args.output}", file=sys.stderr)
    else:
        manifest = verify(args.dir)
        print(f"ok: {args.dir}: {len(manifest['files'])} files, tasks {', '.join(manifest['tasks'])}")
    return 0


def main() -> None:
    """The ``ernie-data`` command (``python -m data_tools``)."""
    run_cli(_main)


if __name__ == "__main__":
    main()
