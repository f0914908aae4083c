"""Which prompt file a caller hears: lookup by language and region, plus its evidence.

Layout: `<dir>/<lang>/<name>.{wav,sln16,txt}`, region overrides in `<dir>/<lang>/<REGION>/`.
Lookup goes region (US-CA) → country (US) → language default. The `.txt` beside each file is
what it says, kept as evidence. Every value that becomes part of a path is validated, so
nothing from a call or an admin can point outside the prompts tree.
"""

import hashlib
import json
import os
import re
import wave
from dataclasses import dataclass
from functools import lru_cache

from ..config import local_path
from ..core.rules import normalise_code

NAMES = ("consent-request", "notice", "notice-opt-out", "sorry", "consent-confirmed",
         "declined", "consent-withdrawn")
SPEECH_NAMES = ("consent-request-speech", "consent-confirm-speech")  # only for languages
# that take spoken answers
AUDIO_EXTENSIONS = ("wav", "sln16")
REGION_LANGUAGES = {"CA-QC": "fr", "MX": "es", "ES": "es", "US-PR": "es", "DE": "de",
                    "AT": "de", "FR": "fr", "BE": "fr", "CH": "de"}
_LANG = re.compile(r"^[a-z]{2,3}$")


class PromptMissing(RuntimeError):
    """No playable file for a prompt: the flow fails closed."""


@dataclass(frozen=True)
class Prompt:
    name: str
    language: str
    region: str | None  # the override folder used, None for the language default
    path: str  # as Asterisk sees it, without extension
    sha256: str | None  # of the .wav, None when this process cannot see Asterisk's files
    text: str | None
    seconds: float = 60.0  # playing time; a generous bound when the file is out of sight
    files: dict = None  # SHA-256 of every format Asterisk may pick, and of the text
    version: str | None = None  # the content address of this text + audio, as one version

    def evidence(self):
        return {"name": self.name, "language": self.language, "region": self.region,
                "path": self.path, "sha256": self.sha256, "text": self.text,
                "seconds": round(self.seconds, 2), "files": self.files,
                "version": self.version}


def valid_language(value):
    value = (value or "").strip().lower()
    return value if _LANG.match(value) else None


def choose_language(arg=None, channel=None, region=None, default="en"):
    """`lang=` argument, else the channel's language, else the region's, else the default.

    Asterisk gives every channel a language (`en` unless set), so a channel language equal to
    the default counts as not chosen; pass `lang=${CHANNEL(language)}` to force it.
    """
    chosen = valid_language(arg)
    if chosen:
        return chosen
    channel_language = valid_language(channel)
    if channel_language and channel_language != default:
        return channel_language
    for code in (region, (region or "").partition("-")[0]):
        if code in REGION_LANGUAGES:
            return REGION_LANGUAGES[code]
    return default


def region_chain(region):
    """US-CA → [US-CA, US, None]; None → [None]."""
    code = normalise_code(region) if region else None
    if not code:
        return [None]
    country = code.partition("-")[0]
    return [code, country, None] if country != code else [code, None]


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


FORMATS = ("wav", "sln16", "txt")  # every file of one prompt version
VERSIONS = ".versions"  # <folder>/.versions/<name>-<digest>.<format>: never overwritten


def version_digest(files):
    """The content address of one prompt version: its text and all its audio formats."""
    listing = "".join(f"{fmt}={files.get(fmt) or ''}\n" for fmt in FORMATS)
    return hashlib.sha256(listing.encode()).hexdigest()


def versioned_stem(folder, name, digest):
    return f"{folder}/{VERSIONS}/{name}-{digest[:16]}"


@lru_cache(maxsize=1024)
def _manifest(path, version):
    """A prompt's current version (`<name>.version`, replaced atomically in one rename: the
    text and every format switch together), cached per file version."""
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        return manifest["digest"], manifest["files"], manifest["text"], \
            float(manifest["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        raise PromptMissing(f"{path} is not a readable prompt version; re-import the prompt")


@lru_cache(maxsize=1024)
def _fingerprint(stem, wav_version, text_version, sln16_version=None):
    """Hashes, length, text and version digest of a prompt without a version file, cached
    per file version (a replaced file has a new size/mtime/inode), so a live call does not
    re-read audio."""
    files = {fmt: sha256_file(f"{stem}.{fmt}") for fmt in FORMATS
             if os.path.exists(f"{stem}.{fmt}")}
    return files, _seconds(stem + ".wav"), _read_text(stem + ".txt"), version_digest(files)


def _version(path):
    try:
        stat = os.stat(path)
        return stat.st_size, stat.st_mtime_ns, stat.st_ino
    except OSError:
        return None


def _seconds(path):
    try:
        with wave.open(path) as audio:
            return audio.getnframes() / audio.getframerate()
    except (OSError, wave.Error, EOFError, ZeroDivisionError):
        raise PromptMissing(f"{path} is not a readable WAV file; re-import the prompt")


def fingerprint(stem, wav_version=None):
    """(hashes by format, seconds, text, version digest) of the plain files at `stem`, a
    local path; `wav_version` when the caller has just read it."""
    return _fingerprint(stem, wav_version or _version(stem + ".wav"),
                        _version(stem + ".txt"), _version(stem + ".sln16"))


def _read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def resolve(config, name, language, region=None):
    """The prompt to play. Raises PromptMissing when the tree is visible and has no file."""
    if name not in NAMES + SPEECH_NAMES or not valid_language(language):
        raise PromptMissing(f"invalid prompt name or language: {name!r}, {language!r}")
    base = config.prompts.directory.rstrip("/")
    # Every lookup asks the files themselves (an admin's swap counts from the next call),
    # with as few stats as that takes: one for a region folder that does not exist.
    for folder in region_chain(region):
        directory = f"{base}/{language}/{folder}" if folder else f"{base}/{language}"
        stem = f"{directory}/{name}"
        local = local_path(config, stem)
        if folder and not os.path.isdir(local_path(config, directory)):
            continue
        manifest_version = _version(local + ".version")
        if manifest_version:  # play the immutable copy: a swap mid-call cannot change it
            digest, files, text, seconds = _manifest(local + ".version", manifest_version)
            return Prompt(name, language, folder, versioned_stem(directory, name, digest),
                          files.get("wav"), text, seconds, files, digest)
        wav_version = _version(local + ".wav")
        if wav_version:
            files, seconds, text, digest = fingerprint(local, wav_version)
            return Prompt(name, language, folder, stem, files.get("wav"), text, seconds,
                          files, digest)
    if not os.path.isdir(local_path(config, base)):
        # Asterisk's files are out of our sight: play the language default, unhashed.
        return Prompt(name, language, None, f"{base}/{language}/{name}", None, None)
    raise PromptMissing(f"no '{name}' prompt for language {language} under {base}; "
                        "run 'make prompts' or import one")
