"""Speech sets nothing was tuned on, scored for each `speech.engine` side by side.

Fifteen sets, each of voices, synthesisers, phrasings and line conditions used nowhere else:
- the first (`FIRST`): flite (kal, awb, rms, slt — another synthesiser than the tuning's
  espeak-ng) and espeak-ng en-gb-x-gbclan, en-gb-x-gbcwmd; clean, white noise, babble and a
  second speaker at 10 dB. It was held out until one threshold was chosen on it (Whisper's
  confidence for a yes, `speech.whisper_min_logprob`): it is the development set since;
- the fresh held-out set (`FRESH`, written after the threshold was chosen): festival (ked
  diphone, slt HTS — a third synthesiser) and espeak-ng en-029, en-us-nyc, en-gb-scotland,
  en-gb-x-rp; new phrasings; clean, pink noise, music and another second speaker at 10 dB.
  Scored once as the cascade stood (9 false accepts, all Whisper's); the cascade's rule that a
  yes needs both engines was adopted after that, so for that rule this set is seen too;
- the third set (`THIRD`), built after that rule to check it: festival kal (diphone) at two
  speeds and espeak-ng's Klatt synthesiser on four voices; new phrasings; brown noise, a crowd
  and a radio talker at 10 dB.
- the fourth set (`FOURTH`): flite kal16 and espeak-ng's named voice variants (Annie,
  Edward, Linda, Gene, Mike); new phrasings; car noise, office chatter and a TV at 10 dB.
  Built after a cascade of two Whisper readings (with and without the question as prompt)
  was chosen on the development set; scored once, with the other sets: 0 false accepts on
  this set, the third and the development set, but 4 on the second ("nah" heard as "Yeah."
  by both readings). The cascade went back to needing the grammar's yes (which heard none of
  the 4) and kept Whisper's short window. The third and fourth sets were never tuned on;
  the next change needs a set of its own.
- the fifth set (`FIFTH`): flite awb and slt shifted in pitch, espeak-ng variants Alicia, Andy,
  adam and aunty; new phrasings; mains hum and hiss, a restaurant and a street at 10 dB.
  Written before the grammar was made to confirm Whisper's own words, a change tuned on the
  first and second sets only.
- the sixth set (`SIXTH`): flite rms and festival ked shifted in pitch, espeak-ng variants
  Steph, travis, Belinda and Quincy; new phrasings; an office, wind and a kitchen at 10 dB.
  Written before the judge's phrases were widened from the first five sets' transcripts.
- the seventh set (`SEVENTH`): a fourth synthesiser, neural (Kokoro-82M, bench/kokoro.py),
  in six voices and two accents; new phrasings; a call-centre floor, rain and a ringing
  phone at 10 dB. Written before Whisper base was measured against tiny.en.
- the eighth set (`EIGHTH`): Kokoro voice styles blended in pairs on four other accents, and
  festival slt lower; new phrasings; an air conditioner, typing and a second speaker at
  10 dB. Written after the seventh was scored, before the judge was changed from what the
  seventh showed it missing.
- the ninth set (`NINTH`): Kokoro voice styles blended in other pairs (and a three-way
  blend), on West Midlands readings too, and espeak-ng John and shelby; new phrasings, negated
  at-ease answers among them ("not okay with that", "I'm unsure about this"); a vacuum
  cleaner, a siren and a second speaker at 10 dB. Written after make bench showed the
  eighth's judge change letting "not okay with me" through on the sixth set, before its fix.
- the tenth set (`TENTH`): Kokoro voice styles in pairs not blended before, on New York,
  Caribbean, Scottish and West Midlands readings, and espeak-ng caleb and robert; new
  phrasings, one-word answers that sound like "yes" or question it ("yes?", "guess so",
  "bless you", "yet?") among them; a fan, a crackling line and two people talking at 10 dB.
  Written before the cascade's handling of a bare "yes" was looked at.
- the eleventh set (`ELEVENTH`): Kokoro voice styles in three-way blends (one lower), and
  espeak-ng max, zac and norbert; more questioning one-word answers ("yeah?", "sure?",
  "okay?") and near-homophones of "yes" ("guess", "bless", "mess", "next?"); a dishwasher, a
  hair dryer and a child talking at 10 dB. Written after the tenth set showed both engines
  hearing "yes" in "yes?" and "yet?", before anything was built against that.
- the twelfth set (`TWELFTH`): Kokoro voice styles in four-way and weighted blends (two
  shifted in pitch), espeak-ng Michael and grandpa, festival kal higher; still more
  questioning answers ("yes? why?", "fine?", "uh, yeah?") and words that start like "yes";
  a train, rustling and an announcement at 10 dB. Written before a second Whisper reading
  without the question as prompt was tried as a veto on questioning answers (tried on the
  tenth and eleventh: it vetoed 1 of 47 false accepts, and was not taken); scored once with
  the cascade unchanged (27 false accepts).
- the thirteenth set (`THIRTEENTH`): Kokoro voice styles in new blends on US, Scottish and
  New York readings (two shifted in pitch), espeak-ng Lee, paul and anika, festival ked faster
  and lower; new phrasings, greetings and questions among the non-answers ("hello? yes?",
  "hi, hello?", "yes? sorry?"); a kettle, a low rumble and a radio at 10 dB. Written after
  the twelfth showed "yes? hello?" granted at once, before a greeting in an answer was made
  a doubt; scored with the judge before and after that change.
- the fourteenth set (`FOURTEENTH`): Kokoro voice styles in new three-way blends on Welsh,
  Caribbean and US readings (two shifted in pitch), espeak-ng david, edward2 and steph3, flite
  rms faster and lower; new phrasings, a question before a yes among the non-answers ("sorry?
  yes", "recorded? yes"); a lawnmower, a printer and a pub at 10 dB. Written after the
  thirteenth was scored, before a question anywhere in a transcript was made a doubt.
- the fifteenth set (`FIFTEENTH`): Kokoro voice styles in new blends on Lancashire, British
  and US readings (two shifted in pitch), espeak-ng m7, iven3 and victor, festival ked faster
  and higher; new phrasings, questions before and after a yes among the non-answers ("hmm?
  yes", "yes? is it on?", "you mean yes?"); rain on a roof, a drill and a café at 10 dB.
  Written after the fourteenth was scored with the question rule, before every spoken yes
  was made to be confirmed by default: a check of both on material neither was built on.
The judge's word lists and the Whisper prompt were written from the categories in issue 11
and checked on tests/test_judge.py's own phrases; the grammar was tuned on espeak-ng en-us,
en-gb and en-us+f3. Each utterance goes through one phone codec (µ-law, A-law or GSM, in
turn) and is padded as Asterisk records an answer window (0.3 s before, 2 s after); each set
adds non-speech windows (silence, line noise, hum, a cough, music).
"""

import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Set:
    name: str  # the report's heading
    described: str  # what it holds, for the report
    voices: tuple  # (synthesiser, voice, speed[, pitch shift in cents])
    phrases: dict  # label -> phrasings
    conditions: tuple  # "clean" and noises at 10 dB, each made by `backgrounds`
    backgrounds: object  # folder -> {condition: noise file}


CODECS = (("ul", ["-e", "mu-law"]), ("al", ["-e", "a-law"]), ("gsm", ["-t", "gsm"]))
NON_SPEECH = {"silence": "synth 2.5 sine 0 vol 0", "line noise": "synth 2.5 pinknoise vol 0.1",
              "hum": "synth 2.5 sine 50 vol 0.1",
              "cough": "synth 0.35 brownnoise vol 0.8 fade 0 0.35 0.3 pad 0.3 2",
              "music": "synth 2.5 pluck C4 pluck E4 pluck G4 vol 0.3"}
ENGINES = ("pocketsphinx", "whisper", "cascade")
BABBLE = ("The weather today is cloudy with some rain later in the afternoon and evening",
          "Please hold while I check the account details for the order you placed last week",
          "We will send the documents by post and you should get them before Friday morning")
TALKER = "My sister said she would call back tomorrow about the new kitchen window"


def run(*command):
    subprocess.run(command, check=True, capture_output=True)


def speak(engine, voice, speed, text, target, cents=0):
    """The synthesiser's voice, at 8 kHz mono 16-bit (what the mixing below expects),
    shifted `cents` in pitch (another voice from the same synthesiser)."""
    raw = target.with_suffix(".synth.wav")
    if engine == "flite":
        run("flite", "-voice", voice, "--setf", f"duration_stretch={speed}", "-t", text,
            "-o", str(raw))
    elif engine == "festival":
        script = target.with_suffix(".txt")
        script.write_text(text)
        run("text2wave", "-eval", f"(voice_{voice})", "-eval",
            f"(Parameter.set 'Duration_Stretch {speed})", "-o", str(raw), str(script))
    elif engine == "kokoro":
        from .kokoro import say
        say(text, voice, speed, raw)
    else:
        run("espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text)
    shift = ("pitch", str(cents)) if cents else ()
    run("sox", "-R", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target), *shift)


def phone_line(spoken, codec, target):
    """8 kHz through one codec and back, padded as an answer window (0.3 s / 2 s)."""
    name, options = codec
    coded = target.with_suffix(f".{name}")
    run("sox", "-R", str(spoken), "-r", "8000", "-c", "1", *options, str(coded))
    run("sox", "-R", str(coded), "-r", "8000", "-e", "signed-integer", "-b", "16", str(target),
        "pad", "0.3", "2")


def rms(path):
    stats = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True)
    return float(next(x for x in stats.stderr.splitlines()
                      if x.startswith("RMS     amplitude")).split(":")[1])


def with_noise(clean, noise, snr, target):
    """Mix `noise` (trimmed or looped to length) under `clean` at `snr` dB."""
    seconds = subprocess.run(["soxi", "-D", str(clean)], capture_output=True,
                             text=True).stdout.strip()
    fitted = target.with_suffix(".fit.wav")
    run("sox", "-R", str(noise), "-r", "8000", "-c", "1", "-b", "16", str(fitted), "repeat", "3",
        "trim", "0", seconds)
    gain = rms(clean) / (10 ** (snr / 20)) / max(rms(fitted), 1e-6)
    run("sox", "-R", "-m", str(clean), "-v", f"{gain:.6f}", str(fitted), str(target))


def synth(folder, name, *effect):
    """8 s of a sox-synthesised background (noise, music)."""
    path = folder / f"{name}.wav"
    run("sox", "-R", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", "8",
        *effect)
    return path


def crowd(folder, name, engine, voices, sentences, speed):
    """Several voices talking at once, each its own sentence, mixed into one file."""
    talkers = []
    for n, (sentence, voice) in enumerate(zip(sentences, voices, strict=True)):
        talkers.append(folder / f"{name}{n}.wav")
        speak(engine, voice, speed, sentence, talkers[-1])
    mixed = folder / f"{name}.wav"
    run("sox", "-R", "-m", *map(str, talkers), "-r", "8000", str(mixed))
    return mixed


def first_backgrounds(folder):
    speaker = folder / "speaker.wav"
    speak("espeak-ng", "en-us+m4", 160, BABBLE[1], speaker)
    return {"white 10 dB": synth(folder, "white", "whitenoise"),
            "babble 10 dB": crowd(folder, "babble", "flite", ("awb", "rms", "slt"), BABBLE,
                                  1.0),
            "second speaker 10 dB": speaker}


def fresh_backgrounds(folder):
    talker = folder / "talker.wav"
    speak("festival", "kal_diphone", 1.0, TALKER, talker)
    return {"pink 10 dB": synth(folder, "pink", "pinknoise"),
            "music 10 dB": synth(folder, "music", "pluck", "A3", "pluck", "C4", "pluck", "E4",
                                 "tremolo", "3", "60"),
            "second speaker 10 dB": talker}


FIRST = Set(
    "Speech on the development set (the first held-out set)",
    "6 voices from two synthesisers (flite kal/awb/rms/slt, espeak-ng gbclan/gbcwmd), "
    "clean and in white noise, babble and a second speaker at 10 dB. Held out "
    "until `speech.whisper_min_logprob` was chosen on it",
    (("flite", "kal", 1.0), ("flite", "awb", 0.85), ("flite", "rms", 1.15),
     ("flite", "slt", 1.0), ("espeak-ng", "en-gb-x-gbclan", 150),
     ("espeak-ng", "en-gb-x-gbcwmd", 175)),
    {"yes": ("yes", "yes yes", "yeah sure", "sure, go ahead", "that's fine with me",
             "yes, that's okay", "okay, go ahead", "yep", "of course you can", "absolutely",
             "yes I consent", "sure thing", "yes you can record", "alright, fine"),
     "no": ("no", "no no", "nope", "no, please don't", "I do not want to be recorded",
            "absolutely not", "not at all", "no way", "don't record me", "I refuse",
            "definitely not", "no thank you", "I don't agree to that"),
     "unknown": ("maybe", "I'm not sure", "I guess so", "I think so", "could you repeat that",
                 "what was that", "why do you need to record", "hello?", "who is this",
                 "no, yes", "yes, no, wait", "hold on a second", "can I think about it",
                 "probably", "I don't know", "is this recorded?", "let me check",
                 "maybe later", "I'm not sure I agree")},
    ("clean", "white 10 dB", "babble 10 dB", "second speaker 10 dB"), first_backgrounds)

FRESH = Set(
    "Speech on the second held-out set (scored once before the both-engines rule)",
    "6 voices from two synthesisers (festival ked diphone and slt HTS, espeak-ng en-029, "
    "en-us-nyc, en-gb-scotland, en-gb-x-rp), phrasings written after every setting was "
    "chosen, clean and in pink noise, music and a second speaker (festival kal) at 10 dB",
    (("festival", "ked_diphone", 1.0), ("festival", "cmu_us_slt_arctic_hts", 1.1),
     ("espeak-ng", "en-029", 160), ("espeak-ng", "en-us-nyc", 145),
     ("espeak-ng", "en-gb-scotland", 170), ("espeak-ng", "en-gb-x-rp", 155)),
    {"yes": ("yes", "yes please", "yeah, that's okay", "go for it", "fine by me", "certainly",
             "yes, of course", "okay, yes", "you may", "I agree", "I'm okay with that",
             "that's alright", "yes, record it", "sure"),
     "no": ("no", "nah", "no, I'd rather not", "please don't", "I don't consent", "no, don't",
            "not today", "I object", "no recording please", "I don't want that", "never",
            "no, not really", "I do not agree"),
     "unknown": ("uh", "what?", "sorry?", "pardon", "I need to ask my husband", "why?",
                 "yes or no?", "not sure", "it depends", "um, I don't know",
                 "is that necessary", "what for", "hang on", "one moment", "well",
                 "could be", "yes, wait, no", "no, actually yes", "do I have to")},
    ("clean", "pink 10 dB", "music 10 dB", "second speaker 10 dB"), fresh_backgrounds)


def third_backgrounds(folder):
    radio = folder / "radio.wav"
    speak("espeak-ng", "en-gb-scotland+klatt2", 185, CROWD[0], radio)
    return {"brown 10 dB": synth(folder, "brown", "brownnoise"),  # a car, a street: rumble
            "crowd 10 dB": crowd(folder, "crowd", "festival",
                                 ("ked_diphone", "kal_diphone", "cmu_us_slt_arctic_hts"),
                                 CROWD, 0.9),
            "radio talk 10 dB": radio}


CROWD = ("The train to the airport leaves from platform four in about ten minutes",
         "I told him the invoice was paid on Monday but he keeps on asking",
         "Could you pass me the blue folder from the shelf behind the printer")

# Built after the both-engines rule, to check it on voices and phrasings nothing was chosen
# on: festival kal (diphone, the fresh set's background only), espeak-ng's Klatt synthesiser
# (another method inside espeak-ng) on voices at other pitches and speeds.
THIRD = Set(
    "Speech on the third held-out set (built after the last change, never tuned on)",
    "6 voices (festival kal diphone at two speeds, espeak-ng's Klatt synthesiser: en-us+klatt, "
    "en-029+klatt3, en-gb-x-rp+klatt4, en-us-nyc+klatt5), phrasings written after the "
    "both-engines rule, clean and in brown noise, a crowd and a radio talker at 10 dB",
    (("festival", "kal_diphone", 0.9), ("festival", "kal_diphone", 1.2),
     ("espeak-ng", "en-us+klatt", 150), ("espeak-ng", "en-029+klatt3", 170),
     ("espeak-ng", "en-gb-x-rp+klatt4", 140), ("espeak-ng", "en-us-nyc+klatt5", 160)),
    {"yes": ("yes", "yes, yes", "yeah", "yes, go on", "okay then", "sure, why not",
             "fine", "yes, I'm happy with that", "that's no problem", "you can",
             "yes indeed", "all good", "go on then", "yes, that's fine"),
     "no": ("no", "no, no", "nope, sorry", "I'd prefer not", "no, I don't agree",
            "not happy with that", "no, stop", "I don't give permission", "don't",
            "no, thanks", "I'm not okay with that", "please no", "no way, sorry"),
     "unknown": ("er", "eh?", "hmm", "say that again", "who's calling?", "what's this about",
                 "is it necessary", "I'm busy", "can you call later", "what do you mean",
                 "I suppose", "possibly", "no idea", "yes, but no", "hello, hello",
                 "just a minute", "I'm thinking", "is this a sales call", "do you record")},
    ("clean", "brown 10 dB", "crowd 10 dB", "radio talk 10 dB"), third_backgrounds)


def fourth_backgrounds(folder):
    tv = folder / "tv.wav"
    speak("flite", "rms", 0.95, TV, tv)
    with_noise(tv, synth(folder, "tv-music", "pluck", "D3", "pluck", "F3", "tremolo", "5", "40"),
               6, folder / "tv-mix.wav")
    return {"car 10 dB": synth(folder, "car", "brownnoise", "lowpass", "300", "tremolo",
                               "0.5", "30"),
            "chatter 10 dB": crowd(folder, "chatter", "espeak-ng",
                                   ("en-us+Boris", "en-gb+Steph", "en-029+Max"), CHATTER, 165),
            "TV 10 dB": folder / "tv-mix.wav"}


TV = "And now the news at six: heavy traffic on the bridge and more rain expected tonight"
CHATTER = ("Did you see the match last night, it went to extra time",
           "The printer on the second floor is out of paper again",
           "We are meeting the new client for lunch at half past twelve")

# Built after Whisper's short window was chosen (on the development set only): voices,
# phrasings and backgrounds used nowhere else.
FOURTH = Set(
    "Speech on the fourth held-out set (never tuned on)",
    "6 voices (flite kal16, espeak-ng voice variants Annie, Edward, Linda, Gene and Mike on "
    "four accents), phrasings written after Whisper's short window was chosen, clean and "
    "in car noise, office chatter and a TV at 10 dB",
    (("flite", "kal16", 1.05), ("espeak-ng", "en-us+Annie", 145),
     ("espeak-ng", "en-gb+Edward", 160), ("espeak-ng", "en-029+Linda", 155),
     ("espeak-ng", "en-gb-scotland+Gene", 150), ("espeak-ng", "en-us-nyc+Mike", 170)),
    {"yes": ("yes", "yes, yes, yes", "yeah, go ahead", "sure, that's fine",
             "yes I'm fine with that", "of course", "no problem", "yes, record it",
             "that's okay with me", "yes, I accept", "alright, yes", "by all means",
             "yeah okay", "go right ahead"),
     "no": ("no", "no, no, no", "nope", "I'd rather you didn't", "no, I do not accept",
            "not okay", "absolutely no", "I say no", "no, don't do that", "I won't allow it",
            "no recording", "I'm not comfortable with that", "nah, no thanks"),
     "unknown": ("what", "excuse me?", "huh?", "who am I speaking to", "why is that",
                 "I'm not sure about that", "perhaps", "it's up to you", "let me think",
                 "wait a moment", "do I need to", "can you explain", "I'll think about it",
                 "yes, actually no", "no, wait, yes", "one second please", "I can't hear you",
                 "what company is this", "uh")},
    ("clean", "car 10 dB", "chatter 10 dB", "TV 10 dB"), fourth_backgrounds)


def fifth_backgrounds(folder):
    diner = crowd(folder, "diner-talk", "flite", ("kal", "awb", "slt"), DINER, 0.9)
    with_noise(diner, synth(folder, "diner-noise", "pinknoise"), 8, folder / "diner.wav")
    return {"hum and hiss 10 dB": synth(folder, "hum", "sine", "60", "sine", "180",
                                        "whitenoise", "lowpass", "2500"),
            "restaurant 10 dB": folder / "diner.wav",
            "street 10 dB": synth(folder, "street", "pinknoise", "lowpass", "800", "tremolo",
                                  "0.2", "70")}


DINER = ("Two coffees and a slice of the apple pie for the table by the window",
         "She moved to the city last spring and started a new job at the bank",
         "Turn left at the lights and the car park is right behind the library")

# Written before the grammar was made to confirm Whisper's own words (that change was tuned
# on the first and second sets only): flite voices shifted in pitch (sox, another voice from
# the same synthesiser), espeak-ng variants used nowhere else, phrasings and backgrounds used
# nowhere else.
FIFTH = Set(
    "Speech on the fifth held-out set (never tuned on)",
    "6 voices (flite awb a third lower, flite slt a third higher and slower, espeak-ng "
    "variants Alicia, Andy, adam and aunty on four accents), phrasings written before the "
    "grammar confirmed Whisper's words, clean and in hum and hiss, a restaurant and a street "
    "at 10 dB",
    (("flite", "awb", 1.0, -400), ("flite", "slt", 1.1, 350),
     ("espeak-ng", "en-us+Alicia", 150), ("espeak-ng", "en-gb+Andy", 165),
     ("espeak-ng", "en-029+adam", 150), ("espeak-ng", "en-gb-scotland+aunty", 160)),
    {"yes": ("yes", "yes, sure", "okay, you can record", "that's all right with me",
             "sure, no worries", "of course, go ahead", "yes, that's okay with me",
             "I'm fine with that", "yep, sure", "record away", "absolutely, yes", "yes I do",
             "mm-hmm, yes", "yeah, why not"),
     "no": ("no", "no, sorry", "I don't want to be recorded", "not really",
            "no, please don't record", "I'd rather you not", "I don't allow that",
            "don't record me", "no, I refuse", "I say no to that", "certainly not",
            "no, not okay", "nope, never"),
     "unknown": ("what did you just say", "is this call being recorded", "hold on a second",
                 "I have to think", "maybe later", "who are you", "I'm driving right now",
                 "yes and no", "not sure yet", "sorry, what", "can I speak to someone",
                 "what happens if I say no", "uh, hmm", "I don't understand",
                 "how long is it kept", "it's fine, no", "give me a moment")},
    ("clean", "hum and hiss 10 dB", "restaurant 10 dB", "street 10 dB"), fifth_backgrounds)


def sixth_backgrounds(folder):
    office = crowd(folder, "office-talk", "espeak-ng", ("en-us+m2", "en-gb+f2", "en-us+m6"),
                   OFFICE, 150)
    with_noise(office, synth(folder, "office-hum", "brownnoise", "highpass", "200"), 6,
               folder / "office.wav")
    return {"office 10 dB": folder / "office.wav",
            "wind 10 dB": synth(folder, "wind", "brownnoise", "highpass", "80", "tremolo",
                                "0.5", "80"),
            "kitchen 10 dB": synth(folder, "kitchen", "whitenoise", "sine", "900", "bandpass",
                                   "3000", "1000", "tremolo", "7", "90")}


OFFICE = ("The quarterly figures are due on Monday so please send yours by the weekend",
          "Can somebody fix the printer on the third floor it keeps jamming again",
          "I moved the meeting to half past two because the room was already booked")

# Written at the start of the session that changed the judge's phrases, before any of them
# was chosen (from the first five sets' transcripts only): voices, phrasings and
# backgrounds used nowhere else.
SIXTH = Set(
    "Speech on the sixth held-out set (never tuned on)",
    "6 voices (flite rms lower and slower, festival ked higher and slower, espeak-ng "
    "variants Steph, travis, Belinda and Quincy on four accents), phrasings used nowhere "
    "else, clean and in an office, wind and a kitchen at 10 dB",
    (("flite", "rms", 0.95, -300), ("festival", "ked_diphone", 0.9, 250),
     ("espeak-ng", "en-us+Steph", 150), ("espeak-ng", "en-gb-x-rp+travis", 160),
     ("espeak-ng", "en-029+Belinda", 145), ("espeak-ng", "en-us-nyc+Quincy", 165)),
    {"yes": ("yes", "yep, carry on", "sure, that works", "yeah, that's fine by me",
             "I give my consent", "you have my permission", "okay, I agree",
             "yes please, go ahead", "sounds good",
             "happy for you to record", "fine, you can record", "certainly, yes",
             "yeah, no problem", "that's acceptable to me", "of course I agree"),
     "no": ("no", "no, I don't consent", "thanks, but no", "I'd prefer you didn't",
            "please do not record this", "no, I do not agree", "you don't have my permission",
            "not okay with me", "no, leave it off", "nope, not today",
            "I'm not comfortable being recorded", "my answer is no", "no chance",
            "nope, nope"),
     "unknown": ("what is this about", "could you say that again", "hmm, let me see",
                 "why do you record", "I'm unsure", "give me a sec",
                 "yes? who is calling", "I have no clue", "is that legal", "ask me later",
                 "I was not listening", "you said what", "depends on what for",
                 "can you hear me", "hello, anyone there", "yes or no, I'm not sure",
                 "I need to ask my wife")},
    ("clean", "office 10 dB", "wind 10 dB", "kitchen 10 dB"), sixth_backgrounds)


def seventh_backgrounds(folder):
    floor = crowd(folder, "floor-talk", "kokoro", ("jf_gongitsune", "jm_kumo@en-gb-x-rp",
                                                   "jf_nezumi"), FLOOR, 1.0)
    return {"call centre 10 dB": floor,
            "rain 10 dB": synth(folder, "rain", "pinknoise", "lowpass", "3000", "tremolo",
                                "13", "30"),
            "ringing phone 10 dB": synth(folder, "ring", "sine", "440", "sine", "mix", "480",
                                         "tremolo", "20", "100")}


FLOOR = ("Thank you for calling, how can I help you with your account today",
         "Your parcel is on its way and should arrive by Thursday afternoon",
         "Let me transfer you to the billing team, please stay on the line")

# Written at the start of the session that measured Whisper base against tiny.en, before
# either was scored on it: a fourth synthesiser (neural: Kokoro-82M, bench/kokoro.py),
# phrasings and backgrounds used in no other set.
SEVENTH = Set(
    "Speech on the seventh held-out set (the judge's last phrases were taken from it)",
    "6 voices of a neural synthesiser (Kokoro-82M's Japanese voices alpha, gongitsune, "
    "nezumi, tebukuro and kumo reading American or British English), phrasings used "
    "nowhere else, clean and on a call-centre floor, in rain and beside a ringing phone at "
    "10 dB",
    (("kokoro", "jf_alpha", 1.0), ("kokoro", "jf_gongitsune", 0.9), ("kokoro", "jf_nezumi", 1.1),
     ("kokoro", "jf_tebukuro@en-gb-x-rp", 1.0), ("kokoro", "jm_kumo", 0.95),
     ("kokoro", "jm_kumo@en-gb-x-rp", 1.15)),
    {"yes": ("yes", "yes, you may record", "yes, I'm good with that", "yeah, go on then",
             "I'm okay with it", "yes, I consent to that", "absolutely, go ahead",
             "fine with me", "agreed", "yes, record away", "that's alright with me",
             "yep, that's fine", "please do", "okay, you can record the call",
             "go ahead and record"),
     "no": ("no", "no, please don't do that", "no, I don't want that",
            "I would rather not be recorded", "no, stop the recording", "no, absolutely not",
            "nah, I'd rather you didn't", "I refuse to be recorded",
            "no, I'm not okay with that", "do not record me please", "I object to that",
            "not a chance", "certainly not, no", "no, thank you very much"),
     "unknown": ("sorry, what was that", "who is this speaking", "hold on a moment",
                 "I'm not sure yet", "what does that mean", "uh, maybe another time",
                 "let me think about it", "is this a sales pitch", "say that again please",
                 "can I call you back", "I suppose so", "I really don't know",
                 "perhaps, I'm not sure", "what recording", "can you speak up",
                 "how long will you keep it", "I might be okay with that")},
    ("clean", "call centre 10 dB", "rain 10 dB", "ringing phone 10 dB"), seventh_backgrounds)


def eighth_backgrounds(folder):
    talker = folder / "neighbour.wav"
    speak("kokoro", "jf_alpha@en-gb-x-rp", 1.0, NEIGHBOUR, talker)
    return {"air conditioner 10 dB": synth(folder, "aircon", "brownnoise", "lowpass", "500",
                                           "tremolo", "0.2", "20"),
            "typing 10 dB": synth(folder, "typing", "whitenoise", "highpass", "1500",
                                  "tremolo", "9", "100"),
            "second speaker 10 dB": talker}


NEIGHBOUR = "I told him the bus was late again so we will have to walk to the station"

# Written after the seventh set was scored (it showed the judge missing "fine with me", "go
# on then", "I'm good with that"), before the judge was changed: Kokoro voice blends on
# other accents, festival slt lower, phrasings and backgrounds used in no other set.
EIGHTH = Set(
    "Speech on the eighth held-out set (never tuned on)",
    "7 voices (Kokoro-82M's voice styles blended in pairs and read in New York, Scottish, "
    "Caribbean and northern English accents, festival slt HTS lower and slower), phrasings "
    "used nowhere else, clean and beside an air conditioner, typing and a second speaker "
    "at 10 dB",
    (("kokoro", "jf_alpha+jm_kumo@en-us-nyc", 1.05),
     ("kokoro", "jf_nezumi+jf_tebukuro@en-gb-scotland", 0.9), ("kokoro", "jm_kumo@en-029", 1.0),
     ("kokoro", "jf_gongitsune+jf_alpha@en-gb-x-gbclan", 1.2), ("kokoro", "jf_tebukuro", 0.85),
     ("kokoro", "jm_kumo+jf_nezumi@en-gb-x-rp", 1.1),
     ("festival", "cmu_us_slt_arctic_hts", 0.9, -200)),
    {"yes": ("yes", "yes, go ahead with it", "sure, go on", "yeah, that's okay with me",
             "alright then, you can record", "I'm happy for you to do that",
             "yes, permission granted", "okay, sure", "yes, absolutely, yes",
             "yes, I'm fine with it", "be my guest", "oh yes, of course",
             "no objection from me", "yeah, works for me", "certainly, record it"),
     "no": ("no", "no, I don't think so", "no, I'd rather you didn't record",
            "please don't record this call", "no, I'm not happy with that",
            "I don't want this recorded", "no, not at all", "nope, sorry, no",
            "I do not give my consent", "absolutely not, no", "no, that's not okay",
            "no, turn it off please", "I'm saying no", "nah, not for me"),
     "unknown": ("pardon me?", "what was the question", "just one second",
                 "I'm not really sure", "why is it recorded", "maybe, maybe not",
                 "I'll have a think", "who's asking", "repeat that please", "is it mandatory",
                 "I don't follow", "sorry, I missed that", "hmm, I'm not certain",
                 "what if I refuse", "speak slower please", "let me ask my husband",
                 "yes, what is it regarding")},
    ("clean", "air conditioner 10 dB", "typing 10 dB", "second speaker 10 dB"),
    eighth_backgrounds)


def ninth_backgrounds(folder):
    talker = folder / "colleague.wav"
    speak("kokoro", "jm_kumo+jf_gongitsune@en-gb-x-rp", 1.05, COLLEAGUE, talker)
    return {"vacuum cleaner 10 dB": synth(folder, "vacuum", "pinknoise", "bandpass", "800",
                                          "400", "tremolo", "30", "20"),
            "siren 10 dB": synth(folder, "siren", "sine", "650-1300"),
            "second speaker 10 dB": talker}


COLLEAGUE = "Could you pass me the file from the top drawer before the manager gets back"

# Written after make bench showed the eighth set's judge change letting "not okay with me"
# (heard "Okay, with me.") and "I'm unsure" (heard "I'm sure.") through on the sixth set,
# before the fix was scored on it: negated at-ease phrasings among them.
NINTH = Set(
    "Speech on the ninth held-out set (never tuned on)",
    "7 voices (Kokoro-82M voice styles blended in other pairs, on American, British and West "
    "Midlands readings; espeak-ng variants John and shelby), phrasings used nowhere else, "
    "clean and beside a vacuum cleaner, a siren and a second speaker at 10 dB",
    (("kokoro", "jf_alpha+jf_nezumi", 1.0),
     ("kokoro", "jm_kumo+jf_tebukuro@en-gb-x-gbcwmd", 0.9),
     ("kokoro", "jf_gongitsune+jf_tebukuro@en-gb-x-rp", 1.1),
     ("kokoro", "jf_alpha+jf_gongitsune+jm_kumo", 0.95),
     ("kokoro", "jf_nezumi@en-gb-x-gbcwmd", 1.0),
     ("espeak-ng", "en-us+john", 155), ("espeak-ng", "en-gb+shelby", 165)),
    {"yes": ("yes", "yeah, that's fine with me", "sure, record it", "yes, I'm good with it",
             "go on, record it", "yes, that's alright", "of course, record away",
             "I'm okay with you recording", "yep, I agree", "fine, yes",
             "yes, you can go ahead", "that's fine, go ahead", "I consent, yes",
             "certainly, go on", "yes, happy with that"),
     "no": ("no", "not okay with that", "I'm not fine with it", "no, I'm not good with that",
            "I am not happy about it", "no, don't you dare", "no, I don't want to",
            "no, please no", "I don't agree with that", "nope, not okay", "no, I decline",
            "I'm against it", "no, not happy with that", "stop, no recording"),
     "unknown": ("I'm unsure about this", "not sure, sorry", "okay, but why", "sure? what for",
                 "who's calling please", "hmm, hold on", "I need a moment", "is it optional",
                 "what's the recording for", "could you explain", "let me ponder that",
                 "maybe if it's short", "you're very quiet", "sorry, come again",
                 "depends who listens", "can I say no", "yes, what did you say")},
    ("clean", "vacuum cleaner 10 dB", "siren 10 dB", "second speaker 10 dB"), ninth_backgrounds)


def tenth_backgrounds(folder):
    chat = crowd(folder, "chat", "kokoro", ("jf_nezumi@en-gb-x-rp", "jm_kumo@en-us-nyc"),
                 CHAT, 1.0)
    return {"fan 10 dB": synth(folder, "fan", "pinknoise", "lowpass", "1200", "tremolo", "4",
                               "10"),
            "line crackle 10 dB": synth(folder, "crackle", "whitenoise", "tremolo", "23", "90"),
            "two talkers 10 dB": chat}


CHAT = ("The parcel came this morning but the box was open and half of it was missing",
        "We should book the table for eight and ask them for the room at the back")

# Written before the cascade's rule for a bare "yes" was looked at (the grammar hears many
# synthetic yeses as "hello" or "what"): one-word answers that sound like it or question it
# ("yes?", "guess so", "bless you") among the phrasings.
TENTH = Set(
    "Speech on the tenth held-out set (never tuned on)",
    "7 voices (Kokoro-82M voice styles blended in pairs not used before, on New York, "
    "Caribbean, Scottish and West Midlands readings; espeak-ng variants caleb and robert), "
    "phrasings used nowhere else, clean and beside a fan, a crackling line and two people "
    "talking at 10 dB",
    (("kokoro", "jf_tebukuro+jm_kumo@en-us-nyc", 1.0),
     ("kokoro", "jf_nezumi+jf_gongitsune@en-029", 0.95),
     ("kokoro", "jf_alpha+jf_tebukuro@en-gb-scotland", 1.05),
     ("kokoro", "jm_kumo+jf_alpha@en-gb-x-gbcwmd", 1.1),
     ("kokoro", "jf_gongitsune+jm_kumo", 0.9),
     ("espeak-ng", "en-us+caleb", 150), ("espeak-ng", "en-gb-x-rp+robert", 160)),
    {"yes": ("yes", "yes, that's all right", "sure, you may", "yeah, record it",
             "okay, I consent", "yes, I'm happy with it", "of course, yes", "yes, go on then",
             "absolutely, record it", "fine, go ahead", "yeah, I'm fine with that",
             "yep, go ahead", "yes, I'm okay with that", "sure, I agree", "yeah, you can"),
     "no": ("no", "nope, I don't consent", "no, I'm not okay with it", "I'd rather not",
            "no, don't record this", "definitely not, no", "not at all, no",
            "no, I won't agree to that", "nah, leave it", "I really don't want that",
            "no, thanks anyway", "no, I don't allow it", "nah, thank you", "no, never"),
     "unknown": ("yes?", "guess so", "bless you", "what's that now", "hold on, who is it",
                 "I'm not certain", "maybe, I suppose", "can you say it again",
                 "is that required", "wait, what", "I'd like to think", "why would you",
                 "let me see", "possibly later", "yes, no", "sure, no, wait", "yet?")},
    ("clean", "fan 10 dB", "line crackle 10 dB", "two talkers 10 dB"), tenth_backgrounds)


def eleventh_backgrounds(folder):
    child = folder / "child.wav"
    speak("kokoro", "jf_nezumi", 1.25, CHILD, child, 400)
    return {"dishwasher 10 dB": synth(folder, "dishwasher", "brownnoise", "tremolo", "1.5",
                                      "60"),
            "hair dryer 10 dB": synth(folder, "dryer", "whitenoise", "bandpass", "2000",
                                      "800"),
            "a child talking 10 dB": child}


CHILD = "Can we go to the park after lunch and take the red ball and the kite with us"

# Written after the tenth set showed Whisper and the grammar both hearing "yes" in a
# questioning "yes?" and in "yet?", before anything was built against it: more questioning
# one-word answers and near-homophones of "yes" among the phrasings.
ELEVENTH = Set(
    "Speech on the eleventh held-out set (never tuned on)",
    "7 voices (Kokoro-82M voice styles in three-way blends and a lower pitch, on American, "
    "Scottish and Caribbean readings; espeak-ng variants max, zac and norbert), phrasings "
    "used nowhere else, clean and beside a dishwasher, a hair dryer and a child talking at "
    "10 dB",
    (("kokoro", "jf_tebukuro+jf_nezumi+jm_kumo", 1.0),
     ("kokoro", "jf_gongitsune+jf_alpha+jf_nezumi@en-gb-scotland", 1.1),
     ("kokoro", "jm_kumo+jf_gongitsune+jf_tebukuro@en-029", 0.95, -250),
     ("kokoro", "jf_alpha+jm_kumo+jf_gongitsune@en-us-nyc", 1.05),
     ("espeak-ng", "en-us+max", 160), ("espeak-ng", "en-gb+zac", 150),
     ("espeak-ng", "en-029+norbert", 165)),
    {"yes": ("yes", "yes, you can record it", "yeah, sure thing", "okay, yes, go ahead",
             "yep, that's okay", "yes, certainly", "go ahead, yes", "I agree, go on",
             "yes, that's fine by me", "of course, go on", "absolutely, yes please",
             "yeah, go for it", "sure, that's okay", "I'm okay with that, yes",
             "yes, I give consent"),
     "no": ("no", "no, I do not want that", "nope, don't", "no, it's not okay",
            "I don't want it recorded", "no, I won't", "nah, no", "no, not a chance",
            "I'm not okay with it", "no, I said no", "not for me, thanks",
            "no, don't record", "nah, not today", "I do not accept"),
     "unknown": ("yeah?", "sure?", "okay?", "yep?", "yes, sorry?", "guess", "yes, maybe",
                 "bless", "address?", "I guess yes", "say yes?", "what, yes?", "mess",
                 "yes, if I must", "um, yes?", "next?", "is yes okay?")},
    ("clean", "dishwasher 10 dB", "hair dryer 10 dB", "a child talking 10 dB"),
    eleventh_backgrounds)


def twelfth_backgrounds(folder):
    announcer = folder / "announcer.wav"
    speak("festival", "cmu_us_slt_arctic_hts", 1.1, ANNOUNCEMENT, announcer, -300)
    return {"train 10 dB": synth(folder, "train", "brownnoise", "lowpass", "400", "tremolo",
                                 "0.8", "40"),
            "rustling 10 dB": synth(folder, "rustling", "whitenoise", "highpass", "3000",
                                    "tremolo", "11", "70"),
            "an announcement 10 dB": announcer}


ANNOUNCEMENT = "The next train to the city centre will leave from platform four in five minutes"

# Written after the eleventh set was scored, before a second Whisper reading without the
# question as prompt (which may keep a "?") was tried as a veto on questioning answers: still
# more of them ("yes? why?", "fine?", "uh, yeah?"), and words that start like "yes".
TWELFTH = Set(
    "Speech on the twelfth held-out set (never tuned on)",
    "7 voices (Kokoro-82M voice styles in four-way and weighted blends, on British, Lancashire "
    "and Caribbean readings, two shifted in pitch; espeak-ng variants Michael and grandpa; "
    "festival kal higher), phrasings used nowhere else, clean and beside a train, rustling "
    "and an announcement at 10 dB",
    (("kokoro", "jf_alpha+jf_nezumi+jf_tebukuro+jm_kumo@en-gb", 1.0),
     ("kokoro", "jm_kumo+jm_kumo+jf_nezumi@en-gb-x-gbclan", 0.95, -150),
     ("kokoro", "jf_gongitsune+jf_gongitsune+jf_alpha", 1.1, 200),
     ("kokoro", "jf_tebukuro+jf_alpha+jf_gongitsune+jf_nezumi@en-029", 1.05),
     ("espeak-ng", "en-us+Michael", 150), ("espeak-ng", "en-gb+grandpa", 140),
     ("festival", "kal_diphone", 0.95, 250)),
    {"yes": ("yes", "yes, you're welcome to record", "yeah, that's all fine",
             "sure, record the call", "okay then, yes", "yes, I allow it", "yep, you can",
             "please go ahead, yes", "yes, carry on then", "I'm fine with it, yes",
             "yes, certainly you may", "yeah, okay", "of course, that's fine", "yes, that works",
             "alright, go ahead"),
     "no": ("no", "no, I'd rather you didn't", "nope, no recording", "no, I'm not having that",
            "no, please don't record me", "I won't allow that", "no, definitely not",
            "nah, I'd rather not", "no, switch it off", "I don't consent to that",
            "no, that's not alright", "no way, no", "no, not this time", "I refuse, no"),
     "unknown": ("yes? why?", "yeah? for what?", "okay? what for?", "right?", "fine?",
                 "alright?", "sure, why?", "yes? hello?", "yesterday", "yes sir?", "go ahead?",
                 "really?", "yeah, no", "dress", "chess?", "yes, who's this?", "uh, yeah?")},
    ("clean", "train 10 dB", "rustling 10 dB", "an announcement 10 dB"), twelfth_backgrounds)


def thirteenth_backgrounds(folder):
    radio = folder / "radio.wav"
    speak("flite", "kal16", 1.1, RADIO, radio)
    return {"kettle 10 dB": synth(folder, "kettle", "pinknoise", "bandpass", "2500", "800",
                                  "tremolo", "3", "30"),
            "rumble 10 dB": synth(folder, "rumble", "brownnoise", "lowpass", "150", "tremolo",
                                  "0.3", "50"),
            "a radio 10 dB": radio}


RADIO = "And that was the weather, now back to the music with another hour of your requests"

# Written after the twelfth set was scored, before a greeting in an answer ("yes? hello?",
# granted at once four times there) was made a doubt; nothing else was tried on it.
THIRTEENTH = Set(
    "Speech on the thirteenth held-out set (never tuned on)",
    "7 voices (Kokoro-82M voice styles in new blends on US, Scottish and New York readings, "
    "two shifted in pitch; espeak-ng variants Lee, paul and anika; festival ked faster and "
    "lower), phrasings used nowhere else, greetings and questions among the non-answers, "
    "clean and beside a kettle, a low rumble and a radio at 10 dB",
    (("kokoro", "jf_nezumi+jm_kumo+jf_alpha@en-us", 1.0),
     ("kokoro", "jm_kumo+jf_tebukuro+jf_tebukuro@en-gb-scotland", 0.9, 150),
     ("kokoro", "jf_gongitsune+jf_nezumi@en-us-nyc", 1.1, -200),
     ("espeak-ng", "en-us+Lee", 145), ("espeak-ng", "en-gb-x-rp+paul", 155),
     ("espeak-ng", "en-029+anika", 150), ("festival", "ked_diphone", 1.15, -250)),
    {"yes": ("yes", "yes, go on, record it", "yeah, record it if you need to",
             "sure, that's no bother", "yes, I'm happy for you to", "okay, yes, fine",
             "yep, that's fine by me", "yeah, you can record away", "of course you may",
             "yes, by all means", "sure thing, yes", "yes, I agree to that",
             "alright then, yes please", "certainly, go ahead", "yes, that's quite alright",
             "uh, yes, go ahead"),
     "no": ("no", "no, I really don't want it", "nope, not recorded",
            "no, keep the recording off", "I'd much prefer you didn't",
            "no, I don't agree to it", "no, absolutely not, sorry", "no, thanks, not recorded",
            "no, I object", "nah, don't record", "no, not for me", "I do not give permission",
            "no, stop that", "no, I'd rather keep it private", "definitely no"),
     "unknown": ("hello? yes?", "hi, hello?", "hello, who is it?", "yes? sorry?", "yes? what?",
                 "yes, what was that?", "okay? and then?", "sure? how long for?",
                 "yeah? is it?", "erm, yes? no?", "yes... hang on", "hello, yes, hello?",
                 "is that a yes?", "do I say yes or no?", "yellow", "yes, well, no", "yeast")},
    ("clean", "kettle 10 dB", "rumble 10 dB", "a radio 10 dB"), thirteenth_backgrounds)


def fourteenth_backgrounds(folder):
    return {"lawnmower 10 dB": synth(folder, "mower", "sawtooth", "95", "lowpass", "1200",
                                     "tremolo", "6", "35"),
            "a printer 10 dB": synth(folder, "printer", "square", "1800", "lowpass", "3000",
                                     "tremolo", "4", "90"),
            "a pub 10 dB": crowd(folder, "pub", "espeak-ng", ("en-gb+m3", "en-gb+f4",
                                                              "en-us+m6"), PUB, 165)}


PUB = ("Another round of the same please and a packet of crisps for the lady",
       "They only scored in the last minute, I could not believe it",
       "Is anybody sitting here or can we take these two chairs")

# Written after the thirteenth set was scored, before a question anywhere in a transcript
# (not only at its end: "Sorry? Yes.", "Recorded? Yes.") was made a doubt; nothing else was
# tried on it.
FOURTEENTH = Set(
    "Speech on the fourteenth held-out set (never tuned on)",
    "7 voices (Kokoro-82M voice styles in new three-way blends on Welsh, Caribbean and US "
    "readings, two shifted in pitch; espeak-ng variants david, edward2 and steph3; flite rms "
    "faster and lower), phrasings used nowhere else, a question before a yes among the "
    "non-answers, clean and beside a lawnmower, a printer and a pub at 10 dB",
    (("kokoro", "jf_tebukuro+jm_kumo+jf_nezumi@en-gb-x-gbcwmd", 1.0),
     ("kokoro", "jf_nezumi+jf_alpha+jm_kumo@en-029", 0.95, 100),
     ("kokoro", "jm_kumo+jm_kumo+jf_tebukuro@en-us", 1.05, -150),
     ("espeak-ng", "en-us+david", 150), ("espeak-ng", "en-gb-scotland+edward2", 145),
     ("espeak-ng", "en-gb-x-rp+steph3", 155), ("flite", "rms", 1.15, -150)),
    {"yes": ("yes", "yes, that's fine with me", "yeah, sure, go on",
             "sure, record the whole thing", "yes, I'm happy for that",
             "okay, go ahead and record", "yep, I agree with that", "yes please, record away",
             "of course, yes, you can", "yes, I consent to it", "that's fine, yes",
             "absolutely, yes, go on", "yeah, go for it then", "alright, yes, record",
             "sure thing, record it", "yes, yes, fine"),
     "no": ("no", "no, not one bit", "no, I don't want that at all", "nope, please don't",
            "no, leave the recorder off", "I'd rather you did not",
            "no, I don't consent to any of it", "no, thank you, no", "nah, no recording",
            "no, I'm not okay with recording", "no, absolutely not, thank you", "no, I say no",
            "no, please stop", "no, I'd prefer not to", "certainly not, thanks"),
     "unknown": ("sorry? yes", "what? yes, okay", "really? sure", "pardon? yeah",
                 "yes? okay then", "sure? alright", "me? yes", "huh? yeah, fine",
                 "oh? go ahead", "recorded? yes", "yes? fine, yes", "who? yes",
                 "yes, if I really must", "only if you need to", "I suppose so, yes",
                 "yeah, maybe", "messy")},
    ("clean", "lawnmower 10 dB", "a printer 10 dB", "a pub 10 dB"), fourteenth_backgrounds)


def fifteenth_backgrounds(folder):
    return {"rain on a roof 10 dB": synth(folder, "roof", "pinknoise", "highpass", "1500",
                                          "tremolo", "11", "60"),
            "a drill 10 dB": synth(folder, "drill", "sawtooth", "320", "bandpass", "900", "400",
                                   "tremolo", "2", "80"),
            "a café 10 dB": crowd(folder, "cafe", "espeak-ng", ("en-us+m8", "en-gb+f5",
                                                                "en-029+m2"), CAFE, 170)}


CAFE = ("A flat white and a scone please, and could we have some water too",
        "She moved to the coast last spring and she loves the new job",
        "Sorry, is this the queue for ordering or for collecting")

# Written after the fourteenth set was scored with a question anywhere in a transcript a
# doubt, before every spoken yes was made to be confirmed by default; nothing was tried on it.
FIFTEENTH = Set(
    "Speech on the fifteenth held-out set (never tuned on)",
    "7 voices (Kokoro-82M voice styles in new blends on Lancashire, British and US readings, "
    "two shifted in pitch; espeak-ng variants m7, iven3 and victor; festival ked faster and "
    "higher), phrasings used nowhere else, questions before and after a yes among the "
    "non-answers, clean and beside rain on a roof, a drill and a café at 10 dB",
    (("kokoro", "jf_nezumi+jm_kumo@en-gb-x-gbclan", 1.0),
     ("kokoro", "jf_alpha+jf_tebukuro+jm_kumo@en-gb-x-rp", 0.9, -100),
     ("kokoro", "jf_gongitsune+jm_kumo+jf_alpha@en-us", 1.1, 120),
     ("espeak-ng", "en-gb+m7", 150), ("espeak-ng", "en-us-nyc+iven3", 160),
     ("espeak-ng", "en-gb-scotland+victor", 140), ("festival", "ked_diphone", 0.85, 150)),
    {"yes": ("yes", "yes, that's no problem", "yeah, that works for me",
             "sure, you may record", "yes, I'm fine with being recorded",
             "okay, you can record it", "yep, agreed", "yes, carry on",
             "yes, I give my consent", "that's alright by me", "yeah, record it, fine",
             "definitely, yes", "yes, go right ahead", "sure, no objection",
             "yes, I'm alright with it", "yeah, yeah, fine"),
     "no": ("no", "no, that won't be necessary", "nope, not on this call",
            "no, I'm not agreeing to that", "no recording for me, thanks",
            "I'd really rather not", "no, I withhold consent", "no, no, please don't",
            "nah, skip the recording", "no, I am not comfortable with that",
            "please don't record this",
            "no, turn it off", "no means no", "no way, not happening", "no chance at all"),
     "unknown": ("hmm? yes", "now? sure", "recording? okay", "wait, what? yes",
                 "yes? is it on?", "pardon me? go ahead", "you mean yes?", "right? yes, fine",
                 "is it? okay then", "okay? fine", "what for? yes", "yes, but why?",
                 "yes, or no, whichever", "I might, yes", "possibly, yeah", "yes-man",
                 "no idea, yes")},
    ("clean", "rain on a roof 10 dB", "a drill 10 dB", "a café 10 dB"), fifteenth_backgrounds)


SETS = {"first": FIRST, "fresh": FRESH, "third": THIRD, "fourth": FOURTH, "fifth": FIFTH,
        "sixth": SIXTH, "seventh": SEVENTH, "eighth": EIGHTH, "ninth": NINTH,
        "tenth": TENTH, "eleventh": ELEVENTH,
        "twelfth": TWELFTH, "thirteenth": THIRTEENTH,
        "fourteenth": FOURTEENTH, "fifteenth": FIFTEENTH}


def dataset(spec, folder):
    """[(path, label, condition, what)]: every phrase by every voice clean; in noise, each
    phrase by two voices in turn, so each condition has as many answers as two voices."""
    noise = spec.backgrounds(folder)
    items, codecs, voices = [], itertools.cycle(CODECS), len(spec.voices)
    for v, (engine, voice, speed, *cents) in enumerate(spec.voices):
        for label, phrases in spec.phrases.items():
            for p, text in enumerate(phrases):
                stem = folder / f"{voice}{v}-{label}-{p}"
                spoken = stem.with_suffix(".spoken.wav")
                speak(engine, voice, speed, text, spoken, *cents)
                for c, condition in enumerate(spec.conditions):
                    if condition != "clean" and (p + c) % voices not in (v, (v + 3) % voices):
                        continue
                    source = spoken
                    if condition != "clean":
                        source = stem.with_suffix(f".c{c}.mix.wav")
                        with_noise(spoken, noise[condition], 10, source)
                    target = stem.with_suffix(f".c{c}.wav")
                    phone_line(source, next(codecs), target)
                    items.append((target, label, condition, f"{engine} {voice}: {text}"))
    for kind, effect in NON_SPEECH.items():
        path = folder / f"{kind.replace(' ', '-')}.wav"
        run("sox", "-R", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), *effect.split())
        items.append((path, "unknown", "non-speech", kind))
    return items


def score(engine, items):
    """Run one engine over the set in this process; answers, CPU per answer, load time."""
    from agi_consent.call.speech import Classifier
    started = time.monotonic()
    classifier = Classifier(engine=engine)
    load = time.monotonic() - started
    results, cpu = [], []
    for path, label, condition, what in items:
        before = time.process_time()
        answer = classifier.classify_file(path)
        cpu.append(1000 * (time.process_time() - before))
        results.append((label, answer.answer, condition, what, answer.transcript,
                        answer.speech_seconds))
    return {"results": results, "cpu_ms": cpu, "load_s": load, "rss_mb": own_peak_mb()}


def own_peak_mb():
    """This process's peak RSS (VmHWM): ru_maxrss would carry the parent's over fork+exec."""
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def score_in_process(engine, folder):
    """Each engine in a fresh process: RSS per worker is the engine's alone."""
    import json
    output = subprocess.run([sys.executable, "-m", "bench.heldout", "--score", engine,
                             str(folder)], check=True, capture_output=True, text=True).stdout
    return json.loads(output)


SHORT_YES = 1.0  # `speech.confirm_under` for a site that confirms only short yeses


def short_yes(speech_seconds):
    """A yes the call flow would confirm under `speech.confirm_under = 1` (by default it
    confirms every spoken yes, so no window alone is ever granted)."""
    return speech_seconds is None or speech_seconds < SHORT_YES


def summarise(spec, scored):
    results = scored["results"]
    speech = [r for r in results if r[2] != "non-speech"]
    cells = {"false accepts": sum(r[1] == "yes" and r[0] != "yes" for r in results)}
    granted = [r for r in results if r[1] == "yes"]
    cells["granted alone"] = sum(r[0] != "yes" and not short_yes(r[5]) for r in granted)
    real = [r for r in granted if r[0] == "yes"]
    cells["asked to confirm"] = (sum(short_yes(r[5]) for r in real), len(real))
    for condition in spec.conditions:
        subset = [r for r in speech if r[2] == condition]
        cells[condition] = (sum(r[0] == r[1] for r in subset), len(subset))
    for label in ("yes", "no"):
        plain = [r for r in speech if r[3].endswith(f": {label}")]
        cells[f"plain {label}"] = (sum(r[1] == label for r in plain), len(plain))
    non = [r for r in results if r[2] == "non-speech"]
    cells["non-speech"] = (sum(r[1] == "unknown" for r in non), len(non))
    cpu = sorted(scored["cpu_ms"][:len(speech)])
    cells["cpu"] = (statistics.median(cpu), cpu[int(len(cpu) * 0.95)])
    cells["false"] = [r for r in results if r[1] == "yes" and r[0] != "yes"]
    return cells


def percent(right, total):
    return f"{right}/{total} ({100 * right / total:.0f} %)"


def report(spec, scores, items):
    summary = {engine: summarise(spec, scored) for engine, scored in scores.items()}
    key = next(k for k, v in SETS.items() if v is spec)
    lines = [f"## {spec.name}", "",
             f"{len(items)} answer windows: {spec.described}; "
             f"{sum(map(len, spec.phrases.values()))} phrasings in all (free yeses, negations, "
             "hedges, questions, contradictions), through µ-law, A-law or GSM, padded as "
             f"Asterisk records a window; plus {len(NON_SPEECH)} non-speech windows. "
             f"`python -m bench.heldout {key}`.", "",
             "| | " + " | ".join(f"`{e}`" for e in scores) + " | target |",
             "|---|" + "---|" * (len(scores) + 1),
             "| false accepts | " + " | ".join(f"**{summary[e]['false accepts']}**"
                                               for e in scores) + " | 0 |",
             "| of them, granted at once with `speech.confirm_under = 1` (by default: "
             "none) | " + " | ".join(
                 f"**{summary[e]['granted alone']}**" for e in scores) + " | 0 |",
             "| real yeses asked to confirm with `speech.confirm_under = 1` (by default: "
             "all) | " + " | ".join(
                 "{}/{}".format(*summary[e]["asked to confirm"]) for e in scores) + " | |"]
    for condition in spec.conditions:
        target = "≥ 90 %" if condition == "clean" else "≥ 85 %"
        lines.append(f"| correct, {condition} | " + " | ".join(
            percent(*summary[e][condition]) for e in scores) + f" | {target} |")
    for label in ("yes", "no"):
        lines.append(f"| plain \"{label}\" understood | " + " | ".join(
            "{}/{}".format(*summary[e][f"plain {label}"]) for e in scores) + " | ≥ 17 of 18 |")
    lines += ["| non-speech judged unknown | " + " | ".join(
                  "{}/{}".format(*summary[e]["non-speech"]) for e in scores) + " | all |",
              "| CPU per answer, median / p95 | " + " | ".join(
                  f"{summary[e]['cpu'][0]:.0f} / {summary[e]['cpu'][1]:.0f} ms"
                  for e in scores) + " | median ≤ 400 ms |",
              "| RSS per worker | " + " | ".join(f"{scores[e]['rss_mb']:.0f} MB"
                                                 for e in scores) + " | ≤ 300 MB |",
              "| load time | " + " | ".join(f"{scores[e]['load_s']:.1f} s" for e in scores)
              + " | |",
              "| answers/s per core (1 / median CPU) | " + " | ".join(
                  f"{1000 / summary[e]['cpu'][0]:.1f}" for e in scores) + " | |", ""]
    for engine in scores:
        for _, _, condition, what, transcript, seconds in summary[engine]["false"]:
            confirmed = "under 1 s" if short_yes(seconds) else "over 1 s"
            lines.append(f"- false accept by `{engine}`: {what} ({condition}) heard "
                         f"\"{transcript}\" ({confirmed})")
    return lines


def main():
    """`python -m bench.heldout [SET …]` (every set of SETS by default); `--score ENGINE
    FOLDER` is the per-engine child process."""
    import json
    if sys.argv[1:2] == ["--score"]:
        folder = Path(sys.argv[3])
        items = [(Path(p), label, c, w) for p, label, c, w in
                 json.loads((folder / "items.json").read_text())]
        print(json.dumps(score(sys.argv[2], items)))
        return
    names = sys.argv[1:] or list(SETS)
    if not set(names) <= set(SETS):
        sys.exit(f"usage: python -m bench.heldout [{'|'.join(SETS)}]")
    for name in names:
        print("\n".join(measure(SETS[name])))


def measure(spec):
    import json
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        items = dataset(spec, folder)
        (folder / "items.json").write_text(json.dumps([(str(p), *rest) for p, *rest in items]))
        scores = {engine: score_in_process(engine, folder) for engine in ENGINES}
        return report(spec, scores, items)


if __name__ == "__main__":
    main()
