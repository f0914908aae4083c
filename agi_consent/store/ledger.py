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
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time

from . import chain, projection

SCHEMA_VERSION = 4  # bump with every migration in schema.MIGRATIONS
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


CALL_ROWS = "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events WHERE call_id = ?"
CALLS_ROWS = ("SELECT call_id, COUNT(*), MAX(seq) FROM events WHERE call_id IN ({}) "
              "GROUP BY call_id")
HEAD = "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1"


def seal(call_id, row_id, previous, payload):
    """One event as stored: personal values replaced by salted commitments, canonical
    detail, and its link in the chain. Returns (event row, personal rows, detail, personal)."""
    seq, at, kind, detail, personal = payload
    personal_rows = []
    if personal:
        commitments = {}
        for name, value in sorted(personal.items()):
            salt = os.urandom(16).hex()
            commitments[name] = chain.commitment(salt, name, value)
            personal_rows.append((call_id, seq, name, str(value), salt))
        detail = {**detail, "personal": commitments}
    text = chain.canonical(detail)
    digest = chain.link(previous, chain.row_text(row_id, call_id, seq, at, kind, text))
    return (row_id, call_id, seq, at, kind, text, digest), personal_rows, detail


def archive_rules(path, version, content):
    """Keep the effective rules table under its version, once, so any decision logged with
    it can be re-derived later (`agi-consent decide --rules-version`). Returns the version
    it replaces when it is new and another came before it, else None."""
    connection = connect(path)
    try:
        if connection.execute("SELECT 1 FROM rules_versions WHERE version = ?",
                              [version]).fetchone():
            return None
        from datetime import UTC, datetime
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            latest = connection.execute("SELECT version FROM rules_versions ORDER BY "
                                        "created_at DESC, rowid DESC LIMIT 1").fetchone()
            connection.execute("INSERT OR IGNORE INTO rules_versions VALUES (?, ?, ?)",
                               [version, datetime.now(UTC).isoformat(timespec="seconds"),
                                content])
        return latest[0] if latest else None
    except sqlite3.Error as error:
        raise LogUnavailable(f"The consent log {path} cannot be written ({error}).")
    finally:
        connection.close()


class _Isolate(Exception):
    """A batch's statements failed: write it again a call at a time, to fail only the culprit."""


class Rows:
    """Sealed rows of several calls, stored with one statement per table and column set.

    Many rows go in one statement (`VALUES (…), (…)`): one sqlite3 step for a chunk of
    rows. `executemany` steps once per row and drops the GIL at every step, handing it to
    the event loop and waiting to get it back (6.6 context switches of the writer per call
    at 50 concurrent calls; 1.9–3.0 this way), and binds each row at 4.1 µs against 2.6."""

    def __init__(self):
        self.events, self.personal, self.starts, self.updates = [], [], {}, {}

    def add(self, call_id, sealed):
        events, personal, start, updates, head = sealed
        self.events += events
        self.personal += personal
        if start is not None:
            self.starts.setdefault(tuple(start), []).append([call_id, *start.values()])
        if updates:
            self.updates.setdefault(tuple(updates), []).append([*updates.values(), call_id])
        return head

    def store(self, connection):
        """Raises _Isolate when a call has no row to update (its call-start never landed)."""
        for names, values in self.starts.items():
            _insert(connection, "calls", ("id", *names), values)
        _insert(connection, "events", EVENT_COLUMNS, self.events)
        _insert(connection, "personal", PERSONAL_COLUMNS, self.personal)
        for names, values in self.updates.items():
            if _update_calls(connection, names, values) != len(values):
                raise _Isolate("a call has no row to update")


EVENT_COLUMNS = ("id", "call_id", "seq", "at", "kind", "detail", "hash")
PERSONAL_COLUMNS = ("call_id", "seq", "name", "value", "salt")
LARGEST_CHUNK = 128  # rows per statement: 7 columns stay far below SQLite's 32,766 variables


def _chunks(values):
    """Slices of power-of-two lengths, largest first: few distinct statements, so each is
    prepared once and then found in the connection's statement cache."""
    start, size = 0, LARGEST_CHUNK
    while start < len(values):
        while size > len(values) - start:
            size //= 2
        yield values[start:start + size]
        start += size


def _rows_sql(count, width):
    row = "(" + ", ".join("?" * width) + ")"
    return ", ".join([row] * count)


def _insert(connection, table, names, values):
    for chunk in _chunks(values):
        connection.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES "
                           f"{_rows_sql(len(chunk), len(names))}",
                           [value for row in chunk for value in row])


def _update_calls(connection, names, values):
    """Each row is [*new values, call id]; returns how many calls rows were updated."""
    setting = ", ".join(f"{name} = new.column{n}" for n, name in enumerate(names, 1))
    updated = 0
    for chunk in _chunks(values):
        updated += connection.execute(
            f"UPDATE calls SET {setting} FROM (VALUES {_rows_sql(len(chunk), len(names) + 1)})"
            f" AS new WHERE calls.id = new.column{len(names) + 1}",
            [value for row in chunk for value in row]).rowcount
    return updated


class Writer:
    """Applies commits to one SQLite file; used by one thread at a time."""

    def __init__(self, path, busy_seconds=BUSY_SECONDS, checkpoints=None):
        self.path, self.busy_seconds = path, busy_seconds
        self.connection = connect(path, busy_seconds)
        self.identity = file_identity(path)
        self.checkpoints = checkpoints  # signs the head every N rows / T s (the server's)
        self.head = (0, chain.GENESIS)

    def write(self, commits):
        """Apply [(call_id, operations, seq)] in one transaction.

        Returns one entry per commit: None, or the error that failed that call alone. A
        failure of the transaction itself raises.
        """
        self._check_file()
        try:
            return self._transaction(self._write_batch, commits)
        except _Isolate:  # one call's rows are at fault: find it, a savepoint per call
            return self._transaction(lambda items: [self._write_call(*item) for item in items],
                                     commits)

    def _transaction(self, body, commits):
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            # the head is read inside the transaction: classic-AGI processes write too
            self.head = self.connection.execute(HEAD).fetchone() or (0, chain.GENESIS)
            results = body(commits)
            if self.checkpoints:
                self.checkpoints.maybe(self.connection, *self.head)
            self.connection.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        return results

    def _write_batch(self, commits):
        """Every call's rows with one statement per table, not six per call: under load the
        writer thread waits for the GIL at each statement (the event loop holds it)."""
        ids = list(dict.fromkeys(call_id for call_id, _, _ in commits))
        if len(ids) != len(commits):  # a call's commit queued twice (a retry after a timeout):
            raise _Isolate("one call twice")  # its updates must apply in order, one by one
        tops = {call_id: (0, 0) for call_id in ids}
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            tops.update((row[0], row[1:]) for row in self.connection.execute(
                CALLS_ROWS.format(", ".join("?" * len(chunk))), chunk))
        results, rows = [], Rows()
        for call_id, operations, seq in commits:
            try:
                count, top = tops[call_id]
                self.head = rows.add(call_id, self._sealed(call_id, operations, seq, count, top))
                results.append(None)
            except (LogUnavailable, chain.NotCanonical) as error:
                results.append(error if isinstance(error, LogUnavailable)
                               else self.unavailable(error))
        try:
            rows.store(self.connection)
        except sqlite3.Error as error:
            raise _Isolate from error
        return results

    def _write_call(self, call_id, operations, seq):
        self.connection.execute("SAVEPOINT call")
        head = self.head
        try:
            self._apply(call_id, operations, seq)
        except (sqlite3.Error, LogUnavailable, chain.NotCanonical) as error:
            self.connection.execute("ROLLBACK TO call")
            self.connection.execute("RELEASE call")
            self.head = head
            return error if isinstance(error, LogUnavailable) else self.unavailable(error)
        self.connection.execute("RELEASE call")
        return None

    def _apply(self, call_id, operations, seq):
        """Append the call's rows it does not have yet, chained, and derive its calls row."""
        count, top = self.connection.execute(CALL_ROWS, (call_id,)).fetchone()
        rows = Rows()
        head = rows.add(call_id, self._sealed(call_id, operations, seq, count, top))
        try:
            rows.store(self.connection)
        except _Isolate as error:
            raise LogUnavailable(f"call {call_id} has no row to update") from error
        self.head = head

    def _sealed(self, call_id, operations, seq, count, top):
        """The call's new rows, chained after the head: (events, personal, start, updates,
        head). Raises LogUnavailable unless the log holds exactly rows 1..top of the call."""
        new = [payload for _, payload in operations if payload[0] > top]
        if count != top or [p[0] for p in new] != list(range(top + 1, seq + 1)):
            raise LogUnavailable(f"call {call_id} has {count} of its events in the log, not "
                                 f"1..{top}; refusing to add {len(new)} more")
        events, personal_rows, updates, start = [], [], {}, None
        row_id, head = self.head
        for payload in new:
            row_id += 1
            event, personal, detail = seal(call_id, row_id, head, payload)
            head = event[-1]
            events.append(event)
            personal_rows += personal
            columns = projection.columns(payload[2], detail, payload[4] or {}, payload[1])
            if payload[2] == "call-start":
                start = columns
            else:
                updates.update(columns)
        if start is not None:  # a new call's row goes in whole: no UPDATE of a row just made
            start, updates = {**start, **updates}, {}
        return events, personal_rows, start, updates, (row_id, head)

    def _check_file(self):
        """Evidence written to a removed or replaced file could never be read: refuse."""
        try:
            same = file_identity(self.path) == self.identity
        except OSError:
            same = False
        if not same:
            raise LogUnavailable(f"The consent log {self.path} was removed or replaced while "
                                 "in use; restore it and restart agi-consent.")

    def append(self, call_id, kind, detail, unless=None, create=False, then=None):
        """One event after a call's last, chained like any other, in its own transaction: the
        admin actions (hold, release, purge, erase, export, rules changes). `unless` is asked
        inside the transaction and, when true, nothing is written (another run got there
        first); `create` starts the call's row if it has none (the log's own `system` call);
        `then` runs in the same transaction after the event (an erasure's deletions).
        Returns the event's seq, or None."""
        return self.append_all([(call_id, kind, detail, unless, create, then)])[0]

    def append_all(self, items):
        """Several such events in one transaction (a purge's batch); their seqs or None."""
        from datetime import UTC, datetime
        self._check_file()
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            self.head = self.connection.execute(HEAD).fetchone() or (0, chain.GENESIS)
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            seqs = [self._append_one(now, *item) for item in items]
            self.connection.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        return seqs

    def _append_one(self, now, call_id, kind, detail, unless=None, create=False, then=None):
        if unless and unless(self.connection):
            return None
        _, top = self.connection.execute(CALL_ROWS, (call_id,)).fetchone()
        rows = [("event", (1, now, "call-start", {"transport": "system"}, None))] \
            if create and top == 0 else []
        seq = top + len(rows) + 1
        rows.append(("event", (seq, now, kind, detail, None)))
        self._apply(call_id, rows, seq)
        if then:
            then(self.connection)
        return seq

    def checkpoint_now(self):
        """Sign the current head if it moved since the last checkpoint (at shutdown)."""
        if not self.checkpoints:
            return
        self._check_file()
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            size, head = self.connection.execute(HEAD).fetchone() or (0, chain.GENESIS)
            latest = self.connection.execute("SELECT MAX(size) FROM checkpoints").fetchone()[0]
            if size > (latest or 0):
                self.checkpoints.write(self.connection, size, head)
            self.connection.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise

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
    open_call = staticmethod(contextlib.nullcontext)  # one call per process: no group commit

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
                 busy_seconds=BUSY_SECONDS, gather=0.002, checkpoints=None):
        self.path = path
        self.gather = gather  # seconds a batch may wait for more commits, under load only
        self.timeout = timeout  # seconds a call waits for its commit before failing closed
        self.batch = batch
        self.queue = queue.Queue(max_queue)  # bounded: a stuck writer cannot eat the memory
        self.healthy, self.problem = True, ""
        self.calls_open = 0  # calls running now: each may still bring a commit to a batch
        self.writer = Writer(path, busy_seconds, checkpoints)  # unusable log: fails here
        self.thread = None
        self._start_thread()

    def _start_thread(self):
        self.thread = threading.Thread(target=self._run, name="consent-log", daemon=True)
        self.thread.start()

    @contextlib.contextmanager
    def open_call(self):
        """Around a call's flow: the group commit waits only while some call may still come."""
        self.calls_open += 1
        try:
            yield
        finally:
            self.calls_open -= 1

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
            async with asyncio.timeout(self.timeout):
                await future
        except TimeoutError:
            raise LogUnavailable(f"The consent log {self.path} did not commit within "
                                 f"{self.timeout:.0f} s; failing this call closed.")

    def _run(self):
        busy = False  # the last transaction carried more than one call's commit
        while True:
            items = [self.queue.get()]
            if busy and self.gather:  # group commit: one fsync for many calls under load
                self._gather()
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

    def _gather(self):
        """Wait up to `gather` s for more commits, but not once every running call has one
        queued: under load the calls reach their barriers together, and a fixed wait went on
        after the last of them had come (side by side at 50 concurrent calls, about 10 %
        more flows/s)."""
        deadline = time.monotonic() + self.gather
        while self.queue.qsize() + 1 < self.calls_open:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, self.gather / 8))

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
        """Drain what is queued, stop the writer thread, sign the final head."""
        if self.thread.is_alive():
            self.queue.put(_STOP)
            self.thread.join()
        try:
            self.writer.checkpoint_now()
        except (sqlite3.Error, LogUnavailable) as error:
            log.error("no final checkpoint: %s", error)
        self.writer.close()


def _settle_all(futures):
    for future, error in futures:
        if future.done():
            continue
        if error:
            future.set_exception(error)
        else:
            future.set_result(None)


class Appender:
    """Admin and lifecycle events (hangup, recording-closed, pause, withdrawal) from asyncio
    code: `Writer.append_all` and reads on one thread of their own, so the event loop never
    waits on SQLite and one connection is only ever used by one thread."""

    def __init__(self, path, timeout=30.0):
        from concurrent.futures import ThreadPoolExecutor
        self.path, self.timeout = path, timeout
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="consent-events")
        self.writer = self.executor.submit(Writer, path).result()

    async def _run(self, function, *args):
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                return await loop.run_in_executor(self.executor, function, *args)
        except TimeoutError:
            raise LogUnavailable(f"The consent log {self.path} did not answer within "
                                 f"{self.timeout:.0f} s.") from None
        except sqlite3.Error as error:
            raise self.writer.unavailable(error) from None

    async def read(self, query, *args):
        """`query(connection, *args)` on the events thread."""
        return await self._run(lambda: query(self.writer.connection, *args))

    async def append_all(self, items):
        return await self._run(self.writer.append_all, items)

    def close(self):
        self.executor.submit(self.writer.close).result()
        self.executor.shutdown()
