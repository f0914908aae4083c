"""Speech benchmark: accuracy, false accepts and CPU per answer on a generated set.

5 espeak-ng voices × 2 speeds × (clean, 20 dB, 10 dB white noise), each utterance through an
8 kHz µ-law round trip as a phone line carries it, padded with silence as Asterisk records it.
Positives, negatives and out-of-grammar phrases, plus silence, noise, a cough and music. These
voices were never used to tune the grammar (tuning used en-us, en-gb and en-us+f3).
"""

import itertools
import subprocess
import tempfile
import time
from pathlib import Path

VOICES = ("en-gb-scotland", "en-us-nyc", "en-029", "en-gb-x-rp", "en-us+m3")
SPEEDS = (140, 185)
CONDITIONS = (None, 20, 10)  # SNR in dB; None = clean
POSITIVE = ("yes", "yes I agree", "I agree", "yeah", "sure", "yes please")
NEGATIVE = ("no", "no thanks", "I don't agree", "I do not agree", "no I don't", "nope")
OUT_OF_GRAMMAR = ("maybe", "hello", "what", "I don't know", "can you repeat that",
                  "who is this", "okay", "hmm let me think", "call me later")
NON_SPEECH = {"silence": "synth 1.5 sine 0 vol 0", "noise": "synth 1.5 pinknoise vol 0.2",
              "cough": "synth 0.35 brownnoise vol 0.8 fade 0 0.35 0.3 pad 0.3 0.5",
              "music": "synth 2 pluck C4 pluck E4 pluck G4 vol 0.3"}


def sox_rms(path):
    stats = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True)
    line = [x for x in stats.stderr.splitlines() if x.startswith("RMS     amplitude")][0]
    return float(line.split(":")[1])


def utterance(folder, voice, speed, text):
    name = f"{voice}-{speed}-{text}".replace(" ", "_").replace("'", "").replace("+", "_")
    spoken, line = folder / f"{name}.raw.wav", folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(spoken), text],
                   check=True)
    ulaw = folder / f"{name}.ul.wav"
    subprocess.run(["sox", "-R", str(spoken), "-r", "8000", "-c", "1", "-e", "mu-law",
                    str(ulaw)], check=True)  # -R: repeatable dither, the same set every run
    subprocess.run(["sox", "-R", str(ulaw), "-e", "signed-integer", "-b", "16", str(line),
                    "pad", "0.3", "0.5"], check=True)
    return line


def noisy(path, snr):
    if snr is None:
        return path
    level = sox_rms(path) / (10 ** (snr / 20))
    seconds = subprocess.run(["soxi", "-D", str(path)], capture_output=True,
                             text=True).stdout.strip()
    noise, mixed = path.with_suffix(f".n{snr}.wav"), path.with_suffix(f".snr{snr}.wav")
    subprocess.run(["sox", "-R", "-n", "-r", "8000", "-c", "1", "-b", "16", str(noise), "synth",
                    seconds, "whitenoise", "vol", f"{level:.6f}"], check=True)
    subprocess.run(["sox", "-R", "-m", str(path), str(noise), str(mixed)], check=True)
    return mixed


def dataset(folder):
    items = []
    for voice, speed in itertools.product(VOICES, SPEEDS):
        for label, phrases in (("yes", POSITIVE), ("no", NEGATIVE),
                               ("unknown", OUT_OF_GRAMMAR)):
            for text in phrases:
                clean = utterance(folder, voice, speed, text)
                items += [(noisy(clean, snr), label, snr, f"{voice}/{speed}: {text}")
                          for snr in CONDITIONS]
    for kind, effect in NON_SPEECH.items():
        path = folder / f"{kind}.wav"
        subprocess.run(f"sox -R -n -r 8000 -c 1 -b 16 {path} {effect}".split(), check=True)
        items.append((path, "unknown", None, kind))
    return items


def run():
    """Both settings of `speech.rescore`, side by side on the same answers."""
    from agi_consent.call.speech import Classifier

    with tempfile.TemporaryDirectory() as work:
        items = dataset(Path(work))
        return {rescore: score(Classifier(rescore=rescore), items) for rescore in (True, False)}


def score(classifier, items):
    results, started = [], time.process_time()
    for path, label, snr, what in items:
        results.append((label, classifier.classify_file(path).answer, snr, what))
    cpu_ms = 1000 * (time.process_time() - started) / len(items)
    false_accepts = [r for r in results if r[1] == "yes" and r[0] != "yes"]
    by_condition = {}
    for snr in CONDITIONS:
        subset = [r for r in results if r[2] == snr and r[3] not in NON_SPEECH]
        by_condition[snr] = (sum(r[0] == r[1] for r in subset), len(subset))
    non_speech = [r for r in results if r[3] in NON_SPEECH]
    return {"items": len(results), "false_accepts": false_accepts, "cpu_ms": cpu_ms,
            "by_condition": by_condition,
            "non_speech": (sum(r[1] == "unknown" for r in non_speech), len(non_speech)),
            "misses": [r for r in results if r[0] != r[1]]}


def percent(right, total):
    return f"{right}/{total} ({100 * right / total:.1f} %)"


def report(both):
    first = both[True]
    lines = ["## Speech: the grammar alone (`speech.engine = pocketsphinx`)", "",
             f"{first['items']} answers: {len(VOICES)} espeak-ng voices × {len(SPEEDS)} speeds "
             "× clean / 20 dB / 10 dB, µ-law round trip; positives, negatives, out-of-grammar "
             "phrases, and silence, noise, a cough and music. Voices not used for tuning. "
             "Both settings of `speech.rescore` on the same answers.", "",
             "| | rescore on (default) | rescore off | target |", "|---|---|---|---|",
             "| false accepts | " + " | ".join(f"**{len(both[r]['false_accepts'])}**"
                                               for r in (True, False)) + " | 0 |"]
    for snr in CONDITIONS:
        label = "clean" if snr is None else f"{snr} dB"
        cells = [percent(*both[r]["by_condition"][snr]) for r in (True, False)]
        lines.append(f"| correct, {label} | {cells[0]} | {cells[1]} | "
                     f"{'≥ 90 %' if snr == 10 else ''} |")
    lines += ["| non-speech judged unknown | " + " | ".join(
                  f"{both[r]['non_speech'][0]}/{both[r]['non_speech'][1]}" for r in (True, False))
              + " | all |",
              "| CPU per answer | " + " | ".join(f"{both[r]['cpu_ms']:.0f} ms"
                                                for r in (True, False)) + " | ≤ 50 ms |", "",
              "A miss is a yes or no heard as unknown: the caller is asked again and can press "
              "a key. No miss is a false yes.", ""]
    return lines


if __name__ == "__main__":
    outcome = run()
    print("\n".join(report(outcome)))
    for miss in outcome[True]["misses"]:
        print("miss:", miss)
