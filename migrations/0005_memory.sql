-- Memory across calls: facts each persona remembers about each user, a short summary per call, and the
-- extraction outbox (one job per ended call; retried with backoff, so a model failure loses nothing).

CREATE TABLE memory_facts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    persona_id        text NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
    content           text NOT NULL CHECK (length(content) BETWEEN 1 AND 500),
    category          text NOT NULL DEFAULT 'other' CHECK (category ~ '^[a-z_]{1,30}$'),
    importance        smallint NOT NULL CHECK (importance BETWEEN 1 AND 5),
    source_call_id    uuid REFERENCES calls (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_confirmed_at timestamptz NOT NULL DEFAULT now()
);
-- The prompt and the API read one user's facts for one persona, most important and newest first.
CREATE INDEX memory_facts_owner_idx ON memory_facts (user_id, persona_id, importance DESC, updated_at DESC);

CREATE TABLE call_summaries (
    call_id    uuid PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    summary    text NOT NULL CHECK (length(summary) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memory_jobs (
    call_id     uuid PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    -- When the job may next be claimed: after the call's rows settle, after a backoff, or after the lease
    -- of a worker that died mid-job.
    run_after   timestamptz NOT NULL DEFAULT now(),
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX memory_jobs_due_idx ON memory_jobs (run_after) WHERE status = 'pending';
