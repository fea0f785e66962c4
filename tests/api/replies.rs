//! Replies, review, publication, feedback, reopening, closing and return visits: the whole path
//! through the API, and every forbidden step.

use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::handling::{
    CHENGGUAN, QILIHE, TRANSPORT_BUREAU, accepted, actions, assign, local, message,
};
use crate::helpers::{Demo, Resp, TestApp, test_settings, unit};
use crate::messages::{lanzhou_liaison, other_citizen, staff};
use liuyan::clock::Clock;

const GOOD: &str = "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。";
const BETTER: &str = "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行，我局将加强日常巡检。感谢您的监督。";

pub async fn put_with(app: &TestApp, path: &str, token: &str, body: Value, etag: &str) -> Resp {
    app.send_with(
        Method::PUT,
        path,
        Some(token),
        Some(body),
        &[("if-match", etag)],
    )
    .await
}

/// Sign for the open lead assignment of `id` as `token` (staff of the lead unit).
pub async fn sign_for(app: &TestApp, token: &str, id: &str) {
    let list = app
        .get(&format!("/api/v1/messages/{id}/assignments"), token)
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let lead = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["role"] == "lead" && a["status"] == "pending")
        .unwrap_or_else(|| panic!("no pending lead in {}", list.body))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &format!("/api/v1/assignments/{lead}/sign-for"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// An accepted message assigned to the transport bureau and signed for there; `liaison` is a
/// token of the Lanzhou liaison office (`lanzhou_liaison`).
pub async fn in_progress(app: &TestApp, liaison: &str, priority: &str) -> String {
    let (id, liaison) = accepted(app, priority, Some(liaison)).await;
    let r = assign(app, &liaison, &id, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    sign_for(app, &app.token(Demo::Handler).await, &id).await;
    id
}

async fn draft(app: &TestApp, token: &str, id: &str, kind: &str, body: &str) -> Resp {
    app.post(
        &format!("/api/v1/messages/{id}/replies"),
        token,
        json!({"kind": kind, "body": body}),
    )
    .await
}

async fn reply_action(app: &TestApp, token: &str, reply: &str, action: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/replies/{reply}/{action}"), token, body)
        .await
}

fn codes(r: &Resp) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Draft, submit, approve (by the demo reviewer) and publish a reply; returns the reply.
pub async fn publish(app: &TestApp, id: &str, kind: &str, body: &str) -> Value {
    let handler = app.token(Demo::Handler).await;
    let reviewer = app.token(Demo::Reviewer).await;
    let d = draft(app, &handler, id, kind, body).await;
    assert_eq!(d.status, 201, "{}", d.body);
    let rid = d.body["id"].as_str().unwrap().to_owned();
    let s = reply_action(app, &handler, &rid, "submit", json!({})).await;
    assert_eq!(s.status, 200, "{}", s.body);
    let a = reply_action(app, &reviewer, &rid, "approve", json!({})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let p = reply_action(app, &reviewer, &rid, "publish", json!({})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    p.body
}

#[actix_web::test]
async fn the_whole_path_from_draft_to_closure_with_every_forbidden_step() {
    let clock = Clock::manual(local("2026-11-23T09:00")); // a Monday
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "routine").await;
    let handler = app.token(Demo::Handler).await;
    let unit_admin = app.token(Demo::UnitAdmin).await;
    let reviewer = app.token(Demo::Reviewer).await;
    let author = app.token(Demo::Citizen).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let other = other_citizen(&app).await;
    let chengguan = staff(&app, "cg.reviewer@example.cn", "reviewer", CHENGGUAN).await;

    // A citizen, and another unit's staff, cannot draft.
    assert_eq!(draft(&app, &author, &id, "final", GOOD).await.status, 403);
    let cg_handler = staff(&app, "cg.handler@example.cn", "handler", CHENGGUAN).await;
    draft(&app, &cg_handler, &id, "final", GOOD)
        .await
        .assert_problem(403, "forbidden");

    // The editorial checks: short, boilerplate, the citizen's phone number.
    clock.advance(Duration::hours(1));
    let d = draft(&app, &handler, &id, "final", "已转相关部门处理。").await;
    assert_eq!(d.status, 201, "{}", d.body);
    assert_eq!(d.body["status"], "draft");
    assert_eq!(d.body["review_unit_id"], unit(TRANSPORT_BUREAU));
    let rid = d.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/replies/{rid}");
    // A draft is not published, not even by a reviewer.
    reply_action(&app, &reviewer, &rid, "publish", json!({}))
        .await
        .assert_problem(409, "conflict");
    reply_action(&app, &handler, &rid, "publish", json!({}))
        .await
        .assert_problem(409, "conflict");
    // One final reply in the making at a time.
    draft(&app, &handler, &id, "final", GOOD)
        .await
        .assert_problem(409, "conflict");
    let s = reply_action(&app, &handler, &rid, "submit", json!({})).await;
    s.assert_problem(422, "validation-failed");
    assert_eq!(codes(&s), vec!["too_short", "banned_phrase"], "{}", s.body);
    assert!(s.failing_fields().iter().all(|f| f == "body"), "{}", s.body);
    // Edits need If-Match.
    let r = app
        .send(
            Method::PUT,
            &path,
            Some(&handler),
            Some(json!({"body": GOOD})),
        )
        .await;
    r.assert_problem(428, "precondition-required");
    put_with(&app, &path, &handler, json!({"body": GOOD}), "\"7\"")
        .await
        .assert_problem(412, "precondition-failed");
    let with_phone = format!("{GOOD}如有疑问请联系13912345678。");
    let r = put_with(&app, &path, &handler, json!({"body": with_phone}), "\"1\"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["revision"], 2);
    let s = reply_action(&app, &handler, &rid, "submit", json!({})).await;
    assert_eq!(codes(&s), vec!["personal_data"], "{}", s.body);
    assert!(
        !s.body.to_string().contains("13912345678"),
        "the problem masks it"
    );
    // Another unit's staff cannot edit: the message is public, but its drafts are not theirs
    // to read, so the draft answers 404 to them whatever they do.
    put_with(&app, &path, &cg_handler, json!({"body": GOOD}), "\"2\"")
        .await
        .assert_problem(404, "not-found");
    let r = put_with(&app, &path, &handler, json!({"body": GOOD}), "\"2\"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = reply_action(&app, &handler, &rid, "submit", json!({})).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["status"], "submitted");

    // Publishing what is not approved; editing what is under review.
    reply_action(&app, &reviewer, &rid, "publish", json!({}))
        .await
        .assert_problem(409, "conflict");
    put_with(&app, &path, &handler, json!({"body": BETTER}), "\"4\"")
        .await
        .assert_problem(409, "conflict");
    // Handlers do not review; another unit's reviewer does not see it (404, as on reading).
    reply_action(&app, &handler, &rid, "approve", json!({}))
        .await
        .assert_problem(403, "forbidden");
    reply_action(&app, &chengguan, &rid, "approve", json!({}))
        .await
        .assert_problem(404, "not-found");
    // Nor read it: drafts are for the staff handling the message.
    app.get(&path, &chengguan)
        .await
        .assert_problem(404, "not-found");

    // The reviewer returns it with comments; it must be revised before it is submitted again.
    let r = reply_action(
        &app,
        &reviewer,
        &rid,
        "return",
        json!({"comment": "请写明巡检措施"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "returned");
    assert_eq!(r.body["review_comment"], "请写明巡检措施");
    reply_action(&app, &handler, &rid, "submit", json!({}))
        .await
        .assert_problem(409, "conflict");
    // The unit admin revises it, submits it, and may not approve their own words.
    let r = put_with(
        &app,
        &path,
        &unit_admin,
        json!({"body": BETTER}),
        &format!("\"{}\"", r.body["version"]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "draft");
    assert_eq!(
        reply_action(&app, &unit_admin, &rid, "submit", json!({}))
            .await
            .status,
        200
    );
    let own = reply_action(&app, &unit_admin, &rid, "approve", json!({})).await;
    own.assert_problem(403, "forbidden");
    assert!(
        own.body["detail"].as_str().unwrap().contains("you wrote"),
        "{}",
        own.body
    );
    let a = reply_action(&app, &reviewer, &rid, "approve", json!({"comment": "同意"})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "approved");

    // Every revision is kept, with its review.
    let revs = app.get(&format!("{path}/revisions"), &handler).await;
    assert_eq!(revs.status, 200, "{}", revs.body);
    let items = revs.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["body"], "已转相关部门处理。");
    assert_eq!(items[2]["review_decision"], "returned");
    assert_eq!(items[3]["review_decision"], "approved");
    assert_eq!(items[3]["body"], BETTER);
    assert_eq!(
        app.get(&format!("{path}/revisions"), &author).await.status,
        403
    );

    // The author sees no draft.
    let mine = app
        .get(&format!("/api/v1/messages/{id}/replies"), &author)
        .await;
    assert_eq!(mine.body["items"], json!([]), "{}", mine.body);
    app.get(&path, &author)
        .await
        .assert_problem(404, "not-found");

    // An interim reply first: the message stays in progress.
    clock.advance(Duration::hours(1));
    let handler_interim = draft(
        &app,
        &handler,
        &id,
        "interim",
        "您反映的问题已收悉，我局已安排技术人员现场勘查，将于三个工作日内修复。",
    )
    .await;
    assert_eq!(handler_interim.status, 201, "{}", handler_interim.body);
    let iid = handler_interim.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply_action(&app, &handler, &iid, "submit", json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        reply_action(&app, &reviewer, &iid, "approve", json!({}))
            .await
            .status,
        200
    );
    // Staff of the replying unit may publish.
    let p = reply_action(&app, &handler, &iid, "publish", json!({})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["unit_name"], TRANSPORT_BUREAU);
    assert_eq!(message(&app, &handler, &id).await["status"], "in_progress");

    // The final reply: the message is replied, the lead assignment completes, the deadline is met.
    clock.advance(Duration::hours(1));
    let published_at = clock.now();
    let p = reply_action(&app, &reviewer, &rid, "publish", json!({})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["status"], "published");
    reply_action(&app, &reviewer, &rid, "publish", json!({}))
        .await
        .assert_problem(409, "conflict");
    let m = message(&app, &author, &id).await;
    assert_eq!(m["status"], "replied");
    let until: chrono::DateTime<chrono::Utc> =
        m["feedback_until"].as_str().unwrap().parse().unwrap();
    assert_eq!(until, published_at + Duration::days(15));
    let lead = app
        .get(&format!("/api/v1/messages/{id}/assignments"), &handler)
        .await;
    let lead = &lead.body["items"][0];
    assert_eq!(lead["status"], "completed", "{lead}");
    let reply_deadline = lead["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "reply")
        .unwrap();
    assert_eq!(reply_deadline["state"], "met", "{reply_deadline}");
    // No more drafting once replied.
    draft(&app, &handler, &id, "interim", GOOD)
        .await
        .assert_problem(409, "conflict");

    // The author sees both published replies, without staff ids; others see them on a public
    // message too.
    let mine = app
        .get(&format!("/api/v1/messages/{id}/replies"), &author)
        .await;
    let items = mine.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", mine.body);
    assert!(items.iter().all(|r| r["status"] == "published"
        && r["created_by"].is_null()
        && r["reviewed_by"].is_null()));
    assert_eq!(
        app.get(&format!("/api/v1/messages/{id}/replies"), &other)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Feedback: only the author; a change inside the window; unsatisfied flags it.
    let fb = format!("/api/v1/messages/{id}/feedback");
    app.send(
        Method::PUT,
        &fb,
        Some(&other),
        Some(json!({"rating": "satisfied"})),
    )
    .await
    .assert_problem(403, "forbidden");
    app.send(
        Method::PUT,
        &fb,
        Some(&handler),
        Some(json!({"rating": "satisfied"})),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app
        .send(
            Method::PUT,
            &fb,
            Some(&author),
            Some(json!({"rating": "unsatisfied", "comment": "修好两天又坏了"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["flag"], "open");
    let r = app
        .send(
            Method::PUT,
            &fb,
            Some(&author),
            Some(json!({"rating": "satisfied"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["flag"].as_str(), r.body["changes"].as_i64()),
        (Some("none"), Some(1))
    );
    let r = app
        .send(
            Method::PUT,
            &fb,
            Some(&author),
            Some(json!({"rating": "unsatisfied", "comment": "又坏了"})),
        )
        .await;
    assert_eq!(r.body["flag"], "open");
    assert_eq!(app.get(&fb, &other).await.status, 404);

    // The window ends; the flagged message waits for the supervisor instead of closing.
    clock.advance(Duration::days(16));
    app.send(
        Method::PUT,
        &fb,
        Some(&author),
        Some(json!({"rating": "satisfied"})),
    )
    .await
    .assert_problem(409, "conflict");
    let mut conn = app.db.connect();
    liuyan::scheduler::run_once(&mut conn, clock.now()).unwrap();
    assert_eq!(message(&app, &author, &id).await["status"], "replied");
    let queue = app.get("/api/v1/feedback?flag=open", &supervisor).await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    let flagged: Vec<&Value> = queue.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message_id"] == id.as_str())
        .collect();
    assert_eq!(flagged.len(), 1, "{}", queue.body);
    // Unit staff see their own unit's ratings only.
    let cg_queue = app.get("/api/v1/feedback?flag=open", &cg_handler).await;
    assert_eq!(cg_queue.body["items"], json!([]), "{}", cg_queue.body);

    // Only a supervisor reopens; back to the unit with a new reply clock.
    let reopen = format!("/api/v1/messages/{id}/reopen");
    app.post(&reopen, &handler, json!({"note": "重办"}))
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .post(
            &reopen,
            &supervisor,
            json!({"note": "群众反映问题仍未解决，请重新核查"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "in_progress");
    assert_eq!(r.body["reopen_count"], 1);
    assert!(r.body["feedback_until"].is_null());
    let fbs = app.get(&fb, &author).await;
    assert_eq!(fbs.body["items"][0]["flag"], "reopened", "{}", fbs.body);
    let assignments = app
        .get(&format!("/api/v1/messages/{id}/assignments"), &handler)
        .await;
    let reopened = assignments.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["origin"] == "reopened")
        .unwrap()
        .clone();
    assert_eq!(reopened["status"], "signed_for");
    assert_eq!(reopened["deadlines"][0]["kind"], "reply");
    assert_eq!(reopened["deadlines"][0]["state"], "on_track", "{reopened}");

    // A second final reply, rated satisfied; the window ends; the scheduler closes it once.
    let second = publish(
        &app,
        &id,
        "final",
        "经重新核查，已更换信号灯控制器并连续观察三天运行正常，感谢您的监督。",
    )
    .await;
    assert_eq!(second["kind"], "final");
    let r = app
        .send(
            Method::PUT,
            &fb,
            Some(&author),
            Some(json!({"rating": "satisfied"})),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "a new final reply takes a new rating: {}",
        r.body
    );
    clock.advance(Duration::days(15));
    // (The demo seed's replied messages close in the same pass.)
    let first = liuyan::scheduler::run_once(&mut conn, clock.now()).unwrap();
    let again = liuyan::scheduler::run_once(&mut conn, clock.now()).unwrap();
    assert!(first.closed >= 1, "{first:?}");
    assert_eq!(again.closed, 0);
    let m = message(&app, &author, &id).await;
    assert_eq!(m["status"], "closed");
    assert!(m["closed_at"].is_string());
    app.send(
        Method::PUT,
        &fb,
        Some(&author),
        Some(json!({"rating": "unsatisfied"})),
    )
    .await
    .assert_problem(409, "conflict");

    // The ledger has every step for the unit, and its chain holds; the author sees the
    // public steps, never the drafts and their review (internal working content).
    let a = actions(&app, &app.token(Demo::Handler).await, &id).await;
    let seen_by_author = actions(&app, &author, &id).await;
    for expected in [
        "draft_reply",
        "revise_reply",
        "submit_reply",
        "return_reply",
        "approve_reply",
        "publish_interim_reply",
        "publish_reply",
        "rate",
        "reopen",
        "close",
    ] {
        assert!(
            a.contains(&expected.to_owned()),
            "{expected} missing from {a:?}"
        );
        let internal = expected.ends_with("_reply") && !expected.starts_with("publish");
        assert_eq!(
            seen_by_author.contains(&expected.to_owned()),
            !internal,
            "{expected} for the author: {seen_by_author:?}"
        );
    }
    assert_eq!(a.last().map(String::as_str), Some("close"));
    let v = app
        .get(&format!("/api/v1/messages/{id}/events/verify"), &author)
        .await;
    assert_eq!(v.body["valid"], true, "{}", v.body);
}

#[actix_web::test]
async fn important_messages_are_reviewed_by_the_liaison_office() {
    let app = TestApp::spawn().await;
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "important").await;
    let handler = app.token(Demo::Handler).await;
    let reviewer = app.token(Demo::Reviewer).await;
    let d = draft(&app, &handler, &id, "final", GOOD).await;
    assert_eq!(
        d.body["review_unit_id"],
        unit("兰州市领导留言办理工作办公室"),
        "{}",
        d.body
    );
    let rid = d.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply_action(&app, &handler, &rid, "submit", json!({}))
            .await
            .status,
        200
    );
    // The unit's own reviewer does not decide an important message's reply.
    reply_action(&app, &reviewer, &rid, "approve", json!({}))
        .await
        .assert_problem(403, "forbidden");
    let liaison_reviewer = staff(
        &app,
        "lz.reviewer@example.cn",
        "reviewer",
        "兰州市领导留言办理工作办公室",
    )
    .await;
    let queue = app
        .get(
            &format!(
                "/api/v1/replies?status=submitted&review_unit_id={}",
                unit("兰州市领导留言办理工作办公室")
            ),
            &liaison_reviewer,
        )
        .await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert_eq!(queue.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        reply_action(&app, &liaison_reviewer, &rid, "approve", json!({}))
            .await
            .status,
        200
    );
    let p = reply_action(&app, &liaison_reviewer, &rid, "publish", json!({})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    // Another unit's queue does not show it.
    let cg = staff(&app, "cg.reviewer@example.cn", "reviewer", CHENGGUAN).await;
    let other_queue = app.get("/api/v1/replies?status=submitted", &cg).await;
    assert_eq!(other_queue.body["items"], json!([]), "{}", other_queue.body);
}

#[actix_web::test]
async fn drafts_are_discarded_when_the_message_moves_to_another_unit() {
    let app = TestApp::spawn().await;
    let (id, liaison) = accepted(&app, "routine", None).await;
    assert_eq!(
        assign(&app, &liaison, &id, TRANSPORT_BUREAU, &[])
            .await
            .status,
        201
    );
    let handler = app.token(Demo::Handler).await;
    // Not signed for yet: no drafting.
    draft(&app, &handler, &id, "final", GOOD)
        .await
        .assert_problem(409, "conflict");
    sign_for(&app, &handler, &id).await;
    let d = draft(&app, &handler, &id, "final", GOOD).await;
    let rid = d.body["id"].as_str().unwrap().to_owned();
    let lead = app
        .get(&format!("/api/v1/messages/{id}/assignments"), &liaison)
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = app
        .post(
            &format!("/api/v1/assignments/{lead}/transfer"),
            &liaison,
            json!({"unit_id": unit(QILIHE), "note": "属七里河区职责"}),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    assert_eq!(
        app.get(&format!("/api/v1/replies/{rid}"), &liaison)
            .await
            .body["status"],
        "discarded"
    );
    // The new unit drafts once it signs for; the old unit no longer can.
    let qilihe = staff(&app, "qlh.handler@example.cn", "handler", QILIHE).await;
    sign_for(&app, &qilihe, &id).await;
    assert_eq!(draft(&app, &qilihe, &id, "final", GOOD).await.status, 201);
    draft(&app, &handler, &id, "interim", GOOD)
        .await
        .assert_problem(403, "forbidden");
    // The discarded reply cannot be brought back, by the old unit (which no longer reads the
    // message's drafts) or the new one.
    reply_action(&app, &handler, &rid, "submit", json!({}))
        .await
        .assert_problem(404, "not-found");
    reply_action(&app, &qilihe, &rid, "submit", json!({}))
        .await
        .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn a_supervisor_closes_an_unsatisfied_message_with_an_explanation() {
    let clock = Clock::manual(local("2026-11-23T09:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "routine").await;
    let supervisor = app.token(Demo::Supervisor).await;
    let author = app.token(Demo::Citizen).await;
    // Closing needs a replied message.
    app.post(
        &format!("/api/v1/messages/{id}/close"),
        &supervisor,
        json!({"note": "x"}),
    )
    .await
    .assert_problem(409, "conflict");
    clock.advance(Duration::hours(2));
    publish(&app, &id, "final", GOOD).await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/messages/{id}/feedback"),
            Some(&author),
            Some(json!({"rating": "unsatisfied", "comment": "要求赔偿"})),
        )
        .await;
    assert_eq!(r.status, 201);
    // An open supervision case must be closed first.
    let case = app
        .post(
            &format!("/api/v1/messages/{id}/supervisions"),
            &supervisor,
            json!({"level": "general", "instruction": "核实群众诉求", "due_date": "2026-12-31"}),
        )
        .await;
    assert_eq!(case.status, 201, "{}", case.body);
    let close = format!("/api/v1/messages/{id}/close");
    app.post(&close, &supervisor, json!({"note": "赔偿诉求不属于本事项"}))
        .await
        .assert_problem(409, "conflict");
    let case_id = case.body["id"].as_str().unwrap();
    let c = app
        .post(
            &format!("/api/v1/supervisions/{case_id}/close"),
            &supervisor,
            json!({"note": "已核实"}),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    app.post(
        &close,
        &app.token(Demo::Handler).await,
        json!({"note": "x"}),
    )
    .await
    .assert_problem(403, "forbidden");
    let r = app
        .post(
            &close,
            &supervisor,
            json!({"note": "赔偿诉求应通过司法途径解决，已向群众解释"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "closed");
    let fb = app
        .get(&format!("/api/v1/messages/{id}/feedback"), &supervisor)
        .await;
    assert_eq!(fb.body["items"][0]["flag"], "closed");
    assert_eq!(
        fb.body["items"][0]["resolution_note"],
        "赔偿诉求应通过司法途径解决，已向群众解释"
    );
    // Closed: the scheduler leaves it alone.
    let events = actions(&app, &supervisor, &id).await.len();
    clock.advance(Duration::days(30));
    liuyan::scheduler::run_once(&mut app.db.connect(), clock.now()).unwrap();
    assert_eq!(actions(&app, &supervisor, &id).await.len(), events);
}

#[actix_web::test]
async fn return_visits_are_sampled_reproducibly_and_a_failed_one_reopens() {
    let clock = Clock::manual(local("2026-11-23T09:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let supervisor = app.token(Demo::Supervisor).await;
    // Four handled messages of the transport bureau, one still in progress.
    let liaison = lanzhou_liaison(&app).await;
    let mut handled = Vec::new();
    for _ in 0..4 {
        let id = in_progress(&app, &liaison, "routine").await;
        clock.advance(Duration::minutes(10));
        publish(&app, &id, "final", GOOD).await;
        handled.push(id);
    }
    let open = in_progress(&app, &liaison, "routine").await;
    clock.advance(Duration::hours(1));
    let body = json!({"from": "2026-11-23", "to": "2026-11-23", "per_unit": 2, "seed": 20261126, "kind": "return_visit"});
    // Only supervisors sample.
    assert_eq!(
        app.post(
            "/api/v1/return-visit-samples",
            &app.token(Demo::Handler).await,
            body.clone()
        )
        .await
        .status,
        403
    );
    let s = app
        .post("/api/v1/return-visit-samples", &supervisor, body.clone())
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(
        (
            s.body["planned"].as_i64(),
            s.body["already_planned"].as_i64()
        ),
        (Some(2), Some(0))
    );
    let picked: Vec<String> = s.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        picked.iter().all(|p| handled.contains(p) && *p != open),
        "{picked:?}"
    );
    assert!(
        s.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["selection"] == "sampled" && v["sample_seed"] == 20261126)
    );
    // The same seed picks the same messages, in the same order (their plans already exist).
    let again = app
        .post("/api/v1/return-visit-samples", &supervisor, body.clone())
        .await;
    let again_ids: Vec<String> = again.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(again_ids, picked);
    assert_eq!(
        (
            again.body["planned"].as_i64(),
            again.body["already_planned"].as_i64()
        ),
        (Some(0), Some(2))
    );
    // A period without handled messages picks nothing.
    let none = app.post("/api/v1/return-visit-samples", &supervisor, json!({"from": "2026-10-01", "to": "2026-10-31", "per_unit": 2, "seed": 1, "kind": "return_visit"})).await;
    assert_eq!(none.body["items"], json!([]));
    app.post("/api/v1/return-visit-samples", &supervisor, json!({"from": "2026-11-30", "to": "2026-11-01", "per_unit": 2, "seed": 1, "kind": "return_visit"}))
        .await
        .assert_problem(422, "validation-failed");

    // By hand: an on-site check of an unsampled message; not of one still in progress.
    let unsampled = handled
        .iter()
        .find(|h| !picked.contains(h))
        .unwrap()
        .clone();
    let manual = app
        .post(
            "/api/v1/return-visits",
            &supervisor,
            json!({"message_id": unsampled, "kind": "on_site_check"}),
        )
        .await;
    assert_eq!(manual.status, 201, "{}", manual.body);
    app.post(
        "/api/v1/return-visits",
        &supervisor,
        json!({"message_id": unsampled, "kind": "return_visit"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/return-visits",
        &supervisor,
        json!({"message_id": open, "kind": "return_visit"}),
    )
    .await
    .assert_problem(409, "conflict");

    // Recording: validations, then not_resolved reopens the message.
    let vid = manual.body["id"].as_str().unwrap();
    let result = format!("/api/v1/return-visits/{vid}/result");
    app.post(&result, &supervisor, json!({"visited_on": "2026-11-23", "method": "on_site", "visitor": "督查室 李明", "finding": "resolved", "reopen": true}))
        .await
        .assert_problem(422, "validation-failed");
    app.post(&result, &supervisor, json!({"visited_on": "2026-12-30", "method": "on_site", "visitor": "督查室 李明", "finding": "resolved"}))
        .await
        .assert_problem(422, "validation-failed");
    app.post(&result, &app.token(Demo::Handler).await, json!({"visited_on": "2026-11-23", "method": "on_site", "visitor": "x", "finding": "resolved"}))
        .await
        .assert_problem(403, "forbidden");
    let r = app.post(&result, &supervisor, json!({"visited_on": "2026-11-23", "method": "on_site", "visitor": "督查室 李明", "finding": "not_resolved", "notes": "信号灯仍然闪烁", "reopen": true})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["reopened"].as_bool()),
        (Some("done"), Some(true))
    );
    let m = message(&app, &supervisor, &unsampled).await;
    assert_eq!(
        (m["status"].as_str(), m["reopen_count"].as_i64()),
        (Some("in_progress"), Some(1))
    );
    app.post(&result, &supervisor, json!({"visited_on": "2026-11-23", "method": "phone", "visitor": "督查室 李明", "finding": "resolved"}))
        .await
        .assert_problem(409, "conflict");
    let a = actions(&app, &supervisor, &unsampled).await;
    assert_eq!(&a[a.len() - 2..], ["record_visit", "reopen"]);
    // The list shows the visits in scope; the unit sees its own.
    let list = app
        .get(
            &format!("/api/v1/return-visits?status=done&message_id={unsampled}"),
            &supervisor,
        )
        .await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        list.body
    );
    let unit_view = app
        .get("/api/v1/return-visits", &app.token(Demo::Handler).await)
        .await;
    assert_eq!(
        unit_view.body["items"].as_array().unwrap().len(),
        3,
        "{}",
        unit_view.body
    );
    let cg = staff(&app, "cg.handler@example.cn", "handler", CHENGGUAN).await;
    assert_eq!(
        app.get("/api/v1/return-visits", &cg).await.body["items"],
        json!([])
    );
    assert_eq!(
        app.get(&format!("/api/v1/return-visits/{vid}"), &cg)
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn the_editorial_rules_are_admin_configurable() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let handler = app.token(Demo::Handler).await;
    let r = app.get("/api/v1/reply-policy", &handler).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["feedback_window_days"], 15);
    let body = json!({"min_chars": 10, "banned_phrases": ["关心和监督", "关心和监督"], "feedback_window_days": 7});
    assert_eq!(
        put_with(
            &app,
            "/api/v1/reply-policy",
            &handler,
            body.clone(),
            "\"1\""
        )
        .await
        .status,
        403
    );
    put_with(&app, "/api/v1/reply-policy", &admin, body.clone(), "\"9\"")
        .await
        .assert_problem(412, "precondition-failed");
    let r = put_with(&app, "/api/v1/reply-policy", &admin, body, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["banned_phrases"], json!(["关心和监督"]));
    let id = in_progress(&app, &lanzhou_liaison(&app).await, "routine").await;
    let d = draft(&app, &handler, &id, "final", GOOD).await;
    let s = reply_action(
        &app,
        &handler,
        d.body["id"].as_str().unwrap(),
        "submit",
        json!({}),
    )
    .await;
    assert_eq!(codes(&s), vec!["banned_phrase"], "{}", s.body);
}

/// Every demo role against every reply, feedback and visit operation: the roles the issue names
/// get past the role check (their object-level answer may still be 403/404/409/422), all others
/// get a role refusal. The expected roles are written out here, not read from the code.
#[actix_web::test]
async fn each_role_against_each_reply_operation() {
    let app = TestApp::spawn().await;
    let liaison = lanzhou_liaison(&app).await;
    let id = in_progress(&app, &liaison, "routine").await;
    let handler = app.token(Demo::Handler).await;
    let d = draft(&app, &handler, &id, "final", GOOD).await;
    let rid = d.body["id"].as_str().unwrap().to_owned();
    let nil = "00000000-0000-7000-8000-000000000000";
    use Demo::*;
    #[rustfmt::skip]
    let cases: Vec<(Method, String, Value, &[Demo])> = vec![
        (Method::POST, format!("/api/v1/messages/{id}/replies"), json!({"kind": "interim", "body": GOOD}), &[Handler, UnitAdmin, Liaison]),
        (Method::PUT, format!("/api/v1/replies/{rid}"), json!({"body": GOOD}), &[Handler, UnitAdmin, Liaison]),
        (Method::POST, format!("/api/v1/replies/{rid}/submit"), json!({}), &[Handler, UnitAdmin, Liaison]),
        (Method::POST, format!("/api/v1/replies/{rid}/discard"), json!({}), &[Handler, UnitAdmin, Liaison]),
        (Method::POST, format!("/api/v1/replies/{rid}/approve"), json!({}), &[Reviewer, UnitAdmin]),
        (Method::POST, format!("/api/v1/replies/{rid}/return"), json!({"comment": "x"}), &[Reviewer, UnitAdmin]),
        (Method::POST, format!("/api/v1/replies/{rid}/publish"), json!({}), &[Handler, UnitAdmin, Reviewer, Liaison]),
        (Method::GET, format!("/api/v1/replies/{rid}/revisions"), Value::Null, &[Handler, UnitAdmin, Reviewer, Liaison, Supervisor, Leader, Analyst, Admin]),
        (Method::GET, "/api/v1/replies".into(), Value::Null, &[Handler, UnitAdmin, Reviewer, Liaison, Supervisor, Leader, Analyst, Admin]),
        (Method::PUT, "/api/v1/reply-policy".into(), json!({"min_chars": 20, "banned_phrases": [], "feedback_window_days": 15}), &[Admin]),
        (Method::PUT, format!("/api/v1/messages/{id}/feedback"), json!({"rating": "satisfied"}), &[Citizen]),
        (Method::GET, "/api/v1/feedback".into(), Value::Null, &[Handler, UnitAdmin, Reviewer, Liaison, Supervisor, Leader, Analyst, Admin]),
        (Method::POST, format!("/api/v1/messages/{id}/reopen"), json!({"note": "x"}), &[Supervisor, Admin]),
        (Method::POST, format!("/api/v1/messages/{id}/close"), json!({"note": "x"}), &[Supervisor, Admin]),
        (Method::POST, "/api/v1/return-visits".into(), json!({"message_id": id, "kind": "return_visit"}), &[Supervisor, Admin]),
        (Method::POST, "/api/v1/return-visit-samples".into(), json!({"from": "2026-11-01", "to": "2026-11-02", "per_unit": 1, "seed": 1, "kind": "return_visit"}), &[Supervisor, Admin]),
        (Method::POST, format!("/api/v1/return-visits/{nil}/result"), json!({"visited_on": "2026-11-01", "method": "phone", "visitor": "x", "finding": "resolved"}), &[Supervisor, Admin]),
        (Method::GET, "/api/v1/return-visits".into(), Value::Null, &[Handler, UnitAdmin, Reviewer, Liaison, Supervisor, Leader, Analyst, Admin]),
    ];
    let mut tokens = Vec::new();
    for who in Demo::ALL {
        tokens.push((who, app.token(who).await));
    }
    for (method, path, body, allowed) in &cases {
        for (who, token) in &tokens {
            let body = if body.is_null() {
                None
            } else {
                Some(body.clone())
            };
            let r = app.send(method.clone(), path, Some(token), body).await;
            let role_refusal = r.status == 403
                && r.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("role `"));
            let listed = allowed.iter().any(|a| a.email() == who.email());
            assert_eq!(
                !role_refusal, listed,
                "{who:?} {method} {path}: {} {}",
                r.status, r.body
            );
            assert_ne!(r.status, 500, "{who:?} {method} {path}: {}", r.body);
        }
    }
}

/// Eight "replicas" (each its own connection) close messages whose rating window ended at the
/// same time: every message closes exactly once.
#[actix_web::test]
async fn messages_close_once_across_replicas() {
    let clock = Clock::manual(local("2026-11-23T09:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let liaison = lanzhou_liaison(&app).await;
    let mut ours = Vec::new();
    for _ in 0..6 {
        let id = in_progress(&app, &liaison, "routine").await;
        publish(&app, &id, "final", GOOD).await;
        ours.push(id);
    }
    let later = clock.now() + Duration::days(16);
    let url = app.db.url.clone();
    let passes: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = crate::helpers::establish(&url);
                let a = liuyan::scheduler::run_once(&mut conn, later).unwrap();
                let b = liuyan::scheduler::run_once(&mut conn, later).unwrap();
                a.closed + b.closed
            })
        })
        .collect();
    let mut closed: usize = passes.into_iter().map(|t| t.join().unwrap()).sum();
    let mut conn = app.db.connect();
    closed += liuyan::scheduler::run_once(&mut conn, later)
        .unwrap()
        .closed;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel::RunQueryDsl;
    let events: N = diesel::sql_query(
        "SELECT count(*) AS n FROM message_events WHERE action = 'close' AND actor_role = 'system'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(closed as i64, events.n, "one close event per close counted");
    let supervisor = app.token(Demo::Supervisor).await;
    for id in &ours {
        let a = actions(&app, &supervisor, id).await;
        assert_eq!(a.iter().filter(|x| *x == "close").count(), 1, "{id}: {a:?}");
        assert_eq!(message(&app, &supervisor, id).await["status"], "closed");
    }
    assert_eq!(
        liuyan::scheduler::run_once(&mut conn, later)
            .unwrap()
            .closed,
        0
    );
}
