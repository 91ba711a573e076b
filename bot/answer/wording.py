"""The words of a question and of a quote: cleaning what was typed, finding names."""

from __future__ import annotations

import re

from bot.errors import QuestionError
from bot.search.lexical import is_stopword


def clean_text(text: str) -> str:
    """Text as valid Unicode: bytes that arrived undecoded (a terminal's or pipe's surrogate
    escapes) are decoded as UTF-8 where they can be, other lone surrogates (from JSON) and
    undecodable bytes become U+FFFD, control characters spaces. Tokenizers refuse surrogates."""
    text = _ESCAPED.sub(
        lambda m: m.group().encode("utf-8", "surrogateescape").decode("utf-8", "replace"), text
    )
    return _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", text))


_ESCAPED = re.compile("[\udc80-\udcff]+")  # what surrogateescape makes of bytes 0x80-0xff
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_question(question: str, max_chars: int) -> str:
    """Strip a question (clean_text) and reject empty or over-long ones with a message."""
    q = " ".join(clean_text(question).split())
    if not q:
        raise QuestionError("Please ask a question: it was empty.")
    if len(q) > max_chars:
        raise QuestionError(
            f"That question is {len(q):,} characters long; the limit is {max_chars:,}. "
            "Please shorten it."
        )
    return q


# A question that asks for a person or an organisation: its answer is a name.
WHO = re.compile(r"^\W*(who|whom|whose)\b|\b(by|to|for|with|from|of) whom\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’\-]*")
_OPENERS = frozenset('.!?:;"“(\n')
# A capitalised word in more than this share of all passages is the corpus's own subject
# ("Python" in pip's docs: 28%), not the name a question asks for. SQuAD-dev's tune split:
# of the 152 quotes that answer a who-question, 8 hold no name at all, 3 only names found in 2%
# or more of the passages (the highest 10-20%), none only names above 20%.
SUBJECT_SHARE = 0.2


def _starts_sentence(text: str, at: int) -> bool:
    """Whether the word at text[at] opens the text, a line or a sentence (or a quotation)."""
    i = at - 1
    while i >= 0 and text[i] in " \t\r":
        i -= 1
    return i < 0 or text[i] in _OPENERS


def names_in(text: str, question: str) -> list[str]:
    """Capitalised words of text (names, most likely) that are not the question's own words,
    not stop words or single letters ("The", "I"), and do not start a sentence, where any word
    is capitalised."""
    asked = {w.lower() for w in re.findall(r"[\w'’\-]+", question)}
    found = []
    for m in _CAPITALISED.finditer(text):
        word = m.group()
        if len(word) < 2 or word.lower() in asked or is_stopword(word.lower()):
            continue
        if _starts_sentence(text, m.start()):
            continue
        found.append(word)
    return found
