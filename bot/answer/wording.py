"""The words of a question and of a quote: cleaning what was typed, finding names."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.errors import QuestionError
from bot.ingest.readers.text import DOT_LEADERS
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
# A question that tells its asker's situation ("I set GOBIN", "my build fails", "Can I ...").
# "I" is the pronoun after the question's first word, a lower-case word or punctuation, and
# before a lower-case word or with its contraction: not a numeral ("Alexander I", "I/O").
_FIRST_PERSON = re.compile(
    r"(?:^\W*(?:\w+\s+)?|[.,;:!?]\s*|\b[a-z][\w']*\s+)I(?:['’][a-z]+|\s+[a-z])"
    r"|\b(?:[Mm]y|me|mine|[Ww]e|[Oo]ur)\b"
)


def tells_a_situation(question: str) -> bool:
    """Whether the question speaks of its asker (I, my, we, our): a problem told in the first
    person, which documentation answers after restating it."""
    return bool(_FIRST_PERSON.search(question))


# A question that asks how to get out of a problem ("How do I avoid that?", "Any workaround?",
# "Can I point it elsewhere?"), and a sentence that offers a way out ("As a temporary
# workaround, disable…", "You can change the temporary directory by setting TEMP", "Switching
# from fork to spawn will avoid…"): documentation explains the problem first, in sentences
# that share more of the question's words than the remedy does.
_ASKS_REMEDY = re.compile(
    r"\b(how (do|can|should) (i|we)|work ?around|fix|avoid|get around|what should (i|we)"
    r"|can (i|we) (point|change|make|stop|turn))\b",
    re.IGNORECASE,
)
_OFFERS_REMEDY = re.compile(
    r"\b(work ?around|to fix|fix (this|it)|you can|you need to|you must|you should|instead"
    r"|to avoid|will avoid|avoid this|switch(ing)?|upgrade|set the|by setting|use the|disable"
    r"|enable)\b",
    re.IGNORECASE,
)


def asks_for_remedy(question: str) -> bool:
    """Whether the question asks how to fix, avoid or work around something."""
    return bool(_ASKS_REMEDY.search(question))


def offers_remedy(sentence: str) -> bool:
    """Whether the sentence offers a way to fix, avoid or work around something."""
    return bool(_OFFERS_REMEDY.search(sentence))


# A question asking where something is ("Where is that setting saved?"), and a sentence that
# says where ("The per-directory overrides are stored in a configuration file in rustup's
# home directory", "Installs to ~/.local/share/man/man1/tox.1").
_ASKS_PLACE = re.compile(r"\bwhere\b", re.IGNORECASE)
_TELLS_PLACE = re.compile(
    r"\b(stored|saved|written|located|kept|placed|installs? (to|into|in))\b"
    r"|\b(directory|folder)\b|(^|\s)[~.]?/\w",
    re.IGNORECASE,
)


def asks_for_place(question: str) -> bool:
    """Whether the question asks where something is."""
    return bool(_ASKS_PLACE.search(question))


def tells_place(sentence: str) -> bool:
    """Whether the sentence says where something is stored, written or installed."""
    return bool(_TELLS_PLACE.search(sentence))


# A question asking for an amount, a count, a duration, a frequency, a size, a year, a port
# or a version ("How many workers…", "How long does it wait…", "Since which version…"), and
# a sentence that tells one: a numeral, a number word, a frequency or a bound ("once per
# hour", "three replicas", "no limit", "as many … as there are cores", "the number of
# cores"). Documentation names the setting in one sentence and gives its value in the next
# ("retry.linkerd.io/limit: The maximum number of times…" / "If unspecified, the default is 1").
# "version" naming something else: "Which version manager…", "What is the version file…",
# "What do the version numbers mean?", "What does the version command print?".
_NOT_A_VERSION = (
    r"(?!\s+(?:control|files?|managers?|history|schemes?|polic(?:y|ies)|pinning|numbers?"
    r"|numbering|strings?|formats?|syntax|specifiers?|commands?|flags?|options?|fields?|tags?"
    r"|output|info|information)\b)"
)
# Asked how to find out which version one has ("How do I check which version is installed?",
# "Where can I see what version I'm running?"): the answer is a command, not a version.
_FINDS_VERSION = re.compile(
    r"\b(?:check|find(?:\s+out)?|see|determine|show|print|display|verify|confirm|detect"
    r"|list|look\s+up)\s+(?:which|what)\s+(?:[\w.+-]{1,40}\s+){0,2}?versions?\b",
    re.IGNORECASE,
)
_ASKS_QUANTITY = re.compile(
    r"\bhow (many|much|long|often|old|big|large|far|fast|high|soon)\b"
    r"|\b(what|which) (year|percentage|port)\b",
    re.IGNORECASE,
)
_ASKS_VERSION_AMOUNT = re.compile(
    r"\b(what|which) version\b" + _NOT_A_VERSION + "|"
    r"\b(since|from|in|after|until) (which|what) (release|version)\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    "|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy"
    "|eighty|ninety|hundreds?|thousands?|millions?|billions?|dozens?|half|once|twice|thrice"
)
_TELLS_QUANTITY = re.compile(
    rf"\d|\b({_NUMBER_WORDS})\b"
    r"|\b(hourly|daily|weekly|monthly|yearly|annually|unlimited|infinite|indefinitely|forever)\b"
    r"|\bno (limit|maximum|timeout|upper bound)\b"
    r"|\b(limit|number|count|size|amount|length|duration|version)s? of\b"
    r"|\bas (many|much|long|often)\b|\bevery (second|minute|hour|day|week|month|year|time)\b",
    re.IGNORECASE,
)


def asks_for_quantity(question: str) -> bool:
    """Whether the question asks how many, how much, how long or how often, or for a year,
    a port or a version (not how to find out which version one has)."""
    return bool(_ASKS_QUANTITY.search(question)) or (
        bool(_ASKS_VERSION_AMOUNT.search(question)) and not _FINDS_VERSION.search(question)
    )


def tells_quantity(sentence: str) -> bool:
    """Whether the sentence tells an amount: a numeral, a number word, a frequency or a bound."""
    return bool(_TELLS_QUANTITY.search(sentence))


# Words that tell an amount loosely: how much ("a few", "vast areas", "little support"), how
# soon ("immediately") or for how long in what unit ("for months").
_LOOSE_AMOUNT = re.compile(
    r"\b(few|several|many|much|most|little|vast|immediately"
    r"|seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centur(y|ies))\b",
    re.IGNORECASE,
)


def tells_no_amount(passage: str) -> bool:
    """Whether the passage tells no amount at all, not even loosely: no numeral, number word,
    frequency, bound (tells_quantity), vague amount or unit of time. Such a passage cannot
    answer a question asking how many, how long or since which version."""
    return not tells_quantity(passage) and not _LOOSE_AMOUNT.search(passage)


# A question asking which version or release ("Which Python versions does it support?", "What
# is the minimum Ninja version it needs?", "In which release will the option be removed?"),
# and a passage that names one: a dotted number ("3.9", "2.x"), "v2", "version 3", a name and
# its number ("Python 3", "macOS Sonoma (14)"), "3 or later", "2+", or the latest versions in
# the plural ("the two most recent versions of the following browsers"). Any digit tells an
# amount (tells_no_amount); a version question needs a version.
_ASKS_VERSION = re.compile(
    r"\b(?:which|what)\s+(?:[\w.+-]{1,40}\s+){0,2}?versions?\b" + _NOT_A_VERSION + "|"
    r"\b(?:in|since|from|after|until|before|as of)\s+(?:which|what)\s+(?:[\w.+-]{1,40}\s+){0,2}?"
    r"(?:versions?|releases?)\b"
    r"|\bwhat(?:'s|\s+is|\s+was|\s+are)\s+the\s+(?:minimum|oldest|earliest|lowest|newest|latest"
    r"|highest|maximum|first|last|required|supported)\s+(?:[\w.+-]{1,40}\s+){0,2}?versions?\b"
    + _NOT_A_VERSION,
    re.IGNORECASE,
)
_TELLS_VERSION = re.compile(
    r"\d+\.(?:\d+|x)\b|\bv\d|\b(?:versions?|releases?)\s+\d|\d\+"
    r"|\b\d+\s*(?:or|and)\s*(?:later|newer|above|higher|up)\b"
    r"|(?-i:\b[A-Z][\w.+-]{0,39})\s+\(?\d+\b"  # a name of at most 40 characters: linear time
    r"|\b(?:most recent|latest|newest|last|oldest)\s+(?:\w+\s+)?(?:major\s+|minor\s+)?"
    r"(?:versions|releases)\b",
    re.IGNORECASE,
)


def asks_for_version(question: str) -> bool:
    """Whether the question asks which version or release (not how to find out which)."""
    return bool(_ASKS_VERSION.search(question)) and not _FINDS_VERSION.search(question)


def tells_no_version(passage: str) -> bool:
    """Whether the passage names no version: no dotted number, "v2", "version 3", name and
    number ("Python 3"), "3 or later", nor the latest versions in the plural. Such a passage
    cannot answer a question asking which version."""
    return not _TELLS_VERSION.search(passage)


# A question asking whether there is a limit, or what it is ("Is there a maximum number of
# cookies the jar stores?", "Does the pool have a size limit?", "What's the max length of a
# label?"), and a passage that tells of one: limit, maximum, at most, up to, a cap, no more
# than, exceed, bound, unlimited, restricted. Documentation states a limit in those words;
# a passage with none of them is about the thing, not its limit.
_ASKS_LIMIT = re.compile(
    r"\b(?:is there|are there|what is|what's|what are|have|has)\s+(?:a|an|any|the)\s+"
    r"(?:[\w-]{1,40}\s+)?(?:limit|maximum|max|cap|ceiling|upper bound)s?\b",
    re.IGNORECASE,
)
_TELLS_LIMIT = re.compile(
    r"limit|maxim|\bmax|\bminim|\bmin\b|at most|up to\b|\bcap(?:s|ped|ping)?\b|no more than"
    r"|not more than|exceed|\bbound|largest|restrict",
    re.IGNORECASE,
)


def asks_for_limit(question: str) -> bool:
    """Whether the question asks whether there is a limit (a maximum, a cap), or what it is."""
    return bool(_ASKS_LIMIT.search(question))


def tells_no_limit(passage: str) -> bool:
    """Whether the passage tells of no limit at all: no "limit", "maximum", "at most", "up to",
    "cap", "no more than", "exceed", "bound" or "restricted". Such a passage cannot say whether
    there is a limit."""
    return not _TELLS_LIMIT.search(passage)


# A question answered yes or no ("Can the proxyauth option handle Digest authentication?",
# "I loaded it with -s. Do I have to restart it?", "Inside my hook, can I change the value?"):
# its last question opens with an auxiliary verb, after a clause that sets the scene if any,
# and asks no what, which, where or how. Documentation answers such a question where it
# is no, or only in part, in a sentence that says so ("For now, only HTTP Basic Authentication
# is supported.", "Alembic does not currently have explicit multi-tenant support"), beside
# sentences that share more of the question's words and describe the feature.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ASKS_YES_OR_NO = re.compile(
    # after a clause that sets the scene, if any ("Inside my callback, can I …?")
    r"^\W*(?:(?:if|when|after|before|inside|within|with|once|since|while|in|on|for|given"
    r"|during|without)\b[^,?]*,\s*)?"
    r"(am|is|are|was|were|do|does|did|can|could|will|would|should|shall|may|might|must"
    r"|has|have|had)\b",
    re.IGNORECASE,
)
_WH = re.compile(r"\b(what|which|where|when|how|why|who|whom|whose)\b", re.IGNORECASE)
_SAYS_NO = re.compile(r"\b(not|cannot|never|no|none|only|neither|nor)\b|n't\b", re.IGNORECASE)


def asks_yes_or_no(question: str) -> bool:
    """Whether the question's last question (the last sentence ending with "?", else its
    last sentence) is answered yes or no: it opens with an auxiliary verb (after an "if",
    "when" or "inside" clause, if any) and has no question word from there on."""
    parts = _SENTENCE_END.split(question.strip())
    last = next((p for p in reversed(parts) if p.rstrip().endswith("?")), parts[-1])
    opening = _ASKS_YES_OR_NO.match(last)
    # A question word in the clause that sets the scene ("When I run it, does it …?") asks
    # nothing; from the auxiliary on, it asks which or how.
    return opening is not None and not _WH.search(last, opening.start(1))


def says_no(sentence: str) -> bool:
    """Whether the sentence denies or limits something: a negation, "no", "none" or "only"."""
    return bool(_SAYS_NO.search(sentence))


# A question asking what happens by default ("Which resolver does it use if I don't pass
# --resolver?", "Is stripping off by default now?"), and a sentence that gives a default
# value: it says "default" and names a value (a number, a literal, code, "name: value").
# Documentation describes a setting in sentences that share the question's words and gives
# its default in a short one ("Default: 4173", "The new default is --resolver=backtracking").
_ASKS_DEFAULT = re.compile(
    r"\bdefaults?\b|\bout of the box\b|\bwithout (setting|configuring|specifying|passing)\b"
    r"|\bif (i|we|you) (don't|do not|never) (set|configure|specify|pass|change|give|touch)\b"
    r"|\bif (it's|it is) (not set|unset|omitted|left out)\b",
    re.IGNORECASE,
)
_DEFAULT = re.compile(r"\bdefault", re.IGNORECASE)
# ("on", "yes" and "no" are values too, but far more often a preposition or a determiner.)
_VALUE = re.compile(r"[`=:]|\b(true|false|none|null|nil|off|enabled|disabled)\b", re.IGNORECASE)


def asks_for_default(question: str) -> bool:
    """Whether the question asks what a setting is, or what happens, when it is not set."""
    return bool(_ASKS_DEFAULT.search(question))


def tells_default(sentence: str) -> bool:
    """Whether the sentence gives a default value: it says "default" and names a value (an
    amount, a literal such as true or none, or code)."""
    return bool(_DEFAULT.search(sentence)) and (
        tells_quantity(sentence) or bool(_VALUE.search(sentence))
    )


# A question asking why, or for a cause ("Why doesn't my build dir pick up the new option?",
# "What's the likely cause?"), and a sentence that gives one ("This may be caused by running
# out of inotify resources", "… because default options are only read once"): documentation
# restates the symptom in the question's words and names the cause beside it.
_ASKS_CAUSE = re.compile(r"\bwhy\b|\b(cause[sd]?|culprit|reason|behind (this|it))\b", re.IGNORECASE)
_TELLS_CAUSE = re.compile(
    r"\b(caused by|causes?|culprit|due to|because|happens (when|if)|results? (of|from)|reason)\b",
    re.IGNORECASE,
)


def asks_for_cause(question: str) -> bool:
    """Whether the question asks why something happens, or what causes it."""
    return bool(_ASKS_CAUSE.search(question))


def tells_cause(sentence: str) -> bool:
    """Whether the sentence names a cause: "because", "due to", "caused by", "the reason"."""
    return bool(_TELLS_CAUSE.search(sentence))


# Kinds of question whose answer has a telltale form: (the question is of the kind, a
# sentence has the form).
_ANSWER_FORMS: tuple[tuple[Callable[[str], bool], Callable[[str], bool]], ...] = (
    (asks_for_remedy, offers_remedy),
    (asks_for_place, tells_place),
    (asks_for_quantity, tells_quantity),
    (asks_yes_or_no, says_no),
    (asks_for_default, tells_default),
    (asks_for_cause, tells_cause),
)


def answer_forms(question: str) -> tuple[Callable[[str], bool], ...]:
    """The forms a sentence answering this question takes, by its kind (most: none)."""
    return tuple(form for kind, form in _ANSWER_FORMS if kind(question))


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


# A line of a table of contents or of an FAQ's index: a question, a numbered title with no
# closing punctuation, or a title with dot leaders and a page number.
_ENTRY_NUMBER = re.compile(r"^(\d+(\.\d+)*\.?|[ivxlcIVXLC]+\.|[A-Z]\.)\s+\S")
_CLOSING = (".", "!", ":", ";", ",")


def _is_entry(line: str) -> bool:
    """Whether one stripped line reads as an entry of a contents list."""
    if len(line) > 100:
        return False
    if line.endswith("?") or DOT_LEADERS.search(line):
        return True
    return bool(_ENTRY_NUMBER.match(line)) and not line.endswith(_CLOSING)


def contents_like(text: str) -> bool:
    """Whether a passage is a table of contents or an FAQ's index: a run of four or more
    lines that are questions, numbered titles or dot-leadered entries, one after another, and
    such lines most of its lines. It repeats the words of the questions it lists and answers
    none of them (an FAQ's own question, followed by its answer, is no such run)."""
    run = longest = entries = lines = 0
    for line in text.splitlines():
        line = line.strip()
        if not line:
            run = 0
            continue
        lines += 1
        if _is_entry(line):
            entries += 1
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    return longest >= 4 and entries >= 0.6 * lines


# A sentence with no word in it ("1.", "3.", "."): a list's number, never an answer.
_WORD_IN = re.compile(r"[^\W\d_]{2}")


def has_words(sentence: str) -> bool:
    """Whether a sentence holds a word (two letters in a row), not only numbers and signs."""
    return bool(_WORD_IN.search(sentence))
