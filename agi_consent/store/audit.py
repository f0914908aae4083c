"""Checks the evidence: the chain row by row, its signed checkpoints, an outside anchor, the
personal values against their commitments, and every `calls` row against its events.

Plain sqlite3 and one pass in id order, so a million rows take seconds. Every problem is a
sentence naming the first row (or checkpoint, or call) where the log stops being what was
written.
"""

import json
import sqlite3
from dataclasses import dataclass, field

from . import chain, projection
from .checkpoint import CheckpointError, parse, signature_ok

MAX_PROBLEMS = 50


@dataclass
class Report:
    rows: int = 0
    head: str = chain.GENESIS
    checkpoints: int = 0
    latest_checkpoint: int = 0
    anchor: dict | None = None
    erased: int = 0
    calls: int = 0
    problems: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems

    def problem(self, sentence):
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(sentence)

    def as_dict(self):
        return {"ok": self.ok, "rows": self.rows, "head": self.head,
                "checkpoints": self.checkpoints, "latest_checkpoint": self.latest_checkpoint,
                "anchor": self.anchor, "erased_values": self.erased, "calls": self.calls,
                "problems": self.problems}


def open_read_only(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def describe(row_id, call_id, seq, kind):
    return f"row {row_id} (call {call_id}, step {seq}, {kind})"


def walk(connection, report, marks):
    """The chain in id order; `marks` maps a row id to the hash a checkpoint says it has."""
    previous, expected = chain.GENESIS, 1
    rows = connection.execute("SELECT id, call_id, seq, at, kind, detail, hash FROM events "
                              "ORDER BY id")
    for row_id, call_id, seq, at, kind, detail, stored in rows:
        if row_id != expected:
            report.problem(f"rows {expected}–{row_id - 1} are missing: deleted from the log")
        text = chain.row_text(row_id, call_id, seq, at, kind, detail)
        if chain.link(previous, text) != stored:
            report.problem(f"{describe(row_id, call_id, seq, kind)} does not match the chain: "
                           "edited, inserted or moved")
        for size, head in marks.get(row_id, ()):
            if stored != head:
                report.problem(f"row {row_id} is not what checkpoint {size} signed: the log "
                               "was rewritten up to there")
        previous, expected = stored, row_id + 1
        report.rows += 1
    report.head = previous
    return expected - 1


def check_checkpoints(connection, report, verifier):
    """Signatures of the stored checkpoints; returns {size: [(size, head)]} to check."""
    marks = {}
    for size, head, note in connection.execute("SELECT size, head, note FROM checkpoints "
                                               "ORDER BY size"):
        report.checkpoints += 1
        report.latest_checkpoint = max(report.latest_checkpoint, size)
        try:
            checkpoint = parse(note)
        except CheckpointError as error:
            report.problem(f"checkpoint {size} cannot be read ({error})")
            continue
        if verifier and not signature_ok(checkpoint, *verifier):
            report.problem(f"checkpoint {size} has a bad signature")
        if (checkpoint.size, checkpoint.head) != (size, head):
            report.problem(f"checkpoint {size}'s columns differ from its signed note")
        marks.setdefault(size, []).append((size, head))
    return marks


def check_anchor(report, anchor_text, verifier, marks):
    try:
        anchor = parse(anchor_text)
    except CheckpointError as error:
        report.problem(f"the anchor is {error}")
        return
    report.anchor = {"origin": anchor.origin, "size": anchor.size, "head": anchor.head}
    if verifier and not signature_ok(anchor, *verifier):
        report.problem("the anchor's signature does not verify with this node's key")
    marks.setdefault(anchor.size, []).append((anchor.size, anchor.head))


def check_personal(connection, report):
    rows = connection.execute(
        "SELECT p.call_id, p.seq, p.name, p.value, p.salt, e.detail FROM personal p "
        "LEFT JOIN events e ON e.call_id = p.call_id AND e.seq = p.seq")
    kept = set()
    for call_id, seq, name, value, salt, detail in rows:
        kept.add((call_id, seq, name))
        if detail is None:
            report.problem(f"the {name} of call {call_id} (step {seq}) belongs to no row: "
                           "its row was deleted")
            continue
        committed = json.loads(detail).get("personal", {}).get(name)
        if committed != chain.commitment(salt, name, value):
            report.problem(f"the {name} of call {call_id} (step {seq}) is not the value its "
                           "row committed to: altered")
    for call_id, seq, detail in connection.execute(
            "SELECT call_id, seq, detail FROM events WHERE detail LIKE '%\"personal\":%'"):
        for name in json.loads(detail).get("personal", {}):
            if (call_id, seq, name) not in kept:
                report.erased += 1  # erased lawfully (the `erased` event says when and why)


def check_calls(connection, report):
    """Each calls row is what its events derive (personal columns once erased excepted)."""
    kinds = tuple(projection.PROJECT)
    marks = ",".join("?" for _ in kinds)
    personal = {}
    for call_id, seq, name, value in connection.execute(
            "SELECT call_id, seq, name, value FROM personal"):
        personal.setdefault((call_id, seq), {})[name] = value
    first = connection.execute("SELECT value FROM meta WHERE key = 'derived_calls_from_row'")
    derived_from = int((first.fetchone() or ["1"])[0])
    legacy = {call_id for (call_id,) in connection.execute(
        "SELECT call_id FROM events GROUP BY call_id HAVING MIN(id) < ?", [derived_from])}
    derived, current = {}, None
    for call_id, seq, at, kind, detail in connection.execute(
            f"SELECT call_id, seq, at, kind, detail FROM events WHERE kind IN ({marks}) "
            "ORDER BY call_id, seq", kinds):
        if call_id != current:
            current = call_id
            derived[call_id] = {"id": call_id}
        values = personal.get((call_id, seq), {})
        detail = json.loads(detail)
        columns = projection.columns(kind, detail, values, at)
        if "personal" in detail and not values:
            columns = {k: v for k, v in columns.items()
                       if k not in projection.PERSONAL_COLUMNS}
        derived[call_id].update(columns)
    connection.row_factory = sqlite3.Row
    for row in connection.execute("SELECT * FROM calls"):
        report.calls += 1
        if row["id"] in legacy:  # written before calls were derived from events
            continue
        expected = derived.get(row["id"], {})
        for column, value in expected.items():
            if column in projection.PERSONAL_COLUMNS and value and row[column] != value \
                    and not _erased_mark(row[column]):
                report.problem(f"call {row['id']}'s {column} differs from its events")
            elif column not in projection.PERSONAL_COLUMNS and row[column] != value:
                report.problem(f"call {row['id']}'s {column} is {row[column]!r}, its events "
                               f"say {value!r}: the calls table was edited")
    connection.row_factory = None


def _erased_mark(value):
    return isinstance(value, str) and value.startswith("erased:")


def verify(path, verifier=None, anchor_text=None):
    """The whole log; `verifier` is (key name, Ed25519 public key) when known."""
    report = Report()
    connection = open_read_only(path)
    try:
        marks = check_checkpoints(connection, report, verifier)
        if anchor_text is not None:
            check_anchor(report, anchor_text, verifier, marks)
        last = walk(connection, report, marks)
        for size in sorted(s for s in marks if s > last):
            report.problem(f"the log ends at row {last}, but a checkpoint covers {size} rows: "
                           f"rows {last + 1}–{size} were removed (truncated)")
        check_personal(connection, report)
        check_calls(connection, report)
    finally:
        connection.close()
    return report


def call_chain(path, call_id, verifier=None):
    """The chain check of one call's rows and the checkpoint that covers them."""
    connection = open_read_only(path)
    try:
        rows = connection.execute(
            "SELECT e.id, e.call_id, e.seq, e.at, e.kind, e.detail, e.hash, "
            "(SELECT p.hash FROM events p WHERE p.id = e.id - 1) FROM events e "
            "WHERE e.call_id = ? ORDER BY e.id", [call_id]).fetchall()
        broken = [describe(r[0], r[1], r[2], r[4]) for r in rows
                  if chain.link(r[7] or chain.GENESIS, chain.row_text(*r[:6])) != r[6]]
        last = rows[-1][0] if rows else 0
        cover = connection.execute("SELECT size, head, note FROM checkpoints WHERE size >= ? "
                                   "ORDER BY size LIMIT 1", [last]).fetchone()
    finally:
        connection.close()
    result = {"rows": len(rows), "first_row": rows[0][0] if rows else None,
              "last_row": last, "intact": not broken, "broken": broken, "checkpoint": None}
    if cover:
        signed = verifier is not None and signature_ok(parse(cover[2]), *verifier)
        result["checkpoint"] = {"size": cover[0], "head": cover[1], "note": cover[2],
                                "signature_verified": signed}
    return result
