"""Caller ID → where the number was issued: a country and, for +1 numbers, a state or province.

Lean on purpose (classic AGI imports it): phonenumbers' core metadata plus the generated
`data/nanp.json`, never the 100 MB geocoder. The answer is where the number block was issued,
not where the caller stands; anything that cannot be placed stays unknown, never guessed.
"""

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberType

WITHHELD = {"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld",
            "blocked", "unknown caller", "asterisk"}
GEOGRAPHIC = {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE,
              PhoneNumberType.FIXED_LINE_OR_MOBILE}
NANP_TERRITORIES = {"PR", "GU", "VI", "MP", "AS"}  # phonenumbers reports these as countries
NANP_COUNTRIES = {"US", "CA"}
_FORMATTING = re.compile(r"[\s\-.()/]")
_DIGITS = re.compile(r"\+?\d{3,17}")
_TABLE_PATH = Path(__file__).parent / "data" / "nanp.json"


@dataclass(frozen=True)
class Location:
    """Where a number points: `country` None means unknown; `subdivisions` holds candidates."""

    country: str | None
    subdivisions: tuple = ()
    e164: str | None = None
    note: str = ""

    @property
    def known(self):
        return self.country is not None


def unknown(note, e164=None):
    return Location(None, (), e164, note)


@lru_cache(maxsize=1)
def nanp_prefixes():
    return json.loads(_TABLE_PATH.read_text())["prefixes"]


def nanp_subdivisions(national):
    """Longest-prefix match of a 10-digit NANP national number in the generated table."""
    table = nanp_prefixes()
    for length in range(min(len(national), 7), 2, -1):
        codes = table.get(national[:length])
        if codes:
            return tuple(codes)
    return ()


def to_e164_candidate(raw, home_country=None):
    """Turn Asterisk's raw caller ID into something phonenumbers can parse, or None.

    `home_country` is the trunk's country, used for national-format numbers; without one,
    10 digits (or 11 starting with 1) are read as NANP, the common case for Asterisk trunks.
    """
    text = _FORMATTING.sub("", raw)
    if not _DIGITS.fullmatch(text):
        return None, None
    if text.startswith("+"):
        return text, None
    if text.startswith("011"):
        return "+" + text[3:], None
    if text.startswith("00"):
        return "+" + text[2:], None
    if home_country and home_country not in NANP_COUNTRIES | NANP_TERRITORIES:
        return text, home_country
    if len(text) == 10:
        return "+1" + text, None
    if len(text) == 11 and text.startswith("1"):
        return "+" + text, None
    return None, None


def locate(raw, home_country=None):
    """Place a caller ID (E.164 or raw) at a country and, for +1, state/province candidates."""
    raw = (raw or "").strip()
    if raw.lower() in WITHHELD:
        return unknown("caller ID withheld or missing")
    candidate, region = to_e164_candidate(raw, home_country)
    if candidate is None:
        return unknown("caller ID is not a phone number")
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return unknown("caller ID is not a phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        return unknown("not a valid number", e164)
    if phonenumbers.number_type(number) not in GEOGRAPHIC:
        return unknown("toll-free or non-geographic number", e164)
    country = phonenumbers.region_code_for_number(number)
    if country in NANP_TERRITORIES:
        return Location("US", (f"US-{country}",), e164)
    if country in NANP_COUNTRIES:
        national = str(number.national_number)
        return Location(country, nanp_subdivisions(national), e164)
    if not country or country == "001":
        return unknown("number has no country", e164)
    return Location(country, (), e164)
