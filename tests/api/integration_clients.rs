//! Integration clients: created by administrators with a secret shown once and stored hashed;
//! `client_credentials` tokens carry the granted scopes; rotation, deactivation, scopes asked
//! for; every role but admin is refused; the account cannot be changed as a user.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, TestApp};

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn token(app: &TestApp, body: Value) -> crate::helpers::Resp {
    app.send(Method::POST, "/api/v1/auth/token", None, Some(body))
        .await
}

#[actix_web::test]
async fn a_client_gets_scoped_tokens_with_its_secret() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/integration-clients",
            &admin,
            json!({"name": " 甘肃省网上群众工作联络平台 ", "scopes": ["sync:write", "sync:read"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let client = r.body["client"].clone();
    let id = client["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/integration-clients/{id}").as_str())
    );
    assert_eq!(client["name"], "甘肃省网上群众工作联络平台");
    assert_eq!(client["scopes"], json!(["sync:read", "sync:write"]));
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let secret = r.body["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("lys_") && secret.len() == 47);

    // At rest: only the hash, never the secret.
    let mut conn = app.db.connect();
    let (hash, email, role): (Vec<u8>, String, String) = liuyan::schema::integration_clients::table
        .inner_join(liuyan::schema::users::table)
        .filter(liuyan::schema::integration_clients::client_id.eq(&client_id))
        .select((
            liuyan::schema::integration_clients::secret_hash,
            liuyan::schema::users::email,
            liuyan::schema::users::role,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!(
        hash,
        liuyan::store::integration_clients::hash_secret(&secret)
    );
    assert_eq!(role, "integration");
    let dump: String =
        diesel::sql_query("SELECT string_agg(t::text, '') AS s FROM integration_clients t")
            .get_result::<Dump>(&mut conn)
            .unwrap()
            .s;
    assert!(!dump.contains(&secret[4..]));
    // GET never shows it.
    let r = app
        .get(&format!("/api/v1/integration-clients/{id}"), &admin)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("client_secret").is_none());
    assert!(!r.body.to_string().contains(&secret));

    // A token with every scope it holds, no refresh token.
    let t = token(
        &app,
        json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.body["scope"], "sync:read sync:write");
    assert!(t.body.get("refresh_token").is_none());
    let access = t.body["access_token"].as_str().unwrap().to_owned();
    let c = claims(&access);
    assert_eq!(c["role"], "integration");
    assert_eq!(c["sub"], id);
    assert_eq!(c["scope"], "sync:read sync:write");
    // Fewer scopes when asked; one it does not hold: 422 invalid_scope.
    let t = token(
        &app,
        json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": "sync:read"}),
    )
    .await;
    assert_eq!(t.status, 200);
    assert_eq!(
        claims(t.body["access_token"].as_str().unwrap())["scope"],
        "sync:read"
    );
    let t = token(
        &app,
        json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": "webhooks:manage"}),
    )
    .await;
    assert_eq!(t.status, 422, "{}", t.body);
    assert_eq!(t.body["errors"][0]["field"], "scope");
    // Wrong secret, unknown client: the same 401.
    for (cid, sec) in [
        (client_id.as_str(), "lys_wrong"),
        ("lyc_00000000000000000000000000000000", secret.as_str()),
    ] {
        let t = token(
            &app,
            json!({"grant_type": "client_credentials", "client_id": cid, "client_secret": sec}),
        )
        .await;
        assert_eq!(t.status, 401, "{}", t.body);
        assert_eq!(
            t.body["detail"],
            "the client id or the client secret is wrong"
        );
    }
    // Mixed-up grants: 422.
    for body in [
        json!({"grant_type": "client_credentials", "client_id": client_id}),
        json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "email": "a@b.c"}),
        json!({"grant_type": "password", "email": "admin@liuyan.example"}),
        json!({"grant_type": "password", "email": "admin@liuyan.example", "password": "Demo-Admin-2026", "client_id": client_id}),
        json!({"grant_type": "authorization_code", "client_id": client_id}),
    ] {
        let t = token(&app, body.clone()).await;
        assert_eq!(t.status, 422, "{body}: {}", t.body);
    }
    // The account never logs in with a password.
    let t = token(
        &app,
        json!({"grant_type": "password", "email": email, "password": "!"}),
    )
    .await;
    assert_eq!(t.status, 401);
    // The token authenticates as an integration client: the public board answers, staff
    // operations refuse the role.
    let r = app.get("/api/v1/public/messages?limit=1", &access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for path in ["/api/v1/messages?limit=1", "/api/v1/users", "/api/v1/me"] {
        let r = app.get(path, &access).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }

    // Rotation: If-Match; the old secret stops working, the new one works.
    let current = app
        .get(&format!("/api/v1/integration-clients/{id}"), &admin)
        .await;
    let etag = current.header("etag").unwrap().to_owned();
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/integration-clients/{id}/secret"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 428);
    let r = app
        .send_with(
            Method::POST,
            &format!("/api/v1/integration-clients/{id}/secret"),
            Some(&admin),
            None,
            &[("If-Match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_secret = r.body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let old = token(
        &app,
        json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}),
    )
    .await;
    assert_eq!(old.status, 401);
    let new = token(
        &app,
        json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": new_secret}),
    )
    .await;
    assert_eq!(new.status, 200);

    // Scopes changed and deactivated: no token (403), and listed as such.
    let current = app
        .get(&format!("/api/v1/integration-clients/{id}"), &admin)
        .await;
    let r = app
        .send_with(
            Method::PATCH,
            &format!("/api/v1/integration-clients/{id}"),
            Some(&admin),
            Some(json!({"scopes": ["sync:read"], "active": false})),
            &[("If-Match", current.header("etag").unwrap())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scopes"], json!(["sync:read"]));
    let t = token(
        &app,
        json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": new_secret}),
    )
    .await;
    assert_eq!(t.status, 403, "{}", t.body);
    let r = app
        .send_with(
            Method::PATCH,
            &format!("/api/v1/integration-clients/{id}"),
            Some(&admin),
            Some(json!({"active": true})),
            &[("If-Match", current.header("etag").unwrap())],
        )
        .await;
    assert_eq!(r.status, 412, "stale ETag");
    let list = app.get("/api/v1/integration-clients", &admin).await;
    assert_eq!(list.status, 200);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["active"], false);

    // Its account is not changed through /users.
    let r = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .send_with(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            Some(json!({"role": "admin"})),
            &[("If-Match", r.header("etag").unwrap())],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
}

#[derive(QueryableByName)]
struct Dump {
    #[diesel(sql_type = diesel::sql_types::Text)]
    s: String,
}

#[actix_web::test]
async fn only_administrators_manage_clients_and_input_is_checked() {
    let app = TestApp::spawn().await;
    for who in Demo::ALL {
        if matches!(who, Demo::Admin) {
            continue;
        }
        let t = app.token(who).await;
        let r = app
            .post(
                "/api/v1/integration-clients",
                &t,
                json!({"name": "x", "scopes": []}),
            )
            .await;
        assert_eq!(r.status, 403, "{who:?}");
        assert_eq!(
            app.get("/api/v1/integration-clients", &t).await.status,
            403,
            "{who:?}"
        );
    }
    let admin = app.token(Demo::Admin).await;
    for bad in [
        json!({"name": "", "scopes": []}),
        json!({"name": "   ", "scopes": []}),
        json!({"name": "x".repeat(101), "scopes": []}),
        json!({"name": "x", "scopes": ["admin"]}),
        json!({"name": "x"}),
        json!({"name": "x", "scopes": [], "secret": "mine"}),
    ] {
        let r = app
            .post("/api/v1/integration-clients", &admin, bad.clone())
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
    let r = app
        .get(
            "/api/v1/integration-clients/01936f00-0000-7000-8000-000000000c01",
            &admin,
        )
        .await;
    assert_eq!(r.status, 404);
    // A client without scopes gets a token that holds none.
    let r = app
        .post(
            "/api/v1/integration-clients",
            &admin,
            json!({"name": "只读", "scopes": []}),
        )
        .await;
    assert_eq!(r.status, 201);
    let t = token(
        &app,
        json!({"grant_type": "client_credentials", "client_id": r.body["client"]["client_id"], "client_secret": r.body["client_secret"]}),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.body["scope"], "");
    assert!(
        claims(t.body["access_token"].as_str().unwrap())
            .get("scope")
            .is_none()
    );
}
