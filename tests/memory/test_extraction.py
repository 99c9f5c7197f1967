"""After a call: the job the media stream's end enqueues, extraction (the real embedded model, and scripted
failures), dedup and cap in the database, and the next call's prompt, equal to the designer's."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import replace

import pytest

from orchestrator.keys import POOL
from orchestrator.memory_worker import MemoryWorker
from tests.memory.conftest import job_of, place_call, quick_memory, talk
from tests.scripted_engines import scripted_engines


def _same_moment(system: str) -> str:
    """The prompt's clock line is read when it is compiled; a minute may tick between two compilations."""
    return re.sub(r"it is .*? where", "it is NOW where", system)


async def _transcript(server, call_id: str) -> list[tuple]:
    rows = await server.client.app[POOL].fetch(
        "SELECT seq, role, text, heard_text FROM utterances WHERE call_id = $1 ORDER BY seq", uuid.UUID(call_id)
    )
    return [tuple(row) for row in rows]


@pytest.mark.engines
async def test_real_model_remembers_and_the_next_call_knows(make_phone_server, local_model) -> None:
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=[
            "My sister Mia is getting married in June and I am the best man.",
            "I also started a new job as a nurse last week.",
        ],
        replies=[["Big news. Congrats."], ["Nice. Proud of you."]],  # Brad's greeting is his own
    )

    def patient(s):  # what is remembered is under test, not a busy runner's speed: the extraction (~5 s
        s = quick_memory(s)  # idle) slows ~3x when another process holds one of two cores
        return replace(s, memory=replace(s.memory, extraction_timeout_s=300.0))

    server = await make_phone_server(engines=engines, tune=patient)
    user = await server.verified_user("+14155550161")
    first = await place_call(server, user, "+14155550161", talk(2), context="weekly check-in")
    assert (await job_of(server, first["id"]))["status"] == "pending"
    said = await _transcript(server, first["id"])

    worker = MemoryWorker(server.client.app[POOL], local_model, server.settings.memory)
    assert await worker.tick() == 1
    job = await job_of(server, first["id"])
    assert (job["status"], job["attempts"], job["last_error"]) == ("done", 1, None)
    assert await _transcript(server, first["id"]) == said  # only ever read

    facts = (await (await user.request("GET", "/api/personas/brad/memory")).json())["facts"]
    text = " ".join(f["content"] for f in facts).lower()
    assert facts and any(word in text for word in ("mia", "married", "wedding", "nurse")), facts
    assert all(f["source_call_id"] == first["id"] for f in facts)
    summary = await server.client.app[POOL].fetchval(
        "SELECT summary FROM call_summaries WHERE call_id = $1", uuid.UUID(first["id"])
    )
    assert summary

    designer = await (
        await user.request("GET", "/api/personas/brad/prompt", params={"context": "weekly check-in"})
    ).json()
    before = len(llm.prefills)
    await place_call(server, user, "+14155550161", talk(0), context="weekly check-in")
    system = llm.prefills[before][1][0]["content"]  # the second call's first prompt, read while Brad greets
    assert facts[0]["content"] in system
    assert "1 call together before this one" in system
    assert _same_moment(system) == _same_moment(designer["system"])


async def test_bad_answer_and_timeout_are_retried_then_merged_with_dedup_and_cap(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=["I went sailing on my boat Wave again this weekend."],
        replies=[["Sounds great."]],
    )

    def settings(s):
        s = quick_memory(s)
        return replace(s, memory=replace(s.memory, extraction_timeout_s=0.5, max_facts=2))

    server = await make_phone_server(engines=engines, tune=settings)
    pool = server.client.app[POOL]
    user = await server.verified_user("+14155550162")
    user_id = uuid.UUID(user.user["id"])
    sailing, rain = [
        await pool.fetchval(
            """INSERT INTO memory_facts (user_id, persona_id, content, category, importance, updated_at)
               VALUES ($1, 'brad', $2, 'preferences', $3, now() - interval '1 day') RETURNING id""",
            user_id,
            content,
            importance,
        )
        for content, importance in (("Jordan loves sailing on weekends.", 3), ("Jordan dislikes rain.", 1))
    ]
    call = await place_call(server, user, "+14155550162", talk(1))
    said = await _transcript(server, call["id"])
    assert any(role == "caller" for _, role, _, _ in said)
    answer = {
        "facts": [
            {"content": "Jordan loves sailing on weekends!", "category": "preferences", "importance": 4},
            {"content": "Jordan's boat is called Wave.", "category": "personal", "importance": 3},
        ],
        "summary": "Jordan went sailing. The boat is called Wave.",
    }
    llm.replies.extend([["Sorry, I cannot do that."], [5.0, "{}"], [json.dumps(answer)]])
    await job_of(server, call["id"])
    worker = MemoryWorker(pool, llm, server.settings.memory)

    assert await worker.tick() == 1
    job = await job_of(server, call["id"])
    assert (job["status"], job["attempts"]) == ("pending", 1) and "no JSON" in job["last_error"]
    assert await worker.tick() == 0  # backing off
    await asyncio.sleep(1.1)
    assert await worker.tick() == 1
    job = await job_of(server, call["id"])
    assert (job["status"], job["attempts"]) == ("pending", 2) and "longer than" in job["last_error"]
    await asyncio.sleep(2.1)  # the backoff doubled
    assert await worker.tick() == 1
    job = await job_of(server, call["id"])
    assert (job["status"], job["attempts"]) == ("done", 3)
    assert await _transcript(server, call["id"]) == said

    facts = (await (await user.request("GET", "/api/personas/brad/memory")).json())["facts"]
    assert [(f["id"], f["content"], f["importance"]) for f in facts] == [
        (sailing, "Jordan loves sailing on weekends!", 4),  # updated in place, not repeated
        (facts[1]["id"], "Jordan's boat is called Wave.", 3),
    ]
    assert rain not in {f["id"] for f in facts}  # the cap of 2 dropped the least important


async def test_a_job_gives_up_after_max_attempts_and_forget_me_wins(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(transcripts=["Remember that I like jazz."], replies=[["Noted."]])

    def settings(s):
        s = quick_memory(s)
        return replace(s, memory=replace(s.memory, max_attempts=1))

    server = await make_phone_server(engines=engines, tune=settings)
    pool = server.client.app[POOL]
    user = await server.verified_user("+14155550163")
    first = await place_call(server, user, "+14155550163", talk(1))
    llm.replies.append(["not json"])
    await job_of(server, first["id"])
    worker = MemoryWorker(pool, llm, server.settings.memory)
    assert await worker.tick() == 1
    job = await job_of(server, first["id"])
    assert job["status"] == "failed" and "no JSON" in job["last_error"]  # kept, with why

    # A pending job of this pair is closed by "forget me", so it cannot bring facts back.
    second = await place_call(server, user, "+14155550163", talk(1))
    await job_of(server, second["id"])
    assert (await user.request("DELETE", "/api/personas/brad/memory")).status == 200
    assert await worker.tick() == 0
    assert (await job_of(server, second["id"]))["last_error"] == "forgotten"
    assert (await (await user.request("GET", "/api/personas/brad/memory")).json())["facts"] == []
