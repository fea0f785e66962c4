-- Statistics from maintained aggregates.
--
-- Every figure counts messages by the local (Shanghai) day they were submitted: "of what arrived
-- in the period, how much is replied, on time, rated satisfied ...". A message contributes one
-- fact vector (stat_measures, defined once below) to the cells of its day; whenever a statement
-- changes a column the vector depends on, a trigger appends the difference (old vector negated,
-- new vector) to stat_deltas in the same transaction. The application folds the deltas into
-- stat_cells (day and month grain, for every combination of at most two dimensions) and reads
-- cells + the not yet folded deltas, so an answer is always exact and never scans messages.

-- Facts that live in other tables, kept on the message so one row answers for it.
ALTER TABLE messages
    -- Open deadlines of the message that the scheduler has declared overdue (kept by a trigger
    -- on deadlines).
    ADD COLUMN overdue_deadlines integer NOT NULL DEFAULT 0 CHECK (overdue_deadlines >= 0),
    -- The verdict on the reply deadline of the latest final reply (met = true); NULL without one.
    ADD COLUMN reply_on_time boolean,
    -- Working days from submission to the latest final reply, by the calendar at publication.
    ADD COLUMN handling_days integer CHECK (handling_days >= 0),
    -- The citizen's rating of the latest final reply; NULL until rated.
    ADD COLUMN rating text CHECK (rating IN ('satisfied', 'basically_satisfied', 'unsatisfied')),
    -- The finding of the latest recorded return visit.
    ADD COLUMN visit_finding text
        CHECK (visit_finding IN ('resolved', 'partly_resolved', 'not_resolved', 'could_not_reach'));

-- Backfill from the source tables (expand, migrate; nothing is dropped).
UPDATE messages m SET overdue_deadlines = d.n
FROM (SELECT message_id, count(*)::int AS n FROM deadlines
      WHERE state = 'open' AND overdue_raised_at IS NOT NULL GROUP BY message_id) d
WHERE d.message_id = m.id;

WITH latest AS (
    SELECT DISTINCT ON (r.message_id) r.message_id, r.id, r.assignment_id, r.published_at
    FROM replies r
    WHERE r.kind = 'final' AND r.status = 'published'
    ORDER BY r.message_id, r.published_at DESC
)
UPDATE messages m SET
    reply_on_time = (SELECT d.state = 'met' FROM deadlines d
                     WHERE d.assignment_id = l.assignment_id AND d.kind = 'reply'
                       AND d.state IN ('met', 'missed')
                     ORDER BY d.closed_at DESC LIMIT 1),
    handling_days = (
        SELECT count(*)::int
        FROM generate_series((m.submitted_at AT TIME ZONE 'Asia/Shanghai')::date + 1,
                             (l.published_at AT TIME ZONE 'Asia/Shanghai')::date,
                             interval '1 day') AS g(day)
        LEFT JOIN calendar_days c ON c.day = g.day::date
        WHERE coalesce(c.working, extract(isodow FROM g.day) < 6)),
    rating = (SELECT f.rating FROM feedback f WHERE f.reply_id = l.id
              ORDER BY f.updated_at DESC LIMIT 1)
FROM latest l
WHERE l.message_id = m.id;

UPDATE messages m SET visit_finding = v.finding
FROM (SELECT DISTINCT ON (message_id) message_id, finding FROM return_visits
      WHERE finding IS NOT NULL ORDER BY message_id, recorded_at DESC) v
WHERE v.message_id = m.id;

-- The one definition of every counted measure of a message (the API documents the same
-- formulas). `handling_days` is the histogram contribution: set for answered messages only.
CREATE FUNCTION stat_measures(m messages,
    OUT received integer, OUT accepted integer, OUT rejected integer, OUT withdrawn integer,
    OUT assigned integer, OUT replied integer, OUT pending integer, OUT overdue integer,
    OUT judged integer, OUT on_time integer, OUT rated integer, OUT satisfied integer,
    OUT basically_satisfied integer, OUT unsatisfied integer, OUT reopened integer,
    OUT visited integer, OUT verified integer, OUT handling_days integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 1,
        (m.status NOT IN ('submitted', 'rejected', 'withdrawn'))::int,
        (m.status = 'rejected')::int,
        (m.status = 'withdrawn')::int,
        (m.status IN ('assigned', 'in_progress', 'awaiting_clarification', 'replied', 'closed'))::int,
        (m.status IN ('replied', 'closed'))::int,
        (m.status IN ('accepted', 'assigned', 'in_progress', 'awaiting_clarification'))::int,
        (m.status IN ('accepted', 'assigned', 'in_progress', 'awaiting_clarification')
            AND m.overdue_deadlines > 0)::int,
        (m.status IN ('replied', 'closed') AND m.reply_on_time IS NOT NULL)::int,
        (m.status IN ('replied', 'closed') AND coalesce(m.reply_on_time, false))::int,
        (m.rating IS NOT NULL)::int,
        (m.rating IS NOT DISTINCT FROM 'satisfied')::int,
        (m.rating IS NOT DISTINCT FROM 'basically_satisfied')::int,
        (m.rating IS NOT DISTINCT FROM 'unsatisfied')::int,
        (m.status IN ('replied', 'closed') AND m.reopen_count > 0)::int,
        coalesce(m.visit_finding IN ('resolved', 'partly_resolved', 'not_resolved'), false)::int,
        (m.visit_finding IS NOT DISTINCT FROM 'resolved')::int,
        CASE WHEN m.status IN ('replied', 'closed') THEN m.handling_days END
$$;

-- The local day a message counts on.
CREATE FUNCTION stat_day(at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (at AT TIME ZONE 'Asia/Shanghai')::date $$;

-- Changes not yet folded into stat_cells: one row per message and side of a change (sign in
-- the counts). Dimension values: the nil UUID for "no lead unit", '' for "not classified".
CREATE TABLE stat_deltas (
    id                  bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day                 date    NOT NULL,
    region_code         varchar NOT NULL,
    unit_id             uuid    NOT NULL,
    leader_id           uuid    NOT NULL,
    category_id         uuid    NOT NULL,
    kind                text    NOT NULL,
    priority            text    NOT NULL,
    received            integer NOT NULL,
    accepted            integer NOT NULL,
    rejected            integer NOT NULL,
    withdrawn           integer NOT NULL,
    assigned            integer NOT NULL,
    replied             integer NOT NULL,
    pending             integer NOT NULL,
    overdue             integer NOT NULL,
    judged              integer NOT NULL,
    on_time             integer NOT NULL,
    rated               integer NOT NULL,
    satisfied           integer NOT NULL,
    basically_satisfied integer NOT NULL,
    unsatisfied         integer NOT NULL,
    reopened            integer NOT NULL,
    visited             integer NOT NULL,
    verified            integer NOT NULL,
    -- With `received` as the sign: one message of this many working days enters or leaves the
    -- handling-time histogram.
    handling_days       integer
);

CREATE FUNCTION stat_track_message() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o record;
    n record;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        SELECT * INTO o FROM stat_measures(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT * INTO n FROM stat_measures(NEW);
    END IF;
    IF TG_OP = 'UPDATE'
       AND o IS NOT DISTINCT FROM n
       AND (OLD.submitted_at, OLD.region_code, OLD.unit_id, OLD.leader_id, OLD.category_id,
            OLD.kind, OLD.priority)
           IS NOT DISTINCT FROM
           (NEW.submitted_at, NEW.region_code, NEW.unit_id, NEW.leader_id, NEW.category_id,
            NEW.kind, NEW.priority) THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO stat_deltas (day, region_code, unit_id, leader_id, category_id, kind, priority,
            received, accepted, rejected, withdrawn, assigned, replied, pending, overdue, judged,
            on_time, rated, satisfied, basically_satisfied, unsatisfied, reopened, visited,
            verified, handling_days)
        VALUES (stat_day(OLD.submitted_at), OLD.region_code,
            coalesce(OLD.unit_id, '00000000-0000-0000-0000-000000000000'), OLD.leader_id,
            OLD.category_id, OLD.kind, coalesce(OLD.priority, ''),
            -o.received, -o.accepted, -o.rejected, -o.withdrawn, -o.assigned, -o.replied,
            -o.pending, -o.overdue, -o.judged, -o.on_time, -o.rated, -o.satisfied,
            -o.basically_satisfied, -o.unsatisfied, -o.reopened, -o.visited, -o.verified,
            o.handling_days);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO stat_deltas (day, region_code, unit_id, leader_id, category_id, kind, priority,
            received, accepted, rejected, withdrawn, assigned, replied, pending, overdue, judged,
            on_time, rated, satisfied, basically_satisfied, unsatisfied, reopened, visited,
            verified, handling_days)
        VALUES (stat_day(NEW.submitted_at), NEW.region_code,
            coalesce(NEW.unit_id, '00000000-0000-0000-0000-000000000000'), NEW.leader_id,
            NEW.category_id, NEW.kind, coalesce(NEW.priority, ''),
            n.received, n.accepted, n.rejected, n.withdrawn, n.assigned, n.replied,
            n.pending, n.overdue, n.judged, n.on_time, n.rated, n.satisfied,
            n.basically_satisfied, n.unsatisfied, n.reopened, n.visited, n.verified,
            n.handling_days);
    END IF;
    RETURN NULL;
END
$$;

-- Only statements that set a column the facts depend on pay for the trigger (ledger appends,
-- which touch every message on every step, do not).
CREATE TRIGGER messages_stat_insert_delete AFTER INSERT OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION stat_track_message();
CREATE TRIGGER messages_stat_update
    AFTER UPDATE OF status, priority, unit_id, leader_id, category_id, kind, region_code,
        submitted_at, reopen_count, overdue_deadlines, reply_on_time, handling_days, rating,
        visit_finding
    ON messages FOR EACH ROW EXECUTE FUNCTION stat_track_message();

-- messages.overdue_deadlines follows the deadlines. Every step that changes a deadline has
-- locked its message first, so this update takes no new lock order.
CREATE FUNCTION stat_track_deadline() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was integer := 0;
    is_now integer := 0;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.state = 'open' AND OLD.overdue_raised_at IS NOT NULL THEN
        was := 1;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.state = 'open' AND NEW.overdue_raised_at IS NOT NULL THEN
        is_now := 1;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.message_id <> NEW.message_id THEN
        UPDATE messages SET overdue_deadlines = overdue_deadlines - was WHERE id = OLD.message_id AND was = 1;
        UPDATE messages SET overdue_deadlines = overdue_deadlines + is_now WHERE id = NEW.message_id AND is_now = 1;
    ELSIF is_now <> was THEN
        UPDATE messages SET overdue_deadlines = overdue_deadlines + is_now - was
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.message_id ELSE NEW.message_id END;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER deadlines_stat AFTER INSERT OR UPDATE OR DELETE ON deadlines
    FOR EACH ROW EXECUTE FUNCTION stat_track_deadline();

-- The folded aggregates. `cube` is the set of dimensions the row keeps (bits: 1 region,
-- 2 unit, 4 leader, 8 category, 16 kind, 32 priority); a dimension outside the set holds the
-- "all" value ('*', or the max UUID). `grain` 'd' rows are days, 'm' rows calendar months
-- (period = the first day).
CREATE TABLE stat_cells (
    cube                smallint NOT NULL,
    grain               "char"   NOT NULL CHECK (grain IN ('d', 'm')),
    region_code         varchar  NOT NULL,
    unit_id             uuid     NOT NULL,
    leader_id           uuid     NOT NULL,
    category_id         uuid     NOT NULL,
    kind                text     NOT NULL,
    priority            text     NOT NULL,
    period              date     NOT NULL,
    received            integer  NOT NULL,
    accepted            integer  NOT NULL,
    rejected            integer  NOT NULL,
    withdrawn           integer  NOT NULL,
    assigned            integer  NOT NULL,
    replied             integer  NOT NULL,
    pending             integer  NOT NULL,
    overdue             integer  NOT NULL,
    judged              integer  NOT NULL,
    on_time             integer  NOT NULL,
    rated               integer  NOT NULL,
    satisfied           integer  NOT NULL,
    basically_satisfied integer  NOT NULL,
    unsatisfied         integer  NOT NULL,
    reopened            integer  NOT NULL,
    visited             integer  NOT NULL,
    verified            integer  NOT NULL,
    -- hist[d + 1] = answered messages that took d working days.
    hist                integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (cube, grain, region_code, unit_id, leader_id, category_id, kind, priority, period)
);
-- Group-by reads (every value of one dimension over a period).
CREATE INDEX stat_cells_period_idx ON stat_cells (cube, grain, period);

-- Element-wise sum of two histograms of any lengths.
CREATE FUNCTION stat_hist_add(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(coalesce(a[i], 0) + coalesce(b[i], 0) ORDER BY i), '{}')
    FROM generate_series(1, greatest(cardinality(a), cardinality(b))) AS i
$$;

-- Settings of the statistics views (one row), edited by admins.
CREATE TABLE statistics_policy (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    -- Rankings mark groups whose denominator is below this as unranked.
    min_sample integer     NOT NULL DEFAULT 20 CHECK (min_sample BETWEEN 1 AND 100000),
    version    integer     NOT NULL DEFAULT 1,
    updated_by uuid        REFERENCES users (id),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO statistics_policy (id) VALUES (true);

-- The existing messages enter through the deltas like any later change.
INSERT INTO stat_deltas (day, region_code, unit_id, leader_id, category_id, kind, priority,
    received, accepted, rejected, withdrawn, assigned, replied, pending, overdue, judged, on_time,
    rated, satisfied, basically_satisfied, unsatisfied, reopened, visited, verified, handling_days)
SELECT stat_day(m.submitted_at), m.region_code,
    coalesce(m.unit_id, '00000000-0000-0000-0000-000000000000'), m.leader_id, m.category_id,
    m.kind, coalesce(m.priority, ''), s.received, s.accepted, s.rejected, s.withdrawn, s.assigned,
    s.replied, s.pending, s.overdue, s.judged, s.on_time, s.rated, s.satisfied,
    s.basically_satisfied, s.unsatisfied, s.reopened, s.visited, s.verified, s.handling_days
FROM messages m CROSS JOIN LATERAL stat_measures(m) s;
