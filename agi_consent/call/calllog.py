"""The flow's view of the consent log: one call's rows, numbered in order, through a ledger.

The ledger (`store.ledger`) is whatever the process built: a synchronous writer for classic AGI,
one writer thread for the server. Both take `submit(operation)` and `await barrier(call_id, seq)`.
"""

from datetime import UTC, datetime


def utc_now():
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class CallLog:
    def __init__(self, ledger, call_id):
        self.ledger = ledger
        self.call_id = call_id
        self.seq = 0  # events are numbered here, in the order the flow took its steps
        self.started = False

    def start(self, **fields):
        self.started = True
        self.ledger.submit(("start", self.call_id, {"started_at": utc_now(), **fields}))

    def update(self, **fields):
        self.ledger.submit(("update", self.call_id, fields))

    def event(self, kind, **detail):
        self.seq += 1
        self.ledger.submit(("event", self.call_id, (self.seq, utc_now(), kind, detail)))

    async def commit(self):
        """Wait until this call's rows are durable; raises LogUnavailable if any failed."""
        await self.ledger.barrier(self.call_id)
