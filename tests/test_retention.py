"""Retention, legal hold, erasure, export and the access log, on a log of calls of known
ages and jurisdictions with their files on disk."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from agi_consent.cli import main
from agi_consent.core.retention import window
from agi_consent.core.rules import load_rules
from agi_consent.store import audit
from agi_consent.store import schema as store
from agi_consent.store.ledger import Writer

RULES = load_rules()


def test_window_takes_the_longest_minimum_and_the_shortest_maximum():
    assert window(["FR"], RULES).keep_max_days == 180  # CNIL, from the rules table
    assert window(["US-NY"], RULES, default_days=365).keep_max_days == 365
    mifid = window(["US-NY"], RULES, ["mifid2"])
    assert (mifid.keep_min_days, mifid.keep_max_days, mifid.conflict) == (1827, 1827, False)
    clash = window(["FR", "US-NY"], RULES, ["mifid2"])
    assert clash.conflict and clash.keep_min_days == 1827 and clash.keep_max_days == 180
    assert window(["BR"], RULES).keep_min_days == 90
    settled = window(["FR"], RULES, ["mifid2"], {"FR": {"keep_max_days": 2000}})
    assert not settled.conflict and settled.keep_max_days == 2000


@pytest.fixture
def site(make_config, tmp_path):
    """A config (as a file, for the CLI) and a maker of past calls with real files."""
    spool = tmp_path / "recordings"
    config = make_config(recording={"directory": str(spool)},
                         evidence={"key_file": str(tmp_path / "keys" / "signing.key")})
    path = tmp_path / "site.toml"
    path.write_text(f'database = "{config.database}"\n[recording]\ndirectory = "{spool}"\n'
                    f'[evidence]\nkey_file = "{tmp_path / "keys" / "signing.key"}"\n'
                    f'[prompts]\ndirectory = "{config.prompts.directory}"\n')
    writer = Writer(config.database)

    def past_call(call_id, days, places, trunk="US-NY", result="granted",
                  number="+33142685300"):
        started = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
        recording = f"{spool}/2025/01/01/{call_id}.wav"
        answer = f"{spool}/answers/2025/01/01/{call_id}-1.wav"
        for file in (recording, answer):
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            Path(file).write_bytes(b"RIFF" + call_id.encode() * 100)
        rows = [("call-start", {"transport": "test"}, {"caller_id": number}),
                ("decision", {"mode": "all-party", "governing": places[0],
                              "remote_jurisdictions": ",".join(places), "trunk_region": trunk,
                              "reasons": [], "rules_version": RULES.version},
                 {"remote_number": number, "remote_e164": number}),
                ("input", {"audio": answer, "speech": {"answer": "yes"}},
                 {"transcript": "yes"}),
                ("consent-result", {"result": result}, None),
                ("recording-requested", {"path": recording}, None),
                ("recording-started", {"path": recording}, None),
                ("call-end", {"result": result, "recording": recording}, None)]
        payloads = [("event", (n, started, kind, detail, personal))
                    for n, (kind, detail, personal) in enumerate(rows, 1)]
        writer.write([(call_id, payloads, len(rows))])
        return Path(recording), Path(answer)
    yield config, ["--config", str(path)], past_call
    writer.close()


def run(args, *more):
    result = CliRunner().invoke(main, [*args, *more])
    return result


def kinds_of(config, call_id):
    return [e["kind"] for e in store.call_events(store.open_db(config.database), call_id)]


def test_purge_honours_each_window_and_dry_run(site):
    config, args, past_call = site
    old_fr, _ = past_call("fr-old", 200, ["FR"])
    new_fr, _ = past_call("fr-new", 100, ["FR"])
    us_mid, _ = past_call("us-mid", 200, ["US-CA"], number="+14155550123")
    us_old, us_answer = past_call("us-old", 400, ["US-CA"], number="+14155550124")
    dry = json.loads(run(args, "purge", "--dry-run", "--json").output)
    assert sorted(i["call"] for i in dry["purged"]) == ["fr-old", "us-old"]
    assert old_fr.exists() and "purged" not in kinds_of(config, "fr-old")
    done = json.loads(run(args, "purge", "--json").output)
    assert done["files"] == 4 and not old_fr.exists() and not us_old.exists()
    assert not us_answer.exists() and new_fr.exists() and us_mid.exists()
    event = store.call_events(store.open_db(config.database), "fr-old")[-1]
    detail = json.loads(event["detail"])
    assert event["kind"] == "purged" and detail["window"]["keep_max_days"] == 180
    assert all(len(f["sha256"]) == 64 for f in detail["files"])
    assert json.loads(run(args, "purge", "--json").output)["files"] == 0  # nothing twice
    assert audit.verify(config.database).ok


def test_presets_conflicts_and_holds(site, make_config, tmp_path):
    config, args, past_call = site
    past_call("clash", 400, ["FR"])
    kept, _ = past_call("held", 400, ["US-CA"], number="+14155550125")
    with open(args[1], "a") as more:
        more.write('[retention]\npreset = "mifid2"\n')
    assert run(args, "hold", "held", "--reason", "case 42").exit_code == 0
    out = json.loads(run(args, "purge", "--json").output)
    why = {k["call"]: k["why"] for k in out["kept"]}
    assert "retention conflict" in why["clash"] and out["files"] == 0
    assert "legal hold: case 42" in why["held"]
    policy = run(args, "access-log", "--json").output.splitlines()
    assert json.loads(policy[0])["action"] == "hold"


def test_an_empty_access_log_says_so(site):
    _, args, _ = site
    result = run(args, "access-log")
    assert result.exit_code == 0 and result.output.startswith("no exports, holds, erasures")
    assert run(args, "access-log", "--json").output == ""  # JSON lines: none


def test_release_and_expired_hold(site):
    config, args, past_call = site
    first, _ = past_call("one", 400, ["US-CA"], number="+14155550126")
    second, _ = past_call("two", 400, ["US-CA"], number="+14155550127")
    assert run(args, "hold", "one", "--reason", "claim").exit_code == 0
    assert run(args, "hold", "two", "--reason", "audit", "--until", "2020-01-01").exit_code == 0
    run(args, "purge")
    assert first.exists() and not second.exists()  # a hold that ran out holds nothing
    assert run(args, "release", "one").exit_code == 0
    run(args, "purge")
    assert not first.exists()


def purge_process(args):
    return subprocess.Popen([str(Path(sys.prefix) / "bin" / "agi-consent"), *args, "purge",
                             "--json"], stdout=subprocess.PIPE, text=True)


def test_two_purges_at_once_count_each_file_once(site):
    config, args, past_call = site
    files = [past_call(f"c{n}", 400, ["US-CA"], number=f"+1415555{n:04d}") for n in range(40)]
    first, second = purge_process(args), purge_process(args)
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in (first, second)]
    assert all(not path.exists() for pair in files for path in pair)
    db = store.open_db(config.database)
    events = db.execute("SELECT call_id, COUNT(*) FROM events WHERE kind = 'purged' "
                        "GROUP BY call_id").fetchall()
    assert len(events) == 40 and all(count == 1 for _, count in events)
    assert sum(o["calls"] for o in outputs) >= 40
    assert audit.verify(config.database).ok


def test_a_purge_killed_after_logging_is_finished_by_the_next(site):
    config, args, past_call = site
    recording, answer = past_call("half", 400, ["US-CA"])
    writer = Writer(config.database)  # the run that died: logged, deleted nothing
    writer.append("half", "purged", {"files": [{"path": str(recording)},
                                               {"path": str(answer)}], "by": "test"})
    writer.close()
    assert json.loads(run(args, "purge", "--json").output)["files"] == 0
    assert not recording.exists() and not answer.exists()
    assert kinds_of(config, "half").count("purged") == 1


def test_erase_keeps_held_calls_and_the_chain_verifies(site):
    config, args, past_call = site
    gone, gone_answer = past_call("p1", 10, ["US-CA"], number="+14155550999")
    kept, _ = past_call("p2", 10, ["US-CA"], number="+14155550999")
    other, _ = past_call("p3", 10, ["US-CA"], number="+14155550111")
    assert run(args, "hold", "p2", "--reason", "litigation").exit_code == 0
    preview = json.loads(run(args, "erase", "--number", "+14155550999", "--dry-run",
                             "--json").output)
    assert [e["call"] for e in preview["erased"]] == ["p1"] and gone.exists()
    result = run(args, "erase", "--number", "+1 415 555 0999")
    assert result.exit_code == 0 and "kept p2: under legal hold" in result.output
    assert not gone.exists() and not gone_answer.exists() and kept.exists() and other.exists()
    db = store.open_db(config.database)
    call = store.get_call(db, "p1")
    assert call["caller_id"].startswith("erased:") and "0999" not in json.dumps(call)
    assert not db.execute("SELECT * FROM personal WHERE call_id = 'p1'").fetchall()
    report = audit.verify(config.database)
    assert report.ok, report.problems
    assert report.erased == 4  # caller ID, remote number, E.164, transcript
    assert "erased" in kinds_of(config, "p1")


def test_export_refuses_unconsented_and_expired_calls_and_logs_the_rest(site, tmp_path):
    config, args, past_call = site
    past_call("ok", 10, ["US-CA"])
    past_call("no", 10, ["US-CA"], result="declined", number="+14155550002")
    past_call("old", 200, ["FR"], number="+33100000000")
    refused = run(args, "export", "no", "--to", str(tmp_path / "x"), "--reason", "court")
    assert refused.exit_code == 2 and "not granted or notified" in refused.output
    expired = run(args, "export", "old", "--to", str(tmp_path / "x"), "--reason", "court")
    assert expired.exit_code == 2 and "past its keep window" in expired.output
    out = tmp_path / "out"
    done = run(args, "export", "ok", "--to", str(out), "--reason", "subject access request")
    assert done.exit_code == 0, done.output
    sums = (out / "SHA256SUMS").read_text()
    assert "ok.wav" in sums and "ok.evidence.html" in sums
    assert (out / "ok.wav").stat().st_mode & 0o007 == 0
    log = [json.loads(line) for line in run(args, "access-log", "--json").output.splitlines()]
    assert log[0]["action"] == "exported" and log[0]["reason"] == "subject access request"


def test_purge_takes_world_access_away_and_gives_the_group(site, tmp_path):
    import grp
    import os
    config, args, past_call = site
    recording, answer = past_call("fresh", 1, ["US-CA"])
    os.chmod(recording, 0o644)
    group = grp.getgrgid(os.getgid()).gr_name
    with open(args[1], "a") as more:
        more.write(f'[retention]\ngroup = "{group}"\n')
    assert run(args, "purge").exit_code == 0
    for path in (recording, answer):
        assert path.stat().st_mode & 0o007 == 0 and path.stat().st_mode & 0o040


def test_tightening_skips_a_file_removed_while_it_walks(site, monkeypatch):
    """Two purges at once: one deletes a file the other's walk has just listed."""
    import os

    from agi_consent.admin import retention as admin_retention
    config, _, past_call = site
    gone, kept = past_call("v1", 400, ["US-CA"])
    os.chmod(kept, 0o644)
    real_lstat = os.lstat

    def lstat(path, *rest, **options):
        if str(path) == str(gone):
            os.unlink(gone)
        return real_lstat(path, *rest, **options)
    monkeypatch.setattr(admin_retention.os, "lstat", lstat)
    assert admin_retention.tighten(config) == 1
    assert oct(os.stat(kept).st_mode & 0o777) == "0o640"
