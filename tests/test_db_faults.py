"""The consent log failing under a live server, as it really fails: another process holding
the lock (shorter than the busy timeout, longer, through the whole call), a full disk, the
file replaced, the server killed (SIGKILL) or stopped (SIGTERM) under load. Every time: no
MixMonitor without a committed consent, no call left hanging, the file intact."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from agi_consent.core import contract as v
from agi_consent.core.engine import Engine
from agi_consent.services import Services
from agi_consent.store.ledger import ThreadedLedger
from agi_consent.transport.fastagi import FastAgiServer
from lab.fakes import AsteriskPeer, Script
from tests.invariants import consent_guard, idle, no_recording_without_consent, read_only
from tests.servers import serve_process

CA = "+14155550123"
BUSY = 0.5  # the writer's busy timeout in these tests


@pytest.fixture
async def server(make_config):
    config = make_config(server={"command_timeout": 2.0})
    ledger = ThreadedLedger(config.database, timeout=3, busy_seconds=BUSY)
    instance = FastAgiServer(Services(config, Engine(config), ledger, "fastagi"), config.server)
    instance.address = await instance.start()
    instance.config, instance.ledger = config, ledger
    yield instance
    await instance.shutdown(grace=1)
    ledger.close()


class LockHolder:
    """Another process holding the database's write lock for `seconds`."""

    def __init__(self, database, seconds):
        code = ("import sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
                "time.sleep(float(sys.argv[2])); c.execute('COMMIT')\n")
        self.process = subprocess.Popen([sys.executable, "-c", code, database, str(seconds)],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "locked"

    def wait(self):
        self.process.wait(30)
        self.process.stdout.close()


async def call(server, keys=("1",), violations=None, **peer_options):
    script = Script(keys=list(keys))
    violations = [] if violations is None else violations
    guard = consent_guard(server.config.database, violations)

    def replies(words, script):
        guard(words)
        return None
    started = time.monotonic()
    await asyncio.wait_for(AsteriskPeer(*server.address, script, env={"agi_callerid": CA})
                           .call(["region=US-NY"], replies, **peer_options), 20)
    await idle(server)
    assert not violations, violations
    return script, time.monotonic() - started


def logged(config, call_id):
    with read_only(config.database) as db:
        row = db.execute("SELECT result FROM calls WHERE id = ?", [call_id]).fetchone()
        seqs = [s for (s,) in db.execute("SELECT seq FROM events WHERE call_id = ? "
                                         "ORDER BY seq", [call_id])]
    return (row[0] if row else None), seqs


async def test_lock_shorter_than_the_busy_timeout_is_waited_out(server):
    holder = LockHolder(server.config.database, BUSY / 3)
    script, _ = await call(server)
    holder.wait()
    assert script.variables[v.RESULT] == "granted" and script.recorders
    result, seqs = logged(server.config, script.variables[v.ID])
    assert result == "granted" and seqs == list(range(1, len(seqs) + 1))


async def test_lock_longer_than_the_busy_timeout_fails_closed_then_recovers(server):
    holder = LockHolder(server.config.database, BUSY * 4)
    script, seconds = await call(server)
    assert script.variables[v.RESULT] == "error" and not script.mixmonitor
    assert seconds < 10  # ended, not hung
    holder.wait()
    again, _ = await call(server)  # the writer is fine once the lock is gone
    assert again.variables[v.RESULT] == "granted" and server.ledger.healthy
    result, seqs = logged(server.config, again.variables[v.ID])
    assert result == "granted" and seqs[0] == 1


async def test_lock_held_through_the_call_never_hangs_it(server):
    holder = LockHolder(server.config.database, 12)
    try:
        script, seconds = await call(server)
        assert script.variables[v.RESULT] == "error" and not script.mixmonitor
        assert seconds < 10 and not server.ledger.healthy
        assert "locked" in server.ledger.problem
    finally:
        holder.process.kill()
        holder.wait()


async def test_database_replaced_while_serving_fails_closed(server):
    database = server.config.database
    os.rename(database, database + ".moved")
    shutil.copy(database + ".moved", database)  # a restore over the live file
    script, _ = await call(server)
    assert script.variables[v.RESULT] == "error" and not script.mixmonitor
    assert "replaced" in server.ledger.problem


async def test_database_removed_while_serving_fails_closed(server):
    os.unlink(server.config.database)
    script, _ = await call(server)
    assert script.variables[v.RESULT] == "error" and not script.mixmonitor


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (root, as the lab): a real ENOSPC, not a simulated one."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (needs root): "
                    f"{result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_disk_full_fails_closed(make_config, small_disk):
    config = make_config(database=str(small_disk / "log" / "consent.db"))
    ledger = ThreadedLedger(config.database, timeout=3, busy_seconds=BUSY)
    server = FastAgiServer(Services(config, Engine(config), ledger, "fastagi"), config.server)
    server.address = await server.start()
    server.config = config
    try:
        first, _ = await call(server)
        assert first.variables[v.RESULT] == "granted"
        with open(small_disk / "filler", "wb") as filler:  # fill the disk to the last byte
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        results = [(await call(server))[0] for _ in range(5)]
        assert all(not s.mixmonitor for s in results)
        assert all(s.variables[v.RESULT] == "error" for s in results)
        assert not ledger.healthy
    finally:
        await server.shutdown(grace=1)
        ledger.close()


async def load(port, database, calls, violations, pace):
    async def one(n):
        script = Script(keys=["1" if n % 3 else "2"])
        guard = consent_guard(database, violations)

        def replies(words, script):
            guard(words)
            return None
        try:
            await AsteriskPeer("127.0.0.1", port, script, env={"agi_callerid": CA}).call(
                ["region=US-NY"], replies, pace=pace)
        except (ConnectionError, OSError):
            pass
        return script
    return await asyncio.gather(*(one(n) for n in range(calls)))


def integrity(database):
    with read_only(database) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


async def test_sigkill_under_100_concurrent_calls_loses_no_committed_consent(make_config,
                                                                             tmp_path):
    config = make_config()
    process, port = serve_process(config, tmp_path)
    violations = []
    calls = asyncio.ensure_future(load(port, config.database, 100, violations, pace=0.05))
    await asyncio.sleep(0.6)  # mid-load: some calls recorded, some asking, some connecting
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    scripts = await asyncio.wait_for(calls, 30)
    assert not violations, violations
    assert integrity(config.database) == "ok"
    assert no_recording_without_consent(config.database) == []
    recorded = [s for s in scripts if s.mixmonitor]
    assert recorded, "the kill came before any call recorded: the test proves nothing"
    for script in recorded:  # every recording Asterisk started has its consent on disk
        result, seqs = logged(config, script.variables.get(v.ID) or
                              script.mixmonitor[0].split(",")[0].rsplit("/", 1)[1][:-4])
        assert seqs and seqs == list(range(1, len(seqs) + 1))


async def test_sigterm_mid_load_fails_in_flight_calls_closed(make_config, tmp_path):
    config = make_config()
    process, port = serve_process(config, tmp_path, grace=0.3)
    violations = []
    calls = asyncio.ensure_future(load(port, config.database, 60, violations, pace=0.1))
    await asyncio.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    scripts = await asyncio.wait_for(calls, 30)
    assert not violations, violations
    assert integrity(config.database) == "ok"
    assert no_recording_without_consent(config.database) == []
    with read_only(config.database) as db:
        results = [r for (r,) in db.execute("SELECT result FROM calls")]
    assert results and all(r in v.RESULTS for r in results)  # every call that began, ended
    assert any(r == v.ERROR for r in results)  # some were cut by the shutdown, closed
    assert all(not s.mixmonitor or s.variables.get(v.RESULT) != v.ERROR or
               any(w[:2] == ["EXEC", "StopMixMonitor"] for w in s.commands) for s in scripts)
