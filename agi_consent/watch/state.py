"""A recorded call as the log tells it, read on the events thread (`Appender.read`)."""

import json
from dataclasses import dataclass

WATCHER_SOURCES = ("ami", "reconcile")  # the flow logs hangups of its own, without a cause


@dataclass
class CallState:
    id: str
    channel: str
    uniqueid: str
    result: str
    mode: str
    language: str
    recording: str  # the file while the log holds one (cleared when stopped for a fault)
    mixmon_id: str = ""
    session_ended: bool = False  # the AGI session wrote call-end: its rows are final
    hung_up: bool = False  # the watcher logged the channel's end
    closed: bool = False  # recording-closed is logged
    paused_at: str = ""  # when the running pause began, if one runs

    @property
    def recording_live(self):
        return bool(self.recording) and not self.closed and self.result != "withdrawn"


def read_state(connection, call_id):
    row = connection.execute("SELECT id, channel, uniqueid, result, mode, language, recording "
                             "FROM calls WHERE id = ?", [call_id]).fetchone()
    if row is None:
        return None
    state = CallState(*[value or "" for value in row])
    for kind, at, detail in connection.execute(
            "SELECT kind, at, detail FROM events WHERE call_id = ? ORDER BY seq", [call_id]):
        facts = json.loads(detail or "{}")
        if kind == "recording-started":
            state.mixmon_id = facts.get("mixmon_id", "")
        elif kind == "call-end":
            state.session_ended = True
        elif kind == "hangup" and facts.get("by") in WATCHER_SOURCES:
            state.hung_up = True
        elif kind == "recording-closed":
            state.closed = True
        elif kind in ("paused", "resumed"):
            state.paused_at = at if kind == "paused" else ""
    return state


def call_by_uniqueid(connection, uniqueid):
    row = connection.execute("SELECT id FROM calls WHERE uniqueid = ? ORDER BY started_at "
                             "DESC LIMIT 1", [uniqueid]).fetchone()
    return row[0] if row else None


def find_call(connection, reference):
    """A call named by its consent id, its channel's Uniqueid, or its channel name."""
    for column in ("id", "uniqueid", "channel"):
        row = connection.execute(f"SELECT id FROM calls WHERE {column} = ? ORDER BY "
                                 "started_at DESC LIMIT 1", [reference]).fetchone()
        if row:
            return row[0]
    return None


def open_recordings(connection):
    """Calls whose recording the log shows running: started, not closed, not stopped."""
    return [row[0] for row in connection.execute(
        "SELECT id FROM calls WHERE recording != '' AND recording IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM events WHERE events.call_id = calls.id AND kind = 'recording-closed')")]
