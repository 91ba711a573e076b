"""The interactive terminal: line editing and history (prompt_toolkit), colour (rich)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.text import Text

from bot.answer.compose import Answerer
from bot.answer.conversations import Conversations
from bot.answer.wording import clean_text
from bot.config import REPL_HELP_TEXT, Settings
from bot.errors import BotError
from bot.frontends.render import DECLINE_REPL, render_answer
from bot.live import LiveIndex
from bot.search.scopes import Readable
from bot.search.store import Index

log = logging.getLogger(__name__)

# What :help shows below repl.help_text.
COMMANDS = """  :help        this text
  :k N         quote up to N sources (now {k})
  :sources     list the documents I can quote
  :quit        leave (Ctrl-D works too; Ctrl-C clears the line)"""
HELP = REPL_HELP_TEXT + "\n" + COMMANDS  # :help with the default repl.help_text


class Repl:
    """One REPL session: handles lines, prints to a rich console.

    With live, an index updated in the background is taken between questions (never during
    one), with one line saying so.
    """

    def __init__(
        self,
        answerer: Answerer,
        index: Index,
        console: Console,
        k: int,
        *,
        live: LiveIndex | None = None,
        decline: str = DECLINE_REPL,
        help_text: str = REPL_HELP_TEXT,
        readable: Readable = None,
    ) -> None:
        self.answerer = answerer
        self.readable = readable  # --scope: ask as a place that may read these (None: all)
        self.conversation = Conversations()  # a follow-up is read with the question before
        self.index = index
        self.console = console
        self.k = k
        self.live = live
        self.decline = decline  # repl.decline_text
        self.help_text = help_text  # repl.help_text
        self.docs = {d.source: d.text for d in index.documents}

    def take_update(self) -> None:
        """Switch to an index updated in the background, if one is ready, and say so."""
        update = self.live.adopt_update() if self.live is not None else None
        if update is None:
            return
        if update.loaded is not None:
            self.answerer, self.index = update.loaded.answerer, update.loaded.index
            self.docs = {d.source: d.text for d in self.index.documents}
        style = "dim" if update.loaded is not None else "yellow"
        self.console.print(Text(update.message, style=style))

    def handle(self, line: str) -> bool:
        """Act on one input line; return False when the session should end."""
        line = clean_text(line).strip()  # undecodable bytes from the terminal included
        if not line:
            return True
        self.take_update()
        if line.startswith(":"):
            return self._command(line)
        try:
            answerer = self.answerer
            if self.readable is not None:
                answerer = answerer.for_scopes(self.readable)
            context = self.conversation.context(0)
            answer = (
                answerer.ask(line, self.k)
                if context is None
                else (answerer.ask(line, self.k, context=context))
            )
            self.conversation.asked(0, line)
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
        render_answer(answer, self.console, document_text=self.docs, decline=self.decline)
        return True

    def _command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in (":quit", ":q", ":exit"):
            return False
        if name in (":help", ":h", ":?"):
            shown = self.help_text + "\n" + COMMANDS.format(k=self.k)
            self.console.print(shown, highlight=False, markup=False)
        elif name == ":k":
            if arg.isdigit() and 1 <= int(arg) <= 20:
                self.k = int(arg)
                noun = "source" if self.k == 1 else "sources"
                self.console.print(f"Quoting up to {self.k} {noun}.", markup=False)
            else:
                self.console.print(
                    Text(f"Usage: :k N with N from 1 to 20 (now {self.k}).", style="red")
                )
        elif name == ":sources":
            counts = np.bincount(
                np.asarray(self.index.passages.doc), minlength=len(self.index.documents)
            )
            listed: Sequence[int] = range(len(self.index.documents))
            if self.readable is not None:
                listed = self.answerer.readable_documents(self.readable)
            for i in listed:
                doc = self.index.documents[i]
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


def history_file(settings: Settings) -> Path:
    """The REPL's history for this index folder (each project keeps its own questions),
    under cache_dir so a read-only index folder still has one."""
    folder = settings.index_dir.resolve()
    key = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return settings.cache_dir / "repl_history" / f"{folder.parent.name}-{folder.name}-{key}"


def run_repl(settings: Settings, *, k: int | None = None, readable: Readable = None) -> int:
    """Open the index (updating it if stale) and run the REPL on the terminal."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from bot.live import open_live
    from bot.search.staleness import describe

    live, stale = open_live(settings)
    loaded = live.current
    console = Console(highlight=False)
    history = history_file(settings)
    history.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(history=FileHistory(str(history)))
    repl = Repl(
        loaded.answerer,
        loaded.index,
        console,
        k or settings.retrieval.k,
        live=live,
        decline=settings.repl.decline_text,
        help_text=settings.repl.help_text,
        readable=readable,
    )
    with console.status("Loading the model…"):
        loaded.answerer.retriever.encode(["warm up"])  # so the first answer is not the slow one
    if stale:
        console.print(
            Text(
                f"The index is out of date ({describe(stale)}); answering from it while it "
                "updates in the background.",
                style="dim",
            )
        )
    live.start(stale=bool(stale))
    try:
        # While an update runs, the right of the prompt says so (refreshed twice a second).
        return repl.loop(
            lambda: session.prompt(
                "> ",
                rprompt=lambda: "(updating the index…)" if live.busy else "",
                refresh_interval=0.5,
            )
        )
    finally:
        if live.busy:
            console.print(
                Text("Stopping the index update (it resumes at the next start)…", style="dim")
            )
        live.close()
