"""The rules table as data: coverage, the settled all-party set, uncertain entries, overrides."""

import pytest

from agi_consent.core.rules import SHIPPED_PATH, RulesError, load_rules, merge, read_toml

US_ALL_PARTY = {"CA", "CT", "DE", "FL", "IL", "MD", "MA", "MT", "NV", "NH", "PA", "WA"}
US_STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT "
             "NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split()
CANADA = "AB BC MB NB NL NS NT NU ON PE QC SK YT".split()
COUNTRIES = "GB IE DE FR ES IT NL EU AU NZ IN MX BR PH ZA JP SG US CA".split()
AU_STATES = {"NSW": "all-party", "VIC": "one-party", "QLD": "one-party", "WA": "all-party",
             "SA": "all-party", "TAS": "all-party", "ACT": "all-party", "NT": "one-party"}


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def test_coverage(rules):
    expected = ([f"US-{s}" for s in US_STATES] + [f"CA-{p}" for p in CANADA] + COUNTRIES
                + [f"AU-{s}" for s in AU_STATES])
    assert not [code for code in expected if code not in rules.rules]


def test_every_entry_has_citation_and_model(rules):
    for rule in rules.rules.values():
        assert rule.citation and rule.model in ("all-party", "one-party"), rule.code


def test_settled_us_all_party_set(rules):
    all_party = {c[3:] for c, r in rules.rules.items() if c.startswith("US-")
                 and r.model == "all-party"}
    assert all_party == US_ALL_PARTY


def test_uncertain_entries(rules):
    uncertain = {c for c, r in rules.rules.items() if r.uncertain}
    assert uncertain == {"US-MI", "IN", "SG"}
    for code in ("US-OR", "US-HI", "US-VT", "US-MO", "US-NJ"):
        assert rules.rules[code].model == "one-party" and not rules.rules[code].uncertain


def test_australian_states(rules):
    assert {s: rules.rules[f"AU-{s}"].model for s in AU_STATES} == AU_STATES


def test_germany_and_philippines_all_party(rules):
    assert rules.rules["DE"].model == rules.rules["PH"].model == "all-party"


def test_eu_members_fall_back_to_eu(rules):
    assert rules.get("BE").code == "EU"
    assert rules.get("DE").code == "DE"
    assert rules.get("XX") is None


def test_retention_guidance(rules, tmp_path):
    assert rules.rules["FR"].keep_max_days == 180
    assert rules.rules["BR"].keep_min_days == 90
    site = tmp_path / "old-names.toml"  # a site file written for 0.3 still means the same
    site.write_text("[DE]\nretention_days = 30\nretention_min_days = 10\n")
    old = load_rules(site).rules["DE"]
    assert (old.keep_max_days, old.keep_min_days) == (30, 10)


def test_site_override_changes_version(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[US-NY]\nmodel = "all-party"\nnote = "site policy"\n'
                    '[XK]\nname = "Kosovo"\nmodel = "one-party"\ncitation = "site counsel"\n')
    base, custom = load_rules(), load_rules(site)
    assert custom.rules["US-NY"].model == "all-party"
    assert custom.rules["US-NY"].citation == base.rules["US-NY"].citation
    assert custom.rules["XK"].name == "Kosovo"
    assert custom.version != base.version
    assert load_rules(site).version == custom.version


@pytest.mark.parametrize("text,message", [
    ('[US-NY]\nmodel = "two-party"\n', "'model' must be one of"),
    ('[US-NY]\ncolour = "red"\n', "unknown key 'colour'"),
    ('[US-NY]\nnotice = "yes"\n', "'notice' must be a bool"),
    ('[new-place]\nmodel = "one-party"\n', "not an ISO 3166 code"),
    ('[XK]\nmodel = "one-party"\n', "needs name, citation"),
    ('[US-NY\n', "not valid TOML"),
])
def test_bad_site_file(tmp_path, text, message):
    site = tmp_path / "site.toml"
    site.write_text(text)
    with pytest.raises(RulesError, match=message) as error:
        load_rules(site)
    assert str(site) in str(error.value)


def test_missing_site_file(tmp_path):
    with pytest.raises(RulesError, match="does not exist"):
        load_rules(tmp_path / "nope.toml")


def test_merge_is_deterministic():
    document = read_toml(SHIPPED_PATH)
    assert merge(document).version == merge(dict(reversed(document.items()))).version
