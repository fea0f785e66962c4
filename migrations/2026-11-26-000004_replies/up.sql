-- Replies and their review, publication on the public board, citizen feedback, return visits.

-- Expand the status machine: `replied` (a final reply is published; the citizen may rate it) and
-- `closed` (done: the rating window ended, or a supervisor closed it).
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (status IN (
    'submitted', 'accepted', 'rejected', 'withdrawn',
    'assigned', 'in_progress', 'awaiting_clarification', 'replied', 'closed'));
ALTER TABLE messages
    -- Publication of the latest final reply.
    ADD COLUMN replied_at     timestamptz,
    -- End of the citizen's rating window for that reply (NULL once reopened).
    ADD COLUMN feedback_until timestamptz,
    ADD COLUMN closed_at      timestamptz,
    ADD COLUMN reopen_count   integer NOT NULL DEFAULT 0 CHECK (reopen_count >= 0);
-- The scheduler's queue of messages to close when their rating window ends.
CREATE INDEX messages_feedback_until_idx ON messages (feedback_until) WHERE status = 'replied';
-- The public board: public messages the liaison office accepted, newest first. The predicate is
-- written exactly as the queries write it (store::messages::on_public_board), so that the
-- planner can prove the index covers them.
CREATE INDEX messages_public_board_idx ON messages (submitted_at DESC, id DESC)
    WHERE visibility = 'public'
      AND status IN ('accepted', 'assigned', 'in_progress', 'awaiting_clarification', 'replied', 'closed');
-- The public board's counters of a leader (received, replied): counted from the index alone.
CREATE INDEX messages_leader_status_idx ON messages (leader_id, status);

-- A reopened message goes back to its unit on a new lead assignment.
ALTER TABLE assignments DROP CONSTRAINT assignments_origin_check;
ALTER TABLE assignments ADD CONSTRAINT assignments_origin_check
    CHECK (origin IN ('assigned', 'claimed', 'transferred', 'reopened'));

-- The editorial rules replies are checked against before review (one row, edited by admins).
CREATE TABLE reply_policy (
    id                   boolean     PRIMARY KEY DEFAULT true CHECK (id),
    min_chars            integer     NOT NULL DEFAULT 20 CHECK (min_chars BETWEEN 1 AND 1000),
    banned_phrases       text[]      NOT NULL DEFAULT '{}',
    feedback_window_days integer     NOT NULL DEFAULT 15 CHECK (feedback_window_days BETWEEN 1 AND 90),
    version              integer     NOT NULL DEFAULT 1,
    updated_by           uuid        REFERENCES users (id),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
INSERT INTO reply_policy (id, banned_phrases) VALUES
    (true, ARRAY['不归我们管', '无法解决', '请自行解决', '已转相关部门处理', '此事与我单位无关']);

-- A reply of the lead unit: an interim progress reply or the final one. Drafted, reviewed, then
-- published; `body` is the current revision (reply_revisions keeps every one).
CREATE TABLE replies (
    id             uuid        PRIMARY KEY,
    message_id     uuid        NOT NULL REFERENCES messages (id),
    assignment_id  uuid        NOT NULL REFERENCES assignments (id),
    unit_id        uuid        NOT NULL REFERENCES units (id),
    -- Copied from the message for scopes and queues.
    intake_unit_id uuid        NOT NULL REFERENCES units (id),
    region_path    text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('interim', 'final')),
    status         text        NOT NULL CHECK (status IN ('draft', 'submitted', 'returned',
                                   'approved', 'published', 'discarded')),
    body           text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
    attachments    jsonb       NOT NULL DEFAULT '[]',
    revision       integer     NOT NULL DEFAULT 1 CHECK (revision >= 1),
    -- Whose reviewers decide: the unit's, or the liaison office's for important messages.
    review_unit_id uuid        NOT NULL REFERENCES units (id),
    created_by     uuid        NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL,
    updated_by     uuid        NOT NULL REFERENCES users (id),
    updated_at     timestamptz NOT NULL,
    submitted_at   timestamptz,
    reviewed_by    uuid        REFERENCES users (id),
    reviewed_at    timestamptz,
    review_comment text        CHECK (char_length(review_comment) <= 2000),
    published_by   uuid        REFERENCES users (id),
    published_at   timestamptz,
    -- The unit's name as published (units may be renamed later; the board shows what was said).
    unit_name      text,
    version        integer     NOT NULL DEFAULT 1,
    CHECK ((status = 'published') = (published_at IS NOT NULL)),
    CHECK (status <> 'published' OR unit_name IS NOT NULL)
);
-- One final reply in the making per message.
CREATE UNIQUE INDEX replies_one_final_in_flight ON replies (message_id)
    WHERE kind = 'final' AND status IN ('draft', 'submitted', 'returned', 'approved');
CREATE INDEX replies_message_idx ON replies (message_id, created_at);
CREATE INDEX replies_unit_idx ON replies (unit_id, created_at DESC, id DESC);
CREATE INDEX replies_review_idx ON replies (review_unit_id, status, created_at DESC, id DESC);
CREATE INDEX replies_intake_idx ON replies (intake_unit_id, created_at DESC, id DESC);
-- Handled messages of a period (return-visit sampling, statistics).
CREATE INDEX replies_final_published_idx ON replies (published_at, unit_id)
    WHERE kind = 'final' AND status = 'published';

-- Every revision of a reply, with the review it received.
CREATE TABLE reply_revisions (
    reply_id        uuid        NOT NULL REFERENCES replies (id),
    revision        integer     NOT NULL,
    body            text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
    attachments     jsonb       NOT NULL DEFAULT '[]',
    edited_by       uuid        NOT NULL REFERENCES users (id),
    edited_at       timestamptz NOT NULL,
    submitted_by    uuid        REFERENCES users (id),
    submitted_at    timestamptz,
    review_decision text        CHECK (review_decision IN ('approved', 'returned')),
    review_comment  text        CHECK (char_length(review_comment) <= 2000),
    reviewed_by     uuid        REFERENCES users (id),
    reviewed_at     timestamptz,
    PRIMARY KEY (reply_id, revision),
    CHECK ((review_decision IS NULL) = (reviewed_at IS NULL))
);

-- The author's rating of a final reply: one per reply, changeable inside the window. An
-- unsatisfied rating flags the message until a supervisor reopens or closes it.
CREATE TABLE feedback (
    id              uuid        PRIMARY KEY,
    message_id      uuid        NOT NULL REFERENCES messages (id),
    reply_id        uuid        NOT NULL UNIQUE REFERENCES replies (id),
    author_id       uuid        NOT NULL REFERENCES users (id),
    -- The replying unit and the region, for the supervisors' queue and statistics.
    unit_id         uuid        NOT NULL REFERENCES units (id),
    region_path     text        NOT NULL,
    rating          text        NOT NULL CHECK (rating IN ('satisfied', 'basically_satisfied', 'unsatisfied')),
    comment         text        NOT NULL DEFAULT '' CHECK (char_length(comment) <= 1000),
    changes         integer     NOT NULL DEFAULT 0 CHECK (changes >= 0),
    flag            text        NOT NULL CHECK (flag IN ('none', 'open', 'reopened', 'closed')),
    resolved_by     uuid        REFERENCES users (id),
    resolved_at     timestamptz,
    resolution_note text        CHECK (char_length(resolution_note) <= 2000),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer     NOT NULL DEFAULT 1,
    CHECK ((flag IN ('reopened', 'closed')) = (resolved_at IS NOT NULL)),
    CHECK (flag <> 'open' OR rating = 'unsatisfied')
);
CREATE INDEX feedback_message_idx ON feedback (message_id, created_at);
CREATE INDEX feedback_flag_idx ON feedback (flag, updated_at, id);
CREATE INDEX feedback_region_idx ON feedback (region_path text_pattern_ops);

-- Return visits (回访) and on-site checks of handled messages: planned by hand or sampled, then
-- recorded with what was found.
CREATE TABLE return_visits (
    id           uuid        PRIMARY KEY,
    message_id   uuid        NOT NULL REFERENCES messages (id),
    -- The unit whose handling is verified (of the final reply).
    unit_id      uuid        NOT NULL REFERENCES units (id),
    region_path  text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('return_visit', 'on_site_check')),
    status       text        NOT NULL CHECK (status IN ('planned', 'done', 'cancelled')),
    selection    text        NOT NULL CHECK (selection IN ('manual', 'sampled')),
    sample_seed  bigint,
    note         text        NOT NULL DEFAULT '' CHECK (char_length(note) <= 500),
    planned_by   uuid        NOT NULL REFERENCES users (id),
    planned_at   timestamptz NOT NULL,
    visited_on   date,
    method       text        CHECK (method IN ('phone', 'on_site')),
    visitor      text        CHECK (char_length(visitor) BETWEEN 1 AND 100),
    finding      text        CHECK (finding IN ('resolved', 'partly_resolved', 'not_resolved', 'could_not_reach')),
    notes        text        CHECK (char_length(notes) <= 2000),
    reopened     boolean     NOT NULL DEFAULT false,
    recorded_by  uuid        REFERENCES users (id),
    recorded_at  timestamptz,
    version      integer     NOT NULL DEFAULT 1,
    CHECK ((status = 'done') = (recorded_at IS NOT NULL)),
    CHECK (status <> 'done' OR (visited_on IS NOT NULL AND method IS NOT NULL AND finding IS NOT NULL AND visitor IS NOT NULL)),
    CHECK (NOT reopened OR finding = 'not_resolved')
);
CREATE UNIQUE INDEX return_visits_one_planned ON return_visits (message_id) WHERE status = 'planned';
CREATE INDEX return_visits_status_idx ON return_visits (status, planned_at DESC, id DESC);
CREATE INDEX return_visits_unit_idx ON return_visits (unit_id, planned_at DESC, id DESC);
CREATE INDEX return_visits_region_idx ON return_visits (region_path text_pattern_ops);
CREATE INDEX return_visits_message_idx ON return_visits (message_id, planned_at);
