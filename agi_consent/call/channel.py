"""The small channel interface the consent flow is written against, once.

Transports implement it (`transport.agi_channel.AgiChannel` over FastAGI or classic AGI); tests
drive the flow with a fake (`lab.fakes.FakeChannel`). Failures are two exceptions only: the
caller is gone (`Hangup`), or Asterisk or the link failed (`ChannelError`).
"""

from dataclasses import dataclass
from typing import Protocol


class ChannelError(RuntimeError):
    """Asterisk answered with an error, or the conversation broke; the call fails closed."""


class Hangup(Exception):  # noqa: N818 - it is an event, not an error
    """The channel hung up (511, a HANGUP line, result=-1 with hangup, or EOF)."""


@dataclass(frozen=True)
class Played:
    key: str | None  # the key that cut the prompt short, or None
    position: int | None  # samples played (Asterisk's endpos), None when not reported


class Barge:
    """What barge-in did to one prompt (watch.talk): set once ControlPlayback stopped it."""

    stopped = False


class Channel(Protocol):
    env: dict  # the AGI environment, raw: read it through call.request only

    async def answer(self) -> None: ...

    async def play(self, path: str, escape_digits: str = "", duration: float = 60.0) -> Played:
        """Play a file (path without extension); what was heard and the key pressed."""

    async def wait_digit(self, seconds: float):
        """The key pressed within `seconds`, or None."""

    async def record(self, path: str, escape_digits: str, max_seconds: float,
                     silence_seconds: int):
        """One answer window to `path`.wav; the key that ended it, or None."""

    async def set_variable(self, name: str, value: str) -> None: ...

    async def get_variable(self, name: str):
        """A channel variable or function value (`MIXMONITOR(id,filename)`), or None."""

    async def exec(self, application: str, options: str = ""): ...
