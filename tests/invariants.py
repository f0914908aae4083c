"""The promise, checked from outside: shared by the fault-injection tests.

`consent_guard` answers nothing itself; called on every command Asterisk's side receives, it
reads the database through its own read-only connection at the moment MixMonitor is
requested and notes a violation unless the call's row, every event from seq 1, the
`recording-requested` event and a granted/notified consent result are already committed.
"""

import asyncio
import json
import sqlite3

from agi_consent.core import contract as v


def read_only(database):
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)


def committed(database, call_id):
    """(has row, event seqs, consent results, recording requested), as another reader sees."""
    with read_only(database) as db:
        has_row = db.execute("SELECT 1 FROM calls WHERE id = ?", [call_id]).fetchone()
        rows = db.execute("SELECT seq, kind, detail FROM events WHERE call_id = ? ORDER BY seq",
                          [call_id]).fetchall()
    results = [json.loads(d)["result"] for _, k, d in rows if k == "consent-result"]
    return bool(has_row), [s for s, _, _ in rows], results, \
        any(k == "recording-requested" for _, k, _ in rows)


def call_id_of(mixmonitor_options):
    return mixmonitor_options.split(",")[0].rsplit("/", 1)[1].rsplit(".", 1)[0]


def consent_guard(database, violations):
    def check(words):
        if words[:2] != ["EXEC", "MixMonitor"]:
            return
        has_row, seqs, results, requested = committed(database, call_id_of(words[2]))
        if not (has_row and seqs == list(range(1, len(seqs) + 1)) and requested
                and results and results[-1] in v.RECORDS):
            violations.append((call_id_of(words[2]), has_row, seqs, results, requested))
    return check


async def idle(server, seconds=10):
    """The server finished its sessions (an error path may outlive the socket)."""
    async with asyncio.timeout(seconds):
        while server.active:
            await asyncio.sleep(0.005)


def no_recording_without_consent(database):
    """Every recording-started in the log follows a committed granted/notified result."""
    with read_only(database) as db:
        rows = db.execute("SELECT call_id, seq, kind, detail FROM events ORDER BY call_id, seq")
        results, bad = {}, []
        for call_id, _, kind, detail in rows:
            if kind == "consent-result":
                results[call_id] = json.loads(detail)["result"]
            elif kind in ("recording-requested", "recording-started") and \
                    results.get(call_id) not in v.RECORDS:
                bad.append(call_id)
    return bad
