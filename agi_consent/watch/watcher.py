"""Inside `agi-consent serve` when [ami] is set: a recorded call's end, and resynchronisation.

Asterisk publishes no event when a MixMonitor file closes on hangup (MixMonitorStop fires only
for StopMixMonitor, and MixMonitor events carry no recorder ID: app_mixmonitor.c), so a
recording's end is taken from the channel's Hangup event, found by Uniqueid, and the file is
read once Asterisk has closed it. Events go into a call's chain only once its AGI session has
written call-end: until then the session owns the call's rows. After every login the watcher
reconciles: hangups it missed while the link was down are closed from `Status`, and a recorder
running without a granted or notified record is stopped.
"""

import asyncio
import json
import logging
import os
import struct
import time

from ..admin.evidence import file_facts
from ..config import local_path
from ..core import contract as c
from . import events, state
from .talk import EVENTS as TALK_EVENTS
from .talk import Talk

log = logging.getLogger("agi_consent.watch")

STATUS_VARIABLES = f"{c.ID},{c.MIXMON_ID},{c.RESULT}"


def wav_closed(path):
    """Asterisk's format_wav writes the RIFF sizes only when it closes the file."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(8)
        return len(header) == 8 and struct.unpack("<I", header[4:])[0] + 8 == os.path.getsize(
            path)
    except OSError:
        return False


def wait_closed(path, seconds, poll=0.2):
    """True once the file is closed (WAV header written, or other formats' size steady)."""
    deadline, last = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        if path.endswith(".wav") and wav_closed(path):
            return True
        if not path.endswith(".wav") and os.path.exists(path):
            size = os.path.getsize(path)
            if size == last:
                return True
            last = size
        time.sleep(poll)
    return False


async def recording_facts(config, path):
    """Size, length and SHA-256 of the closed file; says so when it is not closed or not
    visible to this process (the path is as Asterisk sees it)."""
    local = local_path(config, path)
    closed = os.path.exists(local) and await asyncio.to_thread(wait_closed, local,
                                                               config.ami.close_timeout)
    facts = await asyncio.to_thread(file_facts, config, path)
    facts["closed"] = closed
    if not facts["visible"]:
        log.warning("recording %s is not visible here (as %s); its size and hash are not "
                    "logged: check asterisk_root", path, local)
    return facts


def already(call_id, kind, by=None):
    """An `unless` check for Writer.append: that event is already in the call's chain (a
    hangup seen live and again by a reconcile after a reconnect is logged once)."""
    def logged(connection):
        for (detail,) in connection.execute("SELECT detail FROM events WHERE call_id = ? AND "
                                            "kind = ?", [call_id, kind]):
            if by is None or json.loads(detail or "{}").get("by") in by:
                return True
        return False
    return logged


class Watcher:
    def __init__(self, config, link, store, talk=None, own_stops=None):
        self.config, self.link, self.store, self.talk = config, link, store, talk
        self.tasks = set()
        # calls whose recorder a route of this server is stopping and logging itself (a
        # withdrawal): the MixMonitorStop it causes is that route's to log, not the watcher's
        self.own_stops = set() if own_stops is None else own_stops

    async def run(self):
        while True:
            event = await self.link.events.get()
            if self.link.overflowed:
                self.link.overflowed = False
                log.warning("AMI events came faster than they were handled; reconciling")
                self._spawn(self.reconcile())
            name, facts = event.get("Event"), events.hangup(event)
            if self.talk and name in TALK_EVENTS:
                self.talk.on_event(event)
                continue
            if facts and name == "Hangup":
                self._spawn(self.on_hangup(facts))
            elif facts and name == "MixMonitorStop":  # StopMixMonitor from anywhere
                self._spawn(self.on_stop(facts))

    def _spawn(self, coroutine):
        task = asyncio.get_running_loop().create_task(self._guarded(coroutine))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _guarded(coroutine):
        try:
            await coroutine
        except Exception:  # one call's trouble must not stop the watcher
            log.exception("AMI watcher step failed")

    async def on_hangup(self, facts):
        call_id = await self.store.read(state.call_by_uniqueid, facts["uniqueid"])
        if call_id:
            await self.close_call(call_id, {**facts, "by": "ami"})

    async def on_stop(self, facts):
        """A StopMixMonitor (an admin, another application): the event names no recorder,
        so ours counts as stopped only when Asterisk no longer shows it attached."""
        call_id = await self.store.read(state.call_by_uniqueid, facts["uniqueid"])
        current = call_id and await self._after_session(call_id)
        if not current or not current.recording_live or not current.mixmon_id:
            return
        if await self.link.getvar(facts["channel"], c.recorder_file(current.mixmon_id)):
            return  # another recorder on the channel was stopped, not ours
        if call_id in self.own_stops:
            return
        closed = await recording_facts(self.config, current.recording)
        if call_id in self.own_stops:  # a withdrawal began while the file was closing
            return
        await self.store.append_all([(call_id, "recording-closed", {**closed, "by": "stop"},
                                      already(call_id, "recording-closed"))])

    async def close_call(self, call_id, hangup):
        """Log the channel's end and, when the call recorded, the file Asterisk closed."""
        current = await self._after_session(call_id)
        if current is None:
            return
        items = []
        if not current.hung_up:
            items.append((call_id, "hangup", hangup,
                          already(call_id, "hangup", state.WATCHER_SOURCES)))
        if current.recording and not current.closed:
            facts = await recording_facts(self.config, current.recording)
            items.append((call_id, "recording-closed", {**facts, "by": "hangup"},
                          already(call_id, "recording-closed")))
        if items:
            await self.store.append_all(items)

    async def _after_session(self, call_id):
        """The call's state once its AGI session has ended (None if it never does in time)."""
        deadline = time.monotonic() + self.config.ami.close_timeout
        while True:
            current = await self.store.read(state.read_state, call_id)
            if current is None or current.session_ended:
                return current
            if time.monotonic() > deadline:
                log.warning("call %s: its AGI session is still open %.0f s after the hangup; "
                            "the next reconcile closes it", call_id,
                            self.config.ami.close_timeout)
                return None
            await asyncio.sleep(0.2)

    async def reconcile(self):
        """After a login: close what ended unseen, stop what records without consent."""
        reply = await self.link.action({"Action": "Status", "Variables": STATUS_VARIABLES},
                                       as_list=True)
        live = {channel["uniqueid"]: channel for channel in events.channels(reply)}
        gone = 0
        for call_id in await self.store.read(state.open_recordings):
            current = await self.store.read(state.read_state, call_id)
            if current and current.uniqueid not in live and current.session_ended:
                gone += 1
                await self.close_call(call_id, {"uniqueid": current.uniqueid, "by": "reconcile",
                                                "cause": None, "reason": "the channel was gone "
                                                "when the watcher resynchronised"})
        stray = 0
        for channel in live.values():
            stray += await self._stop_unconsented(channel)
        log.info("AMI reconcile: %d live channel(s), %d ended call(s) closed, %d recorder(s) "
                 "without consent stopped", len(live), gone, stray)

    async def _stop_unconsented(self, channel):
        """A recorder of ours on a channel whose record is not granted/notified: stop it."""
        mixmon_id = channel["variables"].get(c.MIXMON_ID, "")
        if not mixmon_id or channel["variables"].get(c.RESULT) in c.RECORDS:
            return 0
        name = channel["channel"]
        attached = await self.link.getvar(name, c.recorder_file(mixmon_id))
        if not attached:
            return 0
        call_id = await self.store.read(state.call_by_uniqueid, channel["uniqueid"])
        current = call_id and await self.store.read(state.read_state, call_id)
        if current and current.result in c.RECORDS:
            # consent is committed before MixMonitor starts; the session may still be in its
            # closing prompt (CONSENT_RESULT is set last, the recording row comes at its end)
            return 0
        await self.link.action({"Action": "StopMixMonitor", "Channel": name,
                                "MixMonitorID": mixmon_id})
        log.error("stopped a recording on %s with no granted or notified record (call %s)",
                  name, call_id or "unknown")
        target = call_id if current and current.session_ended else "system"
        await self.store.append_all([(target, "recording-stopped", {
            "path": attached, "mixmon_id": mixmon_id, "channel": name, "by": "reconcile",
            "reason": "recording with no granted or notified consent record"}, None,
            target == "system")])
        return 1




def start(config, secret, store):
    """The AMI link and the watcher on it: (Control, Talk, link, watcher task)."""
    from ..transport.ami import AmiLink
    from .control import Control
    link = AmiLink(config.ami, secret, action_timeout=config.ami.action_timeout)
    talk = Talk(link)
    watcher = Watcher(config, link, store, talk)
    link.on_up = watcher.reconcile
    link.start()
    task = asyncio.get_running_loop().create_task(watcher.run(), name="ami-watcher")
    return Control(link, store, watcher.own_stops), talk, link, task
