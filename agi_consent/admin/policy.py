"""The site's written recording policy, rendered from what the plugin really does: the
effective configuration, the rules table (with its citations), the prompt texts, the keys,
the keep windows with their conflicts, and who may do what. `diff` says what changed between
two archived rules versions — the review the law asks for as rules change."""

import html as markup
import json
from datetime import UTC, datetime

from .. import __version__
from ..call.prompts import PromptMissing, resolve
from ..core.decision import ALL_PARTY
from ..core.retention import PRESETS, evidence_days, window


def configured_regions(config):
    return sorted({r for r in [config.default_region, *config.trunks.values()] if r})


def sections(config, rules):
    """[(title, [lines])]: the policy's content, shared by Markdown and HTML."""
    retention = config.retention
    by_model = {}
    for code, rule in sorted(rules.rules.items()):
        mode = config.uncertain_mode if rule.uncertain and config.uncertain_mode != \
            "as-listed" else rule.model
        uncertain = f" — uncertain, treated as {mode}" if rule.uncertain else ""
        notice = "; notice required" if rule.notice else ""
        by_model.setdefault(mode, []).append(f"{rule.name} ({code}): {rule.model}{uncertain}"
                                             f"{notice}. Source: {rule.citation}.")
    regions = configured_regions(config) or ["(none configured: every trunk is unknown)"]
    flow = config.flow
    text = [
        ("Scope", [f"This policy covers every call that passes the agi-consent gate on this "
                   f"site's Asterisk (trunk regions: {', '.join(regions)}).",
                   f"Rules version {rules.version} (agi-consent {__version__}); generated "
                   f"{datetime.now(UTC).isoformat(timespec='seconds')}."]),
        ("When consent is asked and when a notice is enough", [
            "For each call the jurisdictions of the remote party (from the number) and of the "
            "trunk are considered; the strictest applies.",
            f"A jurisdiction that cannot be derived (withheld, toll-free, unknown) is treated "
            f"as {config.unknown_mode}; entries marked uncertain as {config.uncertain_mode}.",
            "All-party consent (the caller must agree before recording):",
            *[f"  - {line}" for line in by_model.get(ALL_PARTY, [])],
            "Notice only (recording after the notice unless the caller opts out):",
            *[f"  - {line}" for line in by_model.get("one-party", [])]]),
        ("What callers hear", prompt_lines(config)),
        ("How callers answer", [
            f"Press {flow.accept_key} to agree, {flow.decline_key} to refuse"
            f"{f'; {flow.opt_out_key} opts out after a notice' if flow.opt_out_key else ''}.",
            f"The question is asked up to {flow.attempts} time(s); no valid answer is no "
            "consent. " + ("Callers may also answer by voice (US English)."
                           if config.speech.enabled else "Answers are taken by key only."),
            "Recording starts only after a yes (or after the notice where a notice is "
            "enough), and only once that answer is durably in the consent log; on a refusal, "
            "silence, hang-up or any fault nothing is recorded and the call goes on."]),
        ("How long recordings are kept", retention_lines(config, rules)),
        ("Access and export", [
            "Recordings, spoken answers and the consent log are never world-readable"
            + (f"; they are readable by the group '{retention.group}' only."
               if retention.group else "; set retention.group to name who may read them."),
            "A recording leaves the system only through 'agi-consent export', which refuses "
            "calls without granted or notified consent and calls past their window, and logs "
            "who exported what, when and why (see 'agi-consent access-log').",
            "A person's erasure request is served by 'agi-consent erase --number', except "
            "for calls under legal hold; holds, releases, erasures and purges are logged."]),
        ("Who does what", [
            "The agi-consent service user writes the consent log and signs its checkpoints.",
            "Administrators (root) import prompts, purge, hold, release, erase and export.",
            "Compliance staff verify the log ('agi-consent verify') and read evidence "
            "('agi-consent evidence').",
            "Review this policy whenever the rules version changes ('agi-consent policy "
            "--diff OLD_VERSION' shows what changed)."]),
    ]
    return text


def prompt_lines(config):
    lines = []
    for language in config.prompts.languages:
        for name in ("consent-request", "notice"):
            try:
                prompt = resolve(config, name, language, config.default_region or None)
            except PromptMissing:
                continue
            lines.append(f"[{language}] {name}: “{prompt.text}”")
    return lines or ["(the prompts are not visible from this host)"]


def retention_lines(config, rules):
    retention = config.retention
    lines = [f"Sector presets: {', '.join(retention.presets()) or 'none'}; where nothing sets "
             f"a maximum, recordings are kept {retention.default_days} days."]
    for name in retention.presets():
        lines.append(f"  - {PRESETS[name].name}: {PRESETS[name].citation}")
    codes = sorted(set(configured_regions(config)) | {c for c, r in rules.rules.items()
                                                      if r.keep_min_days or r.keep_max_days}
                   | set(retention.overrides))
    for code in codes:
        limits = window([code], rules, retention.presets(), retention.overrides,
                        retention.default_days)
        state = ("CONFLICT — a minimum exceeds a maximum; such recordings are kept until "
                 "counsel decides (retention.overrides)" if limits.conflict else "")
        lines.append(f"{code}: keep at least {limits.keep_min_days} days, delete after "
                     f"{limits.keep_max_days} days. {state}".rstrip())
        lines += [f"  - {source}" for source in limits.sources]
    windows = [window([code], rules, retention.presets(), retention.overrides,
                      retention.default_days) for code in codes]
    lines.append("Spoken-answer audio follows its recording's window. The consent log itself "
                 "is never purged: it proves the consent and every deletion, and must be kept "
                 f"at least {evidence_days(retention.presets(), windows)} days (the longest "
                 "minimum that applies).")
    return lines


def markdown(config, rules):
    parts = ["# Call recording policy", ""]
    for title, lines in sections(config, rules):
        parts += [f"## {title}", "", *lines, ""]
    return "\n".join(parts)


def html(config, rules):
    body = []
    for title, lines in sections(config, rules):
        body.append(f"<h2>{markup.escape(title)}</h2>")
        for line in lines:
            tag = "li" if line.startswith("  -") else "p"
            body.append(f"<{tag}>{markup.escape(line.lstrip(' -'))}</{tag}>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Call recording "
            "policy</title><style>body{font:15px/1.45 Georgia,serif;max-width:52rem;"
            "margin:2rem auto;padding:0 1rem}li{margin-left:1.5rem}</style></head><body>"
            "<h1>Call recording policy</h1>" + "".join(body) + "</body></html>\n")


def diff(old_content, rules):
    """Lines saying what changed from an archived rules table to the current one."""
    old = json.loads(old_content)
    new = json.loads(rules.content)
    lines = []
    for code in sorted(set(old) | set(new)):
        if code not in new:
            lines.append(f"- removed {code} ({old[code].get('name')})")
        elif code not in old:
            lines.append(f"+ added {code} ({new[code].get('name')}): {new[code].get('model')}")
        elif old[code] != new[code]:
            changes = [f"{key}: {old[code].get(key)!r} → {new[code].get(key)!r}"
                       for key in sorted(set(old[code]) | set(new[code]))
                       if old[code].get(key) != new[code].get(key)]
            lines.append(f"~ {code}: " + "; ".join(changes))
    return lines

