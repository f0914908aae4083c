"""The AMI link and watcher against a fake AMI that answers as Asterisk 22 does: login and a
wrong secret, a dropped and a half-open link, hangup → the record closed with the file's hash,
reconciliation after the link was down, and a pause that is confirmed or loudly refused. The
same steps run against the real Asterisk in test_lab_ami.py."""

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import wave
from pathlib import Path

import pytest
from panoramisk import testing
from panoramisk.message import Message

from agi_consent.call.flow import run_guarded
from agi_consent.core import contract as c
from agi_consent.core.engine import Engine
from agi_consent.services import Services
from agi_consent.store import audit
from agi_consent.store import schema as store
from agi_consent.store.ledger import Appender, Ledger
from agi_consent.transport import ami
from agi_consent.watch import events
from agi_consent.watch.control import Control, ControlError
from agi_consent.watch.watcher import Watcher
from lab.fakes import FakeAmi, FakeChannel


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(ami, "backoff", lambda failures: 0.05)


@pytest.fixture
async def fake_ami():
    server = FakeAmi()
    port = await server.start()
    yield server, port
    await server.close()


@pytest.fixture
def site(make_config, tmp_path, fake_ami):
    _, port = fake_ami
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    return make_config(ami={"host": "127.0.0.1", "port": port, "secret_file": str(secret),
                            "action_timeout": 0.5, "ping_seconds": 0.2,
                            "close_timeout": 2.0})


async def until(check, seconds=5.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def link_for(config, secret="s3cret", on_up=None):
    return ami.AmiLink(config.ami, secret, on_up=on_up,
                       action_timeout=config.ami.action_timeout)


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "agi_consent.ami"]


async def test_link_logs_in_and_comes_back_after_asterisk_drops_it(site, fake_ami, caplog):
    server, _ = fake_ami
    caplog.set_level(logging.INFO)
    link = link_for(site)
    link.start()
    try:
        assert await link.wait_up(3)
        assert (await link.action({"Action": "Ping"})).get("Ping") == "Pong"
        server.drop()
        await until(lambda: server.logins == 2)
        assert await link.wait_up(3)
    finally:
        await link.close()
    lines = messages(caplog)
    assert any("lost; reconnecting" in line for line in lines)
    assert any("back after" in line for line in lines)


async def test_a_wrong_secret_is_one_clear_line_not_a_silent_loop(site, fake_ami, caplog):
    server, _ = fake_ami
    link = link_for(site, secret="wrong")
    link.start()
    try:
        await until(lambda: server.refused >= 3)
        assert not link.up.is_set()
        with pytest.raises(ami.AmiUnavailable):
            await link.action({"Action": "Ping"})
    finally:
        await link.close()
    refused = [line for line in messages(caplog) if "refused the login" in line]
    assert len(refused) == 1 and "ami.secret_file" in refused[0]
    assert "Authentication failed" in refused[0] and "wrong" not in refused[0]


async def test_a_half_open_link_is_noticed_by_the_ping_and_replaced(site, fake_ami, caplog):
    server, _ = fake_ami
    link = link_for(site)
    link.start()
    try:
        assert await link.wait_up(3)
        server.answering = False  # the socket stays open, nothing comes back
        with pytest.raises(ami.AmiUnavailable, match="no answer"):
            await link.action({"Action": "Ping"})
        await until(lambda: not link.up.is_set())
        server.answering = True
        await until(lambda: server.logins == 2)
        assert await link.wait_up(3)
    finally:
        await link.close()
    assert any("did not answer a ping" in line for line in messages(caplog))


async def test_a_cancel_that_lands_as_the_reply_arrives_is_kept(site):
    """The race that hung a CI run at teardown: with Python 3.11's wait_for, an action whose
    reply completed in the same loop turn as the cancel returned the reply instead."""
    link = link_for(site)
    reply = asyncio.get_running_loop().create_future()

    class Manager:
        def send_action(self, fields, as_list=None):
            return reply

    sending = asyncio.get_running_loop().create_task(link._send(Manager(), {"Action": "Ping"}))
    await asyncio.sleep(0)  # sent; waiting for its reply
    reply.set_result("Pong")
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending


async def test_close_ends_the_link_even_when_a_cancel_is_lost(site, fake_ami):
    lost = []

    async def resync_that_swallows_a_cancel():  # as a library's lost cancel would
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            lost.append(True)

    link = link_for(site, on_up=resync_that_swallows_a_cancel)
    link.start()
    assert await link.wait_up(3)
    async with asyncio.timeout(5):
        await link.close()
    assert lost and link._task.done() and not link.up.is_set()


async def test_nothing_listening_is_said_once_and_retried(make_config, tmp_path, caplog):
    from tests.servers import free_port
    secret = tmp_path / "ami.secret"
    secret.write_text("x")
    secret.chmod(0o600)
    config = make_config(ami={"host": "127.0.0.1", "port": free_port(),
                              "secret_file": str(secret)})
    link = link_for(config)
    link.start()
    await asyncio.sleep(0.4)  # several attempts
    await link.close()
    unreachable = [line for line in messages(caplog) if "unreachable" in line]
    assert len(unreachable) == 1 and "FastAGI goes on serving" in unreachable[0]


# --- the event mapping, on messages as panoramisk parses them ---------------------------

HANGUP = ("Event: Hangup\nPrivilege: call,all\nChannel: PJSIP/trunk-00000001\n"
          "Uniqueid: 1733050000.12\nLinkedid: 1733050000.11\nCause: 16\n"
          "Cause-txt: Normal Clearing")


def message(text):
    """A message as panoramisk parses it off the wire (with its current line ending)."""
    from panoramisk import utils
    return Message.from_line(text.replace("\n", utils.EOL))


@pytest.fixture
async def replay_manager():
    """panoramisk.testing.Manager, undoing the line ending it sets for the whole process."""
    from panoramisk import utils
    eol = utils.EOL
    yield testing.Manager()
    utils.EOL = eol


async def test_hangup_event_maps_to_cause_and_uniqueid(replay_manager):
    manager = replay_manager
    seen = []
    manager.register_event("Hangup", lambda m, event: seen.append(events.hangup(event)))
    manager.dispatch(message(HANGUP))
    assert seen == [{"uniqueid": "1733050000.12", "channel": "PJSIP/trunk-00000001",
                     "cause": 16, "cause_txt": "Normal Clearing"}]
    odd = message(HANGUP.replace("1733050000.12", "../etc;x y"))
    assert events.hangup(odd) is None, "a Uniqueid that is not one is ignored"
    assert events.hangup(message(HANGUP.replace("Cause: 16", "Cause: x")))[
        "cause"] is None


def test_status_variables_single_and_repeated():
    one = message("Event: Status\nChannel: A\nUniqueid: 1.1\nSeconds: 7\n"
                  "Variable: CONSENT_ID=abc")
    two = message("Event: Status\nChannel: B\nUniqueid: 1.2\n"
                  "Variable: CONSENT_ID=def\nVariable: CONSENT_MIXMON_ID=0x1")
    done = message("Event: StatusComplete\nEventList: Complete")
    assert events.channels([message("Response: Success"), one, two, done]) == [
        {"uniqueid": "1.1", "channel": "A", "seconds": 7, "variables": {"CONSENT_ID": "abc"}},
        {"uniqueid": "1.2", "channel": "B", "seconds": None,
         "variables": {"CONSENT_ID": "def", "CONSENT_MIXMON_ID": "0x1"}}]


# --- the watcher on a consented call -----------------------------------------------------

def closed_wav(path, seconds=1.0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with wave.open(path, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x01\x02" * int(8000 * seconds))


async def granted_call(config, call_id="call-1", uniqueid="1733050000.12"):
    """A real flow on the fake channel: the caller presses 1 and is recorded."""
    services = Services(config, Engine(config), Ledger(config.database), "test")
    channel = FakeChannel(["1"], env={"agi_callerid": "+14155550123", "agi_uniqueid": uniqueid,
                                      "agi_channel": "PJSIP/trunk-00000001",
                                      "agi_arg_1": "region=US-NY"})
    assert await run_guarded(channel, services, call_id=call_id) == c.GRANTED
    services.close()
    return channel


def kinds(config, call_id):
    return [(e["kind"], json.loads(e["detail"])) for e in
            store.call_events(store.open_db(config.database), call_id)]


@contextlib.asynccontextmanager
async def watcher_of(site):
    """The watcher as `serve` runs it: its link reconciles at every login."""
    appender = Appender(site.database)
    link = link_for(site)
    watcher = Watcher(site, link, appender)
    link.on_up = watcher.reconcile
    link.start()
    task = asyncio.get_running_loop().create_task(watcher.run())
    try:
        yield link, watcher, appender
    finally:
        task.cancel()
        await link.close()
        appender.close()


@pytest.fixture
async def watching(site, fake_ami):
    async with watcher_of(site) as (link, watcher, appender):
        yield fake_ami[0], link, watcher, appender


async def test_hangup_closes_the_record_with_cause_and_the_files_hash(site, watching):
    server, link, _, _ = watching
    server.channels = {"PJSIP/trunk-00000001": {"uniqueid": "1733050000.12", "variables": {}}}
    channel = await granted_call(site)  # live: a reconcile at login leaves it alone
    path = channel.variables[c.RECORDING]
    closed_wav(path, 2.0)
    assert await link.wait_up(3)
    server.emit({"Event": "Hangup", "Channel": "PJSIP/trunk-00000001",
                 "Uniqueid": "1733050000.12", "Cause": "16", "Cause-txt": "Normal Clearing"})
    await until(lambda: "recording-closed" in [k for k, _ in kinds(site, "call-1")])
    logged = dict(kinds(site, "call-1")[-2:])
    assert logged["hangup"] == {"uniqueid": "1733050000.12", "channel": "PJSIP/trunk-00000001",
                                "cause": 16, "cause_txt": "Normal Clearing", "by": "ami"}
    closed = logged["recording-closed"]
    assert closed["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert closed["size"] == os.path.getsize(path) and closed["seconds"] == 2.0
    assert closed["closed"] is True and closed["by"] == "hangup"
    server.emit({"Event": "Hangup", "Uniqueid": "1733050000.12", "Cause": "16"})  # again
    await asyncio.sleep(0.3)
    assert [k for k, _ in kinds(site, "call-1")].count("recording-closed") == 1
    assert audit.verify(site.database).ok


async def test_a_hangup_waits_for_the_agi_session_to_end(site, watching):
    server, link, watcher, appender = watching
    assert await link.wait_up(3)
    await watcher.close_call("no-such-call", {"by": "ami"})  # nothing to close: no row
    assert not kinds(site, "no-such-call")


async def test_reconcile_closes_what_ended_unseen_and_stops_unconsented_recorders(
        site, fake_ami, caplog):
    server, _ = fake_ami
    channel = await granted_call(site, "gone", "1.1")
    closed_wav(channel.variables[c.RECORDING])
    server.channels = {"PJSIP/rogue-2": {"uniqueid": "1.2", "variables": {
        c.MIXMON_ID: "0xbad", c.ID: "", c.RESULT: "declined"},
        "recorders": {"0xbad": "/var/spool/x.wav"}}}
    async with watcher_of(site):
        await until(lambda: "recording-closed" in [k for k, _ in kinds(site, "gone")])
        await until(lambda: not server.channels["PJSIP/rogue-2"]["recorders"])
    hangup = dict(kinds(site, "gone"))["hangup"]
    assert hangup["by"] == "reconcile" and hangup["cause"] is None
    stray = dict(kinds(site, "system"))["recording-stopped"]
    assert stray["by"] == "reconcile" and stray["channel"] == "PJSIP/rogue-2"
    assert any("no granted or notified record" in r.getMessage() for r in caplog.records)


async def test_pause_is_confirmed_and_resume_says_how_long(site, watching):
    server, link, _, appender = watching
    server.channels = {"PJSIP/trunk-00000001": {"uniqueid": "1733050000.12", "variables": {}}}
    channel = await granted_call(site)
    recorder = channel.variables[c.MIXMON_ID]
    server.channels = {"PJSIP/trunk-00000001": {"uniqueid": "1733050000.12", "variables": {
        c.ID: "call-1", c.MIXMON_ID: recorder, c.RESULT: c.GRANTED},
        "recorders": {recorder: channel.variables[c.RECORDING]}}}
    assert await link.wait_up(3)
    control = Control(link, appender)
    paused = await control.pause("call-1", "card payment", "alice")
    assert paused["state"] == "paused" and server.channels["PJSIP/trunk-00000001"]["muted"] == {
        recorder: True}
    mute = [a for a in server.actions if a.get("action") == "MixMonitorMute"][-1]
    assert mute["mixmonitorid"] == recorder and mute["direction"] == "both"
    with pytest.raises(ControlError, match="already paused"):
        await control.pause("1733050000.12", "again", "alice")  # by uniqueid too
    live = await control.live()
    assert live[0]["paused_since"] and live[0]["recording_live"]
    await asyncio.sleep(0.2)
    resumed = await control.resume("PJSIP/trunk-00000001", "alice")  # by channel name
    assert resumed["paused_seconds"] >= 0.2
    assert server.channels["PJSIP/trunk-00000001"]["muted"] == {recorder: False}
    logged = dict(kinds(site, "call-1"))
    assert logged["paused"]["reason"] == "card payment" and logged["paused"]["by"] == "alice"


async def test_a_pause_asterisk_cannot_confirm_is_refused_loudly(site, watching):
    server, link, _, appender = watching
    server.channels = {"PJSIP/trunk-00000001": {"uniqueid": "1733050000.12", "variables": {}}}
    await granted_call(site)
    server.channels = {"PJSIP/trunk-00000001": {"uniqueid": "1733050000.12", "variables": {},
                                                "recorders": {}}}  # another hook, no recorder
    assert await link.wait_up(3)
    with pytest.raises(ControlError, match="NOT paused.*Cannot set mute flag.*card details"):
        await Control(link, appender).pause("call-1", "card payment", "alice")
    assert "pause-failed" in dict(kinds(site, "call-1"))
    with pytest.raises(ControlError, match="No call"):
        await Control(link, appender).pause("nobody", "x", "alice")


async def test_a_stopmixmonitor_from_elsewhere_closes_ours_only_when_it_is_gone(site, watching):
    server, link, _, _ = watching
    channel = await granted_call(site)
    recorder = channel.variables[c.MIXMON_ID]
    closed_wav(channel.variables[c.RECORDING])
    server.channels = {"PJSIP/trunk-00000001": {"uniqueid": "1733050000.12", "variables": {},
                                                "recorders": {recorder: "x.wav"}}}
    assert await link.wait_up(3)
    stop = {"Event": "MixMonitorStop", "Channel": "PJSIP/trunk-00000001",
            "Uniqueid": "1733050000.12"}
    server.emit(stop)  # some other recorder: ours is still attached
    await asyncio.sleep(0.3)
    assert "recording-closed" not in dict(kinds(site, "call-1"))
    server.channels["PJSIP/trunk-00000001"]["recorders"] = {}
    server.emit(stop)
    await until(lambda: "recording-closed" in dict(kinds(site, "call-1")))
    assert dict(kinds(site, "call-1"))["recording-closed"]["by"] == "stop"


async def test_a_withdrawals_own_stop_is_logged_once_by_the_withdrawal(site, watching):
    """The caller's withdrawal stops the recorder over AGI; Asterisk's MixMonitorStop reaches
    the watcher while the route is still closing the file. One recording-closed, the route's
    (a CI run logged two: the watcher's `by: stop` and then the route's)."""
    from agi_consent.watch import routes
    from tests.test_routes import mid_call
    server, link, watcher, appender = watching
    channel = await granted_call(site)
    recorder = channel.variables[c.MIXMON_ID]
    closed_wav(channel.variables[c.RECORDING])
    server.channels = {"PJSIP/trunk-00000001": {"uniqueid": "1733050000.12", "variables": {},
                                                "recorders": {}}}
    assert await link.wait_up(3)
    again = mid_call(channel)
    stop = again.exec

    async def stop_seen_by_ami_at_once(application, options=""):
        await stop(application, options)
        if application == "StopMixMonitor":
            server.emit({"Event": "MixMonitorStop", "Channel": "PJSIP/trunk-00000001",
                         "Uniqueid": "1733050000.12"})
            await asyncio.sleep(0.5)  # the watcher has long seen it and checked the recorder
    again.exec = stop_seen_by_ami_at_once
    services = Services(site, Engine(site), Ledger(site.database), "fastagi",
                        control=Control(link, appender, watcher.own_stops))
    services._events = appender
    assert await routes.run("withdraw", again, services) == c.WITHDRAWN
    await asyncio.sleep(0.5)
    closes = [d for k, d in kinds(site, "call-1") if k == "recording-closed"]
    assert [d["by"] for d in closes] == ["withdrawal"]
    assert recorder not in server.channels["PJSIP/trunk-00000001"]["recorders"]
    assert not watcher.own_stops
    services.ledger.close()


async def test_reconcile_leaves_a_consented_recording_whose_session_is_still_running(
        site, fake_ami):
    """Consent committed, MixMonitor started, the closing prompt still playing: the channel
    has a recorder and no CONSENT_RESULT yet (it is set last). Not a recording to stop."""
    from agi_consent.store.ledger import Writer
    server, _ = fake_ami
    writer = Writer(site.database)
    rows = [("call-start", {"transport": "fastagi", "uniqueid": "5.5", "channel": "PJSIP/a-1"}),
            ("decision", {"mode": "all-party"}), ("consent-result", {"result": "granted"}),
            ("recording-requested", {"path": "/x.wav"})]
    writer.write([("busy", [("event", (n, "2026-12-01T10:00:00.000+00:00", kind, detail,
                                       None)) for n, (kind, detail) in enumerate(rows, 1)],
                   len(rows))])
    writer.close()
    server.channels = {"PJSIP/a-1": {"uniqueid": "5.5", "variables": {c.MIXMON_ID: "0x9"},
                                     "recorders": {"0x9": "/x.wav"}}}
    async with watcher_of(site):
        await until(lambda: any(a.get("action") == "Status" for a in server.actions))
        await asyncio.sleep(0.3)
    assert server.channels["PJSIP/a-1"]["recorders"] == {"0x9": "/x.wav"}
    assert not any(a.get("action") == "StopMixMonitor" for a in server.actions)


async def test_a_hangup_seen_twice_at_once_is_logged_once(site, watching):
    """The live Hangup and a reconcile after a reconnect may close the same call together:
    the second finds the first's rows inside its transaction and writes nothing."""
    server, link, watcher, _ = watching
    server.channels = {"PJSIP/trunk-00000001": {"uniqueid": "1733050000.12", "variables": {}}}
    channel = await granted_call(site)
    closed_wav(channel.variables[c.RECORDING])
    assert await link.wait_up(3)
    hangup = {"uniqueid": "1733050000.12", "cause": 16, "by": "ami"}
    await asyncio.gather(watcher.close_call("call-1", hangup),
                         watcher.close_call("call-1", {**hangup, "by": "reconcile"}))
    logged = [k for k, d in kinds(site, "call-1") if k == "recording-closed" or
              (k == "hangup" and d.get("by") in ("ami", "reconcile"))]
    assert logged == ["hangup", "recording-closed"]
