"""Admin work on the prompt tree: import (convert, replace atomically, keep history, log),
list the effective prompts, check them, install them where Asterisk can play them.

The tree is `prompts.directory` (as Asterisk sees it; mapped through `asterisk_root`). The
shipped defaults are this package's `prompts/`; a file that differs from its shipped twin is
the site's.
"""

import getpass
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..call.prompts import (
    FORMATS,
    NAMES,
    SPEECH_NAMES,
    VERSIONS,
    PromptMissing,
    fingerprint,
    resolve,
    valid_language,
    version_digest,
    versioned_stem,
)
from ..config import local_path, shipped_prompts
from ..core.rules import normalise_code
from .audio import AudioRejected, convert

HISTORY = ".history"
AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aiff", ".au"}


class PromptError(ValueError):
    """An admin request that cannot be done; the message says why and what to do."""


def tree(config):
    return Path(local_path(config, config.prompts.directory.rstrip("/")))


def target_folder(config, language, region):
    """The folder for a language (and region override), validated: nothing escapes the tree."""
    if not valid_language(language) or language != language.lower():
        raise PromptError(f"'{language}' is not a language code such as en or fr.")
    folder = tree(config) / language
    if region:
        code = normalise_code(region)
        if not code or code != region.strip().upper():
            raise PromptError(f"'{region}' is not a region code such as US-CA or DE.")
        folder = folder / code
    return folder


def names_for(config, language):
    return NAMES + (SPEECH_NAMES if language in config.speech.languages else ())


def check_name(name):
    if name not in NAMES + SPEECH_NAMES:
        raise PromptError(f"'{name}' is not a prompt name; names: "
                          f"{', '.join(NAMES + SPEECH_NAMES)}.")


def write_atomically(path, data):
    """temp file in the same folder + rename: a live call never plays half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def sha256_of(wav_path):
    return fingerprint(str(wav_path)[:-4])[0].get("wav")


def publish(folder, name, data, seconds):
    """Make `data` ({format: bytes}: wav, sln16, txt) the prompt's current version, as one.

    The content-addressed copies are written first and never overwritten (every version
    stays playable and provable); the plain files follow for tools that read them; the
    `<name>.version` file, renamed into place last, switches text and audio together.
    """
    files = {fmt: hashlib.sha256(data[fmt]).hexdigest() for fmt in FORMATS}
    digest = version_digest(files)
    stem = Path(versioned_stem(str(folder), name, digest))
    stem.parent.mkdir(parents=True, exist_ok=True)
    for fmt in FORMATS:
        target = Path(f"{stem}.{fmt}")
        if not target.exists():
            write_atomically(target, data[fmt])
    for fmt in FORMATS:  # unchanged files keep their bytes and times
        plain = folder / f"{name}.{fmt}"
        if not plain.exists() or plain.read_bytes() != data[fmt]:
            write_atomically(plain, data[fmt])
    manifest = {"digest": digest, "files": files, "seconds": round(seconds, 3),
                "text": data["txt"].decode("utf-8").strip()}
    write_atomically(folder / f"{name}.version",
                     json.dumps(manifest, sort_keys=True, indent=1).encode() + b"\n")
    return manifest


def keep_history(folder, name, stamp):
    """Copy the files being replaced to .history/<name>.<stamp>.<ext>."""
    kept = []
    for extension in ("wav", "sln16", "txt"):
        current = folder / f"{name}.{extension}"
        if current.exists():
            history = folder / HISTORY
            history.mkdir(exist_ok=True)
            copy = history / f"{name}.{stamp}.{extension}"
            shutil.copy2(current, copy)
            kept.append(copy)
    return kept


@dataclass
class Imported:
    path: Path
    old_sha256: str | None
    new_sha256: str
    seconds: float
    history: list


def import_prompt(config, db, source, name, language, region=None, text=None, who=None):
    """Convert `source` and make it the prompt `name` for `language` (and `region`)."""
    from ..store import schema

    check_name(name)
    folder = target_folder(config, language, region)
    if not Path(source).is_file():
        raise PromptError(f"{source} does not exist or is not a file.")
    wav_path, text_path = folder / f"{name}.wav", folder / f"{name}.txt"
    if text is None and not text_path.exists():
        raise PromptError(f"Say what the new '{name}' prompt says with --text \"…\": the text "
                          "is kept beside the audio as evidence.")
    try:
        converted = convert(source, config.prompts.max_seconds)
    except AudioRejected as error:
        raise PromptError(str(error))
    folder.mkdir(parents=True, exist_ok=True)
    old_sha256 = sha256_of(wav_path) if wav_path.exists() else None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    history = keep_history(folder, name, stamp)
    words = text.strip() if text is not None else text_path.read_text(encoding="utf-8").strip()
    manifest = publish(folder, name, {"wav": converted.files["wav"],
                                      "sln16": converted.files["sln16"],
                                      "txt": words.encode("utf-8") + b"\n"}, converted.seconds)
    new_sha256 = manifest["files"]["wav"]
    schema.record_prompt_change(
        db, at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        who=who or os.environ.get("SUDO_USER") or getpass.getuser(), action="import",
        name=name, language=language, region=normalise_code(region) if region else "",
        path=str(wav_path), old_sha256=old_sha256, new_sha256=new_sha256,
        text=text_path.read_text(encoding="utf-8").strip(), source_file=str(source))
    return Imported(wav_path, old_sha256, new_sha256, converted.seconds, history)


def folder_files(folder):
    """(audio path, prompt name, text or None) for every `<name>.<audio ext>` in a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PromptError(f"{folder} is not a folder.")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in AUDIO_SUFFIXES and p.stem in NAMES + SPEECH_NAMES)
    if not files:
        raise PromptError(f"{folder} holds no audio named after a prompt "
                          f"({', '.join(NAMES)}).")
    return [(path, path.stem, path.with_suffix(".txt").read_text(encoding="utf-8")
             if path.with_suffix(".txt").exists() else None) for path in files]


def languages_in(config):
    root = tree(config)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and valid_language(p.name)) \
        if root.is_dir() else []


def regions_in(config, language):
    folder = tree(config) / language
    found = {p.name for p in folder.iterdir() if p.is_dir() and normalise_code(p.name) == p.name}
    configured = {normalise_code(r) for r in [config.default_region, *config.trunks.values()]
                  if r}
    return sorted(found | configured)


def source_of(config, prompt):
    relative = Path(prompt.path).relative_to(config.prompts.directory.rstrip("/"))
    shipped = shipped_prompts() / f"{relative}.wav"
    return "shipped" if shipped.exists() and sha256_of(shipped) == prompt.sha256 else "site"


def effective(config):
    """Rows: the prompt each region × language × name resolves to."""
    rows = []
    for language in languages_in(config):
        for region in [None, *regions_in(config, language)]:
            for name in names_for(config, language):
                try:
                    prompt = resolve(config, name, language, region)
                except PromptMissing as error:
                    rows.append({"region": region or "-", "language": language, "name": name,
                                 "file": None, "seconds": None, "sha256": None,
                                 "source": "missing", "problem": str(error)})
                    continue
                rows.append({"region": region or "-", "language": language, "name": name,
                             "file": prompt.path, "seconds": round(prompt.seconds, 2),
                             "sha256": prompt.sha256, "source": source_of(config, prompt)})
    return rows


def check(config):
    """Every problem with the prompts the configured languages and regions need."""
    problems = []
    regions = {normalise_code(r) for r in [config.default_region, *config.trunks.values()] if r}
    # the default language too: every caller whose language is not chosen hears it
    for language in dict.fromkeys([config.prompts.language, *config.prompts.languages]):
        for name in names_for(config, language):
            for region in [None, *sorted(regions)]:
                try:
                    prompt = resolve(config, name, language, region)
                except PromptMissing as error:
                    problems.append(f"{language}/{name} ({region or 'default'}): {error}")
                    break
                if not prompt.text:
                    problems.append(f"{prompt.path}: no .txt beside it (the text is evidence)")
                if not os.path.exists(local_path(config, prompt.path) + ".sln16"):
                    problems.append(f"{prompt.path}: no .sln16 for wideband channels")
    for manifest in tree(config).rglob("*.version") if tree(config).is_dir() else []:
        try:
            version = json.loads(manifest.read_text())
            stem = versioned_stem(str(manifest.parent), manifest.stem, version["digest"])
            missing = [fmt for fmt in FORMATS if not Path(f"{stem}.{fmt}").exists()]
        except (OSError, ValueError, KeyError, TypeError):
            missing = ["a readable version file"]
        if missing:
            problems.append(f"{manifest}: its version lacks {', '.join(missing)}")
    for wav in tree(config).rglob("*.wav") if tree(config).is_dir() else []:
        if HISTORY in wav.parts or VERSIONS in wav.parts:
            continue
        try:
            fingerprint(str(wav)[:-4])
        except PromptMissing as error:
            problems.append(str(error))
    return sorted(set(problems))


def install(config, sounds_dir):
    """Copy the effective tree (no history) to where a remote Asterisk can play it."""
    source, target = tree(config), Path(sounds_dir)
    if not source.is_dir():
        raise PromptError(f"The prompt tree {source} is not visible from here.")
    copied = 0
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or HISTORY in relative.parts or path.name.startswith("."):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(destination, path.read_bytes())
        copied += 1
    return copied

