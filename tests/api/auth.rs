use reqwest::Method;
use serde_json::json;

use crate::helpers::{Demo, TestApp};

#[actix_web::test]
async fn a_citizen_registers_logs_in_and_reads_their_account() {
    let app = TestApp::spawn().await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "Wang.Li@Example.cn", "password": "黄河边的留言-2026", "display_name": "  王 丽 "})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["role"], "citizen");
    assert_eq!(
        r.body["email"], "wang.li@example.cn",
        "e-mail is normalised"
    );
    assert_eq!(r.body["display_name"], "王 丽");
    assert!(r.body.get("password_hash").is_none());
    assert_eq!(r.header("location"), Some("/api/v1/me"));

    let token = app.login("WANG.LI@example.cn", "黄河边的留言-2026").await;
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], "wang.li@example.cn");
    assert!(me.body["last_login_at"].is_string());
    let etag = me.header("etag").unwrap().to_owned();
    let again = app
        .send_with(
            Method::GET,
            "/api/v1/me",
            Some(&token),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, 304);
}

#[actix_web::test]
async fn registration_rejects_bad_input_and_duplicates() {
    let app = TestApp::spawn().await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "x", "password": "short", "display_name": ""})),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(
        r.failing_fields(),
        vec!["email", "password", "display_name"]
    );
    // Nobody registers as staff.
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "a@b.cn", "password": "long enough pw", "display_name": "A", "role": "admin"})),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["role"]);
    let body = json!({"email": "citizen@liuyan.example", "password": "long enough pw", "display_name": "A"});
    app.send(Method::POST, "/api/v1/auth/register", None, Some(body))
        .await
        .assert_problem(409, "conflict");
}

#[actix_web::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let unknown = app
        .login_response("nobody@liuyan.example", "Demo-Admin-2026")
        .await;
    let wrong = app
        .login_response("admin@liuyan.example", "Wrong-Password-1")
        .await;
    unknown.assert_problem(401, "unauthorized");
    wrong.assert_problem(401, "unauthorized");
    assert_eq!(unknown.body["detail"], wrong.body["detail"]);
    assert_eq!(unknown.body["title"], wrong.body["title"]);
}

#[actix_web::test]
async fn token_responses_are_not_cached_and_say_how_long_they_last() {
    let app = TestApp::spawn().await;
    let r = app
        .login_response("admin@liuyan.example", "Demo-Admin-2026")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert!(r.body["refresh_token"].as_str().unwrap().starts_with("rt_"));
}

async fn refresh(app: &TestApp, token: &str) -> crate::helpers::Resp {
    app.send(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": token})),
    )
    .await
}

#[actix_web::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    let login = app
        .login_response("handler@liuyan.example", "Demo-Handler-2026")
        .await;
    let first = login.body["refresh_token"].as_str().unwrap().to_owned();

    let r1 = refresh(&app, &first).await;
    assert_eq!(r1.status, 200, "{}", r1.body);
    let second = r1.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let access = r1.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", access).await.status, 200);

    // Replaying the used token is theft: it fails, and so does the legitimate successor.
    refresh(&app, &first)
        .await
        .assert_problem(401, "unauthorized");
    refresh(&app, &second)
        .await
        .assert_problem(401, "unauthorized");

    // A new login starts a new, working family.
    let login = app
        .login_response("handler@liuyan.example", "Demo-Handler-2026")
        .await;
    let fresh = login.body["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&app, fresh).await.status, 200);
}

#[actix_web::test]
async fn logout_revokes_the_session() {
    let app = TestApp::spawn().await;
    let login = app
        .login_response("citizen@liuyan.example", "Demo-Citizen-2026")
        .await;
    let rt = login.body["refresh_token"].as_str().unwrap().to_owned();
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": rt})),
        )
        .await;
    assert_eq!(r.status, 204);
    refresh(&app, &rt).await.assert_problem(401, "unauthorized");
    // Logging out again is harmless.
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": rt})),
        )
        .await;
    assert_eq!(r.status, 204);
    refresh(&app, "rt_unknown")
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn deactivated_accounts_cannot_log_in_or_refresh() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let login = app
        .login_response("analyst@liuyan.example", "Demo-Analyst-2026")
        .await;
    let rt = login.body["refresh_token"].as_str().unwrap().to_owned();
    let me = app
        .get("/api/v1/me", login.body["access_token"].as_str().unwrap())
        .await;
    let id = me.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.login_response("analyst@liuyan.example", "Demo-Analyst-2026")
        .await
        .assert_problem(401, "unauthorized");
    refresh(&app, &rt).await.assert_problem(401, "unauthorized");
}

/// The answer without what differs between any two requests.
fn comparable(r: &crate::helpers::Resp) -> serde_json::Value {
    let mut body = r.body.clone();
    body.as_object_mut().unwrap().remove("request_id");
    json!({
        "status": r.status.as_u16(),
        "www-authenticate": r.header("www-authenticate"),
        "content-type": r.header("content-type"),
        "body": body,
    })
}

#[actix_web::test]
async fn a_deactivated_account_answers_like_a_wrong_password() {
    // Whether the password is right must not tell whether the account is deactivated.
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let analyst = app.token(Demo::Analyst).await;
    let me = app.get("/api/v1/me", &analyst).await;
    let id = me.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let attempts = [
        ("citizen@liuyan.example", "not-the-password"),
        ("analyst@liuyan.example", "Demo-Analyst-2026"),
        ("analyst@liuyan.example", "not-the-password"),
    ];
    let mut answers = Vec::new();
    let mut medians = Vec::new();
    for (email, password) in attempts {
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let r = app.login_response(email, password).await;
            times.push(start.elapsed());
            r.assert_problem(401, "unauthorized");
            answers.push(comparable(&r));
        }
        times.sort();
        medians.push(times[2]);
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "one answer for all: {answers:#?}"
    );
    // The same work (a password hash check) for each: roughly the same time.
    let (fastest, slowest) = (medians.iter().min().unwrap(), medians.iter().max().unwrap());
    assert!(
        *slowest < *fastest * 3,
        "answer times differ too much: {medians:?}"
    );
}

#[actix_web::test]
async fn service_accounts_have_no_me() {
    // `integration` tokens are issued to liaison-platform clients; they have no user account.
    let app = TestApp::spawn().await;
    let token = crate::jwt::forge(&app, |c| c["role"] = json!("integration"), None);
    app.get("/api/v1/me", &token)
        .await
        .assert_problem(403, "forbidden");
}
