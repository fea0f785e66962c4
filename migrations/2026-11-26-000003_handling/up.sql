-- Handling: assignments to units, claims, returns and transfers; the working-day calendar and
-- deadline policies; deadlines with their clock; extension requests; clarification requests;
-- supervision cases; leader instructions; the dispatch catalogue.

-- Expand the message status machine (the old statuses keep their meaning).
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (status IN (
    'submitted', 'accepted', 'rejected', 'withdrawn',
    'assigned', 'in_progress', 'awaiting_clarification'));
-- Times the message came back from a unit; from the second return on units dispute it and only a
-- supervisor may assign it.
ALTER TABLE messages ADD COLUMN return_count integer NOT NULL DEFAULT 0 CHECK (return_count >= 0);

-- Days that differ from the Monday–Friday week in Asia/Shanghai: public holidays (working =
-- false) and make-up working days on weekends (working = true).
CREATE TABLE calendar_days (
    day        date        PRIMARY KEY,
    working    boolean     NOT NULL,
    note       text        NOT NULL DEFAULT '' CHECK (char_length(note) <= 100),
    updated_by uuid        REFERENCES users (id),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Time limits in working days, per priority and optionally message kind and category; the most
-- specific active policy applies.
CREATE TABLE deadline_policies (
    id                 uuid        PRIMARY KEY,
    priority           text        NOT NULL CHECK (priority IN ('important', 'routine')),
    message_kind       text        CHECK (message_kind IN ('consultation', 'suggestion', 'complaint', 'help_request')),
    category_id        uuid        REFERENCES categories (id),
    sign_for_days      integer     NOT NULL CHECK (sign_for_days BETWEEN 0 AND 30),
    reply_days         integer     NOT NULL CHECK (reply_days BETWEEN 1 AND 180),
    due_soon_days      integer     NOT NULL DEFAULT 1 CHECK (due_soon_days BETWEEN 0 AND 30),
    max_extensions     integer     NOT NULL DEFAULT 2 CHECK (max_extensions BETWEEN 0 AND 10),
    max_extension_days integer     NOT NULL DEFAULT 15 CHECK (max_extension_days BETWEEN 0 AND 180),
    active             boolean     NOT NULL DEFAULT true,
    version            integer     NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX deadline_policies_scope_key ON deadline_policies
    (priority, coalesce(message_kind, ''), coalesce(category_id, '00000000-0000-0000-0000-000000000000'));
-- The province's defaults: sign for within 1 working day; reply within 5 (important) or 15
-- (routine) working days. Fixed ids so that seeds and tests can name them.
INSERT INTO deadline_policies (id, priority, sign_for_days, reply_days) VALUES
    ('00000000-0000-7000-8000-00000000d001', 'important', 1, 5),
    ('00000000-0000-7000-8000-00000000d002', 'routine', 1, 15);

-- The dispatch catalogue: which unit is responsible for what, where, and on what legal basis.
CREATE TABLE dispatch_rules (
    id          uuid        PRIMARY KEY,
    region_code varchar(6)  NOT NULL REFERENCES regions (code),
    region_path text        NOT NULL,
    category_id uuid        REFERENCES categories (id),
    keywords    text[]      NOT NULL DEFAULT '{}',
    unit_id     uuid        NOT NULL REFERENCES units (id),
    basis       text        NOT NULL CHECK (char_length(basis) BETWEEN 1 AND 500),
    active      boolean     NOT NULL DEFAULT true,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_rules_region_idx ON dispatch_rules (region_path text_pattern_ops) WHERE active;
CREATE INDEX dispatch_rules_unit_idx ON dispatch_rules (unit_id);

-- A unit's part in handling a message: the lead unit (主办) or a co-handling unit (协办).
CREATE TABLE assignments (
    id                uuid        PRIMARY KEY,
    message_id        uuid        NOT NULL REFERENCES messages (id),
    unit_id           uuid        NOT NULL REFERENCES units (id),
    role              text        NOT NULL CHECK (role IN ('lead', 'co_handler')),
    origin            text        NOT NULL CHECK (origin IN ('assigned', 'claimed', 'transferred')),
    status            text        NOT NULL CHECK (status IN ('pending', 'signed_for', 'returned',
                                      'transferred', 'completed', 'cancelled')),
    note              text        NOT NULL DEFAULT '' CHECK (char_length(note) <= 500),
    assigned_by       uuid        REFERENCES users (id),
    assigned_at       timestamptz NOT NULL,
    signed_for_by     uuid        REFERENCES users (id),
    signed_for_at     timestamptz,
    return_reason     text        CHECK (return_reason IN ('not_our_jurisdiction',
                                      'belongs_to_higher_level', 'belongs_to_lower_level', 'other')),
    return_note       text        CHECK (char_length(return_note) <= 500),
    suggested_unit_id uuid        REFERENCES units (id),
    returned_by       uuid        REFERENCES users (id),
    returned_at       timestamptz,
    -- The assignment that took over after a transfer.
    transferred_to    uuid        REFERENCES assignments (id),
    contribution      text        CHECK (char_length(contribution) <= 5000),
    completed_at      timestamptz,
    -- Copied from the message so that inboxes and scopes need no join.
    intake_unit_id    uuid        NOT NULL REFERENCES units (id),
    region_path       text        NOT NULL,
    version           integer     NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'returned') = (returned_at IS NOT NULL)),
    CHECK (status <> 'signed_for' OR signed_for_at IS NOT NULL)
);
-- Exactly one open lead per message: the last line of defence when claims race.
CREATE UNIQUE INDEX assignments_one_open_lead ON assignments (message_id)
    WHERE role = 'lead' AND status IN ('pending', 'signed_for');
CREATE UNIQUE INDEX assignments_one_open_per_unit ON assignments (message_id, unit_id)
    WHERE status IN ('pending', 'signed_for');
CREATE INDEX assignments_message_idx ON assignments (message_id, assigned_at);
CREATE INDEX assignments_unit_idx ON assignments (unit_id, assigned_at DESC, id DESC);
CREATE INDEX assignments_unit_status_idx ON assignments (unit_id, status, assigned_at DESC, id DESC);
CREATE INDEX assignments_intake_idx ON assignments (intake_unit_id, assigned_at DESC, id DESC);

-- A time limit running against an assignment: to sign for it, or to reply.
CREATE TABLE deadlines (
    id                 uuid        PRIMARY KEY,
    message_id         uuid        NOT NULL REFERENCES messages (id),
    assignment_id      uuid        NOT NULL REFERENCES assignments (id),
    kind               text        NOT NULL CHECK (kind IN ('sign_for', 'reply')),
    unit_id            uuid        NOT NULL REFERENCES units (id),
    -- Copied from the message for the supervision view's filters.
    intake_unit_id     uuid        NOT NULL REFERENCES units (id),
    region_path        text        NOT NULL,
    leader_id          uuid        NOT NULL REFERENCES leaders (id),
    priority           text        NOT NULL CHECK (priority IN ('important', 'routine')),
    -- The policy in force when the clock started, as it was then.
    policy_id          uuid        NOT NULL REFERENCES deadline_policies (id),
    policy_version     integer     NOT NULL,
    limit_days         integer     NOT NULL CHECK (limit_days >= 0),
    due_soon_days      integer     NOT NULL CHECK (due_soon_days >= 0),
    extension_days     integer     NOT NULL DEFAULT 0 CHECK (extension_days >= 0),
    extension_count    integer     NOT NULL DEFAULT 0 CHECK (extension_count >= 0),
    -- [{"from": t, "until": t|null}], the clock's pauses for clarification.
    pauses             jsonb       NOT NULL DEFAULT '[]',
    paused_since       timestamptz,
    started_at         timestamptz NOT NULL,
    start_action       text        NOT NULL,
    start_event_seq    integer     NOT NULL,
    -- NULL while the clock is paused.
    due_at             timestamptz,
    due_soon_at        timestamptz,
    state              text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'met', 'missed', 'cancelled')),
    closed_at          timestamptz,
    closed_by_action   text,
    -- Raised exactly once each by the scheduler.
    due_soon_raised_at timestamptz,
    overdue_raised_at  timestamptz,
    escalated_to       uuid[]      NOT NULL DEFAULT '{}',
    version            integer     NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((paused_since IS NULL) = (due_at IS NOT NULL) OR state <> 'open'),
    CHECK ((state = 'open') = (closed_at IS NULL)),
    -- A verdict is frozen with the due time it was judged against.
    CHECK (state NOT IN ('met', 'missed') OR due_at IS NOT NULL)
);
-- The supervision view: by state, due time first; per unit; per region subtree.
CREATE INDEX deadlines_state_due_idx ON deadlines (state, due_at, id);
CREATE INDEX deadlines_unit_state_due_idx ON deadlines (unit_id, state, due_at, id);
CREATE INDEX deadlines_intake_state_due_idx ON deadlines (intake_unit_id, state, due_at, id);
CREATE INDEX deadlines_region_idx ON deadlines (region_path text_pattern_ops, state, due_at);
CREATE INDEX deadlines_assignment_idx ON deadlines (assignment_id);
CREATE INDEX deadlines_message_idx ON deadlines (message_id);
-- The scheduler's work queues: open deadlines whose alarm has not been raised.
CREATE INDEX deadlines_due_soon_pending_idx ON deadlines (due_soon_at)
    WHERE state = 'open' AND due_soon_raised_at IS NULL AND due_soon_at IS NOT NULL;
CREATE INDEX deadlines_overdue_pending_idx ON deadlines (due_at)
    WHERE state = 'open' AND overdue_raised_at IS NULL AND due_at IS NOT NULL;

-- A unit asks for more time; a supervisor decides.
CREATE TABLE extension_requests (
    id            uuid        PRIMARY KEY,
    assignment_id uuid        NOT NULL REFERENCES assignments (id),
    deadline_id   uuid        NOT NULL REFERENCES deadlines (id),
    message_id    uuid        NOT NULL REFERENCES messages (id),
    unit_id       uuid        NOT NULL REFERENCES units (id),
    region_path   text        NOT NULL,
    days          integer     NOT NULL CHECK (days BETWEEN 1 AND 180),
    reason        text        NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 1000),
    status        text        NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_by  uuid        NOT NULL REFERENCES users (id),
    requested_at  timestamptz NOT NULL,
    decided_by    uuid        REFERENCES users (id),
    decided_at    timestamptz,
    decision_note text        CHECK (char_length(decision_note) <= 1000),
    version       integer     NOT NULL DEFAULT 1,
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX extension_requests_one_pending ON extension_requests (assignment_id) WHERE status = 'pending';
CREATE INDEX extension_requests_status_idx ON extension_requests (status, requested_at, id);
CREATE INDEX extension_requests_assignment_idx ON extension_requests (assignment_id, requested_at);

-- The unit asks the citizen to clarify; the reply clock waits for the answer.
CREATE TABLE clarification_requests (
    id            uuid        PRIMARY KEY,
    message_id    uuid        NOT NULL REFERENCES messages (id),
    assignment_id uuid        NOT NULL REFERENCES assignments (id),
    question      text        NOT NULL CHECK (char_length(question) BETWEEN 1 AND 1000),
    asked_by      uuid        NOT NULL REFERENCES users (id),
    asked_at      timestamptz NOT NULL,
    answer        text        CHECK (char_length(answer) <= 5000),
    answered_by   uuid        REFERENCES users (id),
    answered_at   timestamptz,
    CHECK ((answer IS NULL) = (answered_at IS NULL))
);
CREATE UNIQUE INDEX clarification_requests_one_open ON clarification_requests (message_id) WHERE answered_at IS NULL;
CREATE INDEX clarification_requests_message_idx ON clarification_requests (message_id, asked_at);

-- Supervision cases (督办) and the units' progress reports on them.
CREATE TABLE supervisions (
    id           uuid        PRIMARY KEY,
    message_id   uuid        NOT NULL REFERENCES messages (id),
    level        text        NOT NULL CHECK (level IN ('general', 'key', 'urgent')),
    instruction  text        NOT NULL CHECK (char_length(instruction) BETWEEN 1 AND 2000),
    due_at       timestamptz NOT NULL,
    status       text        NOT NULL CHECK (status IN ('open', 'closed')),
    region_path  text        NOT NULL,
    unit_id      uuid        REFERENCES units (id),
    opened_by    uuid        NOT NULL REFERENCES users (id),
    opened_at    timestamptz NOT NULL,
    closed_by    uuid        REFERENCES users (id),
    closed_at    timestamptz,
    closing_note text        CHECK (char_length(closing_note) <= 2000),
    version      integer     NOT NULL DEFAULT 1,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX supervisions_one_open ON supervisions (message_id) WHERE status = 'open';
CREATE INDEX supervisions_status_due_idx ON supervisions (status, due_at, id);
CREATE INDEX supervisions_unit_idx ON supervisions (unit_id, status, due_at, id);
CREATE INDEX supervisions_region_idx ON supervisions (region_path text_pattern_ops);

CREATE TABLE supervision_reports (
    id             uuid        PRIMARY KEY,
    supervision_id uuid        NOT NULL REFERENCES supervisions (id),
    unit_id        uuid        REFERENCES units (id),
    author_id      uuid        NOT NULL REFERENCES users (id),
    body           text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 5000),
    created_at     timestamptz NOT NULL
);
CREATE INDEX supervision_reports_case_idx ON supervision_reports (supervision_id, created_at);

-- Leaders' written instructions (批示) on a message.
CREATE TABLE instructions (
    id          uuid        PRIMARY KEY,
    message_id  uuid        NOT NULL REFERENCES messages (id),
    leader_id   uuid        NOT NULL REFERENCES leaders (id),
    body        text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 2000),
    recorded_by uuid        NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL
);
CREATE INDEX instructions_message_idx ON instructions (message_id, created_at);
