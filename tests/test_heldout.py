"""The held-out speech sets stay held out: no set repeats another's phrasing or voice."""

import itertools

from bench.heldout import SETS

PLAIN = {"yes", "no"}  # every set says them: the plain-answer measure
# Repeats among the first five sets, written before this check; they stay, as scored then.
EARLY_REPEATS = {("first", "fourth"): {"nope"},
                 ("first", "fifth"): {"maybe later", "don't record me", "hold on a second"},
                 ("fresh", "fourth"): {"uh", "yes, record it"}}


def phrasings(spec):
    return {p for phrases in spec.phrases.values() for p in phrases} - PLAIN


def test_no_set_repeats_a_phrasing_of_another():
    for (a, first), (b, second) in itertools.combinations(SETS.items(), 2):
        assert phrasings(first) & phrasings(second) == EARLY_REPEATS.get((a, b), set()), (a, b)


def test_no_set_repeats_a_voice_of_another():
    for (a, first), (b, second) in itertools.combinations(SETS.items(), 2):
        assert not set(first.voices) & set(second.voices), (a, b)
