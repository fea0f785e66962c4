//! The JWT negative suite: every malformed or misused token is a 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Demo, TestApp, test_settings};

const DEV_SECRET: &str = "liuyan-development-signing-key-not-for-production";

fn claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": "liuyan", "aud": "liuyan-api",
        "sub": uuid::Uuid::new_v4(),
        "exp": now + 600, "iat": now, "nbf": now, "jti": uuid::Uuid::new_v4(),
        "typ": "access", "role": "admin"
    })
}

/// A token signed with the development key (kid `dev`) after `edit` changed its claims.
pub fn forge(_app: &TestApp, edit: impl FnOnce(&mut Value), header: Option<Header>) -> String {
    let mut c = claims();
    edit(&mut c);
    let header = header.unwrap_or_else(|| {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("dev".into());
        h
    });
    jsonwebtoken::encode(
        &header,
        &c,
        &EncodingKey::from_secret(DEV_SECRET.as_bytes()),
    )
    .unwrap()
}

/// What a client is told about a token that does not verify: a fixed sentence, never the
/// parser's or the library's words.
const NOT_VALID: &str = "the access token is not valid";
const EXPIRED: &str = "the access token has expired";

async fn assert_rejected(app: &TestApp, token: &str, why: &str) {
    let r = app.get("/api/v1/categories", token).await;
    assert_eq!(r.status, 401, "{why}: {}", r.body);
    r.assert_problem(401, "unauthorized");
    assert!(r.header("www-authenticate").is_some());
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        [NOT_VALID, EXPIRED].contains(&detail),
        "{why}: the detail is not one of the fixed sentences: {detail}"
    );
}

#[actix_web::test]
async fn a_token_that_fails_to_verify_gets_a_fixed_detail_without_parser_internals() {
    let app = TestApp::spawn().await;
    for (field, why) in [
        ("typ", "missing typ"),
        ("role", "missing role"),
        ("jti", "missing jti"),
    ] {
        let token = forge(
            &app,
            |c| {
                c.as_object_mut().unwrap().remove(field);
            },
            None,
        );
        let r = app.get("/api/v1/categories", &token).await;
        r.assert_problem(401, "unauthorized");
        assert_eq!(r.body["detail"], NOT_VALID, "{why}: {}", r.body);
    }
    let token = forge(&app, |c| c["sub"] = json!("not-a-uuid"), None);
    let r = app.get("/api/v1/categories", &token).await;
    assert_eq!(r.body["detail"], NOT_VALID, "{}", r.body);
    let now = chrono::Utc::now().timestamp();
    let token = forge(&app, |c| c["exp"] = json!(now - 3600), None);
    let r = app.get("/api/v1/categories", &token).await;
    assert_eq!(r.body["detail"], EXPIRED, "{}", r.body);
}

#[actix_web::test]
async fn a_well_formed_forged_token_is_accepted_so_the_negatives_below_mean_something() {
    let app = TestApp::spawn().await;
    let token = forge(&app, |_| {}, None);
    assert_eq!(app.get("/api/v1/categories", &token).await.status, 200);
}

#[actix_web::test]
async fn alg_none_is_rejected() {
    let app = TestApp::spawn().await;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"dev"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    assert_rejected(&app, &format!("{header}.{payload}."), "alg none").await;
}

#[actix_web::test]
async fn another_algorithm_is_rejected() {
    let app = TestApp::spawn().await;
    let mut h = Header::new(Algorithm::HS512);
    h.kid = Some("dev".into());
    assert_rejected(&app, &forge(&app, |_| {}, Some(h)), "HS512").await;
}

#[actix_web::test]
async fn wrong_issuer_audience_and_times_are_rejected() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    assert_rejected(
        &app,
        &forge(&app, |c| c["iss"] = json!("someone-else"), None),
        "iss",
    )
    .await;
    assert_rejected(
        &app,
        &forge(&app, |c| c["aud"] = json!("other-api"), None),
        "aud",
    )
    .await;
    assert_rejected(
        &app,
        &forge(&app, |c| c["exp"] = json!(now - 3600), None),
        "expired",
    )
    .await;
    assert_rejected(
        &app,
        &forge(&app, |c| c["nbf"] = json!(now + 3600), None),
        "future nbf",
    )
    .await;
    assert_rejected(
        &app,
        &forge(
            &app,
            |c| {
                c.as_object_mut().unwrap().remove("exp");
            },
            None,
        ),
        "missing exp",
    )
    .await;
    assert_rejected(
        &app,
        &forge(&app, |c| c["typ"] = json!("refresh"), None),
        "not an access token",
    )
    .await;
    assert_rejected(
        &app,
        &forge(&app, |c| c["role"] = json!("root"), None),
        "unknown role",
    )
    .await;
}

#[actix_web::test]
async fn unknown_or_missing_kid_is_rejected() {
    let app = TestApp::spawn().await;
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("retired".into());
    assert_rejected(&app, &forge(&app, |_| {}, Some(h)), "unknown kid").await;
    assert_rejected(
        &app,
        &forge(&app, |_| {}, Some(Header::new(Algorithm::HS256))),
        "no kid",
    )
    .await;
}

#[actix_web::test]
async fn an_altered_signature_or_payload_is_rejected() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Citizen).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    sig[0] ^= 1;
    parts[2] = URL_SAFE_NO_PAD.encode(sig);
    assert_rejected(&app, &parts.join("."), "altered signature").await;
    // Privilege escalation by editing the payload.
    let mut payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    payload["role"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        token.split('.').next().unwrap(),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        token.split('.').nth(2).unwrap()
    );
    assert_rejected(&app, &forged, "edited payload").await;
    assert_rejected(&app, "not-a-jwt", "garbage").await;
}

#[actix_web::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = TestApp::spawn().await;
    let login = app
        .login_response("admin@liuyan.example", "Demo-Admin-2026")
        .await;
    assert_rejected(
        &app,
        login.body["refresh_token"].as_str().unwrap(),
        "refresh token",
    )
    .await;
}

#[actix_web::test]
async fn keys_rotate_without_logging_anyone_out() {
    // Tokens signed with the old key keep working while it is listed second.
    let old_key = "old:0123456789abcdef0123456789abcdef-old";
    let mut before = test_settings();
    before.jwt_keys = old_key.into();
    let old_app = TestApp::spawn_with(before).await;
    let old_token = old_app.token(Demo::Admin).await;

    let mut after = test_settings();
    after.jwt_keys = format!("new:fedcba9876543210fedcba9876543210-new,{old_key}");
    let new_app = TestApp::spawn_with(after).await;
    assert_eq!(
        new_app.get("/api/v1/categories", &old_token).await.status,
        200
    );
    let new_token = new_app.token(Demo::Admin).await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(new_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["kid"], "new",
        "new tokens are signed with the first key"
    );

    // Once the old key is retired, its tokens stop working.
    let mut retired = test_settings();
    retired.jwt_keys = "new:fedcba9876543210fedcba9876543210-new".into();
    let retired_app = TestApp::spawn_with(retired).await;
    assert_eq!(
        retired_app
            .get("/api/v1/categories", &old_token)
            .await
            .status,
        401
    );
}
