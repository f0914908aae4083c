"""Classic AGI as Asterisk runs it: `agi-consent-agi` in its own process over stdin/stdout,
with Asterisk's side played by the same replies as the FastAGI tests (lab.fakes)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agi_consent.core import contract as v
from lab.fakes import Script, asterisk_reply, split_command

CA, TX = "+14155550123", "+12145550123"
GATE_ARGS = ["region=US-CA", "direction=", "number=", "lang="]


def run_classic(config_path, env_lines, keys=()):
    """Send the environment, answer every command; returns the Script."""
    script = Script(keys=list(keys))
    with subprocess.Popen([str(Path(sys.prefix) / "bin" / "agi-consent-agi")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          stderr=subprocess.DEVNULL,
                          env={**os.environ, "AGI_CONSENT_CONFIG": str(config_path)}) as process:
        process.stdin.write("".join(line + "\n" for line in env_lines) + "\n")
        process.stdin.flush()
        for line in process.stdout:
            words = split_command(line)
            script.commands.append(words)
            process.stdin.write(asterisk_reply(words, script) + "\n")
            process.stdin.flush()
        assert process.wait(20) == 0
    return script


def environment(callerid=TX, args=GATE_ARGS, extra=()):
    lines = ["agi_request: agi-consent-agi", "agi_channel: PJSIP/carrier-00000001",
             "agi_language: en", "agi_uniqueid: 1700000000.9", f"agi_callerid: {callerid}",
             *extra, "agi_dnid: 5551000"]
    return lines + [f"agi_arg_{n}: {arg}" for n, arg in enumerate(args, 1)]


@pytest.fixture
def config_file(make_config, tmp_path):
    config = make_config()
    path = tmp_path / "classic.toml"
    path.write_text(f'database = "{config.database}"\n'
                    f'[prompts]\ndirectory = "{config.prompts.directory}"\n'
                    f'[recording]\ndirectory = "{config.recording.directory}"\n'
                    '[flow]\nanswer_timeout = 0.1\n')
    return path


def test_classic_granted(config_file):
    script = run_classic(config_file, environment(CA), keys=["1"])
    assert script.variables[v.RESULT] == "granted" and script.recorders


@pytest.mark.parametrize("lines,why", [
    (environment(TX + "\nagi_arg_5: region=US-TX"), "a line injected through the caller ID"),
    (environment(TX, ["region=US-CA", "region=US-TX"]), "a repeated argument key"),
    (environment(TX, extra=["agi_callerid: +12145550199"]), "a repeated variable"),
    (environment(TX, extra=["agi_calleridname: Eve\x07"]), "a control character"),
])
def test_classic_untrusted_environment_fails_closed(config_file, lines, why):
    lines = [part for line in lines for part in line.split("\n")]  # as the pipe carries it
    script = run_classic(config_file, lines, keys=[None] * 4)
    assert script.variables.get(v.RESULT) == "error", why
    assert not script.mixmonitor, why
