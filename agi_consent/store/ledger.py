"""Writes calls and events to the consent log: the hot path of every call.

Plain `sqlite3` on purpose: importing sqlite-utils costs ~100 ms, a classic-AGI process has
150 ms in all. The schema and migrations live in `store` (sqlite-utils); this module only
inserts and updates rows. `Ledger` writes in the caller's thread (classic AGI, CLI);
`ThreadedLedger` gives the asyncio server one writer thread that batches commits, so the
event loop never blocks on SQLite and concurrent calls share transactions.
"""

import asyncio
import json
import os
import queue
import sqlite3
import threading
import time
from datetime import UTC, datetime

SCHEMA_VERSION = 2  # bump with every migration in store.MIGRATIONS


class LogUnavailable(RuntimeError):
    """The consent log cannot be written; the call must fail closed."""


def utc_now():
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def connect(path):
    """A connection with WAL and synchronous=NORMAL; the database must already be migrated."""
    if not os.path.exists(path):
        raise LogUnavailable(f"The consent log {path} does not exist; run "
                             "'agi-consent db init' (or start 'agi-consent serve') first.")
    try:
        connection = sqlite3.connect(path, timeout=10, isolation_level=None,
                                     check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as error:
        raise LogUnavailable(f"The consent log {path} cannot be opened ({error}).")
    if version != SCHEMA_VERSION:
        raise LogUnavailable(f"The consent log {path} is at schema {version}, this version "
                             f"needs {SCHEMA_VERSION}; run 'agi-consent db init'.")
    return connection


def _insert_call(connection, call_id, fields):
    row = {"id": call_id, **fields}
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    connection.execute(f"INSERT INTO calls ({names}) VALUES ({marks})", list(row.values()))


def _update_call(connection, call_id, fields):
    assignments = ", ".join(f"{name} = ?" for name in fields)
    connection.execute(f"UPDATE calls SET {assignments} WHERE id = ?",
                       [*fields.values(), call_id])


INSERT_EVENT = "INSERT INTO events (call_id, seq, at, kind, detail) VALUES (?, ?, ?, ?, ?)"


def _event_row(call_id, payload):
    seq, at, kind, detail = payload
    return call_id, seq, at, kind, json.dumps(detail, sort_keys=True, default=str)


def _insert_event(connection, call_id, payload):
    connection.execute(INSERT_EVENT, _event_row(call_id, payload))


OPERATIONS = {"start": _insert_call, "update": _update_call, "event": _insert_event}


def apply(connection, operation):
    kind, call_id, payload = operation
    OPERATIONS[kind](connection, call_id, payload)


class Ledger:
    """Synchronous writer for per-call processes: each write commits before returning."""

    def __init__(self, path):
        self.path = path
        self.connection = connect(path)

    def submit(self, operation):
        try:
            with self.connection:
                self.connection.execute("BEGIN IMMEDIATE")
                apply(self.connection, operation)
        except sqlite3.Error as error:
            raise LogUnavailable(f"The consent log {self.path} cannot be written ({error}).")

    async def barrier(self, call_id):
        """Everything submitted is already committed."""

    def close(self):
        self.connection.close()


class ThreadedLedger:
    """One writer thread for the asyncio server.

    `submit` queues a row and returns at once (order is kept: one queue, one writer). The flow
    awaits `barrier(call_id)` where it matters (the consent result before MixMonitor, the
    call's end): it resolves once everything queued before it is committed, and raises if any
    of that call's rows failed. Rows are committed in batches, each row in its own savepoint so
    one bad row never takes other calls' rows with it.
    """

    def __init__(self, path, batch=2000, gather=0.0):
        self.path = path
        self.batch = batch
        self.gather = gather  # seconds a batch may wait for more rows (0: commit at once)
        self.connection = connect(path)
        self.failures = {}  # call_id -> first error since its last barrier (writer thread only)
        self.queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="consent-log", daemon=True)
        self.thread.start()

    def submit(self, operation):
        self.queue.put((operation, None, None))

    async def barrier(self, call_id):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue.put((("barrier", call_id, None), loop, future))
        await future

    def _run(self):
        while True:
            items = [self.queue.get()]
            if self.gather:
                time.sleep(self.gather)  # optional group commit; under load rows pile up anyway
            while len(items) < self.batch:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is None for item in items)
            self._commit([item for item in items if item is not None])
            if stop:
                return

    def _commit(self, items):
        barriers, batch_error = [], None
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            events = []
            for operation, loop, future in items:
                if operation[0] == "event":  # the bulk of rows: inserted together below
                    events.append(operation)
                    continue
                self._insert_events(events)
                events = []
                if operation[0] == "barrier":
                    barriers.append((operation[1], loop, future))
                else:
                    self._apply_one(operation)
            self._insert_events(events)
            self.connection.execute("COMMIT")
        except sqlite3.Error as exc:  # the file itself failed (disk full, locked, gone)
            batch_error = LogUnavailable(f"The consent log {self.path} cannot be written "
                                         f"({exc}).")
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        settled = {}
        for call_id, loop, future in barriers:
            error = batch_error or self.failures.pop(call_id, None)
            settled.setdefault(loop, []).append((future, error))
        for loop, futures in settled.items():  # one wake-up per event loop per commit
            loop.call_soon_threadsafe(_settle_all, futures)

    def _insert_events(self, events):
        if not events:
            return
        try:
            self.connection.execute("SAVEPOINT rows")
            self.connection.executemany(INSERT_EVENT, [_event_row(call_id, payload)
                                                      for _, call_id, payload in events])
            self.connection.execute("RELEASE rows")
        except sqlite3.Error:  # one bad row: retry one by one so only its call hears of it
            self.connection.execute("ROLLBACK TO rows")
            self.connection.execute("RELEASE rows")
            for operation in events:
                self._apply_one(operation)

    def _apply_one(self, operation):
        self.connection.execute("SAVEPOINT row")
        try:
            apply(self.connection, operation)
            self.connection.execute("RELEASE row")
        except sqlite3.Error as exc:
            self.connection.execute("ROLLBACK TO row")
            self.connection.execute("RELEASE row")
            self.failures.setdefault(operation[1], LogUnavailable(
                f"The consent log {self.path} cannot be written ({exc})."))

    def close(self):
        """Drain what is queued, then stop the writer thread."""
        self.queue.put(None)
        self.thread.join()
        self.connection.close()


def _settle_all(futures):
    for future, error in futures:
        if future.done():
            continue
        if error:
            future.set_exception(error)
        else:
            future.set_result(None)


class CallLog:
    """The flow's view of the log: one call's rows, in order, through a ledger."""

    def __init__(self, ledger, call_id):
        self.ledger = ledger
        self.call_id = call_id
        self.seq = 0  # events are numbered here, in the order the flow took its steps

    def start(self, **fields):
        self.ledger.submit(("start", self.call_id, {"started_at": utc_now(), **fields}))

    def update(self, **fields):
        self.ledger.submit(("update", self.call_id, fields))

    def event(self, kind, **detail):
        self.seq += 1
        self.ledger.submit(("event", self.call_id, (self.seq, utc_now(), kind, detail)))

    async def commit(self):
        """Wait until this call's rows are durable; raises LogUnavailable if any failed."""
        await self.ledger.barrier(self.call_id)
