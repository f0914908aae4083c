"""One call's evidence, self-contained: what was decided and why, what the caller heard and
for how long, what they answered and when, what was recorded, and the proof that these rows
are the ones written then (the chain and the signed checkpoint that covers them).

`gather` builds the record (JSON); `html` renders it as one page a person who has never seen
the product can read and print: a timeline, no scripts, no external assets.
"""

import html as markup
import json
import os
import wave

from ..call.prompts import sha256_file
from ..config import local_path
from ..store import audit, schema


class NoSuchCall(LookupError):
    pass


def file_facts(config, path):
    """Size, SHA-256 and length of a file Asterisk wrote, when this process can see it."""
    if not path:
        return None
    local = local_path(config, path)
    facts = {"path": path, "visible": os.path.isfile(local)}
    if facts["visible"]:
        facts.update(size=os.path.getsize(local), sha256=sha256_file(local))
        try:
            with wave.open(local) as audio:
                facts["seconds"] = round(audio.getnframes() / audio.getframerate(), 2)
        except (wave.Error, EOFError, OSError):
            facts["seconds"] = None
    return facts


def gather(config, db, call_id, verifier=None):
    call = schema.get_call(db, call_id)
    if call is None:
        raise NoSuchCall(f"No call {call_id} in {config.database}; 'agi-consent calls list' "
                         "shows the ids.")
    personal = {}
    for row in db.query("SELECT seq, name, value FROM personal WHERE call_id = ?", [call_id]):
        personal.setdefault(row["seq"], {})[row["name"]] = row["value"]
    steps = []
    for event in schema.call_events(db, call_id):
        detail = json.loads(event["detail"])
        committed = detail.pop("personal", {})
        values = personal.get(event["seq"], {})
        detail["personal"] = {name: values.get(name, "(erased)") for name in committed}
        steps.append({"seq": event["seq"], "at": event["at"], "kind": event["kind"],
                      "detail": detail})
    decision = next((s["detail"] for s in steps if s["kind"] == "decision"), {})
    rules = rules_applied(db, decision)
    recording = file_facts(config, call["recording"])
    answers = [file_facts(config, s["detail"]["audio"]) | {"logged_sha256":
               s["detail"].get("sha256")} for s in steps
               if s["kind"] == "input" and s["detail"].get("audio")]
    return {"call": call, "steps": steps, "rules": rules, "recording": recording,
            "answer_audio": answers,
            "chain": audit.call_chain(config.database, call_id, verifier)}


def rules_applied(db, decision):
    """The archived rule entries of the jurisdictions the decision considered."""
    version = decision.get("rules_version")
    rows = list(db.query("SELECT content FROM rules_versions WHERE version = ?", [version]))
    table = json.loads(rows[0]["content"]) if rows else {}
    codes = [j["code"] for j in decision.get("jurisdictions", [])]
    return {"version": version, "archived": bool(rows),
            "entries": {code: table[code] for code in codes if code in table}}


KIND_TITLES = {
    "call-start": "Call reached the consent gate", "decision": "Decision",
    "answer-mode": "How the caller could answer", "prompt": "Prompt played",
    "played": "Heard", "input": "Caller's answer", "consent-result": "Consent result",
    "recording-requested": "Recording requested", "recording-started": "Recording started",
    "recording-stopped": "Recording stopped", "recording-stop-failed": "Recording stop failed",
    "variables-set": "Dialplan told", "call-end": "Gate finished", "hangup": "Caller hung up",
    "error": "Error (failed closed)", "closing-prompt-failed": "Closing prompt failed",
}


def _describe(step):
    detail = step["detail"]
    kind = step["kind"]
    if kind == "prompt":
        return (f"[{detail.get('language')}] {detail.get('name')}: “{detail.get('text')}” "
                f"({detail.get('seconds')} s; audio SHA-256 {_hashes(detail)})")
    if kind == "played":
        cut = f", cut by key at {detail['seconds']} s" if detail.get("interrupted") else ""
        return f"{detail.get('seconds')} s of {detail.get('of')} s{cut}"
    if kind == "input":
        if detail.get("key"):
            return f"pressed {detail['key']} ({detail.get('during', '')})"
        if detail.get("speech"):
            speech, said = detail["speech"], detail["personal"]
            confirmed = f" (the grammar heard “{said['confirmation']}”)" \
                if said.get("confirmation") else ""
            held = f", {speech.get('speech_seconds')} s of speech: to be confirmed" \
                if detail.get("to_confirm") else ""
            return (f"said “{said.get('transcript', '')}”{confirmed} → "
                    f"{speech.get('answer')}{held} (confidence {speech.get('confidence')}; "
                    f"audio SHA-256 {detail.get('sha256')})")
        return "no answer" + (f" ({detail['error']})" if detail.get("error") else "")
    if kind == "decision":
        return "; ".join(detail.get("reasons", []))
    return ", ".join(f"{k}: {v}" for k, v in detail.items() if k != "personal" and v != "") \
        or ""


def _hashes(detail):
    files = detail.get("files") or {"wav": detail.get("sha256")}
    return ", ".join(f"{fmt} {digest}" for fmt, digest in files.items())


STYLE = """
body{font:15px/1.45 Georgia,serif;color:#111;max-width:52rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;border-bottom:1px solid #999;
margin-top:1.6rem}table{border-collapse:collapse;width:100%}td,th{text-align:left;
vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #ddd}th{width:11rem}
.time{white-space:nowrap;font-family:monospace;font-size:.85rem}.hash{font-family:monospace;
font-size:.8rem;word-break:break-all}.ok{color:#064}.bad{color:#a00;font-weight:bold}
ol.timeline{list-style:none;padding:0}ol.timeline li{border-left:3px solid #456;
margin-left:.5rem;padding:.2rem 0 .5rem 1rem}@media print{body{margin:0;max-width:none}
a{color:#000}}
"""


def html(record):
    call = record["call"]
    chain = record["chain"]
    esc = markup.escape
    rows = [("Consent record", call["id"]), ("Started", call["started_at"]),
            ("Ended", call["ended_at"] or ""), ("Caller ID", call["caller_id"] or ""),
            ("Remote number", call["remote_number"] or ""), ("Direction", call["direction"]),
            ("Trunk region", call["trunk_region"]), ("Governing", call["governing"]),
            ("Mode", call["mode"]), ("Result", call["result"]),
            ("Rules version", call["rules_version"])]
    facts = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v or ''))}</td></tr>"
                    for k, v in rows)
    rules = "".join(f"<tr><th>{esc(code)}</th><td>{esc(entry.get('name', ''))}: "
                    f"{esc(entry.get('model', ''))}. {esc(entry.get('citation', ''))}"
                    f"{' (uncertain)' if entry.get('uncertain') else ''}</td></tr>"
                    for code, entry in record["rules"]["entries"].items())
    steps = "".join(
        f"<li><span class='time'>{esc(s['at'])}</span> "
        f"<b>{esc(KIND_TITLES.get(s['kind'], s['kind']))}</b><br>{esc(_describe(s))}</li>"
        for s in record["steps"])
    recording = record["recording"]
    recorded = "Nothing was recorded." if not recording else (
        f"{esc(recording['path'])}: " + (
            f"{recording['size']} bytes, {recording.get('seconds')} s, SHA-256 "
            f"<span class='hash'>{recording['sha256']}</span>" if recording["visible"]
            else "not visible from this host"))
    verdict = ("<span class='ok'>intact</span>" if chain["intact"] else
               "<span class='bad'>BROKEN: " + esc("; ".join(chain["broken"])) + "</span>")
    checkpoint = chain["checkpoint"]
    covered = (f"covered by the checkpoint of {checkpoint['size']} rows, head "
               f"<span class='hash'>{checkpoint['head']}</span>, signature "
               f"{'verified' if checkpoint['signature_verified'] else 'not checked'}"
               f"<pre>{esc(checkpoint['note'])}</pre>" if checkpoint else
               "not yet covered by a signed checkpoint (one is written every few minutes "
               "and at shutdown)")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Consent evidence {esc(call['id'])}</title>
<style>{STYLE}</style></head><body>
<h1>Recording consent: evidence of one call</h1>
<p>This page is generated from an append-only, hash-chained consent log. It shows what the
caller was told, what they answered, and whether the call was recorded.</p>
<h2>The call</h2><table>{facts}</table>
<h2>The law applied</h2><table>{rules}</table>
<h2>What happened, in order</h2><ol class="timeline">{steps}</ol>
<h2>The recording</h2><p>{recorded}</p>
<h2>Proof</h2><p>Log rows {chain['first_row']}–{chain['last_row']} ({chain['rows']} steps):
{verdict}; {covered}</p>
</body></html>
"""
