"""Spoken consent answers: `yes`, `no` or `unknown`, offline, with no false yes.

pocketsphinx's bundled US-English model decodes the answer against a JSGF grammar of accept
phrases, decline phrases (negations of accepts included) and common non-answers that compete
with them ("maybe" must have a better path than "i agree"). `yes` needs an exact accept phrase
with no negation in it; a cut-off decline still counts as `no`; anything else is `unknown`,
which re-prompts and in the end counts as no answer.

The whole answer is decoded at once: batch cepstral mean normalisation over the utterance is
what keeps a clipped "no I don't" from reading as "i agree" (live CMN, fed in chunks, did
that). pocketsphinx holds the GIL for the whole decode, so the server decodes in a process
pool (`SpeechService`), never on its event loop. Decoders are built once per worker.
"""

import asyncio
import audioop
import multiprocessing
import multiprocessing.connection
import os
import random
import struct
import threading
import wave
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

from ..core.judge import WHISPER_MIN_LOGPROB, words_of
from ..core.judge import judge as judge_free_speech
from ..core.phrases import ACCEPT, DECLINE, DECLINE_STARTS, NEGATIONS, OTHER, SWAPS

RATE = 16000
PAD = b"\x00\x00" * (RATE * 3 // 10)  # 0.3 s: answers cut by silence detection start at once
NOISE_FLOOR = 0.003  # ~ -50 dBFS: digital silence between words hurts the decoder


@dataclass(frozen=True)
class Answer:
    answer: str  # yes | no | unknown
    transcript: str
    confidence: float | None  # pocketsphinx: lattice posterior (None without rescoring);
    # Whisper: the least sure segment's average token log-probability
    seconds: float = 0.0
    engine: str = ""  # what decided, with versions: evidence of how the answer was heard
    stages: tuple = ()  # (engine, answer) of each recogniser that ran, in order
    confirmation: str = ""  # what the grammar heard when it weighed Whisper's yes
    speech_seconds: float | None = None  # how long the caller spoke (Silero VAD; None
    # without it): a yes shorter than speech.confirm_under is confirmed (call/flow.py)

    def as_dict(self):
        return {"answer": self.answer, "transcript": self.transcript,
                "confirmation": self.confirmation,
                "confidence": None if self.confidence is None else round(self.confidence, 4),
                "seconds": round(self.seconds, 2), "engine": self.engine,
                "speech_seconds": None if self.speech_seconds is None
                else round(self.speech_seconds, 2),
                "stages": [list(stage) for stage in self.stages]}


class SpeechUnavailable(RuntimeError):
    """pocketsphinx is missing: answers are taken by key only."""


class BadAudio(ValueError):
    """The answer file cannot be read; the message says which and why."""


def _accepts(text, accept):
    """One accept phrase, or one said twice over ("yes, yes", "yes I agree yes")."""
    return text in accept or any(text == f"{a} {b}" for a in accept for b in accept)


def grammar(accept=ACCEPT, decline=DECLINE, other=OTHER, heard="", contrasts=()):
    """Whole phrases only (an accept phrase may be repeated): a loop of filler words costs
    seconds and swallows real answers. `heard` (Whisper's words, said up to three times) and
    their `contrasts` compete too when the grammar confirms a yes."""
    def alternatives(phrases):
        return " | ".join(f"( {p} )" for p in phrases)
    answer = ["<accept> [<accept>]", "<decline>", "<other>"]
    rules = [f"<accept> = {alternatives(accept)};", f"<decline> = {alternatives(decline)};",
             f"<other> = {alternatives(other)};"]
    if heard:
        answer.insert(0, "<heard> [<heard>] [<heard>]")
        rules.append(f"<heard> = ( {heard} );")
    if contrasts:
        answer.append("<contrast>")
        rules.append(f"<contrast> = {alternatives(contrasts)};")
    return ("#JSGF V1.0;\ngrammar consent;\n"
            f"public <answer> = {' | '.join(answer)};\n" + "\n".join(rules) + "\n")


def once(words):
    """A phrase said over and over, once: Whisper repeats a short answer in a long window
    ("Sure. Go ahead. Sure. Go ahead.")."""
    for size in range(1, len(words) // 2 + 1):
        if len(words) % size == 0 and words == words[:size] * (len(words) // size):
            return words[:size]
    return words


def says(hypothesis, words):
    """The grammar's best path is `words` once or more, perhaps cut off the last time (the
    path had not reached the grammar's end when the audio did). Cut off the first time, it
    counts only past every word that has a refusal to swap in (`contrasts`): by then the
    grammar has chosen Whisper's "yes"/"okay" over "no"/"not okay", all that it weighs."""
    whole = len(hypothesis) // len(words) if words else 0
    rest = hypothesis[whole * len(words):]
    if words[:len(rest)] != rest or hypothesis[:whole * len(words)] != words * whole:
        return False
    swappable = [i for i, word in enumerate(words) if word in SWAPS]
    return whole > 0 or bool(swappable) and len(rest) > swappable[-1]


def cut_off_accept(hypothesis, accept, others):
    """The grammar's path ran out of audio inside an accept phrase, after a whole one had
    opened it ("yeah i" of "yeah i agree", "yes you" of "yes you may"): every way on from
    there is a yes. A path that could still become a decline, a non-answer or a refusal
    (`others`: "i" of "i don't") does not count."""
    if not any(hypothesis[:len(a)] == a for a in accept):
        return False
    def leads_on(paths):
        return any(len(p) > len(hypothesis) and p[:len(hypothesis)] == hypothesis
                   for p in paths)
    pairs = [a + b for a in accept for b in accept]
    return leads_on(accept + pairs) and not leads_on(others)


def contrasts(words):
    """Whisper's words with one affirmative swapped for a refusal (`phrases.SWAPS`)."""
    swapped = {" ".join(words[:i] + [refusal] + words[i + 1:])
               for i, word in enumerate(words) for refusal in SWAPS.get(word, ())}
    return sorted(swapped - {" ".join(words)})


def read_pcm(path):
    """16 kHz 16-bit mono PCM from a WAV file (any rate, 8/16-bit, mono or stereo)."""
    try:
        with wave.open(str(path)) as audio:
            rate, width, channels = (audio.getframerate(), audio.getsampwidth(),
                                     audio.getnchannels())
            data = audio.readframes(audio.getnframes())
    except (OSError, wave.Error, EOFError) as error:
        raise BadAudio(f"{path} is not a readable WAV file ({error}).")
    if width != 2:
        data = audioop.lin2lin(data, width, 2)
    if channels == 2:
        data = audioop.tomono(data, 2, 0.5, 0.5)
    if rate != RATE and data:
        data, _ = audioop.ratecv(data, 2, 1, rate, RATE, None)
    return data


def _noise(seconds=10, seed=0):
    rng = random.Random(seed)
    count = RATE * seconds
    return struct.pack(f"<{count}h", *(int(rng.gauss(0, NOISE_FLOOR * 32767))
                                       for _ in range(count)))


_NOISE = None


def with_noise_floor(pcm):
    """Add a fixed -50 dBFS noise bed (made once: generating it per answer cost 17 ms)."""
    global _NOISE
    if _NOISE is None:
        _NOISE = _noise()
    repeats = len(pcm) // len(_NOISE) + 1
    return audioop.add(pcm, (_NOISE * repeats)[:len(pcm)], 2)


EDGE = RATE // 40 * 2  # bytes in 25 ms
SOUND_AT_EDGE = 330  # RMS ~ -40 dBFS


def with_lead_in(pcm):
    """Give an answer that starts or ends in sound 0.3 s of silence on that side.

    A line that sends no frames while the caller is silent (Local channels, SIP with DTX)
    records the speech alone; decoding needs silence around it. Audio that already has it is
    left alone: extra silence shifts the utterance's mean normalisation.
    """
    before = PAD if audioop.rms(pcm[:EDGE], 2) > SOUND_AT_EDGE else b""
    after = PAD if audioop.rms(pcm[-EDGE:], 2) > SOUND_AT_EDGE else b""
    return before + pcm + after


def judge(text, accept, decline):
    words = text.split()
    if _accepts(text, accept) and not set(words) & NEGATIONS:
        return "yes"
    if text in decline or (words and words[0] in DECLINE_STARTS
                           and any(p.startswith(text) for p in decline)):
        return "no"
    return "unknown"


class Classifier:
    """One recogniser per `engine`; not thread-safe, build one each (one per worker process).

    - `cascade` (the default): Whisper reads the answer with the question as its prompt and
      the judge decides; a yes stands only when the grammar heard a yes too: Whisper's own
      words (once or more) or an accept phrase (perhaps cut off inside a second one),
      weighed against the same words with each affirmative swapped for a refusal, the
      decline phrases and the non-answers. Their mistakes differ: Whisper hears "Yeah." in
      some voices' "nah" and "I do. I do." in a noisy "could be"; the grammar forces phrases
      onto "yes …" (bench/heldout.py).
    - `whisper`: Whisper alone; `pocketsphinx`: the grammar alone. Both are kept to compare
      against: alone, each gave false yeses on the held-out sets.

    `rescore` (grammar) runs the lattice best-path search: more answers understood in
    noise, and a posterior to report as confidence, for about 40 ms more CPU per answer.
    """

    def __init__(self, accept=ACCEPT, decline=DECLINE, confidence_threshold=0.0, rescore=True,
                 engine="pocketsphinx", whisper_model="", whisper_min_logprob=WHISPER_MIN_LOGPROB):
        self.engine, self.whisper, self.vad, self.decoder = engine, None, None, None
        self.whisper_min_logprob = whisper_min_logprob
        self.accept, self.decline = tuple(accept), tuple(decline)
        self.threshold, self.rescore = confidence_threshold, rescore
        # Whisper first: its load briefly takes ~70 MB more than it keeps, a peak that would
        # otherwise land on top of the VAD and the grammar (299 → 243 MB per worker)
        if engine in ("whisper", "cascade"):
            from .whisper import Whisper, WhisperUnavailable
            try:
                self.whisper = Whisper(whisper_model)
            except WhisperUnavailable as error:
                raise SpeechUnavailable(f"speech.engine = {engine} cannot start: {error}; "
                                        "answers are taken by key.")
            self.whisper_name = f"{self.whisper.version} + judge"
        from .vad import Vad, VadUnavailable
        try:
            self.vad = Vad()
        except VadUnavailable:
            pass  # without it every window is decoded whole, as before
        if engine in ("pocketsphinx", "cascade"):
            self._start_grammar()

    def classify_pcm(self, pcm):
        seconds = len(pcm) / 2 / RATE
        if not self.vad:
            return self._classify_speech(pcm, seconds)
        span = self.vad.span(pcm)
        if span is None:  # nobody spoke: no decoder can hear a yes in it
            return Answer("unknown", "", None, seconds, "silero-vad: no speech",
                          speech_seconds=0.0)
        start, end, speech_seconds = span
        return replace(self._classify_speech(pcm[start:end], seconds),
                       speech_seconds=speech_seconds)

    def _classify_speech(self, pcm, seconds):
        if not self.whisper:
            return replace(self._grammar(pcm), seconds=seconds)  # the whole window's length
        if len(pcm) < RATE // 5:  # under 0.1 s of speech: nothing was said
            return Answer("unknown", "", None, seconds, self.whisper_name)
        heard = replace(self._free_speech(pcm), seconds=seconds)
        if self.engine == "whisper" or heard.answer != "yes":
            return heard
        grammar = self._confirm(pcm, heard.transcript)  # only for a yes
        engine = f"cascade: {self.whisper_name}, confirmed by {self.engine_name}"
        heard = replace(heard, engine=engine, confirmation=grammar.transcript)
        if grammar.answer != "yes":
            return replace(heard, answer="unknown", stages=(
                (heard.stages[0][0], "yes, unconfirmed"), *grammar.stages))
        return replace(heard, stages=(*heard.stages, *grammar.stages))

    def _free_speech(self, pcm):
        text, confidence = self.whisper.read(pcm)
        answer = judge_free_speech(text)
        if answer == "yes" and (confidence is None or confidence < self.whisper_min_logprob):
            answer = "unknown"  # a yes Whisper was unsure of is asked again, never granted
        return Answer(answer, text, confidence, 0.0, self.whisper_name,
                      ((self.whisper.version, answer),))

    def _start_grammar(self):
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError:
            raise SpeechUnavailable("pocketsphinx is not installed; answers are taken by key.")
        from importlib.metadata import version
        self.engine_name = f"pocketsphinx {version('pocketsphinx')} en-us grammar"
        model = os.path.join(get_model_path(), "en-us")
        self.decoder = Decoder(hmm=os.path.join(model, "en-us"), loglevel="FATAL",
                               dict=os.path.join(model, "cmudict-en-us.dict"),
                               samprate=RATE, bestpath=self.rescore, jsgf=None, cmn="batch")
        self.decoder.add_jsgf_string("consent", grammar(self.accept, self.decline))
        self._accept_paths = [a.split() for a in self.accept]
        self._other_paths = [p.split() for p in (*self.decline, *OTHER)]
        self.decoder.activate_search("consent")

    def _confirm(self, pcm, transcript):
        """The grammar's own answer, with Whisper's words and their refusals competing with
        the accept, decline and other phrases: a yes when its best path is Whisper's words
        or an accept phrase. Whisper's words are left out when the dictionary lacks one."""
        words = once([{"ok": "okay"}.get(w, w) for w in words_of(transcript)])
        if not all(self.decoder.lookup_word(w) for w in words):
            return self._grammar(pcm, refusals=[])
        refusals = [c for c in contrasts(words)
                    if all(self.decoder.lookup_word(w) for w in c.split())]
        try:
            self.decoder.add_jsgf_string("confirm", grammar(
                self.accept, self.decline, heard=" ".join(words), contrasts=refusals))
        except ValueError:  # a grammar pocketsphinx cannot parse: the accept phrases alone
            return self._grammar(pcm, refusals=[])
        self.decoder.activate_search("confirm")
        try:
            return self._grammar(pcm, words, [c.split() for c in refusals])
        finally:
            self.decoder.activate_search("consent")
            self.decoder.remove_search("confirm")

    def _grammar(self, pcm, heard=(), refusals=None):
        """The grammar's answer; confirming Whisper's yes (`refusals` given, Whisper's
        words swapped), a path cut off inside an accept phrase counts as one too."""
        seconds = len(pcm) / 2 / RATE
        if len(pcm) < RATE // 5:  # under 0.1 s: nothing was said
            return Answer("unknown", "", None, seconds, self.engine_name)
        self.decoder.reinit_feat()  # no noise/CMN state carried over from an earlier caller
        self.decoder.start_utt()
        padded = with_noise_floor(with_lead_in(pcm))
        self.decoder.process_raw(padded, False, True)  # the whole utterance at once
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        text = hyp.hypstr if hyp else ""
        confidence = self.decoder.get_prob() if self.rescore and text else None
        path = text.split()
        answer = "yes" if says(path, heard) else judge(text, self.accept, self.decline)
        if answer == "unknown" and refusals is not None and cut_off_accept(
                path, self._accept_paths, self._other_paths + refusals):
            answer = "yes"
        if answer == "yes" and self.threshold and (confidence or 0.0) < self.threshold:
            answer = "unknown"
        return Answer(answer, text, confidence, seconds, self.engine_name,
                      ((self.engine_name, answer),))

    def classify_file(self, path):
        return self.classify_pcm(read_pcm(path))


_worker = None


def _start_worker(settings):
    global _worker
    _exit_with_the_server()
    _worker = Classifier(**settings)


def _exit_with_the_server():
    """A server killed by SIGKILL (the OOM killer, `kill -9`) runs no clean-up, and each
    worker holds its own end of the task queue, so it would never see EOF: about 300 MB left
    behind per restart. The spawned worker's parent sentinel closes when the server dies."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch():
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)
    threading.Thread(target=watch, name="exit-with-server", daemon=True).start()


def _classify_in_worker(path):
    return _worker.classify_file(path)


class SpeechService:
    """Classifies answer files in worker processes, awaited from the event loop.

    A decode that outlives `timeout` counts as no answer; a pool whose worker died
    (BrokenProcessPool: killed, out of memory) is replaced before the next answer.
    """

    def __init__(self, settings, workers=1, timeout=10.0):
        Classifier(**settings)  # fail here, at start, if pocketsphinx or a phrase is missing
        self.settings, self.workers, self.timeout = settings, workers, timeout
        self.pool = self._new_pool()

    def _new_pool(self):
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                   initializer=_start_worker, initargs=(self.settings,))
        # Every worker's decoders built now, not on a call: a task runs only after its
        # worker's initializer, and the pool starts a process per pending task, so ask all
        # at once until each process has answered.
        ready = set()
        while len(ready) < self.workers:
            ready |= {f.result() for f in [pool.submit(os.getpid) for _ in range(self.workers)]}
        return pool

    async def classify(self, path):
        loop = asyncio.get_running_loop()
        pool = self.pool
        try:
            async with asyncio.timeout(self.timeout):
                return await loop.run_in_executor(pool, _classify_in_worker, str(path))
        except BrokenProcessPool:
            if pool is self.pool:  # the first call to notice rebuilds it, off the loop
                self.pool = await loop.run_in_executor(None, self._new_pool)
                pool.shutdown(wait=False, cancel_futures=True)
            raise SpeechUnavailable("the speech worker died; it has been restarted")
        except TimeoutError:
            raise SpeechUnavailable(f"no transcript within {self.timeout:.0f} s")

    def close(self):
        self.pool.shutdown(cancel_futures=True)
