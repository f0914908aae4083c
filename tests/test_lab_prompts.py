"""Prompts on the real Asterisk: the caller's language, region overrides, and a prompt swapped
by an admin heard on the very next call."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agi_consent import config as config_module
from agi_consent.store import schema as store
from lab import asterisk as lab
from lab.calls import LabAmi

pytestmark = pytest.mark.lab

QC, CA, TX = "+15145550123", "+14155550123", "+12145550123"


def admin(*args):
    """The real CLI against the lab's server config, as an admin runs it."""
    command = [str(Path(sys.prefix) / "bin" / "agi-consent"), "--config",
               str(lab.LAB / "server.toml"), "prompts", *args]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def spoken(path, text, voice="en-us"):
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path


def place(secret, *calls):
    async def run():
        async with LabAmi(secret) as ami:
            return await asyncio.gather(*(ami.call(*call) for call in calls))
    return asyncio.run(run())


def prompts_heard(outcome):
    config = config_module.load(str(lab.LAB / "server.toml"))
    db = store.open_db(config.database)
    return [json.loads(e["detail"]) for e in store.call_events(db, outcome["Id"])
            if e["kind"] == "prompt"]


def asterisk_played(path):
    log = lab.inside("/var/log/agi-consent-lab/messages.log").read_text(errors="replace")
    return f"Playing '{path}." in log


@pytest.fixture(scope="module")
def scenario(running_lab, tmp_path_factory):
    work = tmp_path_factory.mktemp("prompts")
    override = ("This call may be recorded under California law. Say yes or press 1 to agree, "
                "say no or press 2 to refuse.")
    # English calls on the server take spoken answers, so the question asked is the speech one
    admin("import", str(spoken(work / "ca.wav", override)), "--name", "consent-request-speech",
          "--lang", "en", "--region", "US-CA", "--text", override)
    quebec, californian, before = place(running_lab, (QC, "listen", "CA-QC"),
                                        (CA, "accept", "US-NY"), (TX, "listen", "US-TX"))
    swapped = "This call will be recorded. This is the new notice."
    admin("import", str(spoken(work / "notice.wav", swapped)), "--name", "notice", "--lang",
          "en", "--text", swapped)
    (after,) = place(running_lab, (TX, "listen", "US-TX"))
    return {"quebec": quebec, "californian": californian, "before": before, "after": after,
            "override_text": override, "swapped_text": swapped}


def test_quebec_caller_hears_french(scenario):
    outcome = scenario["quebec"]
    (notice,) = prompts_heard(outcome)
    assert outcome["Result"] == "notified" and outcome["Jurisdiction"] == "CA-QC"
    assert notice["language"] == "fr" and "/fr/.versions/notice-" in notice["path"]
    assert "Cet appel sera enregistré" in notice["text"]
    assert asterisk_played(notice["path"])


def test_region_override_beats_the_default(scenario):
    outcome = scenario["californian"]
    request = prompts_heard(outcome)[0]
    assert outcome["Jurisdiction"] == "US-CA" and outcome["Result"] == "granted"
    assert request["region"] == "US-CA"
    assert "/en/US-CA/.versions/consent-request-speech-" in request["path"]
    assert request["text"] == scenario["override_text"]
    assert asterisk_played(request["path"])


def test_swapped_prompt_is_heard_on_the_next_call(scenario):
    (before,) = prompts_heard(scenario["before"])
    (after,) = prompts_heard(scenario["after"])
    assert before["version"] != after["version"] and before["sha256"] != after["sha256"]
    assert before["path"] != after["path"]  # each call played its own immutable version
    assert asterisk_played(before["path"]) and asterisk_played(after["path"])
    assert after["text"] == scenario["swapped_text"]
    listed = [json.loads(line) for line in admin("list", "--json").splitlines()]
    current = [r for r in listed if r["name"] == "notice" and r["language"] == "en"
               and r["region"] == "-"]
    assert current[0]["sha256"] == after["sha256"] and current[0]["source"] == "site"
