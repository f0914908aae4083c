"""The shipped dialplan and the code agree on the contract's names."""

from pathlib import Path

from agi_consent.core import contract as variables

CONF = Path(__file__).resolve().parent.parent / "asterisk-conf"


def test_gate_sets_and_documents_every_contract_variable():
    gate = (CONF / "extensions-agi-consent.conf").read_text()
    for name in variables.ALL:
        assert name in gate, f"{name} is not documented in the consent gate"
    for value in variables.RESULTS:
        assert value in gate, f"result {value} is not documented in the consent gate"
    assert f"/{variables.ROUTE}" in gate
    for argument in variables.ARGUMENTS:
        assert f"{argument}=${{ARG" in gate


def test_gate_fails_closed_on_agistatus():
    gate = (CONF / "extensions-agi-consent.conf").read_text()
    assert '"${AGISTATUS}" != "SUCCESS"' in gate and "Set(CONSENT_RESULT=error)" in gate
    assert '"${CONSENT_RESULT}" = ""' in gate  # no answer from the plugin is an error
    assert "Set(CONSENT_RECORDING=)" in gate


def test_gate_stops_the_recorder_unless_granted_or_notified():
    gate = (CONF / "extensions-agi-consent.conf").read_text()
    lines = [line for line in gate.splitlines() if line.startswith((" same", "exten"))]
    stop = next(n for n, line in enumerate(lines) if "StopMixMonitor(${CONSENT_MIXMON_ID})" in line)
    skip = next(n for n, line in enumerate(lines) if "?done)" in line)
    assert '"granted"' in lines[skip] and '"notified"' in lines[skip] and skip < stop
    assert lines.index(" same => n,Set(CONSENT_MIXMON_ID=)") < next(
        n for n, line in enumerate(lines) if "AGI(" in line)  # no stale ID from earlier


def test_every_shipped_file_states_its_contract():
    for path in CONF.glob("*.conf"):
        header = path.read_text().splitlines()[:12]
        assert any("Contract" in line or "contract" in line for line in header), path.name


def test_ami_user_is_least_privilege_and_has_no_secret():
    manager = (CONF / "manager-agi-consent.conf").read_text()
    settings = dict(line.split("=", 1) for line in manager.splitlines()
                    if "=" in line and not line.startswith(";"))
    settings = {k.strip(): v.strip() for k, v in settings.items()}
    assert settings["read"] == "call" and settings["write"] == "call"
    assert settings["permit"].startswith("127.0.0.1") and "secret" not in settings


def test_module_list_has_a_timing_source():
    modules = (CONF / "modules-agi-consent.conf").read_text()
    for module in ("res_agi", "app_mixmonitor", "res_timing_timerfd", "format_wav",
                   "codec_resample", "app_stack", "app_exec"):
        assert f"load => {module}.so" in modules
