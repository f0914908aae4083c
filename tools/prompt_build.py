"""`make prompts`: synthesise the shipped prompt audio from the text beside it (espeak-ng).

The `.txt` is the source of truth and the evidence of what callers hear; audio is rebuilt when
missing or older than its text. Output: 8 kHz 16-bit mono WAV and 16 kHz signed-linear `.sln16`
for wideband channels, resampled by sox (anti-aliased), written atomically.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from agi_consent.admin.prompts import publish

ROOT = Path(__file__).resolve().parent.parent / "prompts"
VOICES = {"en": "en-us", "es": "es", "fr": "fr-fr", "de": "de"}
OUTPUTS = {".wav": ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"],
           ".sln16": ["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw"]}


def language_of(text_path, root):
    return text_path.relative_to(root).parts[0]


def stale(text_path):
    """No current version yet, or the text is newer than it."""
    version = text_path.with_suffix(".version")
    return not version.exists() or version.stat().st_mtime < text_path.stat().st_mtime or \
        any(not text_path.with_suffix(ext).exists() for ext in OUTPUTS)


def synthesise(text_path, voice):
    with tempfile.TemporaryDirectory() as work:
        spoken = os.path.join(work, "spoken.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", spoken,
                        "-f", str(text_path)], check=True, capture_output=True)
        data = {"txt": text_path.read_bytes()}
        for ext, options in OUTPUTS.items():
            partial = os.path.join(work, "out" + ext)
            subprocess.run(["sox", spoken, *options, partial], check=True, capture_output=True)
            data[ext.lstrip(".")] = Path(partial).read_bytes()
        with wave.open(os.path.join(work, "out.wav")) as audio:
            seconds = audio.getnframes() / audio.getframerate()
        publish(text_path.parent, text_path.stem, data, seconds)  # one version, atomically


def build(root=ROOT, force=False):
    built = 0
    for text_path in sorted(p for p in root.rglob("*.txt") if not any(
            part.startswith(".") for part in p.relative_to(root).parts)):
        language = language_of(text_path, root)
        if language not in VOICES:
            raise SystemExit(f"prompts: no espeak-ng voice configured for '{language}' "
                             f"({text_path}); add it to VOICES in {__file__}.")
        if force or stale(text_path):
            synthesise(text_path, VOICES[language])
            built += 1
    return built


if __name__ == "__main__":
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            sys.exit(f"prompts: {tool} is not installed; run 'make deps' (as root).")
    count = build(force="--force" in sys.argv)
    print(f"prompts: {count} rebuilt under {ROOT}")
