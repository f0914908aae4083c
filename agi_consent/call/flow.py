"""The consent call flow, written once against the channel interface.

decide → answer → disclosure in the caller's language → answer by key or voice → MixMonitor for
`granted` / `notified` only → contract variables → every step in the log. Each step takes the
`Call`, which holds everything about this one call. `run_guarded` is the one error funnel both
transports use: any failure logs, sets CONSENT_RESULT=error if the channel lives, and never
starts MixMonitor.
"""

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import __version__
from ..config import local_path
from ..core import contract as c
from ..core.decision import ALL_PARTY, UNKNOWN
from .calllog import CallLog, new_call_id
from .channel import Barge, ChannelError, Hangup
from .prompts import PromptMissing, choose_language, resolve, sha256_file
from .request import BadRequest, positional_args, read_request

log = logging.getLogger("agi_consent.flow")


@dataclass
class Call:
    """One call: its channel, its log, the process's services and what the steps found."""

    channel: object
    services: object
    log: CallLog
    mode: str = ""
    governing: str = ""
    region: str | None = None  # the trunk's
    prompt_region: str | None = None  # the governing jurisdiction, else the trunk's
    language: str = ""
    recording: str = ""  # the MixMonitor file once requested, until it is known stopped
    mixmon_id: str = ""
    rate: int | None = None  # sample rate of the prompts Asterisk plays on this channel
    spoken: bool = False  # the caller may answer by voice (until speech fails on this call)
    talk_detect: bool = False  # TALK_DETECT is set on the channel (barge-in)
    peer: str = ""  # the FastAGI client's address, logged
    problem: str | None = None  # what the transport found wrong with the environment

    @property
    def id(self):
        return self.log.call_id

    @property
    def config(self):
        return self.services.config


def start(call):
    """Log the call, validate what it asks for, and decide; returns the decision."""
    env = call.channel.env
    call.log.event("call-start", transport=call.services.transport,
                   channel=env.get("agi_channel", "")[:256],
                   uniqueid=env.get("agi_uniqueid", "")[:64],
                   language=env.get("agi_language", "")[:16], peer=call.peer,
                   personal={"caller_id": env.get("agi_callerid", "")[:256],
                             "args": json.dumps(positional_args(env)[:8])[:2200]})
    if call.problem:
        raise BadRequest(call.problem)
    request = read_request(env)
    engine = call.services.engine
    call.region = engine.region_for(request.region, request.channel, request.dnid)
    remote, decision = engine.decide(request.remote_number, call.region, request.direction)
    call.mode, call.governing = decision.mode, decision.governing
    call.prompt_region = decision.governing if decision.governing != UNKNOWN else call.region
    remote_code = next((x.code for x in decision.verdicts
                        if x.role == "remote" and x.code != UNKNOWN), None)
    call.language = choose_language(request.lang, request.channel_language,
                                    remote_code or call.region, call.config.prompts.language)
    places = remote.subdivisions or ([remote.country] if remote.country else [])
    flow = call.config.flow
    call.log.event("decision", **decision.as_dict(), language=call.language,
                   trunk_region=call.region or "", remote_jurisdictions=",".join(places),
                   package_version=__version__,
                   keys={"accept": flow.accept_key, "decline": flow.decline_key,
                         "opt_out": flow.opt_out_key},
                   personal={"remote_number": request.remote_number,
                             "remote_e164": remote.e164 or ""})
    return decision


async def play(call, name, keys="", talk=None):
    """Play a prompt; the log says what it was (text, every format's hash) before, and how
    much of it the caller heard after (`played`, from Asterisk's end position)."""
    prompt = resolve(call.config, name, call.language, call.prompt_region)
    call.log.event("prompt", **prompt.evidence(), keys=keys)
    env = call.channel.env
    armed = talk.stops_prompt(env["agi_uniqueid"], env["agi_channel"],
                              call.config.speech.barge_in_after) if talk else \
        contextlib.nullcontext(Barge())
    async with armed as barge:
        played = await call.channel.play(prompt.path, keys, prompt.seconds)
    stopped = barge.stopped and not played.key
    cut = bool(played.key) or stopped
    rate = await sample_rate(call) if cut else 8000
    heard = round(played.position / rate, 2) if played.position is not None else None
    call.log.event("played", name=name, seconds=heard, of=round(prompt.seconds, 2),
                   interrupted=cut, endpos=played.position, rate=rate)
    if played.key:
        call.log.event("input", key=played.key, during="prompt", at_second=heard)
    elif stopped:
        call.log.event("barge-in", at_second=heard, then="answer window")
    return played.key


TALK_SILENCE_MS = "600"  # TALK_DETECT: this much quiet ends "talking" (Asterisk's default 2500)


async def ask(call, name, keys):
    """The question. Where the caller may answer by voice and AMI is up, speech past
    `speech.barge_in_after` seconds of it stops it (barge-in: watch.talk) and the answer
    window opens at once; otherwise it plays to its end."""
    env = call.channel.env
    talk = call.services.talk() if call.spoken and call.config.speech.barge_in and \
        env.get("agi_uniqueid") and env.get("agi_channel") else None
    if talk and not call.talk_detect:
        await call.channel.set_variable("TALK_DETECT(set)", TALK_SILENCE_MS)
        call.talk_detect = True
    return await play(call, name, keys, talk)


async def end_talk_detect(call):
    """The question is answered: no talking events for the rest of the call."""
    if call.talk_detect:
        await call.channel.set_variable("TALK_DETECT(remove)", "")
        call.talk_detect = False


WIDEBAND = ("slin16", "g722", "siren7", "speex16", "opus", "slin32", "slin48", "silk16")


async def sample_rate(call):
    """The rate of the file Asterisk plays: .sln16 on a wideband channel, else the 8 kHz
    .wav; endpos counts its samples. Asked once per call, only when a key cut a prompt."""
    if call.rate is None:
        write_format = await call.channel.get_variable("CHANNEL(audiowriteformat)") or ""
        call.rate = 16000 if write_format.lower() in WIDEBAND else 8000
    return call.rate


def dated_path(config, folder, name):
    """`<recording.directory>/<folder>/YYYY/MM/DD/<name>`, as Asterisk sees it."""
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    return "/".join(p for p in (config.recording.directory.rstrip("/"), folder, day, name) if p)


def speech_enabled(call):
    """Spoken answers need the server's decoders, a model for the language, the region's
    leave, and sight of Asterisk's files (the answer is read from disk)."""
    speech = call.config.speech
    if call.services.speech is None or not speech.enabled or \
            call.language not in speech.languages:
        return False
    if {call.region, call.governing} & set(speech.disabled_regions):
        return False
    root = call.config.asterisk_root
    return not root or os.path.isdir(root)


def offer_speech(call):
    """Speech is offered only where the questions can say so (their prompts exist)."""
    if not speech_enabled(call):
        return False
    try:
        for name in ("consent-request-speech", "consent-confirm-speech"):
            resolve(call.config, name, call.language, call.prompt_region)
    except PromptMissing:
        return False
    return True


YES_TO_CONFIRM = "yes to confirm"  # listen's answer for a spoken yes not yet confirmed


def needs_confirming(answer, config):
    """A spoken yes with under `speech.confirm_under` seconds of speech (by default every
    one) is not granted alone: neither engine hears the tone that makes "yeah?" or "sorry?
    yes" a question, and such answers, short or long, were the false yeses of the held-out
    sets (bench/heldout.py). It is granted once the caller, asked plainly to confirm,
    answers yes again (any yes, or the key). Without a speech length (no VAD) every spoken
    yes is confirmed."""
    limit = config.speech.confirm_under
    return answer.answer == "yes" and limit > 0 and (
        answer.speech_seconds is None or answer.speech_seconds < limit)


async def listen(call, attempt, keys, confirming=False):
    """The answer window: one RECORD FILE takes a key (which wins) or a spoken answer; a
    spoken yes is YES_TO_CONFIRM (`needs_confirming`) unless it answers the confirmation."""
    config = call.config
    path = dated_path(config, "answers", f"{call.id}-{attempt}")
    local = local_path(config, path)
    try:
        # group-writable: Asterisk (another user, same group) writes the answer into it
        os.makedirs(os.path.dirname(local), mode=0o770, exist_ok=True)
        digit = await call.channel.record(path, keys, config.speech.max_seconds,
                                          config.speech.silence_seconds)
    except (ChannelError, OSError) as error:  # writefile, no folder: keys still work
        fall_back_to_keys(call, f"the answer window could not be recorded ({error})")
        digit = await call.channel.wait_digit(config.flow.answer_timeout)
        call.log.event("input", key=digit, during="wait", attempt=attempt)
        return digit
    if digit:
        call.log.event("input", key=digit, during="answer window", attempt=attempt)
        return digit
    try:
        answer = await call.services.speech.classify(local + ".wav")
        sha256 = await asyncio.get_running_loop().run_in_executor(None, sha256_file,
                                                                  local + ".wav")
        heard = answer.as_dict()
        said = {"transcript": heard.pop("transcript")}  # what a person said is personal data
        if confirmation := heard.pop("confirmation"):  # the grammar's, when it weighed a yes
            said["confirmation"] = confirmation
        evidence = {"speech": heard, "audio": path + ".wav", "sha256": sha256,
                    "personal": said}
    except Exception as error:  # unreadable answer: no answer this time, never a yes
        call.log.event("input", speech=None, audio=path + ".wav", error=str(error),
                       attempt=attempt)
        fall_back_to_keys(call, f"the answer could not be classified ({error})")
        return None
    if not confirming and needs_confirming(answer, config):
        call.log.event("input", attempt=attempt, to_confirm=True, **evidence)
        return YES_TO_CONFIRM
    call.log.event("input", attempt=attempt, **evidence)
    return {"yes": config.flow.accept_key, "no": config.flow.decline_key}.get(answer.answer)


def fall_back_to_keys(call, reason):
    """Speech failed for this call: the rest of it takes keys only (degrade, don't fail)."""
    call.spoken = False
    call.log.event("answer-mode", spoken=False, fallback=reason)


async def ask_consent(call):
    """All-party: ask, take the answer by key (or voice), re-prompt; granted/declined/no-answer.
    A spoken yes (by default any) turns the next question into the confirmation;
    given on the last attempt, it earns one more."""
    flow = call.config.flow
    keys = flow.accept_key + flow.decline_key
    call.spoken = offer_speech(call)
    call.log.event("answer-mode", spoken=call.spoken)
    result, attempts, confirming, attempt = c.NO_ANSWER, flow.attempts, False, 0
    while attempt < attempts:
        attempt += 1
        if confirming and call.spoken:
            question = "consent-confirm-speech"
        else:
            if attempt > 1:
                await play(call, "sorry")
            question = "consent-request-speech" if call.spoken else "consent-request"
        digit = await ask(call, question, keys)
        if not digit and call.spoken:
            digit = await listen(call, attempt, keys, confirming)
        elif not digit:
            digit = await call.channel.wait_digit(flow.answer_timeout)
            call.log.event("input", key=digit, during="wait", attempt=attempt)
        if digit == YES_TO_CONFIRM:
            if not confirming and attempt == attempts:
                attempts += 1
            confirming = True
        elif digit in (flow.accept_key, flow.decline_key):
            result = c.GRANTED if digit == flow.accept_key else c.DECLINED
            break
    await end_talk_detect(call)
    return result


async def give_notice(call):
    """One-party: play the notice; the optional opt-out key stops the recording."""
    flow = call.config.flow
    key = flow.opt_out_key
    digit = await play(call, "notice-opt-out" if key else "notice", key)
    if key and not digit:
        digit = await call.channel.wait_digit(flow.answer_timeout)
        call.log.event("input", key=digit, during="wait")
    return c.OPTED_OUT if key and digit == key else c.NOTIFIED


def request_recording(call):
    """Log the MixMonitor about to be requested; it goes to the log in the consent's commit."""
    recording = call.config.recording
    path = dated_path(call.config, "", f"{call.id}.{recording.format}")
    call.log.event("recording-requested", path=path, options=recording.options,
                   id_variable=c.MIXMON_ID)
    return path


async def start_recording(call, path):
    """MixMonitor with an ID, requested only once the request itself is in the log, and
    believed only once Asterisk shows the recorder attached (MixMonitor answers success even
    when its thread failed to start)."""
    recording = call.config.recording
    call.recording = path  # from here on a failure stops it
    await call.channel.exec("MixMonitor", f"{path},{recording.options}i({c.MIXMON_ID})")
    call.mixmon_id = await call.channel.get_variable(c.MIXMON_ID) or ""
    if not call.mixmon_id or not await recorder_attached(call):
        raise ChannelError(f"MixMonitor did not attach a recorder for {path}")
    call.log.event("recording-started", path=path, mixmon_id=call.mixmon_id,
                   options=recording.options)


async def recorder_attached(call):
    """`MIXMONITOR(<id>,filename)` has a value only while that recorder's datastore exists."""
    return bool(await call.channel.get_variable(c.recorder_file(call.mixmon_id)))


async def stop_recording(call):
    """Stop this call's recorder and say so only when Asterisk shows it gone; when the link
    is unusable the gate stops it by CONSENT_MIXMON_ID once the AGI returns."""
    try:
        call.mixmon_id = call.mixmon_id or await call.channel.get_variable(c.MIXMON_ID) or ""
        await call.channel.exec("StopMixMonitor", call.mixmon_id)  # no ID: MixMonitor never ran
        if call.mixmon_id and await recorder_attached(call):
            raise ChannelError("the recorder is still attached after StopMixMonitor")
    except (Hangup, ChannelError) as error:
        call.log.event("recording-stop-failed", path=call.recording, mixmon_id=call.mixmon_id,
                       reason=str(error), then="the consent gate stops it by "
                       f"{c.MIXMON_ID} when the AGI returns (or the call's end closes it)")
        return
    call.log.event("recording-stopped", path=call.recording, mixmon_id=call.mixmon_id,
                   by="agi")
    call.recording = call.mixmon_id = ""


async def set_contract_variables(call, result):
    """CONSENT_RESULT goes last: once the dialplan sees it, every other variable is set."""
    recording = call.recording if result in c.RECORDS else ""  # the log keeps the path
    values = {c.MODE: call.mode, c.JURISDICTION: call.governing or UNKNOWN, c.ID: call.id,
              c.RECORDING: recording, c.RESULT: result}
    for name, value in values.items():
        await call.channel.set_variable(name, value)
    return values


CLOSING = {c.GRANTED: "consent-confirmed", c.DECLINED: "declined", c.NO_ANSWER: "declined",
           c.OPTED_OUT: "declined"}


async def closing_prompt(call, result):
    """Thanks or goodbye; the committed result stands whatever happens to it."""
    try:
        await play(call, CLOSING[result])
    except (Hangup, ChannelError, PromptMissing) as error:
        kind = "hangup" if isinstance(error, Hangup) else "closing-prompt-failed"
        call.log.event(kind, during="closing prompt", detail=str(error))


async def consent_flow(call):
    decision = start(call)
    if call.config.flow.answer_channel:
        await call.channel.answer()
    result = await (ask_consent(call) if decision.mode == ALL_PARTY else give_notice(call))
    call.log.event("consent-result", result=result)
    path = request_recording(call) if result in c.RECORDS else None
    await call.log.commit()  # the consent and the request are durable before MixMonitor
    if path:
        await start_recording(call, path)
    values = await set_contract_variables(call, result)
    call.log.event("variables-set", **values)
    if result in CLOSING:
        await closing_prompt(call, result)
    call.log.event("call-end", result=result, recording=call.recording)
    await call.log.commit()
    return result


async def run_guarded(channel, services, call_id=None, peer="", problem=None):
    """Run one call through the flow; the single place where failures end fail-closed."""
    call = Call(channel, services, CallLog(services.ledger, call_id or new_call_id()),
                peer=peer, problem=problem)
    with services.ledger.open_call():  # the log's group commit counts the calls running
        try:
            return await consent_flow(call)
        except Hangup as hangup:
            await _end_failed(call, c.HANGUP, str(hangup))
            return c.HANGUP
        except (Exception, asyncio.CancelledError) as error:
            log.error("call %s failed closed: %s", call.id, describe(error))
            await _end_failed(call, c.ERROR, describe(error))
            if isinstance(error, asyncio.CancelledError):
                raise
            return c.ERROR


async def _end_failed(call, result, detail):
    """Stop a recording this call started, log the end, tell the dialplan if it listens."""
    if call.recording:
        await _best_effort(stop_recording(call))
    await _record_end(call, result, detail)
    await _best_effort(set_contract_variables(call, result))


def describe(error):
    if isinstance(error, asyncio.CancelledError):
        return "server shutting down"
    return f"{type(error).__name__}: {error}"


async def _record_end(call, result, detail):
    async def write():
        if not call.log.started:  # failed before its first row: the row still says so
            call.log.event("call-start", transport=call.services.transport)
        call.log.event(result, detail=detail)
        call.log.event("call-end", result=result, recording=call.recording,
                       error=detail if result == c.ERROR else None)
        await call.log.commit()
    await _best_effort(write(), seconds=call.services.ledger.timeout + 5)


async def _best_effort(coroutine, seconds=5.0):
    """Cleanup steps may fail too (dead channel, broken log); they must not raise."""
    try:
        async with asyncio.timeout(seconds):
            await coroutine
    except (Exception, asyncio.CancelledError) as error:
        log.warning("cleanup step failed: %s", error)
