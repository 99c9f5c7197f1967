"""The WER helper the speech tests are judged by."""

from __future__ import annotations

from tests.engines.wer import word_error_rate, words


def test_numbers_count_the_same_spelled_or_in_digits() -> None:
    assert words("At 7, or 42; not 100") == ["at", "seven", "or", "forty", "two", "not", "100"]
    assert word_error_rate("call me at seven", "Call me at 7.") == 0.0
    assert word_error_rate("call me at seven", "call me at 8") == 0.25


def test_errors_are_counted_over_the_reference_length() -> None:
    assert word_error_rate("I skipped the gym", "I skipped a gym") == 0.25
    assert word_error_rate("I skipped the gym", "I skipped the gym after work") == 0.5
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "noise") == 1.0
