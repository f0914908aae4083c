"""Calls through the lab: AMI `Originate` of Local channels with a scripted caller side.

`Local/s@lab-pbx` runs the call centre's dialplan (the shipped consent gate); the other half
goes to `lab-caller`, where the "caller" presses keys, listens or hangs up. Outcomes come back
as UserEvents. Used by the integration tests and by `make demo`.
"""

import asyncio
import subprocess
import uuid
from dataclasses import dataclass

from panoramisk import Manager

from . import asterisk as lab


@dataclass
class Outcome:
    tag: str
    gate: dict  # LabGate: the contract variables as the dialplan saw them after the gate
    done: dict  # LabDone: the call-centre side's hangup handler ran
    events: list = None  # the other UserEvents the call raised, in order

    def __getitem__(self, key):
        return self.gate.get(key, "")

    @property
    def continued(self):
        """The dialplan went on past the gate (a caller who hung up never gets there)."""
        return bool(self.gate)


class LabAmi:
    """A panoramisk AMI session with the timeouts and login wait panoramisk lacks."""

    def __init__(self, secret, port=lab.AMI_PORT):
        self.secret, self.port = secret, port
        self.waiters = {}
        self.manager = None

    async def __aenter__(self):
        loop = asyncio.get_running_loop()
        logged_in = loop.create_future()

        def on_login(manager):
            if not logged_in.done():
                logged_in.set_result(True)

        self.manager = Manager(host="127.0.0.1", port=self.port, username="lab",
                               secret=self.secret, loop=loop, ping_delay=3600,
                               on_login=on_login)
        self.manager.register_event("UserEvent", self._on_user_event)
        self.manager.connect()
        async with asyncio.timeout(20):  # connect() returns before login
            await logged_in
        return self

    async def __aexit__(self, *exc):
        self.manager.close()

    def _on_user_event(self, manager, event):
        waiter = self.waiters.get(event.get("Tag", ""))
        if not waiter:
            return
        name = event.get("UserEvent")
        if name not in ("LabGate", "LabDone"):  # LabPause, LabTransferred: kept in order
            waiter["events"].append(dict(event))
            return
        future = waiter["gate"] if name == "LabGate" else waiter["done"]
        if not future.done():
            future.set_result(dict(event))

    async def call(self, caller, behaviour, region="", direction="", number="", lang="",
                   agi="", delay=2, say="", key="", then="", timeout=150, after="",
                   extra=None, placed=None):
        """Place one call and wait for the gate's outcome and the call's end. The caller
        says `say` after `delay` seconds, then `then` when asked to confirm (after
        `confirm_after()` more); `after` picks what the call centre does past the gate
        (pause, agent, hold); `placed(tag)` is told the call's tag once it is placed, for
        tests that steer it meanwhile."""
        loop = asyncio.get_running_loop()
        tag = uuid.uuid4().hex[:12]
        self.waiters[tag] = {"gate": loop.create_future(), "done": loop.create_future(),
                             "events": []}
        variables = {"LAB_TAG": tag, "LAB_REGION": region, "LAB_DIRECTION": direction,
                     "LAB_NUMBER": number, "LAB_LANG": lang, "LAB_DELAY": delay,
                     "LAB_SAY": f"{lab.SPOKEN_IN}/{say}" if say else "", "LAB_KEY": key,
                     "LAB_THEN": f"{lab.SPOKEN_IN}/{then}" if then else "",
                     "LAB_THEN_AFTER": f"{confirm_after():.1f}" if then else "0",
                     "LAB_AFTER": after, **(extra or {})}
        if agi:
            variables["CONSENT_AGI"] = agi
        response = await self.action({
            "Action": "Originate", "Channel": "Local/s@lab-pbx", "Context": "lab-caller",
            "Exten": behaviour, "Priority": 1, "CallerID": f"Lab <{caller}>",
            "Variable": [f"{k}={v}" for k, v in variables.items()], "Async": "true",
            "Timeout": 30000})
        first = response[0] if isinstance(response, list) else response
        if not first.success:
            raise lab.LabError(f"Originate failed: {dict(first)}")
        waiter = self.waiters[tag]
        if placed:
            placed(tag)
        try:
            async with asyncio.timeout(timeout):  # every call ends in h
                done = await waiter["done"]
        finally:
            del self.waiters[tag]
        gate = waiter["gate"].result() if waiter["gate"].done() else {}
        return Outcome(tag, gate, done, waiter["events"])

    async def gate_of(self, tag, seconds=60):
        """The LabGate event of a call still in progress."""
        async with asyncio.timeout(seconds):
            return await asyncio.shield(self.waiters[tag]["gate"])

    async def action(self, fields, seconds=10):
        async with asyncio.timeout(seconds):  # not wait_for: 3.11's can lose a cancel
            return await self.manager.send_action(fields)


def audio_seconds(path):
    """Length and peak level of a recording, via sox (evidence that it holds the call)."""
    result = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True)
    stats = {}
    for line in result.stderr.splitlines():
        key, _, value = line.partition(":")
        stats[key.strip()] = value.strip()
    return float(stats.get("Length (seconds)", 0) or 0), float(
        stats.get("Maximum amplitude", 0) or 0)


DEMO_CALLS = [  # (what happens, caller, caller behaviour, trunk region, what the caller says,
    # and says when asked to confirm)
    ("A Californian calls a New York call centre and presses 1", "+14155550123", "accept",
     "US-NY", "", ""),
    ("A Floridian calls the same centre and presses 2", "+13055550123", "decline", "US-NY", "",
     ""),
    ("A Pennsylvanian calls the same centre and says \"yes\", and \"yes\" again when asked "
     "to confirm (a spoken yes may be a question: \"yes?\")", "+12155550123", "say",
     "US-NY", "yes", "yes"),
    ("An Illinois caller says \"yes, yes\" while the question still plays (barge-in)",
     "+13125550123", "say-early", "US-NY", "yes-yes", "yes"),
    ("A Texan calls a Texas call centre (notice only)", "+12145550123", "listen", "US-TX", "",
     ""),
    ("A withheld number calls the Texas centre and presses 1", "anonymous", "accept", "US-TX",
     "", ""),
]


def heard_and_answered(steps):
    """What the caller heard (and for how long) and answered, from the call's evidence."""
    lines = []
    for step in steps:
        detail = step["detail"]
        if step["kind"] == "prompt":
            lines.append(f"heard  [{detail['language']}] {detail['name']}: \"{detail['text']}\"")
        elif step["kind"] == "played" and detail.get("seconds") is not None:
            cut = ", cut short" if detail["interrupted"] else ""
            lines[-1] += f" ({detail['seconds']:.1f} of {detail['of']:.1f} s{cut})"
        elif step["kind"] == "barge-in":
            lines[-1] = lines[-1].replace(", cut short", ", stopped: the caller spoke")
        elif step["kind"] == "input" and detail.get("key"):
            lines.append(f"answered: pressed {detail['key']}")
        elif step["kind"] == "input" and detail.get("speech"):
            held = f", {detail['speech']['speech_seconds']} s of speech: to be confirmed" \
                if detail.get("to_confirm") else ""
            lines.append(f"answered by voice: {detail['speech']['answer']}{held} (heard "
                         f"\"{detail['personal'].get('transcript', '')}\"; audio kept: "
                         f"{detail['audio']})")
    return lines


def after_the_agi(config, call_id, recorded, seconds=15):
    """What the AMI watcher logged once the call ended (it waits for the file to close)."""
    import json
    import sqlite3
    import time
    deadline = time.monotonic() + seconds
    while True:
        connection = sqlite3.connect(f"file:{config.database}?mode=ro", uri=True)
        rows = [(kind, json.loads(detail)) for kind, detail in connection.execute(
            "SELECT kind, detail FROM events WHERE call_id = ? AND kind IN ('hangup', "
            "'recording-closed') ORDER BY seq", [call_id])]
        connection.close()
        watched = [d for k, d in rows if k == "hangup" and d.get("by")]
        if (watched and (not recorded or any(k == "recording-closed" for k, _ in rows))) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    lines = []
    for kind, detail in rows:
        if kind == "hangup" and detail.get("by"):
            lines.append(f"AMI: hung up, cause {detail.get('cause')} "
                         f"({detail.get('cause_txt') or detail.get('reason', '')})")
        elif kind == "recording-closed":
            lines.append(f"AMI: recording closed: {detail.get('size')} bytes, "
                         f"{detail.get('seconds')} s, SHA-256 {str(detail.get('sha256'))[:16]}…")
    return lines


def start_and_report():
    _, secret = lab.start_asterisk()
    lab.start_server()
    (lab.LAB / "lab-ami.secret").write_text(secret)
    (lab.LAB / "lab-ami.secret").chmod(0o600)
    print(f"lab running: AMI 127.0.0.1:{lab.AMI_PORT} (user lab, secret in "
          f"{lab.LAB}/lab-ami.secret), FastAGI 127.0.0.1:{lab.AGI_PORT}; 'make lab-stop' stops it")


def demo():
    """Set up, place the sample calls, show what each caller heard and answered, stop."""
    _, secret = lab.start_asterisk()
    try:
        lab.start_server()
        outcomes = asyncio.run(_demo_calls(secret))
        _report(outcomes)
    finally:
        lab.stop()


def question_seconds(name="consent-request-speech"):
    """How long a spoken-answer question lasts: the speaking caller answers after it."""
    import wave
    path = lab.inside(lab.PROMPTS_IN) / "en" / f"{name}.wav"
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


def confirm_after():
    """Seconds from the end of a short yes to the middle of the confirmation's answer
    window: the rest of the first window (a Local line sends no frames in silence, so the
    window runs its 5 s, speech.max_seconds), about 1 s to classify, the question, 1.5 s."""
    return 5.7 + question_seconds("consent-confirm-speech")


async def _demo_calls(secret):
    after_question = int(question_seconds()) + 2
    delays = {"say": after_question, "say-early": 10}  # 10 s: past speech.barge_in_after
    async with LabAmi(secret) as ami:
        calls = [ami.call(number, "say" if behaviour == "say-early" else behaviour, region,
                          say=say, then=then, delay=delays.get(behaviour, 2))
                 for _, number, behaviour, region, say, then in DEMO_CALLS]
        return await asyncio.gather(*calls)


def _report(outcomes):
    from agi_consent import config as config_module
    from agi_consent.admin import evidence
    from agi_consent.store import schema as store

    config = config_module.load(str(lab.LAB / "server.toml"))
    db = store.open_db(config.database)
    for (title, number, _, region, *_), outcome in zip(DEMO_CALLS, outcomes, strict=True):
        print(f"\n=== {title}\n    caller {number}, trunk {region}")
        print(f"    decision: {outcome['Mode']} (governing {outcome['Jurisdiction']}) -> "
              f"CONSENT_RESULT={outcome['Result']}")
        record = evidence.gather(config, db, outcome["Id"])
        for line in heard_and_answered(record["steps"]):
            print(f"    {line}")
        closed = after_the_agi(config, outcome["Id"], bool(outcome["Recording"]))
        for line in closed:
            print(f"    {line}")
        recording = outcome["Recording"]
        if recording:
            seconds, peak = audio_seconds(config_module.local_path(config, recording))
            print(f"    recorded: {recording} ({seconds:.1f} s of audio, peak {peak:.2f})")
        else:
            print("    recorded: nothing")
        chain = record["chain"]
        print(f"    evidence: {chain['rows']} log rows, chain "
              f"{'intact' if chain['intact'] else 'BROKEN'} (agi-consent evidence {outcome['Id']})")
    print(f"\nconsent log: {config.database}  (agi-consent --config {lab.LAB}/server.toml "
          "calls list)")
