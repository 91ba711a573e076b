"""A configured model that is not on this machine fails at once, naming the setting."""

import pytest

from bot.cli import main
from bot.errors import ConfigError
from bot.search.embedder import SentenceTransformerEmbedder, resolve_model


def test_a_wrong_model_name_is_one_error_naming_the_setting():
    with pytest.raises(ConfigError, match=r"model = 'quotebot-test/no-such-model' is neither"):
        SentenceTransformerEmbedder("quotebot-test/no-such-model")


def test_a_local_folder_is_loaded_from_where_it_is(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert resolve_model(str(folder)) == (str(folder), str(folder))


def test_the_command_line_says_it_in_one_line(tmp_path, capsys):
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "a.txt").write_text("Some text here.", encoding="utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text('model = "all-MiniLM-L6-v3"\ncache_dir = "cache"\n', encoding="utf-8")
    assert main(["ask", "hello?", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model = 'all-MiniLM-L6-v3'" in err
