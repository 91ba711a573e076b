"""Exceptions the core raises; front ends turn them into messages for people."""


class BotError(Exception):
    """Base class for errors that carry a message meant for the user."""


class ConfigError(BotError):
    """A setting is missing or invalid; the message names the key."""


class CorpusError(BotError):
    """The seeds folder is missing, empty, or holds no readable document."""


class IndexMissingError(BotError):
    """No index has been built yet."""


class IndexCorruptError(BotError):
    """The index on disk cannot be read; problem says why, the message adds how to fix it."""

    ADVICE = "Rebuild it with: python -m bot index --rebuild"

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}. {self.ADVICE}")
        self.problem = problem


class IndexOutdatedError(BotError):
    """The index on disk was written by an older version of the bot, in another format: not
    damage, just something to rebuild (the front ends do so by themselves)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}. Rebuild it with: python -m bot index --rebuild")
        self.problem = problem


class IndexBusyError(BotError):
    """Another process or thread is writing the index."""


class IndexReadOnlyError(BotError):
    """The index folder cannot be written; the message names it."""


class QuestionError(BotError):
    """The question is empty or too long."""
