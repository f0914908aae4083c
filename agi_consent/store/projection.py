"""The `calls` table is derived from events: each kind below sets these columns, nothing else
writes them. The writer applies it row by row; `verify` re-derives every call and compares.

Personal columns (caller ID, remote number) come from the event's personal values; once a
person is erased they hold what the erasure put there.
"""

import json

PERSONAL_COLUMNS = ("caller_id", "remote_number", "remote_e164")

# json.dumps(…, ensure_ascii=False) builds a new encoder on every call; the same one, built once
_reasons_text = json.JSONEncoder(ensure_ascii=False).encode


def _start(detail, personal, at):
    return {"started_at": at, "transport": detail.get("transport", ""),
            "channel": detail.get("channel", ""), "uniqueid": detail.get("uniqueid", ""),
            "caller_id": personal.get("caller_id", "")}


def _decision(detail, personal, at):
    return {"remote_number": personal.get("remote_number", ""),
            "remote_e164": personal.get("remote_e164"), "direction": detail.get("direction"),
            "trunk_region": detail.get("trunk_region", ""),
            "remote_jurisdictions": detail.get("remote_jurisdictions", ""),
            "mode": detail.get("mode"), "governing": detail.get("governing"),
            "rules_version": detail.get("rules_version"), "language": detail.get("language"),
            "reasons": _reasons_text(detail.get("reasons", []))}


def _end(detail, personal, at):
    return {"result": detail.get("result"), "recording": detail.get("recording", ""),
            "ended_at": at, "error": detail.get("error")}


PROJECT = {
    "call-start": _start,
    "decision": _decision,
    "consent-result": lambda detail, personal, at: {"result": detail.get("result")},
    "recording-started": lambda detail, personal, at: {"recording": detail.get("path", "")},
    "recording-stopped": lambda detail, personal, at: {"recording": ""},
    "call-end": _end,
    # the caller took consent back mid-call; the recording made before it stays
    "withdrawn": lambda detail, personal, at: {"result": "withdrawn"},
}


def columns(kind, detail, personal, at):
    """The calls columns an event sets ({} for most kinds)."""
    project = PROJECT.get(kind)
    return project(detail, personal, at) if project else {}


def derive(call_id, events):
    """A call's row from its events [(kind, detail, personal, at)] in order."""
    row = {"id": call_id}
    for kind, detail, personal, at in events:
        row.update(columns(kind, detail, personal, at))
    return row
