//! The committed OpenAPI document is what the code generates, and it is complete.

use serde_json::Value;

fn generated() -> Value {
    serde_json::from_str(&liuyan::openapi::to_pretty_json(
        &liuyan::startup::openapi_spec(),
    ))
    .unwrap()
}

#[test]
fn the_committed_spec_matches_the_code() {
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json exists"),
    )
    .expect("openapi/openapi.json is JSON");
    assert!(
        committed == generated(),
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json` and commit it"
    );
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn every_operation_has_an_id_a_rule_and_documented_errors() {
    let spec = generated();
    let ops = operations(&spec);
    let mut ids: Vec<String> = Vec::new();
    for (method, path, op) in &ops {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        ids.push(id.to_owned());
        let rule = liuyan::auth::policy::rule_for(id)
            .unwrap_or_else(|| panic!("{id} has no rule in OPERATION_RULES"));
        assert!(op["security"].is_array(), "{id} declares its security");
        // The Open311 facade answers bad input and bad keys as GeoReport v2 says: 400 and 403
        // with Open311 error arrays (never 401 or 422).
        let open311 = path.starts_with("/open311/");
        if let liuyan::auth::policy::Rule::Requires(_) = rule {
            assert!(
                open311 || op["responses"]["401"].is_object(),
                "{id} documents 401"
            );
            assert!(op["responses"]["403"].is_object(), "{id} documents 403");
            assert!(op["x-allowed-roles"].is_array(), "{id} lists its roles");
        }
        if op["requestBody"].is_object() {
            for status in ["400", "413", "415", "422"] {
                if open311 && status == "422" {
                    continue;
                }
                assert!(
                    op["responses"][status].is_object(),
                    "{id} documents {status}"
                );
            }
        }
        if path.starts_with("/api/v1/") {
            assert!(op["responses"]["429"].is_object(), "{id} documents 429");
        }
        let if_match = op["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "If-Match"));
        if let Some(p) = if_match {
            assert!(op["responses"]["412"].is_object(), "{id} documents 412");
            if p["required"] == true {
                assert!(op["responses"]["428"].is_object(), "{id} documents 428");
            }
        }
        if path.contains('{') {
            assert!(op["responses"]["404"].is_object(), "{id} documents 404");
        }
        for (status, resp) in op["responses"].as_object().unwrap() {
            let described = resp["description"].is_string() || resp["$ref"].is_string();
            assert!(described, "{id} {status} has a description");
        }
        assert!(op["tags"].is_array(), "{id} has a tag");
    }
    let mut rule_ids: Vec<&str> = liuyan::auth::policy::OPERATION_RULES
        .iter()
        .map(|(id, _)| *id)
        .collect();
    rule_ids.sort();
    ids.sort();
    assert_eq!(
        ids, rule_ids,
        "OPERATION_RULES lists exactly the operations of the spec"
    );
}

#[test]
fn request_bodies_are_named_schemas_with_examples() {
    let spec = generated();
    for (method, path, op) in operations(&spec) {
        if let Some(body) = op.get("requestBody") {
            // JSON, or the form of the Open311 facade.
            let content = body["content"].as_object().unwrap();
            let schema = &content
                .get("application/json")
                .or_else(|| content.get("application/x-www-form-urlencoded"))
                .unwrap_or_else(|| panic!("{method} {path}: body is JSON or a form"))["schema"];
            let reference = schema["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: body is a named schema"));
            let name = reference.rsplit('/').next().unwrap();
            let component = &spec["components"]["schemas"][name];
            assert!(
                component["example"].is_object() || component["examples"].is_array(),
                "{name} has an example"
            );
        }
    }
}

/// The status diagram of docs/ARCHITECTURE.md is the transition table's
/// (`domain::message::TRANSITIONS`).
#[test]
fn the_status_diagram_in_the_architecture_page_is_the_codes() {
    let path = format!("{}/docs/ARCHITECTURE.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("docs/ARCHITECTURE.md exists");
    let current = liuyan::domain::status_diagram::with_current_diagram(&text)
        .expect("docs/ARCHITECTURE.md has a generated status diagram (its marks are missing)");
    assert!(
        current == text,
        "docs/ARCHITECTURE.md: the status diagram is out of date; replace it with the output of \
         `cargo run -q -- status-diagram`:\n{}",
        liuyan::domain::status_diagram::status_diagram()
    );
}

/// The access model's table in the README and docs/ACCESS.md is the one in the code
/// (`app::relations::RELATIONS`), as `x-allowed-roles` in the spec is the policy table's.
#[test]
fn the_access_table_in_the_documents_is_the_codes() {
    for doc in ["README.md", "docs/ACCESS.md"] {
        let path = format!("{}/{doc}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("the document exists");
        let current = liuyan::app::relations::with_current_table(&text).unwrap_or_else(|| {
            panic!("{doc} has no generated access table (its marks are missing)")
        });
        assert!(
            current == text,
            "{doc}: the access table is out of date; replace it with the output of \
             `cargo run -q -- access-model`:\n{}",
            liuyan::app::relations::relations_markdown()
        );
    }
}
