"""The evidence chain: every way a log is tampered with is caught and named; checkpoints,
anchors, erasure, and one call's evidence as JSON and HTML."""

import asyncio
import json
import sqlite3

import pytest
from click.testing import CliRunner

from agi_consent.call.calllog import CallLog
from agi_consent.cli import main
from agi_consent.store import audit, chain
from agi_consent.store import schema as store
from agi_consent.store.checkpoint import Checkpoints, Signer, parse_verifier
from agi_consent.store.ledger import Ledger, Writer


@pytest.fixture
def signer(tmp_path):
    return Signer(tmp_path / "keys" / "signing.key", "node-a")


@pytest.fixture
def log_path(tmp_path, signer):
    """A log of 5 calls, 6 rows each, with a checkpoint every 10 rows (at the commits after
    them: rows 12 and 24)."""
    path = str(tmp_path / "log" / "consent.db")
    store.open_db(path)
    ledger = Ledger(path)
    ledger.writer.checkpoints = Checkpoints(signer, "node-a", rows=10)

    async def calls():
        for n in range(5):
            log = CallLog(ledger, f"call-{n}")
            log.event("call-start", transport="test", personal={"caller_id": f"+1415555010{n}"})
            log.event("decision", mode="all-party", governing="US-CA", reasons=["r"],
                      rules_version="v", personal={"remote_number": f"+1415555010{n}",
                                                   "remote_e164": f"+1415555010{n}"})
            log.event("prompt", name="consent-request", seconds=4.25)
            log.event("input", key="1")
            log.event("consent-result", result="granted")
            log.event("call-end", result="granted", recording="")
            await log.commit()
    asyncio.run(calls())
    return path


def verifier(signer):
    return parse_verifier(signer.verifier())


def tamper(path, *statements):
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("DROP TRIGGER events_append_only_update")
    connection.execute("DROP TRIGGER events_append_only_delete")
    for statement in statements:
        connection.execute(statement)
    connection.close()


def test_an_untouched_log_verifies(log_path, signer):
    report = audit.verify(log_path, verifier(signer))
    assert report.ok, report.problems
    assert report.rows == 30 and report.calls == 5 and report.checkpoints == 2


def test_an_edited_row_is_named(log_path, signer):
    tamper(log_path, "UPDATE events SET detail = '{\"key\":\"2\"}' WHERE id = 10")
    problems = audit.verify(log_path, verifier(signer)).problems
    assert problems[0].startswith("row 10 (call call-1, step 4, input) does not match")


def test_a_deleted_row_is_named(log_path, signer):
    tamper(log_path, "DELETE FROM events WHERE id = 14")
    problems = audit.verify(log_path, verifier(signer)).problems
    assert problems[0] == "rows 14–14 are missing: deleted from the log"


def test_an_inserted_row_is_named(log_path, signer):
    tamper(log_path, "INSERT INTO events (id, call_id, seq, at, kind, detail, hash) VALUES "
                     "(31, 'call-4', 7, '2026-01-01', 'input', '{\"key\":\"1\"}', "
                     f"'{'ab' * 32}')")
    problems = audit.verify(log_path, verifier(signer)).problems
    assert any(p.startswith("row 31 (call call-4, step 7, input) does not match")
               for p in problems)


def test_reordered_rows_are_named(log_path, signer):
    connection = sqlite3.connect(log_path)
    a = connection.execute("SELECT kind, detail FROM events WHERE id = 3").fetchone()
    b = connection.execute("SELECT kind, detail FROM events WHERE id = 4").fetchone()
    connection.close()
    tamper(log_path, f"UPDATE events SET kind = '{b[0]}', detail = '{b[1]}' WHERE id = 3",
           f"UPDATE events SET kind = '{a[0]}', detail = '{a[1]}' WHERE id = 4")
    problems = audit.verify(log_path, verifier(signer)).problems
    assert problems[0].startswith("row 3 ") and problems[1].startswith("row 4 ")


def test_a_rewritten_chain_is_caught_by_the_checkpoint(log_path, signer):
    """An attacker who edits a row and recomputes every later hash still fails the signed
    checkpoint that covers it."""
    connection = sqlite3.connect(log_path, isolation_level=None)
    connection.execute("DROP TRIGGER events_append_only_update")
    connection.execute("UPDATE events SET detail = '{\"key\":\"2\"}' WHERE id = 4")
    previous = connection.execute("SELECT hash FROM events WHERE id = 3").fetchone()[0]
    for row in connection.execute("SELECT id, call_id, seq, at, kind, detail FROM events "
                                  "WHERE id >= 4 ORDER BY id").fetchall():
        previous = chain.link(previous, chain.row_text(*row))
        connection.execute("UPDATE events SET hash = ? WHERE id = ?", [previous, row[0]])
    connection.close()
    problems = audit.verify(log_path, verifier(signer)).problems
    assert problems == ["row 12 is not what checkpoint 12 signed: the log was rewritten up "
                        "to there", "row 24 is not what checkpoint 24 signed: the log was "
                        "rewritten up to there"]


def test_a_truncated_tail_is_caught_against_an_exported_checkpoint(log_path, signer):
    anchor = store.open_db(log_path).execute(
        "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()[0]
    tamper(log_path, "DELETE FROM events WHERE id > 18", "DELETE FROM checkpoints WHERE size > 18",
           "DELETE FROM personal WHERE call_id IN ('call-3', 'call-4')",
           "DELETE FROM calls WHERE id IN ('call-3', 'call-4')")
    assert audit.verify(log_path, verifier(signer)).ok  # from inside, nothing shows
    problems = audit.verify(log_path, verifier(signer), anchor).problems
    assert problems == ["the log ends at row 18, but a checkpoint covers 24 rows: rows 19–24 "
                        "were removed (truncated)"]


def test_a_bad_signature_is_caught(log_path, signer, tmp_path):
    connection = sqlite3.connect(log_path)
    note = connection.execute("SELECT note FROM checkpoints WHERE size = 24").fetchone()[0]
    forged = note.replace("\n24\n", "\n25\n")
    connection.execute("UPDATE checkpoints SET note = ?, size = 25 WHERE size = 24", [forged])
    connection.commit()
    connection.close()
    problems = audit.verify(log_path, verifier(signer)).problems
    assert "checkpoint 25 has a bad signature" in problems
    other = Signer(tmp_path / "other.key", "node-a")  # same name, another key
    assert "checkpoint 12 has a bad signature" in audit.verify(log_path,
                                                               verifier(other)).problems


def test_erasure_keeps_the_chain_and_shows(log_path, signer):
    tamper(log_path, "DELETE FROM personal WHERE call_id = 'call-2'",
           "UPDATE calls SET caller_id = 'erased:x', remote_number = 'erased:x', "
           "remote_e164 = 'erased:x' WHERE id = 'call-2'")
    report = audit.verify(log_path, verifier(signer))
    assert report.ok, report.problems
    assert report.erased == 3


def test_an_altered_personal_value_or_calls_row_is_named(log_path, signer):
    tamper(log_path, "UPDATE personal SET value = '+15555550000' WHERE call_id = 'call-3' "
                     "AND name = 'caller_id'", "UPDATE calls SET result = 'declined' "
                                               "WHERE id = 'call-1'")
    problems = audit.verify(log_path, verifier(signer)).problems
    assert "the caller_id of call call-3 (step 1) is not the value its row committed to: " \
           "altered" in problems
    assert "call call-1's result is 'declined', its events say 'granted': the calls table " \
           "was edited" in problems


def test_canonical_rows_hash_the_same_everywhere():
    """A fixed row, a fixed hash: the canonical form is part of the evidence format."""
    detail = chain.canonical({"b": 1.5, "a": "é", "n": None, "list": [2, 1], "i": 10})
    assert detail == '{"a":"é","b":1.5,"i":10,"list":[2,1],"n":null}'
    text = chain.row_text(7, "call-x", 3, "2026-12-01T08:00:00.000+00:00", "input", detail)
    assert text == json.dumps({"id": 7, "call_id": "call-x", "seq": 3,
                               "at": "2026-12-01T08:00:00.000+00:00", "kind": "input",
                               "detail": json.loads(detail)}, sort_keys=True,
                              separators=(",", ":"), ensure_ascii=False)
    assert chain.link(chain.GENESIS, text) == \
        "f09a48c0f9b53502d7d79a17404e1514e4b5b551e23360222c1c74e478424f58"


def test_chain_costs_no_extra_transaction(tmp_path, signer):
    path = str(tmp_path / "t.db")
    store.open_db(path)
    writer = Writer(path, checkpoints=Checkpoints(signer, "n", rows=1))
    statements = []
    writer.connection.set_trace_callback(statements.append)
    log = CallLog(None, "c")
    log.event("call-start", transport="t")
    log.event("input", key="1")
    writer.write([("c", list(log.pending), 2)])
    assert sum(s.startswith("BEGIN") for s in statements) == 1
    assert sum(s == "COMMIT" for s in statements) == 1
    assert any("INSERT INTO checkpoints" in s for s in statements)


@pytest.fixture
def cli_config(log_path, signer, tmp_path):
    path = tmp_path / "cli.toml"
    path.write_text(f'database = "{log_path}"\n[evidence]\nkey_file = "{signer.path}"\n'
                    'node = "node-a"\n')
    return ["--config", str(path)]


def test_cli_key_checkpoint_and_verify(cli_config, tmp_path, log_path, signer):
    runner = CliRunner()
    shown = runner.invoke(main, [*cli_config, "key", "show"])
    assert shown.exit_code == 0 and shown.output.splitlines()[0] == signer.verifier()
    assert "PRIVATE" not in shown.output
    anchor = tmp_path / "anchor.txt"
    exported = runner.invoke(main, [*cli_config, "checkpoint", "export", str(anchor)])
    assert exported.exit_code == 0 and anchor.read_text().startswith("node-a\n30\n")  # signs now
    good = runner.invoke(main, [*cli_config, "verify", "--against", str(anchor), "--json"])
    assert good.exit_code == 0 and json.loads(good.output)["ok"]
    tamper(log_path, "DELETE FROM events WHERE id > 28", "DELETE FROM checkpoints")
    bad = runner.invoke(main, [*cli_config, "verify", "--against", str(anchor),
                               "--key", signer.verifier()])
    assert bad.exit_code == 1 and "truncated" in bad.output


def test_cli_evidence_json_and_html(cli_config, tmp_path):
    runner = CliRunner()
    data = json.loads(runner.invoke(main, [*cli_config, "evidence", "call-3"]).output)
    assert data["call"]["caller_id"] == "+14155550103"
    assert data["chain"]["intact"] and data["chain"]["checkpoint"]["signature_verified"]
    start = data["steps"][0]
    assert start["detail"]["personal"] == {"caller_id": "+14155550103"}
    page = tmp_path / "call.html"
    result = runner.invoke(main, [*cli_config, "evidence", "call-3", "--format", "html",
                                  "--out", str(page)])
    assert result.exit_code == 0
    text = page.read_text()
    assert "<script" not in text and "http" not in text.replace("https://", "")
    assert "pressed 1" in text and "intact" in text
    missing = runner.invoke(main, [*cli_config, "evidence", "nope"])
    assert missing.exit_code == 2 and "calls list" in missing.output


def test_a_log_from_before_the_chain_upgrades_and_verifies(tmp_path):
    import sqlite_utils
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    store.MIGRATIONS.apply(db, stop_before="m003_evidence_chain")
    db["calls"].insert({"id": "old-1", "started_at": "2026-01-01T00:00:00.000+00:00",
                        "transport": "fastagi", "result": "granted"})
    db["events"].insert_all([
        {"call_id": "old-1", "seq": 1, "at": "2026-01-01T00:00:00.000+00:00",
         "kind": "call-start", "detail": '{"args": ["region=US-NY"], "channel": "PJSIP/x"}'},
        {"call_id": "old-1", "seq": 2, "at": "2026-01-01T00:00:01.000+00:00",
         "kind": "consent-result", "detail": '{"result": "granted"}'}])
    db.execute("PRAGMA user_version=2")
    db.close()
    store.open_db(str(path))  # the upgrade: the old rows are chained as they are
    report = audit.verify(str(path))
    assert report.ok and report.rows == 2, report.problems
    log = CallLog(Ledger(str(path)), "new-1")
    log.event("call-start", transport="fastagi")
    log.event("call-end", result="declined")
    asyncio.run(log.commit())
    assert audit.verify(str(path)).ok
    tamper(str(path), "UPDATE calls SET result = 'granted' WHERE id = 'new-1'")
    assert audit.verify(str(path)).problems == [
        "call new-1's result is 'granted', its events say 'declined': the calls table was "
        "edited"]


def test_a_spoken_answer_reads_as_what_each_engine_heard():
    from agi_consent.admin.evidence import _describe
    step = {"kind": "input", "detail": {
        "speech": {"answer": "yes", "confidence": -0.2}, "sha256": "ab" * 32,
        "personal": {"transcript": "Go for it.", "confirmation": "go for it"}}}
    assert _describe(step) == (f"said “Go for it.” (the grammar heard “go for it”) → yes "
                               f"(confidence -0.2; audio SHA-256 {'ab' * 32})")
    del step["detail"]["personal"]["confirmation"]  # a no, or an erased value: Whisper's alone
    assert _describe(step).startswith("said “Go for it.” → yes")
    step["detail"].update(to_confirm=True, speech={"answer": "yes", "speech_seconds": 0.4})
    assert _describe(step).startswith("said “Go for it.” → yes, 0.4 s of speech: to be "
                                      "confirmed (")
