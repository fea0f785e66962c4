//! Unit assessments: scorecards equal a recomputation from the raw rows with an independent
//! score formula; ranks; closing freezes a period (same figures and hash after the data
//! changes); restatements record every changed figure; roles, scopes and validation.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{Demo, TestApp, unit};
use crate::statistics::{insert_random, pools};

#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    submitted_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    unit_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    rating: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    reply_on_time: Option<bool>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    reopen_count: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    visit_finding: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    overdue: bool,
}

/// A unit's counts, computed here from the rules as the API documents them.
#[derive(Debug, Default, Clone, PartialEq)]
struct Card {
    received: i64,
    accepted: i64,
    assigned: i64,
    replied: i64,
    pending: i64,
    overdue: i64,
    judged: i64,
    on_time: i64,
    rated: i64,
    satisfied: i64,
    visited: i64,
    verified: i64,
    reopened: i64,
}

fn recompute(conn: &mut PgConnection, from: NaiveDate, to: NaiveDate) -> HashMap<Uuid, Card> {
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT submitted_at, unit_id, status, rating, reply_on_time, reopen_count, visit_finding, \
                overdue_deadlines > 0 AS overdue FROM messages",
    )
    .load(conn)
    .unwrap();
    let mut out: HashMap<Uuid, Card> = HashMap::new();
    for r in rows {
        let day = (r.submitted_at + Duration::hours(8)).date_naive();
        let Some(unit) = r.unit_id else { continue };
        if day < from || day > to {
            continue;
        }
        let c = out.entry(unit).or_default();
        let s = r.status.as_str();
        let answered = matches!(s, "replied" | "closed");
        let pending = matches!(
            s,
            "accepted" | "assigned" | "in_progress" | "awaiting_clarification"
        );
        c.received += 1;
        c.accepted += i64::from(!matches!(s, "submitted" | "rejected" | "withdrawn"));
        c.assigned += i64::from(matches!(
            s,
            "assigned" | "in_progress" | "awaiting_clarification" | "replied" | "closed"
        ));
        c.replied += i64::from(answered);
        c.pending += i64::from(pending);
        c.overdue += i64::from(pending && r.overdue);
        c.judged += i64::from(answered && r.reply_on_time.is_some());
        c.on_time += i64::from(answered && r.reply_on_time == Some(true));
        c.rated += i64::from(r.rating.is_some());
        c.satisfied += i64::from(matches!(
            r.rating.as_deref(),
            Some("satisfied" | "basically_satisfied")
        ));
        c.visited += i64::from(matches!(
            r.visit_finding.as_deref(),
            Some("resolved" | "partly_resolved" | "not_resolved")
        ));
        c.verified += i64::from(r.visit_finding.as_deref() == Some("resolved"));
        c.reopened += i64::from(answered && r.reopen_count > 0);
    }
    out
}

fn share(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The score, written again: weighted mean of the defined components, ×100, 2 decimals.
fn expected_score(c: &Card, w: &Value) -> Option<f64> {
    let parts = [
        (share(c.replied, c.accepted), "reply_rate"),
        (share(c.on_time, c.judged), "on_time_rate"),
        (share(c.satisfied, c.rated), "satisfaction_rate"),
        (share(c.overdue, c.assigned).map(|r| 1.0 - r), "overdue"),
        (share(c.verified, c.visited), "verification_rate"),
        (share(c.reopened, c.replied).map(|r| 1.0 - r), "reopen"),
    ];
    let (mut num, mut den) = (0.0, 0.0);
    for (v, key) in parts {
        let weight = w[key].as_f64().unwrap();
        if let Some(v) = v
            && weight > 0.0
        {
            num += weight * v;
            den += weight;
        }
    }
    (den > 0.0).then(|| (100.0 * num / den * 100.0).round() / 100.0)
}

fn check_against_raw(body: &Value, expected: &HashMap<Uuid, Card>) {
    let cards = body["scorecards"].as_array().unwrap();
    assert_eq!(
        cards.len(),
        expected.len(),
        "one card per unit with messages"
    );
    let min_sample = body["min_sample"].as_i64().unwrap();
    let mut last_score = f64::INFINITY;
    let mut seen_unranked = false;
    for card in cards {
        let id: Uuid = card["unit_id"].as_str().unwrap().parse().unwrap();
        let e = &expected[&id];
        let got = |k: &str| card[k].as_i64().unwrap();
        assert_eq!(
            (
                got("received"),
                got("assigned"),
                got("replied"),
                got("pending"),
                got("overdue"),
                got("judged"),
                got("on_time"),
                got("rated"),
                got("satisfied"),
                got("visited"),
                got("verified"),
                got("reopened"),
            ),
            (
                e.received,
                e.assigned,
                e.replied,
                e.pending,
                e.overdue,
                e.judged,
                e.on_time,
                e.rated,
                e.satisfied,
                e.visited,
                e.verified,
                e.reopened
            ),
            "{card}"
        );
        let score = expected_score(e, &body["weights"]);
        assert_eq!(card["score"].as_f64(), score, "{card}");
        let rate = |n, d| share(n, d).map(|v| (v * 1e4).round() / 1e4);
        assert_eq!(
            card["reply_rate"].as_f64(),
            rate(e.replied, e.accepted),
            "{card}"
        );
        assert_eq!(
            card["overdue_rate"].as_f64(),
            rate(e.overdue, e.assigned),
            "{card}"
        );
        if card["rank"].is_null() {
            seen_unranked = true;
            assert!(score.is_none() || e.assigned < min_sample, "{card}");
        } else {
            assert!(!seen_unranked, "ranked units come first");
            assert!(e.assigned >= min_sample);
            let s = score.unwrap();
            assert!(s <= last_score, "scores descend");
            last_score = s;
        }
    }
}

async fn seeded() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let mut conn = app.db.connect();
    let p = pools(&mut conn);
    insert_random(&mut conn, &mut StdRng::seed_from_u64(11), &p, 900, 0);
    (app, admin)
}

#[actix_web::test]
async fn scorecards_equal_a_recomputation_from_the_rows() {
    let (app, admin) = seeded().await;
    let mut conn = app.db.connect();
    // A low minimum sample so both ranked and unranked units occur.
    let policy = app.get("/api/v1/statistics/policy", &admin).await;
    let r = app
        .send_with(
            Method::PUT,
            "/api/v1/statistics/policy",
            Some(&admin),
            Some(json!({"min_sample": 2})),
            &[("If-Match", policy.header("etag").unwrap())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (query, from, to) in [
        ("period=2025-11", (2025, 11, 1), (2025, 11, 30)),
        ("period=2026-02", (2026, 2, 1), (2026, 2, 28)),
        ("year=2026", (2026, 1, 1), (2026, 12, 31)),
    ] {
        let d = |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let r = app
            .get(&format!("/api/v1/assessments?{query}"), &admin)
            .await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert_eq!(r.body["from"], d(from).to_string());
        assert_eq!(r.body["to"], d(to).to_string());
        assert_eq!(
            r.body["status"],
            if query == "year=2026" {
                "provisional"
            } else {
                "open"
            }
        );
        assert_eq!(r.body["content_hash"], Value::Null);
        let expected = recompute(&mut conn, d(from), d(to));
        check_against_raw(&r.body, &expected);
        let cards = r.body["scorecards"].as_array().unwrap();
        assert!(cards.iter().any(|c| !c["rank"].is_null()), "{query}");
    }
    // Other weights rank by the other measure: reply rate only.
    let w = app.get("/api/v1/assessments/weights", &admin).await;
    assert_eq!(w.body["weights"]["reply_rate"], 25);
    let r = app
        .send_with(
            Method::PUT,
            "/api/v1/assessments/weights",
            Some(&admin),
            Some(json!({"reply_rate": 1, "on_time_rate": 0, "satisfaction_rate": 0, "overdue": 0, "verification_rate": 0, "reopen": 0})),
            &[("If-Match", w.header("etag").unwrap())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get("/api/v1/assessments?period=2025-12", &admin).await;
    check_against_raw(
        &r.body,
        &recompute(
            &mut conn,
            NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(),
            NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        ),
    );
    let mut scored = 0;
    for c in r.body["scorecards"].as_array().unwrap() {
        let rate = c["reply_rate"].as_f64();
        let score = c["score"].as_f64();
        match (rate, score) {
            (Some(rate), Some(score)) => {
                scored += 1;
                assert!((rate * 100.0 - score).abs() <= 0.011, "{c}")
            }
            (None, None) => {}
            _ => panic!("{c}"),
        }
    }
    assert!(scored > 0, "no scorecard had a score to check: {}", r.body);
}

#[actix_web::test]
async fn closing_freezes_a_period_and_restatements_record_every_change() {
    let (app, admin) = seeded().await;
    let mut conn = app.db.connect();
    let open = app.get("/api/v1/assessments?period=2025-11", &admin).await;
    assert_eq!(open.status, 200);
    // Restating what is not closed: 404; nothing listed.
    let r = app
        .post(
            "/api/v1/assessments/2025-11/restatements",
            &admin,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    let closed = app
        .post("/api/v1/assessments/2025-11/close", &admin, json!({}))
        .await;
    assert_eq!(closed.status, 201, "{}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(closed.body["revision"], 1);
    assert_eq!(closed.body["scorecards"], open.body["scorecards"]);
    let (content, hash): (String, String) = liuyan::schema::assessment_periods::table
        .find("2025-11")
        .select((
            liuyan::schema::assessment_periods::content,
            liuyan::schema::assessment_periods::content_hash,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!(hash, hex::encode(Sha256::digest(content.as_bytes())));
    assert_eq!(closed.body["content_hash"], hash);
    // Twice: 409; the current month, not over: 409.
    let again = app
        .post("/api/v1/assessments/2025-11/close", &admin, json!({}))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    let this_month = liuyan::domain::calendar::local_date(chrono::Utc::now())
        .format("%Y-%m")
        .to_string();
    let r = app
        .post(
            &format!("/api/v1/assessments/{this_month}/close"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // The data changes: every rated message of one unit in November becomes unsatisfied.
    let cards = closed.body["scorecards"].as_array().unwrap();
    let target = cards
        .iter()
        .find(|c| c["satisfied"].as_i64().unwrap() > 0)
        .expect("a unit with ratings");
    let unit_id: Uuid = target["unit_id"].as_str().unwrap().parse().unwrap();
    let changed = diesel::sql_query(
        "UPDATE messages SET rating = 'unsatisfied' WHERE unit_id = $1 AND rating IS NOT NULL \
           AND submitted_at >= '2025-10-31T16:00:00Z' AND submitted_at < '2025-11-30T16:00:00Z'",
    )
    .bind::<diesel::sql_types::Uuid, _>(unit_id)
    .execute(&mut conn)
    .unwrap();
    assert!(changed > 0);
    // The weights change too.
    let w = app.get("/api/v1/assessments/weights", &admin).await;
    let r = app
        .send_with(
            Method::PUT,
            "/api/v1/assessments/weights",
            Some(&admin),
            Some(json!({"reply_rate": 50, "on_time_rate": 10, "satisfaction_rate": 10, "overdue": 10, "verification_rate": 10, "reopen": 10})),
            &[("If-Match", w.header("etag").unwrap())],
        )
        .await;
    assert_eq!(r.status, 200);
    // The closed month answers as it was closed: same figures, weights and hash.
    let frozen = app.get("/api/v1/assessments?period=2025-11", &admin).await;
    assert_eq!(frozen.body, closed.body);
    // An open month follows the data and the new weights.
    let december = app.get("/api/v1/assessments?period=2025-12", &admin).await;
    assert_eq!(december.body["weights"]["reply_rate"], 50);

    // A restatement: blank reason 422; then the changes, old and new, why and who.
    let r = app
        .post(
            "/api/v1/assessments/2025-11/restatements",
            &admin,
            json!({"reason": "  "}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let reason = "ratings of one unit were imported wrongly; corrected from the board's records";
    let r = app
        .post(
            "/api/v1/assessments/2025-11/restatements",
            &admin,
            json!({"reason": reason}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["revision"], 2);
    assert_eq!(r.body["reason"], reason);
    assert_eq!(r.body["previous_hash"], hash);
    let admin_id: Uuid = liuyan::schema::users::table
        .filter(liuyan::schema::users::email.eq("admin@liuyan.example"))
        .select(liuyan::schema::users::id)
        .first(&mut conn)
        .unwrap();
    assert_eq!(r.body["restated_by"], admin_id.to_string());
    let changes = r.body["changes"].as_array().unwrap();
    let satisfied = changes
        .iter()
        .find(|c| c["unit_id"] == unit_id.to_string() && c["measure"] == "satisfied")
        .unwrap_or_else(|| panic!("satisfied changed: {}", r.body));
    assert_eq!(satisfied["old"], target["satisfied"]);
    assert_eq!(satisfied["new"], 0);
    // Other units can only move in rank.
    assert!(
        changes
            .iter()
            .all(|c| c["unit_id"] == unit_id.to_string() || c["measure"] == "rank"),
        "only that unit's figures changed: {}",
        r.body
    );
    // Restated with the weights it was closed with (not today's).
    let restated = app.get("/api/v1/assessments?period=2025-11", &admin).await;
    assert_eq!(restated.body["revision"], 2);
    assert_eq!(restated.body["weights"], closed.body["weights"]);
    assert_eq!(restated.body["content_hash"], r.body["content_hash"]);
    assert_ne!(restated.body["content_hash"], closed.body["content_hash"]);
    let card = restated.body["scorecards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["unit_id"] == unit_id.to_string())
        .unwrap();
    assert_eq!(card["satisfied"], 0);
    // Nothing new: 409. The list shows the one restatement.
    let r = app
        .post(
            "/api/v1/assessments/2025-11/restatements",
            &admin,
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let list = app
        .get("/api/v1/assessments/2025-11/restatements", &admin)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // A year closes the same way once it is over.
    let r = app
        .post("/api/v1/assessments/2025/close", &admin, json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["kind"], "year");
    assert_eq!(r.header("location"), Some("/api/v1/assessments?year=2025"));
}

#[actix_web::test]
async fn roles_scopes_and_validation() {
    let (app, admin) = seeded().await;
    let all = app.get("/api/v1/assessments?year=2026", &admin).await;
    assert_eq!(all.status, 200);
    let all_cards = all.body["scorecards"].as_array().unwrap().clone();
    assert!(all_cards.len() > 3);

    // Unit staff: their own unit's card only, with its province-wide rank.
    let transport = unit(crate::handling::TRANSPORT_BUREAU);
    for who in [Demo::Handler, Demo::UnitAdmin, Demo::Reviewer] {
        let t = app.token(who).await;
        let r = app.get("/api/v1/assessments?year=2026", &t).await;
        assert_eq!(r.status, 200, "{who:?}: {}", r.body);
        let cards = r.body["scorecards"].as_array().unwrap();
        assert!(cards.iter().all(|c| c["unit_id"] == transport), "{who:?}");
        let mine = all_cards.iter().find(|c| c["unit_id"] == transport);
        assert_eq!(cards.first(), mine, "{who:?}");
        // Managing: 403.
        let r = app
            .post("/api/v1/assessments/2025-11/close", &t, json!({}))
            .await;
        assert_eq!(r.status, 403, "{who:?}");
    }
    // The leader (兰州市 scope): units of Lanzhou only; the province supervisor: all.
    let leader = app.token(Demo::Leader).await;
    let r = app.get("/api/v1/assessments?year=2026", &leader).await;
    assert_eq!(r.status, 200);
    let mut conn = app.db.connect();
    let regions: HashMap<Uuid, String> = liuyan::schema::units::table
        .select((
            liuyan::schema::units::id,
            liuyan::schema::units::region_code,
        ))
        .load::<(Uuid, String)>(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    let cards = r.body["scorecards"].as_array().unwrap();
    assert!(!cards.is_empty() && cards.len() < all_cards.len());
    for c in cards {
        let id: Uuid = c["unit_id"].as_str().unwrap().parse().unwrap();
        assert!(regions[&id].starts_with("6201"), "{c}");
    }
    let supervisor = app.token(Demo::Supervisor).await;
    let r = app.get("/api/v1/assessments?year=2026", &supervisor).await;
    assert_eq!(
        r.body["scorecards"].as_array().unwrap().len(),
        all_cards.len()
    );
    for who in [Demo::Supervisor, Demo::Leader, Demo::Analyst] {
        let t = app.token(who).await;
        let r = app
            .post("/api/v1/assessments/2025-11/close", &t, json!({}))
            .await;
        assert_eq!(r.status, 403, "{who:?}");
        let w = app.get("/api/v1/assessments/weights", &t).await;
        assert_eq!(w.status, 200);
        let r = app
            .send_with(
                Method::PUT,
                "/api/v1/assessments/weights",
                Some(&t),
                Some(w.body["weights"].clone()),
                &[("If-Match", w.header("etag").unwrap())],
            )
            .await;
        assert_eq!(r.status, 403, "{who:?}");
    }
    let citizen = app.token(Demo::Citizen).await;
    for path in [
        "/api/v1/assessments?year=2026",
        "/api/v1/assessments/weights",
        "/api/v1/assessments/2025-11/restatements",
    ] {
        assert_eq!(app.get(path, &citizen).await.status, 403, "{path}");
    }

    // Validation.
    for query in [
        "",
        "?period=2026-03&year=2026",
        "?period=2026-13",
        "?period=2026",
        "?period=26-03",
        "?year=1999",
        "?year=abc",
        "?month=2026-03",
    ] {
        let r = app
            .get(&format!("/api/v1/assessments{query}"), &admin)
            .await;
        assert_eq!(r.status, 422, "{query}: {}", r.body);
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/problem+json")),
            "{query}"
        );
    }
    for bad in ["2026-13", "26", "2026-1", "x"] {
        let r = app
            .post(
                &format!("/api/v1/assessments/{bad}/close"),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 404, "{bad}: {}", r.body);
        let r = app
            .get(&format!("/api/v1/assessments/{bad}/restatements"), &admin)
            .await;
        assert_eq!(r.status, 404, "{bad}: {}", r.body);
    }
    // Weights: If-Match required and checked; ranges; not all zero.
    let w = app.get("/api/v1/assessments/weights", &admin).await;
    let etag = w.header("etag").unwrap();
    let body = w.body["weights"].clone();
    let r = app
        .send(
            Method::PUT,
            "/api/v1/assessments/weights",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 428);
    let r = app
        .send_with(
            Method::PUT,
            "/api/v1/assessments/weights",
            Some(&admin),
            Some(body.clone()),
            &[("If-Match", "\"999\"")],
        )
        .await;
    assert_eq!(r.status, 412);
    for bad in [
        json!({"reply_rate": 0, "on_time_rate": 0, "satisfaction_rate": 0, "overdue": 0, "verification_rate": 0, "reopen": 0}),
        json!({"reply_rate": 101, "on_time_rate": 0, "satisfaction_rate": 0, "overdue": 0, "verification_rate": 0, "reopen": 0}),
        json!({"reply_rate": -1, "on_time_rate": 0, "satisfaction_rate": 0, "overdue": 0, "verification_rate": 0, "reopen": 0}),
        json!({"reply_rate": 10}),
        json!({"reply_rate": 10, "on_time_rate": 0, "satisfaction_rate": 0, "overdue": 0, "verification_rate": 0, "reopen": 0, "extra": 1}),
    ] {
        let r = app
            .send_with(
                Method::PUT,
                "/api/v1/assessments/weights",
                Some(&admin),
                Some(bad.clone()),
                &[("If-Match", etag)],
            )
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
    let after = app.get("/api/v1/assessments/weights", &admin).await;
    assert_eq!(after.body, w.body, "nothing changed");
}
