import io
import json
import logging
from pathlib import Path

import pytest

from bot.cli import main

from .conftest import FakeEmbedder, write_corpus


def write_config(tmp_path, extra: str = "") -> str:
    path = tmp_path / "config.toml"
    path.write_text(
        'seeds_dir = "seeds"\nindex_dir = "embeddings"\ncache_dir = "cache"\n\n'
        f"[chunking]\ntarget_tokens = 20\n{extra}",
        encoding="utf-8",
    )
    return str(path)


def test_index_then_ask_json(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    assert main(["index", "--config", cfg]) == 0
    assert "Indexed 3 documents: embedded 3" in capsys.readouterr().out
    assert main(["ask", "Where is Mount Etna?", "--json", "-k", "2", "--config", cfg]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answered"] is True
    assert data["results"][0]["source"] == "nested/volcano.txt"
    # -k caps the sources; further ones appear only when they are evidence too (none here).
    assert len(data["results"]) == 1
    # With both further bars down, a second source shows (the top passage, shown to the
    # sentence it marks, holds the whole of volcano.txt: the other source is another file).
    cfg_loose = write_config(
        tmp_path, "\n[answer]\nmin_further_confidence = 0.0\nmin_further_score = -10.0\n"
    )
    assert main(["ask", "Where is Mount Etna?", "--json", "-k", "2", "--config", cfg_loose]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == 2


def test_second_index_reuses_unchanged_documents(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    main(["index", "--config", cfg])
    (tmp_path / "seeds" / "bees.md").write_text("# Bees\n\nBees make wax.", encoding="utf-8")
    main(["index", "--config", cfg])
    out = capsys.readouterr().out.splitlines()[-1]
    assert "embedded 1" in out and "reused 2" in out


def test_ask_builds_a_missing_index_itself(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    assert main(["ask", "Who walked on the Moon first?", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "Apollo Program" in out and "Neil Armstrong" in out


def test_ask_updates_a_stale_index(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    main(["index", "--config", cfg])
    capsys.readouterr()
    (tmp_path / "seeds" / "tea.txt").write_text(
        "Green tea is made from the leaves of the tea plant Camellia sinensis.", encoding="utf-8"
    )
    assert main(["ask", "Which plant gives green tea?", "--json", "--config", cfg]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["source"] == "tea.txt"


def test_ask_stdin_answers_each_line_as_json(tmp_path, settings, use_fake, capsys, monkeypatch):
    cfg = write_config(tmp_path)
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("Where is Mount Etna?\n\n   \nWho rules a bee colony?\n")
    )
    assert main(["ask", "-", "--json", "--config", cfg]) == 1  # two lines were errors
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # One output line per input line, so outputs line up with inputs: errors for empty ones.
    assert [x["question"] for x in lines] == [
        "Where is Mount Etna?",
        "",
        "",
        "Who rules a bee colony?",
    ]
    assert [("error" in x) for x in lines] == [False, True, True, False]
    assert "empty" in lines[1]["error"]
    assert use_fake.calls  # the questions were embedded by the fake, no model was loaded


def test_empty_question_is_a_clear_error(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    assert main(["ask", "   ", "--config", cfg]) == 1
    assert "error: Please ask a question" in capsys.readouterr().err


def test_huge_question_is_a_clear_error(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    assert main(["ask", "why " * 2500, "--json", "--config", cfg]) == 1
    out = json.loads(capsys.readouterr().out)
    assert "limit" in out["error"]


def test_missing_seeds_folder_is_a_clear_error(tmp_path, use_fake, capsys):
    cfg = write_config(tmp_path)
    assert main(["index", "--config", cfg]) == 1
    err = capsys.readouterr().err
    assert "seeds" in err and "does not exist" in err


def test_bad_setting_names_the_key(tmp_path, capsys):
    cfg = write_config(tmp_path, "\n[retrieval]\nk = 0\n")
    assert main(["ask", "hi", "--config", cfg]) == 1
    assert "retrieval.k must be at least 1" in capsys.readouterr().err


def test_unknown_setting_is_named(tmp_path, capsys):
    cfg = write_config(tmp_path, "\n[answer]\nthreshold = 3\n")
    assert main(["index", "--config", cfg]) == 1
    assert "Unknown setting answer.threshold" in capsys.readouterr().err


def test_missing_config_file_is_named(tmp_path, capsys):
    assert main(["index", "--config", str(tmp_path / "nope.toml")]) == 1
    assert "nope.toml does not exist" in capsys.readouterr().err


def test_k_below_one_is_refused(capsys):
    assert main(["ask", "hi", "-k", "0"]) == 2
    assert "-k must be at least 1" in capsys.readouterr().err


def test_corrupt_index_is_rebuilt_by_ask(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    main(["index", "--config", cfg])
    capsys.readouterr()
    live = tmp_path / "embeddings" / (tmp_path / "embeddings" / "CURRENT").read_text().strip()
    (live / "passage_vectors.npy").write_bytes(b"\x93NUMPY garbage")
    assert main(["ask", "Where is Mount Etna?", "--json", "--config", cfg]) == 0
    assert json.loads(capsys.readouterr().out)["answered"] is True


def test_eval_reports_metrics_as_json(tmp_path, use_fake, capsys):
    cfg = write_config(tmp_path)
    passages = tmp_path / "p.jsonl"
    passages.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "p1", "title": "Moon", "text": "Neil Armstrong walked on the Moon in 1969."},
                {"id": "p2", "title": "Bees", "text": "A queen bee rules the hive of honey bees."},
                {"id": "p3", "title": "Etna", "text": "Mount Etna is a volcano in Sicily."},
            ]
        ),
        encoding="utf-8",
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "question": "Who walked on the Moon?",
                    "gold": ["p1"],
                    "answers": ["Neil Armstrong"],
                },
                {"question": "Where is the volcano Etna?", "gold": ["p3"], "answers": ["Sicily"]},
                {"question": "What is the best cheesecake recipe?", "answerable": False},
            ]
        ),
        encoding="utf-8",
    )
    args = [
        "eval",
        "--passages",
        str(passages),
        "--questions",
        str(questions),
        "--json",
        "--config",
        cfg,
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["recall@1"] == 1.0 and result["mrr@10"] == 1.0
    assert result["answer_in_quote@1"] == 1.0
    assert result["declined_unanswerable"] == 1.0
    assert set(result) >= {"recall@5", "recall@20", "answer_in_passage@1", "wrongly_declined"}
    calls = list(use_fake.calls)
    assert main(args) == 0  # second run: index and question encodings come from the cache
    assert json.loads(capsys.readouterr().out) == result
    assert use_fake.calls[len(calls) :] == []


def test_eval_names_a_bad_question_file(tmp_path, use_fake, capsys):
    cfg = write_config(tmp_path)
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok"}\n{not json\n', encoding="utf-8")
    assert main(["eval", "--passages", str(bad), "--questions", str(bad), "--config", cfg]) == 1
    assert "q.jsonl:2 is not valid JSON" in capsys.readouterr().err


def test_fresh_index_is_not_rebuilt_by_ask(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    main(["index", "--config", cfg])
    use_fake.calls.clear()
    assert main(["ask", "Where is Mount Etna?", "--json", "--config", cfg]) == 0
    assert use_fake.calls == [1]  # the question only: nothing re-embedded


def test_index_from_another_model_is_stale_and_rebuilt(tmp_path, settings, use_fake, caplog):
    from bot.app import rebuild
    from bot.config import load_settings

    cfg = write_config(tmp_path)
    other = FakeEmbedder(name="another-model")
    rebuild(load_settings(Path(cfg)), other, progress=False)
    use_fake.calls.clear()
    assert main(["ask", "Where is Mount Etna?", "--json", "--config", cfg]) == 0
    assert "model changed ('another-model' -> 'fake-embedder')" in caplog.text
    assert sum(use_fake.calls) > 1  # passages re-embedded with the configured model


def test_turning_word_piece_vectors_off_rebuilds_on_the_next_ask(tmp_path, settings, use_fake):
    from bot.search.store import Index

    cfg = write_config(tmp_path)
    assert main(["index", "--config", cfg]) == 0
    assert Index.load(tmp_path / "embeddings").params.token_vectors
    cfg = write_config(tmp_path, "token_vectors = false\n")
    assert main(["ask", "Who walked on the Moon first?", "--config", cfg]) == 0
    index = Index.load(tmp_path / "embeddings")
    assert not index.params.token_vectors and len(index.tokens) == 0


def test_eval_docs_reads_a_folder_with_gold_by_file(tmp_path, use_fake, capsys):
    cfg = write_config(tmp_path)
    docs = tmp_path / "docs"
    write_corpus(docs)
    questions = tmp_path / "q.jsonl"
    rows = [
        {
            "question": "Who walked on the lunar surface?",
            "gold": ["apollo.txt"],
            "answers": ["Neil Armstrong"],
            "split": "report",
        },
        {
            "question": "Where is Mount Etna?",
            "gold": ["nested/volcano.txt"],
            "answers": ["Sicily"],
            "split": "report",
        },
        {
            "question": "Who rules the colony of honey bees?",
            "gold": ["bees.md"],
            "answers": ["queen"],
            "split": "tune",
        },
    ]
    questions.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    details = tmp_path / "out" / "details.jsonl"
    args = [
        "eval",
        "--docs",
        str(docs),
        "--questions",
        str(questions),
        "--split",
        "report",
        "--details",
        str(details),
        "--json",
        "--config",
        cfg,
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["documents"] == 3 and result["questions"] == 2  # the tune row is left out
    assert result["recall@1"] == 1.0
    lines = [json.loads(x) for x in details.read_text(encoding="utf-8").splitlines()]
    assert [x["gold"] for x in lines] == [["apollo.txt"], ["nested/volcano.txt"]]
    top = lines[1]["results"][0]
    text = (docs / top["source"]).read_text(encoding="utf-8")
    assert text[top["quote_start"] : top["quote_end"]] == top["quote"]


def test_eval_takes_passages_or_docs_not_both(tmp_path, use_fake, capsys):
    cfg = write_config(tmp_path)
    q = tmp_path / "q.jsonl"
    q.write_text('{"question": "ok"}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "eval",
                "--docs",
                str(tmp_path),
                "--passages",
                str(q),
                "--questions",
                str(q),
                "--config",
                cfg,
            ]
        )
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_eval_docs_names_a_missing_folder(tmp_path, use_fake, capsys):
    cfg = write_config(tmp_path)
    q = tmp_path / "q.jsonl"
    q.write_text('{"question": "ok"}\n', encoding="utf-8")
    missing = tmp_path / "nowhere"
    assert main(["eval", "--docs", str(missing), "--questions", str(q), "--config", cfg]) == 1
    assert "nowhere does not exist" in capsys.readouterr().err


def test_eval_reports_metrics_per_group(tmp_path, use_fake, capsys):
    cfg = write_config(tmp_path)
    docs = write_corpus(tmp_path / "docs")
    rows = [
        {"question": "Where is Mount Etna?", "gold": ["nested/volcano.txt"], "format": "txt"},
        {"question": "Who rules the colony of honey bees?", "gold": ["bees.md"], "format": "md"},
        {"question": "What is the best cheesecake recipe?", "answerable": False},
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    base = ["eval", "--docs", str(docs), "--questions", str(questions), "--config", cfg]
    assert main([*base, "--group-by", "format", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["questions"] == 3
    assert result["format=md"]["questions"] == 1 and result["format=txt"]["questions"] == 1
    assert result["format=md"]["recall@1"] == 1.0
    assert main([*base, "--group-by", "format"]) == 0
    out = capsys.readouterr().out
    assert "\nformat=md\n  questions" in out


UNDECODABLE = "Where is Mount Etna\udcff?"  # a byte that is not UTF-8, as argv or a pipe gives it


def test_undecodable_bytes_in_an_argument_are_cleaned_and_answered(
    tmp_path, settings, use_fake, capsys
):
    cfg = write_config(tmp_path)
    assert main(["ask", UNDECODABLE, "--json", "--config", cfg]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["question"] == "Where is Mount Etna\ufffd?"
    assert data["results"][0]["source"] == "nested/volcano.txt"


def test_undecodable_bytes_on_stdin_leave_every_line_answered(
    tmp_path, settings, use_fake, capsys, monkeypatch
):
    cfg = write_config(tmp_path)
    raw = b"Where is Mount Etna\xff?\ncaf\xc3\xa9 \xc3 bees?\nWho rules a bee colony?\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    assert main(["ask", "-", "--json", "--config", cfg]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["question"] for x in lines] == [
        "Where is Mount Etna\ufffd?",
        "café \ufffd bees?",
        "Who rules a bee colony?",
    ]
    assert all(x["answered"] for x in lines)


def test_global_options_before_the_command(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    assert main(["--config", cfg, "-v", "index"]) == 0
    assert "Indexed 3 documents" in capsys.readouterr().out
    assert main(["-v", "ask", "Where is Mount Etna?", "--json", "--config", cfg]) == 0
    assert json.loads(capsys.readouterr().out)["answered"]
    assert main(["--config", str(tmp_path / "missing.toml"), "ask", "x"]) == 1
    assert "missing.toml" in capsys.readouterr().err


def test_counts_are_worded_in_singular_and_plural(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    for rel in ("apollo.txt", "nested/volcano.txt"):
        (tmp_path / "seeds" / rel).unlink()
    (tmp_path / "seeds" / "bees.md").write_text("# Bees\n\nBees make wax.", encoding="utf-8")
    assert main(["index", "--config", cfg]) == 0
    assert capsys.readouterr().out.startswith("Indexed 1 document: embedded 1 (1 passage, ")
    assert main(["index", "--config", cfg]) == 0
    assert "up to date (1 document)" in capsys.readouterr().out


def test_the_command_line_decline_does_not_offer_repl_commands(
    tmp_path, settings, use_fake, capsys
):
    cfg = write_config(tmp_path)
    assert main(["ask", "zzz qqq xxyy?", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "won't guess" in out and ":sources" not in out


def test_index_does_not_tell_the_user_to_run_what_it_is_running(
    tmp_path, settings, use_fake, capsys, caplog
):
    cfg = write_config(tmp_path)
    with caplog.at_level(logging.INFO):
        assert main(["-v", "index", "--config", cfg]) == 0
        current = (tmp_path / "embeddings" / "CURRENT").read_text().strip()
        (tmp_path / "embeddings" / current / "manifest.json").write_text("{", encoding="utf-8")
        assert main(["-v", "index", "--config", cfg]) == 0
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "No index yet" in said and "damaged" in said
    assert "python -m bot index" not in said


def test_a_damaged_index_is_rebuilt_without_telling_the_user_to_rebuild(
    tmp_path, settings, use_fake, capsys, caplog
):
    cfg = write_config(tmp_path)
    assert main(["index", "--config", cfg]) == 0
    current = (tmp_path / "embeddings" / "CURRENT").read_text().strip()
    (tmp_path / "embeddings" / current / "manifest.json").write_text("{", encoding="utf-8")
    capsys.readouterr()
    assert main(["ask", "Where is Mount Etna?", "--json", "--config", cfg]) == 0
    assert json.loads(capsys.readouterr().out)["answered"]
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "damaged" in said and "rebuilding" in said and "Rebuild it with" not in said
