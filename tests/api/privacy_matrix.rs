//! The privacy matrix (issue 17): every GET operation of the spec (not a hand-picked list), as
//! every identity, in every download format, and the change feed and webhook deliveries of
//! integration clients with and without data scopes, scanned for every datum the identity may
//! not see. What an identity may see comes from the access model's table in the code
//! (`app::relations::RELATIONS`, shown in the README), so the table, the code and this test
//! agree. A failure names the operation, the identity and the datum.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::{Duration, Instant};

use liuyan::app::relations::{PersonalField, Rows, Sees, relation};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, TestApp, unit};
use crate::messages::{lanzhou_liaison, leader, message_body, other_citizen, staff, submit};
use crate::replies::{put_with, sign_for};
use crate::webhooks::{Receiver, UP, deliveries, settings, subscribe};

const TRANSPORT: &str = "01930000-0000-7000-8000-000000000002";

// The story's distinctive data. M1: the demo citizen's public message, handled to the end
// with internal work; M2: the demo citizen's private message; M3: a second citizen's private
// message in Tianshui; M4: the second citizen's public message in Tianshui, accepted and not
// assigned (claimable).
const M1_PHONE_IN_TEXT: &str = "13987654321";
const M1_ID_IN_TEXT: &str = "620102198803152033";
const M1_CONTACT: &str = "13911112222";
const M1_ADDRESS: &str = "庆阳路88号院3单元";
const M1_LAT: &str = "36.061177";
const M1_PRIVATE_FILE: &str = "https://files.example.gov.cn/wxm-id-card.jpg";
const ROUTING_NOTE: &str = "转交通局办理壬";
const M1_TAG: &str = "内部标签戊";
const SUPERVISION: &str = "督办指示：务必本周内解决乙";
const INSTRUCTION: &str = "批示：请高度重视丙";
const REVIEW: &str = "同意发布，审核意见甲";
const VISIT_NOTE: &str = "暗访核查计划丁";
/// The reply names the handler: the board masks staff names.
const REPLY: &str = "经办人张伟已联系施工单位，路口信号灯已于今日修复，恢复正常运行。";
const REPLY_NAME: &str = "经办人张伟";
const M2_TITLE: &str = "私信：家中漏水无人管己";
const M2_PHRASE: &str = "楼上漏水已两月";
const M2_CONTACT: &str = "13633334444";
const M3_TITLE: &str = "私信：秦州区夜间噪音扰民庚";
const M3_PHONE_IN_TEXT: &str = "13700001111";
const M3_CONTACT: &str = "13655556666";
const M4_PHONE_IN_TEXT: &str = "13522223333";
const M4_CONTACT: &str = "13544445555";
const M4_TAG: &str = "内部标签癸";

const M1: usize = 0;
const M2: usize = 1;
const M3: usize = 2;
const M4: usize = 3;

#[derive(Debug, Clone, Copy)]
enum DataClass {
    /// That a private message exists, its title and body.
    Row,
    /// Personal data inside free text, as written.
    Text,
    Personal(PersonalField),
    Internal,
}

struct Datum {
    label: &'static str,
    value: String,
    /// The messages it belongs to: an identity may see it when one of them lets it.
    messages: Vec<usize>,
    class: DataClass,
}

fn datum(label: &'static str, value: &str, messages: &[usize], class: DataClass) -> Datum {
    Datum {
        label,
        value: value.to_owned(),
        messages: messages.to_vec(),
        class,
    }
}

/// A caller: a token (none: anonymous), the data scopes of an integration client, and its
/// relations (keys of `RELATIONS`) to M1..M4.
struct Identity {
    name: &'static str,
    token: Option<String>,
    scopes: Vec<&'static str>,
    relations: [Vec<&'static str>; 4],
}

/// An integration client of the matrix: name, data scopes, region, relations to M1..M4.
type ClientKind = (
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
    [&'static [&'static str]; 4],
);

fn rel(keys: [&[&'static str]; 4]) -> [Vec<&'static str>; 4] {
    keys.map(|k| k.to_vec())
}

fn with_scope(sees: Sees, scopes: &[&str]) -> bool {
    match sees {
        Sees::All | Sees::Part(_) => true,
        Sees::With(scope) => scopes.contains(&scope),
        Sees::Nothing => false,
    }
}

impl Identity {
    /// What the access model's table lets this identity see of `d`.
    fn may_see(&self, d: &Datum) -> bool {
        d.messages.iter().any(|&m| {
            self.relations[m].iter().any(|key| {
                let r = relation(key).unwrap_or_else(|| panic!("no relation `{key}`"));
                match d.class {
                    DataClass::Row => match r.rows {
                        Rows::Public => false,
                        Rows::Private => true,
                        Rows::PrivateWith(scope) => self.scopes.contains(&scope),
                    },
                    DataClass::Text => with_scope(r.text, &self.scopes),
                    DataClass::Personal(field) => match r.personal {
                        Sees::With(scope) => self.scopes.contains(&scope),
                        other => other.covers(field),
                    },
                    DataClass::Internal => r.internal,
                }
            })
        })
    }
}

/// Ids the story leaves behind.
struct Story {
    messages: [String; 4],
    tracking: [String; 4],
    /// Tokens of staff the story created: the Lanzhou liaison office (M1, M2's intake), its
    /// reviewer, the Tianshui liaison office (M3, M4's intake).
    lz: String,
    lz_reviewer: String,
    ts: String,
}

async fn ok(r: crate::helpers::Resp, what: &str) -> Value {
    assert!(r.status.is_success(), "{what}: {} {}", r.status, r.body);
    r.body
}

async fn classify_and_accept(app: &TestApp, token: &str, id: &str, tags: &[&str]) {
    let c = put_with(
        app,
        &format!("/api/v1/messages/{id}/classification"),
        token,
        json!({"priority": "routine", "category_id": TRANSPORT, "tags": tags}),
        "\"1\"",
    )
    .await;
    ok(c, "classify").await;
    let a = crate::handling::post_with(
        app,
        &format!("/api/v1/messages/{id}/accept"),
        token,
        json!({}),
        "\"2\"",
    )
    .await;
    ok(a, "accept").await;
}

async fn story(app: &TestApp, author: &str, citizen_b: &str) -> Story {
    let lz = lanzhou_liaison(app).await;
    let handler = app.token(Demo::Handler).await;
    let supervisor = app.token(Demo::Supervisor).await;

    let mut b = message_body("庆阳路口红绿灯坏了");
    b["body"] = json!(format!(
        "庆阳路口红绿灯坏了三天。请联系我{M1_PHONE_IN_TEXT}，身份证{M1_ID_IN_TEXT}。"
    ));
    b["address"] = json!(M1_ADDRESS);
    b["location"] = json!({"lat": 36.061177, "lon": 103.834377});
    b["contact_phone"] = json!(M1_CONTACT);
    b["attachments"] = json!([
        {"url": "https://files.example.gov.cn/crossing.jpg", "media_type": "image/jpeg"},
        {"url": M1_PRIVATE_FILE, "media_type": "image/jpeg", "private": true}
    ]);
    let m1 = submit(app, author, b).await;
    let m1 = m1["id"].as_str().unwrap().to_owned();
    classify_and_accept(app, &lz, &m1, &[M1_TAG]).await;
    let r = app
        .post(
            &format!("/api/v1/messages/{m1}/assignments"),
            &lz,
            json!({"lead_unit_id": unit("兰州市交通运输局"), "co_unit_ids": [], "note": ROUTING_NOTE}),
        )
        .await;
    ok(r, "assign").await;
    sign_for(app, &handler, &m1).await;
    let r = app
        .post(
            &format!("/api/v1/messages/{m1}/supervisions"),
            &supervisor,
            json!({"level": "key", "instruction": SUPERVISION, "due_date": "2099-12-31"}),
        )
        .await;
    ok(r, "supervise").await;
    let r = app
        .post(
            &format!("/api/v1/messages/{m1}/instructions"),
            &app.token(Demo::Leader).await,
            json!({"body": INSTRUCTION}),
        )
        .await;
    ok(r, "instruct").await;
    let d = app
        .post(
            &format!("/api/v1/messages/{m1}/replies"),
            &handler,
            json!({"kind": "final", "body": REPLY}),
        )
        .await;
    let rid = ok(d, "draft").await["id"].as_str().unwrap().to_owned();
    let lz_reviewer = staff(
        app,
        "lz.reviewer.pm@example.cn",
        "reviewer",
        "兰州市领导留言办理工作办公室",
    )
    .await;
    for (action, token, body) in [
        ("submit", &handler, json!({})),
        ("approve", &lz_reviewer, json!({"comment": REVIEW})),
        ("publish", &lz_reviewer, json!({})),
    ] {
        let r = app
            .post(&format!("/api/v1/replies/{rid}/{action}"), token, body)
            .await;
        ok(r, action).await;
    }
    let r = app
        .post(
            "/api/v1/return-visits",
            &supervisor,
            json!({"message_id": m1, "kind": "on_site_check", "note": VISIT_NOTE}),
        )
        .await;
    ok(r, "plan visit").await;

    let mut b = message_body(M2_TITLE);
    b["visibility"] = json!("private");
    b["region_code"] = json!("620103");
    b["body"] = json!(format!("七里河区某小区{M2_PHRASE}，物业不管。"));
    b["contact_phone"] = json!(M2_CONTACT);
    b["attachments"] = json!([]);
    let m2 = submit(app, author, b).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut b = message_body(M3_TITLE);
    b["visibility"] = json!("private");
    b["leader_id"] = json!(leader("吴建平"));
    b["region_code"] = json!("620502");
    b["body"] = json!(format!(
        "秦州区某工地夜间施工，噪音扰民，电话{M3_PHONE_IN_TEXT}。"
    ));
    b["contact_phone"] = json!(M3_CONTACT);
    b["attachments"] = json!([]);
    let m3 = submit(app, citizen_b, b).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut b = message_body("秦州区路灯不亮");
    b["leader_id"] = json!(leader("吴建平"));
    b["region_code"] = json!("620502");
    b["body"] = json!(format!(
        "秦州区环城路路灯不亮一周了，请拨{M4_PHONE_IN_TEXT}联系。"
    ));
    b["contact_phone"] = json!(M4_CONTACT);
    b["attachments"] = json!([]);
    let m4 = submit(app, citizen_b, b).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ts = tianshui_liaison(app).await;
    classify_and_accept(app, &ts, &m4, &[M4_TAG]).await;

    // Briefings of this week: the province's and Lanzhou's.
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    for token in [&supervisor, &lz] {
        let r = app
            .post("/api/v1/briefings", token, json!({"period_from": today}))
            .await;
        ok(r, "briefing").await;
    }

    let admin = app.token(Demo::Admin).await;
    let mut tracking = Vec::new();
    for id in [&m1, &m2, &m3, &m4] {
        let m = ok(
            app.get(&format!("/api/v1/messages/{id}"), &admin).await,
            "read",
        )
        .await;
        tracking.push(m["tracking_no"].as_str().unwrap().to_owned());
    }
    Story {
        messages: [m1, m2, m3, m4],
        tracking: tracking.try_into().unwrap(),
        lz,
        lz_reviewer,
        ts,
    }
}

async fn tianshui_liaison(app: &TestApp) -> String {
    staff(
        app,
        "ts.liaison.pm@example.cn",
        "handler",
        "天水市领导留言办理工作办公室",
    )
    .await
}

/// An integration client with `scopes` (and a region): (client id, token).
async fn client(app: &TestApp, scopes: &[&str], region: Option<&str>) -> (String, String) {
    let admin = app.token(Demo::Admin).await;
    let mut body = json!({"name": format!("平台 {}", uuid::Uuid::now_v7()), "scopes": scopes});
    if let Some(r) = region {
        body["region_code"] = json!(r);
    }
    let r = ok(
        app.post("/api/v1/integration-clients", &admin, body).await,
        "client",
    )
    .await;
    let t = app
        .send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"grant_type": "client_credentials",
                "client_id": r["client"]["client_id"], "client_secret": r["client_secret"]})),
        )
        .await;
    let t = ok(t, "client token").await;
    (
        r["client"]["id"].as_str().unwrap().to_owned(),
        t["access_token"].as_str().unwrap().to_owned(),
    )
}

fn data(app_author: &str, other_author: &str) -> Vec<Datum> {
    use DataClass::*;
    use PersonalField::*;
    vec![
        datum(
            "M1: a phone number in the text",
            M1_PHONE_IN_TEXT,
            &[M1],
            Text,
        ),
        datum("M1: an ID number in the text", M1_ID_IN_TEXT, &[M1], Text),
        datum("M1: a staff name in the reply", REPLY_NAME, &[M1], Text),
        datum("M1: contact phone", M1_CONTACT, &[M1], Personal(Contact)),
        datum("M1: address", M1_ADDRESS, &[M1], Personal(Address)),
        datum("M1: location", M1_LAT, &[M1], Personal(Location)),
        datum(
            "M1: private attachment",
            M1_PRIVATE_FILE,
            &[M1],
            Personal(PrivateAttachments),
        ),
        datum(
            "the first author's account id",
            app_author,
            &[M1, M2],
            Personal(Account),
        ),
        datum("M1: routing note", ROUTING_NOTE, &[M1], Internal),
        datum("M1: internal tag", M1_TAG, &[M1], Internal),
        datum("M1: supervision instruction", SUPERVISION, &[M1], Internal),
        datum("M1: leader's instruction", INSTRUCTION, &[M1], Internal),
        datum("M1: review comment", REVIEW, &[M1], Internal),
        datum("M1: visit plan", VISIT_NOTE, &[M1], Internal),
        datum("M2: private title", M2_TITLE, &[M2], Row),
        datum("M2: private body", M2_PHRASE, &[M2], Row),
        datum("M2: contact phone", M2_CONTACT, &[M2], Personal(Contact)),
        datum("M3: private title", M3_TITLE, &[M3], Row),
        datum(
            "M3: a phone number in the text",
            M3_PHONE_IN_TEXT,
            &[M3],
            Row,
        ),
        datum("M3: contact phone", M3_CONTACT, &[M3], Personal(Contact)),
        datum(
            "the second author's account id",
            other_author,
            &[M3, M4],
            Personal(Account),
        ),
        datum(
            "M4: a phone number in the text",
            M4_PHONE_IN_TEXT,
            &[M4],
            Text,
        ),
        datum("M4: contact phone", M4_CONTACT, &[M4], Personal(Contact)),
        datum("M4: internal tag", M4_TAG, &[M4], Internal),
    ]
}

/// The text of a response body: JSON and CSV as they are, XLSX and DOCX unzipped with their
/// XML markup removed (a datum may be split over runs, never over characters).
fn body_text(content_type: &str, bytes: &[u8]) -> String {
    if !content_type.contains("openxmlformats") {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("an OOXML body is a zip");
    let mut out = String::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        if !f.name().is_ok_and(|n| n.ends_with(".xml")) {
            continue;
        }
        let mut xml = String::new();
        f.read_to_string(&mut xml).unwrap();
        let mut in_tag = false;
        for c in xml.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.push('\n');
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
}

/// One finding: what was read, by whom, and the datum in it.
fn scan(
    what: &str,
    who: &Identity,
    text: &str,
    data: &[Datum],
    leaks: &mut BTreeSet<String>,
    seen: &mut BTreeSet<&'static str>,
) {
    for d in data {
        if !text.contains(&d.value) {
            continue;
        }
        if who.may_see(d) {
            seen.insert(d.label);
        } else {
            leaks.insert(format!(
                "{what} as {}: {} ({:?})",
                who.name, d.label, d.class
            ));
        }
    }
}

const ALL_TYPES: &[&str] = &[
    "message.created",
    "message.updated",
    "message.status_changed",
    "reply.published",
    "reply.imported",
    "reply.acknowledged",
    "feedback.received",
];

/// Words of the story a search may be asked for (public and private texts).
const SEARCHES: &[&str] = &["红绿灯", "漏水", "噪音", "路灯"];

/// The paths of one operation with its parameters filled from the seed: message ids and
/// tracking numbers of the story, else the ids an administrator lists at the collection (those
/// of the story's messages first).
pub async fn concrete_paths(
    app: &TestApp,
    admin: &str,
    template: &str,
    op: &Value,
    messages: &[String],
    tracking: &[String],
    deliveries_of: &[(String, String)],
) -> Vec<String> {
    let names: Vec<&str> = template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split('}').next())
        .collect();
    let put = |name: &str, value: &str| template.replace(&format!("{{{name}}}"), value);
    match names.as_slice() {
        [] => vec![template.to_owned()],
        ["id", "delivery_id"] => deliveries_of
            .iter()
            .map(|(sub, d)| put("id", sub).replace("{delivery_id}", d))
            .collect(),
        ["tracking_no"] | ["service_request_id"] => {
            tracking.iter().map(|t| put(names[0], t)).collect()
        }
        ["id"] if template.starts_with("/api/v1/messages/{id}") => {
            messages.iter().map(|m| put("id", m)).collect()
        }
        ["id"] if template.starts_with("/api/v1/public/leaders/") => {
            [leader("孙海洋"), leader("吴建平")]
                .iter()
                .map(|l| put("id", l))
                .collect()
        }
        ["code"] => ["620102", "620502"]
            .iter()
            .map(|c| put("code", c))
            .collect(),
        [name] => {
            let example = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == *name && p["in"] == "path")
                .and_then(|p| p["example"].as_str().map(str::to_owned));
            if let Some(e) = example {
                return vec![put(name, &e)];
            }
            let collection = &template[..template.find("/{").unwrap()];
            // Open311 names its collections `….json`.
            let collection = &if collection.starts_with("/open311/") {
                format!("{collection}.json")
            } else {
                collection.to_owned()
            };
            let r = app.get(&format!("{collection}?limit=100"), admin).await;
            let items = r.body["items"]
                .as_array()
                .or_else(|| r.body["services"].as_array())
                .or_else(|| r.body.as_array())
                .cloned()
                .unwrap_or_default();
            let key = if *name == "service_code" {
                "service_code"
            } else {
                "id"
            };
            let ours: Vec<&Value> = items
                .iter()
                .filter(|i| messages.iter().any(|m| i["message_id"] == m.as_str()))
                .collect();
            let picked: Vec<&Value> = if ours.is_empty() {
                items.iter().take(3).collect()
            } else {
                ours
            };
            let values: Vec<String> = picked
                .iter()
                .filter_map(|i| i[key].as_str().map(str::to_owned))
                .collect();
            assert!(
                !values.is_empty(),
                "cannot fill `{name}` of GET {template} from GET {collection}: {}",
                r.body
            );
            values.iter().map(|v| put(name, v)).collect()
        }
        _ => panic!("GET {template}: no way to fill its parameters {names:?}"),
    }
}

/// A query parameter's first value: its example, the first of its enum, a page size.
fn first_value(p: &Value) -> Option<String> {
    if let Some(e) = p["example"].as_str() {
        return Some(e.to_owned());
    }
    if let Some(e) = p["schema"]["enum"].as_array().and_then(|e| e.first()) {
        return e.as_str().map(str::to_owned);
    }
    None
}

/// The query strings to call an operation with: its required parameters (every value of a
/// required enum) and the largest page, then each download format, each boolean filter
/// switched on, searches for the story's words, and each story message as a `message_id`.
fn variants(op: &Value, story: &Story) -> Vec<String> {
    let params: Vec<&Value> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .collect();
    let mut bases = vec![String::new()];
    for p in params.iter().filter(|p| p["required"] == true) {
        let name = p["name"].as_str().unwrap();
        let values: Vec<String> = match p["schema"]["enum"].as_array() {
            Some(e) => e
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            None => first_value(p).into_iter().collect(),
        };
        assert!(
            !values.is_empty(),
            "no value for the required `{name}`: {op}"
        );
        bases = bases
            .iter()
            .flat_map(|b| values.iter().map(move |v| format!("{b}&{name}={v}")))
            .collect();
    }
    if let Some(limit) = params.iter().find(|p| p["name"] == "limit") {
        let max = limit["schema"]["maximum"].as_u64().unwrap_or(100).min(1000);
        bases = bases.iter().map(|b| format!("{b}&limit={max}")).collect();
    }
    let mut extra = Vec::new();
    for p in params.iter().filter(|p| p["required"] != true) {
        let name = p["name"].as_str().unwrap();
        let values: Vec<String> = match name {
            "format" => p["schema"]["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .filter(|v| *v != "json")
                .map(str::to_owned)
                .collect(),
            "q" => SEARCHES.iter().map(|s| (*s).to_owned()).collect(),
            "message_id" => story.messages.to_vec(),
            _ if p["schema"]["type"] == "boolean" => vec!["true".into()],
            _ => continue,
        };
        for v in values {
            extra.push(format!("&{name}={}", urlencoding(&v)));
        }
    }
    let mut out: Vec<String> = bases.clone();
    for b in &bases {
        out.extend(extra.iter().map(|e| format!("{b}{e}")));
    }
    out.into_iter()
        .map(|q| match q.strip_prefix('&') {
            Some(rest) => format!("?{rest}"),
            None => q,
        })
        .collect()
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET `path` as `who`; (status, content type, text of the body).
async fn fetch(app: &TestApp, who: &Identity, path: &str) -> (u16, String, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = &who.token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("the app answers");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = r.bytes().await.unwrap_or_default();
    let text = body_text(&ct, &bytes);
    (status, ct, text)
}

/// Every page of the change feed (and of the unacknowledged replies) a client can read now.
async fn feed_pages(app: &TestApp, who: &Identity) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/api/v1/sync/changes?limit=1000{after}");
        let (status, _, text) = fetch(app, who, &path).await;
        assert_eq!(status, 200, "{path} as {}: {text}", who.name);
        let page: Value = serde_json::from_str(&text).unwrap();
        out.push((path, text));
        if page["has_more"] != true {
            break;
        }
        after = format!("&after={}", page["next_cursor"].as_str().unwrap());
    }
    let path = "/api/v1/sync/replies/unacknowledged?limit=100".to_owned();
    let (status, _, text) = fetch(app, who, &path).await;
    assert_eq!(status, 200, "{path} as {}: {text}", who.name);
    out.push((path, text));
    out
}

/// Wait until every subscription has deliveries, all delivered and received, and none came
/// for a while; the bodies each receiver got.
async fn delivered(app: &TestApp, subs: &[(String, String, Receiver)]) -> Vec<Vec<String>> {
    let start = Instant::now();
    let mut last = Vec::new();
    let mut stable_since = Instant::now();
    loop {
        let mut counts = Vec::new();
        let mut done = true;
        for (token, sub, receiver) in subs {
            let all = deliveries(app, token, sub, "").await;
            done &= !all.is_empty()
                && all.iter().all(|d| d["status"] == "delivered")
                && receiver.hits().len() >= all.len();
            counts.push(all.len());
        }
        if counts != last {
            last = counts;
            stable_since = Instant::now();
        } else if done && stable_since.elapsed() > Duration::from_millis(500) {
            return subs
                .iter()
                .map(|(_, _, r)| {
                    r.hits()
                        .iter()
                        .map(|h| String::from_utf8_lossy(&h.body).into_owned())
                        .collect()
                })
                .collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "webhooks not delivered: {last:?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn register(app: &TestApp, email: &str) -> String {
    let r = app
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": "a citizen's password", "display_name": "市民甲"})),
        )
        .await;
    ok(r, "register").await;
    app.login(email, "a citizen's password").await
}

async fn me(app: &TestApp, token: &str) -> String {
    let r = app.get("/api/v1/me", token).await;
    r.body["id"].as_str().unwrap().to_owned()
}

/// Before (issue 17): logged-in strangers got personal data inside texts verbatim, claimable
/// lists carried private messages, the author read internal work in the ledger and every
/// integration client got instruction texts and private titles. Now every read obeys the
/// table.
#[actix_web::test]
async fn no_read_of_the_api_shows_anyone_what_the_access_model_withholds() {
    let app = TestApp::spawn_with(settings(50, 0.005, true)).await;
    let admin = app.token(Demo::Admin).await;

    // Integration clients and their webhook receivers first: their webhooks hear everything.
    let client_kinds: [ClientKind; 5] = [
        ("client, no data scopes", &[], None, [&["client"]; 4]),
        (
            "client, sync:personal",
            &["sync:personal"],
            None,
            [&["client_personal"]; 4],
        ),
        (
            "client, sync:internal",
            &["sync:internal"],
            None,
            [&["client_internal"]; 4],
        ),
        (
            "client, sync:personal and sync:internal",
            &["sync:personal", "sync:internal"],
            None,
            [&["client_personal", "client_internal"]; 4],
        ),
        (
            "client of Tianshui, sync:personal and sync:internal",
            &["sync:personal", "sync:internal"],
            Some("620500"),
            [
                &[],
                &[],
                &["client_personal", "client_internal"],
                &["client_personal", "client_internal"],
            ],
        ),
    ];
    let mut clients = Vec::new();
    let mut subs = Vec::new();
    let mut receivers_up = Vec::new();
    for (name, data_scopes, region, relations) in client_kinds {
        let mut scopes = vec!["sync:read", "webhooks:manage"];
        scopes.extend_from_slice(data_scopes);
        let (_, token) = client(&app, &scopes, region).await;
        let receiver = Receiver::reserve(UP, Duration::ZERO);
        receivers_up.push(receiver.listen());
        let (sub, _) = subscribe(&app, &token, &receiver.url(), ALL_TYPES).await;
        subs.push((token.clone(), sub, receiver));
        clients.push(Identity {
            name,
            token: Some(token),
            scopes: data_scopes.to_vec(),
            relations: rel(relations),
        });
    }

    // An early-warning rule the story trips (alerts are internal working content).
    let r = app
        .post(
            "/api/v1/alert-rules",
            &admin,
            json!({"kind": "keyword", "name": "红绿灯预警", "keywords": ["红绿灯", "漏水", "噪音"]}),
        )
        .await;
    ok(r, "alert rule").await;
    // Fresh citizens: the demo citizen's id is in the demo data's messages too.
    let citizen_a = register(&app, "citizen.a.pm@example.cn").await;
    let citizen_b = other_citizen(&app).await;
    let author_a = me(&app, &citizen_a).await;
    let author_b = me(&app, &citizen_b).await;
    let story = story(&app, &citizen_a, &citizen_b).await;
    let data = data(&author_a, &author_b);
    let qinzhou = staff(
        &app,
        "qz.handler.pm@example.cn",
        "handler",
        "天水市秦州区人民政府",
    )
    .await;
    let jiuquan = staff(
        &app,
        "jq.handler.pm@example.cn",
        "handler",
        "酒泉市肃州区人民政府",
    )
    .await;

    let person = |name, token: String, relations| Identity {
        name,
        token: Some(token),
        scopes: Vec::new(),
        relations: rel(relations),
    };
    const S: &[&str] = &["stranger"];
    const REGION: &[&str] = &["region_staff"];
    let mut identities = vec![
        Identity {
            name: "anonymous",
            token: None,
            scopes: Vec::new(),
            relations: rel([&["anonymous"], &[], &[], &["anonymous"]]),
        },
        person(
            "the author (citizen)",
            citizen_a.clone(),
            [&["author"], &["author"], S, S],
        ),
        person(
            "another citizen",
            citizen_b.clone(),
            [S, S, &["author"], &["author"]],
        ),
        person(
            "handler of the handling unit",
            app.token(Demo::Handler).await,
            [&["handling_unit"], S, S, S],
        ),
        person(
            "unit admin of the handling unit",
            app.token(Demo::UnitAdmin).await,
            [&["handling_unit"], S, S, S],
        ),
        person(
            "reviewer of the handling unit",
            app.token(Demo::Reviewer).await,
            [&["handling_unit"], S, S, S],
        ),
        person(
            "Lanzhou liaison office",
            story.lz.clone(),
            [&["intake_unit"], &["intake_unit"], S, S],
        ),
        person(
            "Lanzhou liaison reviewer",
            story.lz_reviewer.clone(),
            [&["intake_unit"], &["intake_unit"], S, S],
        ),
        person(
            "provincial liaison office",
            app.token(Demo::Liaison).await,
            [S, S, S, S],
        ),
        person(
            "Tianshui liaison office",
            story.ts.clone(),
            [S, S, &["intake_unit"], &["intake_unit"]],
        ),
        person(
            "Qinzhou district (may claim M4)",
            qinzhou,
            [S, S, S, &["claiming_unit"]],
        ),
        person("Jiuquan district (no part)", jiuquan, [S, S, S, S]),
        person(
            "supervisor of the province",
            app.token(Demo::Supervisor).await,
            [REGION; 4],
        ),
        person(
            "analyst of the province",
            app.token(Demo::Analyst).await,
            [REGION; 4],
        ),
        person(
            "leader of Lanzhou",
            app.token(Demo::Leader).await,
            [REGION, REGION, S, S],
        ),
        person("administrator", admin.clone(), [&["admin"]; 4]),
    ];
    identities.extend(clients);

    // Deliveries exist once the dispatcher ran: wait for them, then scan what was received.
    let received = delivered(&app, &subs).await;
    let deliveries_of: Vec<(String, String)> = {
        let mut out = Vec::new();
        for (token, sub, _) in &subs {
            if let Some(d) = deliveries(&app, token, sub, "").await.first() {
                out.push((sub.clone(), d["id"].as_str().unwrap().to_owned()));
            }
        }
        out
    };

    let mut leaks = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut formats: BTreeMap<&str, usize> = BTreeMap::new();
    let n_clients = subs.len();
    let first_client = identities.len() - n_clients;
    for (i, bodies) in received.iter().enumerate() {
        let who = &identities[first_client + i];
        for b in bodies {
            scan("webhook delivery", who, b, &data, &mut leaks, &mut seen);
        }
    }
    for who in &identities[first_client..] {
        for (path, text) in feed_pages(&app, who).await {
            scan(
                &format!("GET {path}"),
                who,
                &text,
                &data,
                &mut leaks,
                &mut seen,
            );
        }
    }

    // Every GET operation of the spec, as every identity.
    let spec: Value = serde_json::from_str(&liuyan::openapi::to_pretty_json(
        &liuyan::startup::openapi_spec(),
    ))
    .unwrap();
    let mut calls = 0usize;
    let mut operations = 0usize;
    for (template, item) in spec["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        operations += 1;
        let paths = concrete_paths(
            &app,
            &admin,
            template,
            op,
            &story.messages,
            &story.tracking,
            &deliveries_of,
        )
        .await;
        let queries = variants(op, &story);
        for who in &identities {
            for path in &paths {
                for q in &queries {
                    let url = format!("{path}{q}");
                    let (status, ct, text) = fetch(&app, who, &url).await;
                    calls += 1;
                    assert!(status < 500, "GET {url} as {}: {status} {text}", who.name);
                    if status == 200 {
                        for kind in ["csv", "spreadsheetml", "wordprocessingml", "json"] {
                            if ct.contains(kind) {
                                *formats.entry(kind).or_default() += 1;
                            }
                        }
                    }
                    scan(
                        &format!("GET {url}"),
                        who,
                        &text,
                        &data,
                        &mut leaks,
                        &mut seen,
                    );
                }
            }
        }
    }
    eprintln!(
        "privacy matrix: {operations} GET operations, {} identities, {calls} calls; formats read: {formats:?}",
        identities.len()
    );
    drop(receivers_up);

    assert!(
        leaks.is_empty(),
        "{} reads show what the access model withholds:\n{}",
        leaks.len(),
        leaks
            .iter()
            .take(80)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The scan can fail: every datum was found where it may be seen, in every format.
    let unseen: Vec<&str> = data
        .iter()
        .map(|d| d.label)
        .filter(|l| !seen.contains(l))
        .collect();
    assert!(unseen.is_empty(), "never seen, so never tested: {unseen:?}");
    for kind in ["csv", "spreadsheetml", "wordprocessingml", "json"] {
        assert!(
            formats.get(kind).is_some_and(|n| *n > 0),
            "no {kind} body was read"
        );
    }
}
