"""Shared fixtures: a clean environment and a config whose log and prompts live in tmp_path."""

import os
import wave

import pytest

from agi_consent import config as config_module
from agi_consent.call.prompts import NAMES, SPEECH_NAMES
from agi_consent.store import schema as store

LANGUAGES = ("en", "fr")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    monkeypatch.delenv(config_module.ENV_VAR, raising=False)


def write_wav(path, seconds=0.5, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\x10\x00\x00\x01" * int(seconds * rate / 2))


@pytest.fixture
def prompt_dir(tmp_path):
    root = tmp_path / "prompts"
    for language in LANGUAGES:
        for name in NAMES + (SPEECH_NAMES if language == "en" else ()):
            write_wav(root / language / f"{name}.wav")
            (root / language / f"{name}.sln16").write_bytes(b"\x00\x01" * 8000)
            (root / language / f"{name}.txt").write_text(f"{language} {name}\n")
    return root


@pytest.fixture
def make_config(tmp_path, prompt_dir):
    def build(**overrides):
        document = {"database": str(tmp_path / "log" / "consent.db"),
                    "default_region": "US-NY",
                    "prompts": {"directory": str(prompt_dir)},
                    "recording": {"directory": str(tmp_path / "recordings")},
                    "speech": {"enabled": True},  # off by default; these tests cover it
                    "server": {"host": "127.0.0.1", "port": 0, "env_timeout": 2.0,
                               "command_timeout": 2.0}}
        for key, value in overrides.items():
            if isinstance(value, dict):
                document.setdefault(key, {}).update(value)
            else:
                document[key] = value
        loaded = config_module.parse(document, "test config")
        store.open_db(loaded.database)
        return loaded
    return build


@pytest.fixture
def db_rows():
    def rows(config, call_id=None):
        db = store.open_db(config.database)
        calls = store.recent_calls(db, 1000)
        if call_id is None:
            return calls
        return store.get_call(db, call_id), store.call_events(db, call_id)
    return rows


@pytest.fixture(scope="session")
def running_lab():
    """Asterisk 22 in the lab chroot plus `agi-consent serve`; the AMI secret.

    Never skipped: if the lab cannot start, LabError says why and every lab test fails.
    """
    from lab import asterisk as lab

    _, secret = lab.start_asterisk()
    try:
        lab.start_server()
        yield secret
    finally:
        lab.stop()


def pytest_report_header(config):
    return f"agi-consent tests as uid {os.geteuid()}"
