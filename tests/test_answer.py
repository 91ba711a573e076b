import json
import signal
from itertools import combinations

import pytest

from bot.answer.compose import Answer, Answerer
from bot.answer.wording import SUBJECT_SHARE, clean_question, names_in
from bot.config import AnswerSettings, ChunkingSettings, RetrievalSettings
from bot.errors import QuestionError
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index


@pytest.fixture
def answerer(settings, fake_embedder):
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    return Answerer(index, fake_embedder, RetrievalSettings(k=3), AnswerSettings())


def test_answer_quotes_the_source_verbatim_and_marks_the_answering_sentence(answerer, settings):
    answer = answerer.ask("Who was the first person to walk on the lunar surface?")
    assert answer.answered
    top = answer.results[0]
    assert top.source == "apollo.txt"
    assert top.title == "Apollo Program"
    original = (settings.seeds_dir / "apollo.txt").read_text(encoding="utf-8")
    assert original[top.start : top.end] == top.passage
    assert original[top.quote_start : top.quote_end] == top.quote
    assert "Neil Armstrong was the first person to walk on the lunar surface in 1969." in top.quote
    assert top.quote in top.passage
    assert 1 <= top.quote_sentences <= 2


def candidates(answerer, question: str, n: int) -> list[tuple[str, int, int]]:
    """Where the retriever's n best passages for question are (file, start, end), best first."""
    qv = answerer.retriever.embedder.embed([question])[0]
    return [
        (src.source, src.start, src.end)
        for hit in answerer.retriever.search(question, n)
        for src in answerer.compose(question, qv, [hit], 1).results
    ]


def overlap(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def test_further_sources_do_not_repeat_the_top_passage(settings, fake_embedder):
    # The evidence bars off: only the rule under test can leave a passage out.
    answerer = _answerer_over(
        settings, fake_embedder, min_further_confidence=0.0, min_further_score=-100.0
    )
    question = "Apollo Moon mission rocket"
    # The case: among the three best passages are overlapping windows of apollo.txt.
    assert any(overlap(a, b) for a, b in combinations(candidates(answerer, question, 3), 2))
    spans = [(r.source, r.start, r.end) for r in answerer.ask(question, k=3).results]
    assert len(spans) == 3  # the overlapping one is replaced from further down
    assert not any(overlap(a, b) for a, b in combinations(spans, 2))


def test_off_topic_question_is_declined(answerer):
    answer = answerer.ask("What is the best recipe for lemon cheesecake?")
    assert not answer.answered
    assert answer.to_json()["results"] == []


def test_question_naming_an_unknown_person_is_penalised(answerer):
    known = answerer.ask("Which queen rules the honey bees colony?")
    unknown = answerer.ask("Which queen rules Beyoncé's honey bees colony?")
    assert answerer.index.lexical.unknown_names(
        "Which queen rules Beyoncé's honey bees colony?"
    ) == ["Beyoncé's"]
    assert answerer.index.lexical.unknown_names("Which queen rules the honey bees colony?") == []
    # the penalty comes on top of the lost word coverage
    assert unknown.confidence < known.confidence - 0.3


def test_question_hinging_on_a_rare_word_the_sources_never_use_is_penalised(answerer):
    lexical = answerer.index.lexical
    assert lexical.unknown_terms("How do the honey bees use twine?") == ["twine"]
    # A common word the sources lack is a paraphrase; a non-word near one of theirs a typo;
    # a number is not a word.
    assert lexical.unknown_terms("How do honey bees react to flowers?") == []
    assert lexical.unknown_terms("How many honey bees live in a colny?") == []
    assert lexical.unknown_terms("Which rocket launched Apollo 13 in 1970?") == []
    assert lexical.unknown_terms("What does hive_max_bees set for ____?") == ["hive_max_bees"]
    question = "How do the honey bees use twine?"
    unpenalised = Answerer(
        answerer.index,
        answerer.retriever.embedder,
        RetrievalSettings(k=3),
        AnswerSettings(unknown_term_penalty=0),
    ).ask(question)
    penalised = answerer.ask(question)
    assert penalised.results[0].quote == unpenalised.results[0].quote
    assert penalised.confidence == pytest.approx(
        unpenalised.confidence - AnswerSettings().unknown_term_penalty
    )


def test_names_in_a_quote_leave_out_the_question_sentence_starts_and_stop_words():
    quote = "Participants wrote Python code. The tool of Jean-loup Gailly; I use it with Pip."
    assert names_in(quote, "Who wrote pip?") == ["Python", "Jean-loup", "Gailly"]


def test_who_question_whose_quote_names_no_one_is_penalised(answerer):
    lexical = answerer.index.lexical
    # The premise: Apollo and the Moon are this corpus's subject, Neil Armstrong is not.
    assert lexical.passage_share("Apollo") > SUBJECT_SHARE
    assert lexical.passage_share("Moon") > SUBJECT_SHARE
    assert lexical.passage_share("Armstrong") <= SUBJECT_SHARE

    def over(**answer):  # one marked sentence: its neighbour may name Neil Armstrong
        return Answerer(
            answerer.index,
            answerer.retriever.embedder,
            RetrievalSettings(k=3),
            AnswerSettings(max_quote_sentences=1, **answer),
        )

    strict, lenient = over(), over(answer_type_penalty=0)
    nobody = "Who launched the Saturn V rocket?"  # quoted: "...every crewed Apollo mission..."
    penalised, loose = strict.ask(nobody), lenient.ask(nobody)
    assert "Saturn V rocket launched" in penalised.results[0].quote
    assert penalised.confidence == pytest.approx(
        loose.confidence - AnswerSettings().answer_type_penalty
    )
    named = "Who was the first person to walk on the lunar surface?"  # Neil Armstrong
    assert strict.ask(named).confidence == pytest.approx(lenient.ask(named).confidence)
    # The same quote, asked as a what-question, costs nothing.
    what = "What launched every crewed Apollo mission?"
    assert strict.ask(what).confidence == pytest.approx(lenient.ask(what).confidence)


def test_a_question_in_the_sources_is_not_marked_as_the_answer(settings, fake_embedder):
    (settings.seeds_dir / "faq.txt").write_text(
        "Bee FAQ\n\n"
        "How do bees find far flowers?\n"  # a short line: the reader keeps it on its own
        "Scouts dance to show the way.\n",
        encoding="utf-8",
    )
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    answerer = Answerer(index, fake_embedder, RetrievalSettings(k=3), AnswerSettings())
    top = answerer.ask("How do bees find far flowers?").results[0]
    assert top.source == "faq.txt"
    assert top.quote == "Scouts dance to show the way."


def test_json_shape(answerer):
    data = answerer.ask("Where is Mount Etna?").to_json()
    json.dumps(data)
    assert set(data) == {"question", "answered", "results"}
    assert data["answered"] is True and data["results"]
    for r in data["results"]:
        assert set(r) == {
            *("title", "source", "passage", "quote", "score", "verifier", "start", "end"),
            *("page", "line_start", "line_end", "section", "url"),
        }
        assert isinstance(r["score"], float) and isinstance(r["start"], int)
        # A .txt file has lines but no pages, sections or URL.
        assert isinstance(r["line_start"], int) and r["line_end"] >= r["line_start"]
        assert r["page"] is None and r["section"] is None and r["url"] is None
        assert r["quote"] in r["passage"]


@pytest.mark.parametrize("bad", ["", "   \n\t ", "x" * 10_000])
def test_empty_whitespace_and_huge_questions_get_clear_errors(answerer, bad):
    with pytest.raises(QuestionError) as err:
        answerer.ask(bad)
    assert ("empty" in str(err.value)) or ("limit is 1,000" in str(err.value))


def test_clean_question_collapses_whitespace():
    assert clean_question("  who\n is   here? ", 100) == "who is here?"


def test_marked_quote_never_crosses_a_paragraph_break(tmp_path, fake_embedder):
    from .conftest import write_corpus

    text = (
        "Astronomers wait patiently. The comet returns every 76 years.\n\n"
        "Comet years are long years."
    )
    seeds = write_corpus(tmp_path / "seeds", {"p.txt": text})
    docs, _ = load_corpus(seeds)
    index, _ = build_index(docs, fake_embedder, ChunkingSettings(target_tokens=60))
    answerer = Answerer(index, fake_embedder, RetrievalSettings(), AnswerSettings())
    top = answerer.ask("How often does the comet return, in years?").results[0]
    # the next paragraph shares more words, but the mark stays inside the paragraph
    assert top.quote == "Astronomers wait patiently. The comet returns every 76 years."


def test_without_token_vectors_the_idf_coverage_confidence_decides(settings, fake_embedder):
    docs, _ = load_corpus(settings.seeds_dir)
    chunking = ChunkingSettings(target_tokens=20, token_vectors=False)
    index, _ = build_index(docs, fake_embedder, chunking)
    # The token bar is out of reach: only the coverage bar (0.6) can let an answer through.
    answer = AnswerSettings(min_confidence=100.0)
    answerer = Answerer(index, fake_embedder, RetrievalSettings(k=3), answer)
    question = "Who was the first person to walk on the lunar surface?"
    assert all(h.token_score is None for h in answerer.retriever.search(question, 3))
    known = answerer.ask(question)
    assert known.answered and known.results[0].source == "apollo.txt"
    assert not answerer.ask("What is the best recipe for lemon cheesecake?").answered


LIFT = (
    "# The chair lift\n\n"
    "The chair lift carries skiers from the valley station up to the summit ridge. "
    "Skiers ride the chair lift in pairs, facing the valley.\n"
)


@pytest.mark.parametrize(
    ("told", "answered"),
    [("", False), (" The ride from the valley station takes twelve minutes.", True)],
)
def test_asked_how_long_a_passage_telling_no_amount_is_declined(
    settings, fake_embedder, told, answered
):
    text = LIFT.rstrip() + told + "\n"
    question = "How long is the chair lift ride from the valley station?"
    checked = _value_checked(settings, fake_embedder, "lift.md", text, question)
    assert checked.answered is answered
    assert checked.results[0].source == "lift.md"  # declined, the passage is still shown


@pytest.mark.parametrize(
    ("passage", "none"),
    [
        ("The lift carries skiers up to the ridge.", True),
        ("The ride takes 12 minutes.", False),
        ("It restarts immediately.", False),
        ("Only a few complex molecules contain no oxygen.", False),
        ("It has been left undeveloped for decades.", False),
        ("Syncs once per hour.", False),
        ("It runs as many jobs as there are cores.", False),
    ],
)
def test_a_passage_tells_an_amount_even_loosely(passage, none):
    from bot.answer.wording import tells_no_amount

    assert tells_no_amount(passage) is none


LIFT_VERSIONS = (
    "# The chair lift controller\n\n"
    "The chair lift controller runs its firmware on the valley station's own computer and "
    "reads the speed of the chair lift cable every second.\n"
)


@pytest.mark.parametrize(
    ("told", "answered"),
    [
        ("", False),
        (" The controller needs firmware 4.2 or later.", True),
        (" It supports the two most recent releases of the firmware.", True),
    ],
)
def test_asked_which_version_a_passage_naming_none_is_declined(
    settings, fake_embedder, told, answered
):
    # "every second" tells an amount, so the amount check alone would let it through.
    text = LIFT_VERSIONS.rstrip() + told + "\n"
    question = "Which firmware version does the chair lift controller need?"
    checked = _value_checked(settings, fake_embedder, "controller.md", text, question)
    assert checked.answered is answered
    assert checked.results[0].source == "controller.md"


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Which version of Python do I need?", True),
        ("Since which release is the option deprecated?", True),
        ("How many workers does it start?", True),
        ("What port does the server listen on?", True),
        ("How do I check which version I have?", False),
        ("What version string does it print?", False),
    ],
)
def test_asks_for_quantity(question, asks):
    from bot.answer.wording import asks_for_quantity

    assert asks_for_quantity(question) is asks


LIFT_CHECK = (
    "# The chair lift controller\n\n"
    "The chair lift controller prints its firmware version when you run lift-ctl with the "
    "show-firmware flag on the valley station's computer.\n"
)


@pytest.mark.parametrize(
    "question",
    [
        "How do I check which firmware version the chair lift controller runs?",
        "How do I check which version of the firmware the chair lift controller runs?",
        "What does the firmware version command of the chair lift controller print?",
    ],
)
def test_asked_how_to_check_the_version_a_passage_without_one_answers(
    settings, fake_embedder, question
):
    # The answer is a command: no version, no digit, no amount at all in the passage.
    assert _value_checked(settings, fake_embedder, "controller.md", LIFT_CHECK, question).answered


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Which Python versions does the current release support?", True),
        ("What is the minimum Ninja version the current Meson requires?", True),
        ("What's the oldest macOS version that it still supports?", True),
        ("In which release will the legacy option be removed?", True),
        ("What version of Node do I need?", True),
        ("Which version control systems does it support?", False),
        ("Which version manager does the guide recommend?", False),
        ("What is the version file format?", False),
        ("What is the oldest version file it still reads?", False),
        ("How do I upgrade to the latest version?", False),
        ("Does the version file need a newline at the end?", False),
        ("What do the version numbers mean?", False),
        ("What does the version command print?", False),
        ("What is the version string format?", False),
        ("Which version specifiers does pip accept?", False),
        ("How do I check which version I have?", False),
        ("Where can I see what version of the server is running?", False),
        ("I need to know which Python version the package requires.", True),
    ],
)
def test_asks_for_version(question, asks):
    from bot.answer.wording import asks_for_version

    assert asks_for_version(question) is asks


@pytest.mark.parametrize(
    ("passage", "none"),
    [
        ("Install the latest version with pip.", True),
        ("It reads the speed of the cable every second.", True),
        ("Python 3.9 and newer are supported.", False),
        ("OpenSearch versions 2 and 3 are supported.", False),
        ("Requires Podman 3 or later.", False),
        ("Use the 2.x series.", False),
        ("Supported on macOS Sonoma (14) or higher.", False),
        ("Compatible with the two most recent versions of the following browsers.", False),
    ],
)
def test_a_passage_names_a_version(passage, none):
    from bot.answer.wording import tells_no_version

    assert tells_no_version(passage) is none


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
@pytest.mark.parametrize("unit", ["A.", "A-", "A+"])
def test_the_value_checks_read_a_long_passage_in_linear_time(unit):
    # A passage can hold one very long token (a key, a minified line): a name followed by a
    # number once backtracked over the rest of it, quadratic in its length (30 s here).
    from bot.answer.wording import tells_no_amount, tells_no_limit, tells_no_version

    def too_slow(*_):
        raise TimeoutError("quadratic")

    passage = unit * 50_000
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(5)  # a hang guard, not a timing: the checks take milliseconds
    try:
        assert tells_no_version(passage)
        assert tells_no_limit(passage)
        assert tells_no_amount(passage)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    ("told", "answered"),
    [
        ("", False),
        (" A cabin holds at most four skiers.", True),
        (" There is no limit on the number of cabins.", True),
    ],
)
def test_asked_for_a_limit_a_passage_telling_none_is_declined(
    settings, fake_embedder, told, answered
):
    text = (
        "# The cabins\n\nThe cabins of the chair lift leave the valley station with skiers "
        "every twelve seconds and carry them to the summit ridge." + told + "\n"
    )
    question = "Is there a maximum number of skiers in the cabins of the chair lift?"
    checked = _value_checked(settings, fake_embedder, "cabins.md", text, question)
    assert checked.answered is answered
    assert checked.results[0].source == "cabins.md"


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Is there a maximum number of HTML entry pages I can have?", True),
        ("Is there a size limit for the cache directory?", True),
        ("What's the max length of a label value?", True),
        ("Does the queue have a cap on pending messages?", True),
        ("How do I raise the limit?", False),
        ("Is there a way to limit the output?", False),
        ("How do I start it with a max heap of 2 GB?", False),
    ],
)
def test_asks_for_a_limit(question, asks):
    from bot.answer.wording import asks_for_limit

    assert asks_for_limit(question) is asks


@pytest.mark.parametrize(
    ("passage", "none"),
    [
        ("The cache directory is created on first use.", True),
        ("Snapshots are written next to the test file.", True),
        ("A label value may be at most 128 characters long.", False),
        ("There is no limit on the number of workers.", False),
        ("Up to 8 threads run at once.", False),
        ("Messages larger than 1 MB exceed the bound.", False),
        ("The pool size is capped at 10.", False),
    ],
)
def test_a_passage_tells_a_limit(passage, none):
    from bot.answer.wording import tells_no_limit

    assert tells_no_limit(passage) is none


def _answerer_over(settings, fake_embedder, **answer):
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    return Answerer(index, fake_embedder, RetrievalSettings(k=3), AnswerSettings(**answer))


def test_further_sources_are_listed_only_when_they_are_evidence_too(settings, fake_embedder):
    strict = _answerer_over(settings, fake_embedder)
    answer = strict.ask("Where is Mount Etna?", k=3)
    assert answer.answered and answer.results[0].source == "nested/volcano.txt"
    assert len(answer.results) == 1  # "Lava from Etna..." (0.62) and Apollo (0.0) are not evidence
    loose = _answerer_over(
        settings, fake_embedder, min_further_confidence=0.0, min_further_score=-100.0
    )
    assert len(loose.ask("Where is Mount Etna?", k=3).results) == 3  # the bars drop them


def test_a_further_source_that_retrieval_scores_low_is_not_listed(settings, fake_embedder):
    # Its own confidence passes (bar 0), but retrieval scored it far below the top: Apollo
    # (0.0) for a question about Etna is not evidence.
    answerer = _answerer_over(settings, fake_embedder, min_further_confidence=0.0)
    answer = answerer.ask("Where is Mount Etna?", k=3)
    assert answer.answered and answer.results[0].source == "nested/volcano.txt"
    assert all(r.score >= answerer.settings.min_further_score for r in answer.results[1:])
    assert "apollo.txt" not in [r.source for r in answer.results]


def test_a_bare_heading_is_never_a_further_source(settings, fake_embedder):
    (settings.seeds_dir / "headings.md").write_text(
        "# Mount Etna\n\n## Mount Etna in Sicily\n\n## Etna volcano\n", encoding="utf-8"
    )
    answerer = _answerer_over(
        settings, fake_embedder, min_further_confidence=0.0, min_further_score=-100.0
    )
    question = "Is Mount Etna in Sicily one of the most active volcanoes in Europe?"
    # The case: the headings file is among the best passages.
    assert "headings.md" in [c[0] for c in candidates(answerer, question, 3)]
    answer = answerer.ask(question, k=3)
    assert answer.answered and answer.results[0].source == "nested/volcano.txt"
    # The headings file ranks second, but a heading alone is no evidence.
    assert [r.source for r in answer.results].count("headings.md") == 0
    assert len(answer.results) == 3  # filled from further down instead


def _index_with(settings, fake_embedder, name: str, text: str, target_tokens: int):
    """The seeds with one more document, name holding text, cut into passages that size."""
    (settings.seeds_dir / name).write_text(text, encoding="utf-8")
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, ChunkingSettings(target_tokens=target_tokens))
    return index


def _value_checked(settings, fake_embedder, name: str, text: str, question: str) -> Answer:
    """The answer to question with answer.amount_check on, from the seeds and name holding
    text; first asserting the premise: with the check off, it is answered from name."""
    index = _index_with(settings, fake_embedder, name, text, 80)

    def ask(**answer):
        answerer = Answerer(index, fake_embedder, RetrievalSettings(k=3), AnswerSettings(**answer))
        return answerer.ask(question)

    unchecked = ask(amount_check=False)
    assert unchecked.answered and unchecked.results[0].source == name  # the premise
    return ask()


def _quote_of(settings, fake_embedder, name: str, text: str, question: str, **answer) -> str:
    index = _index_with(settings, fake_embedder, name, text, 80)
    answerer = Answerer(index, fake_embedder, RetrievalSettings(k=3), AnswerSettings(**answer))
    top = answerer.ask(question).results[0]
    assert top.source == name
    return top.quote


HEADED = (
    "# Disabling\n\n"
    "Disabled code stays disabled in every release notes entry.\n\n"
    "## Removing disabled code\n\n"
    "It goes away one minor release later.\n"
)


def test_the_marked_sentence_is_under_the_heading_that_asks_the_question(settings, fake_embedder):
    # One passage holds both sections; the first section's sentence shares more of the
    # question's words, but the answer sits under the heading that repeats the question.
    question = "When is disabled code removed?"
    # The fake embedder scores the first sentence higher than a model would: a weight of 2
    # shows the heading winning over it (the default, 1, is chosen on real documents).
    quote = _quote_of(settings, fake_embedder, "policy.md", HEADED, question, heading_weight=2)
    assert quote == "It goes away one minor release later."
    plain = _quote_of(settings, fake_embedder, "policy.md", HEADED, question, heading_weight=0)
    assert plain == "Disabled code stays disabled in every release notes entry."


FAQ = (
    "Bee FAQ\n\n"
    "Do bees sleep at night?\n"
    "Worker bees rest in the hive, bees far from flowers sleep too.\n\n"
    "How do bees find far flowers?\n"
    "Scouts dance to show the way.\n"
)


def test_the_marked_sentence_answers_the_faq_question_that_repeats_the_asker(
    settings, fake_embedder
):
    question = "How do bees find far flowers?"
    assert _quote_of(settings, fake_embedder, "faq.txt", FAQ, question, heading_weight=2) == (
        "Scouts dance to show the way."
    )
    plain = _quote_of(settings, fake_embedder, "faq.txt", FAQ, question, heading_weight=0)
    assert plain.startswith("Worker bees rest")


FAQ_WITH_INDEX = (
    "Comet FAQ\n\n"
    " 1. Basics\n"
    "  1.1 How often does the comet return?\n"
    "  1.2 How bright is the comet?\n"
    "  1.3 Where does the comet go?\n"
    " 2. Watching\n"
    "  2.1 When can I see the comet?\n\n"
    "1.1 How often does the comet return?\n\n"
    "It comes back every 76 years.\n"
)


def test_a_table_of_contents_is_never_quoted_before_a_passage_that_answers(settings, fake_embedder):
    # Small passages: the index is a passage of its own, and it shares more of the
    # question's words than the answer does.
    index = _index_with(settings, fake_embedder, "faq.txt", FAQ_WITH_INDEX, 24)
    answerer = Answerer(index, fake_embedder, RetrievalSettings(k=3), AnswerSettings())
    question = "How often does the comet return?"
    first = answerer.retriever.search(question, 1)[0]
    assert "1.2 How bright" in index.passage_text(first.passage)  # retrieval ranks it first
    top = answerer.ask(question).results[0]
    assert "1.2 How bright" not in top.passage
    assert top.quote == "It comes back every 76 years."


def test_contents_like_and_has_words():
    from bot.answer.wording import contents_like, has_words

    assert contents_like(FAQ_WITH_INDEX.split("\n\n")[1])
    assert contents_like("Intro ....... 3\nUsage ....... 7\nFAQ ........ 12\nIndex ...... 20")
    assert not contents_like("1. Download the file.\n2. Run it.\n3. Check it.\n4. Done.")
    assert not contents_like("How do I start?\nRun the tool.\nIt starts at once.\nThat is all.")
    assert not has_words("1.") and not has_words(".") and has_words("It is 76.")


INTRODUCED = (
    "# Moving\n\n"
    "Before removing the old install, record its packages with its own executable:\n\n"
    "```\nold-tool dump --file=packages.txt\n```\n\n"
    "Then remove the old folder.\n"
)


def test_a_sentence_ending_with_a_colon_is_marked_with_the_code_it_introduces(
    settings, fake_embedder
):
    question = "How do I record the old install's packages before removing it?"
    quote = _quote_of(settings, fake_embedder, "moving.md", INTRODUCED, question)
    assert quote.startswith("Before removing the old install")
    assert quote.endswith("old-tool dump --file=packages.txt")


def test_where_no_block_is_known_the_line_after_the_colon_is_marked_with_it(
    settings, fake_embedder
):
    # Plain text (and a PDF) marks no code blocks: the command is a line of its own.
    text = INTRODUCED.replace("# Moving", "Moving").replace("```\n", "")
    question = "How do I record the old install's packages before removing it?"
    quote = _quote_of(settings, fake_embedder, "moving.txt", text, question)
    assert quote.startswith("Before removing the old install")
    assert quote.endswith("old-tool dump --file=packages.txt")


EXPLAINED = (
    "# Quiet installs\n\n"
    "Badges are shown after each install by default.\n\n"
    "```\nexport TOOL_NO_BADGE=1\n```\n\n"
    "This hides the badge that installs print when they finish.\n"
)


def test_a_sentence_pointing_back_is_marked_with_the_code_it_explains(settings, fake_embedder):
    # "This hides the badge…" answers the question, but the command above it is what it means:
    # quoted alone it names nothing to run.
    question = "How do I hide the badge that installs print when they finish?"
    quote = _quote_of(settings, fake_embedder, "quiet.md", EXPLAINED, question)
    assert quote.startswith("export TOOL_NO_BADGE=1")
    assert quote.endswith("when they finish.")


NOEXEC = (
    "# Portable binary\n\n"
    "Unpacking needs a folder. It fails when tmp is mounted noexec. "
    "Then set TEMP so the binary can do it elsewhere.\n"
)


def test_a_problem_told_in_the_first_person_is_answered_by_what_follows_its_restatement(
    settings, fake_embedder
):
    # The document restates the asker's problem, then answers it in the next sentence, which
    # shares fewer of the question's words.
    told = "My binary fails because tmp is mounted noexec. What can I do?"
    quote = _quote_of(
        settings,
        fake_embedder,
        "binary.md",
        NOEXEC,
        told,
        follow_weight=0.5,
        max_quote_sentences=1,
    )
    assert quote == "Then set TEMP so the binary can do it elsewhere."
    plain = _quote_of(
        settings,
        fake_embedder,
        "binary.md",
        NOEXEC,
        told,
        follow_weight=0,
        max_quote_sentences=1,
    )
    assert plain == "It fails when tmp is mounted noexec."
    # Asked as a fact, not a situation, the sentence that states it is marked.
    asked = "When does the binary fail because tmp is mounted noexec?"
    assert (
        _quote_of(
            settings,
            fake_embedder,
            "binary.md",
            NOEXEC,
            asked,
            follow_weight=0.5,
            max_quote_sentences=1,
        )
        == "It fails when tmp is mounted noexec."
    )


HANG = (
    "# Hanging lookups\n\n"
    "Lookups hang after the results come back. "
    "The backend never watches its second socket, so the lookup waits for ever. "
    "As a workaround, turn off referral chasing in the configuration.\n"
)


def test_asked_for_a_way_out_the_sentence_offering_one_is_marked(settings, fake_embedder):
    # The account of the problem shares more of the question's words than its remedy does.
    question = "Lookups hang. How do I get around it?"

    def quote(**answer):
        return _quote_of(
            settings,
            fake_embedder,
            "hang.md",
            HANG,
            question,
            max_quote_sentences=1,
            heading_weight=2,  # the scenario's: the heading's words count twice
            **answer,
        )

    assert quote() == "As a workaround, turn off referral chasing in the configuration."
    assert quote(cue_weight=0).startswith("The backend never watches its second socket")


OVERRIDES = (
    "# Project overrides\n\n"
    "A project override pins the toolchain for the project and everything under it. "
    "Run the show command to see which project override is active. "
    "Each project override is stored in a settings file in the tool's home.\n"
)


RETRIES = (
    "# Retries\n\n"
    "The proxy retries a failed request when the retry limit allows it. "
    "If the limit is unspecified, a failed request is retried once.\n"
)


PROXY_AUTH = (
    "# Proxy authentication\n\n"
    "The auth option asks the user for credentials before the proxy forwards a request. "
    "For now, the scheme supported is Basic alone, Digest is not.\n"
)


PODS = (
    "# Open files\n\n"
    "Pods on a cluster of several nodes crash with too many open files. "
    "Too many open files may be caused by running out of inotify watches.\n"
)


RESOLVER = (
    "# Resolver\n\n"
    "The option chooses the resolver that picks versions. "
    "By default the resolver is backtracking: the legacy one is gone.\n"
)


@pytest.mark.parametrize(
    ("name", "text", "question", "shaped", "plain"),
    [
        # Asked where: the fake embedder reads the first sentence much closer to the question
        # than a model would; a weight above the default shows the place form winning.
        (
            "overrides.md",
            OVERRIDES,
            "Where is a project override kept?",
            "Each project override is stored in a settings file in the tool's home.",
            "A project override pins the toolchain",
        ),
        # Asked how many: documentation names the setting in one sentence and gives its value
        # in the next; the fake embedder reads the sentences naming it closer to the question.
        (
            "retries.md",
            RETRIES,
            "How many times does the proxy retry a failed request?",
            "If the limit is unspecified, a failed request is retried once.",
            "The proxy retries a failed request",
        ),
        # Asked yes or no: the sentence describing the feature shares more of the question's
        # words than the one saying it does not do what was asked.
        (
            "proxy.md",
            PROXY_AUTH,
            "I run the proxy for a team. Can the auth option ask for Digest credentials?",
            "For now, the scheme supported is Basic alone, Digest is not.",
            "The auth option asks the user for credentials",
        ),
        # Asked for a default: the sentence describing the setting shares more of the
        # question's words than the one giving its default value.
        (
            "resolver.md",
            RESOLVER,
            "Which resolver picks versions if I don't pass the option?",
            "By default the resolver is backtracking: the legacy one is gone.",
            "The option chooses the resolver that picks versions.",
        ),
        # Asked for a cause: the sentence restating the symptom shares more of the question's
        # words than the one naming its cause.
        (
            "pods.md",
            PODS,
            "Why do pods crash with too many open files?",
            "Too many open files may be caused by running out of inotify watches.",
            "Pods on a cluster of several nodes crash",
        ),
    ],
)
def test_the_sentence_of_the_answers_form_gains(
    settings, fake_embedder, name, text, question, shaped, plain
):
    def quote(weight: float) -> str:
        return _quote_of(
            settings,
            fake_embedder,
            name,
            text,
            question,
            max_quote_sentences=1,
            cue_weight=weight,
        )

    assert quote(0.6) == shaped
    assert quote(0).startswith(plain)


@pytest.mark.parametrize(
    ("question", "sentence", "shaped"),
    [
        ("Where is that setting saved?", "Overrides are stored in a configuration file.", True),
        ("Where does the man page end up?", "Installs to ~/.local/share/man/man1/tox.1", True),
        ("Where is it?", "It is a tool for toolchains.", False),
        ("What does it store?", "Overrides are stored in a configuration file.", False),
        ("Any workaround?", "You can set TEMP instead.", True),
        ("How many workers does it start?", "By default it starts four workers.", True),
        ("How long does it wait?", "The default timeout is 30 seconds.", True),
        ("How often does it sync?", "Full scans are done once per hour.", True),
        ("How many jobs run at once?", "It runs as many jobs as there are cores.", True),
        ("Since which version is it on?", "Added in 3.3.0.", True),
        ("How many workers does it start?", "Workers take tasks from the queue.", False),
        ("What does it store?", "It stores 3 files.", False),
        ("Can it use Digest?", "Only Basic authentication is supported.", True),
        ("I set it in .env. Does it read the file?", "It does not read .env files.", True),
        ("Can it use Digest?", "It asks for credentials first.", False),
        ("Can it use Digest, and which schemes does it support?", "Only Basic is.", False),
        ("Which schemes are not supported?", "Digest is not supported.", False),
        ("Which resolver is used if I don't pass one?", "The default is backtracking:", True),
        ("Is stripping off by default now?", "It now defaults to False.", True),
        ("What does it print out of the box?", "Default: the summary.", True),
        ("Which resolver is used if I don't pass one?", "The default resolver is faster.", False),
        ("Which resolver is used if I don't pass one?", "The default depends on the OS.", False),
        ("My build dir keeps the old standard. Why?", "This is because it is read once.", True),
        ("What's the likely cause?", "This may be caused by running out of watches.", True),
        ("Why does it hang?", "It hangs on the second socket.", False),
        ("How does it hang?", "It hangs because of the second socket.", False),
        ("Which resolver does it use?", "The default is `backtracking`.", False),
    ],
)
def test_a_sentence_has_the_form_of_an_answer_to_the_questions_kind(question, sentence, shaped):
    from bot.answer.wording import answer_forms

    assert any(form(sentence) for form in answer_forms(question)) is shaped


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Can the auth option use Digest?", True),
        ("I loaded it with -s. Do I have to restart it?", True),
        ("Inside my config hook, can I change the value?", True),
        ("If I turn off the JIT, are my functions still compiled?", True),
        ("When I run it twice, does it keep the cache?", True),  # "when" sets the scene
        ("Is the tracer the right tool to find out why it is slow?", False),  # asks why
        ("Can it update several at once, and how many by default?", False),
        ("Which resolver does it use?", False),
        ("The cache is large. Where is it stored?", False),
        ("Is it enabled? I could not tell from the docs.", True),  # the last question
    ],
)
def test_a_question_is_answered_yes_or_no(question, asks):
    from bot.answer.wording import asks_yes_or_no

    assert asks_yes_or_no(question) is asks


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Any workaround?", True),
        ("How do I avoid that?", True),
        ("How can we fix the build?", True),
        ("Can I point it elsewhere?", True),
        ("How do lookups work?", False),
        ("Why does the lookup hang?", False),
        ("What is the default timeout?", False),
    ],
)
def test_a_question_asks_for_a_remedy(question, asks):
    from bot.answer.wording import asks_for_remedy

    assert asks_for_remedy(question) is asks


@pytest.mark.parametrize(
    ("sentence", "offers"),
    [
        ("As a temporary workaround, disable referrals chasing by configuration.", True),
        ("You can change the temporary directory by setting TEMP.", True),
        ("Switching from fork to spawn will avoid the issue.", True),
        ("The backend never watches its second socket.", False),
        ("It fails when tmp is mounted noexec.", False),
    ],
)
def test_a_sentence_offers_a_remedy(sentence, offers):
    from bot.answer.wording import offers_remedy

    assert offers_remedy(sentence) is offers


@pytest.mark.parametrize(
    ("question", "told"),
    [
        ("Can I point it elsewhere?", True),
        ("How do I install it?", True),
        ("My build fails. Why?", True),
        ("I'm behind a proxy; what now?", True),
        ("Why, when I run it, does it stop?", True),
        ("Who did Alexander I marry?", False),  # a numeral
        ("What is I/O?", False),
        ("What is the US capital?", False),
        ("When does the binary fail?", False),
    ],
)
def test_a_question_tells_a_situation_when_it_speaks_of_its_asker(question, told):
    from bot.answer.wording import tells_a_situation

    assert tells_a_situation(question) is told


TERMS = (
    "# Variables\n\n"
    "Proxy settings come first. The cache lives in the home folder. "
    "FETCH_TIMEOUT (default: 180). Overrides the timeout of each fetch in seconds. "
    "FETCH_JOBS (default: 2). Sets how many fetches run at once.\n"
)


def test_a_passage_cut_inside_a_paragraph_may_mark_the_sentence_before_it(settings, fake_embedder):
    index = _index_with(settings, fake_embedder, "vars.md", TERMS, 12)
    answerer = Answerer(index, fake_embedder, RetrievalSettings(k=3), AnswerSettings())
    question = "What is the default timeout of a fetch?"
    # The case: a passage opens with the description; its term ended the passage before.
    opens = [
        i
        for i in range(len(index.passages))
        if index.passage_text(i).startswith("Overrides the timeout")
    ]
    assert len(opens) == 1
    hit = next(h for h in answerer.retriever.search(question, 20) if h.passage == opens[0])
    qv = answerer.retriever.encode([question])[0][0]
    src = answerer.quote(hit, answerer.term_weights(question), qv, 2, reach=True)
    assert src.quote == (
        "FETCH_TIMEOUT (default: 180). Overrides the timeout of each fetch in seconds."
    )
    # Shown with the passage, which now starts at the sentence marked before it.
    assert src.passage.startswith("FETCH_TIMEOUT (default: 180).")
    assert src.start == src.quote_start < index.passages[opens[0]].start


SECTION = (
    "# Guide\n\n"
    "## Crashes on start\n\n"
    "Workers crash with a fork error on start. The runtime started before the fork. "
    "Logs show nothing more. Use spawn workers to avoid the crash.\n\n"
    "## Memory\n\n"
    "Spawn workers avoid the crash but cost more memory.\n"
)


def test_the_top_passage_may_mark_a_sentence_after_it_under_its_heading(settings, fake_embedder):
    index = _index_with(settings, fake_embedder, "guide.md", SECTION, 12)
    question = "How do I avoid the crash with spawn workers?"
    # The case: a passage holds the section's heading and problem, the answer comes after it.
    [cut] = [
        i
        for i in range(len(index.passages))
        if index.passage_text(i).endswith("Logs show nothing more.")
    ]
    qv = fake_embedder.embed([question])[0]

    def quote(reach_forward: int):
        answerer = Answerer(
            index,
            fake_embedder,
            RetrievalSettings(k=3),
            AnswerSettings(reach_forward=reach_forward),
        )
        hit = next(h for h in answerer.retriever.search(question, 20) if h.passage == cut)
        marked = [index.sentence_text(j) for j in answerer.markable(cut)]
        return answerer.quote(hit, answerer.term_weights(question), qv, 1, reach=True), marked

    src, marked = quote(3)
    assert src.quote == "Use spawn workers to avoid the crash."
    # Shown with the passage, which now ends at the sentence marked after it.
    assert src.passage.endswith("Use spawn workers to avoid the crash.")
    assert src.end == src.quote_end > index.passages[cut].end
    # Never past the next heading, though its section repeats the question's words.
    assert not any("memory" in m for m in marked)
    src, marked = quote(0)
    assert "spawn" not in src.quote and not any("spawn" in m for m in marked)
    assert src.end == index.passages[cut].end
