-- Unit assessments (考核): the administrators' weights, closed (frozen) periods and their
-- restatements. The figures themselves come from the statistics aggregates; a closed period
-- keeps the exact text it was closed with, so it answers the same forever.

CREATE TABLE assessment_weights (
    id                boolean     PRIMARY KEY DEFAULT true CHECK (id),
    reply_rate        integer     NOT NULL DEFAULT 25 CHECK (reply_rate BETWEEN 0 AND 100),
    on_time_rate      integer     NOT NULL DEFAULT 25 CHECK (on_time_rate BETWEEN 0 AND 100),
    satisfaction_rate integer     NOT NULL DEFAULT 25 CHECK (satisfaction_rate BETWEEN 0 AND 100),
    overdue           integer     NOT NULL DEFAULT 10 CHECK (overdue BETWEEN 0 AND 100),
    verification_rate integer     NOT NULL DEFAULT 10 CHECK (verification_rate BETWEEN 0 AND 100),
    reopen            integer     NOT NULL DEFAULT 5 CHECK (reopen BETWEEN 0 AND 100),
    version           integer     NOT NULL DEFAULT 1,
    updated_by        uuid        REFERENCES users (id),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (reply_rate + on_time_rate + satisfaction_rate + overdue + verification_rate + reopen > 0)
);
INSERT INTO assessment_weights (id) VALUES (true);

-- A closed month (`2026-10`) or year (`2026`). `content` is the exact JSON text of every
-- unit's scorecard, the weights and the minimum sample at closing (or at the latest
-- restatement); `content_hash` is the hex SHA-256 of that text.
CREATE TABLE assessment_periods (
    period       text        PRIMARY KEY CHECK (period ~ '^[0-9]{4}(-(0[1-9]|1[0-2]))?$'),
    period_from  date        NOT NULL,
    period_to    date        NOT NULL CHECK (period_to >= period_from),
    content      text        NOT NULL,
    content_hash text        NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    -- 1 at closing, +1 per restatement.
    revision     integer     NOT NULL DEFAULT 1 CHECK (revision >= 1),
    closed_by    uuid        NOT NULL REFERENCES users (id),
    closed_at    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- An explicit correction of a closed period: every changed figure (old and new), why, who.
CREATE TABLE assessment_restatements (
    id            uuid        PRIMARY KEY,
    period        text        NOT NULL REFERENCES assessment_periods (period),
    -- The revision this restatement produced.
    revision      integer     NOT NULL CHECK (revision >= 2),
    reason        text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    restated_by   uuid        NOT NULL REFERENCES users (id),
    restated_at   timestamptz NOT NULL,
    previous_hash text        NOT NULL,
    content_hash  text        NOT NULL,
    -- [{"unit_id", "measure", "old", "new"}], in unit and measure order.
    changes       jsonb       NOT NULL CHECK (jsonb_typeof(changes) = 'array'),
    UNIQUE (period, revision)
);
