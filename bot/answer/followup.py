"""Follow-up questions: whether a question leans on the one asked before it, and the query
that reads it with that earlier question as context.

A thread's second question is often not whole on its own: "Where was it played?" after "Which
team won Super Bowl 50?", or "And the NFC?" after "Which team represented the AFC?". Such a
follow-up is searched with the earlier question's words and vector mixed in, the follow-up's
own weighing more; the earlier question is never quoted and never shown as the question.
Answerer.ask decides, with this module's tests, which reading to answer:

    answer = answerer.ask("Where was it played?", context="Which team won Super Bowl 50?")
    assert answer.question == "Where was it played?"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.answer.wording import names_in
from bot.search.embedder import normalise
from bot.search.lexical import terms

# How much of the earlier question goes into a follow-up's query: its share of the mixed
# dense vector, and the weight of its words against 1 for the follow-up's own (BM25, late
# interaction, the marked sentence). Chosen on the pairs from SQuAD-dev's tune split
# (eval/followups.py, each answer kept by confidence, FOLLOW_UP_MARGIN 0): answer in quote@1
# 0.898 here (0.902 with surely_depends), 0.910 with words at 1/2 (but one of 2,060 tune
# questions asked after an unrelated one lost its answer), 0.885 with a vector share of 0.2,
# 0.873 with words at 1 (as plain concatenation weighs them; 2 lost).
CONTEXT_WEIGHT = 0.3
CONTEXT_TERM_WEIGHT = 1 / 3

# A follow-up's opening: "and who directed it?", "what about on Windows?", "as for 1990?".
_LEAD = re.compile(
    r"^\W*(and|also|but|or|plus|what about|how about|what of|as for|same for|same with)\b",
    re.IGNORECASE,
)
# Words that stand for something named earlier.
_PRONOUN = re.compile(
    r"\b(he|she|him|his|her|hers|it|its|they|them|their|theirs|this|these|those|that|there)\b",
    re.IGNORECASE,
)
# The words that only say what is asked (stemmed as BM25 stems them): "Why?", "How long?",
# "Who?" ask about something named before.
_ASKING = frozenset(terms("why how when where what which who whom whose many much long far old"))
_PERSONAL = frozenset({"he", "she", "him", "his", "her", "hers"})
# "it" and "there" that stand for nothing: "what is it called when", "how long does it
# take", "is there", "there were".
_EMPTY_IT = re.compile(
    r"\b(it\s+(is|was)|(is|was)\s+it)\s+called\b|\b(does|did|do|would|will|can)\s+it\s+take\b"
    r"|\bit\s+(is|was)\s+(possible|necessary|important|true|likely)\b",
    re.IGNORECASE,
)
_BE = r"(is|are|was|were|be|been|being|has|have|had)"
_EMPTY_THERE = re.compile(rf"\b{_BE}\s+there\b|\bthere\s+{_BE}\b", re.IGNORECASE)
# "that" after one of these points back ("after that", "in that year"); elsewhere it mostly
# joins a clause ("the river that flows", "say that").
_POINTING_THAT = re.compile(
    r"\b(in|at|on|of|for|by|after|before|during|since|from|with|about|like|than|is|was|did|do|does)"
    r"\s+that$",
    re.IGNORECASE,
)


# A follow-up that opens so and is this short is nothing but a follow-up ("And the NFC?",
# "What about on Windows?"); "What about Luther declined as his antisemitism increased?"
# is a question of its own.
SHORT_FOLLOW_UP_WORDS = 6


def surely_depends(question: str) -> bool:
    """Whether question can only be read with an earlier one: a short one that opens like a
    follow-up, or one with no content word of its own ("Why?", "How long?")."""
    short = len(question.split()) <= SHORT_FOLLOW_UP_WORDS
    return (short and bool(_LEAD.search(question))) or not set(terms(question)) - _ASKING


def depends(question: str) -> bool:
    """Whether question may lean on an earlier one: it opens like a follow-up ("and ...",
    "what about ..."), has no content word of its own ("Why?", "Who?"), or holds a pronoun
    with nothing before it in the question to stand for (a personal pronoun with no name
    before it; "it", "they", "this" and the like anywhere, except "it" and "there" that
    stand for nothing)."""
    if _LEAD.search(question) or not set(terms(question)) - _ASKING:
        return True
    for m in _PRONOUN.finditer(question):
        word = m.group(1).lower()
        ends = not question[m.end() :].strip(" ?!.")
        if word == "that" and not (ends or _POINTING_THAT.search(question[: m.end()])):
            continue
        if word == "there" and _EMPTY_THERE.search(question):
            continue
        if word in ("it", "its") and _EMPTY_IT.search(question):
            continue
        if word in _PERSONAL and names_in(question[: m.start()], ""):
            continue  # "When did Tesla say he ..." names the one it stands for
        return True
    return False


@dataclass(frozen=True)
class FollowUp:
    """A follow-up question and the earlier question it is read with."""

    question: str
    context: str

    def lexical_text(self) -> str:
        """The text BM25 reads: the follow-up's words count once, the context's at
        CONTEXT_TERM_WEIGHT, by repeating the follow-up (BM25 adds a repeated query word
        again)."""
        times = max(1, round(1 / CONTEXT_TERM_WEIGHT))
        return " ".join([self.question] * times + [self.context])

    def term_weights(self, vocabulary: list[str]) -> np.ndarray:
        """The weight of each term of vocabulary (the union of both questions' terms): 1 for
        the follow-up's own, CONTEXT_TERM_WEIGHT for those only the context has."""
        own = set(terms(self.question))
        return np.array(
            [1.0 if t in own else CONTEXT_TERM_WEIGHT for t in vocabulary], dtype=np.float32
        )

    def answer_frame(self) -> str:
        """The question whose form says what the answer is (a name, for a who-question): the
        follow-up when it asks a question of its own words, the context for an ellipsis
        ("And the NFC?")."""
        return self.context if _LEAD.search(self.question) else self.question

    def whole(self) -> str:
        """Both questions as one text (what a reader of the thread has in mind)."""
        return f"{self.context} {self.question}"


def mixed_vector(own: np.ndarray, context: np.ndarray) -> np.ndarray:
    """The unit vector between the follow-up's and the context's, CONTEXT_WEIGHT of the way
    to the context's."""
    own = np.asarray(own, dtype=np.float32)
    mixed = (1 - CONTEXT_WEIGHT) * own + CONTEXT_WEIGHT * np.asarray(context, dtype=np.float32)
    unit: np.ndarray = normalise(mixed[None, :])[0]
    return unit


def mixed_tokens(own: np.ndarray, context: np.ndarray) -> np.ndarray:
    """Token vectors of both questions for late interaction, the context's scaled so that
    the mean best match over all of them weighs each context word CONTEXT_TERM_WEIGHT
    against 1 for a follow-up word (still a mean of cosines)."""
    own = np.asarray(own, dtype=np.float32)
    context = np.asarray(context, dtype=np.float32)
    n, m = own.shape[0], context.shape[0]
    scale = (n + m) / max(n + CONTEXT_TERM_WEIGHT * m, 1e-6)
    return np.concatenate([own * scale, context * (CONTEXT_TERM_WEIGHT * scale)])
