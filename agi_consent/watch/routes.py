"""The mid-call FastAGI routes, over the same channel interface as the consent flow.

- `withdraw` runs on the caller's own channel (the consent-withdraw Gosub, from a DTMF feature
  in features-agi-consent.conf): it stops this call's recorder by its ID, believes it stopped
  only when Asterisk shows it gone, logs `withdrawn` and the closed file, sets
  CONSENT_RESULT=withdrawn and tells the caller in their language. The Gosub stops the
  recorder itself whatever this route managed: a withdrawal never leaves a recording running.
- `pause` / `resume` (the consent-pause / consent-resume Gosubs, an agent's feature code) ask
  the AMI watcher to mute or unmute the call's recording and set CONSENT_PAUSE.
"""

import contextlib
import logging
import re

from ..call.channel import ChannelError, Hangup
from ..call.prompts import PromptMissing, resolve
from ..call.request import BadRequest, check_values, positional_args
from ..core import contract as c
from . import state
from .control import ControlError
from .watcher import already, recording_facts

log = logging.getLogger("agi_consent.routes")

REFERENCE = re.compile(r"^[0-9A-Za-z._/@;:-]{1,128}$")  # a consent id, uniqueid or channel


def route_args(env, allowed):
    """`key=value` arguments of a mid-call route; unknown or repeated keys are an error."""
    check_values(env)
    parsed = {}
    for value in positional_args(env)[:len(allowed) + 1]:
        key, sep, item = value.partition("=")
        if not value:
            continue
        if not sep or key not in allowed or key in parsed:
            raise BadRequest(f"argument {value[:40]!r}: this route takes "
                             f"{', '.join(k + '=' for k in allowed)} once each")
        parsed[key] = item.strip()
    return parsed


async def withdraw(channel, services):
    env = channel.env
    call_id = await channel.get_variable(c.ID) or ""
    store = services.events()
    current = REFERENCE.match(call_id) and await store.read(state.read_state, call_id)
    if not current or current.uniqueid != env.get("agi_uniqueid"):
        raise BadRequest(f"this channel's {c.ID} names no consent record of this channel")
    mixmon_id = current.mixmon_id or await channel.get_variable(c.MIXMON_ID) or ""
    if current.result != c.WITHDRAWN:
        stopping = services.control.stopping if services.control else contextlib.nullcontext
        with stopping(current.id):
            await stop_and_log(channel, services, store, current, mixmon_id)
    await channel.set_variable(c.RESULT, c.WITHDRAWN)
    try:
        prompt = resolve(services.config, "consent-withdrawn", current.language or "en")
        await channel.play(prompt.path, "", prompt.seconds)
    except (PromptMissing, ChannelError, Hangup) as error:
        log.warning("call %s: withdrawal confirmation not played: %s", current.id, error)
    return c.WITHDRAWN


async def stop_and_log(channel, services, store, current, mixmon_id):
    """Stop the recorder by its ID, believed only when Asterisk shows it gone; log both."""
    if mixmon_id:
        await channel.exec("StopMixMonitor", mixmon_id)
        if await channel.get_variable(c.recorder_file(mixmon_id)):
            raise ChannelError("the recorder is still attached after StopMixMonitor")
    items = [(current.id, "withdrawn", {"by": "caller", "channel": channel.env.get(
        "agi_channel", "")[:256], "mixmon_id": mixmon_id, "recording": current.recording,
        "previous": current.result}, None)]
    if current.recording and not current.closed:
        facts = await recording_facts(services.config, current.recording)
        items.append((current.id, "recording-closed", {**facts, "by": "withdrawal"},
                      already(current.id, "recording-closed")))
    await store.append_all(items)
    log.info("call %s: consent withdrawn by the caller; recording stopped", current.id)


async def pause(channel, services, mute=True):
    args = route_args(channel.env, ("call", "reason", "who"))
    reference = args.get("call") or await channel.get_variable(c.ID) or ""
    if not REFERENCE.match(reference):
        raise BadRequest("no call to pause: pass call=<CONSENT_ID> or run it on the channel")
    who = args.get("who") or f"dialplan:{channel.env.get('agi_channel', '')[:80]}"
    outcome = "failed"
    if services.control is None:
        log.error("pause/resume of %s refused: the AMI watcher is not running (set [ami] "
                  "and run agi-consent serve)", reference)
    else:
        try:
            if mute:
                await services.control.pause(reference, args.get("reason", ""), who)
            else:
                await services.control.resume(reference, who, args.get("reason", ""))
            outcome = "paused" if mute else "resumed"
        except ControlError as error:
            log.error("%s", error)
    await channel.set_variable(c.PAUSE, outcome)
    return outcome


async def resume(channel, services):
    return await pause(channel, services, mute=False)


ROUTES = {"withdraw": withdraw, "pause": pause, "resume": resume}


async def run(route, channel, services):
    """One mid-call request; any failure is logged and said to the dialplan, never raised."""
    try:
        return await ROUTES[route](channel, services)
    except Exception as error:  # noqa: BLE001 - the dialplan is told, the call goes on
        log.error("%s route failed: %s", route, error)
        await refuse(route, channel)
        return "error"


async def refuse(route, channel):
    """Tell the dialplan the route did nothing; its Gosub then acts on its own."""
    variable, value = (c.RESULT, c.ERROR) if route == "withdraw" else (c.PAUSE, "failed")
    try:
        await channel.set_variable(variable, value)
    except (ChannelError, Hangup):
        pass
