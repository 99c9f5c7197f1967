"""Word error rate, the usual way: word-level Levenshtein distance over the reference length.

Both texts are normalised first, as Whisper's own evaluations do: "seven" and "7" are the same word
(speech-to-text writes small numbers as digits; a caller said the word either way).
"""

from __future__ import annotations

import re

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _spelled(number: int) -> list[str]:
    """0-99 as words ("42" -> ["forty", "two"]); larger numbers stay digits."""
    if number < 20:
        return [_UNITS[number]]
    tens, units = divmod(number, 10)
    return [_TENS[tens - 2]] + ([_UNITS[units]] if units else [])


def words(text: str) -> list[str]:
    """Lower-case words without punctuation ("don't" stays one word), numbers below 100 spelled out."""
    normalised = []
    for word in re.findall(r"[a-z0-9']+", text.lower().replace("-", " ")):
        normalised += _spelled(int(word)) if word.isdigit() and int(word) < 100 else [word]
    return normalised


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return float(bool(hyp))
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + (ref_word != hyp_word),  # substitution
            )
        previous = current
    return previous[-1] / len(ref)
