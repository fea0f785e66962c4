//! Keyset pages under change: rows inserted between pages and rows whose sort keys tie. A walk
//! must list every row that existed when it started exactly once, in order, and never a row
//! twice (an OFFSET would repeat rows inserted at the head; a cursor on the time alone would
//! skip the rest of a tie).

use std::collections::HashSet;

use diesel::RunQueryDsl;

use crate::handling::local;
use crate::helpers::{Demo, TestApp, test_settings};
use crate::messages::{message_body, submit};
use liuyan::clock::Clock;

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

fn all_ids(app: &TestApp) -> HashSet<String> {
    diesel::sql_query("SELECT id::text AS id FROM messages")
        .load::<Id>(&mut app.db.connect())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[actix_web::test]
async fn pages_miss_and_repeat_nothing_when_rows_tie_and_arrive_between_pages() {
    // A clock that stands still: every message below has the same submission and activity time.
    let clock = Clock::manual(local("2026-12-01T09:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    // After every existing message (the demo data run up to the real today), so that the
    // messages below are the newest and a page boundary falls inside their tie.
    #[derive(diesel::QueryableByName)]
    struct Latest {
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        t: chrono::DateTime<chrono::Utc>,
    }
    let latest = diesel::sql_query(
        "SELECT greatest(max(submitted_at), max(last_activity_at), now()) AS t FROM messages",
    )
    .get_result::<Latest>(&mut app.db.connect())
    .unwrap()
    .t;
    clock.set(latest + chrono::Duration::hours(1));
    let citizen = app.token(Demo::Citizen).await;
    let admin = app.token(Demo::Admin).await;
    let mut n = 0;
    for _ in 0..7 {
        n += 1;
        submit(&app, &citizen, message_body(&format!("同一时刻 {n}"))).await;
    }
    for sort in ["submitted_at", "last_activity_at"] {
        let before = all_ids(&app);
        let mut seen: Vec<String> = Vec::new();
        let mut keys: Vec<(chrono::DateTime<chrono::Utc>, String)> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/messages?sort={sort}&limit=3&cursor={c}"),
                None => format!("/api/v1/messages?sort={sort}&limit=3"),
            };
            let r = app.get(&path, &admin).await;
            assert_eq!(r.status, 200, "{}", r.body);
            for m in r.body["items"].as_array().unwrap() {
                let id = m["id"].as_str().unwrap().to_owned();
                keys.push((m[sort].as_str().unwrap().parse().unwrap(), id.clone()));
                seen.push(id);
            }
            pages += 1;
            // Two more messages between pages, tied with the ones being walked.
            for _ in 0..2 {
                n += 1;
                submit(&app, &citizen, message_body(&format!("同一时刻 {n}"))).await;
            }
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(pages < 200, "the pages never end");
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a row listed twice");
        let missing: Vec<&String> = before.iter().filter(|id| !unique.contains(id)).collect();
        assert!(missing.is_empty(), "{sort}: rows skipped: {missing:?}");
        // The tie was real, and a page boundary fell inside it.
        let newest = keys[0].0;
        let tied = keys.iter().filter(|(t, _)| *t == newest).count();
        assert!(tied > 3, "{sort}: {tied} rows share the newest time");
        // Newest first, ties broken by id, across every page.
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(keys, sorted, "{sort}: order");
    }
}
