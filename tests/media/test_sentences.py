"""Cutting a streamed reply into speakable pieces."""

from __future__ import annotations

from media.sentences import SentenceSplitter


def _stream(splitter: SentenceSplitter, text: str, step: int = 3) -> list[str]:
    out: list[str] = []
    for start in range(0, len(text), step):
        out += splitter.push(text[start : start + step])
    return out + splitter.flush()


def test_sentences_come_out_as_soon_as_they_end() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Hello there. How") == ["Hello there."]
    assert splitter.push(" are you?") == []  # the "?" may still be followed by more
    assert splitter.push(" Good!") == ["How are you?"]
    assert splitter.flush() == ["Good!"]
    assert splitter.flush() == []


def test_abbreviations_and_numbers_do_not_end_a_sentence() -> None:
    text = "Dr. Smith said 3.5 miles, e.g. a short run. Then rest."
    assert _stream(SentenceSplitter(), text) == ["Dr. Smith said 3.5 miles, e.g. a short run.", "Then rest."]


def test_first_clause_is_cut_early_only_once_and_only_when_long_enough() -> None:
    text = "Oh no, that sounds really hard, Jordan, and I am sorry. Tell me more, please."
    pieces = _stream(SentenceSplitter(first_clause_chars=24), text)
    assert pieces == ["Oh no, that sounds really hard,", "Jordan, and I am sorry.", "Tell me more, please."]
    assert _stream(SentenceSplitter(), text) == [
        "Oh no, that sounds really hard, Jordan, and I am sorry.",
        "Tell me more, please.",
    ]
    assert " ".join(pieces) == text


def test_a_rambling_sentence_is_cut_at_a_comma() -> None:
    text = "word " * 30 + ", and then " + "more " * 5
    pieces = _stream(SentenceSplitter(), text)
    assert len(pieces) == 2 and pieces[0].endswith(",")


def test_split_a_whole_text() -> None:
    assert SentenceSplitter().split("Hi. Hello there") == ["Hi.", "Hello there"]
    assert SentenceSplitter().split("") == []


def test_a_first_sentence_without_a_comma_is_cut_before_a_phrase_once_long_enough() -> None:
    text = "That sounds like a great opportunity for a nursing job at the city hospital. Is it for nights?"
    pieces = _stream(SentenceSplitter(first_clause_chars=2, first_phrase_words=4), text)
    assert pieces == [
        "That sounds like a great opportunity",
        "for a nursing job at the city hospital.",
        "Is it for nights?",
    ]
    assert " ".join(pieces) == text
    # Too short before the phrase, a word only beginning like one ("forward"), or a comma first: no cut there.
    assert _stream(SentenceSplitter(first_phrase_words=4), "I am happy for you!") == ["I am happy for you!"]
    assert _stream(SentenceSplitter(first_phrase_words=4), "Looking forward to it. So fun.") == [
        "Looking forward to it.",
        "So fun.",
    ]
    assert _stream(SentenceSplitter(first_clause_chars=2, first_phrase_words=4), "Sure, it is fine for me.") == [
        "Sure,",
        "it is fine for me.",
    ]
