"""The call's channel interface over AGI: what each command means, as res_agi.c answers it.

`AgiChannel` works over any AGI line transport (FastAGI socket, classic stdin/stdout) given one
coroutine: `send(line, timeout) -> Reply`.
"""

from ..call.channel import ChannelError, Hangup, Played
from .wire import command


class AgiChannel:
    def __init__(self, send, env, margin=10.0):
        self._send = send
        self.env = env
        self.margin = margin  # seconds beyond a command's own wait before we give up on it

    async def run(self, name, *args, wait=0.0):
        return await self._send(command(name, *args), wait + self.margin)

    async def failed(self, what):
        """`result=-1` means "hung up" or "failed" (a missing file answers
        `200 result=-1 endpos=0` on a live channel): CHANNEL STATUS tells them apart, as it
        answers 511 on a dead channel."""
        status = await self.run("CHANNEL STATUS")
        if status.number is None or status.number < 0:
            return Hangup(f"channel gone ({what})")
        return ChannelError(f"Asterisk failed: {what} (channel still up, state "
                            f"{status.number})")

    async def answer(self):
        if (await self.run("ANSWER")).number == -1:
            raise await self.failed("ANSWER")

    async def play(self, path, escape_digits="", duration=60.0):
        """Play a file (path without extension): the key pressed and the end position."""
        reply = await self.run("STREAM FILE", path, escape_digits, wait=duration)
        if reply.number == -1:
            raise await self.failed(f"could not play {path}")
        return Played(reply.digit, reply.endpos)

    async def wait_digit(self, seconds):
        reply = await self.run("WAIT FOR DIGIT", int(seconds * 1000), wait=seconds)
        if reply.number == -1:
            raise await self.failed("WAIT FOR DIGIT")
        return reply.digit

    async def record(self, path, escape_digits, max_seconds, silence_seconds):
        """One answer window: record to `path`.wav until a key, silence or the time limit.

        Returns the key pressed, or None when the window ended without one (the audio is then
        the answer to classify).
        """
        reply = await self.run("RECORD FILE", path, "wav", escape_digits,
                               int(max_seconds * 1000), 0, f"s={int(silence_seconds)}",
                               wait=max_seconds)
        if reply.data == "hangup":
            raise Hangup("channel gone while recording the answer")
        if reply.data in ("writefile", "randomerror", "waitfor") or reply.number == -1:
            raise await self.failed(f"could not record the answer to {path} ({reply.data})")
        return reply.digit if reply.data == "dtmf" else None

    async def set_variable(self, name, value):
        await self.run("SET VARIABLE", name, value)

    async def get_variable(self, name):
        reply = await self.run("GET VARIABLE", name)
        return reply.data if reply.number == 1 else None

    async def exec(self, application, options=""):
        reply = await self.run("EXEC", application, options, wait=5.0)
        if reply.number == -2:
            raise ChannelError(f"Asterisk has no application {application}")
        if reply.number == -1:
            raise await self.failed(application)
        return reply
