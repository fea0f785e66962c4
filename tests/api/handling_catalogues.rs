//! The handling catalogues: working-day calendar, deadline policies, dispatch rules, and the
//! routing suggestions computed from the dispatch catalogue.

use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, Resp, TestApp, unit};
use crate::messages::{lanzhou_liaison, message_body, submit};

const TRANSPORT: &str = "01930000-0000-7000-8000-000000000002";
const EDUCATION: &str = "01930000-0000-7000-8000-000000000003";
const HEALTH: &str = "01930000-0000-7000-8000-000000000004";
const EMPLOYMENT: &str = "01930000-0000-7000-8000-000000000005";
const DEFAULT_IMPORTANT: &str = "00000000-0000-7000-8000-00000000d001";
const DEFAULT_ROUTINE: &str = "00000000-0000-7000-8000-00000000d002";

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    app.send(Method::PUT, path, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: Option<&str>) -> Resp {
    app.send(Method::DELETE, path, token, None).await
}

async fn patch_if(app: &TestApp, path: &str, token: &str, etag: &str, body: Value) -> Resp {
    app.send_with(
        Method::PATCH,
        path,
        Some(token),
        Some(body),
        &[("if-match", etag)],
    )
    .await
}

fn days_of(r: &Resp) -> Vec<(String, bool, String)> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["working"].as_bool().unwrap(),
                d["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Calendar

#[actix_web::test]
async fn the_seeded_2026_calendar_holds_only_days_that_differ_from_the_week() {
    let app = TestApp::spawn().await;
    let handler = app.token(Demo::Handler).await;
    let r = app
        .get(
            "/api/v1/calendar/days?from=2026-01-01&to=2026-12-31",
            &handler,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["from"].as_str(), r.body["to"].as_str()),
        (Some("2026-01-01"), Some("2026-12-31"))
    );
    let days = days_of(&r);
    assert_eq!(days.len(), 25, "{days:?}");
    let sorted = {
        let mut d = days.clone();
        d.sort();
        d
    };
    assert_eq!(days, sorted, "ordered by day");
    let find = |day: &str| days.iter().find(|d| d.0 == day).cloned();
    assert_eq!(
        find("2026-01-01"),
        Some(("2026-01-01".into(), false, "holiday".into()))
    );
    assert_eq!(
        find("2026-01-04"),
        Some(("2026-01-04".into(), true, "make_up_workday".into()))
    );
    assert_eq!(
        find("2026-10-10"),
        Some(("2026-10-10".into(), true, "make_up_workday".into()))
    );
    assert_eq!(
        find("2026-01-03"),
        None,
        "a Saturday off is the default, not stored"
    );
    assert_eq!(find("2026-10-03"), None);
    assert_eq!(r.body["items"][0]["note"], "元旦");

    // A narrower range; and the default range is the current year.
    let r = app
        .get(
            "/api/v1/calendar/days?from=2026-10-01&to=2026-10-31",
            &handler,
        )
        .await;
    let days: Vec<String> = days_of(&r).into_iter().map(|d| d.0).collect();
    assert_eq!(
        days,
        vec![
            "2026-10-01",
            "2026-10-02",
            "2026-10-05",
            "2026-10-06",
            "2026-10-07",
            "2026-10-10"
        ]
    );
    let r = app.get("/api/v1/calendar/days", &handler).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let from = r.body["from"].as_str().unwrap();
    let to = r.body["to"].as_str().unwrap();
    assert!(
        from.ends_with("-01-01") && to.ends_with("-12-31") && from[..4] == to[..4],
        "{from} {to}"
    );

    // Every staff role reads it; citizens do not; anonymous callers get 401.
    for who in [
        Demo::UnitAdmin,
        Demo::Reviewer,
        Demo::Supervisor,
        Demo::Leader,
        Demo::Analyst,
        Demo::Admin,
    ] {
        let token = app.token(who).await;
        let r = app.get("/api/v1/calendar/days", &token).await;
        assert_eq!(r.status, 200, "{who:?}");
    }
    let citizen = app.token(Demo::Citizen).await;
    app.get("/api/v1/calendar/days", &citizen)
        .await
        .assert_problem(403, "forbidden");
    app.send(Method::GET, "/api/v1/calendar/days", None, None)
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn admins_set_and_remove_calendar_overrides() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let path = "/api/v1/calendar/days/2027-01-01";
    let r = put(
        &app,
        path,
        &admin,
        json!({"working": false, "note": " 元旦 "}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["day"], "2027-01-01");
    assert_eq!(r.body["kind"], "holiday");
    assert_eq!(r.body["note"], "元旦", "notes are trimmed");
    let r = put(
        &app,
        path,
        &admin,
        json!({"working": false, "note": "元旦假期"}),
    )
    .await;
    assert_eq!(r.status, 200, "replacing answers 200: {}", r.body);
    assert_eq!(r.body["note"], "元旦假期");

    // Kinds follow the weekday.
    let r = put(
        &app,
        "/api/v1/calendar/days/2027-01-02",
        &admin,
        json!({"working": false}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["kind"].as_str()),
        (201, Some("weekend"))
    );
    assert_eq!(r.body["note"], "");
    let r = put(
        &app,
        "/api/v1/calendar/days/2027-01-09",
        &admin,
        json!({"working": true, "note": "调休"}),
    )
    .await;
    assert_eq!(r.body["kind"], "make_up_workday");
    let r = put(
        &app,
        "/api/v1/calendar/days/2027-01-08",
        &admin,
        json!({"working": true}),
    )
    .await;
    assert_eq!(r.body["kind"], "working");

    let r = app
        .get(
            "/api/v1/calendar/days?from=2027-01-01&to=2027-01-31",
            &admin,
        )
        .await;
    let days: Vec<String> = days_of(&r).into_iter().map(|d| d.0).collect();
    assert_eq!(
        days,
        vec!["2027-01-01", "2027-01-02", "2027-01-08", "2027-01-09"]
    );

    // The store function the deadline code uses sees the same.
    {
        let mut conn = app.db.connect();
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let o = liuyan::store::calendar::overrides(&mut conn, d("2027-01-01"), d("2027-01-08"))
            .unwrap();
        assert_eq!(
            o,
            vec![
                (d("2027-01-01"), false),
                (d("2027-01-02"), false),
                (d("2027-01-08"), true)
            ]
        );
    }

    assert_eq!(delete(&app, path, Some(&admin)).await.status, 204);
    delete(&app, path, Some(&admin))
        .await
        .assert_problem(404, "not-found");
    let r = app
        .get(
            "/api/v1/calendar/days?from=2027-01-01&to=2027-01-01",
            &admin,
        )
        .await;
    assert_eq!(r.body["items"], json!([]));
}

#[actix_web::test]
async fn calendar_input_is_validated() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    for bad in [
        "2026-13-01",
        "2026-02-30",
        "2026-1-1",
        "20260101",
        "1999-12-31",
        "2101-01-01",
        "today",
    ] {
        let r = put(
            &app,
            &format!("/api/v1/calendar/days/{bad}"),
            &admin,
            json!({"working": false}),
        )
        .await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec!["day"], "{bad}");
        let r = delete(&app, &format!("/api/v1/calendar/days/{bad}"), Some(&admin)).await;
        r.assert_problem(422, "validation-failed");
    }
    put(
        &app,
        "/api/v1/calendar/days/",
        &admin,
        json!({"working": false}),
    )
    .await
    .assert_problem(404, "not-found");
    let r = put(
        &app,
        "/api/v1/calendar/days/2027-05-01",
        &admin,
        json!({"working": false, "note": "节".repeat(101)}),
    )
    .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["note"]);
    let r = put(
        &app,
        "/api/v1/calendar/days/2027-05-01",
        &admin,
        json!({"note": "劳动节"}),
    )
    .await;
    assert_eq!(r.failing_fields(), vec!["working"]);

    for (query, field) in [
        ("from=2026-01-01&to=2029-01-02", "to"),
        ("from=2026-01-01&to=2035-12-31", "to"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("from=2026-01-01&to=2026-1-02", "to"),
        ("from=2100-12-01&to=2101-01-01", "to"),
        ("from=2026-02-30&to=2026-03-01", "from"),
        ("from=1990-01-01&to=1990-02-01", "from"),
    ] {
        let r = app
            .get(&format!("/api/v1/calendar/days?{query}"), &admin)
            .await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec![field], "{query}");
    }
    let r = app
        .get(
            "/api/v1/calendar/days?from=2026-01-01&to=2029-01-01",
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "three years is the limit: {}", r.body);
    // A missing end is the other end's year's first or last day.
    let r = app
        .get("/api/v1/calendar/days?from=2026-10-06", &admin)
        .await;
    assert_eq!(
        (r.body["from"].as_str(), r.body["to"].as_str()),
        (Some("2026-10-06"), Some("2026-12-31"))
    );
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3, "{}", r.body);
    let r = app.get("/api/v1/calendar/days?to=2026-01-02", &admin).await;
    assert_eq!(
        (r.body["from"].as_str(), r.body["to"].as_str()),
        (Some("2026-01-01"), Some("2026-01-02"))
    );
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.body);
}

#[actix_web::test]
async fn only_admins_change_the_calendar() {
    let app = TestApp::spawn().await;
    for who in [
        Demo::Handler,
        Demo::Supervisor,
        Demo::UnitAdmin,
        Demo::Citizen,
    ] {
        let token = app.token(who).await;
        put(
            &app,
            "/api/v1/calendar/days/2026-01-01",
            &token,
            json!({"working": true}),
        )
        .await
        .assert_problem(403, "forbidden");
        delete(&app, "/api/v1/calendar/days/2026-01-01", Some(&token))
            .await
            .assert_problem(403, "forbidden");
    }
    app.send(
        Method::PUT,
        "/api/v1/calendar/days/2026-01-01",
        None,
        Some(json!({"working": true})),
    )
    .await
    .assert_problem(401, "unauthorized");
    delete(&app, "/api/v1/calendar/days/2026-01-01", None)
        .await
        .assert_problem(401, "unauthorized");
    let admin = app.token(Demo::Admin).await;
    let r = app
        .get(
            "/api/v1/calendar/days?from=2026-01-01&to=2026-01-01",
            &admin,
        )
        .await;
    assert_eq!(r.body["items"][0]["working"], false, "unchanged");
}

// ---------------------------------------------------------------------------------------------
// Deadline policies

#[actix_web::test]
async fn deadline_policies_are_listed_created_and_changed() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let handler = app.token(Demo::Handler).await;

    let r = app.get("/api/v1/deadline-policies", &handler).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], DEFAULT_IMPORTANT);
    assert_eq!(items[0]["reply_days"], 5);
    assert_eq!(items[0]["is_default"], true);
    assert_eq!(items[1]["id"], DEFAULT_ROUTINE);
    assert_eq!(items[1]["reply_days"], 15);

    let r = app
        .post(
            "/api/v1/deadline-policies",
            &admin,
            json!({"priority": "routine", "message_kind": "help_request", "category_id": EMPLOYMENT,
                   "sign_for_days": 1, "reply_days": 10}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (
            &r.body["due_soon_days"],
            &r.body["max_extensions"],
            &r.body["max_extension_days"]
        ),
        (&json!(1), &json!(2), &json!(15)),
        "defaults"
    );
    assert_eq!(r.body["is_default"], false);
    assert_eq!(r.header("etag"), Some("\"1\""));
    let location = r.header("location").unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/deadline-policies/{id}"));
    let got = app.get(&location, &handler).await;
    assert_eq!(got.body, r.body);

    // Same scope again: 409; a priority alone is the default's scope: 409 too.
    app.post(
        "/api/v1/deadline-policies",
        &admin,
        json!({"priority": "routine", "message_kind": "help_request", "category_id": EMPLOYMENT,
               "sign_for_days": 2, "reply_days": 12}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/deadline-policies",
        &admin,
        json!({"priority": "important", "sign_for_days": 1, "reply_days": 3}),
    )
    .await
    .assert_problem(409, "conflict");
    // Other scopes are fine.
    let r = app
        .post(
            "/api/v1/deadline-policies",
            &admin,
            json!({"priority": "important", "message_kind": "help_request", "sign_for_days": 0,
                   "reply_days": 3, "due_soon_days": 0, "max_extensions": 0, "max_extension_days": 0}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Filters.
    let r = app
        .get("/api/v1/deadline-policies?priority=routine", &handler)
        .await;
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![DEFAULT_ROUTINE, id.as_str()]);

    // PATCH needs If-Match: 428 without, 412 when stale.
    let path = format!("/api/v1/deadline-policies/{id}");
    app.patch(&path, &admin, json!({"reply_days": 8}))
        .await
        .assert_problem(428, "precondition-required");
    patch_if(&app, &path, &admin, "\"7\"", json!({"reply_days": 8}))
        .await
        .assert_problem(412, "precondition-failed");
    let r = patch_if(
        &app,
        &path,
        &admin,
        "\"1\"",
        json!({"reply_days": 8, "active": false}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["reply_days"].as_i64(),
            r.body["active"].as_bool(),
            r.body["version"].as_i64()
        ),
        (Some(8), Some(false), Some(2))
    );
    assert_eq!(r.header("etag"), Some("\"2\""));
    let r = app
        .get(
            "/api/v1/deadline-policies?priority=routine&active=false",
            &handler,
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    // The scope never changes.
    patch_if(
        &app,
        &path,
        &admin,
        "\"2\"",
        json!({"priority": "important"}),
    )
    .await
    .assert_problem(422, "validation-failed");
    patch_if(&app, &path, &admin, "\"2\"", json!({}))
        .await
        .assert_problem(422, "validation-failed");

    // The defaults: limits change, deactivation does not.
    let default = format!("/api/v1/deadline-policies/{DEFAULT_ROUTINE}");
    let r = patch_if(&app, &default, &admin, "\"1\"", json!({"active": false})).await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), vec!["active"]);
    let r = patch_if(
        &app,
        &default,
        &admin,
        "\"1\"",
        json!({"reply_days": 14, "active": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["reply_days"], 14);

    // Unknown ids.
    let missing = "/api/v1/deadline-policies/00000000-0000-7000-8000-0000000000ff";
    app.get(missing, &handler)
        .await
        .assert_problem(404, "not-found");
    app.get("/api/v1/deadline-policies/not-a-uuid", &handler)
        .await
        .assert_problem(404, "not-found");
    patch_if(&app, missing, &admin, "\"1\"", json!({"reply_days": 3}))
        .await
        .assert_problem(404, "not-found");
}

#[actix_web::test]
async fn deadline_policy_input_is_validated() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let base = json!({"priority": "routine", "message_kind": "complaint", "sign_for_days": 1, "reply_days": 10});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("reply_days", json!(0)), "reply_days"),
        (with("reply_days", json!(181)), "reply_days"),
        (with("sign_for_days", json!(31)), "sign_for_days"),
        (with("sign_for_days", json!(-1)), "sign_for_days"),
        (with("due_soon_days", json!(31)), "due_soon_days"),
        (with("max_extensions", json!(11)), "max_extensions"),
        (with("max_extension_days", json!(181)), "max_extension_days"),
        (with("priority", json!("urgent")), "priority"),
        (with("message_kind", json!("praise")), "message_kind"),
        (with("reply_days", json!(null)), "reply_days"),
        (
            with("category_id", json!("00000000-0000-7000-8000-0000000000ff")),
            "category_id",
        ),
    ] {
        let r = app
            .post("/api/v1/deadline-policies", &admin, body.clone())
            .await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec![field], "{body}");
    }
    // A deactivated category cannot get a policy.
    let r = app
        .get(&format!("/api/v1/categories/{HEALTH}"), &admin)
        .await;
    let etag = r.header("etag").unwrap().to_owned();
    let r = patch_if(
        &app,
        &format!("/api/v1/categories/{HEALTH}"),
        &admin,
        &etag,
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = app
        .post(
            "/api/v1/deadline-policies",
            &admin,
            with("category_id", json!(HEALTH)),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.body["errors"][0]["code"], "inactive");
    // 7.0 is an integer.
    let r = app
        .post(
            "/api/v1/deadline-policies",
            &admin,
            with("reply_days", json!(7.0)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["reply_days"], 7);
}

#[actix_web::test]
async fn only_admins_write_deadline_policies() {
    let app = TestApp::spawn().await;
    let path = format!("/api/v1/deadline-policies/{DEFAULT_IMPORTANT}");
    let body = json!({"priority": "important", "message_kind": "complaint", "sign_for_days": 1, "reply_days": 4});
    for who in [
        Demo::Handler,
        Demo::Supervisor,
        Demo::UnitAdmin,
        Demo::Leader,
    ] {
        let token = app.token(who).await;
        assert_eq!(app.get(&path, &token).await.status, 200, "{who:?} reads");
        app.post("/api/v1/deadline-policies", &token, body.clone())
            .await
            .assert_problem(403, "forbidden");
        patch_if(&app, &path, &token, "\"1\"", json!({"reply_days": 4}))
            .await
            .assert_problem(403, "forbidden");
    }
    let citizen = app.token(Demo::Citizen).await;
    app.get(&path, &citizen)
        .await
        .assert_problem(403, "forbidden");
    app.send(Method::GET, "/api/v1/deadline-policies", None, None)
        .await
        .assert_problem(401, "unauthorized");
    app.send(Method::POST, "/api/v1/deadline-policies", None, Some(body))
        .await
        .assert_problem(401, "unauthorized");
    app.send(Method::PATCH, &path, None, Some(json!({"reply_days": 4})))
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn the_most_specific_active_policy_applies() {
    use liuyan::domain::ids::CategoryId;
    use liuyan::domain::message::{MessageKind, Priority};
    use liuyan::store::deadline_policies::policy_for;

    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let create = async |body: Value| -> String {
        let r = app.post("/api/v1/deadline-policies", &admin, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    };
    let by_kind = create(json!({"priority": "routine", "message_kind": "complaint", "sign_for_days": 1, "reply_days": 12})).await;
    let by_category = create(json!({"priority": "routine", "category_id": TRANSPORT, "sign_for_days": 1, "reply_days": 11})).await;
    let by_both = create(json!({"priority": "routine", "message_kind": "complaint", "category_id": TRANSPORT, "sign_for_days": 1, "reply_days": 10})).await;
    // Narrowed to another kind: never applies to complaints.
    create(json!({"priority": "routine", "message_kind": "suggestion", "category_id": EDUCATION, "sign_for_days": 1, "reply_days": 9})).await;

    let transport = CategoryId(TRANSPORT.parse().unwrap());
    let education = CategoryId(EDUCATION.parse().unwrap());
    let mut conn = app.db.connect();
    let mut applies = |p, k, c| policy_for(&mut conn, p, k, c).unwrap().id.to_string();
    use MessageKind::*;
    use Priority::*;
    assert_eq!(applies(Routine, Complaint, transport), by_both);
    assert_eq!(applies(Routine, Suggestion, transport), by_category);
    assert_eq!(applies(Routine, Complaint, education), by_kind);
    assert_eq!(applies(Routine, Consultation, education), DEFAULT_ROUTINE);
    assert_eq!(applies(Important, Complaint, transport), DEFAULT_IMPORTANT);

    // An inactive policy does not apply: the next most specific does.
    let r = patch_if(
        &app,
        &format!("/api/v1/deadline-policies/{by_both}"),
        &admin,
        "\"1\"",
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut conn = app.db.connect();
    assert_eq!(
        policy_for(&mut conn, Routine, Complaint, transport)
            .unwrap()
            .id
            .to_string(),
        by_category
    );
    let r = patch_if(
        &app,
        &format!("/api/v1/deadline-policies/{by_category}"),
        &admin,
        "\"1\"",
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = policy_for(&mut conn, Routine, Complaint, transport).unwrap();
    assert_eq!((p.id.to_string(), p.reply_days), (by_kind, 12));
}

// ---------------------------------------------------------------------------------------------
// Dispatch rules

fn rule(
    region: &str,
    category: Option<&str>,
    keywords: &[&str],
    unit_name: &str,
    basis: &str,
) -> Value {
    json!({"region_code": region, "category_id": category, "keywords": keywords,
           "unit_id": unit(unit_name), "basis": basis})
}

async fn create_rule(app: &TestApp, admin: &str, body: Value) -> Value {
    let r = app.post("/api/v1/dispatch-rules", admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

#[actix_web::test]
async fn dispatch_rules_are_created_listed_and_changed() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let handler = app.token(Demo::Handler).await;

    let r = app
        .post(
            "/api/v1/dispatch-rules",
            &admin,
            rule(
                "620103",
                Some(TRANSPORT),
                &[" 公交 ", "公交", "地铁"],
                "兰州市七里河区人民政府",
                " 《兰州市城市道路管理条例》第五条 ",
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["keywords"],
        json!(["公交", "地铁"]),
        "trimmed and deduplicated"
    );
    assert_eq!(r.body["basis"], "《兰州市城市道路管理条例》第五条");
    assert_eq!(r.body["region_code"], "620103");
    assert_eq!(r.header("etag"), Some("\"1\""));
    let id = r.body["id"].as_str().unwrap().to_owned();
    let location = r.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/dispatch-rules/{id}"));
    let got = app.get(&location, &handler).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, r.body);

    // Region filter covers the subtree.
    let ids = |r: &Resp| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let lanzhou = app
        .get(
            "/api/v1/dispatch-rules?region_code=620100&limit=100",
            &handler,
        )
        .await;
    assert!(ids(&lanzhou).contains(&id));
    assert!(
        lanzhou.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["region_code"].as_str().unwrap().starts_with("6201"))
    );
    let tianshui = app
        .get("/api/v1/dispatch-rules?region_code=620500", &handler)
        .await;
    assert!(!ids(&tianshui).contains(&id));
    let by_unit = app
        .get(
            &format!(
                "/api/v1/dispatch-rules?unit_id={}",
                unit("兰州市七里河区人民政府")
            ),
            &handler,
        )
        .await;
    assert_eq!(ids(&by_unit), vec![id.clone()]);
    let by_category = app
        .get(
            &format!("/api/v1/dispatch-rules?category_id={EDUCATION}"),
            &handler,
        )
        .await;
    assert!(
        by_category.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["category_id"] == EDUCATION)
    );
    assert!(!ids(&by_category).contains(&id));

    // Keyset pagination walks every rule exactly once.
    let all = app.get("/api/v1/dispatch-rules?limit=100", &handler).await;
    let everything = ids(&all);
    assert!(everything.len() >= 8, "seeded rules and ours");
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/dispatch-rules?limit=3&cursor={c}"),
            None => "/api/v1/dispatch-rules?limit=3".to_owned(),
        };
        let page = app.get(&path, &handler).await;
        assert_eq!(page.status, 200, "{}", page.body);
        walked.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, everything);

    // PATCH: If-Match required; moving the rule and making it generic.
    app.patch(&location, &admin, json!({"active": false}))
        .await
        .assert_problem(428, "precondition-required");
    patch_if(&app, &location, &admin, "\"2\"", json!({"active": false}))
        .await
        .assert_problem(412, "precondition-failed");
    let r = patch_if(&app, &location, &admin, "\"1\"", json!({"region_code": "620104", "category_id": null, "unit_id": unit("兰州市西固区人民政府"), "keywords": []})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["region_code"], "620104");
    assert_eq!(r.body["category_id"], Value::Null);
    assert_eq!(r.body["keywords"], json!([]));
    assert_eq!(r.body["version"], 2);
    let xigu = app
        .get("/api/v1/dispatch-rules?region_code=620104", &handler)
        .await;
    assert_eq!(ids(&xigu), vec![id.clone()]);
    let r = patch_if(&app, &location, &admin, "\"2\"", json!({"active": false})).await;
    assert_eq!(r.body["active"], false);
    let inactive = app
        .get("/api/v1/dispatch-rules?active=false", &handler)
        .await;
    assert_eq!(ids(&inactive), vec![id.clone()]);

    let missing = "/api/v1/dispatch-rules/00000000-0000-7000-8000-0000000000ff";
    app.get(missing, &handler)
        .await
        .assert_problem(404, "not-found");
    patch_if(&app, missing, &admin, "\"1\"", json!({"active": false}))
        .await
        .assert_problem(404, "not-found");
}

#[actix_web::test]
async fn dispatch_rule_input_is_validated() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let good = rule(
        "620102",
        Some(TRANSPORT),
        &["红绿灯"],
        "兰州市城关区人民政府",
        "《兰州市城市道路管理条例》第五条",
    );
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let too_many: Vec<String> = (0..21).map(|i| format!("词{i}")).collect();
    for (body, field, code) in [
        (
            with("keywords", json!(["长".repeat(21)])),
            "keywords",
            "length",
        ),
        (with("keywords", json!(too_many)), "keywords", "length"),
        (with("keywords", json!(["  "])), "keywords", "length"),
        (
            with("unit_id", json!("00000000-0000-7000-8000-0000000000ff")),
            "unit_id",
            "not_found",
        ),
        (
            with("region_code", json!("620199")),
            "region_code",
            "not_found",
        ),
        (with("region_code", json!("6201")), "region_code", "format"),
        (
            with("category_id", json!("00000000-0000-7000-8000-0000000000ff")),
            "category_id",
            "not_found",
        ),
        (with("basis", json!("")), "basis", "length"),
        (with("basis", json!("   ")), "basis", "length"),
        (with("basis", json!("条".repeat(501))), "basis", "length"),
    ] {
        let r = app
            .post("/api/v1/dispatch-rules", &admin, body.clone())
            .await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec![field], "{body}");
        assert_eq!(r.body["errors"][0]["code"], code, "{body}");
    }
    // A deactivated unit takes no new rules.
    let target = unit("永登县人民政府");
    let r = app.get(&format!("/api/v1/units/{target}"), &admin).await;
    let etag = r.header("etag").unwrap().to_owned();
    let r = patch_if(
        &app,
        &format!("/api/v1/units/{target}"),
        &admin,
        &etag,
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = app
        .post(
            "/api/v1/dispatch-rules",
            &admin,
            with("unit_id", json!(target)),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.body["errors"][0]["code"], "inactive");

    // The same checks on PATCH.
    let created = create_rule(&app, &admin, good.clone()).await;
    let path = format!("/api/v1/dispatch-rules/{}", created["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"keywords": ["长".repeat(21)]}), "keywords"),
        (
            json!({"unit_id": "00000000-0000-7000-8000-0000000000ff"}),
            "unit_id",
        ),
        (json!({"region_code": "620199"}), "region_code"),
        (json!({"basis": " "}), "basis"),
        (json!({"region_path": "620000/"}), "region_path"),
    ] {
        let r = patch_if(&app, &path, &admin, "\"1\"", body.clone()).await;
        r.assert_problem(422, "validation-failed");
        assert_eq!(r.failing_fields(), vec![field], "{body}");
    }
}

#[actix_web::test]
async fn only_admins_write_dispatch_rules() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let body = rule(
        "620102",
        Some(TRANSPORT),
        &[],
        "兰州市城关区人民政府",
        "属地管理",
    );
    let existing = create_rule(&app, &admin, body.clone()).await;
    let path = format!(
        "/api/v1/dispatch-rules/{}",
        existing["id"].as_str().unwrap()
    );
    for who in [
        Demo::Handler,
        Demo::Supervisor,
        Demo::UnitAdmin,
        Demo::Analyst,
    ] {
        let token = app.token(who).await;
        assert_eq!(app.get(&path, &token).await.status, 200, "{who:?} reads");
        app.post("/api/v1/dispatch-rules", &token, body.clone())
            .await
            .assert_problem(403, "forbidden");
        patch_if(&app, &path, &token, "\"1\"", json!({"active": false}))
            .await
            .assert_problem(403, "forbidden");
    }
    let citizen = app.token(Demo::Citizen).await;
    app.get("/api/v1/dispatch-rules", &citizen)
        .await
        .assert_problem(403, "forbidden");
    app.send(Method::GET, "/api/v1/dispatch-rules", None, None)
        .await
        .assert_problem(401, "unauthorized");
    app.send(Method::POST, "/api/v1/dispatch-rules", None, Some(body))
        .await
        .assert_problem(401, "unauthorized");
    app.send(Method::PATCH, &path, None, Some(json!({"active": false})))
        .await
        .assert_problem(401, "unauthorized");
}

// ---------------------------------------------------------------------------------------------
// Routing suggestions

fn record_assignment(app: &TestApp, message: &str, unit_name: &str, status: &str) {
    let mut conn = app.db.connect();
    let returned_at = if status == "returned" {
        "now()"
    } else {
        "NULL::timestamptz"
    };
    diesel::sql_query(format!(
        "INSERT INTO assignments (id, message_id, unit_id, role, origin, status, assigned_at,
             returned_at, intake_unit_id, region_path)
         SELECT '{}'::uuid, id, '{}'::uuid, 'lead', 'assigned', '{status}', now(), {returned_at},
             intake_unit_id, region_path
         FROM messages WHERE id = '{message}'",
        uuid::Uuid::now_v7(),
        unit(unit_name),
    ))
    .execute(&mut conn)
    .unwrap();
}

fn suggested_units(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.body))
        .iter()
        .map(|s| s["unit"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn routing_suggestions_rank_by_specificity_then_track_record() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    // Only this test's rules.
    diesel::sql_query("UPDATE dispatch_rules SET active = false")
        .execute(&mut app.db.connect())
        .unwrap();
    let citizen = app.token(Demo::Citizen).await;
    let message = submit(&app, &citizen, message_body("庆阳路口红绿灯坏了")).await;
    let id = message["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/messages/{id}/routing-suggestions");

    let r = app.get(&path, &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"], json!([]), "no rule, no suggestion");

    let province = create_rule(
        &app,
        &admin,
        rule(
            "620000",
            Some(TRANSPORT),
            &[],
            "甘肃省交通运输厅",
            "《中华人民共和国公路法》第八条",
        ),
    )
    .await;
    create_rule(
        &app,
        &admin,
        rule(
            "620100",
            Some(TRANSPORT),
            &[],
            "兰州市交通运输局",
            "《兰州市城市道路管理条例》第五条",
        ),
    )
    .await;
    let district_generic = create_rule(
        &app,
        &admin,
        rule("620102", None, &[], "兰州市城关区人民政府", "属地管理"),
    )
    .await;
    let keyword = create_rule(
        &app,
        &admin,
        rule(
            "620102",
            Some(TRANSPORT),
            &["红绿灯", "地铁"],
            "兰州市人民政府办公室",
            "信号灯专项",
        ),
    )
    .await;
    create_rule(
        &app,
        &admin,
        rule(
            "620102",
            Some(TRANSPORT),
            &[],
            "兰州市住房和城乡建设局",
            "道路附属设施",
        ),
    )
    .await;
    // The transport bureau also has a district rule: its best rule (the district one) counts.
    let bureau_district = create_rule(
        &app,
        &admin,
        rule("620102", None, &[], "兰州市交通运输局", "城关区交通事项"),
    )
    .await;
    // Not matching: keywords absent, another district, another category, inactive.
    create_rule(
        &app,
        &admin,
        rule("620102", Some(TRANSPORT), &["供暖"], "兰州市教育局", "供暖"),
    )
    .await;
    create_rule(
        &app,
        &admin,
        rule(
            "620103",
            Some(TRANSPORT),
            &[],
            "兰州市七里河区人民政府",
            "七里河区",
        ),
    )
    .await;
    create_rule(
        &app,
        &admin,
        rule("620000", Some(EDUCATION), &[], "甘肃省教育厅", "教育法"),
    )
    .await;
    let inactive = create_rule(
        &app,
        &admin,
        rule(
            "620102",
            Some(TRANSPORT),
            &["红绿灯"],
            "兰州市西固区人民政府",
            "停用",
        ),
    )
    .await;
    let r = patch_if(
        &app,
        &format!(
            "/api/v1/dispatch-rules/{}",
            inactive["id"].as_str().unwrap()
        ),
        &admin,
        "\"1\"",
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status, 200);

    let r = app.get(&path, &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["message_id"], id.as_str());
    assert_eq!(
        suggested_units(&r),
        vec![
            "兰州市人民政府办公室",   // district + category + keyword hit
            "兰州市住房和城乡建设局", // district + category
            "兰州市交通运输局",       // district, generic (its best rule); name before 城关区
            "兰州市城关区人民政府",   // district, generic
            "甘肃省交通运输厅",       // province + category
        ]
    );
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items[0]["rule"]["id"], keyword["id"]);
    assert_eq!(items[0]["rule"]["matched_keywords"], json!(["红绿灯"]));
    assert_eq!(items[0]["score"], 352.0);
    assert_eq!(items[0]["unit"]["kind"], "government_office");
    assert_eq!(items[0]["unit"]["region_code"], "620100");
    assert_eq!(items[2]["rule"]["id"], bureau_district["id"]);
    assert_eq!(items[3]["rule"]["id"], district_generic["id"]);
    assert_eq!(items[3]["rule"]["category_id"], Value::Null);
    assert_eq!(items[4]["rule"]["id"], province["id"]);
    assert_eq!(items[4]["rule"]["basis"], "《中华人民共和国公路法》第八条");
    assert_eq!(
        items[4]["history"],
        json!({"assigned": 0, "returned": 0, "return_rate": 0.0})
    );
    let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // The bureau returned such a message before; 城关区 completed one: the bureau sinks below
    // the equally specific district government.
    record_assignment(&app, &id, "兰州市交通运输局", "returned");
    record_assignment(&app, &id, "兰州市城关区人民政府", "completed");
    let r = app.get(&path, &admin).await;
    assert_eq!(
        suggested_units(&r)[2..4],
        ["兰州市城关区人民政府", "兰州市交通运输局"]
    );
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(
        items[2]["history"],
        json!({"assigned": 1, "returned": 0, "return_rate": 0.0})
    );
    assert_eq!(
        items[3]["history"],
        json!({"assigned": 1, "returned": 1, "return_rate": 1.0})
    );
    assert!(items[3]["score"].as_f64().unwrap() < items[2]["score"].as_f64().unwrap());

    // History counts only messages of the same category.
    let mut other = message_body("学校门口交通拥堵");
    other["category_id"] = json!(EDUCATION);
    let other = submit(&app, &citizen, other).await;
    record_assignment(
        &app,
        other["id"].as_str().unwrap(),
        "兰州市城关区人民政府",
        "returned",
    );
    let r = app.get(&path, &admin).await;
    assert_eq!(r.body["items"][2]["history"]["returned"], 0);

    // At most ten.
    for i in 0..12 {
        let r = app
            .post("/api/v1/units", &admin, json!({"name": format!("测试单位{i:02}"), "kind": "department", "region_code": "620102"}))
            .await;
        assert_eq!(r.status, 201);
        let unit_id = r.body["id"].as_str().unwrap();
        let r = app
            .post(
                "/api/v1/dispatch-rules",
                &admin,
                json!({"region_code": "620000", "unit_id": unit_id, "basis": "测试"}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let r = app.get(&path, &admin).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 10);
}

#[actix_web::test]
async fn routing_suggestions_are_for_those_who_may_run_intake() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let message = submit(&app, &citizen, message_body("庆阳路口红绿灯坏了")).await;
    let id = message["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/messages/{id}/routing-suggestions");

    // The seeded catalogue already knows Chengguan's traffic lights.
    let liaison = lanzhou_liaison(&app).await;
    let r = app.get(&path, &liaison).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let units = suggested_units(&r);
    assert_eq!(units[0], "兰州市城关区人民政府", "{units:?}");
    assert!(units.contains(&"兰州市交通运输局".to_owned()), "{units:?}");
    let supervisor = app.token(Demo::Supervisor).await;
    assert_eq!(app.get(&path, &supervisor).await.status, 200);

    // A handler of an unrelated unit cannot see the message at all: 404.
    let transport_handler = app.token(Demo::Handler).await;
    app.get(&path, &transport_handler)
        .await
        .assert_problem(404, "not-found");
    // Roles without the permission: 403.
    for who in [Demo::Citizen, Demo::Analyst, Demo::Leader, Demo::Reviewer] {
        let token = app.token(who).await;
        app.get(&path, &token)
            .await
            .assert_problem(403, "forbidden");
    }
    app.send(Method::GET, &path, None, None)
        .await
        .assert_problem(401, "unauthorized");

    // Once accepted, the public message is visible to the handler, who still may not route it.
    let r = app
        .send_with(
            Method::POST,
            &format!("/api/v1/messages/{id}/accept"),
            Some(&liaison),
            Some(json!({})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get(&format!("/api/v1/messages/{id}"), &transport_handler)
            .await
            .status,
        200
    );
    app.get(&path, &transport_handler)
        .await
        .assert_problem(403, "forbidden");

    // Unknown and malformed ids.
    let admin = app.token(Demo::Admin).await;
    app.get(
        "/api/v1/messages/00000000-0000-7000-8000-0000000000ff/routing-suggestions",
        &admin,
    )
    .await
    .assert_problem(404, "not-found");
    app.get("/api/v1/messages/nope/routing-suggestions", &admin)
        .await
        .assert_problem(404, "not-found");

    // A message no rule covers: an empty list.
    let mut tianshui = message_body("秦州区医院夜间门诊");
    tianshui["leader_id"] = json!(crate::messages::leader("吴建平"));
    tianshui["region_code"] = json!("620502");
    tianshui["category_id"] = json!(HEALTH);
    let tianshui = submit(&app, &citizen, tianshui).await;
    let r = app
        .get(
            &format!(
                "/api/v1/messages/{}/routing-suggestions",
                tianshui["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"], json!([]));
}
