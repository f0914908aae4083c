"""The flow's view of the consent log: one call's rows, numbered in order.

The first event is `call-start` (it creates the call's row: the `calls` table is derived from
events), the last `call-end`. Rows wait here and go to the ledger together at the call's
commit points (the consent result before MixMonitor, the call's end): one transaction per
commit point, shared across calls, and a commit that either covers every row of the call so
far or raises. Rows of a failed commit
stay pending and go again with the next one, so the error path still logs the whole call.
"""

import os
import time
import uuid

_second = [None, ""]  # the last second formatted, and its text


def utc_now():
    """Now as ISO 8601 UTC to the millisecond, `2026-12-01T15:38:29.123+00:00` (what
    datetime's isoformat gives): formatted once per second, as every call step is stamped
    and datetime.now().isoformat() was a twentieth of the event loop's time under load."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[:] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_second[1]}.{int((now - second) * 1000):03d}+00:00"


def new_call_id():
    """A UUIDv7 (RFC 9562): the millisecond, then 74 random bits. Time-ordered IDs put each
    new call at the right edge of the log's indexes (calls, events by call, personal values)
    instead of at a random page: a quarter less writer CPU per call on a 5,000-call log,
    more as it grows. The standard library has uuid7 from Python 3.14; this is its layout."""
    if hasattr(uuid, "uuid7"):
        return str(uuid.uuid7())
    random = int.from_bytes(os.urandom(10), "big")
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | (random >> 68) << 64 | \
        0b10 << 62 | random & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


class CallLog:
    def __init__(self, ledger, call_id):
        self.ledger = ledger
        self.call_id = call_id
        self.seq = 0  # events are numbered here, in the order the flow took its steps
        self.started = False
        self.pending = []

    def event(self, kind, personal=None, **detail):
        """One step. `personal` values (numbers, names, transcripts) are kept apart from the
        chain, which holds only their salted commitments, so they can be erased lawfully."""
        self.started = self.started or kind == "call-start"
        self.seq += 1
        self.pending.append(("event", (self.seq, utc_now(), kind, detail, personal)))

    async def commit(self):
        """Every row so far is durably in the log, or LogUnavailable."""
        rows = list(self.pending)
        await self.ledger.commit(self.call_id, rows, self.seq)
        del self.pending[:len(rows)]
