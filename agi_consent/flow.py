"""The consent call flow, written once against the channel interface.

decide → answer → disclosure in the caller's language → answer by key or voice → MixMonitor for
`granted` / `notified` only → contract variables → every step in the log. `run_guarded` is the one
error funnel both transports use: any failure logs, sets CONSENT_RESULT=error if the channel
lives, and never starts MixMonitor.
"""

import asyncio
import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from . import variables as v
from .agiproto import Hangup, parse_args, positional_args
from .config import local_path
from .decision import ALL_PARTY, UNKNOWN
from .ledger import CallLog, utc_now
from .prompts import PromptMissing, choose_language, resolve, sha256_file

log = logging.getLogger("agi_consent.flow")


@dataclass
class Services:
    """What a flow needs from its process: config, decision engine and a ledger."""

    config: object
    engine: object
    ledger: object
    transport: str
    speech: object = None  # a SpeechService on the server; None: answers by key only


@dataclass
class CallState:
    """What the funnel needs to know when a step fails midway."""

    call_id: str
    mode: str = ""
    governing: str = ""
    recording: str = ""
    logged: bool = False


def remote_number(args, env):
    if "number" in args:
        return args["number"]
    return env.get("agi_callerid", "") if args["direction"] == "inbound" else ""


def start(channel, services, state, call):
    """Log the call and decide; returns (decision, language, trunk region)."""
    env, config = channel.env, services.config
    call.start(transport=services.transport, channel=env.get("agi_channel", ""),
               uniqueid=env.get("agi_uniqueid", ""), caller_id=env.get("agi_callerid", ""))
    state.logged = True
    call.event("call-start", channel=env.get("agi_channel", ""), args=positional_args(env),
               language=env.get("agi_language", ""))
    args = parse_args(positional_args(env))
    number = remote_number(args, env)
    region = services.engine.region_for(args.get("region"), env.get("agi_channel", ""),
                                        env.get("agi_dnid", ""))
    remote, decision = services.engine.decide(number, region, args["direction"])
    state.mode, state.governing = decision.mode, decision.governing
    remote_code = next((x.code for x in decision.verdicts
                        if x.role == "remote" and x.code != UNKNOWN), None)
    language = choose_language(args.get("lang"), env.get("agi_language"),
                               remote_code or region, config.prompts.language)
    places = remote.subdivisions or ([remote.country] if remote.country else [])
    call.update(remote_number=number, remote_e164=remote.e164, direction=args["direction"],
                trunk_region=region or "", remote_jurisdictions=",".join(places),
                mode=decision.mode, governing=decision.governing,
                rules_version=decision.rules_version, language=language,
                reasons=json.dumps(list(decision.reasons), ensure_ascii=False))
    call.event("decision", **decision.as_dict(), language=language)
    return decision, language, region


async def play(channel, call, config, name, language, region, keys=""):
    prompt = resolve(config, name, language, region)
    call.event("prompt", **prompt.evidence(), keys=keys)
    digit = await channel.play(prompt.path, keys, prompt.seconds)
    if digit:
        call.event("input", key=digit, during="prompt")
    return digit


def answer_path(config, call_id, attempt):
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    return f"{config.recording.directory.rstrip('/')}/answers/{day}/{call_id}-{attempt}"


def speech_enabled(services, language, region, governing):
    """Spoken answers need the server's decoders, a model for the language, the region's
    leave, and sight of Asterisk's files (the answer is read from disk)."""
    speech = services.config.speech
    if services.speech is None or not speech.enabled or language not in speech.languages:
        return False
    if {region, governing} & set(speech.disabled_regions):
        return False
    root = services.config.asterisk_root
    return not root or os.path.isdir(root)


async def listen(channel, call, services, state, attempt, keys):
    """The answer window: one RECORD FILE takes a key (which wins) or a spoken answer."""
    config = services.config
    path = answer_path(config, state.call_id, attempt)
    local = local_path(config, path)
    os.makedirs(os.path.dirname(local), mode=0o750, exist_ok=True)
    digit = await channel.record(path, keys, config.speech.max_seconds,
                                 config.speech.silence_seconds)
    if digit:
        call.event("input", key=digit, during="answer window", attempt=attempt)
        return digit
    try:
        answer = await services.speech.classify(local + ".wav")
        sha256 = await asyncio.get_running_loop().run_in_executor(None, sha256_file,
                                                                  local + ".wav")
        evidence = {"speech": answer.as_dict(), "audio": path + ".wav", "sha256": sha256}
    except Exception as error:  # unreadable answer: no answer this time, never a yes
        call.event("input", speech=None, audio=path + ".wav", error=str(error), attempt=attempt)
        return None
    call.event("input", attempt=attempt, **evidence)
    return {"yes": config.flow.accept_key, "no": config.flow.decline_key}.get(answer.answer)


async def ask_consent(channel, call, services, state, language, region, spoken):
    """All-party: ask, take the answer by key (or voice), re-prompt; granted/declined/no-answer."""
    config = services.config
    flow = config.flow
    keys = flow.accept_key + flow.decline_key
    request = "consent-request-speech" if spoken else "consent-request"
    for attempt in range(1, flow.attempts + 1):
        if attempt > 1:
            await play(channel, call, config, "sorry", language, region)
        digit = await play(channel, call, config, request, language, region, keys)
        if not digit and spoken:
            digit = await listen(channel, call, services, state, attempt, keys)
        elif not digit:
            digit = await channel.wait_digit(flow.answer_timeout)
            call.event("input", key=digit, during="wait", attempt=attempt)
        if digit == flow.accept_key:
            return v.GRANTED
        if digit == flow.decline_key:
            return v.DECLINED
    return v.NO_ANSWER


async def give_notice(channel, call, config, language, region):
    """One-party: play the notice; the optional opt-out key stops the recording."""
    key = config.flow.opt_out_key
    name = "notice-opt-out" if key else "notice"
    digit = await play(channel, call, config, name, language, region, key)
    if key and not digit:
        digit = await channel.wait_digit(config.flow.answer_timeout)
        call.event("input", key=digit, during="wait")
    return v.OPTED_OUT if key and digit == key else v.NOTIFIED


def recording_path(config, call_id):
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    return f"{config.recording.directory.rstrip('/')}/{day}/{call_id}.{config.recording.format}"


async def start_recording(channel, call, config, state):
    path = recording_path(config, state.call_id)
    options = f"{path},{config.recording.options}" if config.recording.options else path
    await channel.exec("MixMonitor", options)
    state.recording = path
    call.event("recording-started", path=path, options=config.recording.options)
    return path


async def set_contract_variables(channel, state, result):
    values = {v.RESULT: result, v.MODE: state.mode, v.JURISDICTION: state.governing or UNKNOWN,
              v.ID: state.call_id, v.RECORDING: state.recording}
    for name, value in values.items():
        await channel.set_variable(name, value)
    return values


async def consent_flow(channel, services, state, call):
    config = services.config
    decision, language, region = start(channel, services, state, call)
    prompt_region = decision.governing if decision.governing != UNKNOWN else region
    if config.flow.answer_channel:
        await channel.answer()
    if decision.mode == ALL_PARTY:
        spoken = speech_enabled(services, language, region, decision.governing)
        if spoken:
            try:
                resolve(config, "consent-request-speech", language, prompt_region)
            except PromptMissing:
                spoken = False  # the prompt must say a spoken answer is possible
        call.event("answer-mode", spoken=spoken)
        result = await ask_consent(channel, call, services, state, language, prompt_region,
                                   spoken)
    else:
        result = await give_notice(channel, call, config, language, prompt_region)
    call.event("consent-result", result=result)
    await call.commit()  # the evidence is durable before any recording starts
    if result in v.RECORDS:
        await start_recording(channel, call, config, state)
    values = await set_contract_variables(channel, state, result)
    call.event("variables-set", **values)
    call.update(result=result, recording=state.recording, ended_at=utc_now())
    await call.commit()
    closing = {v.GRANTED: "consent-confirmed", v.DECLINED: "declined",
               v.NO_ANSWER: "declined", v.OPTED_OUT: "declined"}.get(result)
    if closing:
        try:
            await play(channel, call, config, closing, language, prompt_region)
        except Hangup:
            call.event("hangup", during="closing prompt")
        await call.commit()
    return result


async def run_guarded(channel, services, call_id=None):
    """Run one call through the flow; the single place where failures end fail-closed."""
    state = CallState(call_id or str(uuid.uuid4()))
    call = CallLog(services.ledger, state.call_id)
    try:
        return await consent_flow(channel, services, state, call)
    except Hangup as hangup:
        await _record_end(call, state, v.HANGUP, str(hangup))
        await _best_effort(set_contract_variables(channel, state, v.HANGUP))
        return v.HANGUP
    except (Exception, asyncio.CancelledError) as error:
        log.error("call %s failed closed: %s", state.call_id, describe(error))
        if state.recording:  # a step after MixMonitor failed: stop rather than guess
            await _best_effort(channel.exec("StopMixMonitor"))
            state.recording = ""
        await _record_end(call, state, v.ERROR, describe(error))
        await _best_effort(set_contract_variables(channel, state, v.ERROR))
        if isinstance(error, asyncio.CancelledError):
            raise
        return v.ERROR


def describe(error):
    if isinstance(error, asyncio.CancelledError):
        return "server shutting down"
    return f"{type(error).__name__}: {error}"


async def _record_end(call, state, result, detail):
    async def write():
        if not state.logged:
            call.start()
            state.logged = True
        call.event(result, detail=detail)
        call.update(result=result, recording=state.recording, ended_at=utc_now(),
                    error=detail if result == v.ERROR else None)
        await call.commit()
    await _best_effort(write())


async def _best_effort(coroutine, seconds=5.0):
    """Cleanup steps may fail too (dead channel, broken log); they must not raise."""
    try:
        await asyncio.wait_for(coroutine, seconds)
    except (Exception, asyncio.CancelledError) as error:
        log.warning("cleanup step failed: %s", error)
