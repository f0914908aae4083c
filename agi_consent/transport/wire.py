"""The AGI wire format as pure functions: environment, arguments, quoting and replies.

Shared by the FastAGI server and tests. Replies follow res_agi.c: `200 result=X [(data)]
[endpos=N]`, `510` (unknown command), `511` (dead channel), multi-line `520-`…`520 ` usage
errors, and a bare `HANGUP` line that Asterisk may send between commands (out of band).
"""

import re
from dataclasses import dataclass

from ..call.channel import ChannelError, Hangup

_REPLY = re.compile(r"^200 result=(?P<result>\S*)(?: \((?P<data>.*?)\))?"
                    r"(?: endpos=(?P<endpos>-?\d+))?\s*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Reply:
    result: str
    data: str | None = None
    endpos: int | None = None

    @property
    def number(self):
        try:
            return int(self.result)
        except ValueError:
            return None

    @property
    def digit(self):
        """The key pressed, for commands that return its ASCII code (0 = none)."""
        code = self.number
        return chr(code) if code and code > 0 else None


def quote(value):
    """One AGI argument: quoted, with `\\` and `"` escaped and control characters dropped.

    res_agi.c's parse_args treats `"` as grouping and `\\` as escaping the next character; a
    newline would end the command, so it can never reach the wire.
    """
    text = str(value)
    if not text.isprintable():  # a control character is never printable; most text is
        text = _CONTROL.sub("", text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command(name, *args):
    return " ".join([name, *(quote(a) for a in args)]) + "\n"


MAX_ENV_LINES = 64  # Asterisk sends about 25, plus one per argument
MAX_LINE = 4096  # bytes in one line we read, environment or reply
MAX_REPLY_LINES = 64  # a 520- usage error's continuation lines


def parse_env(lines):
    """The AGI environment block → (env, problem). `problem` names what Asterisk itself never
    sends: a line that is not `agi_x: value`, a repeated variable, or arguments that are not
    the block's last lines in order. A newline inside a caller ID would otherwise smuggle in
    a line of the caller's choosing."""
    env, problem, next_arg = {}, None, 1
    for number, line in enumerate(lines, 1):
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key.startswith("agi_") or not key[4:].replace("_", "").isalnum():
            problem = problem or f"environment line {number} is not an AGI variable"
            continue
        if key in env:
            problem = problem or f"environment variable {key} is sent twice"
            continue
        is_arg = key.startswith("agi_arg_")
        if (is_arg and key != f"agi_arg_{next_arg}") or (not is_arg and next_arg > 1):
            problem = problem or f"environment variable {key} is out of Asterisk's order"
        next_arg += is_arg
        env[key] = value.strip()
    return env, problem


def route_of(env):
    """`agi://host/consent?secret=…` → (`consent`, {"secret": "…"})."""
    script, _, query = env.get("agi_network_script", "").partition("?")
    return script.strip("/"), dict(item.partition("=")[::2] for item in query.split("&") if item)


def is_out_of_band(line):
    """Asterisk's unsolicited `HANGUP` line (AGISIGHUP=yes) is not a reply to anything."""
    return line.strip() == "HANGUP"


def reply_complete(lines):
    """A reply is one line, except `520-` usage errors, which end with a `520 ` line."""
    return not lines[0].startswith("520-") or lines[-1].startswith("520 ")


_PARSED = {}  # reply line → Reply, for the few replies without data that Asterisk repeats
_PARSED_LIMIT = 512


def parse_reply(lines):
    """Parse one complete reply (see reply_complete) into a Reply; raise Hangup or ChannelError."""
    line = lines[0].rstrip("\r\n")
    if line in _PARSED:
        return _PARSED[line]
    if line.startswith("200 "):
        match = _REPLY.match(line)
        if not match:
            raise ChannelError(f"unreadable AGI reply: {line[:80]!r}")
        endpos = match.group("endpos")
        reply = Reply(match.group("result"), match.group("data"),
                      int(endpos) if endpos is not None else None)
        if reply.data is None and len(_PARSED) < _PARSED_LIMIT:  # Reply is immutable
            _PARSED[line] = reply
        return reply
    if line.startswith("511"):
        raise Hangup("command not permitted on a dead channel")
    if line.startswith("510"):
        raise ChannelError("Asterisk does not know this AGI command (510)")
    if line.startswith("520-"):
        usage = " ".join(part.strip() for part in lines[1:-1])
        raise ChannelError(f"AGI usage error (520): {usage[:200]}")
    if line.startswith("520"):
        raise ChannelError("AGI usage error (520)")
    raise ChannelError(f"unexpected AGI reply: {line[:80]!r}")
