"""Lawful keeping and deleting: purge past each call's window, legal holds, erasure on a
person's request, audited export. Every action is an event in the call's chain.

Files are deleted only after the event that names them (path, size, SHA-256) is committed,
so a purge or erasure killed midway leaves the log saying what goes and the next run
finishing it without counting it twice; two runs at once meet in the writer's transaction.
"""

import getpass
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..call.prompts import sha256_file
from ..config import local_path
from ..core.contract import RECORDS, WITHDRAWN
from ..core.retention import window
from ..store.ledger import Writer
from .evidence import file_facts

REMOVED = ("purged", "erased")  # events whose `files` are gone (or going)


class RetentionError(ValueError):
    """An admin request that cannot be done; the message says why and what to do."""


def who():
    return os.environ.get("SUDO_USER") or getpass.getuser()


def now():
    return datetime.now(UTC)


def parse_time(text):
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class CallFiles:
    call_id: str
    started_at: str
    result: str
    jurisdictions: tuple
    files: list  # Asterisk paths still meant to exist (recording, answer audio)
    removed: set = field(default_factory=set)  # paths an earlier purge or erasure named
    hold: dict | None = None  # the hold in force, if any


def jurisdictions(call):
    codes = [c for c in (call["remote_jurisdictions"] or "").split(",") if c]
    return tuple(c for c in dict.fromkeys([*codes, call["trunk_region"], call["governing"]])
                 if c and c != "unknown")


def load_calls(db, ids=None):
    """The calls (all, or those `ids`) with their files, removals and hold, in one pass."""
    chosen = f"IN ({','.join('?' for _ in ids)})" if ids is not None else "IS NOT NULL"
    ids = list(ids or [])
    calls = {row["id"]: CallFiles(row["id"], row["started_at"], row["result"] or "",
                                  jurisdictions(row), [row["recording"]] if row["recording"]
                                  else [])
             for row in db.query(f"SELECT * FROM calls WHERE id {chosen}", ids)}
    kinds = ("input", "recording-requested", "hold", "release", *REMOVED)
    marks = ",".join("?" for _ in kinds)
    for event in db.query(f"SELECT call_id, kind, detail FROM events WHERE kind IN ({marks}) "
                          f"AND call_id {chosen} ORDER BY call_id, seq", [*kinds, *ids]):
        call = calls.get(event["call_id"])
        if call is None:
            continue
        detail = json.loads(event["detail"])
        if event["kind"] == "input" and detail.get("audio"):
            call.files.append(detail["audio"])
        elif event["kind"] == "recording-requested" and detail.get("path") not in call.files:
            call.files.append(detail["path"])  # the log may not know if it started
        elif event["kind"] == "hold":
            call.hold = detail
        elif event["kind"] == "release":
            call.hold = None
        else:
            call.removed.update(f["path"] for f in detail.get("files", []))
    return calls


def held(call, moment):
    return bool(call.hold) and (not call.hold.get("until") or
                                parse_time(call.hold["until"]) > moment)


def keep_window(config, rules, call):
    retention = config.retention
    return window(call.jurisdictions, rules, retention.presets(), retention.overrides,
                  retention.default_days)


def age_days(call, moment):
    return (moment - parse_time(call.started_at)).total_seconds() / 86400


def facts(config, path):
    """Path, size, SHA-256 (and length) of a file as Asterisk names it, or None when gone."""
    found = file_facts(config, path)
    return found if found and found.pop("visible") else None


def require_visible(config):
    folder = local_path(config, config.recording.directory)
    if not os.path.isdir(folder):
        raise RetentionError(f"The recording folder {folder} is not visible from here; run "
                             "this on the Asterisk host (or set asterisk_root).")


@dataclass
class Due:
    call: CallFiles
    window: object
    files: list  # facts of the files to delete
    leftovers: list  # paths already logged as removed that still exist


def due(config, rules, db, moment=None):
    """(calls whose files are past their window, calls kept: (call id, why))."""
    moment = moment or now()
    items, kept = [], []
    for call in load_calls(db).values():
        live = [p for p in call.files if p not in call.removed]
        leftovers = [p for p in call.files if p in call.removed
                     and os.path.exists(local_path(config, p))]
        if not live and not leftovers:
            continue
        limits = keep_window(config, rules, call)
        if limits.conflict:
            kept.append((call.call_id, "retention conflict: minimum "
                         f"{limits.keep_min_days} > maximum {limits.keep_max_days} days; "
                         "kept for counsel (see 'agi-consent policy')"))
        elif held(call, moment):
            kept.append((call.call_id, f"legal hold: {call.hold.get('reason')}"))
        elif age_days(call, moment) >= limits.keep_max_days or leftovers:
            present = [f for f in (facts(config, p) for p in live) if f] \
                if age_days(call, moment) >= limits.keep_max_days else []
            if present or leftovers:
                items.append(Due(call, limits, present, leftovers))
    return items, kept


def purge(config, rules, db, dry_run=False, progress=None):
    """Delete what is past its window; returns (purged items, kept)."""
    require_visible(config)
    items, kept = due(config, rules, db)
    if dry_run:
        return items, kept
    tighten(config)
    writer = Writer(config.database)
    try:
        batch = []
        for item in progress(items) if progress else items:
            batch.append(item)
            if len(batch) == BATCH:
                purge_batch(config, writer, batch)
                batch = []
        purge_batch(config, writer, batch)
    finally:
        writer.close()
    return items, kept


BATCH = 500  # calls per transaction: one fsync for many deletions


def purge_batch(config, writer, batch):
    """Log the batch's deletions in one transaction, then delete its files."""
    writer.append_all([(item.call.call_id, "purged", {
        "files": item.files, "by": who(), "window": item.window.as_dict(),
        "reason": f"past keep_max_days {item.window.keep_max_days}"},
        lambda connection, paths=[f["path"] for f in item.files], call=item.call.call_id:
        already_removed(connection, call, paths)) for item in batch if item.files])
    for item in batch:
        for path in [f["path"] for f in item.files] + item.leftovers:
            remove(config, path)


def tighten(config):
    """No recording or answer is world-readable; with retention.group set, that group (and
    only it) may read them. Returns how many files were changed."""
    import grp
    group = config.retention.group
    gid = grp.getgrnam(group).gr_gid if group else -1
    changed = 0
    for folder, _, names in os.walk(local_path(config, config.recording.directory)):
        for name in names:
            path = os.path.join(folder, name)
            try:
                stat = os.lstat(path)
                mode = (stat.st_mode & 0o7770) | (0o040 if group else 0)
                if mode != stat.st_mode & 0o7777 or (group and stat.st_gid != gid):
                    os.chown(path, -1, gid)
                    os.chmod(path, mode)
                    changed += 1
            except FileNotFoundError:  # another purge (or Asterisk) removed it meanwhile
                continue
    return changed


def already_removed(connection, call_id, paths):
    rows = connection.execute("SELECT detail FROM events WHERE call_id = ? AND kind IN "
                              "('purged', 'erased')", [call_id])
    removed = {f["path"] for (detail,) in rows for f in json.loads(detail).get("files", [])}
    return set(paths) <= removed


def remove(config, path):
    try:
        os.unlink(local_path(config, path))
    except FileNotFoundError:
        pass


def find_calls(db, call=None, number=None):
    """Call ids for a consent id, an Asterisk uniqueid or channel, or a phone number."""
    if call:
        rows = db.query("SELECT id FROM calls WHERE id = ? OR uniqueid = ? OR channel = ?",
                        [call, call, call])
    else:
        digits = "".join(ch for ch in number if ch.isdigit())
        if len(digits) < 6:
            raise RetentionError(f"'{number}' is not a phone number (at least 6 digits).")
        rows = db.query("SELECT id FROM calls WHERE ? IN (replace(replace(caller_id, '+', ''),"
                        " ' ', ''), replace(remote_number, '+', ''), replace(remote_e164, "
                        "'+', ''))", [digits])
    found = [row["id"] for row in rows]
    if not found:
        raise RetentionError(f"No call matches {call or number}; 'agi-consent calls list' "
                             "shows them.")
    return found


def hold(config, db, call_ids, reason, until=None):
    if until:
        try:
            until = parse_time(until).isoformat(timespec="seconds")
        except ValueError:
            raise RetentionError(f"--until takes a date such as 2027-06-30, not '{until}'.")
    writer = Writer(config.database)
    try:
        for call_id in call_ids:
            writer.append(call_id, "hold", {"reason": reason, "until": until, "by": who()})
    finally:
        writer.close()


def release(config, db, call_ids, reason):
    calls = load_calls(db, call_ids)
    writer = Writer(config.database)
    try:
        released = [c for c in call_ids if calls[c].hold]
        for call_id in released:
            writer.append(call_id, "release", {"reason": reason, "by": who()})
    finally:
        writer.close()
    return released


def erasure_key(config):
    """The key of the hash that replaces an erased number (from the node's signing key, so
    the same number erased twice shows as the same mark, and no one without the key can
    test a guessed number against it)."""
    from ..store.checkpoint import Signer
    signer = Signer(config.evidence.key_path(config.database), config.evidence.origin())
    seed = signer.key.private_bytes_raw()
    return hashlib.sha256(b"agi-consent erasure\0" + seed).digest()


def erase(config, db, number, dry_run=False):
    """Remove a person's recordings, answer audio and personal values, except under hold.
    Returns {"erased": [...], "held": [...]} for the reply to the person."""
    import hmac

    require_visible(config)
    call_ids = find_calls(db, number=number)
    calls = load_calls(db, call_ids)
    moment = now()
    done, kept = [], []
    mark = "erased:" + hmac.new(erasure_key(config), "".join(
        ch for ch in number if ch.isdigit()).encode(), "sha256").hexdigest()[:32]
    writer = None if dry_run else Writer(config.database)
    try:
        for call_id in call_ids:
            call = calls[call_id]
            if held(call, moment):
                kept.append({"call": call_id, "reason": call.hold.get("reason")})
                continue
            files = [f for f in (facts(config, p) for p in call.files
                                 if p not in call.removed) if f]
            names = [n for (n,) in db.execute("SELECT name FROM personal WHERE call_id = ?",
                                              [call_id])]
            done.append({"call": call_id, "started_at": call.started_at, "files": files,
                         "personal_values": names})
            if dry_run:
                continue
            writer.append(call_id, "erased", {"files": files, "personal_values": names,
                                              "by": who(), "reason": "erasure request "
                                              "(GDPR Art. 17)"},
                          then=lambda connection, call_id=call_id: forget(connection, call_id,
                                                                          mark))
            for item in files:
                remove(config, item["path"])
    finally:
        if writer:
            writer.close()
    return {"erased": done, "held": kept}


def forget(connection, call_id, mark):
    """The personal values and their salts go; the calls row keeps a keyed mark instead (the
    chain still verifies: its rows hold only the commitments)."""
    connection.execute("DELETE FROM personal WHERE call_id = ?", [call_id])
    connection.execute("UPDATE calls SET caller_id = ?, remote_number = ?, remote_e164 = ? "
                       "WHERE id = ?", [mark, mark, mark, call_id])


def export(config, rules, db, call_id, target, reason, evidence_page):
    """Hand one recording out: the file, its evidence page and hashes, logged; only for a
    consented call still inside its window."""
    from ..store import schema
    call = schema.get_call(db, call_id)
    if call is None:
        raise RetentionError(f"No call {call_id}; 'agi-consent calls list' shows the ids.")
    if call["result"] not in (*RECORDS, WITHDRAWN):  # withdrawn: what came before stays
        raise RetentionError(f"Call {call_id} ended '{call['result']}', not granted or "
                             "notified: it has no consented recording to export.")
    files = load_calls(db, [call_id])[call_id]
    limits = keep_window(config, rules, files)
    if age_days(files, now()) >= limits.keep_max_days or call["recording"] in files.removed:
        raise RetentionError(f"Call {call_id} is past its keep window "
                             f"({limits.keep_max_days} days): its recording may not be "
                             "handed out.")
    recording = facts(config, call["recording"])
    if recording is None:
        raise RetentionError(f"The recording {call['recording']} is not visible from here.")
    os.makedirs(target, mode=0o750, exist_ok=True)
    copy = os.path.join(target, os.path.basename(call["recording"]))
    shutil.copyfile(local_path(config, call["recording"]), copy)
    os.chmod(copy, 0o640)
    page = os.path.join(target, f"{call_id}.evidence.html")
    with open(page, "w", encoding="utf-8") as out:
        out.write(evidence_page)
    os.chmod(page, 0o640)
    sums = os.path.join(target, "SHA256SUMS")
    with open(sums, "w") as out:
        for path in (copy, page):
            out.write(f"{sha256_file(path)}  {os.path.basename(path)}\n")
    writer = Writer(config.database)
    try:
        writer.append(call_id, "exported", {"files": [recording], "to": os.path.abspath(target),
                                            "reason": reason, "by": who()})
    finally:
        writer.close()
    return [copy, page, sums]


ACCESS_KINDS = ("exported", "hold", "release", "erased", "purged", "rules-changed")


def access_log(db, limit=100):
    marks = ",".join("?" for _ in ACCESS_KINDS)
    return [{"at": row["at"], "call": row["call_id"], "action": row["kind"],
             **{k: v for k, v in json.loads(row["detail"]).items() if k != "window"}}
            for row in db.query(f"SELECT call_id, at, kind, detail FROM events WHERE kind IN "
                                f"({marks}) ORDER BY id DESC LIMIT ?",
                                [*ACCESS_KINDS, limit])]

