"""Real calls through a real Asterisk 22: the consent gate end to end, FastAGI and classic AGI.

The lab is built and started by the fixture (root needed, as in CI); if it cannot start, these
tests fail, never skip. All scenarios run concurrently, each checked on the channel variables
the dialplan saw, the recording files, and the consent log.
"""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from agi_consent import config as config_module
from agi_consent.store import schema as store
from lab import asterisk as lab
from lab.calls import LabAmi, audio_seconds

pytestmark = pytest.mark.lab

CA, FL, TX = "+14155550123", "+13055550123", "+12145550123"
DEAD = f"agi://127.0.0.1:{lab.DEAD_AGI_PORT}/consent"

SCENARIOS = {  # name: (caller, behaviour, trunk region, AGI transport)
    "accept": (CA, "accept", "US-NY", ""),
    "decline": (CA, "decline", "US-NY", ""),
    "silent": (CA, "silent", "US-NY", ""),
    "notice": (TX, "listen", "US-TX", ""),
    "anonymous": ("anonymous", "accept", "US-TX", ""),
    "server-down": (CA, "accept", "US-NY", DEAD),
    "hangup": (FL, "hangup", "US-NY", ""),
    "classic-accept": (CA, "accept", "US-NY", lab.CLASSIC_AGI),
    "classic-decline": (CA, "decline", "US-NY", lab.CLASSIC_AGI),
    "classic-silent": (CA, "silent", "US-NY", lab.CLASSIC_AGI),
    "classic-notice": (TX, "listen", "US-TX", lab.CLASSIC_AGI),
    "classic-anonymous": ("anonymous", "accept", "US-TX", lab.CLASSIC_AGI),
    "classic-hangup": (FL, "hangup", "US-NY", lab.CLASSIC_AGI),
}


@pytest.fixture(scope="module")
def outcomes(running_lab):
    async def place_all():
        async with LabAmi(running_lab) as ami:
            calls = [ami.call(caller, behaviour, region, agi=agi)
                     for caller, behaviour, region, agi in SCENARIOS.values()]
            return dict(zip(SCENARIOS, await asyncio.gather(*calls), strict=True))
    return asyncio.run(place_all())


@pytest.fixture(scope="module")
def evidence(running_lab):
    config = config_module.load(str(lab.LAB / "server.toml"))
    db = store.open_db(config.database)

    def lookup(outcome):
        uniqueid = outcome.done.get("Uniqueid")
        rows = list(db.query("SELECT * FROM calls WHERE uniqueid = ?", [uniqueid]))
        assert len(rows) == 1, f"one consent record for {uniqueid}"
        call = rows[0]
        events = [e["kind"] for e in store.call_events(db, call["id"])]
        return call, events
    lookup.config = config
    return lookup


def recordings_of(call_id):
    return list(lab.inside(lab.RECORDINGS_IN).rglob(f"{call_id}.*"))


def assert_recorded(outcome, call, evidence):
    path = outcome["Recording"]
    assert path and path == call["recording"]
    local = config_module.local_path(evidence.config, path)
    seconds, peak = audio_seconds(local)
    assert seconds > 2 and peak > 0.1, "the recording holds the call's audio"
    assert (lab.inside(path).stat().st_mode & 0o007) == 0, "not world-readable"


def assert_not_recorded(outcome, call):
    assert outcome["Recording"] == "" and not call["recording"]
    assert recordings_of(call["id"]) == []


@pytest.mark.parametrize("prefix", ["", "classic-"])
def test_ca_caller_on_ny_trunk_presses_1(outcomes, evidence, prefix):
    outcome = outcomes[prefix + "accept"]
    call, events = evidence(outcome)
    assert (outcome["Result"], outcome["Mode"], outcome["Jurisdiction"]) == (
        "granted", "all-party", "US-CA")
    assert outcome["Id"] == call["id"] and call["result"] == "granted"
    assert call["transport"] == ("classic" if prefix else "fastagi")
    assert events.index("consent-result") < events.index("recording-started")
    assert_recorded(outcome, call, evidence)
    assert outcome["MixMon"] == outcome["Recording"]  # the recorder is attached after the gate
    assert outcome.continued


def agi_consent(*args):
    return subprocess.run([str(Path(sys.prefix) / "bin" / "agi-consent"), "--config",
                           str(lab.LAB / "server.toml"), *args], capture_output=True, text=True)


def test_evidence_of_a_real_call(outcomes, tmp_path):
    """What the caller heard (text, every format's hash, seconds) and pressed, from the log
    of a call through the real Asterisk; the page renders and prints in headless Chromium."""
    import json
    import shutil

    call_id = outcomes["accept"]["Id"]
    result = agi_consent("evidence", call_id)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    kinds = [s["kind"] for s in record["steps"]]
    prompt = record["steps"][kinds.index("prompt")]["detail"]
    played = record["steps"][kinds.index("played")]["detail"]
    key = record["steps"][kinds.index("input")]["detail"]
    assert prompt["text"].startswith("This call may be recorded")
    assert set(prompt["files"]) == {"wav", "sln16", "txt"} and len(prompt["version"]) == 64
    assert prompt["path"].split("/")[-2] == ".versions"  # Asterisk played the version logged
    assert played["interrupted"] and 0 < played["seconds"] < played["of"]
    assert key["key"] == "1" and key["at_second"] == played["seconds"]
    assert record["recording"]["visible"] and record["recording"]["size"] > 44
    assert record["chain"]["intact"]
    decision = record["steps"][kinds.index("decision")]["detail"]
    assert decision["keys"]["accept"] == "1" and decision["package_version"]
    assert agi_consent("decide", "+14155550123", "--region", "US-NY", "--rules-version",
                       decision["rules_version"][:12]).returncode == 0
    page = tmp_path / "evidence.html"
    assert agi_consent("evidence", call_id, "--format", "html", "--out", str(page)) \
        .returncode == 0
    browser = shutil.which("chromium")
    assert browser, "chromium is missing: run 'make deps'"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=60)
    assert dom.returncode == 0 and "What happened, in order" in dom.stdout
    assert "pressed 1" in dom.stdout and prompt["text"][:30] in dom.stdout
    pdf = tmp_path / "evidence.pdf"
    printed = subprocess.run([*flags, f"--print-to-pdf={pdf}", page.as_uri()],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and pdf.read_bytes().startswith(b"%PDF")


def test_gate_stops_a_recording_the_plugin_could_not(running_lab):
    """A plugin that starts MixMonitor and loses its link before answering: the gate turns the
    empty result into error and stops the recorder by CONSENT_MIXMON_ID."""
    async def broken_plugin(reader, writer):
        while (await reader.readline()).strip():
            pass  # the environment
        path = f"{lab.RECORDINGS_IN}/broken-plugin"
        writer.write(f'EXEC MixMonitor "{path}.wav,i(CONSENT_MIXMON_ID)"\n'.encode())
        await writer.drain()
        await reader.readline()  # 200 result=0: recording
        writer.close()  # ... and the link is gone

    async def place():
        server = await asyncio.start_server(broken_plugin, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, LabAmi(running_lab) as ami:
            return await ami.call(CA, "accept", "US-NY", agi=f"agi://127.0.0.1:{port}/consent")
    outcome = asyncio.run(place())
    assert outcome["Result"] == "error" and outcome["Recording"] == ""
    assert outcome["MixMon"] == "", "the gate stopped the recorder"
    assert outcome.continued


@pytest.mark.parametrize("prefix", ["", "classic-"])
def test_presses_2_is_declined_and_nothing_recorded(outcomes, evidence, prefix):
    outcome = outcomes[prefix + "decline"]
    call, events = evidence(outcome)
    assert outcome["Result"] == "declined" == call["result"]
    assert "recording-started" not in events
    assert_not_recorded(outcome, call)


@pytest.mark.parametrize("prefix", ["", "classic-"])
def test_silence_is_no_answer_after_retries(outcomes, evidence, prefix):
    outcome = outcomes[prefix + "silent"]
    call, events = evidence(outcome)
    assert outcome["Result"] == "no-answer" == call["result"]
    assert events.count("prompt") == 4  # request, sorry, request, continuing without recording
    assert_not_recorded(outcome, call)


@pytest.mark.parametrize("prefix", ["", "classic-"])
def test_tx_caller_on_tx_trunk_is_notified_and_recorded(outcomes, evidence, prefix):
    outcome = outcomes[prefix + "notice"]
    call, _ = evidence(outcome)
    assert (outcome["Result"], outcome["Mode"], outcome["Jurisdiction"]) == (
        "notified", "one-party", "US-TX")
    assert_recorded(outcome, call, evidence)


@pytest.mark.parametrize("prefix", ["", "classic-"])
def test_anonymous_caller_is_all_party(outcomes, evidence, prefix):
    outcome = outcomes[prefix + "anonymous"]
    call, _ = evidence(outcome)
    assert (outcome["Mode"], outcome["Jurisdiction"]) == ("all-party", "unknown")
    assert call["caller_id"] == "anonymous" and outcome["Result"] == "granted"


def test_server_down_is_error_and_the_dialplan_continues(outcomes):
    outcome = outcomes["server-down"]
    assert outcome["Result"] == "error" and outcome["AgiStatus"] != "SUCCESS"
    assert outcome["Recording"] == ""
    assert outcome.continued, "the call went on past the gate"


@pytest.mark.parametrize("prefix", ["", "classic-"])
def test_hangup_during_prompt_is_logged_and_not_recorded(outcomes, evidence, prefix):
    outcome = outcomes[prefix + "hangup"]
    call, events = evidence(outcome)
    session = events[:events.index("call-end") + 1]  # the AMI watcher's hangup may follow
    assert call["result"] == "hangup" and session[-2:] == ["hangup", "call-end"]
    assert "recording-started" not in events
    assert_not_recorded(outcome, call)


def test_real_calls_go_through_export_and_purge(outcomes, evidence, tmp_path):
    """Last in this module: it deletes the Texan's (notice) recording after exporting it."""
    import json

    outcome = outcomes["notice"]
    call, _ = evidence(outcome)
    local = config_module.local_path(evidence.config, call["recording"])
    exported = tmp_path / "export"
    result = agi_consent("export", call["id"], "--to", str(exported), "--reason", "lab test")
    assert result.returncode == 0, result.stderr
    assert (exported / f"{call['id']}.wav").read_bytes() == Path(local).read_bytes()
    refused = agi_consent("export", outcomes["decline"]["Id"], "--to", str(exported),
                          "--reason", "lab test")
    assert refused.returncode == 2 and "not granted or notified" in refused.stderr
    config = tmp_path / "purge.toml"  # the same site, with Texas recordings due at once
    config.write_text((lab.LAB / "server.toml").read_text() +
                      "[retention.overrides]\nUS-TX = { keep_max_days = 0 }\n")
    command = [str(Path(sys.prefix) / "bin" / "agi-consent"), "--config", str(config)]
    purged = subprocess.run([*command, "purge", "--json"], capture_output=True, text=True)
    assert purged.returncode == 0, purged.stderr
    assert call["id"] in [item["call"] for item in json.loads(purged.stdout)["purged"]]
    assert not Path(local).exists()
    assert Path(config_module.local_path(evidence.config,
                                         outcomes["accept"]["Recording"])).exists()
    log = agi_consent("access-log", "--json").stdout.splitlines()
    assert {json.loads(line)["action"] for line in log} >= {"exported", "purged"}
    verify = subprocess.run([*command, "verify"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout
