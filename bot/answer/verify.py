"""The verifier: a small cross-encoder of the project's own that reads a question with a
passage and says how likely the passage answers it.

Retrieval scores say a passage is about the question; the verifier reads the two together,
so it can tell the paragraph holding the value from a heading or an introduction that only
repeats the question's words, and a passage on the topic from one that answers. The model
(bot/models/verifier: model.onnx, int8, with its tokenizer) is trained by
training/train_verifier.py from the bundled all-MiniLM-L6-v2 weights; see its model card,
training/verifier_card.md. It runs with onnxruntime, like the query encoder: no torch.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.search.onnx_embedder import padded_feed

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "verifier"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "verifier.json"


class Verifies(Protocol):
    """What the Answerer needs of a verifier (a fake in tests)."""

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """Per passage, the probability (0-1) that it answers the question."""
        ...


class Verifier:
    """The cross-encoder over onnxruntime: (question, passage) pairs to probabilities.

    The folder's verifier.json may list several models sharing its tokenizer ("models": an
    ensemble, the first of them model.onnx, which load_verifier looks for); a pair's logit
    is then the mean of theirs. The shipped folder holds one.
    """

    def __init__(self, folder: Path = MODEL_DIR, *, threads: int | None = None) -> None:
        import onnxruntime as ort  # only when questions are answered
        from tokenizers import Tokenizer

        config: dict[str, Any] = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        self.max_length = int(config.get("max_length", 256))
        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        # The passage is cut, never the question: the question decides what counts.
        self._tokenizer.enable_truncation(self.max_length, strategy="only_second")
        self._tokenizer.no_padding()
        pad = self._tokenizer.token_to_id("[PAD]")
        self._pad = 0 if pad is None else pad
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.inter_op_num_threads = 1
        files = config.get("models", [MODEL_FILE])
        if not files or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ValueError(f'{folder / CONFIG_FILE}: "models" must list model files')
        self.sessions = [
            ort.InferenceSession(str(folder / f), options, providers=["CPUExecutionProvider"])
            for f in files
        ]
        self._inputs = [{i.name for i in session.get_inputs()} for session in self.sessions]

    def logits(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One logit per passage (higher: more likely to answer), each pair run alone.

        The int8 model quantises its activations with a scale taken over the whole input
        (onnxruntime's dynamic quantisation), so a pair batched with others, or padded to a
        longer one, gets a different logit (up to 2 apart). Alone, a passage's score is its
        own: the same in any pool, in a follow-up, in eval. On two cores it is no slower."""
        if not passages:
            return np.zeros(0, np.float32)
        encoded = self._tokenizer.encode_batch([(question, p) for p in passages])
        out = np.zeros(len(passages), np.float32)
        for session, inputs in zip(self.sessions, self._inputs, strict=True):
            for i, pair in enumerate(encoded):
                run = padded_feed([pair], self._pad, inputs)
                out[i] += np.asarray(session.run(None, run)[0], np.float32).reshape(-1)[0]
        return out / len(self.sessions)

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """Per passage, the probability that it answers the question."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.logits(question, passages))), np.float32)


@functools.cache
def _shared(folder: Path) -> Verifier | None:
    try:
        return Verifier(folder)
    except Exception as exc:  # answering goes on without it, as before the verifier
        log.warning("The verifier in %s is unusable (%s); answering without it.", folder, exc)
        return None


def load_verifier(folder: Path = MODEL_DIR) -> Verifier | None:
    """The shipped verifier, loaded once per process (every index update's Answerer shares
    it); None when it is missing (said in the log) or cannot be loaded (a warning)."""
    if not (folder / MODEL_FILE).is_file():
        log.info("No verifier model in %s; answering without it.", folder)
        return None
    return _shared(folder)
