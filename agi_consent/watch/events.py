"""What AMI messages say, as plain values: no I/O, so the mapping is tested on traces.

Facts from Asterisk 22 (main/manager_channels.c, main/manager.c): `Hangup` carries the channel
snapshot plus Cause (a number) and Cause-txt; `Status` lists one `Status` event per channel,
with `Variable: name=value` lines for the names asked in its Variables header. panoramisk
gives a repeated header as a list and a single one as a string.
"""

import re

UNIQUEID = re.compile(r"^[0-9A-Za-z._-]{1,64}$")


def _text(value, limit=256):
    return "".join(ch for ch in str(value or "") if ch.isprintable())[:limit]


def hangup(event):
    """{uniqueid, channel, cause, cause_txt} from a Hangup event (or any event with a channel
    snapshot, such as MixMonitorStop), or None when unusable."""
    uniqueid = str(event.get("Uniqueid") or "")
    if not UNIQUEID.match(uniqueid):
        return None
    cause = str(event.get("Cause") or "")
    return {"uniqueid": uniqueid, "channel": _text(event.get("Channel")),
            "cause": int(cause) if cause.isdigit() else None,
            "cause_txt": _text(event.get("Cause-txt"), 80)}


def variables(event):
    """The `Variable: name=value` lines of a Status event as a dict."""
    lines = event.get("Variable") or []
    if isinstance(lines, str):
        lines = [lines]
    pairs = (str(line).partition("=") for line in lines)
    return {name: value for name, _, value in pairs if name}


def channels(reply):
    """The channels of a Status reply: [{uniqueid, channel, seconds, variables}]."""
    found = []
    for message in reply if isinstance(reply, list) else []:
        if message.get("Event") != "Status" or not UNIQUEID.match(
                str(message.get("Uniqueid") or "")):
            continue
        seconds = str(message.get("Seconds") or "")
        found.append({"uniqueid": message["Uniqueid"], "channel": _text(message.get("Channel")),
                      "seconds": int(seconds) if seconds.isdigit() else None,
                      "variables": variables(message)})
    return found
