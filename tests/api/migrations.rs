//! Every migration's down.sql really reverts it, and the migrations apply again afterwards.

use diesel::RunQueryDsl;
use diesel_migrations::MigrationHarness;

use crate::helpers::ScratchDb;

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Table {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
}

/// Tables, sequences and functions the migrations made.
fn tables(conn: &mut diesel::PgConnection) -> Vec<String> {
    diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' \
         UNION ALL SELECT sequence_name::text FROM information_schema.sequences WHERE sequence_schema = 'public' \
         UNION ALL SELECT routine_name::text FROM information_schema.routines WHERE routine_schema = 'public' \
         AND routine_name NOT LIKE 'diesel%' ORDER BY 1",
    )
    .load::<Table>(conn)
    .unwrap()
    .into_iter()
    .map(|t| t.table_name)
    .collect()
}

/// Reverts the latest migrations until `version` (a migration folder's prefix) is reverted too.
fn revert_through(conn: &mut diesel::PgConnection, version: &str) {
    loop {
        let reverted = conn
            .revert_last_migration(liuyan::db::MIGRATIONS)
            .unwrap()
            .to_string();
        if reverted.starts_with(&version.replace('-', "")) || reverted.starts_with(version) {
            return;
        }
    }
}

#[test]
fn migrations_apply_revert_and_apply_again() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    let applied = tables(&mut conn);
    assert!(applied.contains(&"units".to_owned()), "{applied:?}");
    assert!(
        applied.contains(&"message_tracking_seq".to_owned()),
        "{applied:?}"
    );
    assert!(
        applied.contains(&"message_events_append_only".to_owned()),
        "{applied:?}"
    );
    liuyan::seed::seed_demo(&mut conn).unwrap();
    conn.revert_all_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(
        tables(&mut conn),
        Vec::<String>::new(),
        "down.sql removes everything up.sql made"
    );
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(tables(&mut conn), applied);
}

#[test]
fn the_demo_seed_is_idempotent() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    liuyan::db::run_migrations(&mut conn).unwrap();
    let first = liuyan::seed::seed_demo(&mut conn).unwrap();
    assert_eq!(first.units, liuyan::seed::UNITS.len());
    assert_eq!(first.users, liuyan::seed::USERS.len());
    let second = liuyan::seed::seed_demo(&mut conn).unwrap();
    assert_eq!(
        (second.regions, second.units, second.leaders, second.users),
        (0, 0, 0, 0)
    );
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut diesel::PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
}

/// Reverting the handling migration keeps every message: those in handling statuses go back to
/// `accepted`, the last status the earlier schema knows.
#[test]
fn reverting_handling_keeps_every_message() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    let messages = count(&mut conn, "SELECT count(*) AS n FROM messages");
    assert!(messages > 0);
    diesel::sql_query(
        "UPDATE messages SET status = 'in_progress', return_count = 1 \
         WHERE id = (SELECT id FROM messages WHERE status = 'accepted' LIMIT 1)",
    )
    .execute(&mut conn)
    .unwrap();
    // Every later migration first, then handling (000003).
    revert_through(&mut conn, "2026-11-26-000003");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        messages
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM messages WHERE status NOT IN ('submitted', 'accepted', 'rejected', 'withdrawn')"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'return_count'"
        ),
        0
    );
    // The old constraint holds again, and the migration applies again on top.
    assert!(
        diesel::sql_query("UPDATE messages SET status = 'assigned'")
            .execute(&mut conn)
            .is_err()
    );
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM deadline_policies"),
        2
    );
}

#[test]
fn reverting_replies_keeps_every_message() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    // The demo has replied and closed messages with replies and ratings.
    liuyan::seed::seed_demo(&mut conn).unwrap();
    let messages = count(&mut conn, "SELECT count(*) AS n FROM messages");
    let answered = count(
        &mut conn,
        "SELECT count(*) AS n FROM messages WHERE status IN ('replied', 'closed')",
    );
    assert!(answered >= 2, "the demo answers some messages");
    diesel::sql_query(
        "UPDATE assignments SET origin = 'reopened' \
         WHERE id = (SELECT id FROM assignments ORDER BY id LIMIT 1)",
    )
    .execute(&mut conn)
    .unwrap();
    revert_through(&mut conn, "2026-11-26-000004");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        messages
    );
    assert!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM messages WHERE status = 'in_progress'"
        ) >= answered,
        "answered messages fall back to in_progress"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('replies', 'feedback', 'return_visits', 'reply_revisions', 'reply_policy')"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'messages' AND column_name IN ('replied_at', 'feedback_until', 'closed_at', 'reopen_count')"
        ),
        0
    );
    assert!(
        diesel::sql_query("UPDATE messages SET status = 'replied'")
            .execute(&mut conn)
            .is_err(),
        "the old status constraint holds again"
    );
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM reply_policy"),
        1
    );
}

#[test]
fn reverting_statistics_keeps_every_message_and_its_facts_sources() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    let messages = count(&mut conn, "SELECT count(*) AS n FROM messages");
    let rated = count(&mut conn, "SELECT count(*) AS n FROM feedback");
    // The migration's backfill and the application agree on the copies.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM messages WHERE rating IS NOT NULL"
        ),
        rated
    );
    let deltas = count(&mut conn, "SELECT count(*) AS n FROM stat_deltas");
    assert!(deltas >= messages, "every message entered the statistics");
    revert_through(&mut conn, "2026-11-26-000005");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        messages
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM feedback"),
        rated
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('stat_cells', 'stat_deltas', 'statistics_policy')"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'messages' AND column_name IN ('overdue_deadlines', 'reply_on_time', 'handling_days', 'rating', 'visit_finding')"
        ),
        0
    );
    // Writes work without the triggers, and the migration applies again with the backfill.
    diesel::sql_query("UPDATE messages SET priority = 'important' WHERE priority IS NULL")
        .execute(&mut conn)
        .unwrap();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM messages WHERE rating IS NOT NULL"
        ),
        rated
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT coalesce(sum(received), 0)::int8 AS n FROM stat_deltas"
        ),
        messages
    );
}

/// Reverting early warning (000006) drops its tables and function and keeps every message, with
/// the `alert_raised` events in their (append-only) ledgers.
#[test]
fn reverting_alerts_keeps_every_message_and_its_ledger() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM alert_rules"),
        liuyan::seed::ALERT_RULES.len() as i64
    );
    // An alert about a demo message, as intake raises them.
    let message: liuyan::store::messages::Message = {
        use diesel::prelude::*;
        use liuyan::schema::messages as m;
        m::table
            .order(m::id)
            .select(liuyan::store::messages::Message::as_select())
            .first(&mut conn)
            .unwrap()
    };
    diesel::sql_query("UPDATE messages SET body = body || ' 工人们准备集体上访。' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(message.id)
        .execute(&mut conn)
        .unwrap();
    let reread = liuyan::store::messages::get(&mut conn, message.id)
        .unwrap()
        .unwrap();
    liuyan::store::alerts::evaluate_intake(&mut conn, &reread, chrono::Utc::now()).unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM alerts"), 1);
    let messages = count(&mut conn, "SELECT count(*) AS n FROM messages");
    let events = count(&mut conn, "SELECT count(*) AS n FROM message_events");

    revert_through(&mut conn, "2026-11-26-000006");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('alert_rules', 'alerts', 'alert_messages')"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_proc WHERE proname = 'alert_address_key'"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'messages_address_key_idx'"
        ),
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        messages
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM message_events"),
        events
    );
    // And it applies again.
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM alert_rules"), 0);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'messages_address_key_idx'"
        ),
        1
    );
}

/// Reverting assessments (000007) drops the weights, the closed periods and the restatements,
/// and touches nothing else; it applies again with the default weights.
#[test]
fn reverting_assessments_drops_only_its_tables() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    diesel::sql_query("UPDATE assessment_weights SET reply_rate = 40")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(
        "INSERT INTO assessment_periods (period, period_from, period_to, content, content_hash, \
           closed_by, closed_at, updated_at) \
         SELECT '2025-10', '2025-10-01', '2025-10-31', '{}', repeat('a', 64), id, now(), now() \
         FROM users WHERE email = 'admin@liuyan.example'",
    )
    .execute(&mut conn)
    .unwrap();
    let messages = count(&mut conn, "SELECT count(*) AS n FROM messages");
    let before: Vec<String> = tables(&mut conn)
        .into_iter()
        .filter(|t| !t.starts_with("assessment_"))
        .collect();

    revert_through(&mut conn, "2026-11-26-000007");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name LIKE 'assessment%'"
        ),
        0
    );
    let after: Vec<String> = tables(&mut conn);
    // Whatever later migrations made is gone too; everything before 000007 is still there.
    assert!(after.iter().all(|t| before.contains(t)), "{after:?}");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        messages
    );
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM assessment_weights WHERE reply_rate = 25"
        ),
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM assessment_periods"),
        0
    );
}

/// Reverting integration clients (000009) works while there are none, and refuses, losing
/// nothing, once a client's account exists (it may be an actor in the append-only ledger).
#[test]
fn reverting_integration_clients_refuses_to_lose_their_accounts() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    let users = count(&mut conn, "SELECT count(*) AS n FROM users");
    revert_through(&mut conn, "2026-11-26-000009");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'integration_clients'"
        ),
        0
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users"), users);
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();

    let admin: uuid::Uuid = {
        use diesel::prelude::*;
        liuyan::schema::users::table
            .filter(liuyan::schema::users::email.eq("admin@liuyan.example"))
            .select(liuyan::schema::users::id)
            .first(&mut conn)
            .unwrap()
    };
    liuyan::store::integration_clients::create(
        &mut conn,
        "联络平台",
        &[liuyan::domain::client_scope::ClientScope::SyncRead],
        None,
        liuyan::domain::ids::UserId(admin),
        chrono::Utc::now(),
    )
    .unwrap();
    let refused = loop {
        match conn.revert_last_migration(liuyan::db::MIGRATIONS) {
            Ok(v) if v.to_string().starts_with("2026-11-26-000009") => break None,
            Ok(_) => continue,
            Err(e) => break Some(e.to_string()),
        }
    };
    let why = refused.expect("000009 refuses to revert");
    assert!(why.contains("integration clients exist"), "{why}");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM integration_clients"),
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM users"),
        users + 1
    );
}

/// Reverting weekly briefings (000008) drops its tables and the candidate-search indexes; the
/// messages and the instructions briefings produced (ordinary leader instructions) stay.
#[test]
fn reverting_briefings_keeps_messages_and_instructions() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    diesel::sql_query(
        "INSERT INTO briefings (id, title, period_from, period_to, region_code, region_path, \
           candidates_found, created_by, created_at, updated_by, updated_at) \
         SELECT gen_random_uuid(), '摘报', date '2026-11-02', date '2026-11-08', r.code, r.path, 1, \
           u.id, now(), u.id, now() \
         FROM regions r, (SELECT id FROM users ORDER BY id LIMIT 1) u WHERE r.parent_code IS NULL",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query(
        "INSERT INTO briefing_items (briefing_id, message_id, rank, score, reasons, selected, \
           position, summary) \
         SELECT b.id, m.id, 1, 110, ARRAY['important'], true, 1, '摘要' \
         FROM briefings b, (SELECT id FROM messages ORDER BY id LIMIT 1) m",
    )
    .execute(&mut conn)
    .unwrap();
    // The schema's rules hold: a cluster reason needs its label.
    assert!(
        diesel::sql_query("UPDATE briefing_items SET reasons = ARRAY['cluster'] WHERE rank = 1")
            .execute(&mut conn)
            .is_err()
    );
    let messages = count(&mut conn, "SELECT count(*) AS n FROM messages");
    let instructions = count(&mut conn, "SELECT count(*) AS n FROM instructions");

    revert_through(&mut conn, "2026-11-26-000008");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('briefings', 'briefing_items')"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_indexes WHERE indexname IN ('messages_important_activity_idx', 'feedback_unsatisfied_idx', 'supervisions_closed_idx')"
        ),
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        messages
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM instructions"),
        instructions
    );
    // And it applies again.
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM briefings"), 0);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_indexes WHERE indexname IN ('messages_important_activity_idx', 'feedback_unsatisfied_idx', 'supervisions_closed_idx')"
        ),
        3
    );
}

/// Reverting sync (000010) keeps every message and ledger event; applying it again fills the
/// feed order of the events already there. Once messages were imported, it refuses (their
/// external ids would be lost and a later import would duplicate them).
#[test]
fn reverting_sync_keeps_the_ledger_and_refuses_to_lose_external_ids() {
    use diesel::prelude::*;
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    let admin: uuid::Uuid = liuyan::schema::users::table
        .filter(liuyan::schema::users::email.eq("admin@liuyan.example"))
        .select(liuyan::schema::users::id)
        .first(&mut conn)
        .unwrap();
    let actor = liuyan::store::messages::EventActor::SYSTEM;
    let new = |ext: &str| liuyan::app::intake::import::ImportedMessage {
        external: liuyan::store::messages::ExternalRef {
            source: "board".into(),
            external_id: ext.into(),
            updated_at: chrono::Utc::now(),
        },
        new: liuyan::store::messages::NewMessage {
            author_id: None,
            registered_by: Some(liuyan::domain::ids::UserId(admin)),
            source: liuyan::domain::message::MessageSource::Web,
            leader_id: liuyan::seed::leader_id("孙海洋"),
            category_id: liuyan::domain::ids::CategoryId(
                "01930000-0000-7000-8000-000000000002".parse().unwrap(),
            ),
            kind: liuyan::domain::message::MessageKind::Complaint,
            title: "迁移回退检查".into(),
            body: "迁移回退时不得丢失任何留言和台账事件。".into(),
            region_code: None,
            address: String::new(),
            location: None,
            visibility: liuyan::domain::message::Visibility::Public,
            contact_name: None,
            contact_phone: None,
            attachments: serde_json::json!([]),
            submitted_at: None,
        },
    };
    let intake = liuyan::app::intake::Intake {
        actor,
        tracking_prefix: "GS",
        quota: liuyan::domain::quota::IntakeQuota {
            per_hour: 0,
            per_day: 0,
        },
        leaders: liuyan::app::intake::Addressable::Any,
        now: chrono::Utc::now(),
    };
    // Messages written before the sync columns existed look like any other message.
    liuyan::app::intake::submit(&mut conn, &intake, &new("x").new).unwrap();
    let events = count(&mut conn, "SELECT count(*) AS n FROM message_events");
    let messages = count(&mut conn, "SELECT count(*) AS n FROM messages");
    revert_through(&mut conn, "2026-11-26-000010");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.columns \
             WHERE column_name IN ('feed_txid', 'feed_type', 'external_source', 'board_url')"
        ),
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM message_events"),
        events
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        messages
    );
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM message_events WHERE feed_txid IS NULL OR feed_type IS NULL"
        ),
        0,
        "the events already there are in the feed"
    );

    let out =
        liuyan::app::intake::import::import_messages(&mut conn, &intake, vec![Ok(new("E-1"))])
            .unwrap();
    assert!(matches!(out[0], liuyan::store::sync::Outcome::Created(_)));
    let refused = loop {
        match conn.revert_last_migration(liuyan::db::MIGRATIONS) {
            Ok(v) if v.to_string().starts_with("2026-11-26-000010") => break None,
            Ok(_) => continue,
            Err(e) => break Some(e.to_string()),
        }
    };
    let why = refused.expect("000010 refuses to revert");
    assert!(why.contains("would lose their external ids"), "{why}");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM messages WHERE external_id = 'E-1'"
        ),
        1
    );
}

/// Reverting webhooks (000011) drops the subscriptions, the outbox and its log and the ledger's
/// trigger; the ledger keeps every event and takes new ones without it; it applies again.
#[test]
fn reverting_webhooks_drops_only_its_tables_and_trigger() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    diesel::sql_query(
        "INSERT INTO webhook_subscriptions (id, owner_id, url, event_types, secret, created_at, updated_at) \
         SELECT gen_random_uuid(), id, 'https://board.example.org/h', '{message.created}', \
                'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now() \
         FROM users WHERE email = 'admin@liuyan.example'",
    )
    .execute(&mut conn)
    .unwrap();
    let insert_event = "INSERT INTO message_events (message_id, seq, actor_role, action, from_status, \
           to_status, created_at, prev_hash, hash) \
         SELECT id, 1000 + (SELECT count(*) FROM message_events)::int, 'system', 'submit', NULL, \
           'submitted', now(), '\\x00', '\\x00' FROM messages WHERE visibility = 'public' ORDER BY id LIMIT 1";
    assert_eq!(
        diesel::sql_query(insert_event).execute(&mut conn).unwrap(),
        1,
        "the seed has a message"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM webhook_deliveries"),
        1
    );
    let events = count(&mut conn, "SELECT count(*) AS n FROM message_events");
    let before: Vec<String> = tables(&mut conn)
        .into_iter()
        .filter(|t| !t.starts_with("webhook_"))
        .collect();

    revert_through(&mut conn, "2026-11-26-000011");
    // Later migrations are reverted on the way (their own objects go too): what is left is
    // what was there before, less the webhook tables.
    let after = tables(&mut conn);
    assert!(after.iter().all(|t| before.contains(t)), "{after:?}");
    assert!(after.contains(&"message_events".to_owned()));
    assert!(
        !after.iter().any(|t| t.starts_with("webhook_")),
        "{after:?}"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.triggers WHERE trigger_name = 'webhook_enqueue'"
        ),
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM message_events"),
        events
    );
    diesel::sql_query(insert_event).execute(&mut conn).unwrap();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM webhook_subscriptions"),
        0
    );
}

/// Reverting the Open311 facade (000012) drops only its index on published replies, keeps every
/// reply, and it applies again.
#[test]
fn reverting_open311_drops_only_its_index() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    let index = "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'replies_published_idx'";
    assert_eq!(count(&mut conn, index), 1);
    let replies = count(&mut conn, "SELECT count(*) AS n FROM replies");
    let before = tables(&mut conn);

    revert_through(&mut conn, "2026-11-26-000012");
    assert_eq!(count(&mut conn, index), 0);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM replies"),
        replies
    );
    let after = tables(&mut conn);
    assert!(after.iter().all(|t| before.contains(t)), "{after:?}");
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(count(&mut conn, index), 1);
}

/// The statement-level statistics triggers (000013) write the same deltas as the row trigger
/// they replace, and reverting restores the row trigger.
#[test]
fn statistics_deltas_are_the_same_per_statement_and_per_row() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    // Copy the seed's messages under new ids and delete the copies, once per trigger kind, and
    // compare the deltas each way wrote.
    let copy_and_delete = |conn: &mut diesel::PgConnection, tag: &str| -> Vec<String> {
        diesel::sql_query("DELETE FROM stat_deltas")
            .execute(conn)
            .unwrap();
        diesel::sql_query(format!(
            "INSERT INTO messages (id, tracking_no, author_id, registered_by, source, leader_id, \
               category_id, kind, title, body, region_code, region_path, visibility, status, \
               priority, intake_unit_id, unit_id, search_bigrams, chain_head, submitted_at, \
               last_activity_at, rejection_reason) \
             SELECT gen_random_uuid(), tracking_no || '{tag}', author_id, registered_by, source, \
               leader_id, category_id, kind, title, body, region_code, region_path, visibility, \
               status, priority, intake_unit_id, unit_id, search_bigrams, chain_head, \
               submitted_at, last_activity_at, rejection_reason FROM messages"
        ))
        .execute(conn)
        .unwrap();
        diesel::sql_query(format!(
            "DELETE FROM messages WHERE tracking_no LIKE '%{tag}'"
        ))
        .execute(conn)
        .unwrap();
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            line: String,
        }
        diesel::sql_query(
            "SELECT (d.*)::text AS line FROM (SELECT day, region_code, unit_id, leader_id, \
               category_id, kind, priority, received, accepted, rejected, withdrawn, assigned, \
               replied, pending, overdue, judged, on_time, rated, satisfied, basically_satisfied, \
               unsatisfied, reopened, visited, verified, handling_days FROM stat_deltas) d ORDER BY 1",
        )
        .load::<Line>(conn)
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect()
    };
    let per_statement = copy_and_delete(&mut conn, "-s");
    assert!(!per_statement.is_empty(), "the seed has messages");
    revert_through(&mut conn, "2026-11-26-000013");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.triggers WHERE trigger_name = 'messages_stat_insert_delete'"
        ),
        2,
        "the row trigger is back (insert and delete)"
    );
    let per_row = copy_and_delete(&mut conn, "-r");
    assert_eq!(per_statement, per_row);
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
}

/// The region-scope migration gives linked leader accounts their leader record's region and
/// its down.sql takes back exactly what it gave.
#[test]
fn region_scopes_are_derived_for_leaders_and_given_back_on_revert() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    revert_through(&mut conn, "2026-12-07-000020");
    // As before the migration: a linked leader without a scope, one with a scope of its own.
    diesel::sql_query(
        "UPDATE users SET scope_region_code = NULL WHERE email = 'leader@liuyan.example'",
    )
    .execute(&mut conn)
    .unwrap();
    let scope = |conn: &mut diesel::PgConnection| {
        count(
            conn,
            "SELECT count(*) AS n FROM users WHERE email = 'leader@liuyan.example' \
             AND scope_region_code = (SELECT region_code FROM leaders l WHERE l.id = users.leader_id)",
        )
    };
    let unscoped = "SELECT count(*) AS n FROM users WHERE scope_region_code IS NULL";
    let before = count(&mut conn, unscoped);
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(scope(&mut conn), 1, "the leader took its record's region");
    assert_eq!(count(&mut conn, unscoped), before - 1);
    revert_through(&mut conn, "2026-12-07-000020");
    assert_eq!(scope(&mut conn), 0, "down.sql gives the derived scope back");
    assert_eq!(count(&mut conn, unscoped), before);
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Scopes {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    scopes: String,
}

fn client_scopes(conn: &mut diesel::PgConnection) -> Vec<(String, String)> {
    diesel::sql_query(
        "SELECT name, (SELECT string_agg(s, ' ' ORDER BY s) FROM unnest(scopes) s) AS scopes \
         FROM integration_clients ORDER BY name",
    )
    .load::<Scopes>(conn)
    .unwrap()
    .into_iter()
    .map(|s| (s.name, s.scopes))
    .collect()
}

/// Existing clients that read (the feed or webhooks) keep the personal data they had
/// (`sync:personal`), never internal content; a writer only gets nothing. down.sql takes the
/// data scopes back and restores the outbox.
#[test]
fn data_scopes_are_granted_to_existing_readers_and_taken_back_on_revert() {
    let db = ScratchDb::new(None);
    let mut conn = db.connect();
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    liuyan::seed::seed_demo(&mut conn).unwrap();
    revert_through(&mut conn, "2026-12-07-000021");
    for (name, scopes) in [
        ("a-reader", "{sync:read,sync:write}"),
        ("b-hooks", "{webhooks:manage}"),
        ("c-writer", "{sync:write}"),
    ] {
        diesel::sql_query(format!(
            "WITH u AS (INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at) \
             VALUES (gen_random_uuid(), '{name}@clients.liuyan.invalid', '!', '{name}', 'integration', now(), now()) RETURNING id) \
             INSERT INTO integration_clients (id, client_id, name, secret_hash, scopes, created_by, created_at, updated_at, secret_rotated_at) \
             SELECT u.id, 'lyc_' || replace(gen_random_uuid()::text, '-', ''), '{name}', sha256('x'), '{scopes}', \
                    (SELECT id FROM users WHERE role = 'admin' LIMIT 1), now(), now(), now() FROM u"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let before = client_scopes(&mut conn);
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
    assert_eq!(
        client_scopes(&mut conn),
        vec![
            (
                "a-reader".into(),
                "sync:personal sync:read sync:write".into()
            ),
            ("b-hooks".into(), "sync:personal webhooks:manage".into()),
            ("c-writer".into(), "sync:write".into()),
        ]
    );
    diesel::sql_query(
        "UPDATE integration_clients SET scopes = scopes || '{sync:internal}', region_code = '620100' WHERE name = 'c-writer'",
    )
    .execute(&mut conn)
    .unwrap();
    revert_through(&mut conn, "2026-12-07-000021");
    assert_eq!(client_scopes(&mut conn), before);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_proc WHERE proname = 'webhook_enqueue' \
             AND prosrc NOT LIKE '%integration_clients%'"
        ),
        1,
        "the outbox of migration 000011"
    );
    conn.run_pending_migrations(liuyan::db::MIGRATIONS).unwrap();
}
