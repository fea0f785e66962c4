//! The public board: no account, nobody's personal data, only accepted public messages, filters
//! and keyset pages, HTTP caching (ETag, 304, Cache-Control), and leaders' counters.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Demo, TestApp, test_settings, unit};
use crate::messages::{leader, message_body, submit};
use liuyan::clock::Clock;

const BOARD: &str = "/api/v1/public/messages";
const TRANSPORT: &str = "01930000-0000-7000-8000-000000000002";
const LANZHOU_LIAISON: &str = "兰州市领导留言办理工作办公室";
const TRANSPORT_BUREAU: &str = "兰州市交通运输局";
const XIGU: &str = "兰州市西固区人民政府";
const CACHE_CONTROL: &str = "public, max-age=60";
/// The statuses the board shows, spelled out independently of the code under test.
const VISIBLE_SQL: &str =
    "('accepted', 'assigned', 'in_progress', 'awaiting_clarification', 'replied', 'closed')";

// ---------------------------------------------------------------------------------------------
// Raw HTTP: the key checks look at the bytes the server sent.

struct Raw {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn etag(&self) -> String {
        self.header("etag").expect("an ETag").to_owned()
    }
}

/// An anonymous GET (plus `headers`), answered as raw text.
async fn fetch(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut req = app.client.request(Method::GET, app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request sent");
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    Raw {
        status,
        headers,
        text,
    }
}

async fn ok(app: &TestApp, path: &str) -> Raw {
    let r = fetch(app, path, &[]).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text);
    r
}

/// Every page of a board query (`query` without limit and cursor), walked with `limit`: the raw
/// pages and the tracking numbers in order.
async fn walk(app: &TestApp, query: &str, limit: u32) -> (Vec<Raw>, Vec<String>) {
    let mut pages = Vec::new();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{BOARD}?limit={limit}");
        if !query.is_empty() {
            path.push('&');
            path.push_str(query);
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = ok(app, &path).await;
        let body = page.json();
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize, "{path}: page too long");
        seen.extend(
            items
                .iter()
                .map(|m| m["tracking_no"].as_str().unwrap().to_owned()),
        );
        cursor = body["next_cursor"].as_str().map(str::to_owned);
        pages.push(page);
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 100, "{query}: the pages never end");
    }
    (pages, seen)
}

// ---------------------------------------------------------------------------------------------
// SQL on the test's own database

#[derive(diesel::QueryableByName)]
struct One {
    #[diesel(sql_type = Text)]
    value: String,
}

fn strings(app: &TestApp, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<One>(&mut app.db.connect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|o| o.value)
        .collect()
}

fn one(app: &TestApp, sql: &str) -> String {
    let mut v = strings(app, sql);
    assert_eq!(v.len(), 1, "{sql}: {v:?}");
    v.remove(0)
}

/// The tracking numbers the board should list for an SQL condition on `m`, newest first.
fn expected(app: &TestApp, condition: &str) -> Vec<String> {
    strings(
        app,
        &format!(
            "SELECT m.tracking_no AS value FROM messages m \
             WHERE m.visibility = 'public' AND m.status IN {VISIBLE_SQL} AND ({condition}) \
             ORDER BY m.submitted_at DESC, m.id DESC"
        ),
    )
}

fn category(app: &TestApp, code: &str) -> String {
    one(
        app,
        &format!("SELECT id::text AS value FROM categories WHERE code = '{code}'"),
    )
}

/// A reply through the workflow: drafted and submitted by `writer`, approved and published by
/// `reviewer` (staff of the lead unit, which has signed for the message). The editorial check
/// runs on it, so a reply to a public message names no citizen and carries no phone number: the
/// board's masking of replies is shown here on staff names (the numbers are masked by the same
/// function, `personal_data::mask`, as in the message texts above).
async fn publish_reply(
    app: &TestApp,
    message_id: &str,
    kind: &str,
    body: &str,
    writer: &str,
    reviewer: &str,
) {
    let d = app
        .post(
            &format!("/api/v1/messages/{message_id}/replies"),
            writer,
            json!({"kind": kind, "body": body}),
        )
        .await;
    assert_eq!(d.status, 201, "draft: {}", d.body);
    let rid = d.body["id"].as_str().unwrap().to_owned();
    for (action, token) in [
        ("submit", writer),
        ("approve", reviewer),
        ("publish", reviewer),
    ] {
        let r = app
            .post(&format!("/api/v1/replies/{rid}/{action}"), token, json!({}))
            .await;
        assert_eq!(r.status, 200, "{action}: {}", r.body);
    }
}

/// The end of the rating window of a replied message: the scheduler (as every server process
/// runs it) closes it once the window has passed. Returns the pass's count of closed messages.
async fn close_by_scheduler(app: &TestApp, staff: &str, message_id: &str) -> usize {
    let r = app
        .get(&format!("/api/v1/messages/{message_id}"), staff)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "replied", "{}", r.body);
    let until: DateTime<Utc> = serde_json::from_value(r.body["feedback_until"].clone()).unwrap();
    let raised =
        liuyan::scheduler::run_once(&mut app.db.connect(), until + Duration::seconds(1)).unwrap();
    let r = app
        .get(&format!("/api/v1/messages/{message_id}"), staff)
        .await;
    assert_eq!(r.body["status"], "closed", "{}", r.body);
    raised.closed
}

/// An account of `role` at `unit_name` with a name of its own (the board must never show it).
async fn staff_named(
    app: &TestApp,
    email: &str,
    name: &str,
    role: &str,
    unit_name: &str,
) -> String {
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": email, "password": "staff password 1", "display_name": name,
                   "role": role, "unit_id": unit(unit_name)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.login(email, "staff password 1").await
}

/// Sign for the open lead assignment of a message as staff of its unit.
async fn sign_for(app: &TestApp, token: &str, assignment: &str) {
    let r = app
        .post(
            &format!("/api/v1/assignments/{assignment}/sign-for"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

// ---------------------------------------------------------------------------------------------
// Building the board through the API

async fn with_etag(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
    version: i64,
) -> Value {
    let etag = format!("\"{version}\"");
    let r = app
        .send_with(
            method,
            path,
            Some(token),
            Some(body),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body
}

/// Classify and accept (the liaison office's intake).
async fn accept(app: &TestApp, liaison: &str, id: &str, category_id: &str) {
    with_etag(
        app,
        Method::PUT,
        &format!("/api/v1/messages/{id}/classification"),
        liaison,
        json!({"priority": "routine", "category_id": category_id}),
        1,
    )
    .await;
    with_etag(
        app,
        Method::POST,
        &format!("/api/v1/messages/{id}/accept"),
        liaison,
        json!({}),
        2,
    )
    .await;
}

/// Assign to a lead unit; returns the assignment id.
async fn assign(app: &TestApp, liaison: &str, id: &str, unit_name: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/messages/{id}/assignments"),
            liaison,
            json!({"lead_unit_id": unit(unit_name), "co_unit_ids": [], "note": "请办理"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["items"][0]["id"].as_str().unwrap().to_owned()
}

/// A message of the board fixture.
#[derive(Clone)]
struct Msg {
    id: String,
    tracking_no: String,
}

impl Msg {
    fn of(m: &Value) -> Msg {
        Msg {
            id: m["id"].as_str().unwrap().to_owned(),
            tracking_no: m["tracking_no"].as_str().unwrap().to_owned(),
        }
    }
}

struct Board {
    clock: Clock,
    liaison: String,
    citizen_b: String,
    /// Demo citizen: public, replied (an interim and a final reply), personal data in the text.
    replied: Msg,
    /// Second citizen: public, accepted, to another leader; their name in the title.
    accepted: Msg,
    /// Registered by phone for a caller (contact name and phone): public, closed.
    closed: Msg,
    private: Msg,
    submitted: Msg,
    rejected: Msg,
    withdrawn: Msg,
    /// Display name and e-mail of the demo citizen and of the second citizen.
    author_a: (String, String),
    author_b: (String, String),
}

const B_NAME: &str = "欧阳明华";
const B_EMAIL: &str = "ouyang.minghua@example.cn";
const CALLER_NAME: &str = "马桂兰";
const CALLER_PHONE: &str = "13309318765";
const A_PHONE: &str = "13912345678";
const A_ID_CARD: &str = "62010219900101123X";
const A_ADDRESS: &str = "张掖路街道金城小区3号楼";
/// The handler at 西固区 who writes the closed message's reply (named in it).
const XIGU_HANDLER: &str = "郑晓东";

/// A message to the mayor written from home: the address is the author's, and unique (the test
/// looks for every stored address in what the board serves).
fn at_home(title: &str, address: &str) -> Value {
    let mut b = message_body(title);
    b["address"] = json!(address);
    b
}

/// Messages in every state, by citizens and by phone, with published replies.
async fn board(app: &TestApp, clock: Clock) -> Board {
    let citizen_a = app.token(Demo::Citizen).await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(
                json!({"email": B_EMAIL, "password": "citizen b password", "display_name": B_NAME}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let citizen_b = app.login(B_EMAIL, "citizen b password").await;
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "dou.jianxun@example.cn", "password": "staff password 1",
                   "display_name": "窦建勋", "role": "handler", "unit_id": unit(LANZHOU_LIAISON)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let liaison = app
        .login("dou.jianxun@example.cn", "staff password 1")
        .await;
    let demo_a = liuyan::seed::USERS
        .iter()
        .find(|u| u.email == Demo::Citizen.email())
        .unwrap();
    let author_a = (demo_a.display_name.to_owned(), demo_a.email.to_owned());
    let (a_name, a_email) = (&author_a.0, &author_a.1);
    let handler = app.token(Demo::Handler).await; // 张伟, 兰州市交通运输局
    let reviewer = app.token(Demo::Reviewer).await; // 李强, 兰州市交通运输局
    let xigu_handler = staff_named(app, "xigu.h@example.cn", XIGU_HANDLER, "handler", XIGU).await;
    let xigu_reviewer = staff_named(app, "xigu.r@example.cn", "钱慧敏", "reviewer", XIGU).await;
    let urban = category(app, "urban_construction");

    // The demo citizen: their name, phone, ID-card number, address and e-mail in the body.
    let mut b = message_body("庆阳路口红绿灯坏了三天");
    b["body"] = json!(format!(
        "我叫{a_name}，住在{A_ADDRESS}，电话{A_PHONE}，身份证号{A_ID_CARD}。\
         庆阳路与酒泉路交叉口的红绿灯坏了三天，请尽快修理。可发邮件到{a_email}联系我。"
    ));
    b["address"] = json!(A_ADDRESS);
    b["contact_phone"] = json!(A_PHONE);
    b["attachments"] = json!([
        {"url": "https://files.example.gov.cn/board/light.jpg", "media_type": "image/jpeg"},
        {"url": "https://files.example.gov.cn/board/id-card.jpg", "media_type": "image/jpeg", "private": true},
        {"url": format!("https://files.example.gov.cn/{A_PHONE}/receipt.pdf"), "media_type": "application/pdf"}
    ]);
    let replied = Msg::of(&submit(app, &citizen_a, b).await);
    accept(app, &liaison, &replied.id, TRANSPORT).await;
    let assignment = assign(app, &liaison, &replied.id, TRANSPORT_BUREAU).await;
    sign_for(app, &handler, &assignment).await;
    clock.advance(Duration::minutes(1));
    publish_reply(
        app,
        &replied.id,
        "interim",
        "已收到您的留言，我局已派人到现场核查，请耐心等待。",
        &handler,
        &reviewer,
    )
    .await;

    // The second citizen, to the Lanzhou party secretary, their name in the title.
    clock.advance(Duration::minutes(1));
    let mut b = message_body("七里河公交站台破损");
    b["leader_id"] = json!(leader("赵文博"));
    b["title"] = json!(format!("{B_NAME}反映七里河公交站台破损"));
    b["body"] = json!(format!(
        "我是{B_NAME}，邮箱{B_EMAIL}。七里河区西站公交站台的顶棚破了很久，下雨天无法候车，请修复。"
    ));
    b["region_code"] = json!("620103");
    b["address"] = json!("西站十字公交站台");
    b["contact_phone"] = json!("13519316677");
    let accepted = Msg::of(&submit(app, &citizen_b, b).await);
    accept(app, &liaison, &accepted.id, TRANSPORT).await;

    // A phone call registered by the liaison office for a caller without an account.
    clock.advance(Duration::minutes(1));
    let mut b = message_body("西固区福利路路灯不亮");
    b["source"] = json!("phone");
    b["contact_name"] = json!(CALLER_NAME);
    b["contact_phone"] = json!(CALLER_PHONE);
    b["category_id"] = json!(urban);
    b["region_code"] = json!("620104");
    b["address"] = json!("西固区福利路88号");
    b["body"] = json!(format!(
        "{CALLER_NAME}来电反映：西固区福利路88号小区门前路灯不亮已经一个月，晚上出行不便，回电{CALLER_PHONE}。"
    ));
    b["attachments"] = json!([]);
    let closed = Msg::of(&submit(app, &liaison, b).await);
    accept(app, &liaison, &closed.id, &urban).await;
    let assignment = assign(app, &liaison, &closed.id, XIGU).await;
    sign_for(app, &xigu_handler, &assignment).await;
    clock.advance(Duration::minutes(1));
    publish_reply(
        app,
        &closed.id,
        "final",
        &format!("已安排维修人员更换路灯，现已恢复照明。经办人：{XIGU_HANDLER}。"),
        &xigu_handler,
        &xigu_reviewer,
    )
    .await;
    // The demo citizen's final reply after it: its rating window ends a minute later, so the
    // scheduler pass that closes this one leaves it `replied`.
    clock.advance(Duration::minutes(1));
    publish_reply(
        app,
        &replied.id,
        "final",
        "经核查，该路口信号灯控制器故障，已于11月20日更换。如有疑问请联系经办人张伟。",
        &handler,
        &reviewer,
    )
    .await;
    assert!(close_by_scheduler(app, &liaison, &closed.id).await >= 1);
    let r = app
        .get(&format!("/api/v1/messages/{}", replied.id), &liaison)
        .await;
    assert_eq!(r.body["status"], "replied", "{}", r.body);

    // Never on the board: private (though accepted), not yet accepted, rejected, withdrawn.
    let mut b = at_home("家庭邻里纠纷求助", "七里河区敦煌路街道建兰小区5号楼");
    b["visibility"] = json!("private");
    let private = Msg::of(&submit(app, &citizen_b, b).await);
    accept(app, &liaison, &private.id, TRANSPORT).await;
    let submitted = Msg::of(
        &submit(
            app,
            &citizen_a,
            at_home("尚未受理的公开留言", "城关区雁滩路街道天庆嘉园7号楼"),
        )
        .await,
    );
    let rejected = Msg::of(
        &submit(
            app,
            &citizen_a,
            at_home("被退回的公开留言", "城关区皋兰路街道南昌路小区2号楼"),
        )
        .await,
    );
    with_etag(
        app,
        Method::POST,
        &format!("/api/v1/messages/{}/reject", rejected.id),
        &liaison,
        json!({"reason": "out_of_scope", "note": "不属于本级受理范围"}),
        1,
    )
    .await;
    let withdrawn = Msg::of(
        &submit(
            app,
            &citizen_b,
            at_home("已撤回的公开留言", "七里河区西湖街道西湖小区9号楼"),
        )
        .await,
    );
    with_etag(
        app,
        Method::POST,
        &format!("/api/v1/messages/{}/withdraw", withdrawn.id),
        &citizen_b,
        json!({}),
        1,
    )
    .await;

    Board {
        clock,
        liaison,
        citizen_b,
        replied,
        accepted,
        closed,
        private,
        submitted,
        rejected,
        withdrawn,
        author_a,
        author_b: (B_NAME.to_owned(), B_EMAIL.to_owned()),
    }
}

async fn spawn_board() -> (TestApp, Board) {
    let mut settings = test_settings();
    let clock = Clock::manual(
        DateTime::parse_from_rfc3339("2026-11-23T01:00:30Z")
            .unwrap()
            .with_timezone(&Utc),
    );
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let board = board(&app, clock).await;
    (app, board)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[actix_web::test]
async fn the_board_never_shows_anyones_personal_data() {
    let (app, board) = spawn_board().await;

    // Every personal string in the database: ids, e-mails and names of every account (citizens
    // and staff), and every message's author, registering staff, contact name, phone and
    // address. One exception, by design: a leader's account named like the leader, whose name
    // the board shows as the addressee (a public official).
    let secrets: Vec<String> = strings(
        &app,
        "SELECT v AS value FROM ( \
             SELECT id::text AS v FROM users \
             UNION ALL SELECT email FROM users \
             UNION ALL SELECT display_name FROM users u WHERE NOT (u.role = 'leader' AND EXISTS \
                 (SELECT 1 FROM leaders l WHERE l.id = u.leader_id AND l.name = u.display_name)) \
             UNION ALL SELECT author_id::text FROM messages WHERE author_id IS NOT NULL \
             UNION ALL SELECT registered_by::text FROM messages WHERE registered_by IS NOT NULL \
             UNION ALL SELECT contact_name FROM messages WHERE contact_name IS NOT NULL \
             UNION ALL SELECT contact_phone FROM messages WHERE contact_phone IS NOT NULL \
             UNION ALL SELECT address FROM messages \
             UNION ALL SELECT created_by::text FROM replies \
             UNION ALL SELECT published_by::text FROM replies WHERE published_by IS NOT NULL \
         ) s WHERE char_length(trim(v)) >= 2",
    )
    .into_iter()
    .collect::<HashSet<_>>()
    .into_iter()
    .collect();
    let exempt = strings(
        &app,
        "SELECT u.display_name AS value FROM users u JOIN leaders l ON l.id = u.leader_id \
         WHERE u.role = 'leader' AND l.name = u.display_name",
    );
    assert_eq!(
        exempt,
        vec!["孙海洋"],
        "only the mayor's own account is exempt"
    );
    // The collection is not vacuous: the people of this test are in it.
    for s in [
        board.author_a.0.as_str(),
        board.author_a.1.as_str(),
        board.author_b.0.as_str(),
        board.author_b.1.as_str(),
        CALLER_NAME,
        CALLER_PHONE,
        A_PHONE,
        A_ADDRESS,
        "张伟",
        "李强",
        "窦建勋",
        "dou.jianxun@example.cn",
    ] {
        assert!(secrets.iter().any(|x| x == s), "{s} is collected");
    }

    // Everything the board serves: every list page, every message, every leader's counters,
    // and a few searches.
    let (pages, listed) = walk(&app, "", 3).await;
    assert!(listed.len() >= 5, "{listed:?}");
    let mut texts: Vec<(String, String)> = pages
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("list page {i}"), p.text))
        .collect();
    for tn in &listed {
        let path = format!("{BOARD}/{tn}");
        texts.push((path.clone(), ok(&app, &path).await.text));
    }
    for id in strings(&app, "SELECT id::text AS value FROM leaders") {
        let path = format!("/api/v1/public/leaders/{id}/stats");
        texts.push((path.clone(), ok(&app, &path).await.text));
    }
    for q in ["%E7%BA%A2%E7%BB%BF%E7%81%AF", "%E5%85%AC%E4%BA%A4"] {
        // 红绿灯, 公交
        let path = format!("{BOARD}?q={q}");
        texts.push((path.clone(), ok(&app, &path).await.text));
    }
    for (what, text) in &texts {
        for s in &secrets {
            assert!(
                !text.contains(s.trim()),
                "{what} shows personal data `{s}`: {text}"
            );
        }
    }

    // The masks are there, in place of the numbers and names.
    let m = ok(&app, &format!("{BOARD}/{}", board.replied.tracking_no))
        .await
        .json();
    let body = m["body"].as_str().unwrap();
    assert!(
        body.starts_with("我叫***，住在***，电话139******78，"),
        "{body}"
    );
    assert!(body.contains("身份证号620*************3X"), "{body}");
    assert!(body.contains("邮件到***联系我"), "{body}");
    assert_eq!(
        m["attachments"],
        json!([{"url": "https://files.example.gov.cn/board/light.jpg", "media_type": "image/jpeg"}]),
        "neither the private attachment nor the one whose URL carries the phone number"
    );
    let replies = m["replies"].as_array().unwrap();
    assert_eq!(
        replies
            .iter()
            .map(|r| r["kind"].clone())
            .collect::<Vec<_>>(),
        vec![json!("interim"), json!("final")],
        "oldest first"
    );
    assert_eq!(replies[1]["unit_name"], TRANSPORT_BUREAU);
    assert_eq!(
        replies[1]["body"],
        "经核查，该路口信号灯控制器故障，已于11月20日更换。如有疑问请联系经办人***。"
    );
    let m = ok(&app, &format!("{BOARD}/{}", board.accepted.tracking_no))
        .await
        .json();
    assert_eq!(m["title"], "***反映七里河公交站台破损");
    let m = ok(&app, &format!("{BOARD}/{}", board.closed.tracking_no))
        .await
        .json();
    assert!(
        m["body"]
            .as_str()
            .unwrap()
            .starts_with("***来电反映：***小区门前路灯不亮"),
        "{}",
        m["body"]
    );
    assert_eq!(
        m["replies"][0]["body"],
        "已安排维修人员更换路灯，现已恢复照明。经办人：***。"
    );
    // Exactly the public fields.
    let mut keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "accepted_at",
            "attachments",
            "body",
            "category_id",
            "closed_at",
            "kind",
            "leader",
            "region_code",
            "replied_at",
            "replies",
            "status",
            "submitted_at",
            "title",
            "tracking_no"
        ]
    );
    assert_eq!(
        m["leader"],
        json!({"id": leader("孙海洋"), "name": "孙海洋", "title": "兰州市市长"})
    );

    // A search cannot tell whether a masked name or number is in a message.
    for q in [
        board.author_b.0.as_str(),
        board.author_a.0.as_str(),
        CALLER_NAME,
    ] {
        let r = ok(&app, &format!("{BOARD}?q={}", urlencode(q)))
            .await
            .json();
        assert_eq!(r["items"], json!([]), "q={q}");
    }
    let r = ok(&app, &format!("{BOARD}?q={A_PHONE}")).await.json();
    assert_eq!(r["items"], json!([]), "q={A_PHONE}");
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[actix_web::test]
async fn messages_off_the_board_are_neither_listed_nor_found() {
    let (app, board) = spawn_board().await;
    let (_, listed) = walk(&app, "", 100).await;
    for m in [&board.replied, &board.accepted, &board.closed] {
        assert!(listed.contains(&m.tracking_no), "{} listed", m.tracking_no);
    }
    let unknown = fetch(&app, &format!("{BOARD}/GS-2099-999999"), &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.header("content-type"),
        Some("application/problem+json")
    );
    let unknown = unknown.json();
    for m in [
        &board.private,
        &board.submitted,
        &board.rejected,
        &board.withdrawn,
    ] {
        assert!(!listed.contains(&m.tracking_no), "{} listed", m.tracking_no);
        let r = fetch(&app, &format!("{BOARD}/{}", m.tracking_no), &[]).await;
        assert_eq!(r.status, 404, "{}: {}", m.tracking_no, r.text);
        let body = r.json();
        for field in ["type", "title", "status", "detail"] {
            assert_eq!(
                body[field], unknown[field],
                "{field} as for an unknown number"
            );
        }
    }
    // Tracking numbers are read out on the phone: case and spaces do not matter; junk is 404.
    let lower = board.replied.tracking_no.to_lowercase();
    assert_eq!(
        ok(&app, &format!("{BOARD}/{lower}")).await.json()["tracking_no"],
        board.replied.tracking_no
    );
    let long = "G".repeat(40);
    assert_eq!(
        fetch(&app, &format!("{BOARD}/{long}"), &[]).await.status,
        404
    );
    // The authors themselves do not see their private message on the board either.
    let r = app
        .send_with(
            Method::GET,
            &format!("{BOARD}/{}", board.private.tracking_no),
            Some(&board.citizen_b),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn filters_search_and_keyset_pages_match_sql() {
    let (app, board) = spawn_board().await;
    let urban = category(&app, "urban_construction");
    let lanzhou = "(SELECT path FROM regions WHERE code = '620100')";
    let cases: Vec<(String, String, Vec<&Msg>)> = vec![
        (
            String::new(),
            "true".into(),
            vec![&board.replied, &board.accepted, &board.closed],
        ),
        (
            format!("leader_id={}", leader("赵文博")),
            format!("m.leader_id = '{}'", leader("赵文博")),
            vec![&board.accepted],
        ),
        (
            format!("leader_id={}", leader("孙海洋")),
            format!("m.leader_id = '{}'", leader("孙海洋")),
            vec![&board.replied, &board.closed],
        ),
        (
            "region_code=620100".into(),
            format!("m.region_path LIKE {lanzhou} || '%'"),
            vec![&board.replied, &board.accepted, &board.closed],
        ),
        (
            "region_code=620104".into(),
            "m.region_code = '620104'".into(),
            vec![&board.closed],
        ),
        (
            "region_code=620500".into(),
            "m.region_path LIKE '620000/620500/%'".into(),
            vec![],
        ),
        (
            format!("category_id={urban}"),
            format!("m.category_id = '{urban}'"),
            vec![&board.closed],
        ),
        (
            "replied=true".into(),
            "m.status IN ('replied', 'closed')".into(),
            vec![&board.replied, &board.closed],
        ),
        (
            "replied=false".into(),
            "m.status NOT IN ('replied', 'closed')".into(),
            vec![&board.accepted],
        ),
        (
            format!(
                "replied=true&leader_id={}&category_id={TRANSPORT}",
                leader("孙海洋")
            ),
            format!(
                "m.status IN ('replied', 'closed') AND m.leader_id = '{}' AND m.category_id = '{TRANSPORT}'",
                leader("孙海洋")
            ),
            vec![&board.replied],
        ),
        (
            "q=%E7%BA%A2%E7%BB%BF%E7%81%AF".into(), // 红绿灯
            "m.title LIKE '%红绿灯%' OR m.body LIKE '%红绿灯%'".into(),
            vec![&board.replied],
        ),
    ];
    for (query, condition, members) in cases {
        let want = expected(&app, &condition);
        if query.is_empty() {
            assert!(
                want.len() >= 5,
                "the seed adds public accepted messages: {want:?}"
            );
        }
        for m in members {
            assert!(
                want.contains(&m.tracking_no),
                "{query}: SQL finds {}",
                m.tracking_no
            );
        }
        for limit in [2, 100] {
            let (_, got) = walk(&app, &query, limit).await;
            assert_eq!(got, want, "{query} in pages of {limit}");
            let unique: HashSet<&String> = got.iter().collect();
            assert_eq!(unique.len(), got.len(), "{query}: no duplicates");
        }
    }
    // A page holds the newest first and says where to continue.
    let first = ok(&app, &format!("{BOARD}?limit=1")).await.json();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert!(first["next_cursor"].is_string());

    // Bad parameters are 422 naming the parameter; a bad If-None-Match is 400.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("region_code=6201", "region_code"),
        ("leader_id=nobody", "leader_id"),
        ("replied=maybe", "replied"),
        ("q=%E7%81%AF", "q"), // one character
    ] {
        let r = fetch(&app, &format!("{BOARD}?{query}"), &[]).await;
        assert_eq!(r.status, 422, "{query}: {}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let fields: Vec<String> = r.json()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, vec![field.to_owned()], "{query}");
    }
    let r = fetch(&app, BOARD, &[("if-none-match", "no quotes")]).await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[actix_web::test]
async fn responses_carry_etags_and_cache_headers_and_revalidate() {
    let (app, board) = spawn_board().await;
    let detail = format!("{BOARD}/{}", board.accepted.tracking_no);
    let stats = format!("/api/v1/public/leaders/{}/stats", leader("赵文博"));
    for path in [BOARD.to_owned(), detail.clone(), stats.clone()] {
        let r = ok(&app, &path).await;
        let etag = r.etag();
        // A strong tag: the SHA-256 of the body as sent.
        assert_eq!(
            etag,
            format!("\"{}\"", hex::encode(Sha256::digest(r.text.as_bytes()))),
            "{path}"
        );
        assert_eq!(r.header("cache-control"), Some(CACHE_CONTROL), "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
        // Revalidation: 304, no body, the same validators.
        for held in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".into(),
        ] {
            let r = fetch(&app, &path, &[("if-none-match", &held)]).await;
            assert_eq!(r.status, 304, "{path} with {held}");
            assert_eq!(r.text, "", "{path}: a 304 has no body");
            assert_eq!(r.etag(), etag, "{path}");
            assert_eq!(r.header("cache-control"), Some(CACHE_CONTROL), "{path}");
        }
        let r = fetch(&app, &path, &[("if-none-match", "\"something-else\"")]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.etag(), etag, "{path}: same content, same tag");
        // Credentials change nothing: a valid token, an invalid one, a malformed header all get
        // the same public answer (never 401).
        let citizen = app.token(Demo::Citizen).await;
        let bearer = format!("Bearer {citizen}");
        for auth in [
            bearer.as_str(),
            "Bearer garbage.token.here",
            "Basic Zm9vOmJhcg==",
        ] {
            let r = fetch(&app, &path, &[("authorization", auth)]).await;
            assert_eq!(
                r.status, 200,
                "{path} with Authorization {auth}: {}",
                r.text
            );
            assert_eq!(r.etag(), etag, "{path}: the same answer for everyone");
        }
    }

    // Publishing a reply changes the board, and so the tags: an interim reply (the status stays)
    // and then the final one.
    let qilihe = "兰州市七里河区人民政府";
    let assignment = assign(&app, &board.liaison, &board.accepted.id, qilihe).await;
    let writer = staff_named(&app, "qlh.h@example.cn", "孔令辉", "handler", qilihe).await;
    let reviewer = staff_named(&app, "qlh.r@example.cn", "白雪梅", "reviewer", qilihe).await;
    sign_for(&app, &writer, &assignment).await;
    let mut tags: Vec<(String, String, String)> = Vec::new();
    let snapshot = |list: Raw, d: Raw, s: Raw| (list.etag(), d.etag(), s.etag());
    tags.push(snapshot(
        ok(&app, BOARD).await,
        ok(&app, &detail).await,
        ok(&app, &stats).await,
    ));
    for kind in ["interim", "final"] {
        board.clock.advance(Duration::seconds(10));
        publish_reply(
            &app,
            &board.accepted.id,
            kind,
            "七里河区已安排维修公交站台顶棚，预计本周内完成。",
            &writer,
            &reviewer,
        )
        .await;
        tags.push(snapshot(
            ok(&app, BOARD).await,
            ok(&app, &detail).await,
            ok(&app, &stats).await,
        ));
    }
    let (before, interim, fin) = (&tags[0], &tags[1], &tags[2]);
    assert_ne!(
        interim.0, before.0,
        "the list changes with an interim reply"
    );
    assert_ne!(
        interim.1, before.1,
        "the message changes with an interim reply"
    );
    assert_eq!(
        interim.2, before.2,
        "the counters do not count interim replies"
    );
    assert_ne!(fin.0, interim.0, "the list changes with the final reply");
    assert_ne!(fin.1, interim.1, "the message changes with the final reply");
    assert_ne!(fin.2, interim.2, "the counters change with the final reply");
    // The old tag no longer matches.
    let r = fetch(&app, &detail, &[("if-none-match", &before.1)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["replies"].as_array().unwrap().len(), 2);
    assert_eq!(r.json()["status"], "replied");
}

#[actix_web::test]
async fn leader_counters_equal_sql_counts() {
    let (app, board) = spawn_board().await;
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        received: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        replied: i64,
    }
    let counts: Vec<Counts> = diesel::sql_query(format!(
        "SELECT l.id::text AS id, \
             (SELECT count(*) FROM messages m WHERE m.leader_id = l.id AND m.status IN {VISIBLE_SQL}) AS received, \
             (SELECT count(*) FROM messages m WHERE m.leader_id = l.id AND m.status IN ('replied', 'closed')) AS replied \
         FROM leaders l"
    ))
    .load(&mut app.db.connect())
    .unwrap();
    assert!(counts.len() >= 8);
    // The fixture makes the mayor's numbers interesting: two replied, and a private message
    // counted although the board does not show it.
    let mayor = counts.iter().find(|c| c.id == leader("孙海洋")).unwrap();
    assert_eq!(mayor.replied, 2);
    let shown = walk(&app, &format!("leader_id={}", leader("孙海洋")), 100)
        .await
        .1
        .len() as i64;
    assert_eq!(mayor.received, shown + 1, "the private message counts");
    let mut nulls = 0;
    for c in &counts {
        let r = ok(&app, &format!("/api/v1/public/leaders/{}/stats", c.id))
            .await
            .json();
        assert_eq!(r["leader_id"], c.id);
        assert_eq!(r["received"], c.received, "{}", c.id);
        assert_eq!(r["replied"], c.replied, "{}", c.id);
        if c.received == 0 {
            nulls += 1;
            assert_eq!(r["reply_rate"], Value::Null);
        } else {
            let rate = r["reply_rate"].as_f64().unwrap();
            assert!((rate - c.replied as f64 / c.received as f64).abs() < 1e-12);
        }
        // The pinned clock stands at 01:00:30 plus the fixture's minutes: whole minutes only.
        assert_eq!(r["as_of"], "2026-11-23T01:05:00Z");
    }
    assert!(nulls > 0, "some leader has received nothing");
    // The counters come from the statistics' cells plus the changes not folded into them yet:
    // the same figures once every change is folded, and after a change that is not.
    let mut conn = app.db.connect();
    liuyan::store::statistics::fold_all(&mut conn, 10_000, 100).unwrap();
    let pending: i64 = diesel::sql_query("SELECT count(*) AS n FROM stat_deltas")
        .get_result::<N>(&mut conn)
        .unwrap()
        .n;
    assert_eq!(pending, 0, "all folded");
    let replied_one: String = diesel::sql_query(
        "UPDATE messages SET status = 'closed' WHERE id = \
             (SELECT id FROM messages WHERE leader_id = $1 AND status = 'replied' LIMIT 1) \
         RETURNING id::text AS id",
    )
    .bind::<diesel::sql_types::Uuid, _>(uuid::Uuid::parse_str(&leader("孙海洋")).unwrap())
    .get_result::<Id>(&mut conn)
    .unwrap()
    .id;
    assert!(!replied_one.is_empty());
    let withdrawn: usize = diesel::sql_query(
        "UPDATE messages SET status = 'withdrawn' WHERE id = \
             (SELECT id FROM messages WHERE leader_id = $1 AND status = 'accepted' LIMIT 1)",
    )
    .bind::<diesel::sql_types::Uuid, _>(uuid::Uuid::parse_str(&leader("孙海洋")).unwrap())
    .execute(&mut conn)
    .unwrap();
    assert_eq!(
        withdrawn, 1,
        "the fixture has an accepted message of the mayor's"
    );
    let r = ok(
        &app,
        &format!("/api/v1/public/leaders/{}/stats", leader("孙海洋")),
    )
    .await
    .json();
    assert_eq!(r["received"], mayor.received - withdrawn as i64);
    assert_eq!(r["replied"], mayor.replied, "closed is still replied");
    assert_eq!(
        board
            .clock
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "2026-11-23T01:05:30Z"
    );

    // Unknown and malformed leaders are 404; no account is needed for any of this.
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-leader".to_owned()] {
        let r = fetch(&app, &format!("/api/v1/public/leaders/{id}/stats"), &[]).await;
        assert_eq!(r.status, 404, "{id}: {}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}
