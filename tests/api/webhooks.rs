//! Webhooks: a real HTTP receiver in the test process that is down for a while gets every
//! event once it recovers, each with one `webhook-id` across its attempts and a signature that
//! verifies (checked here with hmac + sha2 + base64 directly, not the service's signer); two
//! dispatchers never send the same attempt; an exhausted schedule fails and redelivery keeps
//! the id; the SSRF guard; scopes and ownership; the transactional outbox (also for a batch
//! import: one statement, hundreds of events).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Demo, TestApp, test_settings};
use crate::messages::{message_body, submit};

// ---------------------------------------------------------------------------------------------
// The receiver.

#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    timestamp: String,
    signature: String,
    pub body: Vec<u8>,
    answered: u16,
}

pub const DOWN: u8 = 0;
pub const UP: u8 = 1;

#[derive(Clone)]
pub struct Receiver {
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
    mode: Arc<AtomicU8>,
    /// Pause before answering (widens races between dispatchers).
    delay: Duration,
}

impl Receiver {
    /// A receiver on a free port, not listening yet (connections are refused).
    pub fn reserve(mode: u8, delay: Duration) -> Receiver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Receiver {
            port,
            hits: Arc::default(),
            mode: Arc::new(AtomicU8::new(mode)),
            delay,
        }
    }

    /// Start listening; answers 503 while DOWN, 204 while UP.
    pub fn listen(&self) -> actix_web::dev::ServerHandle {
        let state = self.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .default_service(web::to(receive))
        })
        .workers(2)
        .bind(("127.0.0.1", self.port))
        .expect("receiver binds its port")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        handle
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// Answer 204 (`UP`) or 503 (`DOWN`) from now on.
    pub fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, r: web::Data<Receiver>) -> HttpResponse {
    if !r.delay.is_zero() {
        actix_web::rt::time::sleep(r.delay).await;
    }
    let h = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let up = r.mode.load(Ordering::SeqCst) == UP;
    let answered = if up { 204 } else { 503 };
    r.hits.lock().unwrap().push(Hit {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body: body.to_vec(),
        answered,
    });
    if up {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::ServiceUnavailable().finish()
    }
}

/// Standard Webhooks verification, written here from the specification (not the service's
/// code): HMAC-SHA256 over `{id}.{timestamp}.{body}` with the base64-decoded secret.
pub fn verifies(secret: &str, hit: &Hit) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", hit.id, hit.timestamp).as_bytes());
    mac.update(&hit.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    hit.signature.split(' ').any(|s| s == expected)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

pub fn settings(poll_ms: u64, scale: f64, allow_private: bool) -> liuyan::configuration::Settings {
    let mut s = test_settings();
    s.webhook_poll_ms = poll_ms;
    s.webhook_backoff_scale = scale;
    s.webhook_allow_private_targets = allow_private;
    s
}

/// An integration client with `scopes`; returns (its id, an access token).
pub async fn client(app: &TestApp, name: &str, scopes: &[&str]) -> (String, String) {
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/integration-clients",
            &admin,
            json!({"name": name, "scopes": scopes}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["client"]["id"].as_str().unwrap().to_owned();
    let t = app
        .send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"grant_type": "client_credentials",
                "client_id": r.body["client"]["client_id"], "client_secret": r.body["client_secret"]})),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    (id, t.body["access_token"].as_str().unwrap().to_owned())
}

/// An administrator switches the integration client on or off.
pub async fn switch_client(app: &TestApp, client_id: &str, active: bool) {
    let admin = app.token(Demo::Admin).await;
    let r = app
        .send_with(
            Method::PATCH,
            &format!("/api/v1/integration-clients/{client_id}"),
            Some(&admin),
            Some(json!({"active": active})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Subscribe; returns (subscription id, secret).
pub async fn subscribe(app: &TestApp, token: &str, url: &str, types: &[&str]) -> (String, String) {
    let r = app
        .post(
            "/api/v1/webhooks",
            token,
            json!({"url": url, "event_types": types}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (
        r.body["subscription"]["id"].as_str().unwrap().to_owned(),
        secret,
    )
}

pub async fn deliveries(app: &TestApp, token: &str, sub: &str, query: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/webhooks/{sub}/deliveries?limit=100{query}"),
            token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// Wait until every delivery of `sub` is in `status` (and there are `n`).
pub async fn wait_for(
    app: &TestApp,
    token: &str,
    sub: &str,
    n: usize,
    status: &str,
    within: Duration,
) {
    let start = Instant::now();
    loop {
        let all = deliveries(app, token, sub, "").await;
        if all.len() == n && all.iter().all(|d| d["status"] == status) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "not all {n} deliveries {status} after {within:?}: {all:#?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

fn dispatcher(app: &TestApp, s: &liuyan::configuration::Settings) -> liuyan::webhooks::Dispatcher {
    let pool = liuyan::db::build_pool(
        &app.db.url,
        &liuyan::db::PoolOptions {
            max_size: 3,
            connection_timeout: Duration::from_secs(5),
            statement_cache: s.db_statement_cache,
        },
    )
    .unwrap();
    liuyan::webhooks::Dispatcher::new(liuyan::db::Db::new(pool), s).unwrap()
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[actix_web::test]
async fn a_receiver_down_for_a_while_gets_every_event_signed_with_one_id_per_delivery() {
    // Retries after ~12-25 ms, 75-150 ms, 0.3-0.6 s, 1.5-3 s …
    let app = TestApp::spawn_with(settings(50, 0.005, true)).await;
    let (_, token) = client(&app, "联络平台", &["webhooks:manage"]).await;
    let receiver = Receiver::reserve(DOWN, Duration::ZERO);
    let (sub, secret) = subscribe(
        &app,
        &token,
        &receiver.url(),
        &["message.created", "message.status_changed"],
    )
    .await;

    // Three messages while the receiver refuses connections.
    let citizen = app.token(Demo::Citizen).await;
    let mut tracking = BTreeSet::new();
    for i in 0..3 {
        let m = submit(&app, &citizen, message_body(&format!("路灯不亮 {i}"))).await;
        tracking.insert(m["tracking_no"].as_str().unwrap().to_owned());
    }
    // Every delivery fails at least once on the refused connection…
    let start = Instant::now();
    loop {
        let all = deliveries(&app, &token, &sub, "").await;
        if all.len() == 3 && all.iter().all(|d| d["attempts"].as_u64() >= Some(1)) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{all:#?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    // … then the receiver answers 503 (at least one attempt of each), then recovers.
    let handle = receiver.listen();
    let start = Instant::now();
    loop {
        let refused: BTreeSet<String> = receiver
            .hits()
            .into_iter()
            .filter(|h| h.answered == 503)
            .map(|h| h.id)
            .collect();
        if refused.len() == 3 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{refused:?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.set_mode(UP);
    wait_for(&app, &token, &sub, 3, "delivered", Duration::from_secs(30)).await;

    let hits = receiver.hits();
    let mut by_id: BTreeMap<String, Vec<&Hit>> = BTreeMap::new();
    for h in &hits {
        assert!(verifies(&secret, h), "signature of {h:?}");
        by_id.entry(h.id.clone()).or_default().push(h);
    }
    let listed = deliveries(&app, &token, &sub, "").await;
    let ids: BTreeSet<String> = listed
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, by_id.keys().cloned().collect(), "one id per delivery");
    let mut seen_tracking = BTreeSet::new();
    for (id, hs) in &by_id {
        assert!(id.starts_with("msg_") && id.len() == 36, "{id}");
        // Exactly one success per delivery, and it is the last hit.
        assert_eq!(hs.iter().filter(|h| h.answered == 204).count(), 1, "{id}");
        assert_eq!(hs.last().unwrap().answered, 204);
        let body: Value = serde_json::from_slice(&hs[0].body).unwrap();
        assert_eq!(body["type"], "message.created");
        assert!(body["timestamp"].is_string());
        assert_eq!(body["data"]["action"], "submit");
        assert_eq!(body["data"]["to_status"], "submitted");
        seen_tracking.insert(body["data"]["tracking_no"].as_str().unwrap().to_owned());
        // The same body on every attempt; never the author's contact data.
        assert!(hs.iter().all(|h| h.body == hs[0].body));
        assert!(!String::from_utf8_lossy(&hs[0].body).contains("13912345678"));

        // The log: every attempt, the failed ones first (refused, then 503), then 204.
        let d = app
            .get(&format!("/api/v1/webhooks/{sub}/deliveries/{id}"), &token)
            .await;
        assert_eq!(d.status, 200, "{}", d.body);
        assert_eq!(d.body["delivery"]["status"], "delivered");
        assert_eq!(d.body["payload"], body);
        let attempts = d.body["attempts"].as_array().unwrap();
        assert!(attempts.len() >= 2, "retried: {attempts:?}");
        assert_eq!(
            d.body["delivery"]["attempts"].as_u64().unwrap() as usize,
            attempts.len()
        );
        for (i, a) in attempts.iter().enumerate() {
            assert_eq!(a["n"], i + 1);
        }
        assert_eq!(attempts.last().unwrap()["status_code"], 204);
        assert!(
            attempts[0]["status_code"].is_null() && attempts[0]["error"].is_string(),
            "the first attempt found the receiver down: {attempts:?}"
        );
        // What reached the receiver is what the log says answered.
        assert_eq!(
            attempts
                .iter()
                .filter(|a| !a["status_code"].is_null())
                .count(),
            hs.len()
        );
    }
    assert_eq!(seen_tracking, tracking);
    // Filter by status.
    assert_eq!(
        deliveries(&app, &token, &sub, "&status=delivered")
            .await
            .len(),
        3
    );
    assert!(
        deliveries(&app, &token, &sub, "&status=failed")
            .await
            .is_empty()
    );
    // Keyset pages.
    let p = app
        .get(
            &format!("/api/v1/webhooks/{sub}/deliveries?limit=2"),
            &token,
        )
        .await;
    assert_eq!(p.body["items"].as_array().unwrap().len(), 2);
    let cursor = p.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(
            &format!("/api/v1/webhooks/{sub}/deliveries?limit=2&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 1);
    assert!(p2.body["next_cursor"].is_null());
    handle.stop(false).await;
}

#[actix_web::test]
async fn two_dispatchers_never_send_the_same_attempt() {
    let app = TestApp::spawn_with(settings(0, 1.0, true)).await;
    let (_, token) = client(&app, "联络平台", &["webhooks:manage"]).await;
    let receiver = Receiver::reserve(UP, Duration::from_millis(30));
    let handle = receiver.listen();
    let (sub, secret) = subscribe(&app, &token, &receiver.url(), &["message.created"]).await;
    let citizen = app.token(Demo::Citizen).await;
    const N: usize = 24;
    for i in 0..N {
        submit(&app, &citizen, message_body(&format!("噪音扰民 {i}"))).await;
    }
    // Two dispatchers (own pools, small batches) race over the same outbox.
    let mut s = settings(0, 1.0, true);
    s.webhook_batch = 4;
    let (a, b) = (dispatcher(&app, &s), dispatcher(&app, &s));
    let run = |d: liuyan::webhooks::Dispatcher| async move {
        let mut sent = 0;
        loop {
            let n = d.run_once().await.unwrap();
            if n == 0 {
                return sent;
            }
            sent += n;
        }
    };
    let (sa, sb) = futures_util::join!(run(a), run(b));
    assert_eq!(sa + sb, N, "every delivery attempted once: {sa} + {sb}");
    assert!(sa > 0 && sb > 0, "both took part: {sa} + {sb}");
    let hits = receiver.hits();
    assert_eq!(hits.len(), N);
    let ids: BTreeSet<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids.len(), N, "no webhook-id was sent twice");
    assert!(hits.iter().all(|h| verifies(&secret, h)));
    wait_for(&app, &token, &sub, N, "delivered", Duration::from_secs(5)).await;

    // A dispatcher that died holding a lease: once the lease expires the delivery is taken
    // again, as the next attempt.
    let mut conn = app.db.connect();
    let id: String = liuyan::schema::webhook_deliveries::table
        .select(liuyan::schema::webhook_deliveries::id)
        .first(&mut conn)
        .unwrap();
    diesel::sql_query(
        "UPDATE webhook_deliveries SET status = 'delivering', attempts = attempts + 1, \
         lease_until = now() + interval '1 hour' WHERE id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&id)
    .execute(&mut conn)
    .unwrap();
    let d = dispatcher(&app, &s);
    assert_eq!(d.run_once().await.unwrap(), 0, "leased: not taken");
    diesel::sql_query(
        "UPDATE webhook_deliveries SET lease_until = now() - interval '1 second' WHERE id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&id)
    .execute(&mut conn)
    .unwrap();
    assert_eq!(d.run_once().await.unwrap(), 1, "expired lease: taken again");
    let hits = receiver.hits();
    assert_eq!(hits.len(), N + 1);
    assert_eq!(hits.last().unwrap().id, id, "same webhook-id");
    let r = app
        .get(&format!("/api/v1/webhooks/{sub}/deliveries/{id}"), &token)
        .await;
    assert_eq!(r.body["delivery"]["attempts"], 3);
    assert_eq!(r.body["delivery"]["status"], "delivered");
    handle.stop(false).await;
}

/// Switching a client off (its secret leaked, say) stops what is already queued for it too, not
/// only what comes later; switched on again, it gets the held backlog.
#[actix_web::test]
async fn a_deactivated_client_is_sent_nothing_until_switched_on_again() {
    let app = TestApp::spawn_with(settings(0, 1.0, true)).await;
    let (client_id, token) = client(&app, "联络平台", &["webhooks:manage"]).await;
    let receiver = Receiver::reserve(UP, Duration::ZERO);
    let handle = receiver.listen();
    let (sub, _) = subscribe(&app, &token, &receiver.url(), &["message.created"]).await;
    let citizen = app.token(Demo::Citizen).await;
    for i in 0..3 {
        submit(&app, &citizen, message_body(&format!("噪音扰民 {i}"))).await;
    }
    switch_client(&app, &client_id, false).await;
    let d = dispatcher(&app, &settings(0, 1.0, true));
    assert_eq!(d.run_once().await.unwrap(), 0, "nothing is sent while off");
    assert!(receiver.hits().is_empty());
    let mut conn = app.db.connect();
    let held = count(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM webhook_deliveries \
             WHERE subscription_id = '{sub}' AND status = 'pending' AND attempts = 0"
        ),
    );
    assert_eq!(held, 3, "the queued deliveries are held, untouched");

    switch_client(&app, &client_id, true).await;
    assert_eq!(d.run_once().await.unwrap(), 3, "the backlog goes out");
    assert_eq!(receiver.hits().len(), 3);
    handle.stop(false).await;
}

#[actix_web::test]
async fn an_exhausted_schedule_fails_and_redelivery_keeps_the_id() {
    // The whole schedule in about a second.
    let app = TestApp::spawn_with(settings(20, 0.00001, true)).await;
    let (_, token) = client(&app, "联络平台", &["webhooks:manage"]).await;
    let receiver = Receiver::reserve(DOWN, Duration::ZERO);
    let handle = receiver.listen();
    let (sub, secret) = subscribe(&app, &token, &receiver.url(), &["message.created"]).await;
    let citizen = app.token(Demo::Citizen).await;
    submit(&app, &citizen, message_body("井盖缺失")).await;
    wait_for(&app, &token, &sub, 1, "failed", Duration::from_secs(30)).await;

    let d = &deliveries(&app, &token, &sub, "&status=failed").await[0];
    let id = d["id"].as_str().unwrap().to_owned();
    let max = liuyan::domain::webhooks::MAX_ATTEMPTS as usize;
    assert_eq!(d["attempts"], max);
    assert!(d["next_attempt_at"].is_null());
    assert_eq!(d["last_status"], 503);
    let hits = receiver.hits();
    assert_eq!(hits.len(), max);
    assert!(hits.iter().all(|h| h.id == id && verifies(&secret, h)));
    let detail = app
        .get(&format!("/api/v1/webhooks/{sub}/deliveries/{id}"), &token)
        .await;
    assert_eq!(detail.body["attempts"].as_array().unwrap().len(), max);

    // Redeliver once the receiver is back: the same id, a fresh schedule.
    receiver.mode.store(UP, Ordering::SeqCst);
    let r = app
        .post(
            &format!("/api/v1/webhooks/{sub}/deliveries/{id}/redeliver"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["status"], "pending");
    wait_for(&app, &token, &sub, 1, "delivered", Duration::from_secs(10)).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), max + 1);
    let last = hits.last().unwrap();
    assert_eq!(last.id, id);
    assert_eq!(last.answered, 204);
    assert!(verifies(&secret, last));
    // Redelivering a delivered one sends it again, still under its id.
    let r = app
        .post(
            &format!("/api/v1/webhooks/{sub}/deliveries/{id}/redeliver"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    wait_for(&app, &token, &sub, 1, "delivered", Duration::from_secs(10)).await;
    let start = Instant::now();
    while receiver.hits().len() < max + 2 {
        assert!(start.elapsed() < Duration::from_secs(10));
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(receiver.hits().last().unwrap().id, id);
    // Unknown delivery: 404.
    let r = app
        .post(
            &format!(
                "/api/v1/webhooks/{sub}/deliveries/msg_00000000000000000000000000000000/redeliver"
            ),
            &token,
            json!({}),
        )
        .await;
    r.assert_problem(404, "not-found");
    handle.stop(false).await;
}

#[actix_web::test]
async fn private_loopback_and_metadata_targets_are_refused() {
    let app = TestApp::spawn_with(settings(0, 1.0, false)).await;
    let (_, token) = client(&app, "联络平台", &["webhooks:manage"]).await;
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://172.20.0.1/hooks",
        "http://100.64.1.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.10.10/hooks",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[fd00:ec2::254]/hooks",
        "http://[fe80::1]/hooks",
        "http://0.0.0.0/hooks",
        "ftp://example.org/hooks",
        "https://user:pw@example.org/hooks",
    ] {
        let r = app
            .post(
                "/api/v1/webhooks",
                &token,
                json!({"url": url, "event_types": ["message.created"]}),
            )
            .await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec!["url"], "{url}: {}", r.body);
    }
    // Unknown change types and an empty list: 422 too.
    let r = app
        .post(
            "/api/v1/webhooks",
            &token,
            json!({"url": "https://example.org/h", "event_types": []}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = app
        .post(
            "/api/v1/webhooks",
            &token,
            json!({"url": "https://example.org/h", "event_types": ["nope"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // At delivery time too: a subscription whose host now resolves to loopback (here written
    // straight into the database) gets no request; the attempt is logged as refused.
    let receiver = Receiver::reserve(UP, Duration::ZERO);
    let handle = receiver.listen();
    let (owner, _) = client(&app, "另一平台", &["webhooks:manage"]).await;
    let mut conn = app.db.connect();
    for host in ["localhost", "127.0.0.1"] {
        diesel::sql_query(
            "INSERT INTO webhook_subscriptions (id, owner_id, url, event_types, secret, created_at, updated_at) \
             VALUES (gen_random_uuid(), $1::uuid, $2, '{message.created}', \
                     'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now())",
        )
        .bind::<diesel::sql_types::Text, _>(&owner)
        .bind::<diesel::sql_types::Text, _>(format!("http://{host}:{}/hooks", receiver.port))
        .execute(&mut conn)
        .unwrap();
    }
    let citizen = app.token(Demo::Citizen).await;
    submit(&app, &citizen, message_body("垃圾清运")).await;
    let d = dispatcher(&app, &settings(0, 1.0, false));
    assert_eq!(d.run_once().await.unwrap(), 2);
    assert!(receiver.hits().is_empty(), "nothing reached the receiver");
    #[derive(QueryableByName, Debug)]
    struct E {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        error: Option<String>,
    }
    let errors: Vec<E> = diesel::sql_query("SELECT error FROM webhook_attempts")
        .load(&mut conn)
        .unwrap();
    assert_eq!(errors.len(), 2);
    for e in errors {
        let e = e.error.unwrap();
        assert!(e.contains("loopback"), "{e}");
    }
    // With private targets allowed, loopback is fine; metadata addresses never are.
    let open = TestApp::spawn_with(settings(0, 1.0, true)).await;
    let (_, t) = client(&open, "联络平台", &["webhooks:manage"]).await;
    subscribe(&open, &t, &receiver.url(), &["message.created"]).await;
    let r = open
        .post(
            "/api/v1/webhooks",
            &t,
            json!({"url": "http://169.254.169.254/latest", "event_types": ["message.created"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("metadata"),
        "{}",
        r.body
    );
    handle.stop(false).await;
}

#[actix_web::test]
async fn only_clients_with_the_scope_manage_and_only_their_own() {
    let app = TestApp::spawn_with(settings(0, 1.0, true)).await;
    let (_, a) = client(&app, "平台甲", &["webhooks:manage"]).await;
    let (_, b) = client(&app, "平台乙", &["webhooks:manage", "sync:read"]).await;
    let (_, sync_only) = client(&app, "平台丙", &["sync:read", "sync:write"]).await;
    let (sub, secret) = subscribe(&app, &a, "http://127.0.0.1:9/hooks", &["reply.published"]).await;
    let base = format!("/api/v1/webhooks/{sub}");
    let delivery = format!("{base}/deliveries/msg_00000000000000000000000000000000");
    let ops: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/v1/webhooks".into(),
            Some(json!({"url": "http://127.0.0.1:9/h", "event_types": ["message.created"]})),
        ),
        (Method::GET, "/api/v1/webhooks".into(), None),
        (Method::GET, base.clone(), None),
        (Method::PATCH, base.clone(), Some(json!({"active": false}))),
        (Method::DELETE, base.clone(), None),
        (Method::POST, format!("{base}/secret"), None),
        (Method::GET, format!("{base}/deliveries"), None),
        (Method::GET, delivery.clone(), None),
        (
            Method::POST,
            format!("{delivery}/redeliver"),
            Some(json!({})),
        ),
    ];
    let admin = app.token(Demo::Admin).await;
    let citizen = app.token(Demo::Citizen).await;
    for (m, path, body) in &ops {
        // Anonymous: 401; people and a client without the scope: 403, except that
        // administrators read (tested below).
        let r = app.send(m.clone(), path, None, body.clone()).await;
        r.assert_problem(401, "unauthorized");
        let readers_only = *m == Method::GET;
        for t in [&admin, &citizen, &sync_only] {
            if readers_only && t == &admin {
                continue;
            }
            let r = app
                .send_with(m.clone(), path, Some(t), body.clone(), &[("if-match", "*")])
                .await;
            r.assert_problem(403, "forbidden");
        }
    }
    // Another client does not see A's subscription: 404 on every operation on it.
    for (m, path, body) in ops.iter().skip(2) {
        let r = app
            .send_with(
                m.clone(),
                path,
                Some(&b),
                body.clone(),
                &[("if-match", "*")],
            )
            .await;
        r.assert_problem(404, "not-found");
    }
    let r = app.get("/api/v1/webhooks", &b).await;
    assert_eq!(r.body["items"], json!([]));
    let r = app.get("/api/v1/webhooks", &a).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert!(
        !r.body.to_string().contains(&secret),
        "the secret is never read back"
    );

    // The owner: read, change with If-Match, rotate, delete.
    let r = app.get(&base, &a).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("secret").is_none());
    let etag = r.header("etag").unwrap().to_owned();
    let r = app.patch(&base, &a, json!({"active": false})).await;
    r.assert_problem(428, "precondition-required");
    let r = app
        .send_with(
            Method::PATCH,
            &base,
            Some(&a),
            Some(json!({"event_types": ["reply.published", "message.created"], "active": false})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["event_types"],
        json!(["message.created", "reply.published"])
    );
    assert_eq!(r.body["active"], false);
    let r = app
        .send_with(
            Method::PATCH,
            &base,
            Some(&a),
            Some(json!({"active": true})),
            &[("if-match", &etag)],
        )
        .await;
    r.assert_problem(412, "precondition-failed");
    let r = app
        .send_with(
            Method::PATCH,
            &base,
            Some(&a),
            Some(json!({"url": "http://10.0.0.1/x"})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(
        r.status, 200,
        "private targets are allowed in this app: {}",
        r.body
    );
    let etag = r.header("etag").unwrap().to_owned();
    let r = app
        .send_with(
            Method::POST,
            &format!("{base}/secret"),
            Some(&a),
            None,
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.body["secret"].as_str().unwrap();
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    let r = app.send(Method::DELETE, &base, Some(&a), None).await;
    assert_eq!(r.status, 204);
    let r = app.get(&base, &a).await;
    r.assert_problem(404, "not-found");
}

/// Administrators trace deliveries for every client (what was sent, when, how each attempt
/// ended) without being able to change a subscription or read a secret.
#[actix_web::test]
async fn administrators_read_every_clients_subscriptions_and_logs_but_change_none() {
    let app = TestApp::spawn_with(settings(0, 1.0, true)).await;
    let (a_id, a) = client(&app, "平台甲", &["webhooks:manage"]).await;
    let (b_id, b) = client(&app, "平台乙", &["webhooks:manage"]).await;
    let (sa, secret_a) = subscribe(&app, &a, "http://127.0.0.1:9/a", &["message.created"]).await;
    let (sb, secret_b) = subscribe(&app, &b, "http://127.0.0.1:9/b", &["message.created"]).await;
    let citizen = app.token(Demo::Citizen).await;
    submit(&app, &citizen, message_body("路灯不亮")).await;
    let admin = app.token(Demo::Admin).await;

    let r = app.get("/api/v1/webhooks", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let owners: BTreeSet<(String, String)> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["owner_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        BTreeSet::from([(sa.clone(), a_id.clone()), (sb.clone(), b_id.clone())])
    );
    let text = r.body.to_string();
    assert!(!text.contains(&secret_a) && !text.contains(&secret_b));
    let r = app
        .get(&format!("/api/v1/webhooks?owner_id={b_id}"), &admin)
        .await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], sb.as_str());
    // A client's owner filter cannot widen what it sees.
    let r = app
        .get(&format!("/api/v1/webhooks?owner_id={b_id}"), &a)
        .await;
    assert_eq!(r.body["items"], json!([]));

    let r = app.get(&format!("/api/v1/webhooks/{sb}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["owner_id"], b_id.as_str());
    assert!(r.body.get("secret").is_none());
    let d = deliveries(&app, &admin, &sb, "").await;
    assert_eq!(d.len(), 1);
    let delivery = d[0]["id"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/webhooks/{sb}/deliveries/{delivery}"),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["payload"]["type"], "message.created");
    let r = app
        .get(&format!("/api/v1/webhooks/{sb}/deliveries/{delivery}"), &a)
        .await;
    r.assert_problem(404, "not-found");

    // Reading is all: every change stays with the owner.
    let base = format!("/api/v1/webhooks/{sb}");
    for (m, path, body) in [
        (Method::PATCH, base.clone(), Some(json!({"active": false}))),
        (Method::DELETE, base.clone(), None),
        (Method::POST, format!("{base}/secret"), None),
        (
            Method::POST,
            format!("{base}/deliveries/{delivery}/redeliver"),
            Some(json!({})),
        ),
    ] {
        let r = app
            .send_with(m, &path, Some(&admin), body, &[("if-match", "*")])
            .await;
        r.assert_problem(403, "forbidden");
    }
    let r = app.get(&base, &b).await;
    assert_eq!(r.body["version"], 1, "unchanged");
}

#[actix_web::test]
async fn the_outbox_commits_with_the_event_or_not_at_all() {
    let app = TestApp::spawn_with(settings(0, 1.0, true)).await;
    let (_, a) = client(&app, "平台甲", &["webhooks:manage"]).await;
    let (b_id, b) = client(&app, "平台乙", &["webhooks:manage"]).await;
    let (sa, _) = subscribe(&app, &a, "http://127.0.0.1:9/a", &["message.created"]).await;
    let (sb, _) = subscribe(
        &app,
        &b,
        "http://127.0.0.1:9/b",
        &["message.created", "reply.published"],
    )
    .await;
    let (other, _) = subscribe(&app, &b, "http://127.0.0.1:9/c", &["reply.published"]).await;
    let (inactive, _) = subscribe(&app, &a, "http://127.0.0.1:9/d", &["message.created"]).await;
    let r = app
        .send_with(
            Method::PATCH,
            &format!("/api/v1/webhooks/{inactive}"),
            Some(&a),
            Some(json!({"active": false})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(r.status, 200);

    // A committed event: exactly one delivery per matching active subscription.
    let citizen = app.token(Demo::Citizen).await;
    let m = submit(&app, &citizen, message_body("占道经营")).await;
    let mid = m["id"].as_str().unwrap().to_owned();
    let mut conn = app.db.connect();
    let per_sub = |conn: &mut PgConnection, sub: &str| {
        count(
            conn,
            &format!(
                "SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = '{sub}'"
            ),
        )
    };
    assert_eq!(per_sub(&mut conn, &sa), 1);
    assert_eq!(per_sub(&mut conn, &sb), 1);
    assert_eq!(per_sub(&mut conn, &other), 0);
    assert_eq!(per_sub(&mut conn, &inactive), 0);
    let d = &deliveries(&app, &a, &sa, "").await[0];
    assert_eq!(d["event_type"], "message.created");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"], 0);

    // An event whose transaction rolls back leaves no delivery (it was there inside it).
    let insert_two = format!(
        "INSERT INTO message_events (message_id, seq, actor_role, action, from_status, to_status, created_at, prev_hash, hash) \
         SELECT '{mid}', s, 'system', 'submit', NULL, 'submitted', now(), '\\x00', '\\x00' \
         FROM generate_series(100, 101) s"
    );
    let before = count(&mut conn, "SELECT count(*) AS n FROM webhook_deliveries");
    let r: Result<(), diesel::result::Error> = conn.transaction(|conn| {
        diesel::sql_query(&insert_two).execute(conn)?;
        // One statement, two events, two matching subscriptions: four deliveries.
        assert_eq!(
            count(conn, "SELECT count(*) AS n FROM webhook_deliveries"),
            before + 4
        );
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(r.is_err());
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM webhook_deliveries"),
        before
    );
    // Committed, the same statement leaves them.
    diesel::sql_query(&insert_two).execute(&mut conn).unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM webhook_deliveries"),
        before + 4
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT id) AS n FROM webhook_deliveries"
        ),
        before + 4,
        "each its own webhook-id"
    );

    // Through the API: a published reply reaches the `reply.published` subscribers only.
    let of_type = |conn: &mut PgConnection, sub: &str, t: &str| {
        count(
            conn,
            &format!(
                "SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = '{sub}' AND event_type = '{t}'"
            ),
        )
    };
    let liaison = crate::messages::lanzhou_liaison(&app).await;
    let id = crate::replies::in_progress(&app, &liaison, "routine").await;
    crate::replies::publish(
        &app,
        &id,
        "final",
        "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。",
    )
    .await;
    assert_eq!(of_type(&mut conn, &other, "reply.published"), 1);
    assert_eq!(of_type(&mut conn, &sb, "reply.published"), 1);
    assert_eq!(of_type(&mut conn, &sa, "reply.published"), 0);
    let d = deliveries(&app, &b, &other, "").await;
    let detail = app
        .get(
            &format!(
                "/api/v1/webhooks/{other}/deliveries/{}",
                d[0]["id"].as_str().unwrap()
            ),
            &b,
        )
        .await;
    assert_eq!(detail.body["payload"]["type"], "reply.published");
    assert_eq!(detail.body["payload"]["data"]["message_id"], id.as_str());
    assert_eq!(detail.body["payload"]["data"]["action"], "publish_reply");

    // A deactivated client's subscriptions get nothing new.
    switch_client(&app, &b_id, false).await;
    let (sb_before, sa_before) = (per_sub(&mut conn, &sb), per_sub(&mut conn, &sa));
    submit(&app, &citizen, message_body("楼道灯坏")).await;
    assert_eq!(per_sub(&mut conn, &sb), sb_before);
    assert_eq!(per_sub(&mut conn, &sa), sa_before + 1);
}

#[actix_web::test]
async fn a_batch_import_enqueues_one_delivery_per_event_without_contact_data() {
    let app = TestApp::spawn_with(settings(0, 1.0, true)).await;
    let (_, token) = client(&app, "联络平台", &["sync:write", "webhooks:manage"]).await;
    let (sub, _) = subscribe(&app, &token, "http://127.0.0.1:9/h", &["message.created"]).await;
    const N: usize = 200;
    let items: Vec<Value> = (0..N)
        .map(|i| {
            json!({
                "source": "gansu-board", "external_id": format!("B-{i}"),
                "updated_at": "2026-11-21T00:00:00Z", "submitted_at": "2026-11-20T01:02:03Z",
                "leader_id": crate::messages::leader("孙海洋"),
                "category_id": "01930000-0000-7000-8000-000000000002", "kind": "complaint",
                "title": format!("导入留言 {i}"),
                "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，请尽快修理。",
                "visibility": "public", "contact_name": "王先生", "contact_phone": "13800138000"
            })
        })
        .collect();
    let r = app
        .post("/api/v1/sync/messages", &token, json!({ "items": items }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["summary"]["created"], N, "{}", r.body["summary"]);
    let mut conn = app.db.connect();
    assert_eq!(
        count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = '{sub}'"
            )
        ),
        N as i64
    );
    #[derive(QueryableByName)]
    struct P {
        #[diesel(sql_type = diesel::sql_types::Text)]
        p: String,
    }
    let bodies: Vec<P> = diesel::sql_query("SELECT payload::text AS p FROM webhook_deliveries")
        .load(&mut conn)
        .unwrap();
    let mut ids = BTreeSet::new();
    for b in &bodies {
        assert!(
            !b.p.contains("13800138000") && !b.p.contains("王先生"),
            "{}",
            b.p
        );
        let v: Value = serde_json::from_str(&b.p).unwrap();
        assert_eq!(v["data"]["external_source"], "gansu-board");
        ids.insert(v["data"]["external_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), N);
}
