-- Telephony: phone verification, one-time media stream tokens, persona-owned numbers, call limits.

-- An SMS code proving a user owns a number. The code is stored hashed; attempts are counted.
CREATE TABLE phone_verifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone       text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    code_hash   text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    verified_at timestamptz
);
CREATE INDEX phone_verifications_user_idx ON phone_verifications (user_id, phone, sent_at DESC);

-- The one-time token a media stream must present; bound to one call and its provider CallSid.
CREATE TABLE stream_tokens (
    token_hash  text PRIMARY KEY,
    call_id     uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    call_sid    text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX stream_tokens_expires_idx ON stream_tokens (expires_at);




ALTER TABLE calls
    ADD COLUMN time_limit_s integer CHECK (time_limit_s > 0),
    ADD COLUMN stream_sid text,
    ADD COLUMN dtmf text NOT NULL DEFAULT '';
