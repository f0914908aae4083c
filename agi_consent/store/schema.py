"""The consent log's schema, migrations and queries (sqlite-utils).

Rows are written by `ledger` (plain sqlite3, for speed); this module creates and migrates the
file and answers the CLI's questions. Files are created owner-only: the log is evidence and
holds caller numbers.
"""

import os
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from . import chain
from .ledger import SCHEMA_VERSION

MIGRATIONS = Migrations("agi-consent")


@MIGRATIONS()
def m001_calls_and_events(db):
    db["calls"].create({
        "id": str, "started_at": str, "ended_at": str, "transport": str, "channel": str,
        "uniqueid": str, "caller_id": str, "remote_number": str, "remote_e164": str,
        "direction": str, "trunk_region": str, "remote_jurisdictions": str, "mode": str,
        "governing": str, "result": str, "recording": str, "rules_version": str,
        "language": str, "reasons": str, "error": str,
    }, pk="id")
    db["calls"].create_index(["started_at"])
    db["events"].create({"id": int, "call_id": str, "seq": int, "at": str, "kind": str,
                         "detail": str}, pk="id", foreign_keys=[("call_id", "calls", "id")])
    db["events"].create_index(["call_id", "seq"], unique=True)


@MIGRATIONS()
def m002_prompt_changes(db):
    db["prompt_changes"].create({
        "id": int, "at": str, "who": str, "action": str, "name": str, "language": str,
        "region": str, "path": str, "old_sha256": str, "new_sha256": str, "text": str,
        "source_file": str,
    }, pk="id")


@MIGRATIONS()
def m003_evidence_chain(db):
    """Hash-chain the events (existing rows as stored), keep personal values apart, archive
    rules versions, keep signed checkpoints; events become append-only."""
    db.execute("ALTER TABLE events ADD COLUMN hash TEXT")
    head = chain.GENESIS
    rows = db.execute("SELECT id, call_id, seq, at, kind, detail FROM events ORDER BY id")
    for row_id, call_id, seq, at, kind, detail in list(rows):
        head = chain.link(head, chain.row_text(row_id, call_id, seq, at, kind, detail))
        db.execute("UPDATE events SET hash = ? WHERE id = ?", [head, row_id])
    db["personal"].create({"id": int, "call_id": str, "seq": int, "name": str, "value": str,
                           "salt": str}, pk="id")
    db["personal"].create_index(["call_id"])
    db["rules_versions"].create({"version": str, "created_at": str, "content": str},
                                pk="version")
    db["checkpoints"].create({"id": int, "at": str, "origin": str, "size": int, "head": str,
                              "key_id": str, "note": str}, pk="id")
    # calls written before this migration were not derived from events: verify spares them
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["meta"].insert({"key": "derived_calls_from_row", "value": str(
        db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM events").fetchone()[0])})
    for action in ("UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER events_append_only_{action.lower()} BEFORE {action} ON "
                   "events BEGIN SELECT RAISE(ABORT, 'events are append-only evidence'); END")


@MIGRATIONS()
def m004_calls_by_uniqueid(db):
    """The AMI watcher finds a call from its channel's Uniqueid at every hangup."""
    db["calls"].create_index(["uniqueid"])


def record_prompt_change(db, **row):
    db["prompt_changes"].insert(row)


def prompt_changes(db, limit=50):
    return list(db.query("SELECT * FROM prompt_changes ORDER BY id DESC LIMIT ?", [limit]))


def _private_file(path, group=""):
    """Create the directory 0700 and the file 0600 before SQLite opens it; with a `group`
    (retention.group), that group may read them: 0750 and 0640 (SQLite gives its -wal and
    -shm files the database's mode)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if group:
        import grp
        gid = grp.getgrnam(group).gr_gid
        for item, mode in ((path.parent, 0o750), (path, 0o640)):
            os.chown(item, -1, gid)
            os.chmod(item, mode)


def open_db(path, group=""):
    """Open (creating and migrating if needed) the consent log."""
    _private_file(path, group)
    db = sqlite_utils.Database(path)
    db.enable_wal()
    db.execute("PRAGMA synchronous=NORMAL")
    MIGRATIONS.apply(db)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return db


def recent_calls(db, limit=20):
    """Calls, newest first; not the log's own `system` record (rules changes and the like)."""
    return list(db.query("SELECT * FROM calls WHERE id != 'system' ORDER BY started_at DESC "
                         "LIMIT ?", [limit]))


def call_events(db, call_id):
    return list(db.query("SELECT seq, at, kind, detail FROM events WHERE call_id = ? "
                         "ORDER BY seq", [call_id]))


def get_call(db, call_id):
    rows = list(db.query("SELECT * FROM calls WHERE id = ?", [call_id]))
    return rows[0] if rows else None
