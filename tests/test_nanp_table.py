"""The shipped +1 table must match the installed phonenumbers geocoder."""

import json

from tools import nanp_table
from tools.nanp_table import subdivisions_for


def test_shipped_table_matches_installed_phonenumbers():
    table, _ = nanp_table.build_table()
    shipped = json.loads(nanp_table.TABLE_PATH.read_text())["prefixes"]
    assert shipped == table, "run 'make nanp-table' after upgrading phonenumbers"


def test_only_known_descriptions_name_no_state():
    _, unparsed = nanp_table.build_table()
    us_canada = [(p, d) for p, d in unparsed if json.loads(
        nanp_table.TABLE_PATH.read_text())["prefixes"].get(p[1:4])]
    assert us_canada == [("1867536", "Watson Lake")]


def test_description_parsing():
    assert subdivisions_for("San Francisco, CA") == ("US-CA",)
    assert subdivisions_for("New York") == ("US-NY",)
    assert subdivisions_for("New York, NY") == ("US-NY",)
    assert subdivisions_for("Toronto, ON") == ("CA-ON",)
    assert subdivisions_for("Washington State") == ("US-WA",)
    assert subdivisions_for("Washington D.C.") == ("US-DC",)
    assert subdivisions_for("British Colombia") == ("CA-BC",)
    assert subdivisions_for("Nova Scotia/Prince Edward Island") == ("CA-NS", "CA-PE")
    assert subdivisions_for("Washington") == ()
    assert subdivisions_for("Watson Lake") == ()
    assert subdivisions_for("Nowhere, ZZ") == ()
