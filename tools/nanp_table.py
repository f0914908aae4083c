"""Build the compact NANP prefix → state/province table from phonenumbers' geocoder.

The geocoder costs ~0.4 s and ~100 MB to import, too much for a classic-AGI process, so the
lean path reads `data/nanp.json` instead. This module regenerates that file (`make nanp-table`)
and the test suite checks the shipped file still matches the installed phonenumbers.
"""

import json
import re
from pathlib import Path

TABLE_PATH = Path(__file__).resolve().parent.parent / "agi_consent" / "core" / "data" / "nanp.json"

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Washington D.C.": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington State": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
    "U.S. Virgin Islands": "VI",
}
CA_PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC",  # sic: typo in the data
    "Manitoba": "MB", "New Brunswick": "NB", "Newfoundland and Labrador": "NL",
    "Newfoundland": "NL", "Nova Scotia": "NS", "Northwest Territories": "NT", "Nunavut": "NU",
    "Ontario": "ON", "Prince Edward Island": "PE", "Quebec": "QC", "Saskatchewan": "SK",
    "Yukon": "YT",
}
_ABBREVIATIONS = {**{v: f"US-{v}" for v in US_STATES.values()},
                  **{v: f"CA-{v}" for v in CA_PROVINCES.values()}}
_SUFFIX = re.compile(r",\s*([A-Z]{2})$")


def subdivisions_for(description):
    """ISO 3166-2 codes a geocoder description names, or () when it names none.

    "City, ST" suffixes come first ("New York, NY" is a city, "New York" a state); combined
    entries like "Nova Scotia/Prince Edward Island" give every candidate.
    """
    suffix = _SUFFIX.search(description)
    if suffix:
        code = _ABBREVIATIONS.get(suffix.group(1))
        return (code,) if code else ()
    codes = []
    for part in description.split("/"):
        part = part.strip()
        if part in US_STATES:
            codes.append(f"US-{US_STATES[part]}")
        elif part in CA_PROVINCES:
            codes.append(f"CA-{CA_PROVINCES[part]}")
        else:
            return ()
    return tuple(sorted(set(codes)))


def build_table():
    """Map digit prefixes after the +1 to subdivision lists; returns (table, unparsed)."""
    from phonenumbers.geodata import GEOCODE_DATA  # heavy: only when regenerating

    by_npa, unparsed = {}, []
    for prefix, names in GEOCODE_DATA.items():
        if not prefix.startswith("1") or len(prefix) < 4:
            continue
        description = names.get("en", "")
        codes = subdivisions_for(description)
        if not codes:
            unparsed.append((prefix, description))
            continue
        by_npa.setdefault(prefix[1:4], {})[prefix[1:]] = codes
    table = {}
    for npa, entries in by_npa.items():
        base = entries.get(npa) or tuple(sorted({c for codes in entries.values() for c in codes}))
        table[npa] = list(base)
        for prefix, codes in entries.items():
            if prefix != npa and codes != base:
                table[prefix] = list(codes)
    return dict(sorted(table.items())), sorted(unparsed)


def write_table(path=TABLE_PATH):
    import phonenumbers

    table, unparsed = build_table()
    document = {"phonenumbers": phonenumbers.__version__, "prefixes": table}
    Path(path).write_text(json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n")
    return len(table), unparsed


if __name__ == "__main__":
    count, skipped = write_table()
    print(f"wrote {count} prefixes to {TABLE_PATH} ({len(skipped)} descriptions name no state)")
