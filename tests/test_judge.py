"""The free-speech judge (for Whisper's transcripts): a doubt is never a yes. These phrases
are the judge's own checks; the held-out measurement (bench/heldout.py) uses other ones."""

import pytest

from agi_consent.core.judge import judge, words_of

CASES = {
    "yes": ["Yes.", "Yes, yes.", "Yeah, sure thing.", "That's fine.", "Go ahead.", "Sure.",
            "I agree.", "Yes I agree", "Yes, okay.", "Of course.", "yes please, thank you", "I do.",
            "Yes, absolutely.", "Yep!", "YES", "Go for it.", "Fine by me.",
            "I'm okay with that.", "Yes, I'm fine with that.", "I'm happy with that.",
            "Yes. I accept.", "By all means.", "Go right ahead.", "Yes, indeed.",
            "Fine with me.", "Yeah, go on then.", "Yes, I'm good with that.",
            "Yes, record away.", "That's alright with me."],
    "no": ["No.", "Nope.", "No thanks.", "I don't agree.", "I do not consent.",
           "Absolutely not.", "Not at all.", "Please don't record this.", "I'd rather not.",
           "No, I don't.", "Do not record.", "Nah.", "No, no.", "Not today.", "I won't.",
           "I will not agree.", "I'm not okay with that.", "Not really.", "I'd prefer not.",
           "Please, no.", "No, sorry.", "Nope, sorry.", "No way, sorry.",
           "I'm not comfortable with that.", "I'm not happy with that.", "That's not fine.",
           "I say no.", "I don't accept.", "I don't give permission.", "I don't allow that.",
           "Hello, no thanks.", "Hi, I don't consent.",
           # a question before a refusal does not weaken it: declining records nothing
           "Recorded? No, thank you.", "Hm? No thanks.", "Now? No, I don't agree."],
    "unknown": ["Maybe.", "I think so.", "I guess.", "Can you repeat that?", "Is it recorded?",
                "No... yes.", "Yes, no.", "Hello?", "Who is this?", "No problem.",
                "I'm not sure.", "Sorry?", "", "What?", "Yes, I don't agree.",
                "Yes if it's short", "Okay, maybe.", "Call me later.", "I don't.",
                "Thank you.", "Sure, why not?", "Sorry, what?", "Sorry, I accept.",
                "Yes, but not now.", "Okay.", "Alright.", "Fine.",
                "Fine, no.", "Yes, wait.", "Absolutely, I don't know.", "Yes sir, hold on",
                "I'm okay.", "Go for it?", "I'm okay with that, not today.",
                "I'm happy with that, not today.", "I accept, not really.", "Do I accept?",
                "I accept no responsibility.", "No, go right ahead.",
                "Go on?", "Good with what?", "Fine with me, but not today.", "Go on, then what?",
                "I'm good.", "I'm good with that, maybe.", "Not good with that.",
                "I'm fine with it if it's short.", "Then what?", "Go on, who is this?",
                # what Whisper heard in "not okay with me" and "I'm unsure" (bench/heldout.py)
                "Okay, with me.", "I'm sure.", "Alright with me.", "Okay by me.",
                # a greeting: the caller is checking the line, not answering (twelfth set)
                "Yes, hello.", "Hello? Yes.", "Hi, yes.", "Hey, sure.",
                # a question before the yes: the caller asked something first
                "Sorry? Yes.", "Recorded? Yes, okay.", "Yes? Sure.", "Really? Go ahead.",
                "Me? Yes.", "¿Yes?"],
}


@pytest.mark.parametrize("expected,transcript",
                         [(label, text) for label, texts in CASES.items() for text in texts])
def test_judge(expected, transcript):
    assert judge(transcript) == expected


def test_a_language_without_a_vocabulary_is_never_yes():
    assert judge("oui", language="fr") == "unknown"
    assert judge("yes", language="fr") == "unknown"


def test_words_keep_apostrophes_and_drop_punctuation():
    assert words_of("No, I don’t!") == ["no", "i", "don't"]
