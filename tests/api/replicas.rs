//! Scale-out: two instances of the application (each with its own pool, workers and background
//! tasks, as two replicas behind a load balancer) on one database behave as one service. Claims,
//! idempotency keys, scheduler ticks and webhook deliveries are raced through both at once:
//! nothing happens twice and nothing is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use diesel::RunQueryDsl;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::handling::{CHENGGUAN, TRANSPORT_BUREAU, accepted, assign, local};
use crate::helpers::{Demo, Resp, TestApp, test_settings};
use crate::messages::{message_body, staff, submit};
use crate::webhooks::{Receiver, UP, client, subscribe, verifies, wait_for};
use liuyan::clock::Clock;

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<N>(&mut app.db.connect())
        .unwrap()
        .n
}

#[actix_web::test]
async fn a_message_claimed_through_two_replicas_has_one_winner() {
    let a = TestApp::spawn().await;
    let b = a.replica(test_settings()).await;
    let (id, _) = accepted(&a, "routine", None).await;
    let chengguan = staff(&a, "cg@example.cn", "handler", CHENGGUAN).await;
    // A token issued by one replica is honoured by the other (shared keys, no session state).
    let bureau = b.token(Demo::Handler).await;
    let path = format!("/api/v1/messages/{id}/claims");
    let tries = (0..40).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &b };
        let token = if i % 4 < 2 { &chengguan } else { &bureau };
        replica.post(&path, token, json!({"note": "认领"}))
    });
    let results = join_all(tries).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    for r in results.iter().filter(|r| r.status != 201) {
        r.assert_problem(409, "conflict");
    }
    let won = results.iter().find(|r| r.status == 201).unwrap();
    assert_eq!(won.body["origin"], "claimed");
    let rows = count(
        &a,
        &format!("SELECT count(*) AS n FROM assignments WHERE message_id = '{id}'"),
    );
    assert_eq!(rows, 1, "one assignment row");
    let claims = count(
        &a,
        &format!(
            "SELECT count(*) AS n FROM message_events WHERE message_id = '{id}' AND action = 'claim'"
        ),
    );
    assert_eq!(claims, 1, "one claim in the ledger");
    // Both replicas read the same outcome.
    for replica in [&a, &b] {
        let r = replica
            .get(&format!("/api/v1/messages/{id}"), &bureau)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "in_progress");
    }
}

#[actix_web::test]
async fn one_idempotency_key_sent_to_two_replicas_at_once_creates_one_resource() {
    let a = TestApp::spawn().await;
    let b = a.replica(test_settings()).await;
    let admin = a.token(Demo::Admin).await;
    const KEYS: usize = 8;
    for i in 0..KEYS {
        let key = uuid::Uuid::new_v4().to_string();
        let name = format!("兰州市水务局{i}号站");
        let body = json!({"name": name, "kind": "department", "region_code": "620100"});
        let headers = [("idempotency-key", key.as_str())];
        // Four copies at once, two through each replica.
        let sends = [&a, &b, &a, &b].map(|replica| {
            replica.send_with(
                Method::POST,
                "/api/v1/units",
                Some(&admin),
                Some(body.clone()),
                &headers,
            )
        });
        let results: Vec<Resp> = join_all(sends).await;
        let first: Vec<&Resp> = results
            .iter()
            .filter(|r| r.status == 201 && r.header("idempotent-replayed").is_none())
            .collect();
        assert_eq!(
            first.len(),
            1,
            "one request ran: {:?}",
            results.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        let created = first[0].body["id"].as_str().unwrap().to_owned();
        for r in &results {
            if r.status == 201 {
                // The original, or a replay of it.
                assert_eq!(r.body["id"], created.as_str());
            } else {
                r.assert_problem(409, "idempotency-key-in-use");
            }
        }
        assert_eq!(
            count(
                &a,
                &format!("SELECT count(*) AS n FROM units WHERE name = '{name}'")
            ),
            1,
            "one unit for key {i}"
        );
        // Afterwards both replicas replay the stored response.
        for replica in [&a, &b] {
            let r = replica
                .send_with(
                    Method::POST,
                    "/api/v1/units",
                    Some(&admin),
                    Some(body.clone()),
                    &headers,
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            assert_eq!(r.header("idempotent-replayed"), Some("true"));
            assert_eq!(r.body["id"], created.as_str());
        }
    }
}

#[actix_web::test]
async fn scheduler_ticks_of_two_replicas_raise_each_alarm_once() {
    // Messages are assigned on a Monday; two days later every sign-for deadline is overdue.
    let clock = Clock::manual(local("2026-11-23T09:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let a = TestApp::spawn_with(settings.clone()).await;
    let b = a.replica(settings).await;
    let liaison = crate::messages::lanzhou_liaison(&a).await;
    const MESSAGES: usize = 6;
    let mut ids = Vec::new();
    for i in 0..MESSAGES {
        let replica = if i % 2 == 0 { &a } else { &b };
        let (id, _) = accepted(replica, "important", Some(&liaison)).await;
        // A lead and a co-handling unit: two sign-for deadlines per message.
        let r = assign(replica, &liaison, &id, CHENGGUAN, &[TRANSPORT_BUREAU]).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(id);
    }
    let in_set = ids
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let deadlines = count(
        &a,
        &format!("SELECT count(*) AS n FROM deadlines WHERE message_id IN ({in_set})"),
    );
    assert_eq!(deadlines, 2 * MESSAGES as i64);

    // Each replica's scheduler ticks through its own pool, both at once, three times over.
    let later = local("2026-11-25T10:00");
    let tick = |app: &TestApp| {
        let pool = app.dbh.clone();
        async move {
            pool.run(move |conn| liuyan::scheduler::run_once(conn, later))
                .await
                .unwrap()
        }
    };
    let (mut due_soon, mut overdue) = (0, 0);
    for _ in 0..3 {
        let (x, y) = futures_util::join!(tick(&a), tick(&b));
        due_soon += x.due_soon + y.due_soon;
        overdue += x.overdue + y.overdue;
    }
    assert_eq!(
        (due_soon, overdue),
        (deadlines as usize, deadlines as usize),
        "each alarm raised once, none lost"
    );
    // Nothing is left for a later tick, and the ledger holds one event per deadline and kind.
    let last = tick(&a).await;
    assert_eq!((last.due_soon, last.overdue), (0, 0));
    #[derive(diesel::QueryableByName)]
    struct Alarm {
        #[diesel(sql_type = diesel::sql_types::Text)]
        deadline: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        action: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let alarms: Vec<Alarm> = diesel::sql_query(format!(
        "SELECT payload->>'deadline_id' AS deadline, action, count(*) AS n FROM message_events \
         WHERE message_id IN ({in_set}) AND action IN ('deadline_due_soon', 'deadline_overdue') \
         GROUP BY 1, 2"
    ))
    .load(&mut a.db.connect())
    .unwrap();
    assert_eq!(
        alarms.len(),
        2 * deadlines as usize,
        "every deadline, both kinds"
    );
    assert!(
        alarms.iter().all(|x| x.n == 1),
        "duplicates: {:?}",
        alarms
            .iter()
            .filter(|x| x.n != 1)
            .map(|x| (&x.deadline, &x.action, x.n))
            .collect::<Vec<_>>()
    );
    let unmarked = count(
        &a,
        &format!(
            "SELECT count(*) AS n FROM deadlines WHERE message_id IN ({in_set}) \
             AND (due_soon_raised_at IS NULL OR overdue_raised_at IS NULL)"
        ),
    );
    assert_eq!(unmarked, 0);
}

#[actix_web::test]
async fn webhook_dispatchers_of_two_replicas_deliver_each_event_once() {
    // Both replicas run their own dispatcher (polling every 50 ms) over the one outbox.
    let settings = crate::webhooks::settings(50, 1.0, true);
    let a = TestApp::spawn_with(settings.clone()).await;
    let b = a.replica(settings).await;
    let (_, token) = client(&a, "联络平台", &["webhooks:manage"]).await;
    // A slow receiver widens the window in which both dispatchers look at the same rows.
    let receiver = Receiver::reserve(UP, Duration::from_millis(30));
    let handle = receiver.listen();
    let (sub, secret) = subscribe(&b, &token, &receiver.url(), &["message.created"]).await;
    let citizen = a.token(Demo::Citizen).await;
    const EVENTS: usize = 30;
    let submits = (0..EVENTS).map(|i| {
        let replica = if i % 2 == 0 { &a } else { &b };
        let citizen = citizen.clone();
        async move { submit(replica, &citizen, message_body(&format!("噪音扰民 {i}"))).await }
    });
    let created: BTreeSet<String> = join_all(submits)
        .await
        .into_iter()
        .map(|m| m["tracking_no"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(created.len(), EVENTS);
    wait_for(
        &a,
        &token,
        &sub,
        EVENTS,
        "delivered",
        Duration::from_secs(20),
    )
    .await;
    // A would-be duplicate is sent by a pass of either dispatcher: once each has completed two
    // more passes (sends included), it would have arrived.
    crate::helpers::wait_for_passes(
        &[a.base.clone(), b.base.clone()],
        "webhooks",
        2,
        Duration::from_secs(20),
    )
    .await;
    let hits = receiver.hits();
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for h in &hits {
        *per_id.entry(h.id.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), EVENTS, "every event delivered");
    assert!(
        per_id.values().all(|n| *n == 1),
        "an event was delivered twice: {per_id:?}"
    );
    assert!(hits.iter().all(|h| verifies(&secret, h)));
    // Each delivery carries a different message, and together they are exactly the ones created.
    let delivered: BTreeSet<String> = hits
        .iter()
        .map(|h| {
            let v: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
            v["data"]["tracking_no"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(delivered, created);
    assert_eq!(
        count(
            &a,
            "SELECT count(*) AS n FROM webhook_deliveries WHERE attempts <> 1"
        ),
        0,
        "one attempt each"
    );
    handle.stop(false).await;
}

/// Behind a pooler in transaction mode a named prepared statement may be missing on the next
/// server connection: with `statement_cache` off the pool's connections prepare none.
#[actix_web::test]
async fn pools_without_the_statement_cache_prepare_no_named_statements() {
    use diesel::prelude::*;
    let app = TestApp::spawn().await;
    let url = app.db.url.clone();
    let named = move |statement_cache: bool| -> i64 {
        let pool = liuyan::db::build_pool(
            &url,
            &liuyan::db::PoolOptions {
                max_size: 1,
                connection_timeout: Duration::from_secs(5),
                statement_cache,
            },
        )
        .unwrap();
        let mut conn = pool.get().unwrap();
        // One transaction: a pooler keeps it on one server connection, where the count is read.
        conn.transaction(|conn| {
            for _ in 0..2 {
                liuyan::schema::units::table
                    .filter(liuyan::schema::units::name.ne("?"))
                    .count()
                    .get_result::<i64>(conn)?;
            }
            let n = diesel::sql_query("SELECT count(*) AS n FROM pg_prepared_statements")
                .get_result::<N>(conn)?
                .n;
            // Leave nothing behind for the server connection's next client.
            diesel::sql_query("DEALLOCATE ALL").execute(conn)?;
            Ok::<_, diesel::result::Error>(n)
        })
        .unwrap()
    };
    let (off, on) = actix_web::web::block(move || (named(false), named(true)))
        .await
        .unwrap();
    assert_eq!(off, 0, "no named statement without the cache");
    assert!(on >= 1, "the cache prepares named statements: {on}");
}
