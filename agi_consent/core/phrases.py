"""What a spoken answer may say. Pure data: the config's defaults and the speech grammar."""

ACCEPT = ("yes", "yeah", "yes please", "yes i agree", "i agree", "i consent", "sure",
          "yes you may", "yes record")
DECLINE = ("no", "nope", "no thanks", "no thank you", "i don't agree", "i do not agree",
           "i don't consent", "i do not consent", "no i don't", "no i do not", "i don't",
           "i do not", "i refuse", "don't record", "do not record", "no don't")
# Common non-answers, competing in the grammar so that "maybe" has a better path than
# "i agree" (a grammar always finds some path); never an answer.
OTHER = ("maybe", "maybe not", "perhaps", "hello", "hi", "hey", "what", "what is this",
         "who is this", "who", "why", "how", "pardon", "sorry", "excuse me", "i don't know",
         "i'm not sure", "not sure", "let me think", "hmm", "um", "uh", "okay", "ok", "well",
         "wait", "hold on", "one moment", "repeat that", "can you repeat that", "say again",
         "what did you say", "i guess", "i think so", "call me later", "later", "agent",
         "operator", "representative", "help", "thank you", "thanks", "goodbye", "bye",
         "right", "alright", "oh", "ah", "huh", "test", "hello hello")
NEGATIONS = frozenset({"no", "nope", "don't", "not", "refuse"})
DECLINE_STARTS = frozenset({"no", "nope", "don't", "do"})  # a cut-off decline is still no

# What the grammar weighs Whisper's words against when it confirms a yes: each affirmative
# word swapped for refusals of the same length ("yeah thank you" against "nah thank you").
# Swaps only: an inserted "don't" is too easy for a grammar to absorb ("okay, go ahead" read
# as "okay don't go ahead" on the development set).
REFUSALS = ("no", "nah", "nope")
SWAPS = {**{word: REFUSALS for word in (
             "yes", "yeah", "yep", "yup", "ya", "yea", "absolutely", "certainly",
             "definitely", "okay", "fine", "alright", "agreed", "right", "correct")},
         "sure": (*REFUSALS, "unsure"),  # Whisper heard "I'm sure." in "I'm unsure"
         "do": ("don't",), "can": ("can't",), "agree": ("disagree",), "will": ("won't",)}
