"""Steering a live recording through AMI: card-payment pause and resume, and the live list.

Used by the CLI (`pause`, `resume`, `calls --live`) and by the FastAGI routes the dialplan's
consent-pause / consent-resume Gosubs call. A pause mutes both directions with
MixMonitorMute addressed by the recorder's ID: the file keeps its length and the paused span
is silence, so anyone can hear how long it lasted. Asterisk's Success alone proves little (a
channel with another audiohook and no MixMonitor gets Success too), so a pause is reported
done only when the ID-addressed mute succeeded, which Asterisk answers only when it found
that very recorder, and MIXMONITOR(<id>,filename) still shows it attached.
"""

import asyncio
import contextlib
from datetime import UTC, datetime

from ..core import contract as c
from ..transport.ami import AmiActionFailed, AmiUnavailable
from . import events, state
from .watcher import STATUS_VARIABLES


class ControlError(RuntimeError):
    """The action was not done; the message says why and what to do."""


def _now():
    return datetime.now(UTC)


class Control:
    def __init__(self, link, store, own_stops=None):
        self.link, self.store = link, store
        self.own_stops = set() if own_stops is None else own_stops  # shared with the Watcher

    @contextlib.contextmanager
    def stopping(self, call_id):
        """A route stops this call's recorder and logs its close itself: while it does, the
        watcher leaves the MixMonitorStop that causes alone (else both log recording-closed)."""
        self.own_stops.add(call_id)
        try:
            yield
        finally:
            self.own_stops.discard(call_id)

    async def _recording(self, reference):
        call_id = await self.store.read(state.find_call, reference)
        current = call_id and await self.store.read(state.read_state, call_id)
        if not current:
            raise ControlError(f"No call {reference!r} in the consent log; give its consent "
                               "id (CONSENT_ID), its channel's uniqueid or its channel name.")
        if not current.recording_live or not current.mixmon_id:
            raise ControlError(f"Call {current.id} has no running recording (result "
                               f"{current.result or 'none'}); there is nothing to pause.")
        return current

    async def live_channels(self):
        """Channels as Asterisk lists them now, with this plugin's variables."""
        try:
            reply = await self.link.action({"Action": "Status", "Variables": STATUS_VARIABLES},
                                           as_list=True)
        except (AmiUnavailable, AmiActionFailed) as error:
            raise ControlError(f"AMI cannot list the channels ({error}); check [ami] and that "
                               "Asterisk is running.")
        return events.channels(reply)

    async def _channel_of(self, current):
        for channel in await self.live_channels():
            if channel["uniqueid"] == current.uniqueid:
                return channel["channel"]
        raise ControlError(f"Call {current.id}'s channel is not up any more; its recording "
                           "ended with it.")

    async def attached(self, channel, mixmon_id):
        try:
            return await self.link.getvar(channel, c.recorder_file(mixmon_id))
        except AmiUnavailable:
            return ""

    async def _mute(self, current, channel, mute):
        try:
            await self.link.action({"Action": "MixMonitorMute", "Channel": channel,
                                    "MixMonitorID": current.mixmon_id, "Direction": "both",
                                    "State": "1" if mute else "0"})
        except (AmiUnavailable, AmiActionFailed) as error:
            return str(error)
        if not await self.attached(channel, current.mixmon_id):
            return "the recorder is not attached to the channel"
        return None

    async def pause(self, reference, reason, who):
        return await self._switch(reference, reason, who, mute=True)

    async def resume(self, reference, who, reason=""):
        return await self._switch(reference, reason, who, mute=False)

    async def _switch(self, reference, reason, who, mute):
        current = await self._recording(reference)
        if mute == bool(current.paused_at):
            now = f"already paused since {current.paused_at}" if mute else "not paused"
            raise ControlError(f"Call {current.id}'s recording is {now}.")
        channel = await self._channel_of(current)
        problem = await self._mute(current, channel, mute)
        kind = "paused" if mute else "resumed"
        detail = {"by": who[:80], "reason": reason[:200], "channel": channel,
                  "mixmon_id": current.mixmon_id, "direction": "both"}
        if problem:
            await self.store.append_all([(current.id, f"{kind[:-1]}-failed",
                                          {**detail, "problem": problem}, None)])
            raise ControlError(f"The recording of call {current.id} was NOT "
                               f"{'paused' if mute else 'resumed'}: {problem}. "
                               + ("Do not take card details on this call."
                                  if mute else "It stays silent until resumed."))
        if not mute:
            began = datetime.fromisoformat(current.paused_at)
            detail["paused_seconds"] = round((_now() - began).total_seconds(), 1)
        await self.store.append_all([(current.id, kind, detail, None)])
        return {"call": current.id, "state": kind, **detail}

    async def live(self):
        """Recorded channels now: consent state, pause state and how long they have run."""
        rows = []
        for channel in await self.live_channels():
            mixmon_id = channel["variables"].get(c.MIXMON_ID, "")
            call_id = channel["variables"].get(c.ID, "")
            if not mixmon_id or not call_id:
                continue
            current = await self.store.read(state.read_state, call_id)
            recording = await self.attached(channel["channel"], mixmon_id)
            rows.append({"call": call_id, "channel": channel["channel"],
                         "result": current.result if current else "unknown",
                         "mode": current.mode if current else "",
                         "recording": recording, "recording_live": bool(recording),
                         "paused_since": current.paused_at if current else "",
                         "seconds": channel["seconds"]})
        return rows


async def with_link(config, job, seconds=None):
    """Run `job(Control)` over a one-off AMI session and event store (for the CLI)."""
    from ..store.ledger import Appender
    from ..transport.ami import AmiLink
    link = AmiLink(config.ami, config.ami.read_secret(),
                   action_timeout=config.ami.action_timeout)
    link.start()
    store = Appender(config.database)
    try:
        if not await link.wait_up(seconds or config.ami.action_timeout * 2):
            raise ControlError(f"Cannot log in to AMI at {link.where} as "
                               f"{config.ami.username}; check [ami], the secret file and "
                               "that Asterisk is running.")
        return await job(Control(link, store))
    finally:
        await link.close()
        await asyncio.to_thread(store.close)
