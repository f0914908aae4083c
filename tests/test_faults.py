"""Fault injection: at every step of every path, each way Asterisk or the link really fails.

A scripted Asterisk peer (lab.fakes.AsteriskPeer, replies as res_agi.c sends them) talks to the
real FastAGI server over a socket. For each path (accept, decline, silence, notice, spoken
answer) the clean call is run once to count its commands; then the call is run again with the
fault injected at command 1, 2, … N. Whatever the fault and wherever it lands:

- the call ends (no hang) and the server never hangs the caller up;
- at the moment MixMonitor is requested, the database (read by the test through its own
  read-only connection) already holds the call's row, every event from seq 1, and a committed
  granted/notified consent result;
- a recording requested for a call that did not end granted/notified was stopped (and the log
  says so), or the log says it could not be and the gate must (`recording-stop-failed`);
- the log holds the call with a result and events numbered 1..n without a gap.
"""

import asyncio
import sqlite3

import pytest

from agi_consent.core import contract as v
from agi_consent.core.engine import Engine
from agi_consent.services import Services
from agi_consent.store.ledger import ThreadedLedger
from agi_consent.transport.fastagi import FastAgiServer
from lab.fakes import DEAD, AsteriskPeer, FakeSpeech, Script
from tests.invariants import consent_guard, idle, read_only

CA, TX = "+14155550123", "+12145550123"

PATHS = {  # name: (keys the caller presses or says, caller, trunk region, speech on)
    "accept": (["1"], CA, "US-NY", False),
    "decline": (["2"], CA, "US-NY", False),
    "silence": ([None] * 4, CA, "US-NY", False),
    "notice": ([None], TX, "US-TX", False),
    "spoken": ([None, "say:yes i agree", None, "1"], CA, "US-NY", True),  # confirmed by key
    "confirmed": ([None, "say:yes", None, "say:yes"], CA, "US-NY", True),  # by voice
}
CLEAN_RESULTS = {"accept": v.GRANTED, "decline": v.DECLINED, "silence": v.NO_ANSWER,
                 "notice": v.NOTIFIED, "spoken": v.GRANTED, "confirmed": v.GRANTED}
USAGE_520 = ("520-Invalid command syntax.  Proper usage follows:\n"
             "Usage: X\n This is not how it is used.\n520 End of proper usage.")


def fault_reply(fault, script):
    if fault == "hangup-line":  # the caller hung up: Asterisk says so, then answers 511
        script.hung_up = True
        return f"HANGUP\n{DEAD}"
    return {"510": "510 Invalid or unknown command", "511": DEAD, "520": USAGE_520,
            "minus-1": "200 result=-1", "eof": "close", "stall": "stall",
            "garbage": "xyzzy 42 (not an AGI reply)",
            "oversize": "200 result=1 (" + "x" * 70000 + ")"}[fault]


FAULTS = ("510", "511", "520", "minus-1", "eof", "hangup-line", "stall", "garbage", "oversize")


@pytest.fixture
async def make_server(make_config):
    servers = []

    async def build(speech=None):
        config = make_config(server={"command_timeout": 0.3})
        ledger = ThreadedLedger(config.database, timeout=5)
        services = Services(config, Engine(config), ledger, "fastagi", speech)
        server = FastAgiServer(services, config.server)
        server.address = await server.start()
        server.config = config
        servers.append((server, ledger))
        return server
    yield build
    for server, ledger in servers:
        await server.shutdown(grace=1)
        ledger.close()


async def place(server, path, fault=None, at=None):
    keys, caller, region, _ = PATHS[path]
    script = Script(keys=list(keys))
    seen = {"n": 0, "violations": []}
    guard = consent_guard(server.config.database, seen["violations"])

    def replies(words, script):
        seen["n"] += 1
        guard(words)
        if fault and seen["n"] == at:
            return fault_reply(fault, script)
        return None

    if PATHS[path][3]:
        server.services.speech = FakeSpeech(script)
    peer = AsteriskPeer(*server.address, script, env={"agi_callerid": caller})
    await asyncio.wait_for(peer.call([f"region={region}"], replies), 10)  # never hangs
    await idle(server)
    return script, seen


def final_record(config, script):
    call_id = script.variables.get(v.ID)
    with read_only(config.database) as db:
        db.row_factory = sqlite3.Row
        if call_id is None:  # the variables never reached the peer: the newest call
            call = db.execute("SELECT * FROM calls ORDER BY rowid DESC LIMIT 1").fetchone()
        else:
            call = db.execute("SELECT * FROM calls WHERE id = ?", [call_id]).fetchone()
        events = db.execute("SELECT seq, kind FROM events WHERE call_id = ? ORDER BY seq",
                            [call["id"]]).fetchall()
    return dict(call), [(e["seq"], e["kind"]) for e in events]


def final_kinds(config, script):
    call, events = final_record(config, script)
    return call, [kind for _, kind in events]


def check_invariants(server, script, seen, label):
    assert not seen["violations"], f"{label}: MixMonitor before committed consent"
    assert not any(w and w[0] == "HANGUP" for w in script.commands), f"{label}: hung up"
    call, events = final_record(server.config, script)
    assert call["result"] in v.RESULTS, label
    assert [s for s, _ in events] == list(range(1, len(events) + 1)), label
    kinds = [k for _, k in events]
    if script.mixmonitor and call["result"] not in v.RECORDS:
        stopped = any(w[:2] == ["EXEC", "StopMixMonitor"] for w in script.commands)
        assert ("recording-stopped" in kinds and stopped) or "recording-stop-failed" in kinds, \
            f"{label}: recording left running, log says {kinds}"
        assert script.variables.get(v.RESULT) != "granted", label
    if "recording-stopped" in kinds:
        assert not script.recorders, f"{label}: log says stopped, recorder still attached"
    return call, kinds


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("path", PATHS)
async def test_fault_at_every_step(make_server, path, fault):
    server = await make_server()
    clean, seen = await place(server, path)
    expected, _ = check_invariants(server, clean, seen, f"{path} clean")
    assert expected["result"] == CLEAN_RESULTS[path]
    steps = seen["n"]
    assert steps >= 8
    gone = (v.HANGUP, v.ERROR) if fault in ("511", "hangup-line", "eof") else (v.ERROR,)
    if PATHS[path][3]:  # a failed answer window degrades to the keypad: silence there
        gone += (v.NO_ANSWER,)
    for at in range(1, steps + 1):
        script, seen = await place(server, path, fault, at)
        call, kinds = check_invariants(server, script, seen, f"{path}: {fault} at {at}")
        # the caller's own answer stands only once committed (a fault in the closing prompt)
        assert call["result"] in (*gone, expected["result"]), f"{path}: {fault} at {at}"
        if call["result"] == expected["result"]:
            assert "consent-result" in kinds


async def test_missing_prompt_on_a_live_channel_is_an_error_not_a_hangup(make_server):
    server = await make_server()
    script = Script(keys=["1"])
    script.missing = {f"{server.config.prompts.directory}/en/consent-request"}
    await AsteriskPeer(*server.address, script, env={"agi_callerid": CA}).call(["region=US-NY"])
    assert script.variables[v.RESULT] == "error" and not script.mixmonitor
    assert ["CHANNEL", "STATUS"] in script.commands  # asked, since -1 alone is ambiguous


async def test_closing_prompt_failure_keeps_the_committed_result(make_server):
    server = await make_server()
    script = Script(keys=["1"])
    script.missing = {f"{server.config.prompts.directory}/en/consent-confirmed"}
    await AsteriskPeer(*server.address, script, env={"agi_callerid": CA}).call(["region=US-NY"])
    await idle(server)
    call, kinds = final_kinds(server.config, script)
    assert call["result"] == "granted" and script.recorders  # still recording, with consent
    assert "closing-prompt-failed" in kinds


async def test_recording_stopped_when_the_link_breaks_after_mixmonitor(make_server):
    server = await make_server()
    script = Script(keys=["1"])

    def replies(words, script):
        if words[:3] == ["SET", "VARIABLE", v.MODE]:
            return "stall"  # the SET VARIABLE times out: the link is unusable from here
        return None
    await AsteriskPeer(*server.address, script, env={"agi_callerid": CA}).call(
        ["region=US-NY"], replies)
    await idle(server)
    call, kinds = final_kinds(server.config, script)
    assert call["result"] == "error" and "recording-stop-failed" in kinds
    assert call["recording"]  # the log does not pretend nothing is recording
    assert script.variables[v.MIXMON_ID] in script.recorders  # what the gate then stops


async def test_recorder_that_did_not_attach_fails_closed(make_server):
    server = await make_server()
    script = Script(keys=["1"])

    def replies(words, script):
        if words[:2] == ["GET", "VARIABLE"] and words[2].startswith("MIXMONITOR("):
            return "200 result=0"  # MixMonitor said success, but no recorder is attached
        return None
    await AsteriskPeer(*server.address, script, env={"agi_callerid": CA}).call(
        ["region=US-NY"], replies)
    assert script.variables[v.RESULT] == "error" and not script.variables[v.RECORDING]


GATE_ARGS = ["region=US-CA", "direction=", "number=", "lang="]  # as the consent gate passes them


@pytest.mark.parametrize("env,args,why", [
    ({}, ["region=US-CA", "region=US-TX"], "repeated argument key"),
    ({"agi_callerid": TX + "\nagi_arg_5: region=US-TX"}, GATE_ARGS, "line injected by caller ID"),
    ({"agi_calleridname": "Eve\x07"}, GATE_ARGS, "control character"),
    ({"agi_calleridname": "x" * 3000}, GATE_ARGS, "oversize value"),
    ({"agi_calleridname": "x" * 70000}, GATE_ARGS, "line over the read limit"),
])
async def test_untrusted_environment_fails_closed(make_server, env, args, why):
    """A Texan on a Californian (all-party) trunk who says nothing: only a forged region
    (one-party Texas) would make the call `notified` and recorded."""
    server = await make_server()
    script = Script(keys=[None] * 4)
    peer = AsteriskPeer(*server.address, script, env={"agi_callerid": TX, **env})
    await asyncio.wait_for(peer.call(args), 10)
    await idle(server)
    assert not script.mixmonitor, why
    if "x" * 70000 not in env.values():  # past the read limit the client is just dropped
        assert script.variables.get(v.RESULT) == "error", why


async def test_gate_arguments_alone_are_accepted(make_server):
    server = await make_server()
    script = Script(keys=[None] * 4)
    await AsteriskPeer(*server.address, script, env={"agi_callerid": TX}).call(GATE_ARGS)
    assert script.variables[v.RESULT] == "no-answer" and not script.mixmonitor
