"""Classic AGI: `AGI(agi-consent-agi,region=…,…)` runs the same flow in a per-call process.

Lean by design (≤ 150 ms, ≤ 60 MB): no sqlite-utils, no geocoder, no click, no audio libs.
pyst2 reads the environment, installs the SIGHUP handler and writes commands; replies are read
with our own parser, because pyst2's get_result raises on `result=-1`, reads an unsolicited
`HANGUP` line as a reply (ValueError), and has no timeout. Arguments are quoted by
`wire.quote`, never pyst2's `_quote` (which does not escape `"`).
"""

import asyncio
import os
import signal
import sys

from asterisk.agi import AGI

from ..call.channel import ChannelError, Hangup
from .agi_channel import AgiChannel
from .wire import (
    MAX_ENV_LINES,
    MAX_LINE,
    MAX_REPLY_LINES,
    is_out_of_band,
    parse_env,
    parse_reply,
    reply_complete,
)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


class EnvTap:
    """Stdin for pyst2 that keeps the environment block's raw lines: pyst2 folds a repeated
    or malformed line into its dict without a word, and only the raw block shows it."""

    def __init__(self, stream):
        self.stream = stream
        self.lines = []
        self.done = False

    def readline(self, size=MAX_LINE):
        line = self.stream.readline(size)
        if not self.done:
            if not line.strip() or len(self.lines) > MAX_ENV_LINES:
                self.done = True
            else:
                self.lines.append(line.strip())
        return line

    def problem(self):
        if len(self.lines) > MAX_ENV_LINES:
            return f"more than {MAX_ENV_LINES} environment lines"
        return parse_env(self.lines)[1]


class StdioConnection:
    def __init__(self, agi):
        self.agi = agi

    async def send(self, line, timeout):
        try:
            self.agi.test_hangup()
        except Exception:
            raise Hangup("SIGHUP from Asterisk")
        self.agi.send_command(line.rstrip("\n"))
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return self._reply()
        except _Timeout:
            raise ChannelError(f"no reply to {line.split(' ')[0]} within {timeout:.0f} s")
        except BrokenPipeError:
            raise Hangup("Asterisk closed the pipe")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _reply(self):
        lines = []
        while not lines or not reply_complete(lines):
            raw = self.agi.stdin.readline(MAX_LINE)
            if not raw.endswith("\n"):
                raise Hangup("Asterisk closed the pipe")
            text = raw.rstrip("\r\n")
            if not lines and is_out_of_band(text):
                continue
            lines.append(text)
            if len(lines) > MAX_REPLY_LINES:
                raise ChannelError(f"AGI reply longer than {MAX_REPLY_LINES} lines")
        return parse_reply(lines)


def build_services():
    from .. import config, services

    return services.build(config.load(), "classic")


async def run(agi, problem=None):
    from ..call.flow import run_guarded

    channel = AgiChannel(StdioConnection(agi).send, agi.env)
    try:
        services = build_services()
    except Exception as error:  # bad config, rules or log: fail closed, say why
        return await setup_failed(channel, error)
    channel.margin = services.config.server.command_timeout
    return await run_guarded(channel, services, problem=problem)


async def setup_failed(channel, error):
    from ..core import contract as v

    sys.stderr.write(f"agi-consent: {error}\n")
    try:
        await channel.set_variable(v.RESULT, v.ERROR)
        await channel.set_variable(v.RECORDING, "")
    except (ChannelError, Hangup):
        pass
    return v.ERROR


def main():
    signal.signal(signal.SIGALRM, _alarm)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - pyst2 echoes caller IDs to stderr
    tap = EnvTap(sys.stdin)
    try:
        agi = AGI(stdin=tap, stdout=sys.stdout, stderr=devnull)
    except Exception:
        sys.stderr.write("agi-consent-agi: run me from Asterisk's AGI() application.\n")
        return 2
    asyncio.run(run(agi, tap.problem()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
