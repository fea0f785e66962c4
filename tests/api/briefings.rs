//! Weekly briefings (摘报): candidates ranked with their reasons, picking items and writing
//! summaries, submission, leaders' instructions that attach to the messages, review, the Word
//! document; who may do what; validation, preconditions and state errors.

use std::io::Read;

use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::handling::{TRANSPORT_BUREAU, accepted, assign, local, post_with};
use crate::helpers::{Demo, Resp, TestApp, test_settings};
use crate::messages::{lanzhou_liaison, leader, message_body, staff, submit};
use crate::replies::{publish, put_with, sign_for};
use liuyan::clock::Clock;

const URBAN: &str = "01930000-0000-7000-8000-000000000001";
const EDUCATION: &str = "01930000-0000-7000-8000-000000000003";
const HEALTH: &str = "01930000-0000-7000-8000-000000000004";
const ENVIRONMENT: &str = "01930000-0000-7000-8000-000000000007";
const AGRICULTURE: &str = "01930000-0000-7000-8000-000000000008";
const REPLY: &str = "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。";
/// The contact phone of `message_body`: never in a briefing document.
const PHONE: &str = "13912345678";

async fn app_at(at: &str) -> (TestApp, Clock) {
    let clock = Clock::manual(local(at));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    (TestApp::spawn_with(settings).await, clock)
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Submit a message to the mayor of Lanzhou with this category, region and text; returns it.
async fn write(app: &TestApp, title: &str, category: &str, region: &str, body: &str) -> Value {
    let author = app.token(Demo::Citizen).await;
    let mut b = message_body(title);
    b["category_id"] = json!(category);
    b["region_code"] = json!(region);
    b["body"] = json!(body);
    submit(app, &author, b).await
}

/// Classify (priority, keeping the category) and accept a freshly submitted message.
async fn accept(app: &TestApp, liaison: &str, m: &Value, priority: &str) {
    let id = str_of(&m["id"]);
    let c = put_with(
        app,
        &format!("/api/v1/messages/{id}/classification"),
        liaison,
        json!({"priority": priority, "category_id": m["category_id"]}),
        "\"1\"",
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.body);
    let a = post_with(
        app,
        &format!("/api/v1/messages/{id}/accept"),
        liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

async fn create(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post("/api/v1/briefings", token, body).await
}

fn etag_of(r: &Resp) -> String {
    r.header("etag").unwrap_or_default().to_owned()
}

/// The candidates as (message id, reasons, score).
fn candidates(b: &Value) -> Vec<(String, Vec<String>, i64)> {
    b["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                str_of(&c["message_id"]),
                c["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(str_of)
                    .collect(),
                c["score"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The raw bytes of a download.
async fn download(
    app: &TestApp,
    path: &str,
    token: &str,
) -> (reqwest::StatusCode, String, Vec<u8>) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

fn document_xml(bytes: &[u8]) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a DOCX is a zip");
    assert!(zip.by_name("[Content_Types].xml").is_ok());
    let mut xml = String::new();
    zip.by_name("word/document.xml")
        .expect("the main document part")
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

async fn leader_of_tianshui(app: &TestApp) -> String {
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "ts.leader@example.cn", "password": "leader password 1",
                   "display_name": "吴建平", "role": "leader", "scope_region_code": "620500",
                   "leader_id": leader("吴建平")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.login("ts.leader@example.cn", "leader password 1").await
}

#[actix_web::test]
async fn a_week_from_candidates_to_the_leaders_instructions_and_the_document() {
    // A message from September whose unit never signed for it: long overdue by November.
    let (app, clock) = app_at("2026-09-01T09:00").await;
    let liaison = lanzhou_liaison(&app).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let citizen = app.token(Demo::Citizen).await;
    let overdue = write(
        &app,
        "灌溉水渠堵塞",
        AGRICULTURE,
        "620121",
        "村里的灌溉水渠堵塞两个月了，庄稼缺水，请尽快疏通。",
    )
    .await;
    accept(&app, &liaison, &overdue, "routine").await;
    let r = assign(
        &app,
        &liaison,
        &str_of(&overdue["id"]),
        TRANSPORT_BUREAU,
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // The week of 2 to 8 November 2026.
    clock.set(local("2026-11-02T09:00"));
    let important = write(
        &app,
        "小区供暖不热",
        URBAN,
        "620103",
        "七里河区某小区暖气温度只有十二度，老人孩子受冻，请督促供热公司。",
    )
    .await;
    accept(&app, &liaison, &important, "important").await;
    clock.advance(Duration::hours(1));
    // A keyword hit: important at intake, and an emergency.
    let emergency = write(
        &app,
        "工地欠款",
        HEALTH,
        "620104",
        "工地包工头跑路，工人们商量要去市政府集体上访，请领导重视。",
    )
    .await;
    let staff_view = app
        .get(
            &format!("/api/v1/messages/{}", str_of(&emergency["id"])),
            &app.token(Demo::Admin).await,
        )
        .await;
    assert_eq!(staff_view.body["priority"], "important");
    clock.advance(Duration::hours(1));
    let supervised = write(
        &app,
        "河道污染",
        ENVIRONMENT,
        "620105",
        "安宁区某河道有工厂偷排污水，河水发黑发臭，请环保部门查处。",
    )
    .await;
    accept(&app, &liaison, &supervised, "routine").await;
    let r = app
        .post(
            &format!("/api/v1/messages/{}/supervisions", str_of(&supervised["id"])),
            &supervisor,
            json!({"level": "key", "instruction": "请于月底前查处并反馈", "due_date": "2026-11-30"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Answered, and the author is not satisfied (transport × 城关区: the helpers' message).
    clock.advance(Duration::hours(1));
    let (unsatisfied, _) = accepted(&app, "routine", Some(&liaison)).await;
    let r = assign(&app, &liaison, &unsatisfied, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    sign_for(&app, &app.token(Demo::Handler).await, &unsatisfied).await;
    clock.advance(Duration::hours(1));
    publish(&app, &unsatisfied, "final", REPLY).await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/messages/{unsatisfied}/feedback"),
            Some(&citizen),
            Some(json!({"rating": "unsatisfied", "comment": "还是不亮"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Three education messages from 永登县: the week's cluster.
    let mut cluster = Vec::new();
    for title in ["学校食堂卫生差", "校车超载", "学校乱收费"] {
        clock.advance(Duration::hours(1));
        cluster.push(
            write(
                &app,
                title,
                EDUCATION,
                "620121",
                "永登县某学校存在问题，家长反映多次没有解决，请教育局调查。",
            )
            .await,
        );
    }
    // Nothing to report: a single routine message.
    let plain = write(
        &app,
        "医院排队久",
        HEALTH,
        "620103",
        "七里河区医院挂号排队时间太长，希望增加窗口。",
    )
    .await;
    // Important, but in Tianshui: not in Lanzhou's briefing.
    let mut b = message_body("矿山安全");
    b["leader_id"] = json!(leader("吴建平"));
    b["region_code"] = json!("620502");
    b["body"] = json!("秦州区某矿山存在安全事故隐患，工人多次反映无人处理。");
    let tianshui = submit(&app, &citizen, b).await;
    let staff_view = app
        .get(
            &format!("/api/v1/messages/{}", str_of(&tianshui["id"])),
            &app.token(Demo::Admin).await,
        )
        .await;
    assert_eq!(staff_view.body["priority"], "important");

    // Monday after: the default period is that week.
    clock.set(local("2026-11-09T10:00"));
    let r = create(&app, &liaison, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.body.clone();
    let id = str_of(&b["id"]);
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/briefings/{id}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(b["period_from"], "2026-11-02");
    assert_eq!(b["period_to"], "2026-11-08");
    assert_eq!(b["region_code"], "620100");
    assert_eq!(b["status"], "draft");
    assert_eq!(b["title"], "领导留言摘报（2026-11-02至2026-11-08）");
    assert_eq!(b["items"], json!([]));

    let id_of = |m: &Value| str_of(&m["id"]);
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    let expected = vec![
        (id_of(&emergency), s(&["important", "keyword_alert"]), 170),
        (id_of(&important), s(&["important"]), 110),
        // Equal scores: the newer submission first.
        (id_of(&supervised), s(&["supervised"]), 60),
        (id_of(&overdue), s(&["long_overdue"]), 60),
        (unsatisfied.clone(), s(&["unsatisfied"]), 50),
        (id_of(&cluster[2]), s(&["cluster"]), 40),
        (id_of(&cluster[1]), s(&["cluster"]), 40),
        (id_of(&cluster[0]), s(&["cluster"]), 40),
    ];
    assert_eq!(candidates(&b), expected, "{}", b["candidates"]);
    assert_eq!(b["candidates_found"], 8);
    let all = b["candidates"].as_array().unwrap();
    assert!(
        all.iter()
            .all(|c| c["message_id"] != plain["id"] && c["message_id"] != tianshui["id"])
    );
    let ranks: Vec<i64> = all.iter().map(|c| c["rank"].as_i64().unwrap()).collect();
    assert_eq!(ranks, (1..=8).collect::<Vec<i64>>());
    assert_eq!(all[5]["cluster_label"], "教育 · 永登县");
    assert_eq!(all[0]["cluster_label"], Value::Null);
    assert!(all[3]["overdue_days"].as_i64().unwrap() >= 40, "{}", all[3]);
    assert_eq!(all[1]["tracking_no"], important["tracking_no"]);
    assert_eq!(all[1]["region_name"], "七里河区");
    assert_eq!(all[3]["unit_name"], "兰州市交通运输局");
    // No personal data in the candidates.
    assert!(!b.to_string().contains(PHONE));

    // An administrator's briefing of the province sees Tianshui too.
    let admin = app.token(Demo::Admin).await;
    let province = create(
        &app,
        &admin,
        json!({"period_from": "2026-11-02", "period_to": "2026-11-08"}),
    )
    .await;
    assert_eq!(province.status, 201, "{}", province.body);
    assert_eq!(province.body["region_code"], "620000");
    assert!(
        province.body["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["message_id"] == tianshui["id"])
    );

    // Editors pick items and write summaries; a leader does not see the draft.
    let leader_token = app.token(Demo::Leader).await;
    app.get(&format!("/api/v1/briefings/{id}"), &leader_token)
        .await
        .assert_problem(404, "not-found");
    let path = format!("/api/v1/briefings/{id}/items");
    let picks = json!({"items": [
        {"message_id": id_of(&important), "position": 1, "summary": "七里河区小区供暖温度不达标，群众反映强烈，已督促供热公司整改。"},
        {"message_id": id_of(&emergency), "position": 2, "summary": "西固区工地拖欠工人工资，有集体上访苗头，需高度关注。"},
        {"message_id": unsatisfied, "position": 3}
    ]});
    let r = put_with(&app, &path, &liaison, picks.clone(), "\"1\"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.body["selected"], 3);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items[0]["message_id"], important["id"]);
    assert_eq!(items[2]["summary"], Value::Null);
    // Submitting needs every summary.
    post_with(
        &app,
        &format!("/api/v1/briefings/{id}/submit"),
        &liaison,
        json!({}),
        "\"2\"",
    )
    .await
    .assert_problem(409, "conflict");
    let mut picks = picks;
    picks["items"][2]["summary"] = json!("城关区路口信号灯修复后群众仍不满意，建议回访核实。");
    let r = put_with(&app, &path, &liaison, picks, "\"2\"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_with(
        &app,
        &format!("/api/v1/briefings/{id}/submit"),
        &liaison,
        json!({}),
        "\"3\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "submitted");
    assert!(r.body["submitted_at"].is_string());
    assert_eq!(r.header("etag"), Some("\"4\""));
    // No more editing.
    put_with(&app, &path, &liaison, json!({"items": []}), "\"4\"")
        .await
        .assert_problem(409, "conflict");

    // The leader reads it and instructs on an item: the message's own instruction.
    let r = app
        .get(&format!("/api/v1/briefings/{id}"), &leader_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = app.get("/api/v1/briefings", &leader_token).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    let instruct = |mid: String| format!("/api/v1/briefings/{id}/items/{mid}/instruction");
    let r = app
        .post(
            &instruct(id_of(&important)),
            &leader_token,
            json!({"text": "请七里河区和供热公司三日内解决，并将结果报我。"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("etag"), Some("\"5\""));
    let instruction = r.body["instruction"].clone();
    assert_eq!(instruction["leader_id"], leader("孙海洋"));
    let mine = app
        .get(
            &format!("/api/v1/messages/{}/instructions", id_of(&important)),
            &liaison,
        )
        .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["items"][0]["id"], instruction["id"]);
    let events = app
        .get(
            &format!("/api/v1/messages/{}/events?limit=100", id_of(&important)),
            &liaison,
        )
        .await;
    let last = events.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "instruct");
    assert_eq!(last["payload"]["instruction_id"], instruction["id"]);
    assert_eq!(last["payload"]["briefing_id"], json!(id));
    // One instruction per item; only selected items; an answered message takes none.
    app.post(
        &instruct(id_of(&important)),
        &leader_token,
        json!({"text": "再次批示"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        &instruct(id_of(&supervised)),
        &leader_token,
        json!({"text": "批示"}),
    )
    .await
    .assert_problem(404, "not-found");
    app.post(
        &instruct(unsatisfied.clone()),
        &leader_token,
        json!({"text": "请回访"}),
    )
    .await
    .assert_problem(409, "conflict");
    // Editors do not instruct.
    app.post(
        &instruct(id_of(&emergency)),
        &liaison,
        json!({"text": "批示"}),
    )
    .await
    .assert_problem(403, "forbidden");

    // Review.
    post_with(
        &app,
        &format!("/api/v1/briefings/{id}/review"),
        &leader_token,
        json!({}),
        "\"4\"",
    )
    .await
    .assert_problem(412, "precondition-failed");
    let r = post_with(
        &app,
        &format!("/api/v1/briefings/{id}/review"),
        &leader_token,
        json!({}),
        "\"5\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "reviewed");
    assert_eq!(r.body["items"][0]["instruction"]["id"], instruction["id"]);
    post_with(
        &app,
        &format!("/api/v1/briefings/{id}/review"),
        &leader_token,
        json!({}),
        "\"6\"",
    )
    .await
    .assert_problem(409, "conflict");
    let reviewed = app.get("/api/v1/briefings?status=reviewed", &liaison).await;
    assert_eq!(reviewed.body["items"][0]["id"], json!(id));

    // The document.
    let (status, ct, bytes) = download(
        &app,
        &format!("/api/v1/briefings/{id}/document"),
        &leader_token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ct,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let xml = document_xml(&bytes);
    for expected in [
        "领导留言摘报（2026-11-02至2026-11-08）",
        "2026-11-02 至 2026-11-08",
        "已审阅",
        "兰州市",
        "七里河区小区供暖温度不达标",
        "西固区工地拖欠工人工资",
        "城关区路口信号灯修复后群众仍不满意",
        "请七里河区和供热公司三日内解决",
        "孙海洋",
        // Of the eight messages submitted that week in Lanzhou, three were accepted and one
        // answered.
        "33.3%（1/3）",
    ] {
        assert!(xml.contains(expected), "{expected} is in the document");
    }
    assert!(xml.contains(&str_of(&important["tracking_no"])));
    assert!(
        !xml.contains(PHONE),
        "contact data never goes into the document"
    );
    // Unselected candidates are not items.
    assert!(!xml.contains(&str_of(&supervised["tracking_no"])));
}

#[actix_web::test]
async fn who_may_do_what() {
    let (app, clock) = app_at("2026-11-03T09:00").await;
    let liaison = lanzhou_liaison(&app).await;
    let (message, _) = accepted(&app, "important", Some(&liaison)).await;
    clock.set(local("2026-11-09T10:00"));
    let r = create(&app, &liaison, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = str_of(&r.body["id"]);
    let items = format!("/api/v1/briefings/{id}/items");
    let r = put_with(
        &app,
        &items,
        &liaison,
        json!({"items": [{"message_id": message, "position": 1, "summary": "路口信号灯损坏"}]}),
        "\"1\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_with(
        &app,
        &format!("/api/v1/briefings/{id}/submit"),
        &liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let citizen = app.token(Demo::Citizen).await;
    let analyst = app.token(Demo::Analyst).await;
    // A handler of a unit that is not a leader's intake unit.
    let handler = app.token(Demo::Handler).await;
    let reviewer = app.token(Demo::Reviewer).await;
    let outside_leader = leader_of_tianshui(&app).await;
    let tianshui_liaison = staff(
        &app,
        "ts.liaison@example.cn",
        "handler",
        "天水市领导留言办理工作办公室",
    )
    .await;
    let instruction = format!("/api/v1/briefings/{id}/items/{message}/instruction");
    let ops: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/api/v1/briefings".into(), Some(json!({}))),
        (Method::GET, "/api/v1/briefings".into(), None),
        (Method::GET, format!("/api/v1/briefings/{id}"), None),
        (Method::PUT, items.clone(), Some(json!({"items": []}))),
        (
            Method::POST,
            format!("/api/v1/briefings/{id}/submit"),
            Some(json!({})),
        ),
        (
            Method::POST,
            instruction.clone(),
            Some(json!({"text": "批示"})),
        ),
        (
            Method::POST,
            format!("/api/v1/briefings/{id}/review"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/briefings/{id}/document"),
            None,
        ),
    ];
    for (who, token) in [
        ("citizen", &citizen),
        ("analyst", &analyst),
        ("handler of another unit", &handler),
        ("reviewer of another unit", &reviewer),
    ] {
        for (method, path, body) in &ops {
            let r = app
                .send_with(
                    method.clone(),
                    path,
                    Some(token),
                    body.clone(),
                    &[("if-match", "\"3\"")],
                )
                .await;
            assert_eq!(r.status, 403, "{who}: {method} {path}: {}", r.body);
            r.assert_problem(403, "forbidden");
        }
    }
    // A leader outside the region: the briefing does not exist for them.
    for (method, path, body) in &ops[2..] {
        let r = app
            .send_with(
                method.clone(),
                path,
                Some(&outside_leader),
                body.clone(),
                &[("if-match", "\"3\"")],
            )
            .await;
        let expected: u16 = if *method == Method::PUT || path.ends_with("/submit") {
            403
        } else {
            404
        };
        assert_eq!(
            r.status, expected,
            "leader of Tianshui: {method} {path}: {}",
            r.body
        );
    }
    let r = app.get("/api/v1/briefings", &outside_leader).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"], json!([]));
    // The liaison office of another city neither sees it nor compiles for Lanzhou.
    app.get(&format!("/api/v1/briefings/{id}"), &tianshui_liaison)
        .await
        .assert_problem(404, "not-found");
    create(&app, &tianshui_liaison, json!({"region_code": "620102"}))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        app.get("/api/v1/briefings", &tianshui_liaison).await.body["items"],
        json!([])
    );
    // The province's supervisors and administrators see it; the province's liaison office
    // does not: a liaison office reads the briefings its own staff compiled (docs/ACCESS.md,
    // it may not read Lanzhou's intake either).
    for who in [Demo::Supervisor, Demo::Admin] {
        let token = app.token(who).await;
        let r = app.get(&format!("/api/v1/briefings/{id}"), &token).await;
        assert_eq!(r.status, 200, "{who:?}: {}", r.body);
    }
    app.get(
        &format!("/api/v1/briefings/{id}"),
        &app.token(Demo::Liaison).await,
    )
    .await
    .assert_problem(404, "not-found");
    // A supervisor compiles for their region; a liaison office for a part of its territory.
    let supervisor = app.token(Demo::Supervisor).await;
    let r = create(&app, &supervisor, json!({"region_code": "620500"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = create(&app, &liaison, json!({"region_code": "620102"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["region_code"], "620102");
    // No token at all.
    let r = app.send(Method::GET, "/api/v1/briefings", None, None).await;
    r.assert_problem(401, "unauthorized");
    // Unknown ids.
    let liaison_get = app
        .get(
            "/api/v1/briefings/0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b0b",
            &liaison,
        )
        .await;
    liaison_get.assert_problem(404, "not-found");
}

#[actix_web::test]
async fn validation_preconditions_and_states() {
    let (app, clock) = app_at("2026-11-03T09:00").await;
    let liaison = lanzhou_liaison(&app).await;
    let (message, _) = accepted(&app, "important", Some(&liaison)).await;
    clock.set(local("2026-11-10T10:00"));

    // Periods: `to` before `from`, longer than 31 days, in the future; unknown fields; regions.
    let r = create(
        &app,
        &liaison,
        json!({"period_from": "2026-11-08", "period_to": "2026-11-02"}),
    )
    .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), ["period_to"]);
    let r = create(
        &app,
        &liaison,
        json!({"period_from": "2026-10-01", "period_to": "2026-11-01"}),
    )
    .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), ["period_to"]);
    let r = create(
        &app,
        &liaison,
        json!({"period_from": "2026-10-01", "period_to": "2026-10-31"}),
    )
    .await;
    assert_eq!(r.status, 201, "31 days is the most: {}", r.body);
    let r = create(&app, &liaison, json!({"period_from": "2026-11-20"})).await;
    assert_eq!(r.failing_fields(), ["period_from"]);
    let r = create(
        &app,
        &liaison,
        json!({"period_from": "2026-11-02", "status": "reviewed"}),
    )
    .await;
    r.assert_problem(422, "validation-failed");
    let r = create(&app, &liaison, json!({"period_from": "2026-11-02x"})).await;
    assert_eq!(r.failing_fields(), ["period_from"]);
    let r = create(&app, &liaison, json!({"region_code": "999999"})).await;
    assert_eq!(r.failing_fields(), ["region_code"]);
    let r = create(&app, &liaison, json!({"title": ""})).await;
    assert_eq!(r.failing_fields(), ["title"]);
    let r = create(
        &app,
        &liaison,
        json!({"period_from": "2026-11-02", "title": "第45周摘报"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["period_to"], "2026-11-08");
    assert_eq!(r.body["title"], "第45周摘报");
    let id = str_of(&r.body["id"]);
    assert_eq!(candidates(&r.body).len(), 1, "{}", r.body);

    // If-Match: required, and current.
    let items = format!("/api/v1/briefings/{id}/items");
    let pick =
        json!({"items": [{"message_id": message, "position": 1, "summary": "路口信号灯损坏三天"}]});
    app.send(Method::PUT, &items, Some(&liaison), Some(pick.clone()))
        .await
        .assert_problem(428, "precondition-required");
    put_with(&app, &items, &liaison, pick.clone(), "\"7\"")
        .await
        .assert_problem(412, "precondition-failed");
    app.send(
        Method::POST,
        &format!("/api/v1/briefings/{id}/submit"),
        Some(&liaison),
        Some(json!({})),
    )
    .await
    .assert_problem(428, "precondition-required");
    // Submitting an empty briefing.
    post_with(
        &app,
        &format!("/api/v1/briefings/{id}/submit"),
        &liaison,
        json!({}),
        "\"1\"",
    )
    .await
    .assert_problem(409, "conflict");
    // Items must be candidates, once each, at distinct positions.
    let r = put_with(
        &app,
        &items,
        &liaison,
        json!({"items": [{"message_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0c01", "position": 1}]}),
        "\"1\"",
    )
    .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.failing_fields(), ["items[0].message_id"]);
    let r = put_with(
        &app,
        &items,
        &liaison,
        json!({"items": [
        {"message_id": message, "position": 1}, {"message_id": message, "position": 1}]}),
        "\"1\"",
    )
    .await;
    assert_eq!(
        r.failing_fields(),
        ["items[1].message_id", "items[1].position"]
    );
    let r = put_with(
        &app,
        &items,
        &liaison,
        json!({"items": [{"message_id": message, "position": 0, "summary": "x".repeat(2001)}]}),
        "\"1\"",
    )
    .await;
    assert_eq!(
        r.failing_fields(),
        ["items[0].position", "items[0].summary"]
    );
    // Nothing changed meanwhile.
    let r = app.get(&format!("/api/v1/briefings/{id}"), &liaison).await;
    assert_eq!(etag_of(&r), "\"1\"");
    let r = app
        .send_with(
            Method::GET,
            &format!("/api/v1/briefings/{id}"),
            Some(&liaison),
            None,
            &[("if-none-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 304);

    let r = put_with(&app, &items, &liaison, pick, "\"1\"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_with(
        &app,
        &format!("/api/v1/briefings/{id}/submit"),
        &liaison,
        json!({}),
        "\"2\"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Once submitted: no editing, no second submission.
    put_with(&app, &items, &liaison, json!({"items": []}), "\"3\"")
        .await
        .assert_problem(409, "conflict");
    post_with(
        &app,
        &format!("/api/v1/briefings/{id}/submit"),
        &liaison,
        json!({}),
        "\"3\"",
    )
    .await
    .assert_problem(409, "conflict");
    // Instructions need text.
    let leader_token = app.token(Demo::Leader).await;
    let r = app
        .post(
            &format!("/api/v1/briefings/{id}/items/{message}/instruction"),
            &leader_token,
            json!({"text": ""}),
        )
        .await;
    assert_eq!(r.failing_fields(), ["text"]);
    // Lists: keyset pages, filtered by status.
    let first = app.get("/api/v1/briefings?limit=1", &liaison).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 1);
    let cursor = str_of(&first.body["next_cursor"]);
    let second = app
        .get(
            &format!("/api/v1/briefings?limit=1&cursor={cursor}"),
            &liaison,
        )
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_ne!(first.body["items"][0]["id"], second.body["items"][0]["id"]);
    let submitted = app
        .get("/api/v1/briefings?status=submitted", &liaison)
        .await;
    assert_eq!(submitted.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(submitted.body["items"][0]["id"], json!(id));
    let r = app.get("/api/v1/briefings?status=archived", &liaison).await;
    r.assert_problem(422, "validation-failed");
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// The candidate search is index-friendly: with sequential scans disabled (on a small database
/// the planner would rightly prefer them), every query of it is still served by an index, so
/// none of them needs to read a table whole — the messages table has millions of rows.
#[actix_web::test]
async fn the_candidate_queries_are_served_by_indexes() {
    use diesel::RunQueryDsl;
    use liuyan::store::briefings as b;
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect();
    diesel::sql_query(
        "CREATE FUNCTION explain_plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$ \
         DECLARE r text; BEGIN FOR r IN EXECUTE 'EXPLAIN ' || q LOOP RETURN NEXT r; END LOOP; END $$",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("SET enable_seqscan = off")
        .execute(&mut conn)
        .unwrap();
    let start = "'2026-11-02T00:00:00+08'::timestamptz";
    let end = "'2026-11-09T00:00:00+08'::timestamptz";
    let like = "'620000/620100/%'::text";
    let cases: [(&str, Vec<&str>); 7] = [
        (b::IMPORTANT_SQL, vec![start, end, like]),
        (b::KEYWORD_ALERTS_SQL, vec![start, end, like]),
        (b::SUPERVISED_SQL, vec![start, end, like]),
        (b::UNSATISFIED_SQL, vec![start, end, like]),
        (
            b::LONG_OVERDUE_SQL,
            vec![
                start,
                like,
                "ARRAY['01930000-0000-7000-8000-000000000002']::uuid[]",
                "500::int8",
                "10::int8",
                "30::int8",
                "100::int8",
                "60::int8",
                end,
                "10::int8",
                start,
                "'01930000-0000-7000-8000-000000000003'::uuid",
                "'01930000-0000-7000-8000-000000000004'::uuid",
                end,
            ],
        ),
        (b::CLUSTER_COUNTS_SQL, vec![start, end, like, "3::int8"]),
        (
            b::CLUSTER_MEMBERS_SQL,
            vec![
                "'620000/620100/620102/'::text",
                start,
                end,
                "'01930000-0000-7000-8000-000000000002'::uuid",
            ],
        ),
    ];
    for (sql, params) in cases {
        let mut text = sql.to_owned();
        for (i, p) in params.iter().enumerate().rev() {
            text = text.replace(&format!("${}", i + 1), p);
        }
        let plan: Vec<PlanLine> = diesel::sql_query("SELECT explain_plan($1) AS line")
            .bind::<diesel::sql_types::Text, _>(&text)
            .load(&mut conn)
            .unwrap();
        let plan = plan
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!plan.contains("Seq Scan"), "{sql}\n{plan}");
        assert!(plan.contains("Index"), "{sql}\n{plan}");
    }
}

/// Repeating the creation does not pile up drafts (issue 26, item 5): an editor holds at most
/// three drafts for one period and region; the fourth call is 409 and stores nothing, while
/// another period (or another editor) is unaffected. Eight concurrent calls store three.
#[actix_web::test]
async fn drafts_per_editor_and_period_are_capped() {
    let (app, _clock) = app_at("2026-11-25T10:00").await;
    let liaison = app.token(Demo::Liaison).await;
    let week = json!({"period_from": "2026-11-16", "period_to": "2026-11-22"});
    let calls = (0..8).map(|_| create(&app, &liaison, week.clone()));
    let answers = futures_util::future::join_all(calls).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        3,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // The others are refused (a 503 only if the expensive-read budget stayed taken too long).
    for r in answers
        .iter()
        .filter(|r| r.status != 201 && r.status != 503)
    {
        let p = r.assert_problem(409, "conflict");
        assert!(
            p["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("3 drafts"),
            "{}",
            r.body
        );
    }
    let r = create(&app, &liaison, week.clone()).await;
    r.assert_problem(409, "conflict");
    let list = app
        .get("/api/v1/briefings?status=draft&limit=100", &liaison)
        .await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(3),
        "{}",
        list.body
    );
    // Another period, and another editor for the same one, still create.
    let r = create(
        &app,
        &liaison,
        json!({"period_from": "2026-11-09", "period_to": "2026-11-15"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let supervisor = app.token(Demo::Supervisor).await;
    let r = create(&app, &supervisor, week).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
