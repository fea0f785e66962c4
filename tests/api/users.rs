//! Account management, including object-level authorization between units.

use serde_json::json;

use crate::helpers::{Demo, TestApp, unit};

fn handler_body(email: &str, unit_id: &str) -> serde_json::Value {
    json!({"email": email, "password": "a long password", "display_name": "新同事", "role": "handler", "unit_id": unit_id})
}

#[actix_web::test]
async fn only_admins_and_unit_admins_manage_accounts() {
    let app = TestApp::spawn().await;
    let transport = unit("兰州市交通运输局");
    for who in [
        Demo::Citizen,
        Demo::Handler,
        Demo::Reviewer,
        Demo::Supervisor,
        Demo::Leader,
        Demo::Analyst,
        Demo::Liaison,
    ] {
        let token = app.token(who).await;
        app.get("/api/v1/users", &token)
            .await
            .assert_problem(403, "forbidden");
        app.post(
            "/api/v1/users",
            &token,
            handler_body("x@example.cn", &transport),
        )
        .await
        .assert_problem(403, "forbidden");
        let me = app.get("/api/v1/me", &token).await;
        let id = me.body["id"].as_str().unwrap();
        app.get(&format!("/api/v1/users/{id}"), &token)
            .await
            .assert_problem(403, "forbidden");
        app.patch(
            &format!("/api/v1/users/{id}"),
            &token,
            json!({"display_name": "x"}),
        )
        .await
        .assert_problem(403, "forbidden");
    }
}

#[actix_web::test]
async fn a_unit_admin_sees_and_manages_only_their_own_unit() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let ua = app.token(Demo::UnitAdmin).await;
    let transport = unit("兰州市交通运输局");
    let education = unit("兰州市教育局");

    // Lists are confined to the unit.
    let own = app.get("/api/v1/users?limit=100", &ua).await;
    assert_eq!(own.status, 200);
    let units: Vec<&str> = own.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["unit_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        units.len(),
        3,
        "handler, unit admin and reviewer of the transport bureau"
    );
    assert!(units.iter().all(|u| *u == transport));
    app.get(&format!("/api/v1/users?unit_id={education}"), &ua)
        .await
        .assert_problem(403, "forbidden");
    let everyone = app.get("/api/v1/users?limit=100", &admin).await;
    assert_eq!(
        everyone.body["items"].as_array().unwrap().len(),
        liuyan::seed::USERS.len()
    );

    // Another unit's account does not exist for them.
    let other = app
        .post(
            "/api/v1/users",
            &admin,
            handler_body("edu@example.cn", &education),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.body);
    let other_id = other.body["id"].as_str().unwrap();
    app.get(&format!("/api/v1/users/{other_id}"), &ua)
        .await
        .assert_problem(404, "not-found");
    app.patch(
        &format!("/api/v1/users/{other_id}"),
        &ua,
        json!({"display_name": "改名"}),
    )
    .await
    .assert_problem(404, "not-found");
    assert_eq!(
        app.get(&format!("/api/v1/users/{other_id}"), &admin)
            .await
            .status,
        200
    );

    // Creating: own unit yes; another unit or a higher role no.
    let mine = app
        .post(
            "/api/v1/users",
            &ua,
            handler_body("mine@example.cn", &transport),
        )
        .await;
    assert_eq!(mine.status, 201, "{}", mine.body);
    app.post(
        "/api/v1/users",
        &ua,
        handler_body("theirs@example.cn", &education),
    )
    .await
    .assert_problem(403, "forbidden");
    let mut admin_body = handler_body("boss@example.cn", &transport);
    admin_body["role"] = json!("admin");
    app.post("/api/v1/users", &ua, admin_body)
        .await
        .assert_problem(403, "forbidden");

    // Editing: promote within the unit's roles yes; to supervisor or into another unit no.
    let mine_id = mine.body["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/users/{mine_id}"),
            &ua,
            json!({"role": "reviewer"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "reviewer");
    app.patch(
        &format!("/api/v1/users/{mine_id}"),
        &ua,
        json!({"role": "supervisor", "scope_region_code": "620100"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.patch(
        &format!("/api/v1/users/{mine_id}"),
        &ua,
        json!({"unit_id": education}),
    )
    .await
    .assert_problem(403, "forbidden");
    let unchanged = app.get(&format!("/api/v1/users/{mine_id}"), &admin).await;
    assert_eq!(unchanged.body["role"], "reviewer");
    assert_eq!(unchanged.body["unit_id"], transport);
}

#[actix_web::test]
async fn roles_need_their_placement() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post("/api/v1/users", &admin, json!({"email": "sup@example.cn", "password": "a long password", "display_name": "督查", "role": "supervisor"}))
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["scope_region_code"]);
    let r = app
        .post("/api/v1/users", &admin, json!({"email": "h@example.cn", "password": "a long password", "display_name": "办理", "role": "handler"}))
        .await;
    assert_eq!(r.failing_fields(), vec!["unit_id"]);
    let r = app
        .post("/api/v1/users", &admin, json!({"email": "i@example.cn", "password": "a long password", "display_name": "机器", "role": "integration"}))
        .await;
    assert_eq!(r.failing_fields(), vec!["role"]);
    let r = app
        .post("/api/v1/users", &admin, json!({"email": "s@example.cn", "password": "a long password", "display_name": "督查",
            "role": "supervisor", "scope_region_code": "620500", "unit_id": unit("天水市人民政府办公室")}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The new supervisor can log in and their token carries the scope.
    let token = app.login("s@example.cn", "a long password").await;
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.body["scope_region_code"], "620500");
}

#[actix_web::test]
async fn nobody_demotes_or_deactivates_themselves() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let me = app.get("/api/v1/me", &admin).await;
    let id = me.body["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/users/{id}"),
        &admin,
        json!({"role": "citizen"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.patch(
        &format!("/api/v1/users/{id}"),
        &admin,
        json!({"active": false}),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"display_name": "管理员"}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn a_password_change_ends_sessions_and_the_new_password_works() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let login = app
        .login_response("reviewer@liuyan.example", "Demo-Reviewer-2026")
        .await;
    let rt = login.body["refresh_token"].as_str().unwrap().to_owned();
    let me = app
        .get("/api/v1/me", login.body["access_token"].as_str().unwrap())
        .await;
    let id = me.body["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"password": "short"}),
        )
        .await;
    assert_eq!(r.failing_fields(), vec!["password"]);
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"password": "a brand new password"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let refreshed = app
        .send(
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": rt})),
        )
        .await;
    refreshed.assert_problem(401, "unauthorized");
    app.login_response("reviewer@liuyan.example", "Demo-Reviewer-2026")
        .await
        .assert_problem(401, "unauthorized");
    app.login("reviewer@liuyan.example", "a brand new password")
        .await;
}
