"""`agi-consent serve` with the consent log's writes skipped (every commit succeeds at once):
a diagnostic for `make bench` only, never a way to run the plugin. It shows how many flows/s
the event loop alone can carry, whatever the log costs."""

import sys

from agi_consent.store import ledger

if __name__ == "__main__":
    ledger.Writer.write = lambda self, commits: [None] * len(commits)
    from agi_consent.cli import run
    sys.argv[0] = "agi-consent"
    run()
