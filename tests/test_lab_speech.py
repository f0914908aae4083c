"""Spoken answers on the real Asterisk (the shipped default, the cascade): a caller who says
yes (and yes again when asked to confirm, or nothing), "yes, yes", no, "absolutely not" or
maybe, one who presses a key while speaking, and callers who answer while the question plays
(barge-in)."""

import asyncio
import json
import math
import wave

import pytest

from agi_consent import config as config_module
from agi_consent.store import schema as store
from lab import asterisk as lab
from lab.calls import LabAmi

pytestmark = pytest.mark.lab

FL = "+13055550123"  # all-party, and no region override from other lab tests


def prompt_seconds():
    """Length of the question this caller hears, so the caller answers when it ends."""
    from agi_consent.call.prompts import resolve
    config = config_module.load(str(lab.LAB / "server.toml"))
    prompt = resolve(config, "consent-request-speech", "en", "US-FL")
    with wave.open(config_module.local_path(config, prompt.path) + ".wav") as audio:
        return audio.getnframes() / audio.getframerate()


@pytest.fixture(scope="module")
def spoken(running_lab):
    delay = math.ceil(prompt_seconds()) + 1  # speak once the question has been asked

    async def place():
        async with LabAmi(running_lab) as ami:
            calls = {"yes": dict(say="yes", then="yes"), "yes-alone": dict(say="yes"),
                     "no": dict(say="no"), "maybe": dict(say="maybe"),
                     "key-wins": dict(say="no-thanks", key="1"),
                     "yes-yes": dict(say="yes-yes", then="yes"),
                     "absolutely-not": dict(say="absolutely-not")}
            outcomes = await asyncio.gather(*(ami.call(FL, "say", "US-NY", delay=delay, **kw)
                                              for kw in calls.values()))
            return dict(zip(calls, outcomes, strict=True))
    return asyncio.run(place())


def inputs(outcome):
    config = config_module.load(str(lab.LAB / "server.toml"))
    db = store.open_db(config.database)
    return [json.loads(e["detail"]) for e in store.call_events(db, outcome["Id"])
            if e["kind"] == "input"], config


def played(outcome):
    config = config_module.load(str(lab.LAB / "server.toml"))
    events = store.call_events(store.open_db(config.database), outcome["Id"])
    return [json.loads(e["detail"])["name"] for e in events if e["kind"] == "played"]


def test_a_short_spoken_yes_is_confirmed_then_granted_and_recorded(spoken):
    """A bare "yes" (under speech.confirm_under seconds of speech) might be a questioning
    "yes?": the caller is asked plainly to confirm, and the yes that answers it counts."""
    outcome = spoken["yes"]
    assert outcome["Result"] == "granted" and outcome["Recording"]
    (short, answer), config = inputs(outcome)
    assert short["speech"]["answer"] == "yes" and short["to_confirm"]
    assert short["speech"]["speech_seconds"] < 1.0
    assert answer["speech"]["answer"] == "yes" and not answer.get("to_confirm")
    assert played(outcome)[:2] == ["consent-request-speech", "consent-confirm-speech"]
    audio = config_module.local_path(config, answer["audio"])
    with open(audio, "rb") as handle:  # the spoken answer is kept as evidence
        assert len(handle.read()) > 8000
    assert len(answer["sha256"]) == 64


def test_a_short_yes_never_confirmed_is_never_recorded(spoken):
    outcome = spoken["yes-alone"]
    assert outcome["Result"] == "no-answer" and not outcome["Recording"]
    answers, _ = inputs(outcome)
    assert answers[0]["to_confirm"] and "consent-confirm-speech" in played(outcome)


def test_repeated_yes_is_granted_and_the_engine_is_in_the_evidence(spoken):
    outcome = spoken["yes-yes"]
    assert outcome["Result"] == "granted" and outcome["Recording"]
    answer, *confirmed = inputs(outcome)[0]  # "yes, yes" lasts about 1 s: perhaps confirmed
    assert answer["speech"]["answer"] == "yes"
    assert [a["speech"]["answer"] for a in confirmed] == (["yes"] if answer.get(
        "to_confirm") else [])
    assert answer["speech"]["engine"].startswith("cascade: whisper tiny.en")
    assert [stage[1] for stage in answer["speech"]["stages"]][-1] == "yes"
    assert set(answer["personal"]) == {"transcript", "confirmation"}  # what each engine heard


def test_absolutely_not_is_never_recorded(spoken):
    """This voice's "absolutely not" is misheard by the two-readings cascade ("I am completely
    hot.": unknown, asked again, then no answer), where the grammar once declined it: a miss,
    reported in the README. Whatever it is heard as, it is never a yes."""
    outcome = spoken["absolutely-not"]
    assert outcome["Result"] in ("declined", "no-answer") and not outcome["Recording"]
    assert all(answer.get("speech", {}).get("answer") != "yes" for answer in inputs(outcome)[0])


def test_spoken_no_is_declined(spoken):
    outcome = spoken["no"]
    assert outcome["Result"] == "declined" and not outcome["Recording"]
    assert inputs(outcome)[0][0]["speech"]["answer"] == "no"


def test_maybe_reprompts_then_no_answer(spoken):
    outcome = spoken["maybe"]
    answers, _ = inputs(outcome)
    assert outcome["Result"] == "no-answer" and not outcome["Recording"]
    assert answers[0]["speech"]["answer"] == "unknown" and len(answers) == 2


def test_key_pressed_while_speaking_wins(spoken):
    outcome = spoken["key-wins"]
    answers, _ = inputs(outcome)
    assert outcome["Result"] == "granted"
    assert answers[0]["key"] == "1" and answers[0]["during"] == "answer window"


@pytest.fixture(scope="module")
def barged(running_lab):
    """Callers who answer while the question plays: 9 s in (past speech.barge_in_after, 6 s)
    and 3 s in (inside the disclosure that always plays)."""
    async def place():
        async with LabAmi(running_lab) as ami:
            calls = {"yes-yes": dict(say="yes-yes", then="yes", delay=9),
                     "no": dict(say="no", delay=9),
                     "early-yes": dict(say="yes", delay=3)}
            outcomes = await asyncio.gather(*(ami.call(FL, "say", "US-NY", **kw)
                                              for kw in calls.values()))
            return dict(zip(calls, outcomes, strict=True))
    return asyncio.run(place())


def question_events(outcome):
    config = config_module.load(str(lab.LAB / "server.toml"))
    events = store.call_events(store.open_db(config.database), outcome["Id"])
    return [(e["kind"], json.loads(e["detail"])) for e in events
            if e["kind"] in ("played", "barge-in", "input")]


@pytest.mark.parametrize("name,result", [("yes-yes", "granted"), ("no", "declined")])
def test_speech_during_the_question_stops_it_and_is_the_answer(barged, name, result):
    """TALK_DETECT + AMI ControlPlayback on the real Asterisk: the question stops soon after
    the caller starts talking (9 s after the answer, about 8.5 s into the prompt) and the
    answer window, opened at once, hears the answer whole."""
    outcome = barged[name]
    assert outcome["Result"] == result and bool(outcome["Recording"]) == (result == "granted")
    (kind, question), (barge_kind, barge), (input_kind, answer) = question_events(outcome)[:3]
    assert (kind, barge_kind, input_kind) == ("played", "barge-in", "input")
    assert question["interrupted"] and 7.5 < question["seconds"] < 10 < question["of"]
    assert barge["at_second"] == question["seconds"]
    assert answer["speech"]["answer"] == {"granted": "yes", "declined": "no"}[result]


def test_speech_inside_the_disclosure_does_not_stop_it(barged):
    """Said 3 s in, before the question is asked: the prompt plays to its end, and that early
    word is never taken for an answer (the caller, silent since, is not recorded)."""
    outcome = barged["early-yes"]
    first = question_events(outcome)[0][1]
    assert not first["interrupted"] and first["seconds"] == first["of"]
    assert "barge-in" not in [kind for kind, _ in question_events(outcome)]
    assert outcome["Result"] == "no-answer" and not outcome["Recording"]


def test_answer_window_that_cannot_be_written_falls_back_to_the_keypad(running_lab, tmp_path):
    """A plugin that cannot see Asterisk's files as Asterisk does (its asterisk_root points
    elsewhere): RECORD FILE fails with writefile on the real Asterisk; the caller, who then
    presses 1, is asked by keypad and granted, not dropped to an error."""
    from tests.servers import free_port, serve_file

    port = free_port()
    elsewhere = tmp_path / "not-asterisks-root"
    elsewhere.mkdir()
    config = tmp_path / "blind.toml"
    config.write_text(f'database = "{tmp_path}/blind.db"\nasterisk_root = "{elsewhere}"\n'
                      f'[server]\nport = {port}\n[prompts]\ndirectory = "{lab.PROMPTS_IN}"\n'
                      '[recording]\ndirectory = "/var/spool/asterisk/monitor/consent-nowhere"\n'
                      '[flow]\nanswer_timeout = 4\n[speech]\nenabled = true\n')
    process, _ = serve_file(config, port)
    try:
        async def place():
            async with LabAmi(running_lab) as ami:
                return await ami.call(FL, "say", "US-NY", say="yes", key="1",
                                      delay=math.ceil(prompt_seconds()) + 1,
                                      agi=f"agi://127.0.0.1:{port}/consent")
        outcome = asyncio.run(place())
    finally:
        process.terminate()
        process.wait(20)
    assert outcome["Result"] == "granted", dict(outcome.gate)
    db = store.open_db(f"{tmp_path}/blind.db")
    events = store.call_events(db, outcome["Id"])
    modes = [json.loads(e["detail"]) for e in events if e["kind"] == "answer-mode"]
    assert modes[0]["spoken"] and "writefile" in modes[1]["fallback"]
    assert [json.loads(e["detail"]).get("key") for e in events if e["kind"] == "input"] == ["1"]
