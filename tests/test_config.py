"""Config: defaults with no file, env var and flag, and errors that name the file and key."""

import pytest

from agi_consent import config


def test_runs_with_no_file(monkeypatch):
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    loaded = config.load()
    assert loaded.server.host == "127.0.0.1" and loaded.server.port == 4573
    assert loaded.flow.accept_key == "1" and loaded.flow.decline_key == "2"
    assert loaded.unknown_mode == "all-party" and loaded.source == "built-in defaults"
    assert not loaded.speech.enabled  # a questioning "yeah?" reads as yes: opt in (README)


def test_env_var_and_values(tmp_path, monkeypatch):
    path = tmp_path / "site.toml"
    path.write_text('default_region = "US-NY"\n[flow]\nattempts = 3\nanswer_timeout = 4\n'
                    '[trunks]\n"PJSIP/carrier-ca" = "US-CA"\n')
    monkeypatch.setenv(config.ENV_VAR, str(path))
    loaded = config.load()
    assert loaded.default_region == "US-NY" and loaded.flow.attempts == 3
    assert loaded.flow.answer_timeout == 4.0 and loaded.trunks == {"PJSIP/carrier-ca": "US-CA"}


def test_unprivileged_default_database(monkeypatch, tmp_path):
    monkeypatch.setattr(config.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert config.default_database() == str(tmp_path / "agi-consent" / "consent.db")


@pytest.mark.parametrize("text,message", [
    ("colour = 1\n", "'colour' is not a known key"),
    ("[server]\nport = \"x\"\n", "'server.port' must be a whole number"),
    ("[server]\nbind = \"0.0.0.0\"\n", "'server.bind' is not a known key"),
    ("[flow]\naccept_key = \"11\"\n", "'flow.accept_key' must be one keypad digit"),
    ("[flow]\ndecline_key = \"1\"\n", "flow keys must be set and all different"),
    ("[flow]\nattempts = 0\n", "'flow.attempts' must be"),
    ("unknown_mode = \"lenient\"\n", "'unknown_mode' must be one of"),
    ("default_region = \"New York\"\n", "'default_region' must be a region code"),
    ("[trunks]\n\"PJSIP/x\" = \"nowhere\"\n", "[trunks] must map"),
    ("server = 3\n", "[server] must be a table"),
    ("[speech]\nlanguages = [\"en\", \"es\"]\n", "'speech.languages' lists es, but spoken"),
    ("[speech]\nlanguages = \"en\"\n", "'speech.languages' must be a list in brackets"),
    ("[speech]\nworkers = 1000\n", "'speech.workers' 1 to 64"),
    ("[speech]\nwhisper_min_logprob = 0.5\n", "mean log-probability: 0 or less"),
    ("[speech]\nconfirm_under = 61\n", "'speech.confirm_under' must be 0 to 60 seconds"),
    ("[server]\nport = 99999\n", "'server.port' must be a port number"),
    ("[flow]\nanswer_timeout = 1e308\n", "at most 120 seconds"),
    ("database = \"\"\n", "'database' must name the consent log's file"),
    ("[trunks]\n\"\" = \"US-CA\"\n", "[trunks] must map"),
    ("[flow\n", "not valid TOML"),
])
def test_errors_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as error:
        config.load(str(path))
    assert message in str(error.value) and str(path) in str(error.value)


def test_missing_file():
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load("/nonexistent/agi-consent.toml")
