"""Free speech → yes, no or unknown; pure, per language, biased so that a doubt is never a yes.

A free transcript (Whisper's) is judged by what it says, not by an exact phrase list:
- **yes** only when every word is an affirmative or a harmless filler ("yes", "sure thing",
  "that's fine", "go ahead", "yes yes", "yeah okay thanks") — an unknown word is a doubt;
- **no** when it declines: it opens with a negation ("no", "nope", "absolutely not") or holds
  a decline phrase ("I don't agree", "do not record", "I'd rather not"), and affirms nothing
  after it;
- **unknown** for everything else: a hedge ("maybe", "I think so", "I guess"), a question
  ("can you repeat that?", "is it recorded?", and one before a yes: "Recorded? Yes."), a
  contradiction ("no … yes", "yes, no"), a negated affirmative that is not a decline phrase
  ("not sure"), or a word outside the vocabulary. Unknown re-asks; it is never consent.

Another language is a new `Vocabulary` in `VOCABULARIES`; the rules stay the same.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Vocabulary:
    affirm: frozenset  # words that on their own say yes
    strong_affirm: frozenset  # the yeses that contradict a refusal they appear in
    affirm_phrases: tuple  # multi-word yeses, matched before the words ("go ahead")
    filler: frozenset  # words that may surround a yes without changing it
    negation: frozenset  # words that turn any sentence into a refusal or a doubt
    decline_phrases: tuple  # refusals that need no leading "no"
    decline_openers: frozenset  # a first word that makes the answer a refusal
    hedges: tuple  # words or phrases that make any answer a doubt
    question_openers: frozenset
    not_yes: tuple  # phrases that look affirmative but are not consent ("no problem")
    polite: tuple  # hedges that are only politeness after a refusal ("no, sorry")


ENGLISH = Vocabulary(
    # "okay", "alright", "fine" alone acknowledge rather than consent: fillers, not yeses
    affirm=frozenset({"yes", "yeah", "yep", "yup", "ya", "yea", "sure", "agree", "agreed",
                      "consent", "absolutely", "certainly", "definitely", "indeed"}),
    strong_affirm=frozenset({"yes", "yeah", "yep", "yup", "sure", "okay", "ok", "agree"}),
    affirm_phrases=("go ahead", "of course", "that's fine", "that is fine", "that's ok",
                    "that's okay", "sure thing", "you may", "you can", "please do",
                    "i agree", "i consent", "i do", "that's alright", "all right",
                    "go for it", "fine by me", "fine with me", "i'm okay with", "i'm ok with",
                    "i'm fine with", "i'm happy with", "i'm good with", "i accept",
                    "by all means", "go right ahead", "go on", "record away"),
    filler=frozenset({"please", "thanks", "thank", "you", "um", "uh", "er", "erm", "well",
                      "oh", "so", "i", "it", "that's", "that", "is", "record",
                      "recording", "recorded", "the", "call", "this", "me", "by", "with",
                      "to", "and", "totally", "sir", "madam", "ma'am",
                      "mhm", "uh-huh", "ok", "okay", "alright", "fine", "right", "correct",
                      "then"}),  # never "i'm": Whisper hears "I'm sure." in "I'm unsure"
    negation=frozenset({"no", "not", "nope", "nah", "never", "don't", "dont", "doesn't",
                        "won't", "wont", "can't", "cannot", "shouldn't", "wouldn't",
                        "refuse", "decline", "disagree", "rather", "stop", "without",
                        "n't", "neither", "nor", "none"}),
    decline_phrases=("i don't agree", "i do not agree", "i don't consent", "i do not consent",
                     "don't record", "do not record", "i refuse", "i decline",
                     "i'd rather not", "i would rather not", "rather not", "not at all",
                     "absolutely not", "certainly not", "definitely not", "of course not",
                     "i disagree", "i don't want", "i do not want", "please don't",
                     "no way", "not okay", "not ok", "i object", "don't want",
                     "no thank you", "no thanks", "not today", "i will not", "i won't",
                     "will not agree", "won't agree", "not really", "i'd prefer not",
                     "i prefer not", "prefer not to", "please no", "not comfortable",
                     "not happy", "not fine", "i say no", "i don't accept", "i do not accept",
                     "don't give permission", "do not give permission", "don't allow",
                     "do not allow"),
    decline_openers=frozenset({"no", "nope", "nah", "never", "negative"}),
    hedges=("maybe", "perhaps", "possibly", "probably", "i guess", "i think", "i suppose",
            "not sure", "i don't know", "i do not know", "dunno", "kind of", "sort of",
            "let me think", "might", "depends", "if", "unless", "later", "why", "what",
            "wait", "hold on", "hang on", "repeat", "again", "pardon", "sorry",
            "hello", "hi", "hey"),  # a greeting checks the line ("yes? hello?"): not an answer
    polite=("sorry", "hello", "hi", "hey"),
    question_openers=frozenset({"what", "who", "why", "how", "when", "where", "which",
                                "can", "could", "would", "will", "is", "are", "do",
                                "does", "did", "should", "may"}),
    not_yes=("no problem", "not a problem", "yes no", "no yes"),
)

VOCABULARIES = {"en": ENGLISH}
# The languages a caller may answer in by voice: a Vocabulary here, and models for it in
# call/speech.py and call/whisper.py (the bundled ones, en-us and tiny.en, are English only).
SPOKEN_LANGUAGES = ("en",)

_WORD = re.compile(r"[a-z]+(?:['’-][a-z]+)*")
_QUESTION = re.compile("[?？¿]")


# A Whisper yes needs at least this average token log-probability in its least sure segment
# (`speech.whisper_min_logprob`): on the development set (the first held-out set,
# bench/heldout.py) true yeses ran -0.85 … -0.02 (median -0.19) and the one false yes -0.94;
# checked on a fresh set nothing was tuned on (bench/heldout2.py).
WHISPER_MIN_LOGPROB = -0.7


def words_of(transcript):
    """Lower-case words; apostrophes kept (don't), the rest of the punctuation dropped."""
    return [w.replace("’", "'") for w in _WORD.findall(transcript.lower())]


def _has(text, phrases):
    return any(re.search(rf"(?<![a-z']){re.escape(p)}(?![a-z'])", text) for p in phrases)


def judge(transcript, language="en"):
    """yes | no | unknown for what the caller said."""
    vocabulary = VOCABULARIES.get(language)
    words = words_of(transcript)
    if vocabulary is None or not words:
        return "unknown"
    text = " ".join(words)
    asked = transcript.strip().endswith("?") or (
        words[0] in vocabulary.question_openers and words[0] != "i"
        and not _has(text, vocabulary.decline_phrases))
    declines = words[0] in vocabulary.decline_openers or _has(text, vocabulary.decline_phrases)
    hedges = [h for h in vocabulary.hedges if not (declines and h in vocabulary.polite)]
    if asked or _has(text, hedges) or _has(text, vocabulary.not_yes):
        return "unknown"
    if declines:
        return "unknown" if _also_affirms(text, vocabulary) else "no"
    if set(words) & vocabulary.negation:
        return "unknown"  # a negation that is not a recognised refusal: a doubt
    if _QUESTION.search(transcript):  # asked anywhere ("Recorded? Yes."): the caller checked
        return "unknown"  # something first; a refusal needs no such care, it records nothing
    return "yes" if _only_affirmative(text, vocabulary) else "unknown"


def _also_affirms(text, vocabulary):
    """A refusal that also says yes ("no … yes", "yes, I don't agree") contradicts itself."""
    for phrase in sorted(vocabulary.decline_phrases, key=len, reverse=True):  # longest first
        text = re.sub(rf"(?<![a-z']){re.escape(phrase)}(?![a-z'])", " ", text)
    return bool(set(text.split()) & vocabulary.strong_affirm) or _has(
        text, vocabulary.affirm_phrases)


def _only_affirmative(text, vocabulary):
    for phrase in sorted(vocabulary.affirm_phrases, key=len, reverse=True):
        text = re.sub(rf"(?<![a-z']){re.escape(phrase)}(?![a-z'])", " yes ", text)
    words = text.split()
    return any(w in vocabulary.affirm for w in words) and all(
        w in vocabulary.affirm or w in vocabulary.filler for w in words)
