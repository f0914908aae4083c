"""The written policy follows the configuration and the rules; reports count outcomes."""

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from agi_consent import services
from agi_consent.admin import report
from agi_consent.cli import main
from agi_consent.store import schema as store
from agi_consent.store.ledger import Writer


def site(tmp_path, make_config, rules_text=""):
    config = make_config(trunks={"PJSIP/paris": "FR", "PJSIP/ny": "US-NY"},
                         evidence={"key_file": str(tmp_path / "k" / "signing.key")})
    rules = tmp_path / "site-rules.toml"
    rules.write_text(rules_text)
    path = tmp_path / "site.toml"
    path.write_text(f'database = "{config.database}"\ndefault_region = "US-NY"\n'
                    f'rules_file = "{rules}"\n[trunks]\n"PJSIP/paris" = "FR"\n'
                    f'[prompts]\ndirectory = "{config.prompts.directory}"\n'
                    'languages = ["en", "fr"]\n[retention]\npreset = "mifid2"\n')
    return config, ["--config", str(path)], rules


def test_policy_covers_every_configured_region_with_its_rule(tmp_path, make_config):
    _, args, _ = site(tmp_path, make_config)
    text = CliRunner().invoke(main, [*args, "policy"]).output
    assert text.startswith("# Call recording policy")
    assert "trunk regions: FR, US-NY" in text
    assert "California (US-CA): all-party" in text and "Cal. Penal Code" in text
    assert "Press 1 to agree, 2 to refuse" in text
    assert "[fr] consent-request: “fr consent-request”" in text
    assert "FR: keep at least 1827 days, delete after 180 days. CONFLICT" in text
    page = CliRunner().invoke(main, [*args, "policy", "--format", "html"]).output
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page


def test_policy_changes_with_the_rules_and_the_change_is_logged(tmp_path, make_config):
    config, args, rules = site(tmp_path, make_config)
    first = services.build(config, "classic").engine.rules.version
    rules.write_text('[US-NY]\nmodel = "all-party"\ncitation = "a new statute"\n')
    changed = CliRunner().invoke(main, [*args, "policy"]).output
    assert "New York (US-NY): all-party" in changed and "a new statute" in changed
    import dataclasses
    rebuilt = services.build(dataclasses.replace(config, rules_file=str(rules)), "classic")
    assert rebuilt.engine.rules.version != first
    diff = CliRunner().invoke(main, [*args, "policy", "--diff", first[:12]]).output
    assert "~ US-NY: citation:" in diff and "model: 'one-party' → 'all-party'" in diff
    events = store.call_events(store.open_db(config.database), "system")
    change = json.loads(events[-1]["detail"])
    assert events[-1]["kind"] == "rules-changed" and change["previous"] == first


def calls_for_report(config):
    writer = Writer(config.database)
    day = datetime.now(UTC) - timedelta(days=3)
    n = 0
    for offset, region, trunk, language, results in (
            (0, "US-CA", "US-NY", "en", ["granted", "granted", "declined"]),
            (1, "US-CA", "US-NY", "en", ["no-answer"]),
            (1, "FR", "FR", "fr", ["notified", "opted-out"])):
        at = (day + timedelta(days=offset)).isoformat(timespec="seconds")
        for result in results:
            n += 1
            rows = [("call-start", {"transport": "t"}),
                    ("decision", {"governing": region, "trunk_region": trunk,
                                  "language": language, "mode": "m"}),
                    ("call-end", {"result": result})]
            writer.write([(f"r{n}", [("event", (k, at, kind, detail, None))
                                     for k, (kind, detail) in enumerate(rows, 1)], 3)])
    writer.close()


def test_report_counts_outcomes_with_rates(tmp_path, make_config):
    config, args, _ = site(tmp_path, make_config)
    calls_for_report(config)
    rows = [json.loads(line) for line in
            CliRunner().invoke(main, [*args, "report", "--json"]).output.splitlines()]
    by_region = {row["group"]: row for row in rows}
    assert by_region["US-CA"]["calls"] == 4 and by_region["US-CA"]["granted"] == 2
    assert by_region["US-CA"]["granted_rate"] == 0.5 and by_region["FR"]["opted-out"] == 1
    days = CliRunner().invoke(main, [*args, "report", "--by", "day", "--json"]).output
    assert len(days.splitlines()) == 2
    text = CliRunner().invoke(main, [*args, "report", "--by", "language"]).output
    assert "fr" in text and "notified 1 (50%)" in text
    since = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    recent = [json.loads(line) for line in CliRunner().invoke(
        main, [*args, "report", "--since", since, "--json"]).output.splitlines()]
    assert {row["group"]: row["calls"] for row in recent} == {"FR": 2, "US-CA": 1}


def test_report_dates_are_checked_and_an_empty_period_says_so(tmp_path, make_config):
    config, args, _ = site(tmp_path, make_config)
    calls_for_report(config)
    bad = CliRunner().invoke(main, [*args, "report", "--since", "yesterday"])
    assert bad.exit_code == 2 and "'yesterday' does not match" in bad.output
    empty = CliRunner().invoke(main, [*args, "report", "--until", "2000-01-01"])
    assert empty.exit_code == 0 and empty.output == "no calls in the log for those dates\n"


def test_chart_is_a_png_with_one_series_per_region(tmp_path, make_config):
    config, args, _ = site(tmp_path, make_config)
    calls_for_report(config)
    png = tmp_path / "outcomes.png"
    assert report.chart(store.open_db(config.database), png) == 2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = CliRunner().invoke(main, [*args, "report", "--chart", str(png)])
    assert "chart of 2 region(s)" in result.output
