//! The benchmark data is valid data: constraints hold, every chain verifies, search finds it.

use diesel::prelude::*;

use crate::helpers::ScratchDb;

#[test]
fn seed_bench_writes_valid_messages_and_ledgers() {
    let db = ScratchDb::new(None);
    let report = liuyan::bench::seed_bench(&db.url, 500).expect("seed-bench runs");
    assert_eq!(report.messages, 500);
    let mut conn = db.connect();
    use liuyan::schema::messages::dsl as m;
    let total: i64 = m::messages.count().get_result(&mut conn).unwrap();
    assert_eq!(total as usize, 500 + liuyan::seed::MESSAGES.len());
    let ids: Vec<uuid::Uuid> = m::messages.select(m::id).load(&mut conn).unwrap();
    for id in ids {
        let message = liuyan::store::messages::get(&mut conn, id)
            .unwrap()
            .unwrap();
        let verdict = liuyan::store::messages::verify_chain(&mut conn, &message).unwrap();
        assert!(verdict.is_ok(), "{} {verdict:?}", message.tracking_no);
    }
    // The same, checked without the application's verifier (which the seeder shares): in SQL,
    // every chain starts at the zero hash, numbers its events 1..n without a gap, links each
    // event to the hash before it, and ends at the message's head and count; every hash is a
    // SHA-256 (the content hash itself is pinned by fixed vectors in `domain::ledger`).
    #[derive(QueryableByName)]
    struct Links {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        events: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bad_links: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bad_heads: i64,
    }
    let l: Links = diesel::sql_query(
        "WITH e AS (SELECT message_id, seq, hash, prev_hash, \
                lag(hash) OVER w AS before, row_number() OVER w AS n \
           FROM message_events WINDOW w AS (PARTITION BY message_id ORDER BY seq)) \
         SELECT (SELECT count(*) FROM e) AS events, \
                (SELECT count(*) FROM e WHERE seq <> n OR length(hash) <> 32 \
                   OR prev_hash IS DISTINCT FROM coalesce(before, decode(repeat('00', 32), 'hex'))) \
                   AS bad_links, \
                (SELECT count(*) FROM messages m WHERE m.event_count <> \
                   (SELECT count(*) FROM e WHERE e.message_id = m.id) \
                   OR m.chain_head IS DISTINCT FROM \
                   (SELECT hash FROM e WHERE e.message_id = m.id ORDER BY seq DESC LIMIT 1)) AS bad_heads",
    )
    .get_result(&mut conn)
    .unwrap();
    assert!(l.events > 1_000, "{}", l.events);
    assert_eq!((l.bad_links, l.bad_heads), (0, 0), "{} events", l.events);
    // Messages in handling have their open lead assignment and deadlines, and each deadline's
    // due time is what the working-day arithmetic gives.
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        handled: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        with_lead: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        replies: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        in_progress: i64,
    }
    let c: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM messages WHERE status IN ('assigned', 'in_progress')) AS handled, \
                (SELECT count(DISTINCT m.id) FROM messages m JOIN assignments a ON a.message_id = m.id \
                  AND a.role = 'lead' AND a.status IN ('pending', 'signed_for') AND a.unit_id = m.unit_id \
                  WHERE m.status IN ('assigned', 'in_progress')) AS with_lead, \
                (SELECT count(*) FROM deadlines WHERE kind = 'reply' AND state = 'open') AS replies, \
                (SELECT count(*) FROM messages WHERE status = 'in_progress') AS in_progress",
    )
    .get_result(&mut conn)
    .unwrap();
    assert!(c.handled > 100, "{}", c.handled);
    // Answered messages: one published final reply by the unit, its lead assignment completed
    // with the reply deadline judged; those the scheduler closed are past their rating window
    // without an open unsatisfied rating.
    #[derive(QueryableByName)]
    struct Answered {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        answered: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        with_reply: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        completed: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        judged: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bad_closed: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rated: i64,
    }
    let a: Answered = diesel::sql_query(
        "SELECT (SELECT count(*) FROM messages WHERE status IN ('replied', 'closed')) AS answered, \
                (SELECT count(*) FROM messages m WHERE m.status IN ('replied', 'closed') AND 1 = \
                  (SELECT count(*) FROM replies r WHERE r.message_id = m.id AND r.kind = 'final' \
                   AND r.status = 'published' AND r.unit_id = m.unit_id AND r.published_at = m.replied_at)) AS with_reply, \
                (SELECT count(*) FROM messages m WHERE m.status IN ('replied', 'closed') AND EXISTS \
                  (SELECT 1 FROM assignments a WHERE a.message_id = m.id AND a.role = 'lead' \
                   AND a.status = 'completed' AND a.completed_at = m.replied_at)) AS completed, \
                (SELECT count(*) FROM messages m WHERE m.status IN ('replied', 'closed') AND EXISTS \
                  (SELECT 1 FROM deadlines d WHERE d.message_id = m.id AND d.kind = 'reply' \
                   AND d.state IN ('met', 'missed') AND d.closed_at = m.replied_at)) AS judged, \
                (SELECT count(*) FROM messages m WHERE m.status = 'closed' AND EXISTS (SELECT 1 FROM message_events e \
                  WHERE e.message_id = m.id AND e.action = 'close' AND e.actor_role = 'system') \
                  AND (m.closed_at < m.feedback_until OR EXISTS (SELECT 1 FROM feedback f WHERE f.message_id = m.id AND f.flag = 'open'))) AS bad_closed, \
                (SELECT count(*) FROM feedback f JOIN replies r ON r.id = f.reply_id AND r.message_id = f.message_id) AS rated",
    )
    .get_result(&mut conn)
    .unwrap();
    assert!(a.answered > 20, "{}", a.answered);
    assert_eq!(
        (a.with_reply, a.completed, a.judged, a.bad_closed),
        (a.answered, a.answered, a.answered, 0)
    );
    assert!(a.rated > 0 && a.rated <= a.answered);
    assert_eq!(c.with_lead, c.handled);
    assert_eq!(c.replies, c.in_progress);
    let sample: Vec<uuid::Uuid> = liuyan::schema::deadlines::table
        .select(liuyan::schema::deadlines::id)
        .limit(50)
        .load(&mut conn)
        .unwrap();
    for id in sample {
        let d = liuyan::store::deadlines::get(&mut conn, liuyan::domain::ids::DeadlineId(id))
            .unwrap()
            .unwrap();
        let again = liuyan::store::deadlines::explain(&mut conn, &d, chrono::Utc::now())
            .unwrap()
            .unwrap();
        assert_eq!(d.due_at, Some(again.due_at));
    }
    // The same without the application's working-day arithmetic (which the seeder shares): in
    // SQL, the due time of every unpaused deadline is the end (local midnight, Shanghai) of the
    // (limit + extensions)-th working day strictly after its local start date, a working day
    // being the calendar's override where there is one, else Monday to Friday.
    #[derive(QueryableByName)]
    struct DueCheck {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        checked: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        wrong: i64,
    }
    let due: DueCheck = diesel::sql_query(
        "WITH d AS ( \
           SELECT id, due_at, limit_days + extension_days AS n, \
                  (started_at AT TIME ZONE 'Asia/Shanghai')::date AS start_day \
           FROM deadlines WHERE pauses = '[]'::jsonb AND paused_since IS NULL), \
         computed AS ( \
           SELECT d.id, d.due_at, \
             (SELECT day FROM ( \
                SELECT g::date AS day, row_number() OVER (ORDER BY g) AS k \
                FROM generate_series(d.start_day + 1, d.start_day + 400, interval '1 day') g \
                LEFT JOIN calendar_days c ON c.day = g::date \
                WHERE COALESCE(c.working, extract(isodow FROM g) < 6)) w \
              WHERE w.k = d.n) AS due_day \
           FROM d) \
         SELECT count(*) AS checked, \
           count(*) FILTER (WHERE due_at IS DISTINCT FROM \
             ((due_day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')) AS wrong \
         FROM computed",
    )
    .get_result(&mut conn)
    .unwrap();
    assert!(due.checked > 100, "{} deadlines checked", due.checked);
    assert_eq!(due.wrong, 0, "of {} deadlines", due.checked);

    // The load skips the foreign-key triggers where it may: every reference must hold anyway.
    let orphans: Counts = diesel::sql_query(
        "SELECT \
           (SELECT count(*) FROM message_events e WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = e.message_id)) \
         + (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM leaders l WHERE l.id = m.leader_id) \
              OR NOT EXISTS (SELECT 1 FROM categories c WHERE c.id = m.category_id) \
              OR NOT EXISTS (SELECT 1 FROM regions r WHERE r.code = m.region_code) \
              OR NOT EXISTS (SELECT 1 FROM units u WHERE u.id = m.intake_unit_id) \
              OR (m.unit_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM units u WHERE u.id = m.unit_id)) \
              OR (m.author_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users x WHERE x.id = m.author_id))) \
         + (SELECT count(*) FROM assignments a WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.message_id) \
              OR NOT EXISTS (SELECT 1 FROM units u WHERE u.id = a.unit_id) \
              OR NOT EXISTS (SELECT 1 FROM users x WHERE x.id = a.assigned_by)) \
         + (SELECT count(*) FROM deadlines d WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.id = d.assignment_id AND a.message_id = d.message_id) \
              OR NOT EXISTS (SELECT 1 FROM deadline_policies p WHERE p.id = d.policy_id) \
              OR NOT EXISTS (SELECT 1 FROM leaders l WHERE l.id = d.leader_id)) AS handled, \
         0::bigint AS with_lead, 0::bigint AS replies, 0::bigint AS in_progress",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(orphans.handled, 0, "rows whose references do not hold");

    // The load also skips the trigger that places events in the change feed: each event has
    // its type, and each message's events read in chain order.
    let misplaced: Counts = diesel::sql_query(
        "SELECT \
           (SELECT count(*) FROM message_events \
             WHERE feed_txid IS NULL OR feed_type IS DISTINCT FROM feed_event_type(action, from_status, to_status)) \
         + (SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY message_id ORDER BY feed_txid, id) AS before \
                                  FROM message_events) x WHERE x.before IS NOT NULL AND x.before <> x.seq - 1) AS handled, \
         0::bigint AS with_lead, 0::bigint AS replies, 0::bigint AS in_progress",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(
        misplaced.handled, 0,
        "events out of the change feed's order"
    );

    // The statistics facts on each message are what their sources say (the same expressions
    // as the migration's backfill), and the aggregates the seed rebuilt equal counting the rows.
    let wrong_facts: N = diesel::sql_query(
        "WITH latest AS ( \
             SELECT DISTINCT ON (r.message_id) r.message_id, r.id, r.assignment_id, r.published_at \
             FROM replies r WHERE r.kind = 'final' AND r.status = 'published' \
             ORDER BY r.message_id, r.published_at DESC), \
         truth AS ( \
             SELECT m.id, \
               (SELECT count(*)::int FROM deadlines d WHERE d.message_id = m.id \
                  AND d.state = 'open' AND d.overdue_raised_at IS NOT NULL) AS overdue_deadlines, \
               (SELECT d.state = 'met' FROM deadlines d WHERE d.assignment_id = l.assignment_id \
                  AND d.kind = 'reply' AND d.state IN ('met', 'missed') \
                  ORDER BY d.closed_at DESC LIMIT 1) AS reply_on_time, \
               (SELECT count(*)::int FROM generate_series( \
                    (m.submitted_at AT TIME ZONE 'Asia/Shanghai')::date + 1, \
                    (l.published_at AT TIME ZONE 'Asia/Shanghai')::date, interval '1 day') AS g(day) \
                  LEFT JOIN calendar_days c ON c.day = g.day::date \
                  WHERE coalesce(c.working, extract(isodow FROM g.day) < 6)) AS handling_days, \
               (SELECT f.rating FROM feedback f WHERE f.reply_id = l.id \
                  ORDER BY f.updated_at DESC LIMIT 1) AS rating \
             FROM messages m LEFT JOIN latest l ON l.message_id = m.id) \
         SELECT count(*) AS n FROM messages m JOIN truth t ON t.id = m.id \
         WHERE m.overdue_deadlines <> t.overdue_deadlines \
            OR m.reply_on_time IS DISTINCT FROM t.reply_on_time \
            OR (m.handling_days IS DISTINCT FROM t.handling_days AND m.replied_at IS NOT NULL) \
            OR m.rating IS DISTINCT FROM t.rating",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(
        wrong_facts.n, 0,
        "messages whose statistics facts differ from their sources"
    );
    let overdue: N =
        diesel::sql_query("SELECT count(*) AS n FROM messages WHERE overdue_deadlines > 0")
            .get_result(&mut conn)
            .unwrap();
    assert!(overdue.n > 0, "some generated messages are overdue");
    let mismatched: N = diesel::sql_query(
        "WITH raw AS ( \
             SELECT sum(s.received) AS received, sum(s.replied) AS replied, sum(s.pending) AS pending, \
                    sum(s.overdue) AS overdue, sum(s.judged) AS judged, sum(s.on_time) AS on_time, \
                    sum(s.rated) AS rated, sum(s.satisfied) AS satisfied, \
                    sum(s.handling_days) AS days \
             FROM messages m CROSS JOIN LATERAL stat_measures(m) s), \
         cells AS ( \
             SELECT sum(received) AS received, sum(replied) AS replied, sum(pending) AS pending, \
                    sum(overdue) AS overdue, sum(judged) AS judged, sum(on_time) AS on_time, \
                    sum(rated) AS rated, sum(satisfied) AS satisfied, \
                    (SELECT sum((h.i - 1) * h.n) FROM stat_cells c2, unnest(c2.hist) WITH ORDINALITY AS h(n, i) \
                        WHERE c2.cube = 0 AND c2.grain = 'm') AS days \
             FROM stat_cells WHERE cube = 0 AND grain = 'm') \
         SELECT count(*) AS n FROM raw, cells WHERE (raw.*)::text <> (cells.*)::text",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(
        mismatched.n, 0,
        "the rebuilt aggregates differ from the rows"
    );

    // Alarms already due were raised in the generated ledgers: the scheduler has (next to)
    // nothing to catch up on (a deadline may fall due while the test runs).
    let raised = liuyan::scheduler::run_once(&mut conn, chrono::Utc::now()).unwrap();
    assert!(raised.due_soon + raised.overdue <= 3, "{raised:?}");

    // Indexes are back (the load drops and rebuilds them).
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'messages_search_idx'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(n.n, 1);
    // Bench messages are searchable like any other.
    let hits: i64 = m::messages
        .filter(m::search_bigrams.contains(vec!["红绿".to_owned(), "绿灯".to_owned()]))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert!(hits > 0);

    // A common term walks the time index, a rare one the bigram index: same answers, page by page.
    use liuyan::http::pagination::PageRequest;
    use liuyan::store::messages::{ListScope, MessageFilter, SortBy, list_planned};
    let filter = MessageFilter {
        search: Some((
            vec!["红绿".to_owned(), "绿灯".to_owned()],
            "红绿灯".to_owned(),
        )),
        ..Default::default()
    };
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = PageRequest { limit: 5, after };
        let common = list_planned(
            &mut conn,
            &ListScope::All,
            &filter,
            SortBy::Submitted,
            &page,
            true,
        )
        .unwrap();
        let rare = list_planned(
            &mut conn,
            &ListScope::All,
            &filter,
            SortBy::Submitted,
            &page,
            false,
        )
        .unwrap();
        let chosen = liuyan::store::messages::list(
            &mut conn,
            &ListScope::All,
            &filter,
            SortBy::Submitted,
            &page,
        )
        .unwrap();
        assert_eq!(chosen.len(), common.len());
        let ids =
            |v: &Vec<liuyan::store::messages::Message>| v.iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(&common), ids(&rare));
        assert!(
            common
                .iter()
                .all(|m| format!("{}{}", m.title, m.body).contains("红绿灯"))
        );
        pages += 1;
        if common.len() <= 5 || pages > 3 {
            break;
        }
        let last = &common[4];
        after = Some((last.submitted_at, last.id));
    }
    assert!(pages > 1, "several pages compared");

    // A walk too short for a page falls back to the bigram index: the same pages, never fewer
    // rows (the bound only limits the work), whatever the bound.
    use liuyan::store::messages::list_walking;
    let mut after = None;
    for _ in 0..3 {
        let page = PageRequest { limit: 5, after };
        let gin = list_walking(
            &mut conn,
            &ListScope::All,
            &filter,
            SortBy::Submitted,
            &page,
            0,
        )
        .unwrap();
        for walk_rows in [1, 7, 50, 100_000] {
            let walked = list_walking(
                &mut conn,
                &ListScope::All,
                &filter,
                SortBy::Submitted,
                &page,
                walk_rows,
            )
            .unwrap();
            let ids = |v: &Vec<liuyan::store::messages::Message>| {
                v.iter().map(|m| m.id).collect::<Vec<_>>()
            };
            assert_eq!(ids(&walked), ids(&gin), "walk of {walk_rows} rows");
        }
        let Some(last) = gin.get(4) else { break };
        after = Some((last.submitted_at, last.id));
    }
    // A phrase whose pairs are each common but which never occurs finds nothing either way.
    let never = MessageFilter {
        search: Some((
            vec!["红绿".to_owned(), "绿灯".to_owned(), "灯红".to_owned()],
            "红绿灯红绿".to_owned(),
        )),
        ..Default::default()
    };
    let page = PageRequest {
        limit: 20,
        after: None,
    };
    for walk_rows in [0, 7, 100_000] {
        let found = list_walking(
            &mut conn,
            &ListScope::All,
            &never,
            SortBy::Submitted,
            &page,
            walk_rows,
        )
        .unwrap();
        assert!(found.is_empty(), "walk of {walk_rows} rows");
    }
}
