//! Decisions that must not both apply (issue 26, items 9–13): reopen and close honour If-Match;
//! closing early keeps the rating window; rating changes are bounded; a pending extension
//! request lapses with its assignment; an unanswered clarification stops pausing the clock.

use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::handling::{actions, local, message, post_with};
use crate::helpers::{Demo, Resp, TestApp, test_settings};
use crate::messages::lanzhou_liaison;
use crate::replies::{in_progress, publish};
use liuyan::clock::Clock;

const GOOD: &str = "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。";

async fn app_at(start: &str) -> (TestApp, Clock) {
    let clock = Clock::manual(local(start));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    (TestApp::spawn_with(settings).await, clock)
}

async fn rate(app: &TestApp, token: &str, id: &str, rating: &str) -> Resp {
    app.send(
        Method::PUT,
        &format!("/api/v1/messages/{id}/feedback"),
        Some(token),
        Some(json!({"rating": rating})),
    )
    .await
}

async fn lead_assignment(app: &TestApp, token: &str, id: &str) -> String {
    let r = app
        .get(&format!("/api/v1/messages/{id}/assignments"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["role"] == "lead" && a["status"] == "signed_for")
        .unwrap_or_else(|| panic!("no signed-for lead in {}", r.body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn etag_of(m: &Value) -> String {
    format!("\"{}\"", m["version"].as_i64().unwrap())
}

#[actix_web::test]
async fn reopen_and_close_refuse_a_stale_if_match() {
    let (app, clock) = app_at("2026-11-23T09:00").await;
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "routine").await;
    clock.advance(Duration::hours(2));
    publish(&app, &id, "final", GOOD).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let author = app.token(Demo::Citizen).await;
    let before_rating = etag_of(&message(&app, &supervisor, &id).await);
    // The citizen rates meanwhile: a close decided on the version before is refused.
    assert_eq!(rate(&app, &author, &id, "unsatisfied").await.status, 201);
    let close = format!("/api/v1/messages/{id}/close");
    let reopen = format!("/api/v1/messages/{id}/reopen");
    let note = json!({"note": "已向群众解释清楚"});
    post_with(&app, &close, &supervisor, note.clone(), &before_rating)
        .await
        .assert_problem(412, "precondition-failed");
    assert_eq!(message(&app, &supervisor, &id).await["status"], "replied");
    // Two supervisors decide on the same version: the close wins...
    let seen = etag_of(&message(&app, &supervisor, &id).await);
    let r = post_with(&app, &close, &supervisor, note, &seen).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ...and the reopen taken on the version before the close is refused, not applied too.
    post_with(
        &app,
        &reopen,
        &supervisor,
        json!({"note": "请重新核查"}),
        &seen,
    )
    .await
    .assert_problem(412, "precondition-failed");
    assert_eq!(message(&app, &supervisor, &id).await["status"], "closed");
    let fb = app
        .get(&format!("/api/v1/messages/{id}/feedback"), &supervisor)
        .await;
    assert_eq!(fb.body["items"][0]["flag"], "closed");
}

#[actix_web::test]
async fn a_message_closed_early_can_still_be_rated_inside_the_window() {
    let (app, clock) = app_at("2026-11-23T09:00").await;
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "routine").await;
    clock.advance(Duration::hours(2));
    publish(&app, &id, "final", GOOD).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let author = app.token(Demo::Citizen).await;
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/close"),
            &supervisor,
            json!({"note": "问题已解决，提前办结"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "closed");
    // The author's unhappy rating still counts, and goes to the supervisors' queue.
    clock.advance(Duration::hours(1));
    let r = rate(&app, &author, &id, "unsatisfied").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["flag"], "open");
    let queue = app.get("/api/v1/feedback?flag=open", &supervisor).await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(
        queue.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["message_id"] == id.as_str()),
        "{}",
        queue.body
    );
    // Once the window has ended, no more ratings.
    clock.advance(Duration::days(60));
    rate(&app, &author, &id, "satisfied")
        .await
        .assert_problem(409, "conflict");
}

#[actix_web::test]
async fn a_rating_changes_at_most_three_times() {
    let (app, clock) = app_at("2026-11-23T09:00").await;
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "routine").await;
    clock.advance(Duration::hours(2));
    publish(&app, &id, "final", GOOD).await;
    let author = app.token(Demo::Citizen).await;
    assert_eq!(rate(&app, &author, &id, "satisfied").await.status, 201);
    for rating in ["unsatisfied", "basically_satisfied", "satisfied"] {
        let r = rate(&app, &author, &id, rating).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = rate(&app, &author, &id, "unsatisfied").await;
    r.assert_problem(409, "conflict");
    assert!(
        r.body["detail"].as_str().unwrap().contains("at most 3"),
        "{}",
        r.body
    );
    let supervisor = app.token(Demo::Supervisor).await;
    let rates = actions(&app, &supervisor, &id)
        .await
        .iter()
        .filter(|a| *a == "rate")
        .count();
    assert_eq!(rates, 4);
    let fb = app
        .get(&format!("/api/v1/messages/{id}/feedback"), &supervisor)
        .await;
    assert_eq!(fb.body["items"][0]["rating"], "satisfied");
}

#[actix_web::test]
async fn a_pending_extension_lapses_when_the_final_reply_is_published() {
    let (app, clock) = app_at("2026-11-23T09:00").await;
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "routine").await;
    let handler = app.token(Demo::Handler).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let lead = lead_assignment(&app, &handler, &id).await;
    let r = app
        .post(
            &format!("/api/v1/assignments/{lead}/extensions"),
            &handler,
            json!({"days": 3, "reason": "需协调供电部门"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let x = r.body["id"].as_str().unwrap().to_owned();
    clock.advance(Duration::hours(2));
    publish(&app, &id, "final", GOOD).await;
    // Nothing is left waiting: the request lapsed with the assignment.
    let pending = app
        .get("/api/v1/extensions?status=pending", &supervisor)
        .await;
    assert_eq!(pending.status, 200, "{}", pending.body);
    assert!(
        pending.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] != x.as_str()),
        "{}",
        pending.body
    );
    let lapsed = app
        .get("/api/v1/extensions?status=lapsed", &supervisor)
        .await;
    assert_eq!(lapsed.status, 200, "{}", lapsed.body);
    let item = lapsed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == x.as_str())
        .unwrap_or_else(|| panic!("{x} not lapsed: {}", lapsed.body))
        .clone();
    assert!(item["decided_at"].is_string(), "{item}");
    assert!(item["decided_by"].is_null(), "{item}");
    for decision in ["approve", "reject"] {
        let r = app
            .post(
                &format!("/api/v1/extensions/{x}/{decision}"),
                &supervisor,
                json!({}),
            )
            .await;
        r.assert_problem(409, "conflict");
    }
}

#[actix_web::test]
async fn an_unanswered_clarification_stops_pausing_the_clock_after_five_working_days() {
    // Monday 23 Nov 2026.
    let (app, clock) = app_at("2026-11-23T09:00").await;
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "routine").await;
    let handler = app.token(Demo::Handler).await;
    let supervisor = app.token(Demo::Supervisor).await;
    clock.set(local("2026-11-24T10:00"));
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/clarifications"),
            &handler,
            json!({"question": "请提供具体门牌号"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let run = |at| liuyan::scheduler::run_once(&mut app.db.connect(), at).unwrap();
    // Five working days after Tuesday 24 Nov: 25, 26, 27, 30 Nov, 1 Dec. Not before its end.
    clock.set(local("2026-12-01T23:59"));
    assert_eq!(run(clock.now()).clarifications_lapsed, 0);
    assert_eq!(
        message(&app, &supervisor, &id).await["status"],
        "awaiting_clarification"
    );
    clock.set(local("2026-12-02T08:00"));
    assert_eq!(run(clock.now()).clarifications_lapsed, 1);
    assert_eq!(run(clock.now()).clarifications_lapsed, 0, "once only");
    assert_eq!(
        message(&app, &supervisor, &id).await["status"],
        "in_progress"
    );
    let events = app
        .get(
            &format!("/api/v1/messages/{id}/events?limit=100"),
            &supervisor,
        )
        .await;
    let lapsed = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "clarification_lapsed")
        .unwrap_or_else(|| panic!("no lapse in {}", events.body))
        .clone();
    // The pause ends with the last second of the fifth working day (Tuesday 1 Dec, Beijing).
    assert_eq!(lapsed["payload"]["paused_until"], "2026-12-01T15:59:59Z");
    assert!(
        !lapsed["payload"]["escalated_to"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{lapsed}"
    );
    // The clock runs again, counting the capped pause only: 15 working days from Monday 23 Nov
    // plus the 5 paused ones (25 Nov to 1 Dec) end on Monday 21 Dec.
    let r = app
        .get(
            &format!("/api/v1/deadlines?message_id={id}&kind=reply"),
            &supervisor,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"][0]["state"], "on_track", "{}", r.body);
    assert_eq!(
        r.body["items"][0]["due_at"], "2026-12-21T16:00:00Z",
        "{}",
        r.body
    );
}
