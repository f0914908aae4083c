"""The mid-call routes on the fake channel: a withdrawal stops the recorder by its ID and
marks the consent; one that names another channel's record, or whose recorder will not stop,
changes nothing in the log and tells the dialplan (whose Gosub then stops the recorder); a
pause without the AMI watcher says `failed`, never `paused`."""

import json

from agi_consent.call.flow import run_guarded
from agi_consent.core import contract as c
from agi_consent.core.engine import Engine
from agi_consent.services import Services
from agi_consent.store import audit
from agi_consent.store import schema as store
from agi_consent.store.ledger import Ledger
from agi_consent.watch import routes
from lab.fakes import FakeChannel
from tests.test_ami import closed_wav


async def granted(config):
    services = Services(config, Engine(config), Ledger(config.database), "fastagi")
    channel = FakeChannel(["1"], env={"agi_uniqueid": "17.1", "agi_callerid": "+14155550123",
                                      "agi_arg_1": "region=US-NY"})
    assert await run_guarded(channel, services, call_id="call-1") == c.GRANTED
    closed_wav(channel.variables[c.RECORDING])
    return services, channel


def mid_call(channel, **env):
    """The same channel coming back on a new AGI session (its variables stay)."""
    kept = {k: v for k, v in channel.env.items() if not k.startswith("agi_arg_")}
    again = FakeChannel(env={**kept, **env})
    again.script.variables = dict(channel.variables)
    again.script.recorders = dict(channel.script.recorders)
    return again


def kinds(config):
    return [(e["kind"], json.loads(e["detail"])) for e in
            store.call_events(store.open_db(config.database), "call-1")]


async def test_withdrawal_stops_the_recorder_and_marks_the_consent(make_config):
    services, channel = await granted(make_config())
    again = mid_call(channel)
    assert await routes.run("withdraw", again, services) == c.WITHDRAWN
    recorder = channel.variables[c.MIXMON_ID]
    assert ("exec", "StopMixMonitor", recorder) in again.calls
    assert not again.script.recorders and again.variables[c.RESULT] == c.WITHDRAWN
    assert any(call[0] == "play" and call[1].endswith("consent-withdrawn")
               for call in again.calls)
    logged = dict(kinds(services.config))
    assert logged["withdrawn"]["previous"] == "granted"
    assert logged["recording-closed"]["by"] == "withdrawal"
    call = store.get_call(store.open_db(services.config.database), "call-1")
    assert call["result"] == "withdrawn" and call["recording"] == channel.variables[c.RECORDING]
    assert audit.verify(services.config.database).ok
    services.close()


async def test_a_withdrawal_naming_another_channels_record_changes_nothing(make_config):
    services, channel = await granted(make_config())
    before = kinds(services.config)
    again = mid_call(channel, agi_uniqueid="99.9")  # someone else's channel
    assert await routes.run("withdraw", again, services) == "error"
    assert again.variables[c.RESULT] == c.ERROR and kinds(services.config) == before
    services.close()


async def test_a_recorder_that_will_not_stop_is_not_logged_as_withdrawn(make_config):
    services, channel = await granted(make_config())
    again = mid_call(channel)
    again.fail_on = {}
    original = again.exec

    async def stop_does_nothing(application, options=""):
        if application != "StopMixMonitor":
            await original(application, options)
    again.exec = stop_does_nothing
    assert await routes.run("withdraw", again, services) == "error"
    assert "withdrawn" not in dict(kinds(services.config))
    assert again.variables[c.RESULT] == c.ERROR  # the Gosub then stops it itself
    services.close()


async def test_a_pause_without_the_ami_watcher_says_failed(make_config, caplog):
    services, channel = await granted(make_config())
    again = mid_call(channel, agi_arg_1="reason=card")
    assert await routes.run("pause", again, services) == "failed"
    assert again.variables[c.PAUSE] == "failed"
    assert any("AMI watcher is not running" in r.getMessage() for r in caplog.records)
    bad = mid_call(channel, agi_arg_1="channel=x")
    assert await routes.run("pause", bad, services) == "error"
    assert bad.variables[c.PAUSE] == "failed"
    services.close()
