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
from datetime import UTC, datetime

SCHEMA_VERSION = 1  # bump with every migration in store.MIGRATIONS


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


def _insert_event(connection, call_id, kind, detail):
    connection.execute(
        "INSERT INTO events (call_id, seq, at, kind, detail) VALUES (?, "
        "(SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE call_id = ?), ?, ?, ?)",
        (call_id, call_id, utc_now(), kind, json.dumps(detail, sort_keys=True, default=str)))


OPERATIONS = {"start": _insert_call, "update": _update_call}


def apply(connection, operation):
    kind, call_id, payload = operation
    if kind == "event":
        _insert_event(connection, call_id, payload[0], payload[1])
    else:
        OPERATIONS[kind](connection, call_id, payload)


class Ledger:
    """Synchronous writer; each write is its own transaction. Async methods for the flow."""

    def __init__(self, path):
        self.path = path
        self.connection = connect(path)

    def write(self, operation):
        try:
            with self.connection:
                self.connection.execute("BEGIN IMMEDIATE")
                apply(self.connection, operation)
        except sqlite3.Error as error:
            raise LogUnavailable(f"The consent log {self.path} cannot be written ({error}).")

    async def submit(self, operation):
        self.write(operation)

    def close(self):
        self.connection.close()


class ThreadedLedger:
    """One writer thread; `submit` resolves once the row is committed (batched with others)."""

    def __init__(self, path, batch=500):
        self.path = path
        self.batch = batch
        self.connection = connect(path)
        self.queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="consent-log", daemon=True)
        self.thread.start()

    async def submit(self, operation):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue.put((operation, loop, future))
        await future

    def _run(self):
        while True:
            items = [self.queue.get()]
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
        error = None
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            for operation, _, _ in items:
                apply(self.connection, operation)
            self.connection.execute("COMMIT")
        except sqlite3.Error as exc:
            error = LogUnavailable(f"The consent log {self.path} cannot be written ({exc}).")
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        for _, loop, future in items:
            loop.call_soon_threadsafe(_settle, future, error)

    def close(self):
        """Drain what is queued, then stop the writer thread."""
        self.queue.put(None)
        self.thread.join()
        self.connection.close()


def _settle(future, error):
    if future.done():
        return
    if error:
        future.set_exception(error)
    else:
        future.set_result(None)


class CallLog:
    """The flow's view of the log: one call's rows, written through a ledger."""

    def __init__(self, ledger, call_id):
        self.ledger = ledger
        self.call_id = call_id

    async def start(self, **fields):
        await self.ledger.submit(("start", self.call_id, {"started_at": utc_now(), **fields}))

    async def update(self, **fields):
        await self.ledger.submit(("update", self.call_id, fields))

    async def event(self, kind, **detail):
        await self.ledger.submit(("event", self.call_id, (kind, detail)))
