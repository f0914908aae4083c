"""The consent decision: a pure function over a caller location, a trunk region and rules.

No clock, files, environment or logging here. Strictest wins: all-party if any considered
jurisdiction is all-party or unknown (unknown and uncertain are strict unless the policy says
otherwise). Reasons are sentences an auditor can read.
"""

from dataclasses import dataclass, field

ALL_PARTY, ONE_PARTY = "all-party", "one-party"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Policy:
    unknown_mode: str = ALL_PARTY  # mode when a jurisdiction cannot be derived
    uncertain_mode: str = ALL_PARTY  # mode for entries marked uncertain; "as-listed" uses theirs


@dataclass(frozen=True)
class Verdict:
    """What one party's side contributes: a jurisdiction (or unknown) and its mode."""

    role: str  # "remote" or "trunk"
    code: str
    mode: str
    reason: str
    notice: bool = False


@dataclass(frozen=True)
class Decision:
    mode: str
    governing: str
    verdicts: tuple
    rules_version: str
    direction: str = "inbound"
    notice: bool = True  # a notice is required by a jurisdiction considered
    reasons: tuple = field(default=())

    def as_dict(self):
        return {"mode": self.mode, "governing": self.governing, "direction": self.direction,
                "jurisdictions": [vars(v) for v in self.verdicts],
                "reasons": list(self.reasons), "notice": self.notice,
                "rules_version": self.rules_version}


def judge_rule(rule, role, policy, code=None):
    """`code` is the jurisdiction asked for; it differs from rule.code for group members (BE→EU)."""
    code = code or rule.code
    label = f"{rule.name} ({code})" if code == rule.code else f"{code}, under {rule.name},"
    if rule.uncertain and policy.uncertain_mode != "as-listed":
        return Verdict(role, code, policy.uncertain_mode,
                       f"{label} has an uncertain telephone rule; treated as "
                       f"{policy.uncertain_mode}", rule.notice)
    return Verdict(role, code, rule.model, f"{label} is {rule.model} ({rule.citation})",
                   rule.notice)


def unknown_verdict(role, why, policy):
    return Verdict(role, UNKNOWN, policy.unknown_mode,
                   f"{role} jurisdiction unknown ({why}); treated as {policy.unknown_mode}")


def country_verdict(country, role, rules, policy):
    """A country with no derivable subdivision counts only if its subdivisions all agree."""
    rule = rules.get(country)
    if rule is None:
        return unknown_verdict(role, f"no rules entry for {country}", policy)
    verdict = judge_rule(rule, role, policy, country)
    if any(judge_rule(sub, role, policy).mode != verdict.mode
           for sub in rules.subdivisions_of(country)):
        return unknown_verdict(role, f"{rule.name}'s states differ and this one is not known",
                               policy)
    return verdict


def judge_location(country, subdivisions, note, role, rules, policy):
    """Verdicts for one side: several when a prefix names several provinces that agree."""
    if country is None:
        return [unknown_verdict(role, note or "no number", policy)]
    if not subdivisions:
        return [country_verdict(country, role, rules, policy)]
    verdicts = []
    for code in subdivisions:
        rule = rules.get(code)
        verdicts.append(judge_rule(rule, role, policy) if rule
                        else country_verdict(country, role, rules, policy))
    if len({v.mode for v in verdicts}) > 1:
        return [unknown_verdict(role, f"area code spans {', '.join(subdivisions)} whose rules "
                                      f"disagree", policy)]
    return verdicts


def decide(remote, trunk_region, rules, policy=Policy(), direction="inbound"):
    """Decide the consent mode for a call.

    `remote` is a numbers.Location (or anything with country, subdivisions, note);
    `trunk_region` an ISO code like "US-NY" or "DE", or None when not configured.
    """
    verdicts = judge_location(remote.country, remote.subdivisions, remote.note, "remote",
                              rules, policy)
    if trunk_region:
        country, _, _ = trunk_region.partition("-")
        subdivisions = (trunk_region,) if "-" in trunk_region else ()
        verdicts += judge_location(country, subdivisions, "", "trunk", rules, policy)
    else:
        verdicts.append(unknown_verdict("trunk", "no trunk region configured", policy))
    strict = [v for v in verdicts if v.mode == ALL_PARTY]
    governing = (strict or verdicts)[0]
    mode = governing.mode
    summary = (f"all-party: {governing.code} requires every party's consent" if strict else
               "one-party: every jurisdiction considered allows recording after a notice")
    return Decision(mode=mode, governing=governing.code, verdicts=tuple(verdicts),
                    rules_version=rules.version, direction=direction,
                    notice=any(v.notice for v in verdicts),
                    reasons=(summary,) + tuple(v.reason for v in verdicts))
