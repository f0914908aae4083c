"""Barge-in: a caller who starts answering while the question plays stops it.

AGI's STREAM FILE listens for keys only. Asterisk's TALK_DETECT (set on the channel by the
flow) raises ChannelTalkingStart/Stop on AMI; when the caller starts talking past the part of
the question that always plays (`speech.barge_in_after`), the AMI action ControlPlayback
stops the prompt. STREAM FILE then answers as if the file had ended (`result=0`, endpos short of
the end: file.c sanitize_waitstream_return), so the flow learns of the stop from here, and
opens the answer window at once.
"""

import asyncio
import contextlib
import logging

from ..call.channel import Barge
from ..transport.ami import AmiActionFailed, AmiUnavailable

log = logging.getLogger("agi_consent.talk")

EVENTS = ("ChannelTalkingStart", "ChannelTalkingStop")


class Talk:
    def __init__(self, link):
        self.link = link
        self.talking = {}  # Uniqueid -> Event, set while that caller talks

    @property
    def available(self):
        return self.link.up.is_set()

    def on_event(self, event):
        flag = self.talking.get(event.get("Uniqueid", ""))
        if flag is None:
            return
        if event.get("Event") == "ChannelTalkingStart":
            flag.set()
        else:
            flag.clear()

    @contextlib.asynccontextmanager
    async def stops_prompt(self, uniqueid, channel, after):
        """While inside, speech after `after` seconds stops the prompt playing on `channel`;
        yields a Barge whose `stopped` says, afterwards, whether it did."""
        barge = Barge()
        flag = self.talking[uniqueid] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            self._stop_on_speech(flag, channel, after, barge))
        try:
            yield barge
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.talking.pop(uniqueid, None)

    async def _stop_on_speech(self, flag, channel, after, barge):
        await asyncio.sleep(after)
        # Only talk that starts past the guard counts: a line that sends no frames in
        # silence (a Local channel, a phone with silence suppression) never says it stopped.
        flag.clear()
        await flag.wait()
        # Said before the action: STREAM FILE's reply to the stop can come before the AMI
        # response does, and the prompt's end then cancels this task mid-action.
        barge.stopped = True
        try:
            await self.link.action({"Action": "ControlPlayback", "Channel": channel,
                                    "Control": "stop"})
        except (AmiUnavailable, AmiActionFailed) as error:  # the question plays to its end
            barge.stopped = False
            log.warning("could not stop the question on %s for the caller's answer: %s",
                        channel, error)
