"""Parsing what a model answers, and merging it into what is known: dedup, replaces, cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from personas.memory import ExtractionError, NewFact, merge, parse_extraction, similar
from personas.prompt import KnownFact

NOW = datetime(2026, 3, 2, 15, 4, tzinfo=UTC)


def known(i: int, content: str, importance: int = 3, age_days: float = 1) -> KnownFact:
    return KnownFact(i, content, "personal", importance, NOW - timedelta(days=age_days))


def test_parse_tolerates_prose_fences_and_sloppy_fields() -> None:
    answer = """Sure! Here is the JSON:
```json
{"facts": [{"content": "  Jordan's sister   Mia marries in June. ", "category": "Family", "importance": "5"},
           {"content": "Jordan is a nurse", "category": "astrology", "importance": 9, "replaces": "7"},
           {"content": ""}, 42, "Jordan likes tea",
           {"content": "Jordan swims", "importance": "often", "replaces": 999}],
 "summary": "A catch-up.  About the wedding."}
```
Hope that helps {:}"""
    parsed = parse_extraction(answer, known_ids={7})
    assert [(f.content, f.category, f.importance, f.replaces) for f in parsed.facts] == [
        ("Jordan's sister Mia marries in June.", "family", 5, None),
        ("Jordan is a nurse", "other", 5, 7),
        ("Jordan likes tea", "other", 3, None),
        ("Jordan swims", "other", 3, None),  # unknown replaces id: ignored, not trusted
    ]
    assert parsed.summary == "A catch-up. About the wedding."


@pytest.mark.parametrize("answer", ["", "I could not find any facts.", "{not json}", "[1, 2]"])
def test_no_json_object_is_an_error(answer: str) -> None:
    with pytest.raises(ExtractionError):
        parse_extraction(answer, set())


def test_similar_text_updates_instead_of_repeating() -> None:
    assert similar("Jordan likes running in the morning.", "jordan likes running in the mornings")
    facts = [known(1, "Jordan likes running in the morning."), known(2, "Jordan works as a nurse.", 2)]
    plan = merge(
        facts,
        [
            NewFact("Jordan likes running in the mornings!", "preferences", 2),
            NewFact("Jordan now works as a paramedic.", "work", 4, replaces=2),
            NewFact("Jordan has a dog named Rex.", "personal", 3),
            NewFact("Jordan has a dog named Rex", "personal", 3),  # repeated within one answer
        ],
        cap=50,
        now=NOW,
    )
    assert plan.updates[1].importance == 3  # the higher importance is kept
    assert plan.updates[2] == NewFact("Jordan now works as a paramedic.", "work", 4)
    assert [f.content for f in plan.inserts] == ["Jordan has a dog named Rex."]
    assert plan.deletes == []


def test_cap_drops_least_important_then_oldest() -> None:
    facts = [known(i, f"Distinct fact {'abcdefghij'[i]} about things.", importance=3, age_days=i) for i in range(10)]
    facts.append(known(10, "A core fact about Jordan's family.", importance=5, age_days=100))
    plan = merge(facts, [NewFact("Brand new trivia about the weather in Oslo.", "other", 1)], cap=8, now=NOW)
    # 12 candidates, 8 kept: the new importance-1 fact goes, then the three oldest importance-3 facts.
    assert plan.inserts == []
    assert sorted(plan.deletes) == [7, 8, 9]
    plan = merge(facts, [NewFact("Jordan is getting married in June.", "events", 5)], cap=8, now=NOW)
    assert [f.content for f in plan.inserts] == ["Jordan is getting married in June."]
    assert sorted(plan.deletes) == [6, 7, 8, 9]
