"""The consent log: permissions, WAL, migrations, single writer, nothing lost under load."""

import asyncio
import os
import sqlite3

import pytest

from agi_consent.call.calllog import CallLog
from agi_consent.store import ledger
from agi_consent.store import schema as store


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "private" / "consent.db"
    store.open_db(str(path))
    return str(path)


def test_files_are_private_and_wal(db_path):
    assert os.stat(db_path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(db_path)).st_mode & 0o777 == 0o700
    connection = sqlite3.connect(db_path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_are_idempotent(db_path):
    db = store.open_db(db_path)
    assert [m.name for m in store.MIGRATIONS.applied(db)] == [
        "m001_calls_and_events", "m002_prompt_changes", "m003_evidence_chain",
        "m004_calls_by_uniqueid"]
    assert {"calls", "events", "personal", "checkpoints", "rules_versions"} <= set(
        db.table_names())


def test_ledger_refuses_missing_or_unmigrated_db(tmp_path):
    with pytest.raises(ledger.LogUnavailable, match="does not exist"):
        ledger.Ledger(str(tmp_path / "none.db"))
    raw = tmp_path / "raw.db"
    sqlite3.connect(raw).execute("CREATE TABLE x (a)")
    with pytest.raises(ledger.LogUnavailable, match="schema 0"):
        ledger.Ledger(str(raw))


def started(writer, call_id, **detail):
    log = CallLog(writer, call_id)
    log.event("call-start", transport="test", personal={"caller_id": "+12125550123"}, **detail)
    return log


async def test_sync_ledger_orders_events_and_derives_the_call(db_path):
    log = started(ledger.Ledger(db_path), "call-1")
    for kind in ("decision", "prompt"):
        log.event(kind, step=kind)
    log.event("call-end", result="granted", recording="/r.wav")
    await log.commit()
    db = store.open_db(db_path)
    assert [e["kind"] for e in store.call_events(db, "call-1")] == [
        "call-start", "decision", "prompt", "call-end"]
    assert [e["seq"] for e in store.call_events(db, "call-1")] == [1, 2, 3, 4]
    call = store.get_call(db, "call-1")
    assert (call["result"], call["recording"], call["caller_id"]) == (
        "granted", "/r.wav", "+12125550123")


async def test_threaded_ledger_loses_nothing_under_500_calls(db_path):
    writer = ledger.ThreadedLedger(db_path)
    logs = [started(writer, f"c{i}") for i in range(500)]

    async def steps(log):
        for n in range(10):
            log.event("step", n=n)
            await asyncio.sleep(0)
        await log.commit()

    await asyncio.gather(*(steps(log) for log in logs))
    writer.close()
    db = store.open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 5500
    assert [e["seq"] for e in store.call_events(db, "c7")] == list(range(1, 12))


async def gather_round(logs):
    """Every call logs a step and commits at once, as calls under load reach a barrier."""
    for log in logs:
        log.event("step")
    return await asyncio.gather(*(log.commit() for log in logs), return_exceptions=True)


@pytest.fixture
def slept(monkeypatch):
    """The writer's gather waits, recorded instead of slept."""
    waits = []
    monkeypatch.setattr(ledger.time, "sleep", waits.append)
    return waits


def test_the_group_commit_does_not_wait_once_every_running_call_has_a_commit_queued(db_path,
                                                                                   slept):
    writer = ledger.ThreadedLedger(db_path, gather=0.05)
    writer.close()  # its thread gone: the gather is asked directly, with the queue set here
    writer.queue.put("second call's commit")
    writer.queue.put("third call's commit")  # and the writer holds the first one
    writer.calls_open = 3
    writer._gather()
    assert slept == []
    writer.calls_open = 4  # a fourth call is running and may still come
    writer._gather()
    assert slept


async def test_the_group_commit_waits_for_a_running_call_that_has_not_committed(db_path,
                                                                                slept):
    writer = ledger.ThreadedLedger(db_path, gather=0.05)
    logs = [started(writer, f"c{n}") for n in range(2)]
    with writer.open_call(), writer.open_call(), writer.open_call():  # the third is busy
        await gather_round(logs)  # ... elsewhere, never committing
        assert await gather_round(logs) == [None] * 2  # after the whole gather
    writer.close()
    assert slept and all(0 < seconds <= 0.05 / 8 for seconds in slept)


async def test_a_failed_call_fails_alone_and_its_rows_go_again(db_path):
    writer = ledger.ThreadedLedger(db_path)
    bad, good = CallLog(writer, "bad"), started(writer, "fine")
    bad.event("decision")  # no call-start: the row cannot exist without its call ...
    good.event("step")
    results = await asyncio.gather(bad.commit(), good.commit(), return_exceptions=True)
    assert isinstance(results[0], ledger.LogUnavailable)  # ... its call hears of it
    assert results[1] is None  # ... and the other call's rows in the same batch are kept
    writer.close()
    db = store.open_db(db_path)
    assert store.get_call(db, "fine") and len(store.call_events(db, "fine")) == 2
    assert store.get_call(db, "bad") is None
    assert bad.pending  # kept for the next commit


async def test_a_commit_that_timed_out_is_not_written_twice(db_path):
    log = started(ledger.Ledger(db_path), "twice")
    log.event("step")
    rows = list(log.pending)
    await log.commit()
    await log.ledger.commit("twice", rows, 2)  # the same rows again (a retry after a timeout)
    db = store.open_db(db_path)
    assert [e["seq"] for e in store.call_events(db, "twice")] == [1, 2]


async def test_an_unwritable_table_fails_the_commit(db_path):
    writer = ledger.ThreadedLedger(db_path)
    writer.writer.connection.execute("DROP TABLE personal")
    log = started(writer, "c")
    with pytest.raises(ledger.LogUnavailable):
        await log.commit()
    writer.close()


def test_events_are_append_only(db_path):
    import asyncio as aio
    aio.run(started(ledger.Ledger(db_path), "c").commit())
    connection = sqlite3.connect(db_path)
    for statement in ("UPDATE events SET kind = 'x'", "DELETE FROM events"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute(statement)


async def test_personal_values_stay_out_of_the_chained_rows(db_path):
    await started(ledger.Ledger(db_path), "p").commit()
    db = store.open_db(db_path)
    detail = store.call_events(db, "p")[0]["detail"]
    assert "+12125550123" not in detail and '"personal":{"caller_id":' in detail
    row = db.execute("SELECT name, value FROM personal WHERE call_id = 'p'").fetchone()
    assert row == ("caller_id", "+12125550123")


def test_a_configured_group_may_read_the_log(tmp_path):
    import grp
    group = grp.getgrgid(os.getgid()).gr_name
    path = tmp_path / "shared" / "consent.db"
    store.open_db(str(path), group)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.stat(path.parent).st_mode & 0o777 == 0o750


def test_one_call_twice_in_a_batch_applies_its_rows_in_order(db_path):
    """A retried commit can share a transaction with the call's next one: the later rows'
    projection (calls.result) must win whatever else is in the batch, and no row is written
    twice."""
    other = started(None, "other")
    other.event("consent-result", result="granted")  # updates (result) before "again" does
    again = started(None, "again")
    again.event("call-end", result="error", recording="")
    first = list(again.pending)
    again.event("withdrawn", by="caller")  # later: result = withdrawn
    writer = ledger.Writer(db_path)
    assert writer.write([("other", other.pending, 2), ("again", first, 2),
                         ("again", list(again.pending), 3)]) == [None, None, None]
    writer.close()
    db = store.open_db(db_path)
    assert [e["seq"] for e in store.call_events(db, "again")] == [1, 2, 3]
    assert store.get_call(db, "again")["result"] == "withdrawn"
    assert store.get_call(db, "other")["result"] == "granted"


def test_a_large_batch_stores_every_row_and_personal_value_exactly(db_path):
    """Rows go many to a statement, in chunks of power-of-two sizes: an odd-sized batch of
    calls larger than a chunk keeps every event, personal value (a NUL in it included) and
    calls column, and the chain verifies."""
    from agi_consent.store import audit
    logs = []
    for n in range(ledger.LARGEST_CHUNK + 23):
        log = CallLog(None, f"call-{n}")
        log.event("call-start", transport="test", personal={"caller_id": f"+1212555{n:04d}\x00x"})
        log.event("consent-result", result="granted" if n % 2 else "declined")
        log.event("call-end", result="granted" if n % 2 else "declined", recording="")
        logs.append(log)
    writer = ledger.Writer(db_path)
    assert writer.write([(log.call_id, log.pending, log.seq) for log in logs]) == \
        [None] * len(logs)
    writer.close()
    db = store.open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 3 * len(logs)
    assert store.get_call(db, "call-7")["result"] == "granted"
    assert store.get_call(db, "call-150")["result"] == "declined"
    assert store.get_call(db, "call-150")["caller_id"] == "+12125550150\x00x"
    report = audit.verify(db_path)
    assert report.ok, report.problems
    assert (report.rows, report.calls) == (3 * len(logs), len(logs))


def test_event_times_are_iso_utc_milliseconds_as_datetime_gives_them():
    from datetime import UTC, datetime

    from agi_consent.call.calllog import utc_now
    before = datetime.now(UTC)
    stamp = utc_now()
    after = datetime.now(UTC)
    assert stamp == datetime.fromisoformat(stamp).isoformat(timespec="milliseconds")
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= \
        datetime.fromisoformat(stamp) <= after


def test_call_ids_are_time_ordered_uuid7():
    """New calls land at the right edge of the log's indexes: IDs sort by creation time."""
    import time
    import uuid

    from agi_consent.call.calllog import new_call_id
    earlier = new_call_id()
    time.sleep(0.002)
    ids = [new_call_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(earlier < later for later in ids)
    parsed = uuid.UUID(earlier)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert abs((parsed.int >> 80) / 1000 - time.time()) < 5
