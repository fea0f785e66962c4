-- Weekly briefings (摘报): a liaison office (or a supervisor, or an administrator) compiles, for a
-- period of at most 31 days and a region subtree, the messages worth a leader's attention. The
-- API proposes ranked candidates (src/domain/briefings.rs); editors pick items and write
-- summaries; a leader of the region reads it and records an instruction (批示) per item, which
-- is an ordinary leader instruction on the message (table `instructions`, ledger event
-- `instruct`).

CREATE TABLE briefings (
    id              uuid        PRIMARY KEY,
    title           text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    -- Local (Asia/Shanghai) dates, both included.
    period_from     date        NOT NULL,
    period_to       date        NOT NULL,
    -- The region subtree the briefing covers, and its materialised path (who may read it).
    region_code     varchar(6)  NOT NULL REFERENCES regions (code),
    region_path     text        NOT NULL,
    status          text        NOT NULL DEFAULT 'draft'
                                CHECK (status IN ('draft', 'submitted', 'reviewed')),
    -- Candidates found when the briefing was created (more than were kept when truncated).
    candidates_found integer    NOT NULL CHECK (candidates_found >= 0),
    created_by      uuid        NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL,
    updated_by      uuid        NOT NULL REFERENCES users (id),
    updated_at      timestamptz NOT NULL,
    submitted_by    uuid        REFERENCES users (id),
    submitted_at    timestamptz,
    reviewed_by     uuid        REFERENCES users (id),
    reviewed_at     timestamptz,
    version         integer     NOT NULL DEFAULT 1,
    CHECK (period_from <= period_to AND period_to - period_from <= 30),
    CHECK ((submitted_by IS NULL) = (submitted_at IS NULL)),
    CHECK ((reviewed_by IS NULL) = (reviewed_at IS NULL)),
    CHECK ((status = 'draft') = (submitted_at IS NULL)),
    CHECK ((status = 'reviewed') = (reviewed_at IS NOT NULL))
);
-- Lists: newest first, optionally by status; the region filter of the caller's scope.
CREATE INDEX briefings_created_idx ON briefings (created_at DESC, id DESC);
CREATE INDEX briefings_status_created_idx ON briefings (status, created_at DESC, id DESC);
CREATE INDEX briefings_region_idx ON briefings (region_path text_pattern_ops);

-- Every candidate of a briefing, ranked; the selected ones are its items.
CREATE TABLE briefing_items (
    briefing_id    uuid        NOT NULL REFERENCES briefings (id) ON DELETE CASCADE,
    message_id     uuid        NOT NULL REFERENCES messages (id),
    rank           integer     NOT NULL CHECK (rank >= 1),
    score          integer     NOT NULL CHECK (score >= 0),
    reasons        text[]      NOT NULL CHECK (
        cardinality(reasons) >= 1
        AND reasons <@ ARRAY['important', 'keyword_alert', 'supervised', 'unsatisfied',
                             'long_overdue', 'cluster']::text[]),
    -- For members of a top cluster: 「category · region」.
    cluster_label  text        CHECK (char_length(cluster_label) <= 200),
    -- For long-overdue messages: days past the due time of the oldest open deadline.
    overdue_days   integer     CHECK (overdue_days >= 0),
    selected       boolean     NOT NULL DEFAULT false,
    position       integer     CHECK (position BETWEEN 1 AND 1000),
    summary        text        CHECK (char_length(summary) BETWEEN 1 AND 2000),
    -- The leader's instruction this item produced (an ordinary instruction on the message).
    instruction_id uuid        REFERENCES instructions (id),
    PRIMARY KEY (briefing_id, message_id),
    UNIQUE (briefing_id, rank),
    CHECK (selected = (position IS NOT NULL)),
    CHECK (selected OR (summary IS NULL AND instruction_id IS NULL)),
    CHECK (('cluster' = ANY (reasons)) = (cluster_label IS NOT NULL)),
    CHECK (('long_overdue' = ANY (reasons)) = (overdue_days IS NOT NULL))
);
CREATE UNIQUE INDEX briefing_items_position_key ON briefing_items (briefing_id, position)
    WHERE selected;
CREATE UNIQUE INDEX briefing_items_instruction_key ON briefing_items (instruction_id)
    WHERE instruction_id IS NOT NULL;
CREATE INDEX briefing_items_message_idx ON briefing_items (message_id);

-- The candidate search reads only what the period and the reasons reach (the messages table
-- has millions of rows): important messages still active in the period, unsatisfied ratings
-- given in it, supervision cases open during it. The predicates are written as the queries in
-- src/store/briefings.rs write them.
CREATE INDEX messages_important_activity_idx ON messages (last_activity_at)
    WHERE priority = 'important';
CREATE INDEX feedback_unsatisfied_idx ON feedback (updated_at)
    WHERE rating = 'unsatisfied';
CREATE INDEX supervisions_closed_idx ON supervisions (closed_at) WHERE status = 'closed';
