"""Caller ID → jurisdiction, table-driven: every US state + DC, every Canadian province and
territory, the phonenumbers quirks, international numbers and every kind of unknown input."""

import pytest

from agi_consent.core.numbering import locate

US_AREA_CODES = {
    "AL": "205", "AK": "907", "AZ": "602", "AR": "501", "CA": "415", "CO": "303", "CT": "203",
    "DE": "302", "DC": "202", "FL": "305", "GA": "404", "HI": "808", "ID": "208", "IL": "312",
    "IN": "317", "IA": "515", "KS": "316", "KY": "502", "LA": "504", "ME": "207", "MD": "410",
    "MA": "617", "MI": "313", "MN": "612", "MS": "601", "MO": "314", "MT": "406", "NE": "402",
    "NV": "702", "NH": "603", "NJ": "201", "NM": "505", "NY": "212", "NC": "704", "ND": "701",
    "OH": "216", "OK": "405", "OR": "503", "PA": "215", "RI": "401", "SC": "803", "SD": "605",
    "TN": "615", "TX": "214", "UT": "801", "VT": "802", "VA": "804", "WA": "206", "WV": "304",
    "WI": "414", "WY": "307",
}

CANADA = {  # one real exchange each; 902 and 867 need the exchange to tell provinces apart
    "AB": "4032621234", "BC": "6045550199", "MB": "2045550199", "NB": "5065550199",
    "NL": "7095550199", "NS": "9024251234", "PE": "9023681234", "ON": "4165550199",
    "QC": "5145550199", "SK": "3065550199", "YT": "8676671234", "NT": "8678731234",
    "NU": "8679791234",
}


def test_every_us_state_and_dc_is_covered():
    assert len(US_AREA_CODES) == 51


@pytest.mark.parametrize("state,npa", sorted(US_AREA_CODES.items()))
def test_us_state_from_area_code(state, npa):
    location = locate(f"+1{npa}5550123")
    assert (location.country, location.subdivisions) == ("US", (f"US-{state}",))


@pytest.mark.parametrize("province,number", sorted(CANADA.items()))
def test_canadian_province_from_number(province, number):
    location = locate("+1" + number)
    assert (location.country, location.subdivisions) == ("CA", (f"CA-{province}",))


@pytest.mark.parametrize("raw", ["2125550123", "12125550123", "+12125550123", "+1 (212) 555-0123",
                                 "212.555.0123", "0112125550123"[2:], "0012125550123"])
def test_raw_asterisk_caller_id_forms(raw):
    assert locate(raw).subdivisions == ("US-NY",)


@pytest.mark.parametrize("raw,expected", [
    ("+12065550100", ("US-WA",)),  # "Washington State" in the data
    ("+12025550100", ("US-DC",)),  # "Washington D.C."
    ("+12575550100", ("CA-BC",)),  # "British Colombia" (sic)
    ("+19025550100", ("CA-NS", "CA-PE")),  # combined entry, exchange not listed
    ("+18675550100", ("CA-NT", "CA-NU", "CA-YT")),  # combined entry
    ("+18675361234", ("CA-NT", "CA-NU", "CA-YT")),  # "Watson Lake": no province named
    ("+12125550123", ("US-NY",)),  # "New York, NY" is a city: suffix wins
    ("+12016311234", ("US-NY",)),  # 201-631 geocodes to New York though 201 is NJ
    ("+14155551234", ("US-CA",)),  # California the state, not CA the country
])
def test_geocoder_quirks(raw, expected):
    assert locate(raw).subdivisions == expected


def test_canada_is_a_country_not_california():
    location = locate("+14165550199")
    assert location.country == "CA" and location.subdivisions == ("CA-ON",)


@pytest.mark.parametrize("raw,territory", [("+17875550123", "US-PR"), ("+16715550123", "US-GU"),
                                           ("+13405550123", "US-VI"), ("+16705550123", "US-MP")])
def test_us_territories_come_back_as_us_subdivisions(raw, territory):
    location = locate(raw)
    assert (location.country, location.subdivisions) == ("US", (territory,))


@pytest.mark.parametrize("raw,country", [
    ("+441212345678", "GB"), ("+447400123456", "GB"), ("+35312345678", "IE"),
    ("+4930123456", "DE"), ("+4915123456789", "DE"), ("+33142345678", "FR"),
    ("+34912345678", "ES"), ("+390612345678", "IT"), ("+31201234567", "NL"),
    ("+61212345678", "AU"), ("+61412345678", "AU"), ("+6432345678", "NZ"),
    ("+911123456789", "IN"), ("+525512345678", "MX"), ("+551123456789", "BR"),
    ("+63232345678", "PH"), ("+27211234567", "ZA"), ("+81312345678", "JP"),
    ("+6561234567", "SG"), ("004930123456", "DE"), ("0114930123456", "DE"),
])
def test_international_numbers(raw, country):
    location = locate(raw)
    assert location.country == country and location.subdivisions == ()


def test_national_number_uses_trunk_country():
    assert locate("030 123456", home_country="DE").country == "DE"
    assert not locate("030 123456").known  # no trunk country: never guessed


@pytest.mark.parametrize("raw", [
    "", "   ", None, "anonymous", "Anonymous", "unknown", "Restricted", "PRIVATE", "unavailable",
    "garbage", "12ab34", "+", "123", "+1800555123", "sip:alice@example.com", "1;DROP TABLE",
    "+18005551234", "+18885551234", "+19005551234", "+15005551234", "+16005551234",
    "+2025550199", "99999999999999999999", "\u0661\u0662\u0663",  # arabic-indic digits
])
def test_unknown_inputs_stay_unknown(raw):
    location = locate(raw)
    assert not location.known and location.subdivisions == ()
    assert location.note
