"""Audio for imported prompts: ffmpeg decodes and resamples, pydub trims and levels.

ffmpeg reads every format (WAV of any rate and width, float included, MP3, FLAC, OGG) and
resamples with soxr, which is anti-aliased; pydub's own `set_frame_rate` is not, and pydub reads
32-bit float WAV as integers, so neither decoding nor resampling is left to it. pydub measures
and trims only leading and trailing silence (`strip_silence` would cut pauses inside speech).
"""

import io
import subprocess
from dataclasses import dataclass

from pydub import AudioSegment
from pydub.silence import detect_leading_silence

RATES = {"wav": 8000, "sln16": 16000}
LOUDNESS_DBFS = -20.0  # RMS target: prompts at one level across languages and vendors
PEAK_CEILING_DBFS = -1.0
SILENT_DBFS = -60.0


class AudioRejected(ValueError):
    """The file cannot become a prompt; the message is a sentence for the admin."""


@dataclass
class Converted:
    files: dict  # extension -> bytes (8 kHz WAV, 16 kHz signed-linear)
    seconds: float
    gain_db: float


def decode(path, rate):
    """Mono 16-bit audio at `rate`, resampled by ffmpeg's soxr."""
    try:
        result = subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vn", "-ac", "1",
             "-af", f"aresample=resampler=soxr:osr={rate}", "-c:a", "pcm_s16le", "-f", "s16le",
             "-"], capture_output=True, timeout=120)
    except FileNotFoundError:
        raise AudioRejected("ffmpeg is not installed; run 'make deps' (apt-get install ffmpeg).")
    if result.returncode != 0:
        reason = (result.stderr.decode("utf-8", "replace").strip().splitlines() or ["?"])[-1]
        raise AudioRejected(f"{path} is not audio that ffmpeg can read ({reason[:120]}).")
    return AudioSegment(result.stdout, sample_width=2, frame_rate=rate, channels=1)


def _edges(segment):
    """Milliseconds of silence before and after the sound, relative to its peak."""
    threshold = max(SILENT_DBFS, segment.max_dBFS - 40)
    lead = detect_leading_silence(segment, silence_threshold=threshold, chunk_size=5)
    trail = detect_leading_silence(segment.reverse(), silence_threshold=threshold,
                                   chunk_size=5)
    return lead, trail


def convert(path, max_seconds):
    """Everything a prompt needs, or AudioRejected saying why not."""
    narrow = decode(path, RATES["wav"])
    if len(narrow) == 0:
        raise AudioRejected(f"{path} holds no audio.")
    if narrow.max_dBFS < SILENT_DBFS:
        raise AudioRejected(f"{path} is silent (peak {narrow.max_dBFS:.0f} dBFS).")
    lead, trail = _edges(narrow)
    narrow = narrow[lead:len(narrow) - trail]
    seconds = len(narrow) / 1000
    if seconds > max_seconds:
        raise AudioRejected(f"{path} is {seconds:.0f} s long; prompts may last "
                            f"{max_seconds:.0f} s (prompts.max_seconds).")
    gain = min(LOUDNESS_DBFS - narrow.dBFS, PEAK_CEILING_DBFS - narrow.max_dBFS)
    wide = decode(path, RATES["sln16"])
    wide = wide[lead:lead + len(narrow)].apply_gain(gain)
    buffer = io.BytesIO()
    narrow.apply_gain(gain).export(buffer, format="wav")
    return Converted({"wav": buffer.getvalue(), "sln16": wide.raw_data}, seconds, gain)
