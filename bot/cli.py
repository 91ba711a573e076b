"""Command line: index, ask, repl, eval (and discord, bench). Parses input, calls the core,
turns its errors into one-line messages and exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import BotError

if TYPE_CHECKING:  # the real import is lazy, so --help stays instant
    from bot.config import Settings

log = logging.getLogger("bot")

EXIT_ERROR = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, help="settings file (default: ./config.toml if present)"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log more detail")

    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Answer questions by quoting your documents."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="build or update the index of seeds/")
    p.add_argument(
        "--rebuild", action="store_true", help="re-embed every document, not just changed ones"
    )

    p = sub.add_parser(
        "ask", parents=[common], help="answer one question ('-' reads one per line from stdin)"
    )
    p.add_argument("question", help="the question, or - to read questions from standard input")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")
    p.add_argument("-k", type=int, default=None, help="how many sources to quote")

    p = sub.add_parser("repl", parents=[common], help="ask questions interactively")
    p.add_argument("-k", type=int, default=None, help="how many sources to quote")

    p = sub.add_parser("eval", parents=[common], help="measure retrieval and answer quality")
    p.add_argument(
        "--passages", type=Path, help="JSONL of {id, title, text}; default: the seeds index"
    )
    p.add_argument(
        "--questions",
        type=Path,
        required=True,
        help="JSONL of {question, gold?, answers?, answerable?}",
    )
    p.add_argument(
        "--split",
        choices=("all", "tune", "report"),
        default="all",
        help="score only questions whose gold article is in this part of the fixed split",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")

    p = sub.add_parser(
        "discord", parents=[common], help="run the Discord bot (token from DISCORD_TOKEN)"
    )

    p = sub.add_parser("bench", parents=[common], help="measure speed (see BENCHMARKS.md)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    if args.command != "discord":
        # Library chatter (transformers, bm25s) is noise in a terminal tool.
        for noisy in ("sentence_transformers", "transformers", "bm25s", "httpx"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    if getattr(args, "k", None) is not None and args.k < 1:
        print("error: -k must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        from bot.config import load_settings

        settings = load_settings(args.config)
        handler = _COMMANDS[args.command]
        return handler(args, settings)
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import make_embedder, rebuild

    report = rebuild(settings, make_embedder(settings), full=args.rebuild, progress=True)
    print(
        f"Indexed {len(report.embedded_documents) + len(report.reused_documents)} documents: "
        f"embedded {len(report.embedded_documents)} ({report.embedded_passages} passages, "
        f"{report.embedded_sentences} sentences), reused {len(report.reused_documents)}, "
        f"removed {len(report.removed_documents)}."
    )
    return 0


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from bot.app import open_answerer
    from bot.frontends.render import render_answer

    opened = open_answerer(settings, auto_rebuild=True)
    console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
    docs = {d.source: d.text for d in opened.index.documents}

    def one(question: str) -> int:
        try:
            answer = opened.answerer.ask(question, args.k)
        except BotError as exc:
            if args.json:
                print(json.dumps({"question": question, "error": str(exc)}), flush=True)
            else:
                print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if args.json:
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        else:
            render_answer(answer, console, document_text=docs)
        return 0

    if args.question != "-":
        return one(args.question)
    status = 0
    for line in sys.stdin:
        if line.strip():
            status = one(line.strip()) or status
            if not args.json:
                console.print()
            sys.stdout.flush()  # answer each line as it comes, even into a pipe
    return status


def _cmd_repl(args: argparse.Namespace, settings: Settings) -> int:
    from bot.frontends.repl import run_repl

    return run_repl(settings, k=args.k)


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import evaluate_files

    result = evaluate_files(settings, args.passages, args.questions, split=args.split)
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"{key:<{width}}  {shown}")
    return 0


def _cmd_discord(args: argparse.Namespace, settings: Settings) -> int:
    from bot.discord.client import run

    return run(settings)


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bench import run_bench

    return run_bench(settings, as_json=args.json, quick=args.quick)


_COMMANDS = {
    "index": _cmd_index,
    "ask": _cmd_ask,
    "repl": _cmd_repl,
    "eval": _cmd_eval,
    "discord": _cmd_discord,
    "bench": _cmd_bench,
}
