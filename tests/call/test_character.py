"""The character check (personas/character.py): what it stops, what it lets through, and when it holds."""

from __future__ import annotations

import pytest

from personas.character import CharacterCheck, breaks_character

# Said by the 0.5B default in measured calls (see the module's docstring).
OFF = [
    "I'm sorry, but I can't assist with that.",
    "Sorry, but I can't help with that.",
    "I'm sorry, but I cannot provide that information.",
    "I can't help you with that request, unfortunately.",
    "I'm sorry, but I'm not able to assist with that.",
    "I\u2019m sorry, but I\u2019m unable to help with that.",
    "I'm unable to assist you with that.",
    "Sorry, but we're not able to discuss that.",
    "Hello! How can I assist you today?",
    "Hi there! How can I help you today?",
    "I'm here to assist you with anything you need.",
    "If you need any further assistance, feel free to ask.",
    "Hello Sarah! I'm doing well.",
    "Hi, Sarah, thanks for calling.",
    "Hey there, Sarah!",
    "That's a great point, Sarah!",
    "Goodnight, Sarah.",
    "You're welcome! If you have any more questions, feel free to ask.",
]
IN_CHARACTER = [
    "I'm sorry to hear that.",
    "Oh, I'm so sorry, that sounds awful.",
    "I can't wait to hear how it goes!",
    "I can't believe they said that to you.",
    "Honestly, I'm an AI, but I really do care how your week goes.",  # honesty when asked is allowed
    "Hi Jordan, it's Sarah! How are you doing?",
    "My grandma lives in assisted living too.",
    "How can I make this week easier for you?",
    "Sarah here, just checking in.",
    "Hey Jordan, Sarah here!",
    "Hi, it's Sarah.",
    "This is Sarah, your friend.",
]


@pytest.mark.parametrize("sentence", OFF)
def test_out_of_character_sentences_are_caught(sentence: str) -> None:
    assert breaks_character(sentence, "Sarah")


@pytest.mark.parametrize("sentence", IN_CHARACTER)
def test_in_character_sentences_pass(sentence: str) -> None:
    assert not breaks_character(sentence, "Sarah")


def test_a_persona_may_greet_a_caller_of_another_name() -> None:
    assert breaks_character("Hi Sarah!", "Sarah")
    assert not breaks_character("Hi Sarah!", "Brad")
    assert not breaks_character("Hi Sarah!", "")  # the caller shares the persona's name: no name to check


def test_an_apology_clause_is_held_until_its_sentence_shows_what_it_is() -> None:
    refusal = CharacterCheck("Sarah")
    assert refusal.push(["I'm sorry,"]) == []  # not said yet
    assert refusal.push(["but I can't assist with that."]) == [] and refusal.broken
    assert refusal.flush(["Anything else?"]) == []  # nothing after the break is said

    kind = CharacterCheck("Sarah")
    assert kind.push(["I'm sorry,"]) == []
    assert kind.push(["that sounds hard.", "What happened?"]) == ["I'm sorry, that sounds hard.", "What happened?"]
    assert not kind.broken

    early = CharacterCheck("Sarah")  # said as soon as what follows it cannot be a refusal
    assert early.push(["I'm sorry,"]) == []
    assert early.release("but I'm") == []  # not enough words yet
    assert early.release("but I can't assist") == []  # may be a refusal: the sentence's end decides
    assert early.release("but I'm not able") == []
    assert early.release("but I'm not sure") == ["I'm sorry,"]
    assert early.release("but I'm not sure what") == []  # released once
    assert early.push(["but I'm not sure what you mean."]) == ["but I'm not sure what you mean."]
    assert not early.broken

    cut = CharacterCheck("Sarah")  # the splitter may cut a first piece before "with"
    assert cut.push(["I can't help you"]) == []
    assert cut.push(["with that."]) == [] and cut.broken

    alone = CharacterCheck("Sarah")
    assert alone.push(["Oh, I'm sorry."]) == []
    assert alone.flush([]) == ["Oh, I'm sorry."]  # the reply ended there: it is said after all


def test_only_the_first_piece_is_ever_held() -> None:
    check = CharacterCheck("Brad")
    assert check.push(["Let's go,", "sorry,"]) == ["Let's go,", "sorry,"]
    assert check.push(["Sorry,"]) == ["Sorry,"]


def test_a_break_later_in_the_reply_keeps_what_came_before() -> None:
    check = CharacterCheck("Brad")
    assert check.push(["That sounds tough.", "How can I assist you further?", "Keep going."]) == ["That sounds tough."]
    assert check.broken
