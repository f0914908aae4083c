"""Writes calls and events to the consent log: the hot path of every call.

Plain `sqlite3` on purpose: importing sqlite-utils costs ~100 ms, a classic-AGI process has
150 ms in all. The schema and migrations live in `schema` (sqlite-utils); this module only
inserts and updates rows.

A call's rows wait in its CallLog and reach the ledger together at the call's commit points:
`commit(call_id, operations, seq)`. A commit means what it says: inside the transaction the
writer counts the call's rows, so it returns only when every row of the call up to `seq` is in
the file, durably (`synchronous=FULL`: a committed consent survives a power loss), and raises
LogUnavailable otherwise. Rows are written idempotently (a call that failed resubmits its
unwritten rows with its next commit, and a row that did land is not written twice).

`Ledger` commits in the caller's thread (classic AGI). `ThreadedLedger` gives the asyncio
server one supervised writer thread: every commit queued at a moment shares one transaction
(group commit), the event loop never blocks on SQLite, every await has a timeout, and any
failure settles every waiting call with an error.
"""

import asyncio
import json
import logging
import os
import queue
import sqlite3
import threading
import time

SCHEMA_VERSION = 2  # bump with every migration in schema.MIGRATIONS
BUSY_SECONDS = 10.0  # how long a commit waits for another process's lock

log = logging.getLogger("agi_consent.ledger")


class LogUnavailable(RuntimeError):
    """The consent log cannot be written; the call must fail closed."""


def file_identity(path):
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def connect(path, busy_seconds=BUSY_SECONDS):
    """A connection with WAL, synchronous=FULL and foreign keys; the file must be migrated."""
    if not os.path.exists(path):
        raise LogUnavailable(f"The consent log {path} does not exist; run "
                             "'agi-consent db init' (or start 'agi-consent serve') first.")
    try:
        connection = sqlite3.connect(path, timeout=busy_seconds, isolation_level=None,
                                     check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as error:
        raise LogUnavailable(f"The consent log {path} cannot be opened ({error}).")
    if version != SCHEMA_VERSION:
        connection.close()
        raise LogUnavailable(f"The consent log {path} is at schema {version}, this version "
                             f"needs {SCHEMA_VERSION}; run 'agi-consent db init'.")
    return connection


INSERT_EVENT = ("INSERT OR IGNORE INTO events (call_id, seq, at, kind, detail) "
                "VALUES (?, ?, ?, ?, ?)")
COUNT_ROWS = ("SELECT EXISTS(SELECT 1 FROM calls WHERE id = ?1), "
              "(SELECT COUNT(*) FROM events WHERE call_id = ?1)")


def _insert_call(connection, call_id, fields):
    row = {"id": call_id, **fields}
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    connection.execute(f"INSERT OR IGNORE INTO calls ({names}) VALUES ({marks})",
                       list(row.values()))


def _update_call(connection, call_id, fields):
    assignments = ", ".join(f"{name} = ?" for name in fields)
    cursor = connection.execute(f"UPDATE calls SET {assignments} WHERE id = ?",
                                [*fields.values(), call_id])
    if cursor.rowcount != 1:
        raise LogUnavailable(f"call {call_id} has no row to update")


def _event_row(call_id, payload):
    seq, at, kind, detail = payload
    return call_id, seq, at, kind, json.dumps(detail, sort_keys=True, default=str)


class Writer:
    """Applies commits to one SQLite file; used by one thread at a time."""

    def __init__(self, path, busy_seconds=BUSY_SECONDS):
        self.path, self.busy_seconds = path, busy_seconds
        self.connection = connect(path, busy_seconds)
        self.identity = file_identity(path)

    def write(self, commits):
        """Apply [(call_id, operations, seq)] in one transaction.

        Returns one entry per commit: None, or the error that failed that call alone (its
        rows are rolled back to a savepoint). A failure of the transaction itself raises.
        """
        self._check_file()
        results = []
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            for call_id, operations, seq in commits:
                results.append(self._write_call(call_id, operations, seq))
            self.connection.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        return results

    def _write_call(self, call_id, operations, seq):
        self.connection.execute("SAVEPOINT call")
        try:
            self._apply(call_id, operations)
            has_row, events = self.connection.execute(COUNT_ROWS, (call_id,)).fetchone()
            if not has_row or events != seq:
                raise LogUnavailable(f"call {call_id} has {events} of its {seq} events in the "
                                     "log" if has_row else f"call {call_id} has no row")
        except (sqlite3.Error, LogUnavailable) as error:
            self.connection.execute("ROLLBACK TO call")
            self.connection.execute("RELEASE call")
            return error if isinstance(error, LogUnavailable) else self.unavailable(error)
        self.connection.execute("RELEASE call")
        return None

    def _apply(self, call_id, operations):
        events = []
        for kind, payload in operations:
            if kind == "event":  # the bulk of rows: inserted together
                events.append(_event_row(call_id, payload))
                continue
            if events:
                self.connection.executemany(INSERT_EVENT, events)
                events = []
            (_insert_call if kind == "start" else _update_call)(self.connection, call_id,
                                                                payload)
        if events:
            self.connection.executemany(INSERT_EVENT, events)

    def _check_file(self):
        """Evidence written to a removed or replaced file could never be read: refuse."""
        try:
            same = file_identity(self.path) == self.identity
        except OSError:
            same = False
        if not same:
            raise LogUnavailable(f"The consent log {self.path} was removed or replaced while "
                                 "in use; restore it and restart agi-consent.")

    def rollback(self):
        try:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        except sqlite3.Error:
            self.reopen()

    def reopen(self):
        try:
            self.connection.close()
        except sqlite3.Error:
            pass
        self.connection = connect(self.path, self.busy_seconds)

    def unavailable(self, error):
        return LogUnavailable(f"The consent log {self.path} cannot be written ({error}).")

    def close(self):
        self.connection.close()


class Ledger:
    """Synchronous writer for per-call processes: each commit is one transaction."""

    timeout = BUSY_SECONDS  # the busy timeout bounds each commit

    def __init__(self, path):
        self.path = path
        self.writer = Writer(path)

    async def commit(self, call_id, operations, seq):
        try:
            (error,) = self.writer.write([(call_id, operations, seq)])
        except sqlite3.Error as exc:
            raise self.writer.unavailable(exc)
        if error:
            raise error

    def close(self):
        self.writer.close()


_STOP = object()


class ThreadedLedger:
    """One supervised writer thread for the asyncio server; see the module docstring."""

    def __init__(self, path, timeout=30.0, max_queue=20000, batch=1000,
                 busy_seconds=BUSY_SECONDS, gather=0.002):
        self.path = path
        self.gather = gather  # seconds a batch may wait for more commits, under load only
        self.timeout = timeout  # seconds a call waits for its commit before failing closed
        self.batch = batch
        self.queue = queue.Queue(max_queue)  # bounded: a stuck writer cannot eat the memory
        self.healthy, self.problem = True, ""
        self.writer = Writer(path, busy_seconds)  # a log that cannot be opened fails here
        self.thread = None
        self._start_thread()

    def _start_thread(self):
        self.thread = threading.Thread(target=self._run, name="consent-log", daemon=True)
        self.thread.start()

    async def commit(self, call_id, operations, seq):
        if not self.thread.is_alive():  # supervision: a dead writer is replaced, and said so
            log.error("the consent log writer had stopped; starting a new one")
            self._start_thread()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        try:
            self.queue.put_nowait((call_id, operations, seq, loop, future))
        except queue.Full:
            raise LogUnavailable(f"The consent log {self.path} is {self.queue.maxsize} "
                                 "commits behind; failing this call closed.")
        try:
            await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise LogUnavailable(f"The consent log {self.path} did not commit within "
                                 f"{self.timeout:.0f} s; failing this call closed.")

    def _run(self):
        busy = False  # the last transaction carried more than one call's commit
        while True:
            items = [self.queue.get()]
            if busy and self.gather:  # group commit: one fsync for many calls under load
                time.sleep(self.gather)
            while len(items) < self.batch:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            busy = len(items) > 1
            commits = [item for item in items if item is not _STOP
                       and not item[4].cancelled()]  # a call that gave up is not waiting
            if commits:
                self._settle(commits, self._write(commits))
            if _STOP in items:
                return

    def _write(self, commits):
        """Per-commit errors; a failed transaction fails every call that had a row in it."""
        try:
            results = self.writer.write([item[:3] for item in commits])
        except (sqlite3.Error, LogUnavailable) as error:
            failure = error if isinstance(error, LogUnavailable) else \
                self.writer.unavailable(error)
            self._health(False, str(failure))
            return [failure] * len(commits)
        except BaseException as error:  # a bug must not kill the writer or hang a call
            log.exception("consent log writer failed")
            self._health(False, f"writer error: {error}")
            try:
                self.writer.reopen()
            except LogUnavailable:
                pass
            return [LogUnavailable(f"The consent log writer failed ({error}).")] * len(commits)
        self._health(True, "")
        return results

    def _health(self, healthy, problem):
        if healthy != self.healthy:
            if healthy:
                log.info("consent log writable again: %s", self.path)
            else:
                log.error("consent log unavailable, calls fail closed: %s", problem)
        self.healthy, self.problem = healthy, problem

    @staticmethod
    def _settle(commits, results):
        by_loop = {}
        for item, error in zip(commits, results, strict=True):
            by_loop.setdefault(item[3], []).append((item[4], error))
        for loop, futures in by_loop.items():  # one wake-up per event loop per transaction
            try:
                loop.call_soon_threadsafe(_settle_all, futures)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass

    def close(self):
        """Drain what is queued, then stop the writer thread."""
        if self.thread.is_alive():
            self.queue.put(_STOP)
            self.thread.join()
        self.writer.close()


def _settle_all(futures):
    for future, error in futures:
        if future.done():
            continue
        if error:
            future.set_exception(error)
        else:
            future.set_result(None)
