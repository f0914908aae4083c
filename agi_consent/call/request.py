"""What a call asks for, read from the AGI environment and validated before any use.

Every value in the environment can carry what a caller put in it (a caller ID, a name, a SIP
header): one with a control character, an oversize value or a repeated argument key fails the
call closed, so a crafted caller ID can never choose its own trunk region (a newline in it
would otherwise become an extra `agi_arg_N` line).
"""

import re
from dataclasses import dataclass

from ..core.contract import ARGUMENTS, DIRECTIONS

MAX_VALUE = 256  # characters in one environment value or argument
MAX_ARGS = 8  # the gate passes four
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadRequest(ValueError):
    """The environment or the arguments cannot be trusted; the call fails closed."""


@dataclass(frozen=True)
class CallRequest:
    channel: str
    uniqueid: str
    caller_id: str
    dnid: str
    channel_language: str
    args: tuple  # the raw key=value arguments, as logged
    direction: str = "inbound"
    region: str | None = None
    number: str | None = None
    lang: str | None = None

    @property
    def remote_number(self):
        """`number=`, else the caller ID when inbound; outbound needs `number=`."""
        if self.number is not None:
            return self.number
        return self.caller_id if self.direction == "inbound" else ""


def positional_args(env):
    args, n = [], 1
    while f"agi_arg_{n}" in env:
        args.append(env[f"agi_arg_{n}"])
        n += 1
    return args


def check_values(env):
    for key, value in env.items():
        if _CONTROL.search(value):
            raise BadRequest(f"{key} holds a control character; refusing the call")
        if len(value) > MAX_VALUE:
            raise BadRequest(f"{key} is {len(value)} characters long (at most {MAX_VALUE})")


def parse_args(values):
    """`key=value` arguments (any order) → dict; unknown or repeated keys are an error."""
    if len(values) > MAX_ARGS:
        raise BadRequest(f"{len(values)} AGI arguments; at most {MAX_ARGS}")
    parsed, seen = {}, set()
    for value in values:
        if not value:
            continue
        key, sep, item = value.partition("=")
        key = key.strip().lower()
        if not sep or key not in ARGUMENTS:
            raise BadRequest(f"AGI argument '{value[:40]}' is not one of "
                             f"{', '.join(a + '=' for a in ARGUMENTS)}")
        if key in seen:
            raise BadRequest(f"AGI argument {key}= is given twice")
        seen.add(key)
        if item.strip():  # an empty value (a Gosub argument left out) means "use the default"
            parsed[key] = item.strip()
    direction = parsed.pop("direction", "inbound")
    if direction not in DIRECTIONS:
        raise BadRequest(f"direction must be inbound or outbound, not '{direction[:20]}'")
    return direction, parsed


def read_request(env):
    """The validated request, or BadRequest saying what was wrong."""
    check_values(env)
    args = positional_args(env)
    direction, parsed = parse_args(args)
    return CallRequest(channel=env.get("agi_channel", ""), uniqueid=env.get("agi_uniqueid", ""),
                       caller_id=env.get("agi_callerid", ""), dnid=env.get("agi_dnid", ""),
                       channel_language=env.get("agi_language", ""), args=tuple(args),
                       direction=direction, **parsed)
