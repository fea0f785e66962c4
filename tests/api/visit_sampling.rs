//! Return-visit sampling draws what the README states: per unit, the handled messages with the
//! lowest MD5 of `seed:message_id`. The draw is recomputed here in SQL from the messages this
//! test handled through the API (not from the stored plans), for two seeds.

use std::collections::BTreeMap;

use chrono::Duration;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::handling::{CHENGGUAN, TRANSPORT_BUREAU, accepted, assign, local};
use crate::helpers::{Demo, TestApp, test_settings};
use crate::messages::{lanzhou_liaison, staff};
use crate::replies::sign_for;
use liuyan::clock::Clock;

pub const REPLY: &str = "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。";

/// Draft, submit, approve and publish a reply through the API: written by `handler`, reviewed
/// and published by `reviewer` (staff of the message's lead unit). Returns the published reply.
pub async fn publish_as(
    app: &TestApp,
    id: &str,
    kind: &str,
    body: &str,
    handler: &str,
    reviewer: &str,
) -> Value {
    let d = app
        .post(
            &format!("/api/v1/messages/{id}/replies"),
            handler,
            json!({"kind": kind, "body": body}),
        )
        .await;
    assert_eq!(d.status, 201, "draft: {}", d.body);
    let rid = d.body["id"].as_str().unwrap().to_owned();
    for (who, step) in [
        (handler, "submit"),
        (reviewer, "approve"),
        (reviewer, "publish"),
    ] {
        let r = app
            .post(&format!("/api/v1/replies/{rid}/{step}"), who, json!({}))
            .await;
        assert_eq!(r.status, 200, "{step}: {}", r.body);
        if step == "publish" {
            return r.body;
        }
    }
    unreachable!()
}

#[derive(diesel::QueryableByName)]
struct Pick {
    #[diesel(sql_type = diesel::sql_types::Text)]
    unit: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// The draw for `seed`, by unit: the `per_unit` ids with the lowest md5(seed:id), lowest first.
fn expected(
    app: &TestApp,
    handled: &[(String, String)],
    seed: i64,
    per_unit: i64,
) -> BTreeMap<String, Vec<String>> {
    let values: Vec<String> = handled
        .iter()
        .map(|(unit, id)| format!("('{unit}', '{id}')"))
        .collect();
    let rows: Vec<Pick> = diesel::sql_query(format!(
        "SELECT unit, id FROM ( \
             SELECT unit, id, row_number() OVER (PARTITION BY unit ORDER BY md5('{seed}:' || id)) AS n \
             FROM (VALUES {}) AS h(unit, id) \
         ) ranked WHERE n <= {per_unit} ORDER BY unit, n",
        values.join(", ")
    ))
    .load(&mut app.db.connect())
    .unwrap();
    let mut by_unit: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        by_unit.entry(r.unit).or_default().push(r.id);
    }
    by_unit
}

/// What a sample answered, by unit, in the order it lists them.
fn drawn(sample: &Value) -> BTreeMap<String, Vec<String>> {
    let mut by_unit: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in sample["items"].as_array().unwrap() {
        by_unit
            .entry(v["unit_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(v["message_id"].as_str().unwrap().to_owned());
    }
    by_unit
}

#[actix_web::test]
async fn a_sample_is_the_lowest_hashes_per_unit_and_another_seed_draws_differently() {
    let clock = Clock::manual(local("2026-11-23T09:00"));
    let mut settings = test_settings();
    settings.clock = clock.clone();
    let app = TestApp::spawn_with(settings).await;
    let supervisor = app.token(Demo::Supervisor).await;
    let liaison = lanzhou_liaison(&app).await;
    let bureau = (
        app.token(Demo::Handler).await,
        app.token(Demo::Reviewer).await,
    );
    let chengguan = (
        staff(&app, "cg.handler@example.cn", "handler", CHENGGUAN).await,
        staff(&app, "cg.reviewer@example.cn", "reviewer", CHENGGUAN).await,
    );
    // Five messages answered by the transport bureau, four by Chengguan, on one day.
    let mut handled: Vec<(String, String)> = Vec::new();
    for (unit_name, n, (handler, reviewer)) in
        [(TRANSPORT_BUREAU, 5, &bureau), (CHENGGUAN, 4, &chengguan)]
    {
        for _ in 0..n {
            let (id, _) = accepted(&app, "routine", Some(&liaison)).await;
            let r = assign(&app, &liaison, &id, unit_name, &[]).await;
            assert_eq!(r.status, 201, "{}", r.body);
            sign_for(&app, handler, &id).await;
            clock.advance(Duration::minutes(5));
            publish_as(&app, &id, "final", REPLY, handler, reviewer).await;
            handled.push((crate::helpers::unit(unit_name), id));
        }
    }
    let sample = |seed: i64| {
        let (app, supervisor) = (&app, &supervisor);
        async move {
            let r = app
                .post(
                    "/api/v1/return-visit-samples",
                    supervisor,
                    json!({"from": "2026-11-23", "to": "2026-11-23", "per_unit": 2, "seed": seed, "kind": "return_visit"}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body
        }
    };
    let first_seed = 20261126;
    let want = expected(&app, &handled, first_seed, 2);
    assert_eq!(want.len(), 2, "two units");
    assert!(want.values().all(|ids| ids.len() == 2), "{want:?}");
    let got = sample(first_seed).await;
    assert_eq!(drawn(&got), want, "the lowest two hashes of each unit");
    assert_eq!(got["planned"], 4);

    // Another seed: the first one (from 1 on) whose draw differs, by the same formula.
    let (other_seed, other) = (1..500)
        .map(|s| (s, expected(&app, &handled, s, 2)))
        .find(|(_, e)| e != &want)
        .expect("some seed draws differently");
    let got = sample(other_seed).await;
    assert_eq!(drawn(&got), other, "seed {other_seed}");
    assert_ne!(drawn(&got), want);
    // What both seeds drew is planned once (by the first draw); the rest is new.
    let overlap: usize = other
        .iter()
        .map(|(u, ids)| ids.iter().filter(|i| want[u].contains(i)).count())
        .sum();
    assert_eq!(got["already_planned"], overlap as i64);
    assert_eq!(got["planned"], 4 - overlap as i64);
}
