"""Dependencies point inward: a pure decision core, one module per outside library, and a
classic-AGI path that imports nothing heavy."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "agi_consent"


def imports_of(module):
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." if node.level else node.module.split(".")[0])
    return names


def test_decision_core_is_pure():
    assert imports_of("decision") <= {"dataclasses"}


def test_one_module_per_outside_library():
    owners = {"click": {"cli"}, "sqlite_utils": {"store"}, "pydub": {"audio"},
              "asterisk": {"classic"}, "panoramisk": {"labcalls"}}
    for library, allowed in owners.items():
        users = {p.stem for p in PACKAGE.glob("*.py") if library in imports_of(p.stem)}
        assert users <= allowed, f"{library} imported by {users - allowed}"


def test_classic_agi_path_stays_lean():
    probe = ("import sys, agi_consent.classic as c; c.build_services; "
             "import agi_consent.flow, agi_consent.engine, agi_consent.ledger, "
             "agi_consent.config; "
             "heavy = [m for m in ('sqlite_utils', 'click', 'pydub', 'panoramisk', "
             "'phonenumbers.geocoder', 'pocketsphinx') if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
