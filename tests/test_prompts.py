"""Prompts: lookup and fallback, language choice, traversal refused, import of every format,
levels and anti-aliasing, atomic replace, history and the change log, list/check/install."""

import os
import subprocess
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from agi_consent.admin import prompts as prompt_admin
from agi_consent.admin.audio import decode
from agi_consent.call.prompts import (
    PromptMissing,
    choose_language,
    region_chain,
    resolve,
    sha256_file,
)
from agi_consent.cli import main
from agi_consent.store import schema as store

from .conftest import write_wav


def speech(path, seconds=1.5, rate=16000, extra=()):
    """A spoken-like test signal: a tone burst between silences, in any format sox writes."""
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", "1", *extra, str(path), "synth",
                    str(seconds), "sine", "440", "vol", "0.3", "pad", "0.4", "0.6"], check=True)
    return path


@pytest.fixture
def config(make_config):
    return make_config(default_region="US-NY")


@pytest.fixture
def db(config):
    return store.open_db(config.database)


def tree_state(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in Path(root).rglob("*") if p.is_file())


# lookup -------------------------------------------------------------------------------------

@pytest.mark.parametrize("region,chain", [("US-CA", ["US-CA", "US", None]), ("DE", ["DE", None]),
                                          (None, [None]), ("../x", [None]), ("", [None])])
def test_region_chain(region, chain):
    assert region_chain(region) == chain


@pytest.mark.parametrize("arg,channel,region,expected", [
    ("de", "fr", "US-CA", "de"), (None, "fr", "US-CA", "fr"), (None, "", "CA-QC", "fr"),
    (None, None, "MX", "es"), (None, None, "ES", "es"), (None, None, "US-PR", "es"),
    (None, None, "DE", "de"), (None, None, "FR", "fr"), (None, None, "US-NY", "en"),
    (None, None, None, "en"), ("../../etc", None, None, "en"), ("en_US", None, None, "en"),
    (None, "en", "CA-QC", "fr"),  # Asterisk's default channel language is not a choice
    ("en", "en", "CA-QC", "en"),
])
def test_language_choice(arg, channel, region, expected):
    assert choose_language(arg, channel, region) == expected


def test_fallback_region_country_default(config, prompt_dir):
    assert resolve(config, "consent-request", "en", "US-CA").region is None
    write_wav(prompt_dir / "en" / "US" / "consent-request.wav")
    assert resolve(config, "consent-request", "en", "US-CA").region == "US"
    write_wav(prompt_dir / "en" / "US-CA" / "consent-request.wav")
    chosen = resolve(config, "consent-request", "en", "US-CA")
    assert chosen.region == "US-CA" and chosen.path.endswith("/en/US-CA/consent-request")
    assert resolve(config, "consent-request", "en", "US-NY").region == "US"


@pytest.mark.parametrize("name,language", [("../../etc/passwd", "en"), ("/etc/passwd", "en"),
                                           ("consent-request", "../en"),
                                           ("consent-request", "/en"),
                                           ("consent-request", "e\u0301n"),
                                           ("consent\u2024request", "en"),
                                           ("consent-request", "EN/..")])
def test_traversal_is_refused_at_lookup(config, name, language):
    with pytest.raises(PromptMissing):
        resolve(config, name, language)


@pytest.mark.parametrize("language,region", [("../x", None), ("en", "../../etc"),
                                             ("en", "/tmp"), ("en", "US-CA/.."),
                                             ("é", None), ("en", "ＵＳ-CA")])
def test_traversal_is_refused_at_import(config, db, tmp_path, language, region):
    with pytest.raises(prompt_admin.PromptError):
        prompt_admin.import_prompt(config, db, speech(tmp_path / "a.wav"), "sorry", language,
                                   region, text="x")


def test_unknown_name_refused(config, db, tmp_path):
    with pytest.raises(prompt_admin.PromptError, match="not a prompt name"):
        prompt_admin.import_prompt(config, db, speech(tmp_path / "a.wav"), "../sorry", "en",
                                   text="x")


# conversion ---------------------------------------------------------------------------------

FORMATS = {
    "wav8k16": ("a.wav", 8000, ["-b", "16"]), "wav44k8": ("a.wav", 44100, ["-b", "8"]),
    "wav48k24": ("a.wav", 48000, ["-b", "24"]), "wav16k32": ("a.wav", 16000, ["-b", "32"]),
    "wavfloat": ("a.wav", 22050, ["-e", "floating-point", "-b", "32"]),
    "flac": ("a.flac", 44100, []), "ogg": ("a.ogg", 48000, []),
}


@pytest.mark.parametrize("kind", [*FORMATS, "mp3"])
def test_import_every_format(config, db, tmp_path, prompt_dir, kind):
    if kind == "mp3":
        source = tmp_path / "a.mp3"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech(tmp_path / "s.wav")),
                        str(source)], check=True)
    else:
        name, rate, extra = FORMATS[kind]
        source = speech(tmp_path / name, rate=rate, extra=extra)
    result = prompt_admin.import_prompt(config, db, source, "sorry", "en", text="Sorry.")
    with wave.open(str(result.path)) as audio:
        assert (audio.getframerate(), audio.getsampwidth(), audio.getnchannels()) == (8000, 2, 1)
        frames = audio.getnframes()
    assert 1.3 < frames / 8000 < 1.7  # 0.4 s + 0.6 s of silence trimmed from 2.5 s
    wide = (prompt_dir / "en" / "sorry.sln16").stat().st_size
    assert abs(wide - frames * 4) <= 64  # 16 kHz, 16-bit: twice the samples


def test_float_wav_levels_are_read_correctly(tmp_path):
    source = tmp_path / "float.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-e", "floating-point", "-b", "32",
                    str(source), "synth", "1", "sine", "440", "vol", "0.5"], check=True)
    assert decode(source, 8000).max_dBFS == pytest.approx(-6.0, abs=0.3)


def test_6khz_tone_is_removed_by_8khz_conversion(tmp_path):
    source = tmp_path / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(source), "synth",
                    "2", "sine", "6000", "vol", "0.5"], check=True)
    converted = decode(source, 8000)
    middle = converted[200:1800]  # leave out the filter's onset and tail
    assert middle.dBFS < -50, f"aliased tone survived at {middle.dBFS:.1f} dBFS"


def test_loudness_is_normalised_without_clipping(config, db, tmp_path):
    quiet = speech(tmp_path / "quiet.wav", extra=["-b", "16"])
    subprocess.run(["sox", str(quiet), str(tmp_path / "q.wav"), "vol", "0.05"], check=True)
    result = prompt_admin.import_prompt(config, db, tmp_path / "q.wav", "sorry", "en",
                                        text="Sorry.")
    level = decode(result.path, 8000)
    assert level.dBFS == pytest.approx(-20, abs=1.5) and level.max_dBFS <= -0.9


# replacing ----------------------------------------------------------------------------------

def test_atomic_replace_while_a_reader_holds_the_old_file(config, db, tmp_path, prompt_dir):
    target = prompt_dir / "en" / "sorry.wav"
    old_bytes = target.read_bytes()
    with open(target, "rb") as reader:  # a live call playing the old prompt
        first = reader.read(100)
        prompt_admin.import_prompt(config, db, speech(tmp_path / "n.wav"), "sorry", "en",
                                   text="Sorry, again.")
        rest = reader.read()
    assert first + rest == old_bytes, "the reader finished the old file intact"
    assert target.read_bytes() != old_bytes
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".sorry")]


def test_replace_keeps_history_and_logs_the_change(config, db, tmp_path, prompt_dir):
    old = resolve(config, "sorry", "en").sha256
    result = prompt_admin.import_prompt(config, db, speech(tmp_path / "n.wav"), "sorry", "en",
                                        text="Sorry, please try again.", who="alice")
    history = sorted(p.name for p in (prompt_dir / "en" / ".history").iterdir())
    assert any(n.startswith("sorry.") and n.endswith(".wav") for n in history)
    assert any(n.endswith(".txt") for n in history)
    change = store.prompt_changes(db)[0]
    assert (change["who"], change["old_sha256"], change["new_sha256"]) == (
        "alice", old, result.new_sha256)
    assert change["text"] == "Sorry, please try again."
    assert resolve(config, "sorry", "en").sha256 == result.new_sha256


def test_new_override_needs_text(config, db, tmp_path):
    with pytest.raises(prompt_admin.PromptError, match="--text"):
        prompt_admin.import_prompt(config, db, speech(tmp_path / "a.wav"), "sorry", "en",
                                   "US-CA")


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_text("hello, not audio"), "not audio"),
    (lambda p: p.write_bytes(b""), "not audio"),
    (lambda p: subprocess.run(["sox", "-n", "-r", "8000", "-b", "16", str(p), "trim", "0",
                               "2"], check=True), "silent"),
    (lambda p: subprocess.run(["sox", "-n", "-r", "8000", "-b", "16", str(p), "synth", "70",
                               "sine", "300", "vol", "0.3"], check=True), "long"),
    (lambda p: None, "does not exist"),
])
def test_bad_files_are_refused_and_nothing_changes(config, db, tmp_path, prompt_dir, make,
                                                   message):
    source = tmp_path / "bad.wav"
    make(source)
    before = tree_state(prompt_dir)
    with pytest.raises(prompt_admin.PromptError, match=message):
        prompt_admin.import_prompt(config, db, source, "sorry", "en", text="x")
    assert tree_state(prompt_dir) == before and store.prompt_changes(db) == []


# CLI ------------------------------------------------------------------------------------------

@pytest.fixture
def cli(config, tmp_path, monkeypatch):
    path = tmp_path / "cli.toml"
    path.write_text(f'database = "{config.database}"\ndefault_region = "US-NY"\n'
                    f'[prompts]\ndirectory = "{config.prompts.directory}"\n'
                    'languages = ["en", "fr"]\n')
    monkeypatch.setenv("AGI_CONSENT_CONFIG", str(path))
    return CliRunner()


def test_cli_import_list_check(cli, tmp_path, prompt_dir):
    result = cli.invoke(main, ["prompts", "import", str(speech(tmp_path / "a.wav")), "--name",
                               "consent-request", "--lang", "en", "--region", "US-CA",
                               "--text", "California wording."])
    assert result.exit_code == 0, result.output
    listing = cli.invoke(main, ["prompts", "list"]).output.splitlines()
    row = [line for line in listing if line.startswith("US-CA") and "consent-request" in line]
    assert row and "site" in row[0] and "/en/US-CA/.versions/consent-request-" in row[0]
    assert cli.invoke(main, ["prompts", "check"]).exit_code == 0


def test_an_import_is_one_new_version_and_the_old_stays_playable(cli, tmp_path, prompt_dir,
                                                                  make_config):
    config = make_config()
    arguments = ["prompts", "import", "--name", "notice", "--lang", "en", "--text"]
    assert cli.invoke(main, [arguments[0], arguments[1], str(speech(tmp_path / "a.wav")),
                             *arguments[2:], "First wording."]).exit_code == 0
    first = resolve(config, "notice", "en")
    assert cli.invoke(main, [arguments[0], arguments[1], str(speech(tmp_path / "b.wav", 3)),
                             *arguments[2:], "Second wording."]).exit_code == 0
    second = resolve(config, "notice", "en")
    assert first.version != second.version and second.text == "Second wording."
    assert set(second.files) == {"wav", "sln16", "txt"}  # every format, and the text
    for version in (first, second):  # a call still playing the first hears exactly it
        for fmt, digest in version.files.items():
            assert sha256_file(f"{version.path}.{fmt}") == digest
    assert (prompt_dir / "en" / "notice.txt").read_text().strip() == "Second wording."


def test_cli_check_names_every_problem(cli, prompt_dir):
    (prompt_dir / "fr" / "sorry.wav").unlink()
    (prompt_dir / "en" / "notice.wav").write_bytes(b"broken")
    result = cli.invoke(main, ["prompts", "check"])
    assert result.exit_code == 1
    assert "fr/sorry" in result.output and "notice.wav" in result.output


def test_cli_import_from_dir_with_progress(cli, tmp_path, prompt_dir):
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("sorry", "declined"):
        speech(folder / f"{name}.flac")
        (folder / f"{name}.txt").write_text(f"{name} text")
    result = cli.invoke(main, ["prompts", "import", "--from-dir", str(folder), "--lang", "fr",
                               "--region", "CA-QC"])
    assert result.exit_code == 0, result.output
    assert (prompt_dir / "fr" / "CA-QC" / "sorry.wav").exists()
    assert (prompt_dir / "fr" / "CA-QC" / "declined.txt").read_text().strip() == "declined text"


def test_cli_bad_import_is_one_sentence(cli, tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_text("nope")
    result = cli.invoke(main, ["prompts", "import", str(bad), "--name", "sorry", "--lang", "en",
                               "--text", "x"])
    assert result.exit_code == 2 and "not audio" in result.output
    assert "Traceback" not in result.output


def test_cli_install(cli, tmp_path, prompt_dir):
    (prompt_dir / "en" / ".history").mkdir()
    (prompt_dir / "en" / ".history" / "old.wav").write_bytes(b"x")
    target = tmp_path / "sounds"
    result = cli.invoke(main, ["prompts", "install", "--sounds-dir", str(target)])
    assert result.exit_code == 0
    assert (target / "en" / "consent-request.wav").exists()
    assert not (target / "en" / ".history").exists()
    assert os.path.getsize(target / "fr" / "sorry.txt") > 0
