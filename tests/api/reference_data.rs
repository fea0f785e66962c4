//! Regions, units, leaders, categories: CRUD, filters, pagination, concurrency, authorization.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Demo, TestApp, unit};

/// Every role may read reference data; only admins write it.
#[actix_web::test]
async fn every_role_reads_and_only_admins_write_reference_data() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let existing_unit = unit("兰州市交通运输局");
    let leader = app.get("/api/v1/leaders?limit=1", &admin).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let category = app.get("/api/v1/categories?limit=1", &admin).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reads = [
        "/api/v1/regions".to_owned(),
        "/api/v1/regions/620100".to_owned(),
        "/api/v1/units".to_owned(),
        format!("/api/v1/units/{existing_unit}"),
        "/api/v1/leaders".to_owned(),
        format!("/api/v1/leaders/{leader}"),
        "/api/v1/categories".to_owned(),
        format!("/api/v1/categories/{category}"),
    ];
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/api/v1/regions".into(),
            json!({"code": "620122", "name": "皋兰县", "level": "county", "parent_code": "620100"}),
        ),
        (
            Method::PATCH,
            "/api/v1/regions/620100".into(),
            json!({"name": "兰州市"}),
        ),
        (
            Method::POST,
            "/api/v1/units".into(),
            json!({"name": "兰州市水务局", "kind": "department", "region_code": "620100"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/units/{existing_unit}"),
            json!({"active": true}),
        ),
        (
            Method::POST,
            "/api/v1/leaders".into(),
            json!({"name": "钱进", "title": "七里河区区长", "region_code": "620103", "unit_id": unit("兰州市七里河区人民政府")}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/leaders/{leader}"),
            json!({"active": true}),
        ),
        (
            Method::POST,
            "/api/v1/categories".into(),
            json!({"code": "housing", "name": "住房保障"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/categories/{category}"),
            json!({"active": true}),
        ),
    ];
    for who in Demo::ALL {
        let token = app.token(who).await;
        for path in &reads {
            let r = app.get(path, &token).await;
            assert_eq!(r.status, 200, "{who:?} GET {path}: {}", r.body);
        }
        if matches!(who, Demo::Admin) {
            continue;
        }
        for (method, path, body) in &writes {
            let r = app
                .send(method.clone(), path, Some(&token), Some(body.clone()))
                .await;
            r.assert_problem(403, "forbidden");
            let _ = (who, method);
        }
    }
    for (method, path, body) in writes {
        let r = app
            .send(method.clone(), &path, Some(&admin), Some(body))
            .await;
        assert!(
            r.status.is_success(),
            "admin {method} {path}: {} {}",
            r.status,
            r.body
        );
    }
    // Anonymous callers read nothing.
    for path in &reads {
        app.send(Method::GET, path, None, None)
            .await
            .assert_problem(401, "unauthorized");
    }
}

#[actix_web::test]
async fn units_are_created_read_updated_and_deactivated() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let parent = unit("兰州市人民政府办公室");
    let r = app
        .post("/api/v1/units", &admin, json!({"name": " 兰州市 水务局 ", "kind": "department", "region_code": "620100", "parent_id": parent}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["name"], "兰州市 水务局",
        "names are trimmed and collapsed"
    );
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.header("etag"), Some("\"1\""));
    let location = r.header("location").unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/units/{id}"));

    let got = app.get(&location, &admin).await;
    assert_eq!(got.body, r.body);

    // Duplicate name in the same region.
    app.post(
        "/api/v1/units",
        &admin,
        json!({"name": "兰州市 水务局", "kind": "department", "region_code": "620100"}),
    )
    .await
    .assert_problem(409, "conflict");

    let r = app
        .send_with(
            Method::PATCH,
            &location,
            Some(&admin),
            Some(json!({"parent_id": null, "active": false})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["parent_id"], Value::Null);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));

    // Deactivated units are filtered and cannot take new children.
    let inactive = app.get("/api/v1/units?active=false", &admin).await;
    assert_eq!(inactive.body["items"].as_array().unwrap().len(), 1);
    let r = app
        .post(
            "/api/v1/units",
            &admin,
            json!({"name": "某科", "kind": "department", "region_code": "620100", "parent_id": id}),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.body["errors"][0]["field"], "parent_id");
    assert_eq!(r.body["errors"][0]["code"], "inactive");
}

#[actix_web::test]
async fn stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let path = format!("/api/v1/units/{}", unit("兰州市教育局"));
    let r = app
        .send_with(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"name": "兰州市教育局（新）"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .send_with(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"name": "被覆盖"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    r.assert_problem(412, "precondition-failed");
    assert_eq!(
        app.get(&path, &admin).await.body["name"],
        "兰州市教育局（新）"
    );
    // `*` and a malformed tag.
    let r = app
        .send_with(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"active": true})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .send_with(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"active": true})),
            &[("if-match", "3")],
        )
        .await;
    r.assert_problem(400, "bad-request");
    // If-None-Match on the current version: 304 with the ETag, no body.
    let cur = app.get(&path, &admin).await;
    let etag = cur.header("etag").unwrap().to_owned();
    let r = app
        .send_with(
            Method::GET,
            &path,
            Some(&admin),
            None,
            &[("if-none-match", etag.as_str())],
        )
        .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = app
        .send_with(
            Method::GET,
            &path,
            Some(&admin),
            None,
            &[("if-none-match", "\"999\"")],
        )
        .await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn empty_patches_and_unit_cycles_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let office = unit("兰州市人民政府办公室");
    let liaison = unit("兰州市领导留言办理工作办公室"); // child of the office
    let r = app
        .patch(&format!("/api/v1/units/{office}"), &admin, json!({}))
        .await;
    r.assert_problem(422, "validation-failed");
    let r = app
        .patch(
            &format!("/api/v1/units/{office}"),
            &admin,
            json!({"parent_id": liaison}),
        )
        .await;
    r.assert_problem(422, "validation-failed");
    assert_eq!(r.body["errors"][0]["field"], "parent_id");
    let r = app
        .patch(
            &format!("/api/v1/units/{office}"),
            &admin,
            json!({"parent_id": office}),
        )
        .await;
    r.assert_problem(422, "validation-failed");
}

#[actix_web::test]
async fn unknown_and_malformed_ids_are_404() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Citizen).await;
    for path in [
        format!("/api/v1/units/{}", uuid::Uuid::new_v4()),
        "/api/v1/units/not-a-uuid".to_owned(),
        format!("/api/v1/leaders/{}", uuid::Uuid::new_v4()),
        format!("/api/v1/categories/{}", uuid::Uuid::new_v4()),
        "/api/v1/regions/999999".to_owned(),
        "/api/v1/regions/abc".to_owned(),
    ] {
        app.get(&path, &token)
            .await
            .assert_problem(404, "not-found");
    }
}

#[actix_web::test]
async fn keyset_pagination_walks_every_unit_once() {
    let app = TestApp::spawn().await;
    let token = app.token(Demo::Handler).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/units?limit=7&cursor={c}"),
            None => "/api/v1/units?limit=7".to_owned(),
        };
        let r = app.get(&path, &token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|u| u["name"].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        liuyan::seed::UNITS.len(),
        "every unit exactly once"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by name");
}

#[actix_web::test]
async fn region_tree_rules_and_filters() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    // Level and code shape must agree; a child shares its parent's prefix.
    let r = app
        .post(
            "/api/v1/regions",
            &admin,
            json!({"code": "620122", "name": "皋兰县", "level": "city", "parent_code": "620000"}),
        )
        .await;
    assert_eq!(r.failing_fields(), vec!["code"]);
    let r = app
        .post(
            "/api/v1/regions",
            &admin,
            json!({"code": "620522", "name": "秦安县", "level": "county", "parent_code": "620100"}),
        )
        .await;
    assert_eq!(r.failing_fields(), vec!["code"]);
    let r = app
        .post(
            "/api/v1/regions",
            &admin,
            json!({"code": "620122", "name": "皋兰县", "level": "county"}),
        )
        .await;
    assert_eq!(r.failing_fields(), vec!["parent_code"]);
    let r = app
        .post(
            "/api/v1/regions",
            &admin,
            json!({"code": "620122", "name": "皋兰县", "level": "county", "parent_code": "620100"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["path"], json!(["620000", "620100", "620122"]));
    app.post(
        "/api/v1/regions",
        &admin,
        json!({"code": "620122", "name": "重复", "level": "county", "parent_code": "620100"}),
    )
    .await
    .assert_problem(409, "conflict");

    let lanzhou = app
        .get("/api/v1/regions?within=620100&limit=100", &admin)
        .await;
    let codes: Vec<&str> = lanzhou.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            "620100", "620102", "620103", "620104", "620105", "620111", "620121", "620122"
        ]
    );
    let cities = app.get("/api/v1/regions?level=city", &admin).await;
    assert_eq!(cities.body["items"].as_array().unwrap().len(), 3);
    let children = app.get("/api/v1/regions?parent_code=620500", &admin).await;
    assert_eq!(children.body["items"].as_array().unwrap().len(), 2);
    let r = app.get("/api/v1/regions?within=630000", &admin).await;
    assert_eq!(r.status, 200, "an unknown region filters everything out");
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);

    // Units of the Lanzhou subtree include district governments; of the city only, not.
    let subtree = app
        .get(
            "/api/v1/units?region_code=620100&subtree=true&limit=100",
            &admin,
        )
        .await;
    let only = app
        .get("/api/v1/units?region_code=620100&limit=100", &admin)
        .await;
    let n_subtree = subtree.body["items"].as_array().unwrap().len();
    let n_only = only.body["items"].as_array().unwrap().len();
    assert_eq!(n_only, 7);
    assert_eq!(n_subtree, 13);
    let kinds = app.get("/api/v1/units?kind=liaison_office", &admin).await;
    assert_eq!(kinds.body["items"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn leaders_need_an_active_unit_and_region() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let r = app
        .post("/api/v1/leaders", &admin, json!({"name": "钱进", "title": "区长", "region_code": "620103", "unit_id": uuid::Uuid::new_v4()}))
        .await;
    assert_eq!(r.failing_fields(), vec!["unit_id"]);
    let r = app
        .post("/api/v1/leaders", &admin, json!({"name": "钱进", "title": "区长", "region_code": "620103", "unit_id": unit("兰州市七里河区人民政府")}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/leaders/{id}"),
            &admin,
            json!({"title": "七里河区区长"}),
        )
        .await;
    assert_eq!(r.body["title"], "七里河区区长");
    let by_region = app
        .get(
            "/api/v1/leaders?region_code=620100&subtree=true&limit=100",
            &admin,
        )
        .await;
    assert_eq!(by_region.body["items"].as_array().unwrap().len(), 4);
}

#[actix_web::test]
async fn categories_keep_their_order_and_code() {
    let app = TestApp::spawn().await;
    let admin = app.token(Demo::Admin).await;
    let all = app.get("/api/v1/categories?limit=100", &admin).await;
    let codes: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.first(), Some(&"urban_construction"));
    assert_eq!(codes.last(), Some(&"other"));
    assert_eq!(codes.len(), 11);
    let r = app
        .post(
            "/api/v1/categories",
            &admin,
            json!({"code": "Bad Code", "name": "坏"}),
        )
        .await;
    assert_eq!(r.failing_fields(), vec!["code"]);
    let r = app
        .post(
            "/api/v1/categories",
            &admin,
            json!({"code": "housing", "name": "住房保障", "sort_order": 65}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/categories/{id}"),
            &admin,
            json!({"code": "renamed"}),
        )
        .await;
    assert_eq!(r.failing_fields(), vec!["code"], "the code never changes");
    let r = app
        .patch(
            &format!("/api/v1/categories/{id}"),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.body["active"], false);
    let active = app
        .get("/api/v1/categories?active=true&limit=100", &admin)
        .await;
    assert_eq!(active.body["items"].as_array().unwrap().len(), 11);
}
