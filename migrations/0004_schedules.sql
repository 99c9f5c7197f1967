-- Scheduled and recurring callbacks, and each user's quiet hours.

-- Local times during which no scheduled call rings (NULL: none). start > end wraps midnight (22:00-07:00).
ALTER TABLE users
    ADD COLUMN quiet_hours_start time,
    ADD COLUMN quiet_hours_end time,
    ADD CONSTRAINT users_quiet_hours_check CHECK (
        num_nulls(quiet_hours_start, quiet_hours_end) = 2
        OR num_nulls(quiet_hours_start, quiet_hours_end) = 0 AND quiet_hours_start <> quiet_hours_end);

CREATE TABLE schedules (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    persona_id        text NOT NULL REFERENCES personas (id),
    purpose           text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 200),
    context           text NOT NULL DEFAULT '' CHECK (length(context) <= 1000),
    kind              text NOT NULL CHECK (kind IN ('once', 'recurring')),
    run_at            timestamptz,     -- once: the instant
    local_time        time,            -- recurring: wall-clock time in `timezone`
    weekdays          smallint[],      -- recurring: ISO days, 1 = Monday .. 7 = Sunday
    timezone          text NOT NULL,   -- the user's IANA zone (follows the user's when it changes)
    max_retries       integer NOT NULL CHECK (max_retries BETWEEN 0 AND 5),
    retry_interval_s  integer NOT NULL CHECK (retry_interval_s BETWEEN 60 AND 3600),
    next_run_at       timestamptz,     -- UTC; NULL: paused, or a one-off already run
    paused            boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'once' AND run_at IS NOT NULL AND local_time IS NULL AND weekdays IS NULL
        OR kind = 'recurring' AND run_at IS NULL AND local_time IS NOT NULL
           AND cardinality(weekdays) BETWEEN 1 AND 7 AND weekdays <@ '{1,2,3,4,5,6,7}'::smallint[])
);
CREATE INDEX schedules_user_idx ON schedules (user_id, created_at);
-- The executor's claim: due schedules, oldest first.
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE next_run_at IS NOT NULL;

-- One row per occurrence. UNIQUE (schedule_id, occurrence_at) is what makes "placed exactly once" hold,
-- whatever number of server processes claim concurrently and however often one restarts.
CREATE TABLE schedule_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id     uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    occurrence_at   timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN (
                        'placing', 'placed', 'retrying', 'failed', 'missed', 'skipped-quiet-hours')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    call_id         uuid REFERENCES calls (id) ON DELETE SET NULL,  -- the latest attempt's call
    retry_at        timestamptz,     -- status 'retrying': when the next attempt is due
    settled         boolean NOT NULL DEFAULT false,  -- the outcome of the latest call has been looked at
    error           text,
    claimed_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (schedule_id, occurrence_at)
);
CREATE INDEX schedule_runs_retry_idx ON schedule_runs (retry_at) WHERE status = 'retrying';
CREATE INDEX schedule_runs_unsettled_idx ON schedule_runs (call_id) WHERE status = 'placed' AND NOT settled;
CREATE INDEX schedule_runs_placing_idx ON schedule_runs (claimed_at) WHERE status = 'placing';
CREATE INDEX schedule_runs_schedule_idx ON schedule_runs (schedule_id, occurrence_at DESC);
