"""Command line: index, ask, repl, eval (and discord, bench). Parses input, calls the core,
turns its errors into one-line messages and exit codes."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import BotError

if TYPE_CHECKING:  # the real import is lazy, so --help stays instant
    from bot.config import Settings
    from bot.search.scopes import Readable

log = logging.getLogger("bot")

EXIT_ERROR = 1
EXIT_USAGE = 2


def _global_options(parser: argparse.ArgumentParser, *, default: bool) -> None:
    # Accepted before the command and after it. After it, SUPPRESS as the default: a
    # subcommand's own default would otherwise overwrite a value given before the command.
    parser.add_argument(
        "--config",
        type=Path,
        default=None if default else argparse.SUPPRESS,
        help="settings file (default: ./config.toml if present)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if default else argparse.SUPPRESS,
        help="log more detail",
    )


def _scope_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scope",
        action="append",
        metavar="NAME",
        help="answer as a place that may read this [[scopes]] entry (repeatable); "
        "--scope public: the public documents only. Default: everything (the owner)",
    )


def _readable(args: argparse.Namespace, settings: Settings) -> Readable:
    """The scopes --scope names (None without it: the owner reads everything)."""
    if not getattr(args, "scope", None):
        return None
    known = {s.name for s in settings.scopes}
    asked = {name.strip() for name in args.scope} - {"public"}
    unknown = sorted(asked - known)
    if unknown:
        names = ", ".join(sorted(known)) or "none are configured"
        raise BotError(f"--scope {unknown[0]}: no such scope in the config ({names})")
    return frozenset(asked)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, default=False)

    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Answer questions by quoting your documents."
    )
    _global_options(parser, default=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="build or update the index of seeds/")
    p.add_argument(
        "--rebuild", action="store_true", help="re-embed every document, not just changed ones"
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="read and embed on a Ray cluster (pip install -e '.[ray]'), every document: the "
        "one at ADDRESS (host:port, or auto), else the one on this machine, else a local one",
    )

    p = sub.add_parser(
        "ask", parents=[common], help="answer one question ('-' reads one per line from stdin)"
    )
    p.add_argument("question", help="the question, or - to read questions from standard input")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")
    p.add_argument("-k", type=int, default=None, help="how many sources to quote")
    _scope_option(p)

    p = sub.add_parser("repl", parents=[common], help="ask questions interactively")
    p.add_argument("-k", type=int, default=None, help="how many sources to quote")
    _scope_option(p)

    p = sub.add_parser("eval", parents=[common], help="measure retrieval and answer quality")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--passages", type=Path, help="JSONL of {id, title, text}; default: the seeds index"
    )
    source.add_argument(
        "--docs",
        type=Path,
        help="a folder of documents, read and chunked as `index` does; gold = file paths in it",
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
    p.add_argument(
        "--details", type=Path, help="also write each question's outcome to this JSONL file"
    )
    p.add_argument(
        "--no-verifier",
        action="store_true",
        help="answer without the verifier (answer.verifier = false), to compare",
    )
    p.add_argument(
        "--group-by",
        metavar="FIELD",
        help="also report the metrics per value of this field of the questions (e.g. format)",
    )

    p = sub.add_parser(
        "discord", parents=[common], help="run the Discord bot (token from DISCORD_TOKEN)"
    )
    p.add_argument(
        "--shard-count",
        type=int,
        default=None,
        help="total shards over all processes (overrides discord.shard_count)",
    )
    p.add_argument(
        "--shard-ids",
        type=int,
        nargs="+",
        default=None,
        metavar="ID",
        help="the shards this process runs, from 0 (overrides discord.shard_ids)",
    )

    p = sub.add_parser(
        "gaps", parents=[common], help="group declined and 👎 questions: what the docs miss"
    )
    p.add_argument("--since", help="only questions logged on or after this date (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help="print the groups as one JSON object")
    p.add_argument(
        "--distance",
        type=float,
        default=None,
        help="cosine distance under which questions group (default: discord.gaps_distance)",
    )
    p.add_argument(
        "--forget-user",
        type=int,
        metavar="ID",
        help="erase every entry of the Discord user with this id from the gaps log, and stop",
    )

    p = sub.add_parser("bench", parents=[common], help="measure speed (see BENCHMARKS.md)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    p.add_argument(
        "--only",
        action="append",
        metavar="STEP",
        help="run only this figure (repeatable), e.g. --only index_build",
    )
    p.add_argument(
        "--data",
        type=Path,
        metavar="FOLDER",
        help="the SQuAD-dev folder (passages.jsonl, questions.jsonl), e.g. "
        "../shared/data/squad-dev; every step but cold_start reads it",
    )
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
        from bot.search.calibration import calibrated

        # The configured model's calibrated numbers, or one warning that it has none (as
        # bot.search.calibration.load_calibrated, which the eval and training scripts use).
        settings, args.uncalibrated = calibrated(load_settings(args.config))
        if args.uncalibrated and args.command != "eval":  # eval prints it with its figures
            log.warning("%s", args.uncalibrated)
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

    if args.ray is not None:
        from functools import partial

        from bot.search.ray_build import build_on_ray

        args.rebuild = True  # a build on Ray embeds every document
        _, report = build_on_ray(
            settings,
            partial(make_embedder, settings),
            address=args.ray or None,
            verbose=args.verbose,
        )
    else:
        _, report = rebuild(settings, make_embedder(settings), full=args.rebuild, progress=True)
    total = len(report.embedded_documents) + len(report.reused_documents)
    if not (report.embedded_documents or report.removed_documents) and not args.rebuild:
        print(f"The index is up to date ({_count(total, 'document')}); nothing to do.")
        return 0
    passages = _count(report.embedded_passages, "passage")
    print(
        f"Indexed {_count(total, 'document')}: "
        f"embedded {len(report.embedded_documents)} ({passages}, "
        f"{_count(report.embedded_sentences, 'sentence')}), "
        f"reused {len(report.reused_documents)}, removed {len(report.removed_documents)}."
    )
    return 0


def _count(n: int, noun: str) -> str:
    """n and the noun, plural unless n is 1: "1 document", "3 documents"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from bot.answer.wording import clean_text
    from bot.frontends.render import render_answer
    from bot.live import open_for_ask

    readable = _readable(args, settings)
    opened, note = open_for_ask(settings)
    if note:  # a big update would keep the user waiting: answer from the index as it is
        print(note, file=sys.stderr)
    answerer = opened.answerer.for_scopes(readable)
    console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
    docs = {d.source: d.text for d in opened.index.documents}

    def one(question: str) -> int:
        try:
            answer = answerer.ask(question, args.k)
        except BotError as exc:
            if args.json:
                shown = clean_text(question).strip()
                print(
                    json.dumps({"question": shown, "error": str(exc)}, ensure_ascii=False),
                    flush=True,
                )
            else:
                print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if args.json:
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        else:
            render_answer(answer, console, document_text=docs, decline=settings.answer.decline_text)
        return 0

    if args.question != "-":
        return one(args.question)
    if isinstance(sys.stdin, io.TextIOWrapper):
        # Bytes that are not UTF-8 reach clean_text as surrogate escapes instead of stopping
        # the loop with UnicodeDecodeError.
        sys.stdin.reconfigure(errors="surrogateescape")
    status = 0
    for line in sys.stdin:
        question = line.rstrip("\r\n")
        if not args.json and not question.strip():
            continue  # in text, a blank line is a pause; in JSON, every line gets its line
        status = one(question) or status
        if not args.json:
            console.print()
        sys.stdout.flush()  # answer each line as it comes, even into a pipe
    return status


def _cmd_repl(args: argparse.Namespace, settings: Settings) -> int:
    from bot.frontends.repl import run_repl

    return run_repl(settings, k=args.k, readable=_readable(args, settings))


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluation.run import evaluate_files

    if args.no_verifier:
        settings = replace(settings, answer=replace(settings.answer, verifier=False))
    result = evaluate_files(
        settings,
        args.passages,
        args.questions,
        split=args.split,
        docs=args.docs,
        details=args.details,
        group_by=args.group_by,
    )
    note = getattr(args, "uncalibrated", None)
    if args.json:
        print(json.dumps(result))
        if note:
            print(f"note: {note}", file=sys.stderr)
        return 0
    flat = {k: v for k, v in result.items() if not isinstance(v, dict)}
    _print_metrics(flat)
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"\n{key}")
            _print_metrics(value, indent="  ")
    if note:  # the bars these figures were measured with belong to another model
        print(f"\nnote: {note}")
    return 0


def _print_metrics(metrics: dict[str, object], indent: str = "") -> None:
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{indent}{key:<{width}}  {shown}")


def _cmd_discord(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from bot.config import check_shards
    from bot.discord.client import run

    d = settings.discord
    if args.shard_count is not None or args.shard_ids is not None:
        count = d.shard_count if args.shard_count is None else args.shard_count
        ids = d.shard_ids if args.shard_ids is None else tuple(args.shard_ids)
        if count < 0:
            raise BotError(f"--shard-count must be at least 0, not {count}")
        check_shards(count, ids)
        settings = replace(settings, discord=replace(d, shard_count=count, shard_ids=ids))
    return run(settings)


def _cmd_gaps(args: argparse.Namespace, settings: Settings) -> int:
    from bot.answer.gaps import GapsLog, parse_since
    from bot.app import gaps_report
    from bot.frontends.render import gaps_text

    if args.forget_user is not None:
        erased = GapsLog(Path(settings.discord.gaps_file)).forget_user(args.forget_user)
        noun = "entry" if erased == 1 else "entries"
        print(f"Erased {erased:,} {noun} of user {args.forget_user} from the gaps log.")
        return 0

    since = parse_since(args.since) if args.since else None
    if args.distance is not None and not 0 < args.distance <= 2:
        raise BotError(f"--distance must be above 0 and at most 2, not {args.distance}")
    groups, total, texts = gaps_report(settings, since=since, distance=args.distance)
    if args.json:
        out = {"questions": total, "groups": [g.to_json() for g in groups]}
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(gaps_text(groups, total, document_text=texts))
    return 0


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bench.run import run_bench

    return run_bench(settings, data=args.data, as_json=args.json, quick=args.quick, only=args.only)


_COMMANDS = {
    "index": _cmd_index,
    "ask": _cmd_ask,
    "repl": _cmd_repl,
    "eval": _cmd_eval,
    "discord": _cmd_discord,
    "gaps": _cmd_gaps,
    "bench": _cmd_bench,
}
