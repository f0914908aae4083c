"""The decision: trunk × caller combinations, unknown and uncertain handling, policy switches."""

import pytest

from agi_consent.core.decision import Policy, decide
from agi_consent.core.numbering import locate
from agi_consent.core.rules import load_rules

RULES = load_rules()
STRICT = Policy()


def run(number, region, policy=STRICT):
    return decide(locate(number), region, RULES, policy)


@pytest.mark.parametrize("number,region,mode,governing", [
    ("+14155551234", "US-NY", "all-party", "US-CA"),  # CA caller on a NY trunk
    ("+12125551234", "US-NY", "one-party", "US-NY"),  # NY caller on a NY trunk
    ("+18005551234", "US-NY", "all-party", "unknown"),  # toll-free caller
    ("anonymous", "US-TX", "all-party", "unknown"),
    ("", "US-TX", "all-party", "unknown"),
    ("+12145551234", "US-TX", "one-party", "US-TX"),
    ("+12125551234", "US-CA", "all-party", "US-CA"),  # NY caller on a CA trunk
    ("+12125551234", "DE", "all-party", "DE"),
    ("+4930123456", "GB", "all-party", "DE"),
    ("+441212345678", "GB", "one-party", "GB"),
    ("+3222345678", "FR", "one-party", "BE"),  # Belgium falls back to the EU entry
    ("+19025550100", "CA-ON", "one-party", "CA-NS"),  # NS/PE agree
    ("+61212345678", "AU-VIC", "all-party", "unknown"),  # AU caller, state not derivable
    ("+61212345678", "AU-NSW", "all-party", "unknown"),
    ("+441212345678", "AU-NSW", "all-party", "AU-NSW"),
    ("+441212345678", "AU-VIC", "one-party", "GB"),
    ("+16135550199", "CA-QC", "one-party", "CA-ON"),
    ("+13135551234", "US-TX", "all-party", "US-MI"),  # uncertain → strict
    ("+911123456789", "GB", "all-party", "IN"),
    ("+17875550123", "US-TX", "all-party", "unknown"),  # PR: no entry, US states differ
    ("+14155551234", "XK", "all-party", "US-CA"),
    ("+12125551234", "XK", "all-party", "unknown"),  # trunk country with no entry
])
def test_trunk_and_caller_combinations(number, region, mode, governing):
    decision = run(number, region)
    assert (decision.mode, decision.governing) == (mode, governing)
    assert decision.rules_version == RULES.version
    assert decision.reasons[0].startswith(mode)


def test_both_sides_are_considered_and_explained():
    decision = run("+14155551234", "US-NY")
    assert [(v.role, v.code) for v in decision.verdicts] == [("remote", "US-CA"),
                                                               ("trunk", "US-NY")]
    assert any("Cal. Penal Code" in reason for reason in decision.reasons)


def test_missing_trunk_region_is_strict():
    decision = run("+12125551234", None)
    assert decision.mode == "all-party" and decision.governing == "unknown"
    assert "no trunk region" in " ".join(decision.reasons)


def test_unknown_mode_can_be_relaxed():
    relaxed = Policy(unknown_mode="one-party")
    assert run("+18005551234", "US-NY", relaxed).mode == "one-party"
    assert run("+14155551234", "US-NY", relaxed).mode == "all-party"


def test_uncertain_can_follow_the_listed_model():
    decision = run("+13135551234", "US-TX", Policy(uncertain_mode="as-listed"))
    assert decision.mode == "one-party"


def test_disagreeing_candidates_are_unknown():
    from agi_consent.core.rules import SHIPPED_PATH, merge, read_toml
    strict_pe = merge(read_toml(SHIPPED_PATH), {"CA-PE": {"model": "all-party"}})
    decision = decide(locate("+19025550100"), "CA-ON", strict_pe)
    assert decision.governing == "unknown" and decision.mode == "all-party"
    assert "disagree" in " ".join(decision.reasons)


def test_decision_as_dict_has_contract_keys():
    result = run("+14155551234", "US-NY").as_dict()
    assert {"mode", "governing", "jurisdictions", "reasons", "rules_version"} <= set(result)
