//! The sync API: batch imports with per-item results (idempotent, out-of-order safe), imported
//! replies, the change feed (gap-free under concurrent writers, long poll), the board's
//! acknowledgements, and the scopes every operation checks.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::handling::{TRANSPORT_BUREAU, assign, post_with};
use crate::helpers::{Demo, Resp, TestApp};
use crate::messages::{lanzhou_liaison, leader};
use crate::replies::{in_progress, publish, sign_for};

const TRANSPORT: &str = "01930000-0000-7000-8000-000000000002";
const SOURCE: &str = "gansu-board";

/// An integration client holding `scopes`, and a token for it.
pub async fn client_token(app: &TestApp, scopes: &[&str]) -> String {
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/integration-clients",
            &admin,
            json!({"name": format!("联络平台 {}", uuid::Uuid::now_v7()), "scopes": scopes}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t = app
        .send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({
                "grant_type": "client_credentials",
                "client_id": r.body["client"]["client_id"],
                "client_secret": r.body["client_secret"],
            })),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    t.body["access_token"].as_str().unwrap().to_owned()
}

pub fn item(external_id: &str, updated_at: chrono::DateTime<Utc>, title: &str) -> Value {
    json!({
        "source": SOURCE, "external_id": external_id,
        "updated_at": updated_at, "submitted_at": "2026-11-20T01:02:03.456789Z",
        "leader_id": leader("孙海洋"), "category_id": TRANSPORT, "kind": "complaint",
        "title": title,
        "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，请尽快修理。",
        "visibility": "public", "contact_name": "王先生", "contact_phone": "13800138000"
    })
}

pub async fn import(app: &TestApp, token: &str, items: Vec<Value>) -> Resp {
    app.post("/api/v1/sync/messages", token, json!({ "items": items }))
        .await
}

pub fn outcomes(r: &Resp) -> Vec<String> {
    r.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {}", r.body))
        .iter()
        .map(|x| x["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(&mut app.db.connect())
        .unwrap()
        .n
}

#[actix_web::test]
async fn imports_report_each_item_and_replays_change_nothing() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:read", "sync:write"]).await;
    let t0 = Utc::now() - Duration::hours(2);
    let mut bad_category = item("B-3", t0, "路灯不亮");
    bad_category["category_id"] = json!("01930000-0000-7000-8000-0000000000ff");
    let batch = vec![
        item("B-1", t0, "庆阳路口红绿灯坏了"),
        item("B-2", t0, "酒泉路积水严重"),
        bad_category,
        json!({"source": SOURCE, "external_id": "B-4", "kind": "gossip"}),
        json!("not an object"),
        // The same key again in one batch: after the first, it is a replay.
        item("B-1", t0, "庆阳路口红绿灯坏了"),
    ];
    let r = import(&app, &token, batch.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        outcomes(&r),
        [
            "created",
            "created",
            "rejected",
            "rejected",
            "rejected",
            "unchanged"
        ]
    );
    assert_eq!(
        r.body["summary"],
        json!({"created": 2, "updated": 0, "unchanged": 1, "stale": 0, "rejected": 3})
    );
    let results = r.body["results"].as_array().unwrap();
    let p = &results[2]["problem"];
    assert_eq!(p["status"], 422);
    assert_eq!(p["errors"][0]["field"], "category_id");
    assert_eq!(p["errors"][0]["code"], "not_found");
    let fields: Vec<&str> = results[3]["problem"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"kind"), "{fields:?}");
    assert_eq!(results[3]["external_id"], "B-4");
    assert_eq!(results[4]["problem"]["status"], 422);
    assert_eq!(results[0]["message_id"], results[5]["message_id"]);
    let id = results[0]["message_id"].as_str().unwrap().to_owned();

    // The message entered intake with the platform's submission time, registered by the client.
    let liaison = lanzhou_liaison(&app).await;
    let m = app.get(&format!("/api/v1/messages/{id}"), &liaison).await;
    assert_eq!(m.status, 200, "{}", m.body);
    assert_eq!(m.body["status"], "submitted");
    assert_eq!(m.body["submitted_at"], "2026-11-20T01:02:03.456789Z");
    assert_eq!(m.body["tracking_no"], results[0]["tracking_no"]);

    // Replaying the whole batch changes nothing.
    let events_before = count(&app, "SELECT count(*) AS n FROM message_events");
    let again = import(&app, &token, batch).await;
    assert_eq!(
        outcomes(&again),
        [
            "unchanged",
            "unchanged",
            "rejected",
            "rejected",
            "rejected",
            "unchanged"
        ]
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM message_events"),
        events_before
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messages WHERE external_source = 'gansu-board'"
        ),
        2
    );

    // A newer version updates (while the message waits for intake); an older one is stale.
    let newer = import(
        &app,
        &token,
        vec![item(
            "B-1",
            t0 + Duration::minutes(5),
            "庆阳路口红绿灯坏了三天",
        )],
    )
    .await;
    assert_eq!(outcomes(&newer), ["updated"]);
    let older = import(
        &app,
        &token,
        vec![item("B-1", t0 + Duration::minutes(1), "旧标题不应覆盖")],
    )
    .await;
    assert_eq!(outcomes(&older), ["stale"]);
    let m = app.get(&format!("/api/v1/messages/{id}"), &liaison).await;
    assert_eq!(m.body["title"], "庆阳路口红绿灯坏了三天");
    let ledger = app
        .get(&format!("/api/v1/messages/{id}/events"), &liaison)
        .await;
    assert_eq!(ledger.status, 200, "{}", ledger.body);
    let last = ledger.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "import_update");
    assert_eq!(last["payload"]["changed"], json!(["title"]));

    // Once the liaison office accepted it, the platform's changes are refused, item by item.
    let c = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(&liaison),
            Some(json!({"priority": "routine", "category_id": TRANSPORT})),
            &[("if-match", m.header("etag").unwrap())],
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    let a = post_with(
        &app,
        &format!("/api/v1/messages/{id}/accept"),
        &liaison,
        json!({}),
        c.header("etag").unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let late = import(
        &app,
        &token,
        vec![
            item("B-1", t0 + Duration::minutes(9), "受理后又改了标题"),
            item("B-5", t0, "新的留言照常导入"),
        ],
    )
    .await;
    assert_eq!(outcomes(&late), ["rejected", "created"]);
    assert_eq!(late.body["results"][0]["problem"]["status"], 409);

    // A future timestamp is refused; a batch must hold 1 to 500 items.
    let future = import(
        &app,
        &token,
        vec![item("B-6", Utc::now() + Duration::hours(1), "未来的留言")],
    )
    .await;
    assert_eq!(outcomes(&future), ["rejected"]);
    assert_eq!(
        future.body["results"][0]["problem"]["errors"][0]["field"],
        "updated_at"
    );
    let empty = import(&app, &token, vec![]).await;
    empty.assert_problem(422, "validation-failed");
    let many = import(&app, &token, vec![item("X", t0, "太多了"); 501]).await;
    many.assert_problem(422, "validation-failed");
}

#[actix_web::test]
async fn ten_thousand_replayed_import_requests_create_no_duplicate() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:write"]).await;
    let t0 = Utc::now() - Duration::hours(1);
    const KEYS: usize = 300;
    const REQUESTS: usize = 10_000;
    // Every request sends 1 to 3 items drawn from 300 keys, 16 at a time: the same keys are
    // replayed about 70 times each, often concurrently with their first import.
    let client = reqwest::Client::new();
    let url = app.url("/api/v1/sync/messages");
    let mut created = 0usize;
    let mut unchanged = 0usize;
    for chunk in (0..REQUESTS).collect::<Vec<_>>().chunks(16) {
        let calls = chunk.iter().map(|&n| {
            let items: Vec<Value> = (0..1 + n % 3)
                .map(|k| {
                    let key = (n * 7919 + k * 104_729) % KEYS;
                    item(&format!("R-{key}"), t0, &format!("第{key}号留言"))
                })
                .collect();
            client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({ "items": items }))
                .send()
        });
        for resp in futures_util::future::join_all(calls).await {
            let resp = resp.unwrap();
            assert_eq!(resp.status(), 200);
            let body: Value = resp.json().await.unwrap();
            for o in body["results"].as_array().unwrap() {
                match o["outcome"].as_str().unwrap() {
                    "created" => created += 1,
                    "unchanged" => unchanged += 1,
                    other => panic!("unexpected outcome {other}: {o}"),
                }
            }
        }
    }
    assert_eq!(created, KEYS, "each key is created exactly once");
    assert!(unchanged > REQUESTS);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messages WHERE external_source = 'gansu-board'"
        ),
        KEYS as i64
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM message_events e JOIN messages m ON m.id = e.message_id \
             WHERE m.external_source = 'gansu-board'"
        ),
        KEYS as i64,
        "one submit event per message, nothing else"
    );
}

/// Read the whole feed after `after` page by page.
async fn drain(app: &TestApp, token: &str, mut after: String, types: &str) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    loop {
        let filter = if types.is_empty() {
            String::new()
        } else {
            format!("&types={types}")
        };
        let r = app
            .get(
                &format!("/api/v1/sync/changes?after={after}&limit=50{filter}"),
                token,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.body["changes"].as_array().unwrap().clone();
        after = r.body["next_cursor"].as_str().unwrap().to_owned();
        let more = r.body["has_more"].as_bool().unwrap();
        out.extend(page);
        if !more {
            return (out, after);
        }
    }
}

/// Read the feed from `after` again and again until `done` holds for what it returns (changes
/// become readable once every older transaction of the cluster has ended: other tests' included).
async fn until(
    app: &TestApp,
    token: &str,
    after: &str,
    types: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (all, _) = drain(app, token, after.to_owned(), types).await;
        if done(&all) || std::time::Instant::now() > give_up {
            return all;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_feed_misses_nothing_while_transactions_commit_out_of_order() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:read"]).await;
    let (_, start) = drain(&app, &token, "0.0".into(), "").await;

    // Writers: 8 threads, each importing 40 messages one transaction at a time, holding each
    // transaction open for a random while after its insert, so ids commit out of order.
    let url = app.db.url.clone();
    let admin_id: uuid::Uuid = {
        use liuyan::schema::users::dsl::*;
        users
            .filter(email.eq("admin@liuyan.example"))
            .select(id)
            .first(&mut app.db.connect())
            .unwrap()
    };
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = crate::helpers::establish(&url);
                let actor = liuyan::store::messages::EventActor::SYSTEM;
                for n in 0..40 {
                    let new = liuyan::app::intake::import::ImportedMessage {
                        external: liuyan::store::messages::ExternalRef {
                            source: "feed-test".into(),
                            external_id: format!("W{w}-{n}"),
                            updated_at: Utc::now(),
                        },
                        new: liuyan::store::messages::NewMessage {
                            author_id: None,
                            registered_by: Some(liuyan::domain::ids::UserId(admin_id)),
                            source: liuyan::domain::message::MessageSource::Web,
                            leader_id: liuyan::seed::leader_id("孙海洋"),
                            category_id: liuyan::domain::ids::CategoryId(
                                TRANSPORT.parse().unwrap(),
                            ),
                            kind: liuyan::domain::message::MessageKind::Complaint,
                            title: format!("并发写入 {w}-{n}"),
                            body: "并发写入的留言正文，用来检验变更流不漏不乱。".into(),
                            region_code: None,
                            address: String::new(),
                            location: None,
                            visibility: liuyan::domain::message::Visibility::Public,
                            contact_name: None,
                            contact_phone: None,
                            attachments: json!([]),
                            submitted_at: None,
                        },
                    };
                    conn.transaction::<_, diesel::result::Error, _>(|conn| {
                        let intake = liuyan::app::intake::Intake {
                            actor,
                            tracking_prefix: "GS",
                            quota: liuyan::domain::quota::IntakeQuota {
                                per_hour: 0,
                                per_day: 0,
                            },
                            leaders: liuyan::app::intake::Addressable::Any,
                            now: Utc::now(),
                        };
                        let out = liuyan::app::intake::import::import_messages(
                            conn,
                            &intake,
                            vec![Ok(new)],
                        )
                        .unwrap();
                        assert!(matches!(out[0], liuyan::store::sync::Outcome::Created(_)));
                        let ms = (w * 37 + n * 11) % 23;
                        diesel::sql_query(format!("SELECT pg_sleep({ms} / 1000.0)"))
                            .execute(conn)?;
                        Ok(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();

    // The reader follows the feed while they write.
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor = start.clone();
    while writers.iter().any(|w| !w.is_finished()) {
        let (page, next) = drain(&app, &token, cursor, "message.created").await;
        seen.extend(page);
        cursor = next;
    }
    for w in writers {
        w.join().unwrap();
    }
    // The last writes become readable once every older transaction has ended.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (rest, next) = drain(&app, &token, cursor, "message.created").await;
        seen.extend(rest);
        cursor = next;
        let mine = seen
            .iter()
            .filter(|c| c["message"]["external_source"] == "feed-test")
            .count();
        if mine >= 320 || std::time::Instant::now() > give_up {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let ids: Vec<i64> = seen
        .iter()
        .filter(|c| c["message"]["external_source"] == "feed-test")
        .map(|c| {
            c["cursor"]
                .as_str()
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let unique: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no change twice");
    assert_eq!(ids.len(), 320, "every change, none missing");
    // The hazard was real: ids (a plain sequence) were readable out of order, so a cursor on
    // the id alone would have skipped the late ones.
    let inversions = ids.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 0, "the writers did commit out of id order");
    // And what the reader got is exactly the feed's order, read again from scratch.
    let (again, _) = drain(&app, &token, start, "message.created").await;
    let again: Vec<i64> = again
        .iter()
        .filter(|c| c["message"]["external_source"] == "feed-test")
        .map(|c| {
            c["cursor"]
                .as_str()
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(again, ids, "the order never changes");
}

#[derive(diesel::QueryableByName)]
struct DbTime {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    t: chrono::DateTime<Utc>,
}

fn db_now(app: &TestApp) -> chrono::DateTime<Utc> {
    diesel::sql_query("SELECT clock_timestamp() AS t")
        .get_result::<DbTime>(&mut app.db.connect())
        .unwrap()
        .t
}

/// Whether a session of the app's database started a read of the change feed after `since`.
fn feed_read_since(app: &TestApp, since: chrono::DateTime<Utc>) -> bool {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query_start > $1 \
           AND query LIKE '%pg_snapshot_xmin(pg_current_snapshot())%ORDER BY e.feed_txid, e.id%'",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .get_result::<N>(&mut app.db.connect())
    .unwrap()
    .n > 0
}

#[actix_web::test]
async fn a_messages_changes_arrive_in_ledger_order_and_long_polls_wake_up() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:read", "sync:write"]).await;
    let (_, start) = drain(&app, &token, "0.0".into(), "").await;

    // Nothing new: a short long-poll answers empty after waiting.
    let t = std::time::Instant::now();
    let r = app
        .get(
            &format!("/api/v1/sync/changes?after={start}&wait=1s"),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["changes"], json!([]));
    assert_eq!(r.body["next_cursor"], start.as_str());
    assert!(t.elapsed() >= std::time::Duration::from_millis(900));

    // A waiting request wakes up when a change lands: the change is made once the request has
    // looked at the feed and found nothing (its query seen in pg_stat_activity), not after a
    // guessed pause.
    let since = db_now(&app);
    let poll = {
        let client = reqwest::Client::new();
        let url = app.url(&format!("/api/v1/sync/changes?after={start}&wait=60"));
        let token = token.clone();
        actix_web::rt::spawn(async move {
            let t = std::time::Instant::now();
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            (t.elapsed(), r.json::<Value>().await.unwrap())
        })
    };
    // Generous bounds: a loaded CI machine must not fail it; a poll that never woke up would
    // answer empty after the full minute.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !feed_read_since(&app, since) {
        assert!(
            std::time::Instant::now() < give_up,
            "the long poll never read the feed"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!poll.is_finished(), "the long poll is waiting");
    let t0 = Utc::now() - Duration::minutes(10);
    let r = import(&app, &token, vec![item("L-1", t0, "长轮询唤醒")]).await;
    assert_eq!(outcomes(&r), ["created"]);
    let (elapsed, body) = poll.await.unwrap();
    assert!(elapsed < std::time::Duration::from_secs(45), "{elapsed:?}");
    assert_eq!(body["changes"][0]["type"], "message.created");
    assert_eq!(body["changes"][0]["message"]["external_id"], "L-1");
    let id = body["changes"][0]["message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Classification and acceptance follow in the message's order, typed.
    let liaison = lanzhou_liaison(&app).await;
    let c = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(&liaison),
            Some(json!({"priority": "routine", "category_id": TRANSPORT})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    let a = post_with(
        &app,
        &format!("/api/v1/messages/{id}/accept"),
        &liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let all = until(&app, &token, &start, "", |all| {
        all.iter()
            .filter(|c| c["message"]["id"] == id.as_str())
            .count()
            >= 3
    })
    .await;
    let mine: Vec<&Value> = all
        .iter()
        .filter(|c| c["message"]["id"] == id.as_str())
        .collect();
    let types: Vec<&str> = mine.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "message.created",
            "message.updated",
            "message.status_changed"
        ]
    );
    let seqs: Vec<i64> = mine.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(mine[2]["to_status"], "accepted");
    // Contact data never travels in the feed.
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains("13800138000") && !text.contains("王先生"));
    // Filtering by type.
    let (only, _) = drain(&app, &token, start, "message.status_changed").await;
    assert!(only.iter().all(|c| c["type"] == "message.status_changed"));
    assert!(only.iter().any(|c| c["message"]["id"] == id.as_str()));

    // Bad parameters are named.
    for (q, field) in [
        ("after=12", "after"),
        ("types=reply.published,nope", "types"),
        ("limit=1001", "limit"),
        ("wait=61", "wait"),
        ("wait=abc", "wait"),
    ] {
        let r = app.get(&format!("/api/v1/sync/changes?{q}"), &token).await;
        let p = r.assert_problem(422, "validation-failed");
        assert_eq!(p["errors"][0]["field"], field, "{q}: {p}");
    }
}

/// Import message `ext`, then have the liaison office accept it and the transport bureau sign
/// for it; returns its id.
pub async fn imported_in_progress(app: &TestApp, token: &str, liaison: &str, ext: &str) -> String {
    let r = import(
        app,
        token,
        vec![item(ext, Utc::now() - Duration::hours(3), "导入后办理")],
    )
    .await;
    assert_eq!(outcomes(&r), ["created"], "{}", r.body);
    let id = r.body["results"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    accept_and_assign(app, liaison, &id).await;
    sign_for(app, &app.token(Demo::Handler).await, &id).await;
    id
}

/// Classify, accept and assign an imported message to the transport bureau (not signed for).
async fn accept_and_assign(app: &TestApp, liaison: &str, id: &str) {
    let c = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(liaison),
            Some(json!({"priority": "routine", "category_id": TRANSPORT})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    let a = post_with(
        app,
        &format!("/api/v1/messages/{id}/accept"),
        liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let r = assign(app, liaison, id, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

fn reply_item(
    ext: &str,
    message_ext: &str,
    kind: &str,
    body: &str,
    updated_at: chrono::DateTime<Utc>,
) -> Value {
    json!({
        "source": SOURCE, "external_id": ext, "message_external_id": message_ext, "kind": kind,
        // Published now: after the sign-for that started the reply clock here (a reply that
        // predates its handling is refused).
        "body": body, "published_at": Utc::now(), "updated_at": updated_at
    })
}

#[actix_web::test]
async fn replies_from_the_platform_are_idempotent_and_never_go_back_in_time() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:read", "sync:write"]).await;
    let (_, start) = drain(&app, &token, "0.0".into(), "").await;
    let liaison = lanzhou_liaison(&app).await;
    let id = imported_in_progress(&app, &token, &liaison, "M-1").await;
    let t = Utc::now() - Duration::minutes(30);
    let first = "经核实，该路口信号灯控制器故障，已更换，现已恢复正常。";
    let second = "经核实，该路口信号灯控制器故障，已于11月27日更换，现已恢复正常。感谢您的反映。";
    let send = |items: Vec<Value>| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post("/api/v1/sync/replies", &token, json!({ "items": items }))
                .await
        }
    };

    let r = send(vec![
        reply_item(
            "R-1",
            "M-1",
            "interim",
            "已转交信号灯维护单位，正在排查。",
            t,
        ),
        reply_item("R-2", "M-1", "final", first, t + Duration::minutes(1)),
        reply_item("R-3", "NO-SUCH", "final", first, t),
        reply_item("R-4", "M-1", "final", "", t),
    ])
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(outcomes(&r), ["created", "created", "rejected", "rejected"]);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(
        results[2]["problem"]["errors"][0]["field"],
        "message_external_id"
    );
    assert_eq!(results[3]["problem"]["errors"][0]["field"], "body");
    let reply_id = results[1]["reply_id"].as_str().unwrap().to_owned();

    // The final reply completed the handling here.
    let m = app.get(&format!("/api/v1/messages/{id}"), &liaison).await;
    assert_eq!(m.body["status"], "replied", "{}", m.body);
    let reply = app
        .get(&format!("/api/v1/replies/{reply_id}"), &liaison)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["status"], "published");
    assert_eq!(reply.body["body"], first);

    // Identical: no-op. Newer: a new revision. Older than stored (late, out of order): stale.
    let events = count(&app, "SELECT count(*) AS n FROM message_events");
    let same = send(vec![reply_item(
        "R-2",
        "M-1",
        "final",
        first,
        t + Duration::minutes(1),
    )])
    .await;
    assert_eq!(outcomes(&same), ["unchanged"]);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM message_events"),
        events
    );
    let newer = send(vec![reply_item(
        "R-2",
        "M-1",
        "final",
        second,
        t + Duration::minutes(5),
    )])
    .await;
    assert_eq!(outcomes(&newer), ["updated"]);
    assert_eq!(newer.body["results"][0]["revision"], 2);
    let late = send(vec![reply_item(
        "R-2",
        "M-1",
        "final",
        "过时的版本，不应覆盖新的回复内容。",
        t + Duration::minutes(3),
    )])
    .await;
    assert_eq!(outcomes(&late), ["stale"]);
    assert_eq!(late.body["results"][0]["revision"], 2);
    let reply = app
        .get(&format!("/api/v1/replies/{reply_id}"), &liaison)
        .await;
    assert_eq!(reply.body["body"], second);
    // A kind never changes.
    let kind = send(vec![reply_item(
        "R-2",
        "M-1",
        "interim",
        second,
        t + Duration::minutes(9),
    )])
    .await;
    assert_eq!(outcomes(&kind), ["rejected"]);

    // A reply for a message nobody handles yet is refused (the unit is unknown).
    let r = import(&app, &token, vec![item("M-2", t, "还未交办的留言")]).await;
    assert_eq!(outcomes(&r), ["created"]);
    let early = send(vec![reply_item("R-9", "M-2", "final", first, t)]).await;
    assert_eq!(outcomes(&early), ["rejected"]);
    assert_eq!(early.body["results"][0]["problem"]["status"], 409);
    // Assigned but not signed for: still refused, for that reason. Signed for: the very same
    // item, sent again, is created.
    let m2 = r.body["results"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    accept_and_assign(&app, &liaison, &m2).await;
    let assigned = send(vec![reply_item("R-9", "M-2", "final", first, t)]).await;
    assert_eq!(outcomes(&assigned), ["rejected"]);
    let problem = &assigned.body["results"][0]["problem"];
    assert_eq!(problem["status"], 409);
    assert!(
        problem["detail"].as_str().unwrap().contains("signed for"),
        "{problem}"
    );
    sign_for(&app, &app.token(Demo::Handler).await, &m2).await;
    let later = send(vec![reply_item("R-9", "M-2", "final", first, t)]).await;
    assert_eq!(outcomes(&later), ["created"], "{}", later.body);
    let m = app.get(&format!("/api/v1/messages/{m2}"), &liaison).await;
    assert_eq!(m.body["status"], "replied", "{}", m.body);

    // The feed tells the imports apart from our own publications.
    let all = until(&app, &token, &start, "reply.imported", |all| {
        all.iter()
            .filter(|c| c["message"]["id"] == id.as_str())
            .count()
            >= 3
    })
    .await;
    let mine: Vec<&Value> = all
        .iter()
        .filter(|c| c["message"]["id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 3, "interim, final, update");
    assert_eq!(mine[1]["to_status"], "replied");
    assert_eq!(mine[2]["reply"]["body"], second);
    // Imported replies are on the board already: nothing to acknowledge.
    let un = app
        .get("/api/v1/sync/replies/unacknowledged?limit=100", &token)
        .await;
    assert!(
        !un.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == reply_id.as_str())
    );
    let ack = app
        .post(
            &format!("/api/v1/sync/replies/{reply_id}/ack"),
            &token,
            json!({"board_reply_id": "X-1", "url": "https://board.example.gov.cn/r/X-1"}),
        )
        .await;
    ack.assert_problem(409, "conflict");
}

async fn pending(app: &TestApp, token: &str) -> Vec<String> {
    let r = app
        .get("/api/v1/sync/replies/unacknowledged?limit=100", token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn published_replies_wait_for_the_boards_acknowledgement() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:read", "sync:write"]).await;
    let liaison = lanzhou_liaison(&app).await;
    let (_, start) = drain(&app, &token, "0.0".into(), "").await;
    let id = in_progress(&app, &liaison, "routine").await;
    let reply = publish(
        &app,
        &id,
        "final",
        "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。",
    )
    .await;
    let reply_id = reply["id"].as_str().unwrap().to_owned();

    // The feed carries the reply's text with its publication.
    let published = until(&app, &token, &start, "reply.published", |all| {
        all.iter().any(|c| c["message"]["id"] == id.as_str())
    })
    .await;
    let p = published
        .iter()
        .find(|c| c["message"]["id"] == id.as_str())
        .expect("the publication is in the feed");
    assert_eq!(p["reply"]["id"], reply_id.as_str());
    assert!(p["reply"]["body"].as_str().unwrap().starts_with("经核实"));

    assert!(pending(&app, &token).await.contains(&reply_id));

    let ack_body =
        json!({"board_reply_id": "R-88231", "url": "https://board.example.gov.cn/replies/R-88231"});
    let path = format!("/api/v1/sync/replies/{reply_id}/ack");
    let a = app.post(&path, &token, ack_body.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["board_reply_id"], "R-88231");
    assert!(a.body["acknowledged_at"].is_string());
    assert!(!pending(&app, &token).await.contains(&reply_id));
    // The same acknowledgement again changes nothing; a new one replaces it.
    let events = count(&app, "SELECT count(*) AS n FROM message_events");
    let again = app.post(&path, &token, ack_body).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM message_events"),
        events
    );
    let moved = app
        .post(
            &path,
            &token,
            json!({"board_reply_id": "R-88232", "url": "https://board.example.gov.cn/replies/R-88232"}),
        )
        .await;
    assert_eq!(moved.body["board_reply_id"], "R-88232");
    let acks = until(&app, &token, &start, "reply.acknowledged", |all| {
        all.iter()
            .filter(|c| c["message"]["id"] == id.as_str())
            .count()
            >= 2
    })
    .await;
    let acks: Vec<&Value> = acks
        .iter()
        .filter(|c| c["message"]["id"] == id.as_str())
        .collect();
    assert_eq!(acks.len(), 2);
    assert_eq!(acks[1]["data"]["previous_board_reply_id"], "R-88231");
    assert_eq!(
        acks[1]["reply"]["board_url"],
        "https://board.example.gov.cn/replies/R-88232"
    );

    // Unknown reply, bad body, a reply not yet published.
    let none = app
        .post(
            "/api/v1/sync/replies/0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06/ack",
            &token,
            json!({"board_reply_id": "R-1", "url": "https://board.example.gov.cn/r/1"}),
        )
        .await;
    none.assert_problem(404, "not-found");
    let bad = app
        .post(
            &path,
            &token,
            json!({"board_reply_id": "has space", "url": "ftp://x"}),
        )
        .await;
    let p = bad.assert_problem(422, "validation-failed");
    assert_eq!(p["errors"].as_array().unwrap().len(), 2, "{p}");
    let id2 = in_progress(&app, &liaison, "routine").await;
    let handler = app.token(Demo::Handler).await;
    let draft = app
        .post(
            &format!("/api/v1/messages/{id2}/replies"),
            &handler,
            json!({"kind": "interim", "body": "正在协调相关部门现场核查，请耐心等待处理结果。"}),
        )
        .await;
    assert_eq!(draft.status, 201, "{}", draft.body);
    let d = app
        .post(
            &format!(
                "/api/v1/sync/replies/{}/ack",
                draft.body["id"].as_str().unwrap()
            ),
            &token,
            json!({"board_reply_id": "R-2", "url": "https://board.example.gov.cn/r/2"}),
        )
        .await;
    d.assert_problem(409, "conflict");
}

#[actix_web::test]
async fn every_sync_operation_checks_role_and_scope() {
    let app = TestApp::spawn().await;
    let read_only = client_token(&app, &["sync:read"]).await;
    let write_only = client_token(&app, &["sync:write"]).await;
    let webhooks_only = client_token(&app, &["webhooks:manage"]).await;
    let citizen = app.token(Demo::Citizen).await;
    let admin = app.token(Demo::Admin).await;
    let t0 = Utc::now() - Duration::hours(1);
    let reply = "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06";
    let ops: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            "/api/v1/sync/messages".into(),
            Some(json!({"items": [item("S-1", t0, "权限检查")]})),
            "sync:write",
        ),
        (
            Method::POST,
            "/api/v1/sync/replies".into(),
            Some(json!({"items": [reply_item("SR-1", "S-1", "final", "答复", t0)]})),
            "sync:write",
        ),
        (
            Method::POST,
            format!("/api/v1/sync/replies/{reply}/ack"),
            Some(json!({"board_reply_id": "R-1", "url": "https://board.example.gov.cn/r/1"})),
            "sync:write",
        ),
        (
            Method::GET,
            "/api/v1/sync/changes".into(),
            None,
            "sync:read",
        ),
        (
            Method::GET,
            "/api/v1/sync/replies/unacknowledged".into(),
            None,
            "sync:read",
        ),
    ];
    let tokens: HashMap<&str, &str> = [
        ("sync:read", read_only.as_str()),
        ("sync:write", write_only.as_str()),
    ]
    .into_iter()
    .collect();
    for (method, path, body, scope) in &ops {
        let r = app.send(method.clone(), path, None, body.clone()).await;
        r.assert_problem(401, "unauthorized");
        for who in [&citizen, &admin, &webhooks_only] {
            let r = app
                .send(method.clone(), path, Some(who), body.clone())
                .await;
            r.assert_problem(403, "forbidden");
        }
        let other = if *scope == "sync:read" {
            "sync:write"
        } else {
            "sync:read"
        };
        let r = app
            .send(method.clone(), path, Some(tokens[other]), body.clone())
            .await;
        let p = r.assert_problem(403, "forbidden");
        assert!(p["detail"].as_str().unwrap().contains(scope), "{p}");
        let r = app
            .send(method.clone(), path, Some(tokens[scope]), body.clone())
            .await;
        // With the scope, each operation runs: the batches answer per item, the feeds list,
        // and the acknowledgement of a reply that does not exist is 404 (after the scope check).
        if path.ends_with("/ack") {
            r.assert_problem(404, "not-found");
        } else {
            assert_eq!(r.status, 200, "{method} {path} with {scope}: {}", r.body);
        }
        if path == "/api/v1/sync/messages" {
            assert_eq!(outcomes(&r), ["created"], "{}", r.body);
        }
    }
}

#[actix_web::test]
async fn a_retried_batch_with_its_idempotency_key_is_answered_from_the_record() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:write"]).await;
    let t0 = Utc::now() - Duration::hours(1);
    let body = json!({"items": [item("I-1", t0, "幂等键重试")]});
    let key = [("idempotency-key", "2f0e4d7c-1b9a-4c55-8e0f-6a3b2c1d0e9f")];
    let first = app
        .send_with(
            Method::POST,
            "/api/v1/sync/messages",
            Some(&token),
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(outcomes(&first), ["created"]);
    let retry = app
        .send_with(
            Method::POST,
            "/api/v1/sync/messages",
            Some(&token),
            Some(body),
            &key,
        )
        .await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        retry.body, first.body,
        "the original answer, not `unchanged`"
    );
    // A big batch (500 items, ~2 MB) goes through the sync body limit and the key's record.
    let items: Vec<Value> = (0..500)
        .map(|n| {
            let mut i = item(&format!("BIG-{n}"), t0, "大批量导入");
            i["body"] = json!("很长的留言正文。".repeat(400));
            i
        })
        .collect();
    let big = app
        .send_with(
            Method::POST,
            "/api/v1/sync/messages",
            Some(&token),
            Some(json!({ "items": items })),
            &[("idempotency-key", "big-batch-1")],
        )
        .await;
    assert_eq!(big.status, 200, "{}", big.body);
    assert_eq!(big.body["summary"]["created"], 500);
}

/// Imported messages go through early warning as at intake: a keyword in the text raises the
/// alert and marks the message important; the others of the batch are left alone.
#[actix_web::test]
async fn imported_messages_go_through_early_warning() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:write"]).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let t0 = Utc::now() - Duration::hours(1);
    // The demo rule 集体上访预警 (keywords 集体上访, 联名上访, 群体性事件).
    let mut hit = item("W-2", t0, "工地欠款问题");
    hit["body"] = json!("工地包工头跑路，工人们商量要去市政府集体上访，请领导重视。");
    let r = import(
        &app,
        &token,
        vec![
            item("W-1", t0, "路灯不亮"),
            hit,
            item("W-3", t0, "公交晚点"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(outcomes(&r), ["created", "created", "created"]);
    let ids: Vec<String> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["message_id"].as_str().unwrap().to_owned())
        .collect();
    for (id, important) in ids.iter().zip([false, true, false]) {
        let m = app
            .get(&format!("/api/v1/messages/{id}"), &supervisor)
            .await;
        assert_eq!(m.status, 200, "{}", m.body);
        assert_eq!(
            m.body["priority"] == "important",
            important,
            "{id}: {}",
            m.body
        );
    }
    let alerts = app.get("/api/v1/alerts?kind=keyword", &supervisor).await;
    assert_eq!(alerts.status, 200, "{}", alerts.body);
    let items = alerts.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", alerts.body);
    assert_eq!(items[0]["details"]["message_id"], json!(ids[1]));
}

#[actix_web::test]
async fn a_client_never_changes_or_completes_what_another_client_imported() {
    let app = TestApp::spawn().await;
    let a = client_token(&app, &["sync:read", "sync:write"]).await;
    let b = client_token(&app, &["sync:read", "sync:write"]).await;
    let liaison = lanzhou_liaison(&app).await;
    // A message still waiting for intake: B's newer version of A's key does not overwrite it.
    let r = import(
        &app,
        &a,
        vec![item(
            "OWN-0",
            Utc::now() - Duration::hours(1),
            "平台甲的留言",
        )],
    )
    .await;
    assert_eq!(outcomes(&r), ["created"], "{}", r.body);
    let waiting = r.body["results"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = import(
        &app,
        &b,
        vec![item("OWN-0", Utc::now(), "平台乙改写的标题")],
    )
    .await;
    assert_eq!(outcomes(&r), ["rejected"], "{}", r.body);
    assert_eq!(r.body["results"][0]["problem"]["status"], 409, "{}", r.body);
    let m = app
        .get(&format!("/api/v1/messages/{waiting}"), &liaison)
        .await;
    assert_eq!(m.body["title"], "平台甲的留言", "{}", m.body);
    let id = imported_in_progress(&app, &a, &liaison, "OWN-1").await;
    // B sends the same key with a newer version and other content: refused, nothing changes.
    let mut other = item("OWN-1", Utc::now(), "被另一个平台改写的标题");
    other["contact_phone"] = json!("13911112222");
    let r = import(&app, &b, vec![other]).await;
    assert_eq!(outcomes(&r), ["rejected"], "{}", r.body);
    assert_eq!(r.body["results"][0]["problem"]["status"], 409, "{}", r.body);
    let m = app.get(&format!("/api/v1/messages/{id}"), &liaison).await;
    assert_eq!(m.body["title"], "导入后办理", "{}", m.body);
    assert_eq!(m.body["contact"]["phone"], "13800138000", "{}", m.body);
    // B cannot complete A's message with a final reply either.
    let r = app
        .post(
            "/api/v1/sync/replies",
            &b,
            json!({"items": [reply_item("OWN-R1", "OWN-1", "final",
                "经核实，该路口信号灯控制器故障，已更换，现已恢复正常。", Utc::now())]}),
        )
        .await;
    assert_eq!(outcomes(&r), ["rejected"], "{}", r.body);
    let m = app.get(&format!("/api/v1/messages/{id}"), &liaison).await;
    assert_eq!(m.body["status"], "in_progress", "{}", m.body);
    // A can; and B cannot revise A's reply afterwards.
    let r = app
        .post(
            "/api/v1/sync/replies",
            &a,
            json!({"items": [reply_item("OWN-R1", "OWN-1", "final",
                "经核实，该路口信号灯控制器故障，已更换，现已恢复正常。", Utc::now())]}),
        )
        .await;
    assert_eq!(outcomes(&r), ["created"], "{}", r.body);
    let r = app
        .post(
            "/api/v1/sync/replies",
            &b,
            json!({"items": [reply_item("OWN-R1", "OWN-1", "final",
                "另一个平台改写的答复内容，长度足够但不应生效。", Utc::now() + Duration::minutes(1))]}),
        )
        .await;
    assert_eq!(outcomes(&r), ["rejected"], "{}", r.body);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM replies WHERE body LIKE '另一个平台%'"
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM message_events WHERE action IN ('import_update', 'import_reply') \
                     AND actor_id <> (SELECT registered_by FROM messages WHERE external_id = 'OWN-1')"
        ),
        0
    );
}

#[actix_web::test]
async fn implausible_import_times_are_refused_with_the_rule_that_refused_them() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:read", "sync:write"]).await;
    let mut ancient = item("OLD-1", Utc::now(), "很久以前的留言");
    ancient["submitted_at"] = json!("0001-01-01T00:00:00Z");
    let mut y2001 = item("OLD-2", Utc::now(), "二十多年前的留言");
    y2001["submitted_at"] = json!("2001-01-01T00:00:00Z");
    let mut ahead = item("OLD-3", Utc::now() + Duration::days(2), "来自未来的留言");
    ahead["submitted_at"] = json!(Utc::now());
    let r = import(&app, &token, vec![ancient, y2001, ahead]).await;
    assert_eq!(
        outcomes(&r),
        ["rejected", "rejected", "rejected"],
        "{}",
        r.body
    );
    let errors: Vec<(String, String)> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let e = &x["problem"]["errors"][0];
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("submitted_at".to_owned(), "too_old".to_owned()),
            ("submitted_at".to_owned(), "too_old".to_owned()),
            ("updated_at".to_owned(), "in_future".to_owned()),
        ]
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM messages WHERE external_id LIKE 'OLD-%'"
        ),
        0
    );
    // A final reply dated before the sign-for that started the clock here is refused; the
    // deadline stays open and the message in progress.
    let liaison = lanzhou_liaison(&app).await;
    let id = imported_in_progress(&app, &token, &liaison, "OLD-4").await;
    let mut early = reply_item(
        "OLD-R",
        "OLD-4",
        "final",
        "经核实，该路口信号灯控制器故障，已更换，现已恢复正常。",
        Utc::now(),
    );
    early["published_at"] = json!("2001-01-01T00:00:00Z");
    let r = app
        .post("/api/v1/sync/replies", &token, json!({ "items": [early] }))
        .await;
    assert_eq!(outcomes(&r), ["rejected"], "{}", r.body);
    assert_eq!(
        r.body["results"][0]["problem"]["errors"][0]["field"], "published_at",
        "{}",
        r.body
    );
    let m = app.get(&format!("/api/v1/messages/{id}"), &liaison).await;
    assert_eq!(m.body["status"], "in_progress", "{}", m.body);
    assert!(m.body["replied_at"].is_null(), "{}", m.body);
}

/// A page of 1,000 changes starting inside one large transaction (issue 26, item 6): the feed
/// walks its index whatever the page size, and pages of 1,000 across the transaction skip and
/// repeat nothing. The transaction writes 200 ledger events to each demo message at once.
#[actix_web::test]
async fn pages_of_a_thousand_across_one_large_transaction_skip_and_repeat_nothing() {
    let app = TestApp::spawn().await;
    let token = client_token(&app, &["sync:read", "sync:personal", "sync:internal"]).await;
    let (_, head) = drain(&app, &token, "0.0".into(), "").await;

    let url = app.db.url.clone();
    let written: Vec<(uuid::Uuid, i32)> = actix_web::web::block(move || {
        let mut conn = crate::helpers::establish(&url);
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::sql_query(
                "INSERT INTO message_events (message_id, seq, actor_role, action, payload, \
                                             created_at, prev_hash, hash) \
                 SELECT m.id, m.last + g, 'system', 'classify', '{}'::jsonb, now(), \
                        '\\x00'::bytea, '\\x00'::bytea \
                 FROM (SELECT message_id AS id, max(seq) AS last FROM message_events \
                       GROUP BY message_id ORDER BY message_id LIMIT 25) m, \
                      generate_series(1, 200) g",
            )
            .execute(conn)?;
            #[derive(QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Uuid)]
                message_id: uuid::Uuid,
                #[diesel(sql_type = diesel::sql_types::Integer)]
                seq: i32,
            }
            Ok(diesel::sql_query(
                "SELECT message_id, seq FROM message_events \
                 WHERE feed_txid = pg_current_xact_id() ORDER BY id",
            )
            .load::<Row>(conn)?
            .into_iter()
            .map(|r| (r.message_id, r.seq))
            .collect())
        })
        .expect("one large transaction")
    })
    .await
    .unwrap();
    assert!(written.len() > 2000, "{} events", written.len());

    // Pages of 1,000 from before the transaction: the second and third start inside it.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (read, pages) = loop {
        let (mut read, mut pages, mut after) = (Vec::new(), 0, head.clone());
        loop {
            let r = app
                .get(
                    &format!("/api/v1/sync/changes?after={after}&limit=1000"),
                    &token,
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            pages += 1;
            read.extend(r.body["changes"].as_array().unwrap().clone());
            after = r.body["next_cursor"].as_str().unwrap().to_owned();
            if !r.body["has_more"].as_bool().unwrap() {
                break;
            }
        }
        // Readable once every older transaction of the cluster has ended (other tests' too).
        if read.len() >= written.len() || std::time::Instant::now() > give_up {
            break (read, pages);
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(pages >= 3, "{pages} pages");
    let got: Vec<(uuid::Uuid, i32)> = read
        .iter()
        .map(|c| {
            (
                c["message"]["id"].as_str().unwrap().parse().unwrap(),
                c["seq"].as_i64().unwrap() as i32,
            )
        })
        .collect();
    assert_eq!(
        got, written,
        "every change of the transaction once, in ledger order"
    );
    let cursors: Vec<&str> = read.iter().map(|c| c["cursor"].as_str().unwrap()).collect();
    let unique: HashSet<&&str> = cursors.iter().collect();
    assert_eq!(unique.len(), cursors.len(), "no change twice");
}
