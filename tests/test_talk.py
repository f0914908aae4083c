"""Barge-in on AMI (watch.talk): ControlPlayback only while the caller talks, only past the
part of the question that always plays, never after the question ended."""

import asyncio
import logging

from agi_consent.transport.ami import AmiUnavailable
from agi_consent.watch.talk import Talk


class Link:
    def __init__(self, fail=None):
        self.up = asyncio.Event()
        self.up.set()
        self.sent, self.fail = [], fail

    async def action(self, fields, as_list=None, check=True):
        if self.fail:
            raise self.fail
        self.sent.append(fields)


def talking(uniqueid, start=True):
    return {"Event": "ChannelTalkingStart" if start else "ChannelTalkingStop",
            "Uniqueid": uniqueid, "Channel": "PJSIP/x-1"}


STOP = {"Action": "ControlPlayback", "Channel": "PJSIP/x-1", "Control": "stop"}


async def test_speech_past_the_guard_stops_the_prompt():
    link = Link()
    talk = Talk(link)
    async with talk.stops_prompt("u1", "PJSIP/x-1", after=0.05) as barge:
        talk.on_event(talking("u2"))  # another caller: not ours
        await asyncio.sleep(0.1)
        assert link.sent == [] and not barge.stopped
        talk.on_event(talking("u1"))
        await asyncio.sleep(0.02)
        assert link.sent == [STOP]
    assert talk.talking == {} and barge.stopped


async def test_a_stop_whose_prompt_ends_before_the_ami_response_counts():
    """Asterisk stops the prompt, STREAM FILE answers and the flow leaves the prompt while
    the ControlPlayback response is still on its way (seen on the real Asterisk)."""
    class SlowLink(Link):
        async def action(self, fields, as_list=None, check=True):
            self.sent.append(fields)
            await asyncio.sleep(10)
    link = SlowLink()
    talk = Talk(link)
    async with talk.stops_prompt("u1", "PJSIP/x-1", after=0.01) as barge:
        await asyncio.sleep(0.03)
        talk.on_event(talking("u1"))
        await asyncio.sleep(0.02)
        assert link.sent == [STOP]
    assert barge.stopped


async def test_speech_that_ended_within_the_guard_does_not_stop_it():
    link = Link()
    talk = Talk(link)
    async with talk.stops_prompt("u1", "PJSIP/x-1", after=0.1):
        talk.on_event(talking("u1"))
        await asyncio.sleep(0.02)
        talk.on_event(talking("u1", start=False))
        await asyncio.sleep(0.15)
    assert link.sent == []


async def test_talk_begun_inside_the_guard_never_stops_it():
    """No ChannelTalkingStop may ever come (a line that sends no frames in silence): talk
    that began inside the disclosure must not stop the question when the guard ends."""
    link = Link()
    talk = Talk(link)
    async with talk.stops_prompt("u1", "PJSIP/x-1", after=0.05):
        talk.on_event(talking("u1"))
        await asyncio.sleep(0.15)
        assert link.sent == []
        talk.on_event(talking("u1"))  # a new start past the guard does
        await asyncio.sleep(0.02)
        assert link.sent == [STOP]


async def test_nothing_is_sent_once_the_question_ended():
    link = Link()
    talk = Talk(link)
    async with talk.stops_prompt("u1", "PJSIP/x-1", after=0.0):
        pass
    talk.on_event(talking("u1"))  # the window is open now: a stop would hit the next prompt
    await asyncio.sleep(0.02)
    assert link.sent == [] and talk.talking == {}


async def test_an_unanswered_stop_is_logged_and_the_question_plays_on(caplog):
    talk = Talk(Link(fail=AmiUnavailable("no answer to ControlPlayback within 5 s")))
    with caplog.at_level(logging.WARNING):
        async with talk.stops_prompt("u1", "PJSIP/x-1", after=0.0) as barge:
            await asyncio.sleep(0.01)
            talk.on_event(talking("u1"))
            await asyncio.sleep(0.02)
    assert "could not stop the question on PJSIP/x-1" in caplog.text and not barge.stopped


def test_available_follows_the_link():
    link = Link()
    talk = Talk(link)
    assert talk.available
    link.up.clear()
    assert not talk.available
