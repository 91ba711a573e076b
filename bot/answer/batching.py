"""Many questions at once (the Discord bot): embed them in one call, answer on a thread pool.

`ask_many` is the synchronous core. `Batcher` is the asyncio front door: a question that arrives
while the bot is idle is answered at once (no batching window, so no added latency); questions
that arrive while a batch is running wait and go together in the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import NamedTuple

from bot.answer.compose import Answer, Answerer
from bot.answer.wording import clean_question
from bot.errors import BotError
from bot.search.dense import prescore
from bot.search.scopes import Readable


def ask_many(
    answerer: Answerer,
    questions: Sequence[str],
    k: int | None = None,
    *,
    pool: ThreadPoolExecutor | None = None,
    readable: Sequence[Readable] | None = None,
    contexts: Sequence[str | None] | None = None,
) -> list[Answer | BotError]:
    """Answer each question (or give its BotError), embedding all of them in one model call.
    readable: per question, the scopes its place may read (None: all; Answerer.for_scopes).
    contexts: per question, the question asked before it in its conversation (None: none;
    Answerer.ask's context).

    With a pool, search and composition run on its threads (onnxruntime and NumPy release the
    GIL); the Batcher gives it a pool of one, which measured faster than two on two cores.
    """
    results: list[Answer | BotError | None] = [None] * len(questions)
    cleaned: list[tuple[int, str]] = []
    for i, question in enumerate(questions):
        try:
            cleaned.append((i, clean_question(question, answerer.settings.max_question_chars)))
        except BotError as exc:
            results[i] = exc
    if cleaned:
        retriever = answerer.retriever
        encoded, tokens = retriever.encode([q for _, q in cleaned])
        vectors = prescore(retriever.index, encoded, retriever.settings)

        def one(j: int) -> Answer | BotError:
            scoped = answerer.for_scopes(readable[cleaned[j][0]]) if readable else answerer
            try:
                return scoped.ask(
                    cleaned[j][1],
                    k,
                    query_vector=vectors[j],
                    query_tokens=tokens[j] if tokens else None,
                    context=contexts[cleaned[j][0]] if contexts else None,
                )
            except BotError as exc:
                return exc

        answers = (
            list(pool.map(one, range(len(cleaned))))
            if pool
            else [one(j) for j in range(len(cleaned))]
        )
        for (i, _), answer in zip(cleaned, answers, strict=True):
            results[i] = answer
    return [r for r in results if r is not None]


class _Asked(NamedTuple):
    question: str
    k: int | None
    readable: Readable
    future: asyncio.Future[Answer]
    context: str | None = None


class Batcher:
    """Answers questions from many coroutines, batching those that arrive while it is busy."""

    def __init__(self, answerer: Answerer, *, max_batch: int = 64, threads: int = 1) -> None:
        # One thread: composing answers is mostly Python under the GIL, and a second thread
        # only contends with it and with BLAS (64 in flight at 10k: 120 q/s with one thread
        # against 101-109 with two, measured back to back).
        self.answerer = answerer
        self.max_batch = max_batch
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="answer")
        self._queue: asyncio.Queue[_Asked] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        readable: Readable = None,
        context: str | None = None,
    ) -> Answer:
        """Answer one question from a place that may read the scopes readable (None: all),
        after context (the conversation's previous question, Answerer.ask); raises its
        BotError like Answerer.ask."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run())
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Asked(question, k, readable, future, context))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            # One k per model call keeps ask_many simple; mixed k values split the batch.
            for k in {item.k for item in batch}:
                group = [item for item in batch if item.k == k]
                answers: Sequence[Answer | BaseException]
                try:
                    answers = await loop.run_in_executor(
                        None,
                        partial(
                            ask_many,
                            self.answerer,
                            [item.question for item in group],
                            k,
                            pool=self._pool,
                            readable=[item.readable for item in group],
                            contexts=[item.context for item in group],
                        ),
                    )
                except Exception as exc:  # hand any failure to every waiting caller
                    answers = [exc] * len(group)
                for future, answer in zip((item.future for item in group), answers, strict=True):
                    if future.done():
                        continue
                    if isinstance(answer, BaseException):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)

    async def aclose(self) -> None:
        """Stop the worker and the thread pool."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._pool.shutdown(wait=False)
