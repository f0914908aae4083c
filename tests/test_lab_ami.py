"""The AMI watcher against the real Asterisk 22 lab: hangup closes the record with the final
file's hash, a pause leaves a silent span of the right length in the file, a DTMF withdrawal
stops the recording and marks it, a transferred caller stays recorded, a `serve` restart with a
call in progress reconciles it, a refused login is one clear line while FastAGI goes on, and
Asterisk's AMI restarting mid-run is survived. Never skipped: the lab fixture fails loudly."""

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from agi_consent import config as config_module
from lab import asterisk as lab
from lab.calls import LabAmi
from tests.servers import free_port

pytestmark = pytest.mark.lab

CA = "+14155550123"
WEASELS = lab.inside("/usr/share/asterisk/sounds/en_US_f_Allison/tt-weasels.wav")


@pytest.fixture(scope="module")
def config(running_lab):
    return config_module.load(str(lab.LAB / "server.toml"))


def events_of(config, call_id):
    connection = sqlite3.connect(f"file:{config.database}?mode=ro", uri=True)
    try:
        return [(kind, json.loads(detail)) for kind, detail in connection.execute(
            "SELECT kind, detail FROM events WHERE call_id = ? ORDER BY seq", [call_id])]
    finally:
        connection.close()


def result_of(config, call_id):
    connection = sqlite3.connect(f"file:{config.database}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT result FROM calls WHERE id = ?",
                                  [call_id]).fetchone()[0]
    finally:
        connection.close()


def wait_for_event(config, call_id, kind, seconds=40):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [detail for k, detail in events_of(config, call_id) if k == kind]
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no {kind} for call {call_id}: {events_of(config, call_id)}")


def local(config, path):
    return Path(config_module.local_path(config, path))


def zero_runs(path, rate=8000):
    """Lengths (s) of the runs of digital silence: what MixMonitorMute writes."""
    with wave.open(str(path)) as audio:
        assert audio.getframerate() == rate and audio.getsampwidth() == 2
        frames = audio.readframes(audio.getnframes())
    runs, current = [], 0
    for index in range(0, len(frames), 2):
        if frames[index:index + 2] == b"\x00\x00":
            current += 1
        else:
            if current:
                runs.append(current / rate)
            current = 0
    return sorted(runs + ([current / rate] if current else []))


def cli(*args):
    return subprocess.run([str(Path(sys.prefix) / "bin" / "agi-consent"), "--config",
                           str(lab.LAB / "server.toml"), *args], capture_output=True,
                          text=True, timeout=60)


def run_calls(secret, *calls):
    async def place():
        async with LabAmi(secret) as ami:
            return await asyncio.gather(*(ami.call(CA, behaviour, "US-NY", **options)
                                          for behaviour, options in calls))
    return asyncio.run(place())


@pytest.fixture(scope="module")
def placed(running_lab):
    """A plain recorded call, a paused one, a withdrawn one and one withdrawn while the
    plugin's mid-call route is unreachable, concurrently."""
    withdraw = {"after": "agent", "extra": {"LAB_WITHDRAW_AFTER": 8}}
    dead = {"after": "agent", "extra": {"LAB_WITHDRAW_AFTER": 8, "CONSENT_AGI_SERVER":
                                        f"agi://127.0.0.1:{lab.DEAD_AGI_PORT}"}}
    plain, paused, withdrawn, unplugged = run_calls(
        running_lab, ("accept", {}), ("accept", {"after": "pause"}), ("withdraw", withdraw),
        ("withdraw", dead))
    return {"plain": plain, "paused": paused, "withdrawn": withdrawn, "unplugged": unplugged}


def test_hangup_closes_the_record_with_cause_and_the_final_files_hash(placed, config):
    outcome = placed["plain"]
    assert outcome["Result"] == "granted"
    call_id = outcome["Id"]
    closed = wait_for_event(config, call_id, "recording-closed")
    hangup = wait_for_event(config, call_id, "hangup")
    assert hangup["by"] == "ami" and hangup["cause"] == 16 and hangup["cause_txt"]
    path = local(config, outcome["Recording"])
    assert closed["path"] == outcome["Recording"] and closed["closed"] is True
    assert closed["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert closed["size"] == path.stat().st_size and closed["seconds"] > 2
    kinds = [k for k, _ in events_of(config, call_id)]
    assert kinds.index("call-end") < kinds.index("hangup") < kinds.index("recording-closed")
    assert cli("verify").returncode == 0


def test_a_pause_leaves_silence_as_long_as_the_pause(placed, config):
    outcome = placed["paused"]
    assert [e["State"] for e in outcome.events] == ["paused", "resumed"]
    call_id = outcome["Id"]
    wait_for_event(config, call_id, "recording-closed")
    logged = dict(events_of(config, call_id))
    assert logged["paused"]["reason"] == "card payment"
    assert logged["paused"]["by"].startswith("dialplan:")
    with wave.open(str(WEASELS)) as audio:
        weasels = audio.getnframes() / audio.getframerate()
    longest = zero_runs(local(config, outcome["Recording"]))[-1]
    # muted from the pause's confirmation to the resume: the weasels prompt and two AGI trips
    assert weasels - 0.2 <= longest <= weasels + 1.5, (longest, weasels)
    assert abs(logged["resumed"]["paused_seconds"] - longest) < 0.6


def test_dtmf_withdrawal_stops_the_recording_and_marks_the_consent(placed, config):
    outcome = placed["withdrawn"]
    assert outcome["Result"] == "granted", "consented first"
    assert outcome.done["Result"] == "withdrawn", "the dialplan sees the withdrawal"
    call_id = outcome["Id"]
    withdrawn = wait_for_event(config, call_id, "withdrawn")
    closed = wait_for_event(config, call_id, "recording-closed")
    wait_for_event(config, call_id, "hangup")
    assert withdrawn["by"] == "caller" and withdrawn["previous"] == "granted"
    assert closed["by"] == "withdrawal" and closed["closed"] is True
    assert result_of(config, call_id) == "withdrawn"
    path = local(config, outcome["Recording"])
    with wave.open(str(path)) as audio:
        recorded = audio.getnframes() / 8000
    # the caller withdrew ~8 s after pressing 1 and stayed on ~8 s more: only the first part
    assert 2 < recorded < 10, recorded
    assert closed["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    kinds = [k for k, _ in events_of(config, call_id)]
    assert kinds.count("recording-closed") == 1


def test_a_withdrawal_the_plugin_cannot_take_still_stops_the_recording(placed, config):
    outcome = placed["unplugged"]
    assert outcome["Result"] == "granted" and outcome.done["Result"] == "withdrawn"
    closed = wait_for_event(config, outcome["Id"], "recording-closed")
    assert "withdrawn" not in dict(events_of(config, outcome["Id"])), "nobody could log it"
    # the Gosub's own StopMixMonitor: the watcher saw the recorder gone at once
    assert closed["by"] == "stop" and 2 < closed["seconds"] < 10, closed


def test_live_list_pause_and_resume_from_the_command_line_and_a_transfer(running_lab, config):
    """A held call: `calls --live`, `pause`/`resume` by the CLI, then the caller is
    transferred elsewhere by AMI Redirect and the recording runs on until the hangup."""
    async def scenario():
        async with LabAmi(running_lab) as ami:
            call, gate = await held_call(ami)
            steps = await asyncio.to_thread(command_line_steps, gate["Id"])
            redirected = time.monotonic()
            reply = await ami.action({"Action": "Redirect", "Channel": gate["Channel"],
                                      "Context": "lab-transfer", "Exten": "s", "Priority": 1})
            assert reply.success, dict(reply)
            outcome = await call
            return gate, steps, outcome, time.monotonic() - redirected
    gate, steps, outcome, after_transfer = asyncio.run(scenario())
    live, paused, resumed = steps
    assert live["call"] == gate["Id"] and live["recording_live"] and not live["paused_since"]
    assert paused["state"] == "paused" and resumed["state"] == "resumed"
    assert [e["UserEvent"] for e in outcome.events] == ["LabTransferred"]
    closed = wait_for_event(config, gate["Id"], "recording-closed")
    logged = dict(events_of(config, gate["Id"]))
    assert logged["paused"]["reason"] == "card" and logged["resumed"]["paused_seconds"] > 0
    # hello-world twice after the transfer: the file holds them (recorded to the very end)
    assert closed["seconds"] > after_transfer - 0.5 + 1.0


async def held_call(ami):
    """A consented, recorded call that the call centre holds (audio, then a long wait) for
    the test to steer: (the call's task, its LabGate event)."""
    tags = []
    call = asyncio.ensure_future(ami.call(CA, "accept", "US-NY", after="hold",
                                          placed=tags.append))
    while not tags:
        await asyncio.sleep(0.05)
    return call, await ami.gate_of(tags[0])


def command_line_steps(call_id):
    rows = [json.loads(line) for line in cli("calls", "--live", "--json").stdout.splitlines()]
    live = next(row for row in rows if row["call"] == call_id)
    paused = cli("pause", call_id, "--reason", "card", "--json")
    assert paused.returncode == 0, paused.stderr
    again = cli("pause", call_id, "--reason", "card")
    assert again.returncode == 1 and "already paused" in again.stderr
    time.sleep(0.5)
    resumed = cli("resume", call_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    return live, json.loads(paused.stdout), json.loads(resumed.stdout)


def test_a_pause_of_a_call_that_is_not_recording_says_not_paused(placed, config):
    result = cli("pause", placed["plain"]["Id"], "--reason", "card")
    assert result.returncode == 1 and "no running recording" in result.stderr


def test_a_refused_login_is_one_clear_line_and_fastagi_goes_on(running_lab, config,
                                                              tmp_path):
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-secret\n")
    wrong.chmod(0o600)
    port = free_port()
    text = (lab.LAB / "server.toml").read_text().replace(
        f'secret_file = "{lab.AMI_SECRET}"', f'secret_file = "{wrong}"').replace(
        f"port = {lab.AGI_PORT}", f"port = {port}")
    site = tmp_path / "wrong.toml"
    site.write_text(text)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([str(Path(sys.prefix) / "bin" / "agi-consent"), "--config",
                                   str(site), "serve"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while "refused the login" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        (outcome,) = run_calls(running_lab, ("accept", {
            "agi": f"agi://127.0.0.1:{port}/consent"}))
        time.sleep(3)  # more login attempts meanwhile
    finally:
        server.terminate()
        server.wait(20)
    assert outcome["Result"] == "granted" and outcome["Recording"], "FastAGI served the call"
    lines = [line for line in log.read_text().splitlines() if "refused the login" in line]
    assert len(lines) == 1, log.read_text()
    assert "Authentication failed" in lines[0] and "ami.secret_file" in lines[0]
    assert "not-the-secret" not in log.read_text()


def test_a_serve_restart_mid_call_reconciles_it(running_lab, config):
    """The server stops while a recorded call is up; the call ends meanwhile; the restarted
    server's watcher finds it gone and closes it."""
    async def scenario():
        async with LabAmi(running_lab) as ami:
            call, gate = await held_call(ami)
            await asyncio.to_thread(lab.stop_server)
            await ami.action({"Action": "Hangup", "Channel": gate["Channel"]})
            await call
            return gate
    try:
        gate = asyncio.run(scenario())
        assert not [k for k, d in events_of(config, gate["Id"]) if k == "hangup"
                    and d.get("by")], "nobody watched while the server was down"
    finally:
        lab.start_server()
    hangup = wait_for_event(config, gate["Id"], "hangup")
    closed = wait_for_event(config, gate["Id"], "recording-closed")
    assert hangup["by"] == "reconcile" and hangup["cause"] is None
    assert closed["closed"] is True and closed["size"] > 44
    assert "AMI reconcile" in (lab.LAB / "server.out").read_text()


def test_the_watcher_survives_asterisk_restarting(running_lab, config):
    lab.restart_asterisk()
    log = lab.LAB / "server.out"
    deadline = time.monotonic() + 40
    while "back after" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log.read_text()
    assert "lost; reconnecting" in text and "back after" in text
    (outcome,) = run_calls(running_lab, ("accept", {}))
    assert outcome["Result"] == "granted"
    hangup = wait_for_event(config, outcome["Id"], "hangup")
    assert hangup["by"] == "ami" and hangup["cause"] == 16
