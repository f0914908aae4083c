"""The FastAGI server against a fake Asterisk over real sockets: every defect it must survive."""

import asyncio
import contextlib
import time

import pytest

from agi_consent.core import contract as v
from agi_consent.core.engine import Engine
from agi_consent.services import Services
from agi_consent.store.ledger import ThreadedLedger
from agi_consent.transport.fastagi import FastAgiServer
from agi_consent.transport.wire import command
from lab.fakes import AsteriskPeer, Script, split_command

CA = "+14155550123"


@contextlib.asynccontextmanager
async def serving(config):
    """A FastAGI server on its own log, listening; `.address` and `.config` set."""
    ledger = ThreadedLedger(config.database)
    instance = FastAgiServer(Services(config, Engine(config), ledger, "fastagi"), config.server)
    instance.address, instance.config = await instance.start(), config
    try:
        yield instance
    finally:
        await instance.shutdown(grace=1)
        ledger.close()


@pytest.fixture
async def server(make_config):
    async with serving(make_config()) as instance:
        yield instance


def peer(server, keys=(), **env):
    return AsteriskPeer(*server.address, Script(keys=list(keys)),
                        env={"agi_callerid": CA, **env})


async def test_granted_call_over_the_socket(server, db_rows):
    script = await peer(server, ["1"]).call(["region=US-NY"])
    assert script.variables[v.RESULT] == "granted"
    assert script.variables[v.JURISDICTION] == "US-CA"
    assert script.mixmonitor[0] == f"{script.variables[v.RECORDING]},i({v.MIXMON_ID})"
    call, events = db_rows(server.config, script.variables[v.ID])
    assert call["result"] == "granted" and call["transport"] == "fastagi"


async def test_route_query_string_is_ignored(server):
    script = await AsteriskPeer(*server.address, Script(keys=["2"]), env={"agi_callerid": CA},
                                script_name="consent?trunk=x").call(["region=US-NY"])
    assert script.variables[v.RESULT] == "declined" and not script.mixmonitor


async def test_unknown_route_answers_error(server):
    script = await AsteriskPeer(*server.address, script_name="other").call()
    assert script.variables == {v.RESULT: "error"}


async def test_client_closing_before_env_does_not_stall_others(server):
    for _ in range(20):  # health checks / port scans
        reader, writer = await asyncio.open_connection(*server.address)
        writer.close()
    _, writer = await asyncio.open_connection(*server.address)
    writer.write(b"agi_network: yes\n")  # half an environment, then silence
    started = time.monotonic()
    script = await asyncio.wait_for(peer(server, ["1"]).call(["region=US-NY"]), 5)
    assert script.variables[v.RESULT] == "granted" and time.monotonic() - started < 2
    writer.close()


async def test_unsolicited_hangup_line_does_not_shift_replies(server):
    def replies(words, script):
        if words[:2] == ["STREAM", "FILE"] and "consent-request" in words[2]:
            script.hung_up = True
            return "HANGUP\n200 result=-1 endpos=1200"
        return None
    script = await peer(server).call(["region=US-NY"], replies)
    assert script.variables[v.RESULT] == "hangup" and not script.mixmonitor


async def test_hangup_line_before_a_normal_reply(server):
    def replies(words, script):
        if words[0] == "ANSWER":
            return "HANGUP\n200 result=0"
        return None
    script = await peer(server, ["1"]).call(["region=US-NY"], replies)
    assert script.variables[v.RESULT] == "granted"  # every later reply matched its command


async def test_multiline_520_keeps_the_conversation_in_step(server):
    def replies(words, script):
        if words[0] == "ANSWER":
            return ("520-Invalid command syntax.  Proper usage follows:\n"
                    "Usage: ANSWER\n Answers channel if not already in answer state.\n"
                    "520 End of proper usage.")
        return None
    script = await peer(server, ["1"]).call(["region=US-NY"], replies)
    assert script.variables[v.RESULT] == "error" and not script.mixmonitor
    assert script.variables[v.RECORDING] == ""


@pytest.mark.parametrize("reply,result", [("510 Invalid or unknown command", "error"),
                                          ("511 Command Not Permitted on a dead channel",
                                           "hangup")])
async def test_510_and_511(server, reply, result):
    script = await peer(server, ["1"]).call(
        ["region=US-NY"], lambda words, s: reply if words[0] == "ANSWER" else None)
    assert script.variables[v.RESULT] == result and not script.mixmonitor


async def test_mixmonitor_error_reply_fails_closed(server):
    script = await peer(server, ["1"]).call(
        ["region=US-NY"], lambda w, s: "200 result=-2" if w[:2] == ["EXEC", "MixMonitor"]
        else None)
    assert script.variables[v.RESULT] == "error" and script.variables[v.RECORDING] == ""


async def test_eof_mid_command(server, db_rows):
    script = await peer(server).call(
        ["region=US-NY"], lambda w, s: "close" if w[:2] == ["STREAM", "FILE"] else None)
    assert not script.mixmonitor
    await asyncio.sleep(0.2)
    calls = db_rows(server.config)
    assert calls[0]["result"] == "hangup"


async def test_command_that_never_returns_times_out(server, db_rows):
    reader_peer = peer(server, ["1"])
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(*server.address)
    env = {**reader_peer.env, "agi_arg_1": "region=US-NY"}
    writer.write("".join(f"{k}: {val}\n" for k, val in env.items()).encode() + b"\n")
    seen = []
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            break
        words = split_command(line.decode())
        seen.append(words)
        if words[:2] == ["STREAM", "FILE"]:
            continue  # Asterisk never answers this one
        writer.write(b"200 result=0\n")
    writer.close()
    assert time.monotonic() - started < 8  # 2 s command timeout + the prompt's 0.5 s
    assert not any(w[:2] == ["EXEC", "MixMonitor"] for w in seen)
    await asyncio.sleep(0.2)
    assert db_rows(server.config)[0]["result"] == "error"
    assert "no reply to STREAM" in db_rows(server.config)[0]["error"]


async def test_a_slow_call_whose_every_reply_is_in_time_is_not_timed_out(server, db_rows):
    """Each command has its own deadline (2 s here): 12 replies 0.4 s apart outlast the first
    command's deadline, and the session's one timer must move on instead of firing."""
    started = time.monotonic()
    script = await peer(server, ["1"]).call(["region=US-NY"], pace=0.4)
    assert time.monotonic() - started > 2 * server.config.server.command_timeout
    assert script.variables[v.RESULT] == "granted" and script.mixmonitor
    assert db_rows(server.config)[0]["result"] == "granted"


async def test_a_stall_after_slow_replies_still_times_out(server, db_rows):
    answered = []

    def replies(words, script):
        answered.append(words)
        return "stall" if words[:2] == ["EXEC", "MixMonitor"] else None
    started = time.monotonic()
    await peer(server, ["1"]).call(["region=US-NY"], replies, pace=0.6)
    assert time.monotonic() - started < 12  # 2 s + 5 s EXEC wait after ~2.4 s of slow replies
    await asyncio.sleep(0.2)
    row = db_rows(server.config)[0]
    assert row["result"] == "error" and "no reply to EXEC" in row["error"]


async def test_500_concurrent_calls(server, db_rows):
    keys = ["1", "2", None]
    peers = [peer(server, [keys[n % 3]] if keys[n % 3] else [], agi_uniqueid=str(n))
             for n in range(500)]
    scripts = await asyncio.gather(*(p.call(["region=US-NY"]) for p in peers))
    results = [s.variables[v.RESULT] for s in scripts]
    assert results.count("granted") == 167 and results.count("declined") == 167
    assert results.count("no-answer") == 166
    assert all(bool(s.mixmonitor) == (s.variables[v.RESULT] == "granted") for s in scripts)
    assert len(db_rows(server.config)) == 500


async def test_shutdown_fails_in_flight_calls_closed(server, db_rows):
    blocked = asyncio.Event()

    async def stuck_call():
        reader, writer = await asyncio.open_connection(*server.address)
        env = {**peer(server).env, "agi_arg_1": "region=US-NY"}
        writer.write("".join(f"{k}: {val}\n" for k, val in env.items()).encode() + b"\n")
        while line := await reader.readline():
            if line.startswith(b"STREAM FILE"):
                blocked.set()
                continue
            writer.write(b"200 result=0\n")
        writer.close()

    task = asyncio.create_task(stuck_call())
    await asyncio.wait_for(blocked.wait(), 5)
    await server.shutdown(grace=0.1)
    await asyncio.wait_for(task, 5)
    row = db_rows(server.config)[0]
    assert row["result"] == "error" and "shutting down" in row["error"]
    assert not row["recording"]


def test_quote_round_trips_through_asterisk_parser():
    for value in ['plain', 'with space', 'quote " inside', 'back\\slash', 'both \\" x',
                  'new\nline', '', 'ünïcode ☎', '$(EVAL)', "trailing\\"]:
        words = split_command(command("SET VARIABLE", "NAME", value))
        assert words == ["SET", "VARIABLE", "NAME", value.replace("\n", "")]


async def test_sigterm_on_the_real_process_fails_in_flight_calls_closed(make_config, tmp_path,
                                                                       db_rows):
    import os
    import signal

    from tests.servers import serve_process

    config = make_config()
    process, port = serve_process(config, tmp_path)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    env = {**AsteriskPeer("127.0.0.1", port).env, "agi_callerid": CA,
           "agi_arg_1": "region=US-NY"}
    writer.write("".join(f"{k}: {val}\n" for k, val in env.items()).encode() + b"\n")
    seen = []
    while line := await asyncio.wait_for(reader.readline(), 10):
        seen.append(line)
        if line.startswith(b"STREAM FILE"):
            os.kill(process.pid, signal.SIGTERM)  # mid-prompt: no reply will come
            continue
        writer.write(b"200 result=0\n")
    writer.close()
    assert process.wait(10) == 0
    assert not any(b"MixMonitor" in line for line in seen)
    row = db_rows(config)[0]
    assert row["result"] == "error" and "shutting down" in row["error"]


async def raw_session(server, data):
    """Send `data` as a client would, then read until the server closes: what it sent."""
    reader, writer = await asyncio.open_connection(*server.address)
    try:
        writer.write(data)
        await writer.drain()
    except ConnectionError:
        pass
    try:
        received = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:  # closed with our data unread: the kernel resets
        received = b""
    writer.close()
    return received


def calls_in_log(config):
    from agi_consent.store import schema as store
    return len(store.recent_calls(store.open_db(config.database), 1000))


async def test_an_environment_of_too_many_lines_is_dropped_unlogged(server):
    lines = b"".join(b"agi_x%d: y\n" % n for n in range(200)) + b"\n"
    assert await raw_session(server, lines) == b""  # closed, nothing asked
    assert calls_in_log(server.config) == 0
    script = await peer(server, ["1"]).call(["region=US-NY"])  # the next call is served
    assert script.variables[v.RESULT] == "granted"


async def test_a_client_flooding_lines_is_bounded_and_dropped(server):
    """Megabytes of short lines with no end to the environment: the server stops reading
    past its queue bound, drops the session, and keeps serving."""
    flood = b"agi_x: y\n" * 200_000
    assert await raw_session(server, flood) == b""
    script = await peer(server, ["2"]).call(["region=US-NY"])
    assert script.variables[v.RESULT] == "declined"


async def test_a_reply_line_over_the_limit_breaks_the_session_cleanly(server, db_rows):
    def replies(words, script):
        return "200 result=0 (" + "x" * 5000 + ")" if words[0] == "ANSWER" else None
    script = await peer(server, ["1"]).call(["region=US-NY"], replies)
    assert not script.mixmonitor and [c[0] for c in script.commands] == ["ANSWER"]
    (call,) = db_rows(server.config)
    assert call["result"] == "error" and "oversize reply to ANSWER" in call["error"]


async def test_the_session_cap_refuses_calls_and_recovers(make_config, caplog):
    async with serving(make_config(server={"max_sessions": 2, "env_timeout": 1.0})) as instance:
        idle = [await asyncio.open_connection(*instance.address) for _ in range(2)]
        await asyncio.sleep(0.1)
        assert await raw_session(instance, b"") == b""  # the third is closed at once
        assert "session cap reached (server.max_sessions = 2)" in caplog.text
        for _, writer in idle:
            writer.close()
        await asyncio.sleep(0.2)
        script = await peer(instance, ["1"]).call(["region=US-NY"])
        assert script.variables[v.RESULT] == "granted"
        assert "accepting calls again after refusing 1 at the cap" in caplog.text


async def test_a_peer_outside_allowed_peers_is_refused(make_config, caplog):
    async with serving(make_config(server={"allowed_peers": ["10.0.0.0/8"]})) as instance:
        with contextlib.suppress(ConnectionResetError):  # closed before our env was read
            script = await peer(instance, ["1"]).call(["region=US-NY"])
            assert script.commands == []
        assert calls_in_log(instance.config) == 0
        assert "refused FastAGI client 127.0.0.1: not in server.allowed_peers" in caplog.text


async def test_the_shared_secret_is_required_when_set(make_config, tmp_path):
    secret = tmp_path / "agi.secret"
    secret.write_text("c0rrect-h0rse\n")
    secret.chmod(0o600)
    async with serving(make_config(server={"secret_file": str(secret)})) as instance:
        for script_name in ("consent", "consent?secret=wrong"):
            script = await AsteriskPeer(*instance.address, Script(keys=["1"]),
                                        env={"agi_callerid": CA},
                                        script_name=script_name).call(["region=US-NY"])
            assert script.variables == {v.RESULT: "error"} and not script.mixmonitor
        assert calls_in_log(instance.config) == 0
        script = await AsteriskPeer(*instance.address, Script(keys=["1"]),
                                    env={"agi_callerid": CA},
                                    script_name="consent?secret=c0rrect-h0rse").call(
                                        ["region=US-NY"])
        assert script.variables[v.RESULT] == "granted"


def _shape(words):
    """A command without its paths and values: ANSWER, STREAM FILE, GET VARIABLE CHANNEL…"""
    if words[:2] == ["GET", "VARIABLE"]:
        return f"GET VARIABLE {words[2].split('(')[0]}"
    return " ".join(words[:1] if words[0] in ("ANSWER", "EXEC") else words[:2])


async def test_the_benchmark_yardstick_sends_what_a_granted_call_sends(server):
    """bench/bare_server.py must run the command script of the benchmark's call (key 1 during
    the prompt), or the throughput ratio compares unlike work."""
    from bench.bare_server import SCRIPT
    sent = []
    await peer(server, ["1"]).call(["region=US-NY"],
                                   lambda words, script: sent.append(_shape(words)))
    assert sent == [_shape(split_command(line)) for line in SCRIPT]
