"""One index writer at a time, across processes and threads (a filelock in the index folder).

Use::

    from bot.search.lock import write_lock

    with write_lock(settings.index_dir):            # waits for another writer, saying who it is
        ...  # re-check staleness, build, Index.save

    with write_lock(index_dir, wait=False):         # or raise IndexBusyError naming the holder
        ...

- The lock is ``<index_dir>/.write.lock``; while it is held, ``<index_dir>/.write.holder`` says
  who holds it (JSON: pid, host, command, since), so a waiting run can name the holder.
- Re-entrant in the same thread (``app.rebuild`` takes it, and so may its caller); another
  thread or process waits (or, with ``wait=False``, gets ``IndexBusyError``).
- ``on_wait(message)`` is called once before waiting (default: a log warning).
- A folder that cannot be created or written raises ``IndexReadOnlyError`` naming it.
- The operating system drops the lock when its holder dies, so a crashed run never blocks the
  next one; a holder file left behind by a crash is simply overwritten.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from bot.errors import IndexBusyError, IndexReadOnlyError

log = logging.getLogger(__name__)

LOCK_FILE = ".write.lock"
HOLDER_FILE = ".write.holder"


def holder(index_dir: Path) -> str:
    """Who holds the write lock, in words (as its holder file says), or "" when unknown."""
    try:
        info = json.loads((index_dir / HOLDER_FILE).read_text(encoding="utf-8"))
        who = f"pid {info['pid']} on {info['host']}"
        return f"{who}, running `{info['command']}` since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _busy_message(index_dir: Path) -> str:
    who = holder(index_dir) or "another process"
    return f"Another index update of {index_dir} is running ({who})"


def unwritable(index_dir: Path, exc: OSError) -> IndexReadOnlyError:
    """The one-line error for an index folder this process may not write."""
    reason = exc.strerror or type(exc).__name__
    return IndexReadOnlyError(f"The index folder {index_dir} is not writable ({reason})")


def _lock(index_dir: Path) -> FileLock:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(index_dir, exc) from exc
    # One instance per path in this process (is_singleton): re-entrant in a thread, while
    # another thread opens its own descriptor and so waits like another process would.
    return FileLock(str(index_dir / LOCK_FILE), is_singleton=True)


@contextlib.contextmanager
def write_lock(
    index_dir: Path, *, wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the index folder's write lock for the block (see the module docstring)."""
    lock = _lock(index_dir)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            message = _busy_message(index_dir)
            if not wait:
                raise IndexBusyError(f"{message}; try again when it has finished.") from None
            (on_wait or log.warning)(f"{message}; waiting for it to finish.")
            lock.acquire()
    except OSError as exc:
        raise unwritable(index_dir, exc) from exc
    outermost = lock.lock_counter == 1
    try:
        if outermost:
            _write_holder(index_dir)
        yield
    finally:
        if outermost:
            with contextlib.suppress(OSError):
                (index_dir / HOLDER_FILE).unlink()
        lock.release()


def _program() -> str:
    """How this process was started, in the words a person typed: `python -m bot`, not the
    `__main__.py` that sys.argv[0] holds then."""
    script = Path(sys.argv[0])
    return f"python -m {script.parent.name}" if script.name == "__main__.py" else script.name


def _write_holder(index_dir: Path) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join([_program(), *sys.argv[1:]])[:200],
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    tmp = index_dir / f"{HOLDER_FILE}.{os.getpid()}"
    try:
        tmp.write_text(json.dumps(info), encoding="utf-8")
        tmp.replace(index_dir / HOLDER_FILE)
    except OSError as exc:
        raise unwritable(index_dir, exc) from exc
