"""Retention figures for `make bench`: purge throughput on a generated spool of 100,000
calls past their window, and `report` on a log of a million events."""

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agi_consent import config as config_module
from agi_consent.admin import report, retention
from agi_consent.core.rules import load_rules
from agi_consent.store import schema as store
from agi_consent.store.ledger import Writer


def spool(work, calls):
    """`calls` calls of 400 days ago, each with a 16 KB recording, in the log and on disk."""
    folder = Path(work) / "spool" / "2025" / "01" / "01"
    folder.mkdir(parents=True)
    database = os.path.join(work, "purge.db")
    store.open_db(database)
    writer = Writer(database)
    writer.connection.execute("PRAGMA synchronous=OFF")  # building the sample, not measured
    started = (datetime.now(UTC) - timedelta(days=400)).isoformat(timespec="seconds")
    audio = b"\0" * 16000
    for first in range(0, calls, 1000):
        batch = []
        for n in range(first, min(first + 1000, calls)):
            path = folder / f"call-{n}.wav"
            path.write_bytes(audio)
            rows = [("call-start", {"transport": "bench"}),
                    ("decision", {"governing": "US-CA", "remote_jurisdictions": "US-CA",
                                  "trunk_region": "US-NY", "mode": "all-party"}),
                    ("consent-result", {"result": "granted"}),
                    ("recording-started", {"path": str(path)}),
                    ("call-end", {"result": "granted", "recording": str(path)})]
            batch.append((f"call-{n}", [("event", (k, started, kind, detail, None))
                                        for k, (kind, detail) in enumerate(rows, 1)], 5))
        writer.write(batch)
    writer.close()
    return config_module.parse({"database": database,
                                "recording": {"directory": str(Path(work) / "spool")}},
                               "bench")


def purge_speed(work, calls=100_000):
    config = spool(work, calls)
    db = store.open_db(config.database)
    started = time.perf_counter()
    items, _ = retention.purge(config, load_rules(), db)
    seconds = time.perf_counter() - started
    assert len(items) == calls and not any((Path(work) / "spool").rglob("*.wav"))
    return {"calls": calls, "seconds": seconds, "per_s": calls / seconds}


def report_speed(database):
    db = store.open_db(database)
    events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    timings = {}
    for by in ("region", "day"):
        started = time.perf_counter()
        report.rows(db, by)
        timings[by] = time.perf_counter() - started
    return {"events": events, **timings}


def lines(purge, reported):
    return ["## Retention", "",
            f"`agi-consent purge` on a generated spool of {purge['calls']:,} calls past their "
            f"window (16 KB recordings): **{purge['per_s']:,.0f} recordings/s** "
            f"({purge['seconds']:.1f} s: window per call, SHA-256 of each file, one `purged` "
            "event per call committed in batches of 500 before the files go).", "",
            f"`agi-consent report` on the log of {reported['events']:,} events: "
            f"{reported['region']:.2f} s by region, {reported['day']:.2f} s by day (one "
            "aggregate query over the derived calls table).", ""]
