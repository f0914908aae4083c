"""The consent flow against the fake channel: every outcome, the MixMonitor rule, the log."""

import contextlib
import json

import pytest

from agi_consent.call.channel import ChannelError as AgiError
from agi_consent.call.flow import run_guarded
from agi_consent.core import contract as v
from agi_consent.core.engine import Engine
from agi_consent.services import Services
from agi_consent.store.ledger import Ledger
from agi_consent.watch.talk import Barge
from lab.fakes import FakeChannel, FakeSpeech

CA, NY, TX = "+14155550123", "+12125550123", "+12145550123"


@pytest.fixture
def services(make_config):
    def build(**overrides):
        config = make_config(**overrides)
        return Services(config, Engine(config), Ledger(config.database), "test")
    return build


async def run(services, keys=(), args=("region=US-NY",), caller=CA, call_id="call-1", **env):
    channel = FakeChannel(keys, env={"agi_callerid": caller, "agi_uniqueid": "u1", **env})
    for n, arg in enumerate(args, 1):
        channel.env[f"agi_arg_{n}"] = arg
    result = await run_guarded(channel, services, call_id=call_id)
    return result, channel


def played(channel):
    return [c[1].rsplit("/", 1)[-1] for c in channel.calls if c[0] == "play"]


async def test_ca_caller_presses_1_is_granted_and_recorded(services, db_rows):
    svc = services()
    result, channel = await run(svc, keys=["1"])
    assert result == v.GRANTED
    assert channel.variables[v.RESULT] == "granted"
    assert channel.variables[v.MODE] == "all-party"
    assert channel.variables[v.JURISDICTION] == "US-CA"
    assert channel.variables[v.ID] == "call-1"
    assert channel.variables[v.RECORDING].endswith("/call-1.wav")
    assert channel.script.mixmonitor == [f"{channel.variables[v.RECORDING]},i({v.MIXMON_ID})"]
    assert played(channel) == ["consent-request", "consent-confirmed"]
    call, events = db_rows(svc.config, "call-1")
    assert call["result"] == "granted" and call["governing"] == "US-CA"
    assert call["recording"] == channel.variables[v.RECORDING]
    kinds = [e["kind"] for e in events]
    assert kinds == ["call-start", "decision", "answer-mode", "prompt", "played", "input",
                     "consent-result", "recording-requested", "recording-started",
                     "variables-set", "prompt", "played", "call-end"]
    assert kinds.index("consent-result") < kinds.index("recording-started")
    prompt = json.loads(events[3]["detail"])
    assert prompt["name"] == "consent-request" and len(prompt["sha256"]) == 64
    assert prompt["text"] == "en consent-request"


async def test_mixmonitor_runs_after_the_answer(services):
    _, channel = await run(services(), keys=["1"])
    order = [c[0] for c in channel.calls]
    assert order.index("exec") > order.index("play")


@pytest.mark.parametrize("keys,result", [(["2"], v.DECLINED), ([None, "2"], v.DECLINED),
                                         ([None, None, None, "1"], v.GRANTED),
                                         ([], v.NO_ANSWER), (["7", "8", None, "5"], v.NO_ANSWER)])
async def test_all_party_outcomes(services, keys, result):
    outcome, channel = await run(services(), keys=keys)
    assert outcome == result == channel.variables[v.RESULT]
    recorded = result == v.GRANTED
    assert bool(channel.script.mixmonitor) == recorded
    assert bool(channel.variables[v.RECORDING]) == recorded


async def test_retries_play_sorry_then_give_up(services):
    _, channel = await run(services(), keys=[])
    assert played(channel) == ["consent-request", "sorry", "consent-request", "declined"]


async def test_attempts_are_configurable(services):
    _, channel = await run(services(flow={"attempts": 3}), keys=[])
    assert played(channel).count("consent-request") == 3


async def test_one_party_notice_records(services):
    result, channel = await run(services(), caller=TX, args=("region=US-TX",))
    assert result == v.NOTIFIED and channel.variables[v.MODE] == "one-party"
    assert channel.variables[v.JURISDICTION] == "US-TX"
    assert played(channel) == ["notice"] and channel.script.mixmonitor


async def test_one_party_opt_out(services):
    svc = services(flow={"opt_out_key": "9"})
    result, channel = await run(svc, keys=["9"], caller=TX, args=("region=US-TX",))
    assert result == v.OPTED_OUT and not channel.script.mixmonitor
    assert played(channel) == ["notice-opt-out", "declined"]


async def test_anonymous_caller_is_all_party(services):
    result, channel = await run(services(), keys=["1"], caller="anonymous",
                                args=("region=US-TX",))
    assert channel.variables[v.MODE] == "all-party"
    assert channel.variables[v.JURISDICTION] == "unknown" and result == v.GRANTED


async def test_hangup_during_prompt_never_records(services, db_rows):
    svc = services()
    result, channel = await run(svc, keys=["hangup"])
    assert result == v.HANGUP and not channel.script.mixmonitor
    call, events = db_rows(svc.config, "call-1")
    assert call["result"] == "hangup" and [e["kind"] for e in events[-2:]] == ["hangup",
                                                                                "call-end"]


@pytest.mark.parametrize("method", ["answer", "play", "wait_digit", "exec", "set_variable"])
async def test_any_channel_fault_fails_closed(services, db_rows, method):
    svc = services()
    channel = FakeChannel([None, "1"], env={"agi_callerid": CA, "agi_arg_1": "region=US-NY"},
                          fail_on={method: AgiError("Asterisk said no")})
    result = await run_guarded(channel, svc, call_id="call-1")
    assert result == v.ERROR
    call, _ = db_rows(svc.config, "call-1")
    assert call["result"] == "error" and "Asterisk said no" in call["error"]
    if method != "set_variable":
        assert channel.variables[v.RESULT] == "error"
    assert not channel.variables.get(v.RECORDING)
    stopped = [c for c in channel.calls if c[:2] == ("exec", "StopMixMonitor")]
    # MixMonitor ran only after the "1"; a fault from its request on stops the recording
    assert len(channel.script.mixmonitor) == (method == "set_variable")
    assert len(stopped) == (method in ("exec", "set_variable"))


async def test_missing_prompt_fails_closed(services, prompt_dir):
    (prompt_dir / "en" / "consent-request.wav").unlink()
    result, channel = await run(services(), keys=["1"])
    assert result == v.ERROR and not channel.script.mixmonitor
    assert channel.variables[v.RESULT] == "error"


async def test_broken_prompt_file_fails_closed(services, prompt_dir):
    (prompt_dir / "en" / "consent-request.wav").write_bytes(b"not audio")
    result, channel = await run(services(), keys=["1"])
    assert result == v.ERROR and not channel.script.mixmonitor


async def test_bad_arguments_fail_closed(services):
    svc = services()
    for n, args in enumerate((("direction=sideways",), ("colour=red",), ("region=Atlantis",))):
        result, channel = await run(svc, keys=["1"], args=args, call_id=f"bad-{n}")
        assert result == v.ERROR and channel.variables[v.RESULT] == "error"
        assert not channel.script.mixmonitor


async def test_unwritable_log_fails_closed(services, tmp_path):
    svc = services()
    svc.ledger.writer.connection.execute("DROP TABLE events")
    result, channel = await run(svc, keys=["1"])
    assert result == v.ERROR and not channel.script.mixmonitor
    assert channel.variables[v.RESULT] == "error"


async def test_outbound_uses_number_argument(services):
    result, channel = await run(services(), keys=["1"], caller=NY,
                                args=("direction=outbound", f"number={CA}", "region=US-NY"))
    assert channel.variables[v.JURISDICTION] == "US-CA" and result == v.GRANTED


async def test_outbound_without_number_is_unknown(services):
    _, channel = await run(services(), keys=["1"], caller=NY,
                           args=("direction=outbound", "region=US-NY"))
    assert channel.variables[v.JURISDICTION] == "unknown"


async def test_language_from_argument_and_channel(services):
    _, channel = await run(services(), keys=["1"], args=("region=US-NY", "lang=fr"))
    assert "/fr/" in [c for c in channel.calls if c[0] == "play"][0][1]
    _, channel = await run(services(), keys=["1"], agi_language="fr", call_id="call-2")
    assert "/fr/" in [c for c in channel.calls if c[0] == "play"][0][1]


async def test_trunk_map_supplies_region(services):
    svc = services(default_region="", trunks={"PJSIP/carrier-tx": "US-TX"})
    result, channel = await run(svc, args=(), caller=TX, agi_channel="PJSIP/carrier-tx-0001")
    assert channel.variables[v.MODE] == "one-party" and result == v.NOTIFIED


# spoken answers ------------------------------------------------------------------------------

async def run_spoken(services, keys, **overrides):
    svc = services(**overrides)
    channel = FakeChannel(keys, env={"agi_callerid": CA, "agi_arg_1": "region=US-NY"})
    svc.speech = FakeSpeech(channel)
    result = await run_guarded(channel, svc, call_id="spoken")
    return result, channel, svc


@pytest.fixture
def speech_prompt(prompt_dir):
    assert (prompt_dir / "en" / "consent-request-speech.wav").exists()


@pytest.mark.parametrize("keys,result", [
    ([None, "say:yes i agree", None, "say:yes"], v.GRANTED),  # every spoken yes confirmed
    ([None, "say:yes i agree", None, None], v.NO_ANSWER),  # ... before it counts
    ([None, "say:no"], v.DECLINED),
    ([None, "say:maybe", None, None], v.NO_ANSWER),
    ([None, "say:maybe", None, None, "say:yes i agree", None, "say:yes"], v.GRANTED),
    ([None, "2"], v.DECLINED),  # a key in the answer window wins
    ([None, "say:yes", None, "say:yes i agree"], v.GRANTED),
])
async def test_spoken_answers(services, speech_prompt, db_rows, keys, result):
    outcome, channel, svc = await run_spoken(services, keys)
    assert outcome == result
    assert bool(channel.script.mixmonitor) == (result == v.GRANTED)
    assert played(channel)[0] == "consent-request-speech"
    _, events = db_rows(svc.config, "spoken")
    spoken = [json.loads(e["detail"]) for e in events if e["kind"] == "input"
              and "speech" in e["detail"]]
    for item in spoken:  # the answer audio is evidence: path and hash in the log
        assert item["audio"].endswith(".wav") and len(item["sha256"]) == 64
        # what was heard is personal: Whisper's transcript, and the grammar's words for a yes
        assert set(item["personal"]) == ({"transcript", "confirmation"} if item["speech"][
            "answer"] == "yes" else {"transcript"})
        assert not {"transcript", "confirmation"} & set(item["speech"])


@pytest.mark.parametrize("keys,result", [
    ([None, "say:yes", None, "say:yes i agree"], v.GRANTED),
    ([None, "say:yes", "1"], v.GRANTED),  # a key during the confirmation
    ([None, "say:yes", None, "say:no"], v.DECLINED),
    ([None, "say:yes", None, "say:yes"], v.GRANTED),  # yes again, asked plainly
    ([None, "say:yes", None, None], v.NO_ANSWER),  # a "yes?" alone never records
    ([None, "say:i agree", None, None], v.NO_ANSWER),
])
async def test_a_short_spoken_yes_is_confirmed_before_it_counts(services, speech_prompt,
                                                                db_rows, keys, result):
    """"yes" alone (under speech.confirm_under seconds of speech) may be a questioning
    "yes?": the next question asks plainly for confirmation, and no recording starts until
    a yes (or the key) answers it."""
    outcome, channel, svc = await run_spoken(services, keys)
    assert outcome == result and bool(channel.script.mixmonitor) == (result == v.GRANTED)
    assert played(channel)[:2] == ["consent-request-speech", "consent-confirm-speech"]
    _, events = db_rows(svc.config, "spoken")
    inputs = [json.loads(e["detail"]) for e in events if e["kind"] == "input"]
    assert inputs[0]["to_confirm"] and inputs[0]["speech"]["speech_seconds"] < 1.0
    if result == v.GRANTED and "1" not in keys:  # the confirming yes counts
        assert not inputs[-1].get("to_confirm") and inputs[-1]["speech"]["answer"] == "yes"


async def test_a_short_yes_on_the_last_attempt_earns_one_confirmation(services,
                                                                      speech_prompt):
    keys = [None, "say:maybe", None, None, "say:yes", None, "say:yes i agree"]
    outcome, channel, _ = await run_spoken(services, keys)
    assert outcome == v.GRANTED and channel.script.mixmonitor
    assert played(channel)[:4] == ["consent-request-speech", "sorry",
                                   "consent-request-speech", "consent-confirm-speech"]
    outcome, channel, _ = await run_spoken(services, [None, "say:yes", None, "say:yes i agree"],
                                           speech={"confirm_under": 0})
    assert outcome == v.GRANTED and "consent-confirm-speech" not in played(channel)


async def test_only_short_yeses_are_confirmed_when_the_site_says_so(services, speech_prompt):
    """A question said before a yes ("recorded? yes") is as long as a real yes, so by default
    every spoken yes is confirmed; speech.confirm_under = 1 confirms only the short ones."""
    keys = [None, "say:yes i agree", None, "say:yes i agree"]
    outcome, channel, _ = await run_spoken(services, keys)
    assert outcome == v.GRANTED and "consent-confirm-speech" in played(channel)
    outcome, channel, _ = await run_spoken(services, keys[:2] + [None, None],
                                           speech={"confirm_under": 1})
    assert outcome == v.GRANTED and "consent-confirm-speech" not in played(channel)


async def test_speech_needs_its_prompts(services, prompt_dir):
    (prompt_dir / "en" / "consent-confirm-speech.wav").unlink()
    outcome, channel, _ = await run_spoken(services, [None, "1"])
    assert played(channel)[0] == "consent-request" and outcome == v.GRANTED


async def test_speech_needs_its_prompt(services, prompt_dir):
    (prompt_dir / "en" / "consent-request-speech.wav").unlink()
    outcome, channel, _ = await run_spoken(services, [None, "1"])
    assert played(channel)[0] == "consent-request" and outcome == v.GRANTED
    assert not [c for c in channel.calls if c[0] == "record"]


async def test_speech_off_for_a_region(services, speech_prompt):
    _, channel, _ = await run_spoken(services, [None, "1"],
                                     speech={"disabled_regions": ["US-CA"]})
    assert played(channel)[0] == "consent-request"


async def test_speech_off_for_other_languages(services, speech_prompt):
    svc = services()
    channel = FakeChannel([None, "1"], env={"agi_callerid": CA, "agi_arg_1": "region=US-NY",
                                            "agi_arg_2": "lang=fr"})
    svc.speech = FakeSpeech(channel)
    assert await run_guarded(channel, svc, call_id="fr") == v.GRANTED
    assert "/fr/consent-request" in [c for c in channel.calls if c[0] == "play"][0][1]


@pytest.mark.parametrize("keys,result", [([None, "1"], v.GRANTED),
                                         ([None, None, None, None], v.NO_ANSWER)])
async def test_answer_window_fault_falls_back_to_the_keypad(services, speech_prompt, db_rows,
                                                             keys, result):
    """Asterisk cannot write the answer file (writefile): the caller is not dropped to an
    error, the rest of the call takes keys (and the second question says only 'press')."""
    svc = services()
    channel = FakeChannel(keys, env={"agi_callerid": CA, "agi_arg_1": "region=US-NY"},
                          fail_on={"record": AgiError("200 result=-1 (writefile)")})
    svc.speech = FakeSpeech(channel)
    assert await run_guarded(channel, svc, call_id="rec") == result
    assert bool(channel.script.mixmonitor) == (result == v.GRANTED)
    assert len([c for c in channel.calls if c[0] == "record"]) == 1
    _, events = db_rows(svc.config, "rec")
    modes = [json.loads(e["detail"]) for e in events if e["kind"] == "answer-mode"]
    assert modes[0]["spoken"] and not modes[1]["spoken"] and "writefile" in modes[1]["fallback"]
    if result == v.NO_ANSWER:
        assert played(channel)[-2] == "consent-request"  # key-only from then on


async def test_hangup_in_answer_window_never_records(services, speech_prompt):
    outcome, channel, _ = await run_spoken(services, [None, "hangup"])
    assert outcome == v.HANGUP and not channel.script.mixmonitor


class BrokenSpeech:
    async def classify(self, path):
        raise RuntimeError("decoder process died")


async def test_broken_classifier_is_never_a_yes(services, speech_prompt, db_rows):
    svc = services()
    channel = FakeChannel([None, "say:yes", None, None, "say:yes"],
                          env={"agi_callerid": CA, "agi_arg_1": "region=US-NY"})
    svc.speech = BrokenSpeech()
    assert await run_guarded(channel, svc, call_id="broken") == v.NO_ANSWER
    assert not channel.script.mixmonitor and channel.variables[v.RESULT] == "no-answer"
    _, events = db_rows(svc.config, "broken")
    errors = [json.loads(e["detail"]) for e in events if e["kind"] == "input"
              and "error" in e["detail"]]
    assert len(errors) == 1 and "decoder process died" in json.loads(
        events[[e["kind"] for e in events].index("input")]["detail"])["error"]
    assert len([c for c in channel.calls if c[0] == "record"]) == 1  # keys from then on


class FakeTalk:
    """Stands in for watch.talk.Talk: records what the flow armed it with."""

    def __init__(self):
        self.armed = []

    @contextlib.asynccontextmanager
    async def stops_prompt(self, uniqueid, channel, after):
        """As if the caller spoke: the prompt is stopped (the FakeChannel's "talk")."""
        self.armed.append((uniqueid, channel, after))
        barge = Barge()
        yield barge
        barge.stopped = True


async def test_speech_during_the_question_stops_it_and_opens_the_window(services,
                                                                        speech_prompt,
                                                                        db_rows):
    """Barge-in: the caller talks over the question; it stops (ControlPlayback) and the
    answer window opens at once, with no re-prompt; talk detection ends with the question."""
    svc = services(speech={"barge_in_after": 4.5})
    channel = FakeChannel(["talk", "say:yes i agree", None, "say:yes"],
                          env={"agi_callerid": CA, "agi_uniqueid": "u1",
                               "agi_arg_1": "region=US-NY"})
    svc.speech, svc._talk = FakeSpeech(channel), FakeTalk()
    svc._talk.available = True
    assert await run_guarded(channel, svc, call_id="barge") == v.GRANTED
    assert svc._talk.armed == [("u1", "PJSIP/fake-1", 4.5)] * 2  # the question, the confirming
    sets = [c[1:] for c in channel.calls if c[0] == "set_variable" and "TALK" in c[1]]
    assert sets == [("TALK_DETECT(set)", "600"), ("TALK_DETECT(remove)", "")]
    steps = [c[0] for c in channel.calls]
    assert steps.index("record") == steps.index("play") + 2  # set TALK_DETECT, play, record
    _, events = db_rows(svc.config, "barge")
    kinds = [e["kind"] for e in events]
    barge = json.loads(events[kinds.index("barge-in")]["detail"])
    assert barge["at_second"] == 7.0
    played_event = json.loads(events[kinds.index("played")]["detail"])
    assert played_event["interrupted"] and played_event["seconds"] == 7.0


async def test_no_barge_in_without_ami_or_when_turned_off(services, speech_prompt):
    for talk, overrides in ((None, {}), (FakeTalk(), {"speech": {"barge_in": False}})):
        svc = services(**overrides)
        channel = FakeChannel([None, "say:yes i agree", None, "1"],
                              env={"agi_callerid": CA, "agi_uniqueid": "u1",
                                   "agi_arg_1": "region=US-NY"})
        svc.speech, svc._talk = FakeSpeech(channel), talk
        if talk:
            talk.available = True
        assert await run_guarded(channel, svc, call_id="plain") == v.GRANTED
        assert not [c for c in channel.calls if c[0] == "set_variable" and "TALK" in c[1]]
        assert not (talk and talk.armed)
