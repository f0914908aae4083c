"""The wheel is the product: built from the sdist, installed into a fresh virtualenv, run from
outside the checkout. And the shipped systemd unit is one systemd accepts."""

import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "agi-consent.service"


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """sdist and wheel, the wheel built from the sdist (so the sdist must carry the audio)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def installed(dist, tmp_path_factory):
    """A fresh virtualenv with only the wheel (and its dependencies) installed."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    wheel = next(dist.glob("*.whl"))
    subprocess.run([str(home / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
                   capture_output=True)
    return home


def run_installed(home, *args, cwd):
    env = {"PATH": f"{home / 'bin'}:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run([str(home / "bin" / args[0]), *args[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_wheel_holds_the_product_and_nothing_of_the_lab(dist):
    names = zipfile.ZipFile(next(dist.glob("*.whl"))).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops <= {"agi_consent"} | {n for n in tops if n.startswith("agi_consent-")}
    assert not [n for n in names if re.search(r"(lab|labcalls|testing|prompt_build|nanp_table)"
                                              r"\.py$", n)]
    data = [n for n in names if "/data/share/agi-consent/" in n]
    for language in ("en", "es", "fr", "de"):
        for extension in ("txt", "wav", "sln16"):
            assert any(n.endswith(f"prompts/{language}/consent-request.{extension}")
                       for n in data), (language, extension)
    assert any(n.endswith("systemd/agi-consent.service") for n in data)
    assert any(n.endswith("core/data/rules.toml") for n in names)


def test_installed_wheel_finds_its_prompts_and_decides(installed, tmp_path):
    check = run_installed(installed, "agi-consent", "prompts", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    decide = run_installed(installed, "agi-consent", "decide", "+14155550123", "--region",
                           "US-NY", cwd=tmp_path)
    assert decide.returncode == 0 and decide.stdout.startswith("all-party (governing: US-CA")
    preflight = tmp_path / "site.toml"
    preflight.write_text(f'database = "{tmp_path}/log/consent.db"\n'
                         f'[recording]\ndirectory = "{tmp_path}/spool"\n')
    ready = run_installed(installed, "agi-consent", "--config", str(preflight), "serve",
                          "--check", cwd=tmp_path)
    assert ready.returncode == 0, ready.stderr
    lab = subprocess.run([str(installed / "bin" / "python"), "-c", "import lab"], cwd=tmp_path,
                         capture_output=True)
    assert lab.returncode != 0  # the lab stays in the checkout


def test_systemd_accepts_the_unit(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing; run 'make deps' (apt-get install systemd).")
    executable = Path(sys.prefix) / "bin" / "agi-consent"
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/agi-consent/bin/agi-consent",
                                             str(executable)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if unit.name in line]
    assert result.returncode == 0 and not problems, problems


def test_unit_is_hardened_and_handles_sigterm_as_documented():
    settings = dict(line.split("=", 1) for line in UNIT.read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["ProtectSystem"] == "strict" and settings["NoNewPrivileges"] == "yes"
    assert settings["User"] == "agi-consent" and settings["Restart"] == "on-failure"
    assert "/var/spool/asterisk/monitor/consent" in settings["ReadWritePaths"]
    assert settings["KillSignal"] == "SIGTERM" and "--grace" in settings["ExecStart"]
    assert settings["RestartPreventExitStatus"] == "2"  # a refused preflight does not loop
