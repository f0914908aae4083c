"""The CLI through click's runner: decide, db, calls, and one-sentence errors."""

import json

import pytest
from click.testing import CliRunner

from agi_consent.cli import main


@pytest.fixture
def runner(tmp_path, monkeypatch):
    config = tmp_path / "agi-consent.toml"
    config.write_text(f'database = "{tmp_path}/log/consent.db"\n')
    monkeypatch.setenv("AGI_CONSENT_CONFIG", str(config))
    return CliRunner()


def test_decide_text(runner):
    result = runner.invoke(main, ["decide", "+14155551234", "--region", "US-NY"])
    assert result.exit_code == 0
    assert result.output.startswith("all-party (governing: US-CA")
    assert "Cal. Penal Code" in result.output


def test_decide_json(runner):
    result = runner.invoke(main, ["decide", "2125550123", "--region", "us-ny", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["mode"] == "one-party" and data["governing"] == "US-NY"
    assert data["e164"] == "+12125550123" and len(data["rules_version"]) == 64
    assert [j["code"] for j in data["jurisdictions"]] == ["US-NY", "US-NY"]
    assert data["reasons"]


def test_decide_outbound_and_unknown(runner):
    result = runner.invoke(main, ["decide", "anonymous", "--region", "US-TX", "--direction",
                                  "outbound", "--json"])
    data = json.loads(result.output)
    assert data["direction"] == "outbound" and data["governing"] == "unknown"


@pytest.mark.parametrize("args,message", [
    (["decide", "+14155551234", "--region", "New York"], "is not a region code"),
    (["decide", "+14155551234", "--direction", "sideways"], "Invalid value"),
    (["decide"], "Missing argument"),
])
def test_bad_arguments_exit_2(runner, args, message):
    result = runner.invoke(main, args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_bad_config_exit_2(tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("[flow]\nattempts = -1\n")
    result = CliRunner().invoke(main, ["--config", str(bad), "decide", "+14155551234"])
    assert result.exit_code == 2 and "flow.attempts" in result.output and str(bad) in result.output


def test_db_init_and_empty_calls(runner, tmp_path):
    result = runner.invoke(main, ["db", "init"])
    assert result.exit_code == 0 and "consent log ready" in result.output
    assert (tmp_path / "log" / "consent.db").stat().st_mode & 0o077 == 0
    assert runner.invoke(main, ["calls", "list"]).output.startswith("no calls in ")
    assert runner.invoke(main, ["calls", "list", "--json"]).output == ""
    from agi_consent.store.ledger import Writer
    writer = Writer(str(tmp_path / "log" / "consent.db"))
    writer.append("system", "rules-changed", {"version": "x"}, create=True)
    writer.close()
    assert runner.invoke(main, ["calls", "list"]).output.startswith("no calls in "), \
        "the log's own record is no call"
    shown = runner.invoke(main, ["calls", "show", "nope"])
    assert shown.exit_code == 2 and "No call nope" in shown.output
