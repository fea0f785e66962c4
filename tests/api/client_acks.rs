//! Integration clients (issue 24): which client may acknowledge which reply, and that only an
//! administrator reads, changes or rotates a client.

use reqwest::Method;
use serde_json::{Value, json};

use crate::handling::{TRANSPORT_BUREAU, assign, post_with};
use crate::helpers::{Demo, Resp, TestApp};
use crate::messages::{lanzhou_liaison, message_body, submit};
use crate::replies::{in_progress, publish, sign_for};

const REPLY: &str = "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。";
/// A public reply naming its handler (张伟, the demo handler): the board masks the name.
const NAMED: &str = "该路口信号灯已于11月24日恢复正常运行。如有疑问请联系经办人张伟。";

/// A client (name, scopes, region) created by the admin: its id, client_id, secret and a token.
struct Client {
    id: String,
    client_id: String,
    secret: String,
    token: String,
}

async fn token_for(app: &TestApp, client_id: &str, secret: &str) -> Resp {
    app.send(
        Method::POST,
        "/api/v1/auth/token",
        None,
        Some(json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})),
    )
    .await
}

async fn client(app: &TestApp, scopes: &[&str], region: Option<&str>) -> Client {
    let admin = app.token(Demo::Admin).await;
    let mut body = json!({"name": format!("平台 {}", uuid::Uuid::now_v7()), "scopes": scopes});
    if let Some(r) = region {
        body["region_code"] = json!(r);
    }
    let r = app.post("/api/v1/integration-clients", &admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let client_id = r.body["client"]["client_id"].as_str().unwrap().to_owned();
    let secret = r.body["client_secret"].as_str().unwrap().to_owned();
    let t = token_for(app, &client_id, &secret).await;
    assert_eq!(t.status, 200, "{}", t.body);
    Client {
        id: r.body["client"]["id"].as_str().unwrap().to_owned(),
        client_id,
        secret,
        token: t.body["access_token"].as_str().unwrap().to_owned(),
    }
}

async fn ack(app: &TestApp, token: &str, reply: &str, board_id: &str) -> Resp {
    app.post(
        &format!("/api/v1/sync/replies/{reply}/ack"),
        token,
        json!({"board_reply_id": board_id, "url": format!("https://board.example.gov.cn/r/{board_id}")}),
    )
    .await
}

async fn unacknowledged(app: &TestApp, token: &str) -> Vec<String> {
    let r = app
        .get("/api/v1/sync/replies/unacknowledged?limit=100", token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A private message to the mayor of 兰州, signed for by the transport bureau.
async fn private_in_progress(app: &TestApp, liaison: &str) -> String {
    let mut b = message_body("私密留言");
    b["visibility"] = json!("private");
    let m = submit(app, &app.token(Demo::Citizen).await, b).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let r = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(liaison),
            Some(json!({"priority": "routine", "category_id": "01930000-0000-7000-8000-000000000002"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_with(
        app,
        &format!("/api/v1/messages/{id}/accept"),
        liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = assign(app, liaison, &id, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    sign_for(app, &app.token(Demo::Handler).await, &id).await;
    id
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Before: any client with `sync:write` acknowledged any published reply: one of 天水 a reply
/// of 兰州, one without `sync:personal` a reply of a private message (and got its text back),
/// one platform a reply to what another platform imported. A client acknowledges what its
/// unacknowledged list shows it: its region, private messages only with `sync:personal` (else
/// 404, as for no reply), and not a reply to another client's import (409).
#[actix_web::test]
async fn a_client_acknowledges_only_replies_it_may_read_and_not_another_clients() {
    let app = TestApp::spawn().await;
    let liaison = lanzhou_liaison(&app).await;
    let rw = ["sync:read", "sync:write"];
    let personal = ["sync:read", "sync:write", "sync:personal"];
    let province = client(&app, &personal, None).await;
    let public_only = client(&app, &rw, None).await;
    let tianshui = client(&app, &personal, Some("620500")).await;
    let lanzhou = client(&app, &personal, Some("620100")).await;

    // A public message of 兰州 and a private one, each with a published reply.
    let public = in_progress(&app, &liaison, "routine").await;
    let public_reply = id(&publish(&app, &public, "final", NAMED).await);
    let private = private_in_progress(&app, &liaison).await;
    let private_reply = id(&publish(&app, &private, "final", REPLY).await);
    // A message the province-wide client imported, answered here.
    let imported =
        crate::sync::imported_in_progress(&app, &province.token, &liaison, "ACK-1").await;
    let imported_reply = id(&publish(&app, &imported, "final", REPLY).await);

    // Outside its region: neither listed nor acknowledged.
    assert!(
        !unacknowledged(&app, &tianshui.token)
            .await
            .contains(&public_reply)
    );
    for reply in [&public_reply, &private_reply, &imported_reply] {
        ack(&app, &tianshui.token, reply, "TS-1")
            .await
            .assert_problem(404, "not-found");
    }
    // Without `sync:personal`: the public one, not the private one.
    let listed = unacknowledged(&app, &public_only.token).await;
    assert!(listed.contains(&public_reply));
    assert!(!listed.contains(&private_reply));
    ack(&app, &public_only.token, &private_reply, "P-1")
        .await
        .assert_problem(404, "not-found");
    // Another client's import: its own to list and acknowledge.
    assert!(
        unacknowledged(&app, &province.token)
            .await
            .contains(&imported_reply)
    );
    assert!(
        !unacknowledged(&app, &lanzhou.token)
            .await
            .contains(&imported_reply)
    );
    assert!(
        unacknowledged(&app, &lanzhou.token)
            .await
            .contains(&private_reply)
    );
    let r = ack(&app, &lanzhou.token, &imported_reply, "LZ-1").await;
    r.assert_problem(409, "conflict");
    ack(&app, &public_only.token, &imported_reply, "P-2")
        .await
        .assert_problem(409, "conflict");
    // Nothing of these refusals was recorded.
    let admin = app.token(Demo::Admin).await;
    for m in [&public, &private, &imported] {
        let r = app
            .get(&format!("/api/v1/messages/{m}/events?limit=100"), &admin)
            .await;
        let acks = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "acknowledge_reply")
            .count();
        assert_eq!(acks, 0, "{m}: {}", r.body);
    }

    // Those that may.
    let r = ack(&app, &public_only.token, &public_reply, "P-3").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["body"], "该路口信号灯已于11月24日恢复正常运行。如有疑问请联系经办人***。",
        "without sync:personal, the text as the board shows it"
    );
    let r = ack(&app, &lanzhou.token, &private_reply, "LZ-2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["body"], REPLY,
        "with sync:personal, the text as written"
    );
    let r = ack(&app, &province.token, &imported_reply, "PR-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Reading, changing and rotating a client: administrators only. Every other role, a client
/// itself included, gets 403 and changes nothing (the old secret keeps working).
#[actix_web::test]
async fn only_administrators_read_change_or_rotate_a_client() {
    let app = TestApp::spawn().await;
    let c = client(&app, &["sync:read"], None).await;
    let other = client(
        &app,
        &[
            "sync:read",
            "sync:write",
            "webhooks:manage",
            "sync:personal",
            "sync:internal",
        ],
        None,
    )
    .await;
    let path = format!("/api/v1/integration-clients/{}", c.id);
    let mut callers: Vec<(String, String)> = Vec::new();
    for who in Demo::ALL {
        if !matches!(who, Demo::Admin) {
            callers.push((format!("{who:?}"), app.token(who).await));
        }
    }
    callers.push(("the client itself".into(), c.token.clone()));
    callers.push(("another client".into(), other.token.clone()));
    for (who, token) in &callers {
        let r = app.get(&path, token).await;
        r.assert_problem(403, "forbidden");
        let r = app
            .send_with(
                Method::PATCH,
                &path,
                Some(token),
                Some(json!({"name": "改名", "scopes": ["sync:read", "sync:personal", "sync:internal"]})),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(r.status, 403, "{who} PATCH: {}", r.body);
        let r = app
            .send_with(
                Method::POST,
                &format!("{path}/secret"),
                Some(token),
                None,
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(r.status, 403, "{who} rotate: {}", r.body);
    }
    let admin = app.token(Demo::Admin).await;
    let r = app.get(&path, &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["version"], 1, "unchanged: {}", r.body);
    assert_eq!(r.body["scopes"], json!(["sync:read"]));
    let t = token_for(&app, &c.client_id, &c.secret).await;
    assert_eq!(t.status, 200, "the secret still works: {}", t.body);

    // The administrator may.
    let r = app
        .send_with(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"name": "改名"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "改名");
    let r = app
        .send_with(
            Method::POST,
            &format!("{path}/secret"),
            Some(&admin),
            None,
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(token_for(&app, &c.client_id, &c.secret).await.status, 401);
    assert_eq!(token_for(&app, &c.client_id, &secret).await.status, 200);
}
