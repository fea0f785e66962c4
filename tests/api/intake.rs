//! One intake path (`app::intake`, issue 18): a message written on the web, filed through
//! Open311 or imported from the liaison platform is stored, recorded and checked by early
//! warning the same way, and so is the platform's update of a message still waiting for intake.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{Demo, TestApp};
use crate::messages::message_body;
use crate::sync::{client_token, import, item, outcomes};

/// Text that the demo rule 集体上访预警 (keywords 集体上访, 联名上访, 群体性事件) fires on.
const KEYWORD_BODY: &str = "工地包工头跑路，工人们商量要去市政府集体上访，请领导重视。";

async fn ledger(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/messages/{id}/events?limit=100"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// The keyword alerts raised for a message.
async fn keyword_alerts_of(app: &TestApp, token: &str, id: &str) -> usize {
    let r = app.get("/api/v1/alerts?kind=keyword", token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["details"]["message_id"] == json!(id))
        .count()
}

/// Whatever the way in, the message is `submitted` with one `submit` event recording the same
/// fields (and the platform's key for imports), early warning has marked it important and
/// raised the alert, and the answer is the message as stored.
#[actix_web::test]
async fn every_way_in_stores_records_and_checks_a_message_alike() {
    let app = TestApp::spawn().await;
    let supervisor = app.token(Demo::Supervisor).await;
    let citizen = app.token(Demo::Citizen).await;
    let client = client_token(&app, &["sync:write"]).await;

    // The web: the answer is the message as stored (intake builds it from what it wrote).
    let plain = app
        .post("/api/v1/messages", &citizen, message_body("路灯不亮"))
        .await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    let plain_id = plain.body["message"]["id"].as_str().unwrap();
    let stored = app
        .get(&format!("/api/v1/messages/{plain_id}"), &citizen)
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(plain.body["message"], stored.body);
    let mut body = message_body("工地欠款问题");
    body["body"] = json!(KEYWORD_BODY);
    let web = app.post("/api/v1/messages", &citizen, body).await;
    assert_eq!(web.status, 201, "{}", web.body);
    let web_id = web.body["message"]["id"].as_str().unwrap().to_owned();

    // Open311.
    let form: Vec<(&str, String)> = vec![
        ("api_key", client.clone()),
        ("jurisdiction_id", crate::messages::leader("孙海洋")),
        ("service_code", "transport".into()),
        ("address_string", "城关区庆阳路".into()),
        ("description", format!("工地欠款问题\n{KEYWORD_BODY}")),
    ];
    let filed = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    let filed: Value = filed.json().await.unwrap();
    let tracking_no = filed[0]["service_request_id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/tracking/{tracking_no}"), &supervisor)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let open311_id = r.body["id"].as_str().unwrap().to_owned();

    // The platform.
    let mut imported = item("I-1", Utc::now() - Duration::minutes(5), "工地欠款问题");
    imported["body"] = json!(KEYWORD_BODY);
    let r = import(&app, &client, vec![imported]).await;
    assert_eq!(outcomes(&r), ["created"], "{}", r.body);
    let sync_id = r.body["results"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();

    for (way, id, external) in [
        ("web", &web_id, false),
        ("open311", &open311_id, false),
        ("sync", &sync_id, true),
    ] {
        let m = app
            .get(&format!("/api/v1/messages/{id}"), &supervisor)
            .await;
        assert_eq!(m.status, 200, "{way}: {}", m.body);
        assert_eq!(m.body["status"], "submitted", "{way}: {}", m.body);
        assert_eq!(m.body["priority"], "important", "{way}: {}", m.body);
        assert_eq!(keyword_alerts_of(&app, &supervisor, id).await, 1, "{way}");
        let events = ledger(&app, &supervisor, id).await;
        assert_eq!(events[0]["action"], "submit", "{way}: {events:?}");
        assert_eq!(events[0]["to_status"], "submitted", "{way}: {events:?}");
        let mut keys: Vec<&str> = events[0]["payload"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut expected = vec!["category_id", "kind", "source", "title", "visibility"];
        if external {
            expected.extend(["external_id", "external_source"]);
            expected.sort_unstable();
        }
        assert_eq!(keys, expected, "{way}: {events:?}");
        assert!(
            events.iter().any(|e| e["action"] == "alert_raised"),
            "{way}: {events:?}"
        );
    }
    // The receipt is the `submit` event, whatever early warning appended after it.
    let events = ledger(&app, &citizen, &web_id).await;
    assert_eq!(web.body["receipt"]["chain_head"], events[0]["hash"]);
}

/// The platform amends a message still waiting for intake: early warning reads the amended text,
/// as it does after an author's resubmission (before issue 18 only new messages were checked).
#[actix_web::test]
async fn a_platform_update_goes_through_early_warning() {
    let app = TestApp::spawn().await;
    let client = client_token(&app, &["sync:write"]).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let t0 = Utc::now() - Duration::hours(1);
    let r = import(&app, &client, vec![item("U-1", t0, "工地欠款问题")]).await;
    assert_eq!(outcomes(&r), ["created"], "{}", r.body);
    let id = r.body["results"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = app
        .get(&format!("/api/v1/messages/{id}"), &supervisor)
        .await;
    assert_eq!(m.body["priority"], Value::Null, "{}", m.body);

    let mut amended = item("U-1", t0 + Duration::minutes(1), "工地欠款问题");
    amended["body"] = json!(KEYWORD_BODY);
    let r = import(&app, &client, vec![amended]).await;
    assert_eq!(outcomes(&r), ["updated"], "{}", r.body);
    let m = app
        .get(&format!("/api/v1/messages/{id}"), &supervisor)
        .await;
    assert_eq!(m.status, 200, "{}", m.body);
    assert_eq!(m.body["priority"], "important", "{}", m.body);
    assert_eq!(keyword_alerts_of(&app, &supervisor, &id).await, 1);
    let actions: Vec<Value> = ledger(&app, &supervisor, &id)
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            json!("submit"),
            json!("import_update"),
            json!("alert_raised")
        ]
    );
}
