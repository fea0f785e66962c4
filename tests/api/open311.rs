//! The Open311 GeoReport v2 facade: conformance with the spec's example shapes (field names,
//! types, arrays, error arrays), filing with an api_key and following a request through its
//! life (open → closed, updates per published reply), never any contact data, and bad input.

use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::handling::{TRANSPORT_BUREAU, assign};
use crate::helpers::{Demo, TestApp};
use crate::messages::{lanzhou_liaison, leader};
use crate::replies::{publish, sign_for};

const BASE: &str = "/open311/v2";
const LANZHOU_LIAISON: &str = "兰州市领导留言办理工作办公室";
const DESCRIPTION: &str =
    "庆阳路路灯不亮\n城关区庆阳路与酒泉路交叉口的路灯已经坏了一周，晚上非常危险，请尽快修理。";
const INTERIM: &str = "已转交路灯管理所现场核查，预计三个工作日内修复。";
const FINAL: &str =
    "经现场核查，该路段路灯因电缆老化损坏，已于11月26日更换电缆并恢复照明。感谢您的监督。";
/// Contact data sent in the form: none of it may appear in any response.
const FIRST: &str = "小明";
const LAST: &str = "欧阳";
const PHONE: &str = "13987654321";
const EMAIL: &str = "xiaoming.ouyang@example.cn";

struct Raw {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The spec's error array: `[{"code": status, "description": "…"}]`, JSON.
    fn assert_errors(&self, status: u16) -> Vec<String> {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("application/json")),
            "{:?}",
            self.headers
        );
        let body = self.json();
        let errors = body.as_array().expect("an error array");
        assert!(!errors.is_empty());
        errors
            .iter()
            .map(|e| {
                let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
                assert_eq!(keys, ["code", "description"], "{e}");
                assert_eq!(e["code"], status, "{e}");
                e["description"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    fn no_contact_data(&self) {
        for secret in [FIRST, LAST, PHONE, EMAIL, "欧阳小明"] {
            assert!(
                !self.text.contains(secret),
                "`{secret}` leaked: {}",
                self.text
            );
        }
    }
}

async fn raw(req: reqwest::RequestBuilder) -> Raw {
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

async fn get(app: &TestApp, path: &str) -> Raw {
    let r = raw(app.client.get(app.url(&format!("{BASE}{path}")))).await;
    r.no_contact_data();
    r
}

async fn post_form(app: &TestApp, form: &[(&str, &str)], bearer: Option<&str>) -> Raw {
    let mut req = app
        .client
        .post(app.url(&format!("{BASE}/requests.json")))
        .form(form);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = raw(req).await;
    r.no_contact_data();
    r
}

/// An integration client with these scopes; returns its access token and account id.
async fn client_token(app: &TestApp, name: &str, scopes: &[&str]) -> (String, String) {
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post(
            "/api/v1/integration-clients",
            &admin,
            json!({"name": name, "scopes": scopes}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t = app
        .send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"grant_type": "client_credentials",
                "client_id": r.body["client"]["client_id"], "client_secret": r.body["client_secret"]})),
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    (
        t.body["access_token"].as_str().unwrap().to_owned(),
        r.body["client"]["id"].as_str().unwrap().to_owned(),
    )
}

fn mayor() -> String {
    leader("孙海洋")
}

/// A complete, valid form (without the api_key).
fn form(jurisdiction: &str) -> Vec<(&'static str, String)> {
    vec![
        ("jurisdiction_id", jurisdiction.to_owned()),
        ("service_code", "transport".into()),
        ("lat", "36.0611".into()),
        ("long", "103.8343".into()),
        ("address_string", "城关区庆阳路与酒泉路交叉口".into()),
        ("description", DESCRIPTION.into()),
        ("first_name", FIRST.into()),
        ("last_name", LAST.into()),
        ("phone", PHONE.into()),
        ("email", EMAIL.into()),
        (
            "media_url",
            "https://files.example.gov.cn/2026/11/lamp.jpg".into(),
        ),
        ("attribute[kind]", "complaint".into()),
    ]
}

fn with_key<'a>(form: &'a [(&'static str, String)], key: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    f.push(("api_key", key));
    f
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    value: String,
}

fn sql(app: &TestApp, q: &str) -> Vec<String> {
    diesel::sql_query(q)
        .load::<Row>(&mut app.db.connect())
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .into_iter()
        .map(|r| r.value)
        .collect()
}

/// Keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// The request as `requests/{id}.json` shows it (checks the spec's shape on the way).
async fn request(app: &TestApp, tn: &str) -> Value {
    let r = get(app, &format!("/requests/{tn}.json")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.json();
    let list = list.as_array().expect("an array of one");
    assert_eq!(list.len(), 1);
    let req = list[0].clone();
    assert_eq!(
        keys(&req),
        [
            "address",
            "address_id",
            "agency_responsible",
            "description",
            "expected_datetime",
            "lat",
            "long",
            "media_url",
            "requested_datetime",
            "service_code",
            "service_name",
            "service_notice",
            "service_request_id",
            "status",
            "status_notes",
            "updated_datetime",
            "zipcode"
        ]
    );
    assert_eq!(req["service_request_id"], tn);
    assert!(req["lat"].is_f64() && req["long"].is_f64(), "{req}");
    for field in ["requested_datetime", "updated_datetime"] {
        let t = req[field].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "{field}: {t}"
        );
    }
    req
}

#[actix_web::test]
async fn discovery_services_and_definitions_have_the_spec_shapes() {
    let app = TestApp::spawn().await;

    let d = get(&app, "/discovery.json").await;
    assert_eq!(d.status, 200, "{}", d.text);
    let d = d.json();
    assert_eq!(
        keys(&d),
        [
            "changeset",
            "contact",
            "endpoints",
            "jurisdiction_id",
            "key_service"
        ]
    );
    let e = &d["endpoints"][0];
    assert_eq!(e["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(e["formats"], json!(["application/json"]));
    assert_eq!(e["type"], "production");
    assert!(e["url"].as_str().unwrap().ends_with("/open311/v2"));

    let s = get(&app, "/services.json").await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert!(s.headers.get("etag").is_some());
    let services = s.json();
    let services = services.as_array().expect("an array");
    let active: Vec<String> = sql(
        &app,
        "SELECT code AS value FROM categories WHERE active ORDER BY sort_order, id",
    );
    let codes: Vec<&str> = services
        .iter()
        .map(|s| s["service_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, active);
    let transport = services
        .iter()
        .find(|s| s["service_code"] == "transport")
        .unwrap();
    assert_eq!(
        keys(transport),
        [
            "description",
            "group",
            "keywords",
            "metadata",
            "service_code",
            "service_name",
            "type"
        ]
    );
    assert_eq!(transport["service_name"], "交通运输");
    assert_eq!(transport["metadata"], true);
    assert_eq!(transport["type"], "realtime");
    assert!(transport["keywords"].is_string() && transport["group"].is_string());

    let def = get(&app, "/services/transport.json").await;
    assert_eq!(def.status, 200, "{}", def.text);
    let def = def.json();
    assert_eq!(def["service_code"], "transport");
    let attr = &def["attributes"][0];
    assert_eq!(
        keys(attr),
        [
            "code",
            "datatype",
            "datatype_description",
            "description",
            "order",
            "required",
            "values",
            "variable"
        ]
    );
    assert_eq!(attr["code"], "kind");
    assert_eq!(attr["datatype"], "singlevaluelist");
    assert_eq!(attr["required"], false);
    assert_eq!(attr["variable"], true);
    assert!(attr["order"].is_i64());
    let values: Vec<&str> = attr["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(keys(v), ["key", "name"]);
            v["key"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        values,
        ["consultation", "suggestion", "complaint", "help_request"]
    );

    // Errors are Open311 arrays, everywhere under the prefix.
    get(&app, "/services/no_such_service.json")
        .await
        .assert_errors(404);
    let xml = get(&app, "/services.xml").await;
    let why = xml.assert_errors(404);
    assert!(why[0].contains("JSON only"), "{why:?}");
    get(&app, "/requests/GS-2026-000001.xml")
        .await
        .assert_errors(404);
    get(&app, "/nothing-here").await.assert_errors(404);
    let wrong = raw(app.client.delete(app.url(&format!("{BASE}/requests.json")))).await;
    wrong.assert_errors(405);
    assert_eq!(
        wrong.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    // Deactivated categories are no services.
    diesel::sql_query("UPDATE categories SET active = false WHERE code = 'education'")
        .execute(&mut app.db.connect())
        .unwrap();
    get(&app, "/services/education.json")
        .await
        .assert_errors(404);
}

#[actix_web::test]
async fn a_request_is_filed_and_followed_from_open_to_closed_without_contact_data() {
    let app = TestApp::spawn().await;
    let (key, client_account) = client_token(&app, "城市服务热线平台", &["sync:write"]).await;
    let f = form(&mayor());

    let r = post_form(&app, &with_key(&f, &key), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    let created = created.as_array().expect("an array of one");
    assert_eq!(created.len(), 1);
    assert_eq!(
        keys(&created[0]),
        ["account_id", "service_notice", "service_request_id"]
    );
    let tn = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tn.starts_with("GS-"), "{tn}");

    // Stored as a public web message registered by the client, contact data for staff only.
    let stored = sql(
        &app,
        &format!(
            "SELECT concat_ws('|', id, registered_by, coalesce(author_id::text, '-'), source, \
             visibility, kind, title, contact_name, contact_phone, status, address, \
             location_lat, location_lon, attachments::text) AS value \
             FROM messages WHERE tracking_no = '{tn}'"
        ),
    );
    let parts: Vec<&str> = stored[0].split('|').collect();
    let id = parts[0].to_owned();
    assert_eq!(
        &parts[1..13],
        [
            client_account.as_str(),
            "-",
            "web",
            "public",
            "complaint",
            "庆阳路路灯不亮",
            "欧阳小明",
            PHONE,
            "submitted",
            "城关区庆阳路与酒泉路交叉口",
            "36.0611",
            "103.8343"
        ]
    );
    assert!(parts[13].contains("lamp.jpg") && parts[13].contains("image/jpeg"));
    assert!(!stored[0].contains(EMAIL), "the e-mail is not kept");
    // The ledger records the client's account as the actor.
    let actor = sql(
        &app,
        &format!(
            "SELECT concat_ws('|', actor_id, actor_role, action) AS value FROM message_events \
             WHERE message_id = '{id}' ORDER BY seq LIMIT 1"
        ),
    );
    assert_eq!(actor, [format!("{client_account}|integration|submit")]);

    // Not on the public board before acceptance: not found, not listed.
    get(&app, &format!("/requests/{tn}.json"))
        .await
        .assert_errors(404);
    let list = get(&app, &format!("/requests.json?service_request_id={tn}")).await;
    assert_eq!(list.json(), json!([]));

    // Accepted: open.
    let liaison = lanzhou_liaison(&app).await;
    let c = app
        .send_with(
            Method::PUT,
            &format!("/api/v1/messages/{id}/classification"),
            Some(&liaison),
            Some(json!({"priority": "routine", "category_id": "01930000-0000-7000-8000-000000000002"})),
            &[("if-match", &version(&app, &liaison, &id).await)],
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    let a = app
        .send_with(
            Method::POST,
            &format!("/api/v1/messages/{id}/accept"),
            Some(&liaison),
            Some(json!({})),
            &[("if-match", &version(&app, &liaison, &id).await)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let req = request(&app, &tn).await;
    assert_eq!(req["status"], "open");
    assert!(req["status_notes"].as_str().unwrap().contains("accepted"));
    assert_eq!(req["service_code"], "transport");
    assert_eq!(req["service_name"], "交通运输");
    assert_eq!(req["agency_responsible"], LANZHOU_LIAISON);
    // The board's text: the address is masked there as everywhere on the board, but a
    // request filed through Open311 shows where it is.
    assert_eq!(
        req["description"].as_str().unwrap(),
        DESCRIPTION.replace("城关区庆阳路与酒泉路交叉口", "***")
    );
    assert_eq!(req["address"], "城关区庆阳路与酒泉路交叉口");
    assert_eq!(req["lat"], 36.0611);
    assert_eq!(req["long"], 103.8343);
    assert_eq!(
        req["media_url"],
        "https://files.example.gov.cn/2026/11/lamp.jpg"
    );
    assert_eq!(req["expected_datetime"], Value::Null);

    // Assigned and signed for: open, the lead unit responsible, the reply deadline expected.
    let r = assign(&app, &liaison, &id, TRANSPORT_BUREAU, &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let req = request(&app, &tn).await;
    assert_eq!(req["status"], "open");
    assert_eq!(req["agency_responsible"], TRANSPORT_BUREAU);
    sign_for(&app, &app.token(Demo::Handler).await, &id).await;
    let req = request(&app, &tn).await;
    assert_eq!(req["status"], "open");
    assert!(
        req["status_notes"]
            .as_str()
            .unwrap()
            .contains("in progress")
            || req["status_notes"].as_str().unwrap().contains("working")
    );
    let due = sql(
        &app,
        &format!(
            "SELECT to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') AS value \
             FROM deadlines WHERE message_id = '{id}' AND kind = 'reply'"
        ),
    );
    assert_eq!(due.len(), 1);
    let expected = req["expected_datetime"].as_str().expect("a reply deadline");
    assert!(expected.starts_with(&due[0]), "{expected} vs {}", due[0]);

    // An interim reply: still open, one `open` update.
    publish(&app, &id, "interim", INTERIM).await;
    assert_eq!(request(&app, &tn).await["status"], "open");
    // The final reply: closed, with the reply as status_notes.
    publish(&app, &id, "final", FINAL).await;
    let req = request(&app, &tn).await;
    assert_eq!(req["status"], "closed");
    assert_eq!(req["status_notes"], FINAL);
    assert_eq!(req["expected_datetime"].as_str(), Some(expected));

    // Updates: one per published reply, oldest first, in mySociety's shape.
    let u = get(&app, "/servicerequestupdates.json").await;
    assert_eq!(u.status, 200, "{}", u.text);
    let updates = u.json();
    let updates = updates.as_array().expect("an array");
    let ours: Vec<&Value> = updates
        .iter()
        .filter(|u| u["service_request_id"] == tn)
        .collect();
    assert_eq!(ours.len(), 2, "{updates:?}");
    for u in &ours {
        assert_eq!(
            keys(u),
            [
                "description",
                "media_url",
                "service_request_id",
                "status",
                "update_id",
                "updated_datetime"
            ]
        );
    }
    assert_eq!(
        (ours[0]["status"].as_str(), ours[0]["description"].as_str()),
        (Some("open"), Some(INTERIM))
    );
    assert_eq!(
        (ours[1]["status"].as_str(), ours[1]["description"].as_str()),
        (Some("closed"), Some(FINAL))
    );
    let published = sql(
        &app,
        &format!(
            "SELECT id::text AS value FROM replies WHERE message_id = '{id}' \
             AND status = 'published' ORDER BY published_at, id"
        ),
    );
    assert_eq!(
        [
            ours[0]["update_id"].as_str().unwrap(),
            ours[1]["update_id"].as_str().unwrap()
        ],
        [published[0].as_str(), published[1].as_str()]
    );
    // Filtered by date: nothing in a window before the replies.
    let u = get(
        &app,
        "/servicerequestupdates.json?start_date=2001-01-01T00:00:00Z&end_date=2001-02-01T00:00:00%2B08:00",
    )
    .await;
    assert_eq!(u.json(), json!([]));
    let u = get(&app, "/servicerequestupdates.json?limit=1").await;
    assert_eq!(u.json().as_array().unwrap().len(), 1);

    // The lists: by id, by status, by service, by jurisdiction.
    let by_id = get(
        &app,
        &format!("/requests.json?service_request_id={tn},GS-1999-000001"),
    )
    .await;
    assert_eq!(by_id.json().as_array().unwrap().len(), 1);
    let listed = |body: &Value| {
        body.as_array()
            .unwrap()
            .iter()
            .any(|r| r["service_request_id"] == tn)
    };
    assert!(listed(
        &get(&app, "/requests.json?status=closed").await.json()
    ));
    assert!(!listed(
        &get(&app, "/requests.json?status=open").await.json()
    ));
    assert!(listed(
        &get(&app, "/requests.json?service_code=transport")
            .await
            .json()
    ));
    assert!(!listed(
        &get(&app, "/requests.json?service_code=education")
            .await
            .json()
    ));
    assert!(listed(
        &get(&app, &format!("/requests.json?jurisdiction_id={}", mayor()))
            .await
            .json()
    ));
    assert!(!listed(
        &get(
            &app,
            &format!("/requests.json?jurisdiction_id={}", leader("林振华"))
        )
        .await
        .json()
    ));
    assert!(!listed(
        &get(
            &app,
            "/requests.json?start_date=2001-01-01T00:00:00Z&end_date=2001-03-01T00:00:00Z"
        )
        .await
        .json()
    ));
    // Every listed request is a message of the public board, newest first, at most `limit`.
    let all = get(&app, "/requests.json?limit=200").await.json();
    let all: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
        .collect();
    let board = sql(
        &app,
        "SELECT tracking_no AS value FROM messages WHERE visibility = 'public' AND status IN \
         ('accepted', 'assigned', 'in_progress', 'awaiting_clarification', 'replied', 'closed') \
         AND submitted_at >= now() - interval '90 days' ORDER BY submitted_at DESC, id DESC LIMIT 200",
    );
    assert_eq!(all, board);
    // Messages citizens wrote keep their address and location private, as on the board.
    let citizens = get(&app, "/requests.json?limit=200").await.json();
    let mut checked = 0;
    for r in citizens.as_array().unwrap() {
        if r["service_request_id"] != tn {
            checked += 1;
            assert_eq!(
                (&r["address"], &r["lat"], &r["long"]),
                (&Value::Null, &Value::Null, &Value::Null),
                "{r}"
            );
        }
    }
    assert!(checked > 0, "no citizen's message was listed to check");
    assert_eq!(
        get(&app, "/requests.json?limit=2")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2.min(board.len())
    );

    // A bearer token works as the api_key too.
    let r = post_form(
        &app,
        &f.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
        Some(&key),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn version(app: &TestApp, token: &str, id: &str) -> String {
    let r = app.get(&format!("/api/v1/messages/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.header("etag").unwrap().to_owned()
}

#[actix_web::test]
async fn bad_input_and_bad_keys_are_open311_error_arrays_and_store_nothing() {
    let app = TestApp::spawn().await;
    let (key, _) = client_token(&app, "城市服务热线平台", &["sync:write"]).await;
    let (read_only, _) = client_token(&app, "只读平台", &["sync:read"]).await;
    let citizen = app.token(Demo::Citizen).await;
    let good = form(&mayor());
    let count = |app: &TestApp| sql(app, "SELECT count(*)::text AS value FROM messages")[0].clone();
    let before = count(&app);

    // Keys: missing, invalid, a person's token, a client without sync:write.
    let plain: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let why = post_form(&app, &plain, None).await.assert_errors(403);
    assert!(why[0].contains("api_key"), "{why:?}");
    let why = post_form(&app, &with_key(&good, "not-a-token"), None)
        .await
        .assert_errors(403);
    assert_eq!(
        why,
        ["Invalid api_key received -- can't proceed with create_request."]
    );
    post_form(&app, &with_key(&good, &citizen), None)
        .await
        .assert_errors(403);
    let why = post_form(&app, &with_key(&good, &read_only), None)
        .await
        .assert_errors(403);
    assert!(why[0].contains("sync:write"), "{why:?}");
    // Also as a bearer token.
    post_form(&app, &plain, Some("garbage"))
        .await
        .assert_errors(403);

    // One error per failing field, 400.
    let case = |drop: &[&str], set: &[(&'static str, String)]| {
        let mut f: Vec<(&'static str, String)> = good
            .iter()
            .filter(|(k, _)| !drop.contains(k))
            .cloned()
            .collect();
        for (k, v) in set {
            f.retain(|(x, _)| x != k);
            f.push((k, v.clone()));
        }
        f
    };
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (case(&["service_code"], &[]), "service_code is required"),
        (
            case(&[], &[("service_code", "no_such_service".into())]),
            "not a service here",
        ),
        (
            case(&[], &[("lat", "north".into())]),
            "lat `north` is not a number",
        ),
        (
            case(&[], &[("lat", "91".into())]),
            "lat must be between -90 and 90",
        ),
        (
            case(&[], &[("long", "-180.5".into())]),
            "long must be between",
        ),
        (case(&["long"], &[]), "lat and long must be sent together"),
        (
            case(&["lat", "long", "address_string"], &[]),
            "a location is required",
        ),
        (
            case(&[], &[("description", "长".repeat(4001))]),
            "at most 4000 characters",
        ),
        (case(&["description"], &[]), "description is required"),
        (
            case(&[], &[("description", "太短了".into())]),
            "at least 10",
        ),
        (
            case(&["jurisdiction_id"], &[]),
            "jurisdiction_id is required",
        ),
        (
            case(&[], &[("jurisdiction_id", "mayor".into())]),
            "not a jurisdiction here",
        ),
        (
            case(
                &[],
                &[(
                    "jurisdiction_id",
                    "00000000-0000-7000-8000-000000000000".into(),
                )],
            ),
            "not a jurisdiction here",
        ),
        (case(&[], &[("phone", "call me".into())]), "phone must be"),
        (
            case(
                &[],
                &[("media_url", "http://files.example.gov.cn/a.jpg".into())],
            ),
            "media_url must be",
        ),
        (
            case(&[], &[("media_url", "https://127.0.0.1/a.jpg".into())]),
            "media_url must point at a public host, not 127.0.0.1, a loopback address",
        ),
        (
            case(
                &[],
                &[("media_url", "https://169.254.169.254/a.jpg".into())],
            ),
            "media_url must point at a public host",
        ),
        (
            case(&[], &[("media_url", "https://localhost/a.jpg".into())]),
            "media_url must point at a public host",
        ),
        (
            case(
                &[],
                &[(
                    "media_url",
                    "https://user:pw@files.example.gov.cn/a.jpg".into(),
                )],
            ),
            "media_url must not carry credentials",
        ),
        (
            case(&[], &[("attribute[kind]", "praise".into())]),
            "attribute[kind]",
        ),
        (
            case(&[], &[("address_string", "路".repeat(201))]),
            "address_string may have at most 200",
        ),
    ];
    for (f, expected) in cases {
        let r = post_form(&app, &with_key(&f, &key), None).await;
        let why = r.assert_errors(400);
        assert!(
            why.iter().any(|w| w.contains(expected)),
            "{expected}: {why:?}"
        );
    }
    // Several failures at once: one entry each.
    let f = case(&["service_code", "description"], &[("lat", "x".into())]);
    let why = post_form(&app, &with_key(&f, &key), None)
        .await
        .assert_errors(400);
    assert_eq!(why.len(), 3, "{why:?}");

    // Not a form.
    let r = raw(app
        .client
        .post(app.url(&format!("{BASE}/requests.json")))
        .bearer_auth(&key)
        .json(&json!({"service_code": "transport"})))
    .await;
    r.assert_errors(415);
    assert_eq!(count(&app), before, "nothing was stored");

    // GET parameters.
    for q in [
        "status=fixed",
        "limit=0",
        "limit=201",
        "limit=many",
        "start_date=yesterday",
        "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
        "start_date=2026-06-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
        "jurisdiction_id=mayor",
    ] {
        get(&app, &format!("/requests.json?{q}"))
            .await
            .assert_errors(400);
    }
    get(&app, "/servicerequestupdates.json?end_date=soon")
        .await
        .assert_errors(400);
    get(&app, "/requests/GS-2026-999999.json")
        .await
        .assert_errors(404);
    // Messages the board does not show (private, not accepted) are not found.
    // The demo data have both (a private answered message; public ones not yet accepted).
    for condition in [
        "visibility = 'private'",
        "visibility = 'public' AND status = 'submitted'",
    ] {
        let found = sql(
            &app,
            &format!("SELECT tracking_no AS value FROM messages WHERE {condition} LIMIT 1"),
        );
        let tn = found
            .first()
            .unwrap_or_else(|| panic!("the demo data have a message with {condition}"));
        get(&app, &format!("/requests/{tn}.json"))
            .await
            .assert_errors(404);
    }
}

#[actix_web::test]
async fn rate_limits_answer_in_open311_format_too() {
    let mut settings = crate::helpers::test_settings();
    settings.rate_per_second = 1;
    settings.rate_burst = 1;
    let app = TestApp::spawn_with(settings).await;
    let mut limited = None;
    for _ in 0..5 {
        let r = get(&app, "/services.json").await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the limit is reached");
    r.assert_errors(429);
    assert!(r.headers.get("retry-after").is_some());
}

#[actix_web::test]
async fn forms_over_the_body_limit_are_413_error_arrays() {
    let mut settings = crate::helpers::test_settings();
    settings.body_limit_bytes = 2048;
    let app = TestApp::spawn_with(settings).await;
    let (key, _) = client_token(&app, "城市服务热线平台", &["sync:write"]).await;
    let mut f = form(&mayor());
    f.retain(|(k, _)| *k != "description");
    f.push(("description", "长".repeat(3000)));
    post_form(&app, &with_key(&f, &key), None)
        .await
        .assert_errors(413);
}

#[actix_web::test]
async fn a_revoked_token_is_no_api_key() {
    // The api_key is an access token: a deactivated client's is refused like any invalid key.
    let app = TestApp::spawn().await;
    let (key, id) = client_token(&app, "城市服务热线平台", &["sync:write"]).await;
    crate::webhooks::switch_client(&app, &id, false).await;
    let why = post_form(&app, &with_key(&form(&mayor()), &key), None)
        .await
        .assert_errors(403);
    assert_eq!(
        why,
        ["Invalid api_key received -- can't proceed with create_request."]
    );
}

/// Issue 26, item 3: `POST requests.json` honours `Idempotency-Key` like the API's POSTs: the
/// same form again (even with a renewed api_key) replays the first answer and files nothing.
#[actix_web::test]
async fn filing_twice_with_one_idempotency_key_files_once() {
    let app = TestApp::spawn().await;
    let (key, client_account) = client_token(&app, "城市服务热线平台", &["sync:write"]).await;
    let f = form(&mayor());
    let send = |form: Vec<(&'static str, String)>, api_key: String, idem: &'static str| {
        let req = app
            .client
            .post(app.url(&format!("{BASE}/requests.json")))
            .header("idempotency-key", idem)
            .form(
                &form
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .chain([("api_key", api_key)])
                    .collect::<Vec<_>>(),
            );
        raw(req)
    };
    let first = send(f.clone(), key.clone(), "file-once").await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(first.headers.get("idempotent-replayed").is_none());
    // A retry whose api_key is written differently (as a renewed token would be): the same
    // filing, since the api_key is not part of the request's identity.
    let renewed = format!(" {key} ");
    let second = send(f.clone(), renewed, "file-once").await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(
        second
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(second.json(), first.json(), "the same tracking number");
    let filed = sql(
        &app,
        &format!(
            "SELECT count(*)::text AS value FROM messages WHERE registered_by = '{client_account}'"
        ),
    );
    assert_eq!(filed, ["1"]);
    // Another form with the key: refused as Open311 writes errors; nothing filed.
    let mut other = f.clone();
    other.retain(|(k, _)| *k != "description");
    other.push((
        "description",
        "另一件事：庆阳路的井盖丢失了，请尽快处理。".into(),
    ));
    send(other, key.clone(), "file-once")
        .await
        .assert_errors(400);
    // Another key: another filing (the client asked for it).
    assert_eq!(send(f, key, "file-twice").await.status, 201);
    let filed = sql(
        &app,
        &format!(
            "SELECT count(*)::text AS value FROM messages WHERE registered_by = '{client_account}'"
        ),
    );
    assert_eq!(filed, ["2"]);
}

/// A filing that loses the database while its leader is looked up answers 503 with
/// `Retry-After`, not 400 "no such leader" (issue 18), and files nothing.
#[actix_web::test]
async fn a_filing_that_loses_the_database_answers_503_not_400() {
    let app = TestApp::spawn().await;
    let (key, _) = client_token(&app, "城市服务热线平台", &["sync:write"]).await;
    let f: Vec<(&str, String)> = form(&mayor())
        .into_iter()
        .chain([("api_key", key.clone())])
        .collect();
    let r = crate::outage::lost_while_reading(&app, "leaders", async {
        raw(app
            .client
            .post(app.url(&format!("{BASE}/requests.json")))
            .form(&f))
        .await
    })
    .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.headers.get("retry-after").is_some(), "{:?}", r.headers);
    let again = raw(app
        .client
        .post(app.url(&format!("{BASE}/requests.json")))
        .form(&f))
    .await;
    assert_eq!(again.status, 201, "{}", again.text);
}
