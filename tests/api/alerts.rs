//! Early warning: alert rules, keyword and repeat rules at intake, spikes and the repeat
//! catch-up in the scheduler, acknowledging alerts, validation and who may do what.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::handling::{local, message};
use crate::helpers::{Demo, Resp, TestApp, test_settings};
use crate::messages::{lanzhou_liaison, message_body, other_citizen, staff, submit};
use liuyan::clock::Clock;

const EDUCATION: &str = "01930000-0000-7000-8000-000000000003";
const HEALTH: &str = "01930000-0000-7000-8000-000000000004";

/// An app whose clock the test sets (far from the demo messages, which carry the time the
/// template was seeded).
async fn app_at(at: &str) -> (TestApp, Clock) {
    let clock = Clock::manual(local(at));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    (TestApp::spawn_with(settings).await, clock)
}

async fn with_if_match(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
    etag: &str,
) -> Resp {
    app.send_with(method, path, Some(token), Some(body), &[("if-match", etag)])
        .await
}

/// Create a rule (201 expected); returns it.
async fn rule(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/alert-rules", token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// The ledger of a message (staff view), oldest first.
async fn events(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/messages/{id}/events?limit=100"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

async fn chain_is_valid(app: &TestApp, token: &str, id: &str) {
    let r = app
        .get(&format!("/api/v1/messages/{id}/events/verify"), token)
        .await;
    assert_eq!(r.body["valid"], true, "{}", r.body);
}

async fn alerts(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/alerts?{query}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

fn run_scheduler(app: &TestApp, at: DateTime<Utc>) -> liuyan::scheduler::Raised {
    liuyan::scheduler::run_once(&mut app.db.connect(), at).unwrap()
}

#[actix_web::test]
async fn a_keyword_hit_at_intake_marks_the_message_important_and_raises_an_alert() {
    let app = TestApp::spawn().await;
    let author = app.token(Demo::Citizen).await;
    let supervisor = app.token(Demo::Supervisor).await;

    // The demo rule 集体上访预警 (keywords 集体上访, 联名上访, 群体性事件).
    let mut b = message_body("工地欠款问题");
    b["body"] = json!("工地包工头跑路，工人们商量要去市政府集体上访，请领导重视。");
    let r = app.post("/api/v1/messages", &author, b).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let m = r.body["message"].clone();
    let id = str_of(&m["id"]);
    // Priority is internal working content: the author's copy leaves it out, staff read it.
    assert_eq!(
        m["priority"],
        Value::Null,
        "the author does not see priority"
    );
    let staff_view = app
        .get(&format!("/api/v1/messages/{id}"), &supervisor)
        .await;
    assert_eq!(
        staff_view.body["priority"], "important",
        "a keyword hit marks the message important"
    );
    assert_eq!(m["version"], 1, "in the same transaction as the submission");
    assert_eq!(r.header("etag"), Some("\"1\""));

    let ledger = events(&app, &supervisor, &id).await;
    let actions: Vec<&str> = ledger
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["submit", "alert_raised"]);
    // The receipt is still the hash of the submission.
    assert_eq!(r.body["receipt"]["chain_head"], ledger[0]["hash"]);
    let raised = &ledger[1];
    assert_eq!(raised["actor_role"], "system");
    assert_eq!(raised["from_status"], "submitted");
    assert_eq!(raised["to_status"], "submitted");
    assert_eq!(raised["payload"]["kind"], "keyword");
    assert_eq!(raised["payload"]["matched_keywords"], json!(["集体上访"]));
    assert_eq!(raised["payload"]["marked_important"], true);
    assert_eq!(raised["payload"]["previous_priority"], Value::Null);
    chain_is_valid(&app, &supervisor, &id).await;

    // The alert, linked to the message.
    let list = alerts(&app, &supervisor, "kind=keyword").await;
    assert_eq!(list.len(), 1, "{list:?}");
    let alert = &list[0];
    assert_eq!(alert["id"], raised["payload"]["alert_id"]);
    assert_eq!(alert["rule_name"], "集体上访预警");
    assert_eq!(alert["status"], "open");
    assert_eq!(alert["message_count"], 1);
    assert_eq!(alert["region_code"], "620102");
    assert_eq!(alert["details"]["tracking_no"], m["tracking_no"]);
    let detail = app
        .get(
            &format!("/api/v1/alerts/{}", str_of(&alert["id"])),
            &supervisor,
        )
        .await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert_eq!(detail.header("etag"), Some("\"1\""));
    assert_eq!(
        detail.body["messages"],
        json!([{"message_id": id, "tracking_no": m["tracking_no"],
                "linked_at": detail.body["messages"][0]["linked_at"]}])
    );

    // Latin keywords match in any case; a message without a keyword raises nothing.
    let analyst = app.token(Demo::Analyst).await;
    rule(
        &app,
        &analyst,
        json!({"kind": "keyword", "name": "PX项目", "keywords": ["PX项目"]}),
    )
    .await;
    let mut b = message_body("反对建设px项目");
    b["body"] = json!("听说要在附近建设px项目，居民们很担心，请公开环评信息。");
    let px = submit(&app, &author, b).await;
    let priority = |id: Value| {
        let (app, supervisor) = (&app, &supervisor);
        async move {
            app.get(&format!("/api/v1/messages/{}", str_of(&id)), supervisor)
                .await
                .body["priority"]
                .clone()
        }
    };
    assert_eq!(priority(px["id"].clone()).await, "important");
    let plain = submit(&app, &author, message_body("路灯不亮")).await;
    assert_eq!(priority(plain["id"].clone()).await, Value::Null);
    let plain_events = events(&app, &supervisor, plain["id"].as_str().unwrap()).await;
    assert_eq!(plain_events.len(), 1);
    assert_eq!(alerts(&app, &supervisor, "kind=keyword").await.len(), 2);
    // Newest first, one page at a time.
    let r = app
        .get("/api/v1/alerts?kind=keyword&limit=1", &supervisor)
        .await;
    assert_eq!(r.body["items"][0]["rule_name"], "PX项目");
    let cursor = str_of(&r.body["next_cursor"]);
    let r = app
        .get(
            &format!("/api/v1/alerts?kind=keyword&limit=1&cursor={cursor}"),
            &supervisor,
        )
        .await;
    assert_eq!(r.body["items"][0]["rule_name"], "集体上访预警");
    assert_eq!(r.body["next_cursor"], Value::Null);
}

/// Resubmission is evaluated too; a keyword raises the priority but never lowers it.
#[actix_web::test]
async fn resubmission_is_evaluated_and_nothing_is_downgraded() {
    let app = TestApp::spawn().await;
    let author = app.token(Demo::Citizen).await;
    let liaison = lanzhou_liaison(&app).await;
    let transport = "01930000-0000-7000-8000-000000000002";

    for (priority, marked) in [("routine", true), ("important", false)] {
        let m = submit(&app, &author, message_body("工资问题")).await;
        let id = str_of(&m["id"]);
        assert_eq!(m["priority"], Value::Null);
        let r = with_if_match(
            &app,
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            &liaison,
            json!({"priority": priority, "category_id": transport}),
            "\"1\"",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = with_if_match(
            &app,
            Method::POST,
            &format!("/api/v1/messages/{id}/reject"),
            &liaison,
            json!({"reason": "insufficient_information", "note": "请说明具体情况"}),
            "\"2\"",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = with_if_match(
            &app,
            Method::POST,
            &format!("/api/v1/messages/{id}/resubmit"),
            &author,
            json!({"body": "城关区某工地拖欠工资四个月，涉及三十多名农民工，请领导协调。"}),
            "\"3\"",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "submitted");
        assert_eq!(
            r.body["priority"],
            Value::Null,
            "the author does not see priority"
        );
        let staff_view = app.get(&format!("/api/v1/messages/{id}"), &liaison).await;
        assert_eq!(staff_view.body["priority"], "important", "from {priority}");
        assert_eq!(r.body["version"], 4, "one version for the resubmission");
        let ledger = events(&app, &liaison, &id).await;
        let last = ledger.last().unwrap();
        assert_eq!(last["action"], "alert_raised");
        assert_eq!(last["payload"]["matched_keywords"], json!(["拖欠工资"]));
        assert_eq!(last["payload"]["marked_important"], marked);
        assert_eq!(last["payload"]["previous_priority"], priority);
        chain_is_valid(&app, &liaison, &id).await;
    }
}

#[actix_web::test]
async fn a_repeat_rule_raises_once_per_period_and_later_messages_join() {
    let (app, clock) = app_at("2027-03-10T09:00").await;
    let author = app.token(Demo::Citizen).await;
    let other = other_citizen(&app).await;
    let analyst = app.token(Demo::Analyst).await;
    let r = rule(
        &app,
        &analyst,
        json!({"kind": "repeat", "name": "同一地址重复来信", "repeat_by": "address",
               "threshold": 3, "window_days": 7}),
    )
    .await;
    assert_eq!(
        r["region_code"], "620000",
        "an analyst's rule lies in their region"
    );
    let rule_id = str_of(&r["id"]);
    // One address, written three ways (spacing, punctuation, full-width digits and letters), by
    // two citizens.
    let at = |address: &str| {
        let mut b = message_body("小区门口积水");
        b["address"] = json!(address);
        b
    };
    let mut ids = Vec::new();
    for (token, address) in [
        (&author, "城关区庆阳路１２号（A座）"),
        (&other, "城关区 庆阳路12号a座"),
    ] {
        let m = submit(&app, token, at(address)).await;
        ids.push(str_of(&m["id"]));
        clock.advance(Duration::hours(20));
    }
    assert!(alerts(&app, &analyst, "kind=repeat").await.is_empty());
    let third = submit(&app, &author, at("城关区庆阳路12号A座。")).await;
    ids.push(str_of(&third["id"]));
    assert_eq!(
        third["priority"],
        Value::Null,
        "repetition alone changes no priority"
    );
    let list = alerts(&app, &analyst, &format!("rule_id={rule_id}")).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let alert_id = str_of(&list[0]["id"]);
    assert_eq!(list[0]["message_count"], 3);
    assert_eq!(list[0]["details"]["repeat_by"], "address");
    assert_eq!(list[0]["details"]["count"], 3);
    for id in &ids {
        let ledger = events(&app, &analyst, id).await;
        let raised: Vec<&Value> = ledger
            .iter()
            .filter(|e| e["action"] == "alert_raised")
            .collect();
        assert_eq!(raised.len(), 1, "{id}: {ledger:?}");
        assert_eq!(raised[0]["payload"]["alert_id"], json!(alert_id));
        assert_eq!(raised[0]["payload"]["repeat_by"], "address");
        chain_is_valid(&app, &analyst, id).await;
    }

    // A fourth message of the period joins the alert; another address raises nothing.
    clock.advance(Duration::hours(1));
    let fourth = submit(&app, &other, at("城关区庆阳路12号A座")).await;
    submit(&app, &author, at("七里河区西站十字")).await;
    let list = alerts(&app, &analyst, &format!("rule_id={rule_id}")).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["message_count"], 4);
    assert_eq!(list[0]["version"], 2, "joining changes the alert");
    let detail = app
        .get(&format!("/api/v1/alerts/{alert_id}"), &analyst)
        .await;
    assert_eq!(detail.body["messages"][0]["message_id"], fourth["id"]);
    let first_ledger = events(&app, &analyst, &ids[0]).await;
    assert_eq!(
        first_ledger
            .iter()
            .filter(|e| e["action"] == "alert_raised")
            .count(),
        1,
        "earlier messages are not linked twice"
    );
    // The scheduler's catch-up has nothing to add.
    assert_eq!(run_scheduler(&app, clock.now()).alerts, 0);
}

/// Rules do not look back at intake; the scheduler catches up repetitions that reached the
/// threshold before the rule existed (or while it was inactive), once.
#[actix_web::test]
async fn the_scheduler_catches_up_repetitions_once() {
    let (app, clock) = app_at("2027-03-10T09:00").await;
    let other = other_citizen(&app).await;
    let admin = app.token(Demo::Admin).await;
    let mut ids = Vec::new();
    for title in ["供暖不热", "供暖还是不热", "供暖依然不热"] {
        ids.push(str_of(
            &submit(&app, &other, message_body(title)).await["id"],
        ));
        clock.advance(Duration::hours(2));
    }
    let r = rule(
        &app,
        &admin,
        json!({"kind": "repeat", "name": "同一作者重复来信", "repeat_by": "author",
               "threshold": 3, "window_days": 2, "region_code": "620100"}),
    )
    .await;
    let rule_id = str_of(&r["id"]);
    assert!(alerts(&app, &admin, "").await.is_empty());
    let first = run_scheduler(&app, clock.now());
    assert_eq!(first.alerts, 1, "{first:?}");
    assert_eq!(run_scheduler(&app, clock.now()).alerts, 0);
    let list = alerts(&app, &admin, &format!("rule_id={rule_id}")).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["message_count"], 3);
    for id in &ids {
        let a: Vec<String> = events(&app, &admin, id)
            .await
            .iter()
            .map(|e| str_of(&e["action"]))
            .collect();
        assert_eq!(a, ["submit", "alert_raised"], "{id}");
    }
    // Three days later the window holds nothing.
    assert_eq!(
        run_scheduler(&app, clock.now() + Duration::days(3)).alerts,
        0
    );
}

#[actix_web::test]
async fn a_spike_is_raised_once_by_the_scheduler() {
    let (app, clock) = app_at("2027-03-03T09:00").await;
    let author = app.token(Demo::Citizen).await;
    let analyst = app.token(Demo::Analyst).await;
    let education = |title: &str| {
        let mut b = message_body(title);
        b["category_id"] = json!(EDUCATION);
        b
    };
    // A week of history: two education messages from 城关区 every morning.
    for _day in 0..7 {
        for title in ["学校门口交通拥堵", "课后服务收费"] {
            submit(&app, &author, education(title)).await;
        }
        clock.advance(Duration::days(1));
    }
    // 2027-03-10 09:00. Another category and a region elsewhere do not count.
    let r = rule(
        &app,
        &analyst,
        json!({"kind": "spike", "name": "城关区教育留言激增", "category_id": EDUCATION,
               "region_code": "620102", "threshold": 3, "window_hours": 24,
               "baseline_days": 7, "baseline_factor": 2}),
    )
    .await;
    assert_eq!(r["baseline_factor"], 2.0);
    let rule_id = str_of(&r["id"]);
    let mut today = Vec::new();
    for title in ["校车超载", "学校食堂卫生", "教室漏雨"] {
        today.push(str_of(&submit(&app, &author, education(title)).await["id"]));
    }
    let mut health = message_body("医院排队");
    health["category_id"] = json!(HEALTH);
    submit(&app, &author, health).await;
    // Three today against two a day before: not above 2 × the baseline.
    clock.advance(Duration::minutes(30));
    assert_eq!(run_scheduler(&app, clock.now()).alerts, 0);
    for title in ["学生近视筛查", "学区划分"] {
        today.push(str_of(&submit(&app, &author, education(title)).await["id"]));
    }
    // Five is: raised once, even by several replicas at the same time.
    clock.advance(Duration::minutes(10));
    let now = clock.now();
    let url = app.db.url.clone();
    let passes: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = crate::helpers::establish(&url);
                liuyan::scheduler::run_once(&mut conn, now).unwrap().alerts
            })
        })
        .collect();
    let raised: usize = passes.into_iter().map(|t| t.join().unwrap()).sum();
    let raised = raised + run_scheduler(&app, now).alerts;
    assert_eq!(raised, 1);
    // Not again on the next ticks while the window overlaps the one raised.
    assert_eq!(run_scheduler(&app, now + Duration::minutes(1)).alerts, 0);
    assert_eq!(run_scheduler(&app, now + Duration::hours(5)).alerts, 0);

    let list = alerts(&app, &analyst, &format!("rule_id={rule_id}")).await;
    assert_eq!(list.len(), 1);
    let alert = &list[0];
    assert_eq!(alert["kind"], "spike");
    assert_eq!(alert["details"]["count"], 5);
    assert_eq!(alert["details"]["baseline_average"], 2.0);
    assert_eq!(alert["message_count"], 5);
    assert_eq!(alert["region_code"], "620102");
    let end: DateTime<Utc> = alert["window_end"].as_str().unwrap().parse().unwrap();
    let start: DateTime<Utc> = alert["window_start"].as_str().unwrap().parse().unwrap();
    assert_eq!(end, now);
    assert_eq!(end - start, Duration::hours(24));
    let detail = app
        .get(
            &format!("/api/v1/alerts/{}", str_of(&alert["id"])),
            &analyst,
        )
        .await;
    let mut linked: Vec<String> = detail.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| str_of(&l["message_id"]))
        .collect();
    linked.sort();
    today.sort();
    assert_eq!(linked, today, "the window's messages");
    for id in &today {
        let ledger = events(&app, &analyst, id).await;
        let last = ledger.last().unwrap();
        assert_eq!(last["action"], "alert_raised");
        assert_eq!(last["actor_role"], "system");
        assert_eq!(last["payload"]["count"], 5);
        chain_is_valid(&app, &analyst, id).await;
    }
    // The leader of Lanzhou sees it (城关区 lies in 兰州市); an analyst of 天水 does not.
    let leader = app.token(Demo::Leader).await;
    assert_eq!(
        alerts(&app, &leader, &format!("rule_id={rule_id}"))
            .await
            .len(),
        1
    );
    let tianshui = region_analyst(&app, "620500").await;
    assert!(
        alerts(&app, &tianshui, &format!("rule_id={rule_id}"))
            .await
            .is_empty()
    );
    app.get(
        &format!("/api/v1/alerts/{}", str_of(&alert["id"])),
        &tianshui,
    )
    .await
    .assert_problem(404, "not-found");
}

/// An analyst account working in one region.
async fn region_analyst(app: &TestApp, region: &str) -> String {
    let admin = app.token(Demo::Admin).await;
    let email = format!("analyst.{region}@example.cn");
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": email, "password": "analyst password 1", "display_name": "分析员",
                   "role": "analyst", "scope_region_code": region}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.login(&email, "analyst password 1").await
}

/// A keyword alert about a new message in 城关区; returns (alert id, message id).
async fn keyword_alert(app: &TestApp, title: &str) -> (String, String) {
    let author = app.token(Demo::Citizen).await;
    let mut b = message_body(title);
    b["body"] = json!("隧道施工发生坍塌，附近居民很担心安全，请尽快处理。");
    let m = submit(app, &author, b).await;
    let id = str_of(&m["id"]);
    let admin = app.token(Demo::Admin).await;
    let ledger = events(app, &admin, &id).await;
    let raised = ledger
        .iter()
        .find(|e| e["action"] == "alert_raised")
        .expect("an alert");
    (str_of(&raised["payload"]["alert_id"]), id)
}

#[actix_web::test]
async fn acknowledging_an_alert() {
    let app = TestApp::spawn().await;
    let (alert, message_id) = keyword_alert(&app, "隧道坍塌").await;
    let supervisor = app.token(Demo::Supervisor).await;
    let path = format!("/api/v1/alerts/{alert}/acknowledge");

    // Validation, scope, role, stale versions.
    let r = app.post(&path, &supervisor, json!({})).await;
    assert_eq!(r.failing_fields(), vec!["note"]);
    let r = app.post(&path, &supervisor, json!({"note": "   "})).await;
    assert_eq!(r.failing_fields(), vec!["note"]);
    let r = app
        .post(&path, &supervisor, json!({"note": "x".repeat(1001)}))
        .await;
    assert_eq!(r.failing_fields(), vec!["note"]);
    let leader = app.token(Demo::Leader).await;
    app.post(&path, &leader, json!({"note": "收到"}))
        .await
        .assert_problem(403, "forbidden");
    let tianshui = region_analyst(&app, "620500").await;
    app.post(&path, &tianshui, json!({"note": "收到"}))
        .await
        .assert_problem(404, "not-found");
    with_if_match(
        &app,
        Method::POST,
        &path,
        &supervisor,
        json!({"note": "收到"}),
        "\"7\"",
    )
    .await
    .assert_problem(412, "precondition-failed");
    app.post(
        "/api/v1/alerts/00000000-0000-7000-8000-000000000000/acknowledge",
        &supervisor,
        json!({"note": "收到"}),
    )
    .await
    .assert_problem(404, "not-found");

    let r = with_if_match(
        &app,
        Method::POST,
        &path,
        &supervisor,
        json!({"note": " 已通知城关区政府核实 "}),
        "\"1\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "acknowledged");
    assert_eq!(r.body["acknowledgement_note"], "已通知城关区政府核实");
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    let me = app.get("/api/v1/me", &supervisor).await;
    assert_eq!(r.body["acknowledged_by"], me.body["id"]);
    assert!(r.body["acknowledged_at"].is_string());

    // Only once.
    let analyst = app.token(Demo::Analyst).await;
    app.post(&path, &analyst, json!({"note": "再次确认"}))
        .await
        .assert_problem(409, "conflict");
    assert!(alerts(&app, &analyst, "status=open").await.is_empty());
    assert_eq!(alerts(&app, &analyst, "status=acknowledged").await.len(), 1);
    // Acknowledging leaves the message alone.
    let m = message(&app, &supervisor, &message_id).await;
    assert_eq!(m["version"], 1);
    // Filters.
    assert!(alerts(&app, &analyst, "kind=spike").await.is_empty());
    assert!(
        alerts(&app, &analyst, "since=2099-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    for bad in [
        "status=closed",
        "kind=weather",
        "since=yesterday",
        "rule_id=42",
        "limit=0",
        "cursor=xyz",
    ] {
        let r = app.get(&format!("/api/v1/alerts?{bad}"), &analyst).await;
        r.assert_problem(422, "validation-failed");
    }
}

#[actix_web::test]
async fn rules_are_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let unknown = "00000000-0000-7000-8000-000000000000";
    #[rustfmt::skip]
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"name": "x", "keywords": ["a"]}), vec!["kind"]),
        (json!({"kind": "weather", "name": "x"}), vec!["kind"]),
        (json!({"kind": "keyword", "name": "  "}), vec!["keywords", "name"]),
        (json!({"kind": "keyword", "name": "x", "keywords": []}), vec!["keywords"]),
        (json!({"kind": "keyword", "name": "x", "keywords": ["a"], "threshold": 3, "window_days": 2}), vec!["threshold", "window_days"]),
        (json!({"kind": "keyword", "name": "x", "keywords": ["一二三四五六七八九十一二三四五六七八九十一"]}), vec!["keywords"]),
        (json!({"kind": "keyword", "name": "x", "keywords": ["a"], "id": unknown}), vec!["id"]),
        (json!({"kind": "keyword", "name": "x", "keywords": ["a"], "colour": "red"}), vec!["colour"]),
        (json!({"kind": "keyword", "name": "x", "keywords": ["a"], "region_code": "62"}), vec!["region_code"]),
        (json!({"kind": "keyword", "name": "x", "keywords": ["a"], "region_code": "999999"}), vec!["region_code"]),
        (json!({"kind": "keyword", "name": "x", "keywords": ["a"], "category_id": unknown}), vec!["category_id"]),
        (json!({"kind": "spike", "name": "x", "threshold": 3, "window_hours": 24}), vec!["category_id"]),
        (json!({"kind": "spike", "name": "x", "region_code": "620100"}), vec!["threshold", "window_hours"]),
        (json!({"kind": "spike", "name": "x", "region_code": "620100", "threshold": 0, "window_hours": 169, "baseline_days": -1, "baseline_factor": 0.5}),
            vec!["baseline_days", "baseline_factor", "threshold", "window_hours"]),
        (json!({"kind": "spike", "name": "x", "region_code": "620100", "threshold": 3, "window_hours": 24, "repeat_by": "author"}), vec!["repeat_by"]),
        (json!({"kind": "spike", "name": "x", "region_code": "620100", "threshold": "many", "window_hours": 24}), vec!["threshold"]),
        (json!({"kind": "repeat", "name": "x"}), vec!["repeat_by", "threshold", "window_days"]),
        (json!({"kind": "repeat", "name": "x", "repeat_by": "phone", "threshold": 3, "window_days": 7}), vec!["repeat_by"]),
        (json!({"kind": "repeat", "name": "x", "repeat_by": "author", "threshold": 1, "window_days": 0}), vec!["threshold", "window_days"]),
        (json!({"kind": "repeat", "name": "x", "repeat_by": "author", "threshold": 3, "window_days": 7, "keywords": ["a"]}), vec!["keywords"]),
    ];
    for (body, fields) in cases {
        let r = app.post("/api/v1/alert-rules", &admin, body.clone()).await;
        r.assert_problem(422, "validation-failed");
        let mut got = r.failing_fields();
        got.sort();
        got.dedup();
        assert_eq!(got, fields, "{body}: {}", r.body);
    }
    // Whole numbers may be written as 7.0; the defaults fill the baseline.
    let r = rule(
        &app,
        &admin,
        json!({"kind": "spike", "name": " 七里河区 留言激增 ", "region_code": "620103",
               "threshold": 10.0, "window_hours": 12}),
    )
    .await;
    assert_eq!(r["name"], "七里河区 留言激增");
    assert_eq!(r["threshold"], 10);
    assert_eq!(r["baseline_days"], 7);
    assert_eq!(r["baseline_factor"], 2.0);
    assert_eq!(r["keywords"], json!([]));
    assert_eq!(r["repeat_by"], Value::Null);
    let spike = str_of(&r["id"]);

    // Updates: If-Match, the rule's own fields, a spike keeps its slice.
    let path = format!("/api/v1/alert-rules/{spike}");
    app.patch(&path, &admin, json!({"threshold": 5}))
        .await
        .assert_problem(428, "precondition-required");
    with_if_match(
        &app,
        Method::PATCH,
        &path,
        &admin,
        json!({"threshold": 5}),
        "\"9\"",
    )
    .await
    .assert_problem(412, "precondition-failed");
    // What the schema says is checked before the version.
    let r = with_if_match(
        &app,
        Method::PATCH,
        &path,
        &admin,
        json!({"threshold": -3}),
        "\"9\"",
    )
    .await;
    assert_eq!(r.failing_fields(), vec!["threshold"]);
    for (body, fields) in [
        (json!({}), vec!["body"]),
        (json!({"keywords": ["a"]}), vec!["keywords"]),
        (
            json!({"window_days": 3, "repeat_by": "author"}),
            vec!["repeat_by", "window_days"],
        ),
        (json!({"threshold": 0}), vec!["threshold"]),
        (json!({"region_code": null}), vec!["region_code"]),
        (json!({"region_code": "12"}), vec!["region_code"]),
        (json!({"kind": "keyword"}), vec!["kind"]),
    ] {
        let r = with_if_match(&app, Method::PATCH, &path, &admin, body.clone(), "\"1\"").await;
        r.assert_problem(422, "validation-failed");
        let mut got = r.failing_fields();
        got.sort();
        assert_eq!(got, fields, "{body}: {}", r.body);
    }
    let r = with_if_match(
        &app,
        Method::PATCH,
        &path,
        &admin,
        json!({"category_id": EDUCATION, "region_code": null, "baseline_factor": 3.5}),
        "\"1\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["region_code"], Value::Null);
    assert_eq!(r.body["category_id"], EDUCATION);
    assert_eq!(r.body["baseline_factor"], 3.5);
    assert_eq!(r.header("etag"), Some("\"2\""));
    app.get(
        "/api/v1/alert-rules/00000000-0000-7000-8000-000000000000",
        &admin,
    )
    .await
    .assert_problem(404, "not-found");
    app.get("/api/v1/alert-rules/not-a-uuid", &admin)
        .await
        .assert_problem(404, "not-found");
    let got = app.get(&path, &admin).await;
    assert_eq!(got.body, r.body);
    let r = app
        .send_with(
            Method::GET,
            &path,
            Some(&admin),
            None,
            &[("if-none-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 304);
}

#[actix_web::test]
async fn deactivated_rules_raise_nothing_and_analysts_keep_to_their_region() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let author = app.token(Demo::Citizen).await;
    // The demo keyword rules are listed; deactivate 安全事故预警.
    let r = app
        .get("/api/v1/alert-rules?kind=keyword&active=true", &admin)
        .await;
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"安全事故预警"));
    let safety = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "安全事故预警")
        .unwrap()
        .clone();
    let path = format!("/api/v1/alert-rules/{}", str_of(&safety["id"]));
    let r = with_if_match(
        &app,
        Method::PATCH,
        &path,
        &admin,
        json!({"active": false}),
        "\"1\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let mut b = message_body("隧道坍塌");
    b["body"] = json!("隧道施工发生坍塌，附近居民很担心安全，请尽快处理。");
    let m = submit(&app, &author, b).await;
    assert_eq!(m["priority"], Value::Null);
    assert!(alerts(&app, &admin, "").await.is_empty());
    let r = app.get("/api/v1/alert-rules?active=false", &admin).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.body);

    // A rule restricted to 天水 ignores 兰州's messages.
    rule(
        &app,
        &admin,
        json!({"kind": "keyword", "name": "天水安全", "keywords": ["坍塌"], "region_code": "620500"}),
    )
    .await;
    let mut b = message_body("隧道又坍塌");
    b["body"] = json!("隧道施工再次坍塌，请尽快处理。");
    submit(&app, &author, b).await;
    assert!(alerts(&app, &admin, "").await.is_empty());

    // An analyst of 天水: rules there (by default), not elsewhere, not province-wide ones.
    let tianshui = region_analyst(&app, "620500").await;
    let r = rule(
        &app,
        &tianshui,
        json!({"kind": "keyword", "name": "天水讨薪", "keywords": ["讨薪"]}),
    )
    .await;
    assert_eq!(r["region_code"], "620500");
    let own = format!("/api/v1/alert-rules/{}", str_of(&r["id"]));
    app.post(
        "/api/v1/alert-rules",
        &tianshui,
        json!({"kind": "keyword", "name": "兰州讨薪", "keywords": ["讨薪"], "region_code": "620100"}),
    )
    .await
    .assert_problem(403, "forbidden");
    with_if_match(
        &app,
        Method::PATCH,
        &path,
        &tianshui,
        json!({"active": true}),
        "\"2\"",
    )
    .await
    .assert_problem(403, "forbidden");
    with_if_match(
        &app,
        Method::PATCH,
        &own,
        &tianshui,
        json!({"region_code": null}),
        "\"1\"",
    )
    .await
    .assert_problem(403, "forbidden");
    with_if_match(
        &app,
        Method::PATCH,
        &own,
        &tianshui,
        json!({"region_code": "620100"}),
        "\"1\"",
    )
    .await
    .assert_problem(403, "forbidden");
    let r = with_if_match(
        &app,
        Method::PATCH,
        &own,
        &tianshui,
        json!({"region_code": "620503"}),
        "\"1\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Everyone who reads alerts reads every rule.
    let r = app.get(&path, &tianshui).await;
    assert_eq!(r.status, 200);
}

/// Every role against every early-warning operation: refused by role exactly where the
/// permission table says, never a server error.
#[actix_web::test]
async fn who_may_do_what() {
    let app = TestApp::spawn().await;
    let mut acks = Vec::new();
    for title in ["隧道坍塌一", "隧道坍塌二", "隧道坍塌三"] {
        acks.push(keyword_alert(&app, title).await.0);
    }
    let (alert, _) = keyword_alert(&app, "隧道坍塌四").await;
    let admin = app.token(Demo::Admin).await;
    let rules = app.get("/api/v1/alert-rules", &admin).await;
    let rule_id = rules.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "集体上访预警")
        .map(|r| str_of(&r["id"]))
        .unwrap();
    use Demo::*;
    const READERS: &[Demo] = &[Supervisor, Leader, Analyst, Admin];
    const MANAGERS: &[Demo] = &[Analyst, Admin];
    #[rustfmt::skip]
    let cases: Vec<(Method, String, Value, &[Demo], u16)> = vec![
        (Method::GET, "/api/v1/alert-rules".into(), Value::Null, READERS, 200),
        (Method::GET, format!("/api/v1/alert-rules/{rule_id}"), Value::Null, READERS, 200),
        (Method::POST, "/api/v1/alert-rules".into(),
            json!({"kind": "keyword", "name": "矩阵", "keywords": ["矩阵"]}), MANAGERS, 201),
        (Method::PATCH, format!("/api/v1/alert-rules/{rule_id}"), json!({"name": "集体上访预警"}), MANAGERS, 200),
        (Method::GET, "/api/v1/alerts".into(), Value::Null, READERS, 200),
        (Method::GET, format!("/api/v1/alerts/{alert}"), Value::Null, READERS, 200),
    ];
    let mut tokens = Vec::new();
    for who in Demo::ALL {
        tokens.push((who, app.token(who).await));
    }
    let role_refusal = |r: &Resp| {
        r.status == 403
            && r.body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("role `"))
    };
    for (method, path, body, allowed, success) in &cases {
        for (who, token) in &tokens {
            let body = (!body.is_null()).then(|| body.clone());
            let r = app
                .send_with(
                    method.clone(),
                    path,
                    Some(token),
                    body,
                    &[("if-match", "*")],
                )
                .await;
            let listed = allowed.iter().any(|a| a.email() == who.email());
            if listed {
                assert_eq!(r.status, *success, "{who:?} {method} {path}: {}", r.body);
            } else {
                assert!(
                    role_refusal(&r),
                    "{who:?} {method} {path}: {} {}",
                    r.status,
                    r.body
                );
            }
        }
    }
    // Acknowledging: supervisors, analysts and admins, each their own alert.
    let mut acks = acks.into_iter();
    for (who, token) in &tokens {
        let path = |a: &str| format!("/api/v1/alerts/{a}/acknowledge");
        if matches!(who, Supervisor | Analyst | Admin) {
            let a = acks.next().unwrap();
            let r = app.post(&path(&a), token, json!({"note": "收到"})).await;
            assert_eq!(r.status, 200, "{who:?}: {}", r.body);
        } else {
            let r = app
                .post(&path(&alert), token, json!({"note": "收到"}))
                .await;
            assert!(role_refusal(&r), "{who:?}: {} {}", r.status, r.body);
        }
    }
    // Anonymous callers get nothing.
    for (method, path, body, _, _) in &cases {
        let body = (!body.is_null()).then(|| body.clone());
        app.send(method.clone(), path, None, body)
            .await
            .assert_problem(401, "unauthorized");
    }
}

/// Staff registering a message by phone get the same evaluation (no author: repeat-by-author
/// rules skip it).
#[actix_web::test]
async fn registered_messages_are_evaluated_too() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    rule(
        &app,
        &admin,
        json!({"kind": "repeat", "name": "作者", "repeat_by": "author", "threshold": 2, "window_days": 1}),
    )
    .await;
    let liaison = staff(
        &app,
        "reg@example.cn",
        "handler",
        "兰州市领导留言办理工作办公室",
    )
    .await;
    for _ in 0..2 {
        let mut b = message_body("来电反映欠薪");
        b["source"] = json!("phone");
        b["contact_name"] = json!("马师傅");
        b["body"] = json!("来电人反映在七里河区工地干活被欠薪两个月，请求帮助。");
        b["attachments"] = json!([]);
        let m = submit(&app, &liaison, b).await;
        assert_eq!(m["priority"], "important");
    }
    let list = alerts(&app, &admin, "").await;
    assert_eq!(
        list.len(),
        2,
        "one keyword alert each, no repetition: {list:?}"
    );
    assert!(list.iter().all(|a| a["kind"] == "keyword"));
}
