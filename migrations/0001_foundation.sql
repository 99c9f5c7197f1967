-- Foundation schema: accounts, personas, calls and their records.
-- Later migrations add to it; never edit this file once applied (the runner checks its checksum).

CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email             text NOT NULL CHECK (email = btrim(email) AND length(email) BETWEEN 3 AND 254),
    password_hash     text NOT NULL,
    name              text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    phone             text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    phone_verified_at timestamptz,
    timezone          text NOT NULL DEFAULT 'UTC',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
-- A verified number belongs to one account only (inbound calls find the user by it).
CREATE UNIQUE INDEX users_verified_phone_key ON users (phone) WHERE phone_verified_at IS NOT NULL;

-- Revoked tokens until they would have expired anyway; expired rows are purged.
CREATE TABLE token_blacklist (
    jti        text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX token_blacklist_expires_idx ON token_blacklist (expires_at);

CREATE TABLE personas (
    id                 text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    owner_id           uuid REFERENCES users (id) ON DELETE CASCADE,  -- NULL: built-in
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    tagline            text NOT NULL DEFAULT '' CHECK (length(tagline) <= 200),
    core_prompt        text NOT NULL CHECK (length(core_prompt) BETWEEN 1 AND 8000),
    voice              jsonb NOT NULL DEFAULT '{}'::jsonb,  -- per speech engine: {"piper": {...}, "openai": {...}}
    temperature        real NOT NULL DEFAULT 0.7 CHECK (temperature BETWEEN 0 AND 2),
    reply_max_tokens   integer NOT NULL DEFAULT 150 CHECK (reply_max_tokens BETWEEN 16 AND 1024),
    max_call_minutes   integer NOT NULL DEFAULT 15 CHECK (max_call_minutes BETWEEN 1 AND 120),
    end_of_turn_silence_ms integer CHECK (end_of_turn_silence_ms BETWEEN 200 AND 3000),  -- NULL: server default
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz  -- soft delete: past calls keep pointing at the persona
);
CREATE INDEX personas_owner_idx ON personas (owner_id) WHERE deleted_at IS NULL;

CREATE TABLE user_personas (
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    persona_id         text NOT NULL REFERENCES personas (id),
    favorite           boolean NOT NULL DEFAULT false,
    relationship_notes text NOT NULL DEFAULT '' CHECK (length(relationship_notes) <= 2000),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, persona_id)
);
CREATE INDEX user_personas_favorite_idx ON user_personas (user_id) WHERE favorite;

CREATE TABLE calls (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid REFERENCES users (id) ON DELETE SET NULL,
    persona_id       text REFERENCES personas (id),
    direction        text NOT NULL CHECK (direction IN ('outbound', 'inbound', 'browser')),
    from_number      text,
    to_number        text,
    status           text NOT NULL DEFAULT 'requested' CHECK (status IN (
                         'requested', 'queued', 'initiated', 'ringing', 'in-progress',
                         'completed', 'busy', 'no-answer', 'failed', 'canceled')),
    provider_call_id text UNIQUE,
    context          text NOT NULL DEFAULT '' CHECK (length(context) <= 2000),
    requested_at     timestamptz NOT NULL DEFAULT now(),
    answered_at      timestamptz,
    ended_at         timestamptz,
    duration_s       integer CHECK (duration_s >= 0),
    end_reason       text,
    answered_by      text,
    error            text
);
CREATE INDEX calls_user_requested_idx ON calls (user_id, requested_at DESC, id DESC);
-- "One live call per user" and the daily caps look only at calls not yet ended.
CREATE INDEX calls_live_idx ON calls (user_id) WHERE ended_at IS NULL;

CREATE TABLE call_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id         uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    status          text NOT NULL,
    sequence_number integer,  -- the provider's SequenceNumber; NULL for events we record ourselves
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    received_at     timestamptz NOT NULL DEFAULT now()
);
-- A repeated provider callback is the same event: storing it twice must be impossible.
CREATE UNIQUE INDEX call_events_sequence_key ON call_events (call_id, sequence_number)
    WHERE sequence_number IS NOT NULL;
CREATE INDEX call_events_call_idx ON call_events (call_id, occurred_at);

CREATE TABLE utterances (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id      uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq          integer NOT NULL CHECK (seq >= 0),
    role         text NOT NULL CHECK (role IN ('caller', 'persona', 'system')),
    text         text NOT NULL,
    heard_text   text,       -- persona turns: what reached the caller's ear before any barge-in
    interrupted  boolean NOT NULL DEFAULT false,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    latency      jsonb NOT NULL DEFAULT '{}'::jsonb,  -- per-stage milliseconds for this turn
    UNIQUE (call_id, seq)
);

-- Fixed-window counters shared by every server process (login throttling, call and SMS rate limits).
CREATE TABLE rate_limit_counters (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_counters_expires_idx ON rate_limit_counters (expires_at);
