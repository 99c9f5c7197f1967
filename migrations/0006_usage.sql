-- What each call used of the metered engines, reported by the live call as running totals (the latest
-- report wins). Minutes billed come from duration_s; the cost is estimated at read time from [pricing].
ALTER TABLE calls
    ADD COLUMN stt_seconds real NOT NULL DEFAULT 0 CHECK (stt_seconds >= 0),
    ADD COLUMN llm_tokens_in integer NOT NULL DEFAULT 0 CHECK (llm_tokens_in >= 0),
    ADD COLUMN llm_tokens_out integer NOT NULL DEFAULT 0 CHECK (llm_tokens_out >= 0),
    ADD COLUMN tts_chars integer NOT NULL DEFAULT 0 CHECK (tts_chars >= 0);

