"""The interactive terminal: line editing and history (prompt_toolkit), colour (rich)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.text import Text

from bot.answer.compose import Answerer
from bot.config import Settings
from bot.errors import BotError
from bot.frontends.render import render_answer
from bot.search.index import Index

log = logging.getLogger(__name__)

HELP = """Ask a question in plain words; I answer only by quoting my sources.
  :help        this text
  :k N         quote up to N sources (now {k})
  :sources     list the documents I can quote
  :quit        leave (Ctrl-D works too; Ctrl-C clears the line)"""


class Repl:
    """One REPL session: handles lines, prints to a rich console."""

    def __init__(self, answerer: Answerer, index: Index, console: Console, k: int) -> None:
        self.answerer = answerer
        self.index = index
        self.console = console
        self.k = k
        self.docs = {d.source: d.text for d in index.documents}

    def handle(self, line: str) -> bool:
        """Act on one input line; return False when the session should end."""
        line = line.strip()
        if not line:
            return True
        if line.startswith(":"):
            return self._command(line)
        try:
            answer = self.answerer.ask(line, self.k)
        except BotError as exc:
            self.console.print(Text(str(exc), style="red"))
            return True
        except Exception:  # a REPL must survive anything a question triggers
            log.exception("Failed to answer %r", line[:80])
            self.console.print(
                Text(
                    "Something went wrong answering that; the details are in the log.", style="red"
                )
            )
            return True
        render_answer(answer, self.console, document_text=self.docs)
        return True

    def _command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in (":quit", ":q", ":exit"):
            return False
        if name in (":help", ":h", ":?"):
            self.console.print(HELP.format(k=self.k), highlight=False, markup=False)
        elif name == ":k":
            if arg.isdigit() and 1 <= int(arg) <= 20:
                self.k = int(arg)
                self.console.print(f"Quoting up to {self.k} sources.", markup=False)
            else:
                self.console.print(
                    Text(f"Usage: :k N with N from 1 to 20 (now {self.k}).", style="red")
                )
        elif name == ":sources":
            counts = np.bincount(
                np.asarray(self.index.passages[:, 0]), minlength=len(self.index.documents)
            )
            for i, doc in enumerate(self.index.documents):
                self.console.print(
                    Text.assemble((doc.title, "cyan"), f"  {doc.source}  ({counts[i]} passages)")
                )
        else:
            self.console.print(Text(f"Unknown command {name}. Type :help.", style="red"))
        return True

    def loop(self, read: Callable[[], str]) -> int:
        """Read lines until :quit or end of input; Ctrl-C only abandons the current line."""
        self.console.print(
            Text.assemble(
                ("Ask about your documents", "bold"),
                f" ({len(self.index.documents)} documents, {len(self.index)} passages)."
                " :help for commands.",
            )
        )
        while True:
            try:
                line = read()
            except KeyboardInterrupt:
                continue
            except EOFError:
                return 0
            try:
                if not self.handle(line):
                    return 0
            except KeyboardInterrupt:  # Ctrl-C while answering abandons that answer only
                self.console.print(Text("(cancelled)", style="dim"))


def run_repl(settings: Settings, *, k: int | None = None) -> int:
    """Open the index (updating it if stale) and run the REPL on the terminal."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from bot.app import open_answerer

    opened = open_answerer(settings, auto_rebuild=True)
    console = Console(highlight=False)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(settings.cache_dir / "repl_history"))
    )
    repl = Repl(opened.answerer, opened.index, console, k or settings.retrieval.k)
    with console.status("Loading the model…"):
        opened.answerer.retriever.encode(["warm up"])  # so the first answer is not the slow one
    return repl.loop(lambda: session.prompt("> "))
