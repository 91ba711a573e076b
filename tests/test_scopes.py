"""[[scopes]]: settings, the passage mask, and answers that see only what the asker may read."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bot.answer.batching import ask_many
from bot.answer.compose import Answerer
from bot.config import Scope, load_settings, settings_from_dict
from bot.errors import ConfigError
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index
from bot.search.lexical import LENGTHS, LexicalIndex
from bot.search.scopes import PUBLIC, passage_mask, readable_documents
from tests.conftest import DOCS, write_corpus

MARKER = "ZQX-PELICAN-7731"
STAFF = {
    "staff/runbook.md": (
        "# Rotating the vault key\n\n"
        f"The vault key for the honey bees colony database is {MARKER}. "
        "Rotate the vault key every ninety days from the staff console."
    ),
}
SCOPES = [{"name": "staff", "folders": ["staff"], "roles": ["Staff"], "channels": ["staff-room"]}]


def scoped_settings(tmp_path: Path, scopes=None):
    write_corpus(tmp_path / "seeds")
    write_corpus(tmp_path / "seeds", STAFF)
    return settings_from_dict(
        {
            "cache_dir": str(tmp_path / "cache"),
            "chunking": {"target_tokens": 20},
            "scopes": SCOPES if scopes is None else scopes,
        },
        tmp_path,
    )


def answerer_for(settings, embedder, docs=None):
    documents, _ = load_corpus(settings.seeds_dir)
    if docs is not None:
        documents = [d for d in documents if d.source in docs]
    index, _ = build_index(documents, embedder, settings.chunking)
    return Answerer(index, embedder, settings.retrieval, settings.answer, scopes=settings.scopes)


# Settings


def test_scopes_are_read_with_ids_or_names(tmp_path):
    settings = scoped_settings(
        tmp_path,
        [{"name": "staff", "folders": ["staff/"], "roles": [123, "Staff"], "dm": True}],
    )
    (scope,) = settings.scopes
    assert scope == Scope("staff", ("staff",), roles=(123, "Staff"), dm=True)
    assert scope.holds("staff/runbook.md") and not scope.holds("staffing.md")


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ([{"name": "x"}], "scopes[0] (x).folders must be a list"),
        ([{"folders": ["staff"]}], "scopes[0].name must be a non-empty string"),
        ([{"name": "x", "folders": ["../etc"]}], "must be a folder inside seeds_dir"),
        ([{"name": "x", "folders": ["staff"], "roles": [True]}], "roles must be a list of ids"),
        ([{"name": "x", "folders": ["staff"], "colour": 1}], "Unknown setting scopes[0].colour"),
        (
            [{"name": "x", "folders": ["staff"]}, {"name": "x", "folders": ["ops"]}],
            "the name 'x' is used twice",
        ),
        (
            [
                {"name": "a", "folders": ["staff"], "roles": ["Staff"]},
                {"name": "b", "folders": ["staff/secret"], "roles": ["Admin"]},
            ],
            "scopes 'a' and 'b' both match the documents in 'staff/secret' with different rules",
        ),
    ],
)
def test_bad_scopes_name_the_problem(tmp_path, scopes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from_dict({"scopes": scopes}, tmp_path)


def test_two_scopes_with_the_same_rules_may_share_a_folder(tmp_path):
    same = {"roles": ["Staff"]}
    settings = settings_from_dict(
        {
            "scopes": [
                {"name": "a", "folders": ["staff"], **same},
                {"name": "b", "folders": ["staff/ops"], **same},
            ]
        },
        tmp_path,
    )
    assert [s.name for s in settings.scopes] == ["a", "b"]


def test_a_scope_folder_that_does_not_exist_stops_the_start(tmp_path):
    write_corpus(tmp_path / "seeds")
    config = tmp_path / "config.toml"
    config.write_text('[[scopes]]\nname = "staff"\nfolders = ["stafff"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="scope 'staff': the folder 'stafff' does not exist"):
        load_settings(config)


# The mask


def test_documents_in_no_scope_are_public_and_scoped_ones_need_their_scope():
    scopes = (Scope("staff", ("staff",)), Scope("ops", ("ops",)))
    sources = ["a.md", "staff/x.md", "ops/y.md", "staffing.md"]
    assert readable_documents(sources, scopes, PUBLIC).tolist() == [True, False, False, True]
    assert readable_documents(sources, scopes, frozenset({"ops"})).tolist() == [
        True,
        False,
        True,
        True,
    ]
    assert readable_documents(sources, scopes, None).all()  # the owner
    docs = np.array([0, 0, 1, 2, 3])
    assert passage_mask(sources, docs, scopes, frozenset({"staff", "ops"})) is None
    assert passage_mask(sources, docs, scopes, PUBLIC).tolist() == [True, True, False, False, True]


# Answers


def all_text(answer) -> str:
    return repr(answer.to_json()) + repr(answer)


def test_an_outsider_never_gets_a_scoped_passage(tmp_path, fake_embedder):
    settings = scoped_settings(tmp_path)
    answerer = answerer_for(settings, fake_embedder)
    question = "What is the vault key for the honey bees colony database?"
    insider = answerer.for_scopes(frozenset({"staff"})).ask(question)
    assert insider.results and MARKER in insider.results[0].passage  # it is findable
    outsider = answerer.for_scopes(PUBLIC).ask(question, 10)
    assert MARKER not in all_text(outsider)
    assert all(not r.source.startswith("staff/") for r in outsider.results)
    # ask_many (the Discord path) with one insider and one outsider in the same batch
    both = ask_many(answerer, [question, question], 10, readable=[frozenset({"staff"}), PUBLIC])
    assert MARKER in all_text(both[0]) and MARKER not in all_text(both[1])


def test_a_scoped_answer_equals_the_answer_of_an_index_without_the_scoped_documents(
    tmp_path, fake_embedder
):
    """Nothing of a kept document shapes the outsider's answer: not the ranking, the scores'
    scaling, the idf, the vocabulary of the penalties, or the decline decision."""
    settings = scoped_settings(tmp_path)
    full = answerer_for(settings, fake_embedder).for_scopes(PUBLIC)
    public = answerer_for(settings, fake_embedder, docs=set(DOCS))
    for question in [
        "How many bees can a colony hold?",
        "Who walked on the Moon first?",
        "What is the vault key of the colony database?",
        "Which rocket launched Apollo?",
        "What is ZQX?",
    ]:
        a, b = full.ask(question, 3), public.ask(question, 3)
        assert [(r.source, r.start, r.quote) for r in a.results] == [
            (r.source, r.start, r.quote) for r in b.results
        ]
        assert a.answered == b.answered
        assert a.confidence == pytest.approx(b.confidence, abs=1e-5)
        assert full.lexical.idf(["vault", "bee"]) == pytest.approx(
            public.lexical.idf(["vault", "bee"])
        )
        assert full.lexical.unknown_terms(question) == public.lexical.unknown_terms(question)
        assert full.lexical.unknown_names(question) == public.lexical.unknown_names(question)


def test_a_long_scoped_document_does_not_change_an_outsiders_scores(tmp_path, fake_embedder):
    """BM25's length normalisation divides by the average passage length: a long kept
    document once moved the outsider's scores (1.3461 became 1.3382 here)."""
    settings = scoped_settings(tmp_path)
    note = " ".join(f"Operational note {i} about rotating shards and replicas." for i in range(60))
    write_corpus(tmp_path / "seeds", {"staff/notes.md": f"# Notes\n\n{note}"})
    full = answerer_for(settings, fake_embedder).for_scopes(PUBLIC)
    public = answerer_for(settings, fake_embedder, docs=set(DOCS))
    for question in ["How many bees can a colony hold?", "Which rocket launched Apollo?"]:
        a, b = full.ask(question, 3), public.ask(question, 3)
        assert [(r.source, r.start) for r in a.results] == [(r.source, r.start) for r in b.results]
        assert [r.score for r in a.results] == pytest.approx([r.score for r in b.results], abs=1e-5)
        # BM25 of every public passage, words and word pairs, as in the index without them
        keep = full.retriever.allowed
        for scores in ("scores", "phrase_scores"):
            got = getattr(full.lexical, scores)(question)[keep]
            want = getattr(public.lexical, scores)(question)
            assert got == pytest.approx(want, abs=1e-5), scores


def test_an_index_saved_without_passage_lengths_still_restricts(tmp_path, fake_embedder):
    """An index written before passage lengths were kept: the idf is restricted (the length
    normalisation waits for the next update), and the lengths round-trip once saved."""
    settings = scoped_settings(tmp_path)
    answerer = answerer_for(settings, fake_embedder)
    lexical = answerer.index.lexical
    lexical.save(tmp_path / "bm25")
    back = LexicalIndex.load(tmp_path / "bm25", lexical.size)
    assert back.lengths is not None and (back.lengths == lexical.lengths).all()
    assert back.phrase_lengths is not None
    (tmp_path / "bm25" / LENGTHS).write_bytes(b"not an array")
    assert LexicalIndex.load(tmp_path / "bm25", lexical.size).lengths is None
    (tmp_path / "bm25" / LENGTHS).unlink()
    old = LexicalIndex.load(tmp_path / "bm25", lexical.size)
    assert old.lengths is None
    mask = passage_mask(
        [d.source for d in answerer.index.documents],
        answerer.index.passages.doc,
        settings.scopes,
        PUBLIC,
    )
    assert mask is not None
    question = "How many bees can a colony hold?"
    scores = old.restricted(mask).scores(question)
    assert (scores[~mask] == -1).all() and scores[mask].max() > 0
    assert old.restricted(mask).idf(["vault"]) == pytest.approx(
        lexical.restricted(mask).idf(["vault"])
    )


def test_the_owner_and_the_insider_see_everything(tmp_path, fake_embedder):
    settings = scoped_settings(tmp_path)
    answerer = answerer_for(settings, fake_embedder)
    assert answerer.for_scopes(None) is answerer
    assert answerer.for_scopes(frozenset({"staff"})) is answerer  # nothing kept: no copy
    assert answerer.for_scopes(PUBLIC) is answerer.for_scopes(frozenset())  # made once
    sources = [answerer.index.documents[i].source for i in answerer.readable_documents(PUBLIC)]
    assert "staff/runbook.md" not in sources and len(sources) == len(DOCS)


def test_an_asker_who_may_read_nothing_gets_a_decline(tmp_path, fake_embedder):
    settings = scoped_settings(tmp_path, [{"name": "all", "folders": ["."]}])
    answer = answerer_for(settings, fake_embedder).for_scopes(PUBLIC).ask("Who walked on the Moon?")
    assert not answer.answered and not answer.results


# The command line: the owner sees everything; --scope asks as a place


def test_ask_with_scope_answers_as_that_place(tmp_path, use_fake, capsys):
    from bot.cli import main
    from tests.test_cli import write_config

    write_corpus(tmp_path / "seeds")
    write_corpus(tmp_path / "seeds", STAFF)
    cfg = write_config(tmp_path, '\n[[scopes]]\nname = "staff"\nfolders = ["staff"]\n')
    question = "What is the vault key for the honey bees colony database?"
    runs = {}
    for scope in ([], ["--scope", "public"], ["--scope", "staff"]):
        assert main(["ask", question, "--json", "-k", "5", "--config", cfg, *scope]) == 0
        runs[" ".join(scope)] = capsys.readouterr().out
    assert MARKER in runs[""] and MARKER in runs["--scope staff"]  # the owner; the staff
    assert MARKER not in runs["--scope public"] and "runbook" not in runs["--scope public"]
    assert main(["ask", question, "--scope", "stafff", "--config", cfg]) == 1
    err = capsys.readouterr().err
    assert err == "error: --scope stafff: no such scope in the config (staff)\n"


def test_the_approximate_path_draws_candidates_among_the_allowed_passages(
    tmp_path, use_fake, monkeypatch
):
    from bot.app import rebuild
    from bot.search import dense as dense_module
    from bot.search.ann import FLOOR
    from bot.search.dense import dense_scores
    from bot.search.store import Index

    write_corpus(tmp_path / "seeds")
    write_corpus(tmp_path / "seeds", STAFF)
    settings = settings_from_dict(
        {
            "cache_dir": str(tmp_path / "cache"),
            "chunking": {"target_tokens": 20},
            "retrieval": {"backend": "usearch", "candidates": 2},
        },
        tmp_path,
    )
    rebuild(settings, use_fake, progress=False)
    index = Index.load(settings.index_dir)
    staff = np.array([index.documents[d].source.startswith("staff/") for d in index.passages.doc])
    q = use_fake.embed(["vault key colony database"])[0]
    lexical = np.zeros(len(index), np.float32)
    for exact_rows in (10**6, 0):  # a small scope scored exactly; a large one through the ANN
        monkeypatch.setattr(dense_module, "SCOPED_EXACT_ROWS", exact_rows)
        dense, _ = dense_scores(index, q, settings.retrieval, lexical, allowed=~staff)
        assert (dense[staff] == FLOOR).all() and (dense[~staff] > FLOOR).sum() >= 2


def test_an_index_update_never_widens_a_scope(tmp_path, use_fake):
    from bot.app import answer_from, rebuild

    settings = scoped_settings(tmp_path)
    first, _ = rebuild(settings, use_fake, progress=False)
    write_corpus(
        tmp_path / "seeds", {"staff/new.md": "The new staff door code is QWX-OSPREY-4410."}
    )
    updated, _ = rebuild(settings, use_fake, previous=first, progress=False)
    answerer = answer_from(updated, use_fake, settings).answerer
    outsider = answerer.for_scopes(PUBLIC).ask("What is the new staff door code?", 10)
    assert "OSPREY" not in all_text(outsider)
    assert "OSPREY" in all_text(
        answerer.for_scopes(frozenset({"staff"})).ask("new staff door code?")
    )
