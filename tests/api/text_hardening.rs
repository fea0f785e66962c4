//! What attacking the running API broke in free text (issue 16): personal numbers written
//! differently passed the board's masking, spreadsheet formulas passed into CSV downloads, and
//! attachment URLs pointed at private hosts or carried credentials.

use reqwest::Method;
use serde_json::{Value, json};
use unicode_normalization::UnicodeNormalization;

use crate::handling::{TRANSPORT_BUREAU, assign};
use crate::helpers::{Demo, Resp, TestApp};
use crate::messages::{lanzhou_liaison, message_body, submit};
use crate::replies::sign_for;

const TRANSPORT: &str = "01930000-0000-7000-8000-000000000002";
const GOOD_REPLY: &str = "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。";

/// The forms the attack used, with the digits each one stands for.
const FORMS: &[(&str, &str)] = &[
    ("+8613700001111", "13700001111"),
    ("Tel13700001111", "13700001111"),
    ("１３７００００１１１１", "13700001111"),
    ("13７00001111", "13700001111"),
    ("139.1234.5678", "13912345678"),
    ("1391 234 5678", "13912345678"),
    ("(0931)8888888", "09318888888"),
    ("0931 8888888", "09318888888"),
    ("ID62010219900101123X", "62010219900101123X"),
    ("620102 19900101 123X", "62010219900101123X"),
];
const EMAIL_LOCAL: &str = "zhang.san";

/// `text` shows (part of) `digits`: any 7 of its digits in a row, read the way a person would
/// (NFKC, separators skipped).
fn shows(text: &str, digits: &str) -> Option<String> {
    let read: String = text
        .nfkc()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    digits
        .as_bytes()
        .windows(7)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .find(|w| read.contains(w.as_str()))
}

fn assert_masked(what: &str, raw: &str, texts: &[&str]) {
    for (form, digits) in FORMS {
        assert!(!raw.contains(form), "{what} shows `{form}`: {raw}");
        for t in texts {
            assert_eq!(shows(t, digits), None, "{what} shows {digits}: {t}");
        }
    }
    assert!(!raw.contains(EMAIL_LOCAL), "{what} shows the e-mail: {raw}");
}

async fn anonymous(app: &TestApp, path: &str) -> String {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// Classify and accept as the Lanzhou liaison office (versions 1 and 2).
async fn accept(app: &TestApp, liaison: &str, id: &str) {
    for (method, action, body, version) in [
        (
            Method::PUT,
            "classification",
            json!({"priority": "routine", "category_id": TRANSPORT}),
            "\"1\"",
        ),
        (Method::POST, "accept", json!({}), "\"2\""),
    ] {
        let r = app
            .send_with(
                method,
                &format!("/api/v1/messages/{id}/{action}"),
                Some(liaison),
                Some(body),
                &[("if-match", version)],
            )
            .await;
        assert_eq!(r.status, 200, "{action}: {}", r.body);
    }
}

fn codes(r: &Resp) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[actix_web::test]
async fn numbers_written_differently_are_masked_on_the_board_and_in_open311_and_refused_in_replies()
{
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let liaison = lanzhou_liaison(&app).await;
    let forms: Vec<&str> = FORMS.iter().map(|(f, _)| *f).collect();
    let mut b = message_body("请回电Tel13700001111");
    b["body"] = json!(format!(
        "庆阳路口的红绿灯坏了。我的联系方式：{}；邮件 {EMAIL_LOCAL}@example.cn。请尽快处理。",
        forms.join("；")
    ));
    let m = submit(&app, &citizen, b).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let tn = m["tracking_no"].as_str().unwrap().to_owned();
    accept(&app, &liaison, &id).await;

    // The public board: the message and the list.
    let raw = anonymous(&app, &format!("/api/v1/public/messages/{tn}")).await;
    let board: Value = serde_json::from_str(&raw).unwrap();
    let body = board["body"].as_str().unwrap();
    assert!(
        body.starts_with("庆阳路口的红绿灯坏了。我的联系方式：+86"),
        "{body}"
    );
    assert!(body.ends_with("@example.cn。请尽快处理。"), "{body}");
    assert_masked("the board", &raw, &[body, board["title"].as_str().unwrap()]);
    let raw = anonymous(&app, "/api/v1/public/messages?limit=100").await;
    let list: Value = serde_json::from_str(&raw).unwrap();
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tracking_no"] == tn.as_str())
        .expect("listed");
    assert_masked(
        "the board's list",
        &raw,
        &[
            item["title"].as_str().unwrap_or_default(),
            item["body"].as_str().unwrap_or_default(),
        ],
    );
    // Open311.
    let raw = anonymous(&app, &format!("/open311/v2/requests/{tn}.json")).await;
    let req: Value = serde_json::from_str(&raw).unwrap();
    assert_masked("Open311", &raw, &[req[0]["description"].as_str().unwrap()]);

    // A reply carrying the numbers written so is caught by the editorial check, one finding
    // each, and the problem does not repeat them.
    let r = assign(&app, &liaison, &id, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let handler = app.token(Demo::Handler).await;
    sign_for(&app, &handler, &id).await;
    let reply = format!(
        "{GOOD_REPLY}如需了解进展请拨打１３９ １２３４ ５６７８或(0931)8888888，或写信到 {EMAIL_LOCAL}@example.cn。"
    );
    let d = app
        .post(
            &format!("/api/v1/messages/{id}/replies"),
            &handler,
            json!({"kind": "final", "body": reply}),
        )
        .await;
    assert_eq!(d.status, 201, "{}", d.body);
    let rid = d.body["id"].as_str().unwrap();
    let s = app
        .post(
            &format!("/api/v1/replies/{rid}/submit"),
            &handler,
            json!({}),
        )
        .await;
    s.assert_problem(422, "validation-failed");
    assert_eq!(
        codes(&s),
        vec!["personal_data", "personal_data", "personal_data"],
        "{}",
        s.body
    );
    let problem = s.body.to_string();
    assert_eq!(shows(&problem, "13912345678"), None, "{problem}");
    assert_eq!(shows(&problem, "09318888888"), None, "{problem}");
    assert!(!problem.contains(EMAIL_LOCAL), "{problem}");
}

// ---------------------------------------------------------------------------------------------
// CSV formula injection

const TITLES: &[&str] = &[
    "=HYPERLINK(\"http://127.0.0.1/x\",\"y\")",
    "@SUM(1+1)",
    "+1+1路灯不亮",
    "-1+1路灯不亮",
    "＝1+1路灯不亮",
];
const CATEGORY: &str = "=HYPERLINK(\"http://127.0.0.1/c\",\"类别\")";

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let text = text.trim_start_matches('\u{feff}');
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// No field of a CSV download starts the way a formula does (a negative number excepted).
fn assert_no_formula(what: &str, rows: &[Vec<String>]) {
    for row in rows {
        for f in row {
            let first = f.chars().next();
            let trigger = first.is_some_and(|c| "=+-@\t\r＝＋－＠".contains(c));
            assert!(
                !trigger || f.parse::<f64>().is_ok(),
                "{what}: `{f}` would be a formula"
            );
        }
    }
}

#[actix_web::test]
async fn formulas_in_titles_and_names_are_neutralised_in_every_csv_download() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let citizen = app.token(Demo::Citizen).await;
    let c = app
        .post(
            "/api/v1/categories",
            &admin,
            json!({"code": "formula_test", "name": CATEGORY}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    let category = c.body["id"].as_str().unwrap().to_owned();
    for t in TITLES {
        let mut b = message_body(t);
        b["category_id"] = json!(category);
        submit(&app, &citizen, b).await;
    }

    // The ledger, English and Chinese headers.
    for path in ["/api/v1/ledger", "/api/v1/ledger?headers=zh"] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let rows = csv_rows(r.body.as_str().unwrap());
        assert_no_formula(path, &rows);
        for t in TITLES {
            assert!(
                rows.iter().any(|row| row[2] == format!("'{t}")),
                "{path}: `{t}` is there, neutralised"
            );
        }
        assert!(
            rows.iter().any(|row| row[4] == format!("'{CATEGORY}")),
            "{path}: the category's name"
        );
    }
    // Every other CSV download.
    let mut paths: Vec<String> = ["unit", "region", "leader", "category", "kind", "priority"]
        .iter()
        .map(|by| format!("/api/v1/statistics/breakdown?by={by}&format=csv"))
        .collect();
    paths.push("/api/v1/statistics/summary?format=csv".into());
    paths.push("/api/v1/statistics/timeseries?interval=month&format=csv".into());
    for path in &paths {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_no_formula(path, &csv_rows(r.body.as_str().unwrap()));
    }
    let r = app
        .get(
            "/api/v1/statistics/breakdown?by=category&format=csv",
            &admin,
        )
        .await;
    assert!(
        csv_rows(r.body.as_str().unwrap())
            .iter()
            .any(|row| row.contains(&format!("'{CATEGORY}"))),
        "{}",
        r.body
    );

    // XLSX: the titles are string cells, never formulas.
    let x = app
        .client
        .get(app.url("/api/v1/ledger?format=xlsx"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(x.status(), 200);
    let bytes = x.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut xml,
    )
    .unwrap();
    assert!(!xml.contains("<f>"), "no formula cells");
    assert!(xml.contains("@SUM(1+1)"), "the title is there as text");
}

// ---------------------------------------------------------------------------------------------
// Attachment URLs

/// URLs every entry point refuses: a private host, a metadata address, a local name, and
/// credentials.
const BAD_URLS: &[(&str, &str)] = &[
    ("https://127.0.0.1/a.jpg", "host"),
    ("https://10.1.2.3/a.jpg", "host"),
    ("https://169.254.169.254/a.jpg", "host"),
    ("https://localhost/a.jpg", "host"),
    ("https://user:pw@files.example.gov.cn/a.jpg", "credentials"),
];

fn attachments(url: &str) -> Value {
    json!([
        {"url": "https://files.example.gov.cn/ok.jpg", "media_type": "image/jpeg"},
        {"url": url, "media_type": "image/jpeg"}
    ])
}

fn assert_refused(what: &str, r: &Resp, code: &str) {
    r.assert_problem(422, "validation-failed");
    let errors = r.body["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == "attachments[1].url" && e["code"] == code),
        "{what}: {}",
        r.body
    );
}

#[actix_web::test]
async fn attachment_urls_to_non_public_hosts_or_with_credentials_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let citizen = app.token(Demo::Citizen).await;
    let liaison = lanzhou_liaison(&app).await;
    let handler = app.token(Demo::Handler).await;

    // A message rejected for insufficient information (to resubmit) and one in progress at the
    // transport bureau (to reply to, with a draft to revise).
    let rejected = submit(&app, &citizen, message_body("路灯不亮需补充")).await;
    let rejected = rejected["id"].as_str().unwrap().to_owned();
    let r = app
        .send_with(
            Method::POST,
            &format!("/api/v1/messages/{rejected}/reject"),
            Some(&liaison),
            Some(json!({"reason": "insufficient_information", "note": "请补充地点"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let open = submit(&app, &citizen, message_body("红绿灯损坏")).await;
    let open = open["id"].as_str().unwrap().to_owned();
    accept(&app, &liaison, &open).await;
    let r = assign(&app, &liaison, &open, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    sign_for(&app, &handler, &open).await;
    let d = app
        .post(
            &format!("/api/v1/messages/{open}/replies"),
            &handler,
            json!({"kind": "interim", "body": GOOD_REPLY}),
        )
        .await;
    assert_eq!(d.status, 201, "{}", d.body);
    let draft = d.body["id"].as_str().unwrap().to_owned();

    for (url, code) in BAD_URLS {
        let mut b = message_body("附件地址");
        b["attachments"] = attachments(url);
        let r = app.post("/api/v1/messages", &citizen, b).await;
        assert_refused(&format!("new message, {url}"), &r, code);

        let r = app
            .send_with(
                Method::POST,
                &format!("/api/v1/messages/{rejected}/resubmit"),
                Some(&citizen),
                Some(json!({"attachments": attachments(url)})),
                &[("if-match", "\"2\"")],
            )
            .await;
        assert_refused(&format!("resubmission, {url}"), &r, code);

        let r = app
            .post(
                &format!("/api/v1/messages/{open}/replies"),
                &handler,
                json!({"kind": "interim", "body": GOOD_REPLY, "attachments": attachments(url)}),
            )
            .await;
        assert_refused(&format!("new reply, {url}"), &r, code);

        let r = app
            .send_with(
                Method::PUT,
                &format!("/api/v1/replies/{draft}"),
                Some(&handler),
                Some(json!({"body": GOOD_REPLY, "attachments": attachments(url)})),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_refused(&format!("revised reply, {url}"), &r, code);
    }

    // The same public URL is fine at every one of them.
    let ok = "https://files.example.gov.cn/2026/12/photo.jpg";
    let mut b = message_body("附件地址");
    b["attachments"] = attachments(ok);
    assert_eq!(app.post("/api/v1/messages", &citizen, b).await.status, 201);
    let r = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/replies/{draft}"),
            Some(&handler),
            Some(json!({"body": GOOD_REPLY, "attachments": attachments(ok)})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .send_with(
            Method::POST,
            &format!("/api/v1/messages/{rejected}/resubmit"),
            Some(&citizen),
            Some(json!({"attachments": attachments(ok)})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The sync import takes no attachments at all (unknown field): nothing to check there.
}
