"""The consent log: permissions, WAL, migrations, single writer, nothing lost under load."""

import asyncio
import os
import sqlite3

import pytest

from agi_consent.call.calllog import CallLog, utc_now
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
    assert [m.name for m in store.MIGRATIONS.applied(db)] == ["m001_calls_and_events",
                                                          "m002_prompt_changes"]
    assert {"calls", "events"} <= set(db.table_names())


def test_ledger_refuses_missing_or_unmigrated_db(tmp_path):
    with pytest.raises(ledger.LogUnavailable, match="does not exist"):
        ledger.Ledger(str(tmp_path / "none.db"))
    raw = tmp_path / "raw.db"
    sqlite3.connect(raw).execute("CREATE TABLE x (a)")
    with pytest.raises(ledger.LogUnavailable, match="schema 0"):
        ledger.Ledger(str(raw))


async def test_sync_ledger_orders_events(db_path):
    log = CallLog(ledger.Ledger(db_path), "call-1")
    log.start(caller_id="+12125550123", direction="inbound")
    for kind in ("call-start", "decision", "prompt"):
        log.event(kind, step=kind)
    log.update(result="granted", ended_at=utc_now())
    await log.commit()
    db = store.open_db(db_path)
    assert [e["kind"] for e in store.call_events(db, "call-1")] == ["call-start", "decision",
                                                                   "prompt"]
    assert [e["seq"] for e in store.call_events(db, "call-1")] == [1, 2, 3]
    assert store.get_call(db, "call-1")["result"] == "granted"


async def test_threaded_ledger_loses_nothing_under_500_calls(db_path):
    writer = ledger.ThreadedLedger(db_path)
    logs = [CallLog(writer, f"c{i}") for i in range(500)]
    for log in logs:
        log.start(direction="inbound")

    async def steps(log):
        for n in range(10):
            log.event("step", n=n)
            await asyncio.sleep(0)
        await log.commit()

    await asyncio.gather(*(steps(log) for log in logs))
    writer.close()
    db = store.open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 5000
    assert [e["seq"] for e in store.call_events(db, "c7")] == list(range(1, 11))


async def test_a_failed_row_fails_its_call_only(db_path):
    writer = ledger.ThreadedLedger(db_path)
    bad, good = CallLog(writer, "bad"), CallLog(writer, "fine")
    bad.start()
    bad.update(no_such_column="x")  # this row fails ...
    good.start()
    good.event("step")
    results = await asyncio.gather(bad.commit(), good.commit(), return_exceptions=True)
    assert isinstance(results[0], ledger.LogUnavailable)  # ... its call hears of it
    assert results[1] is None  # ... and the other call's rows in the same batch are kept
    writer.close()
    db = store.open_db(db_path)
    assert store.get_call(db, "fine") and len(store.call_events(db, "fine")) == 1
    assert store.get_call(db, "bad") is None  # the whole commit of that call rolled back


async def test_an_unwritable_table_fails_the_commit(db_path):
    writer = ledger.ThreadedLedger(db_path)
    writer.writer.connection.execute("DROP TABLE events")
    log = CallLog(writer, "c")
    log.start()
    log.event("step")
    with pytest.raises(ledger.LogUnavailable):
        await log.commit()
    writer.close()
