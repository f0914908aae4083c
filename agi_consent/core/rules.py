"""The jurisdiction rules table: shipped data merged with an optional site file.

Entries are keyed by ISO 3166 codes (`US-CA`, `DE`). A site file uses the same TOML shape;
its keys override the shipped entry field by field, and new codes add entries. The table's
version is a hash of the effective content, recorded with every decision.
"""

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

SHIPPED_PATH = Path(__file__).parent / "data" / "rules.toml"
MODELS = ("all-party", "one-party")
CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
ALIASES = {"UK": "GB"}
FIELDS = {"name": str, "model": str, "notice": bool, "keep_max_days": int,
          "keep_min_days": int, "citation": str, "note": str, "uncertain": bool,
          "members": list}
RENAMED = {"retention_days": "keep_max_days", "retention_min_days": "keep_min_days"}  # ≤ 0.3


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, entry and key."""


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    model: str
    notice: bool
    citation: str
    note: str = ""
    uncertain: bool = False
    keep_max_days: int | None = None  # recordings must be deleted by then
    keep_min_days: int | None = None  # ... and kept at least this long
    members: tuple = ()


class RuleTable:
    """The effective rules; `version` is the SHA-256 of `content`, the canonical JSON that is
    archived with the log so any old decision can be re-derived (`decide --rules-version`)."""

    def __init__(self, rules):
        self.rules = dict(rules)
        self._groups = {m: r.code for r in self.rules.values() for m in r.members}
        self.content = json.dumps({c: vars(r) for c, r in sorted(self.rules.items())},
                                  sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                  default=list)
        self.version = hashlib.sha256(self.content.encode()).hexdigest()

    @classmethod
    def from_content(cls, content):
        """The table as archived (keys a later version does not know are ignored)."""
        known = set(Rule.__dataclass_fields__)
        return cls({code: Rule(**{RENAMED.get(k, k): tuple(v) if k == "members" else v
                                  for k, v in fields.items() if RENAMED.get(k, k) in known})
                    for code, fields in json.loads(content).items()})

    def get(self, code):
        """The entry for a code, falling back to a group entry (EU) for its members."""
        return self.rules.get(code) or self.rules.get(self._groups.get(code, ""))

    def applicable(self, code):
        """Every entry that speaks for a jurisdiction: itself, its country, their group."""
        country = code.partition("-")[0]
        found = [self.get(c) for c in dict.fromkeys((code, country))]
        return [rule for rule in dict.fromkeys(found) if rule]

    def subdivisions_of(self, country):
        return [r for c, r in self.rules.items() if c.startswith(country + "-")]


def normalise_code(text):
    """`us-ca` → `US-CA`, `UK` → `GB`; None when it is not an ISO 3166 style code."""
    code = ALIASES.get(text.strip().upper(), text.strip().upper())
    return code if CODE.match(code) else None


def _check_entry(code, fields, source):
    where = f"{source}: entry [{code}]"
    if normalise_code(code) != code:
        raise RulesError(f"{where} is not an ISO 3166 code such as US-CA or DE.")
    for key, value in fields.items():
        expected = FIELDS.get(key)
        if expected is None:
            raise RulesError(f"{where} has unknown key '{key}'; known keys: "
                             f"{', '.join(sorted(FIELDS))}.")
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise RulesError(f"{where} key '{key}' must be a {expected.__name__}.")
    if "model" in fields and fields["model"] not in MODELS:
        raise RulesError(f"{where} key 'model' must be one of {', '.join(MODELS)}.")


def merge(shipped, site=None, site_source="site rules"):
    """Build a RuleTable from the shipped document and an optional site override document."""
    merged = {code: dict(fields) for code, fields in shipped.items()}
    for code, fields in (site or {}).items():
        if not isinstance(fields, dict):
            raise RulesError(f"{site_source}: [{code}] must be a table of keys.")
        fields = {RENAMED.get(key, key): value for key, value in fields.items()}
        _check_entry(code, fields, site_source)
        merged.setdefault(code, {}).update(fields)
    rules = {}
    for code, fields in merged.items():
        missing = [k for k in ("name", "model", "citation") if k not in fields]
        if missing:
            raise RulesError(f"{site_source}: new entry [{code}] needs {', '.join(missing)}.")
        rules[code] = Rule(code=code, notice=fields.get("notice", True),
                           members=tuple(fields.get("members", ())),
                           **{k: v for k, v in fields.items() if k not in ("notice", "members")})
    return RuleTable(rules)


def read_toml(path):
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise RulesError(f"Rules file {path} does not exist; fix rules_file in the config.")
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"Rules file {path} is not valid TOML ({error}).")


def load_rules(site_path=None):
    site = read_toml(site_path) if site_path else None
    return merge(read_toml(SHIPPED_PATH), site, str(site_path))
