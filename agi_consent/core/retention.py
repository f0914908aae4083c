"""How long a call's recording may and must be kept: a pure function over its jurisdictions,
the rules table, the site's sector presets and overrides.

Rules come in two kinds that can conflict: minimums (must keep: MiFID II, SEC 17a-4) and
maximums (must delete by: CNIL's six months for quality recordings). The window is the
longest minimum and the shortest maximum of everything that applies; when the minimum
exceeds the maximum the call is flagged as a conflict and nothing is deleted until counsel
decides (an override settles it). Where nothing sets a maximum, the site's default applies.
Days are calendar days from the call's start.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    name: str
    citation: str
    keep_min_days: int | None = None
    keep_max_days: int | None = None
    evidence_min_days: int | None = None  # the consent log and the policy, not the audio


PRESETS = {
    "mifid2": Preset("MiFID II / UK FCA SYSC 10A", "Delegated Reg. (EU) 2017/565 Art. 76(8); "
                     "FCA SYSC 10A.1.15: 5 years, up to 7 on request", keep_min_days=1827),
    "mifid2-extended": Preset("MiFID II, extended by the authority", "Delegated Reg. (EU) "
                              "2017/565 Art. 76(8): up to 7 years", keep_min_days=2557),
    "sec17a4": Preset("SEC 17a-4(b)(4) / FINRA 3170", "17 CFR 240.17a-4(b)(4); FINRA Rule "
                      "3170: 3 years", keep_min_days=1096),
    "hipaa": Preset("HIPAA compliance documentation", "45 CFR 164.316(b)(2): 6 years for the "
                    "policy and the consent log (not the audio)", evidence_min_days=2192),
    "cnil-quality": Preset("CNIL, recordings for training and quality", "CNIL norme "
                           "simplifiée 57 (délibération 2014-474): at most 6 months",
                           keep_max_days=184),
}


@dataclass(frozen=True)
class Window:
    keep_min_days: int
    keep_max_days: int
    conflict: bool
    sources: tuple = field(default=())  # sentences: who asks for what

    def as_dict(self):
        return {"keep_min_days": self.keep_min_days, "keep_max_days": self.keep_max_days,
                "conflict": self.conflict, "sources": list(self.sources)}


def window(codes, rules, presets=(), overrides=None, default_days=365):
    """The keep window of a call whose jurisdictions are `codes`.

    `presets` are names from PRESETS; `overrides` maps a code to {keep_min_days,
    keep_max_days} that replace what the rules table says for it.
    """
    overrides = overrides or {}
    minimums, maximums, sources = [], [], []
    for code in dict.fromkeys(c for c in codes if c):
        for rule in rules.applicable(code):
            values = {"keep_min_days": rule.keep_min_days, "keep_max_days": rule.keep_max_days,
                      **overrides.get(rule.code, {}), **overrides.get(code, {})}
            _collect(values, f"{rule.name} ({rule.code}): {rule.citation}", minimums,
                     maximums, sources)
    for name in presets:
        preset = PRESETS[name]
        _collect(vars(preset), f"{preset.name}: {preset.citation}", minimums, maximums,
                 sources)
    keep_min = max(minimums, default=0)
    if maximums:
        keep_max = min(maximums)
    else:
        keep_max = max(default_days, keep_min)
        sources.append(f"site default: {default_days} days (retention.default_days)")
    return Window(keep_min, keep_max, keep_min > keep_max, tuple(sources))


def _collect(values, source, minimums, maximums, sources):
    if values.get("keep_min_days") is not None:
        minimums.append(values["keep_min_days"])
        sources.append(f"keep at least {values['keep_min_days']} days — {source}")
    if values.get("keep_max_days") is not None:
        maximums.append(values["keep_max_days"])
        sources.append(f"delete within {values['keep_max_days']} days — {source}")


def evidence_days(presets, windows):
    """How long the consent evidence itself must outlive: the longest minimum anywhere."""
    return max([PRESETS[p].evidence_min_days or 0 for p in presets] +
               [w.keep_min_days for w in windows] + [0])
