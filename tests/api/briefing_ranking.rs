//! The long-overdue candidates of a briefing are ranked in the database (issue 26, item 5): a
//! busy province has tens of thousands of open deadlines ten days late, and only the best 500
//! candidates are kept. These tests hold the database's order to the domain's score.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::helpers::ScratchDb;
use liuyan::domain::briefings::{self as rules, Ranked};
use liuyan::store::briefings::{self as store, Found, UnitReader, Window};

/// The candidates ranked by the domain (score, newer first, id), every one kept, with scores.
fn ranked(found: &Found) -> Vec<(Uuid, i32)> {
    let mut list: Vec<Ranked<()>> = found
        .candidates
        .iter()
        .map(|c| Ranked {
            item: (),
            scored: rules::score(&c.facts).expect("every candidate has a reason"),
            submitted_at: c.submitted_at,
            id: c.message_id,
        })
        .collect();
    list.sort_by_key(|r| {
        (
            std::cmp::Reverse(r.scored.score),
            std::cmp::Reverse(r.submitted_at),
            r.id,
        )
    });
    list.into_iter().map(|r| (r.id, r.scored.score)).collect()
}

/// With a small `keep` the search returns every candidate that has another reason, and of the
/// long-overdue rest exactly the `keep` the domain ranks best; the count is the same as when
/// everything is returned. Run for the whole province and for one liaison office's reading.
#[test]
fn the_long_overdue_candidates_the_database_keeps_are_the_domains_best() {
    let db = ScratchDb::new(None);
    // The loader sets session state: straight to PostgreSQL, never through a pooler.
    let direct = format!("{}/{}", ScratchDb::server_of(&db.name), db.name);
    liuyan::bench::seed_bench(&direct, 1500).expect("seed-bench runs");
    let mut conn = db.connect();
    // Vary what the score reads: importance on some, lateness spread over 10 to 70 days.
    diesel::sql_query(
        "UPDATE messages SET priority = CASE WHEN get_byte(uuid_send(id), 15) % 4 = 0 \
         THEN 'important' ELSE 'routine' END WHERE priority IS NOT NULL",
    )
    .execute(&mut conn)
    .unwrap();
    let now = Utc::now();
    diesel::sql_query(
        "UPDATE deadlines SET due_at = $1 - make_interval(days => 10 + get_byte(uuid_send(id), 14) % 60, \
         secs => get_byte(uuid_send(id), 13)) WHERE state = 'open'",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .execute(&mut conn)
    .unwrap();
    let root = store::root_region(&mut conn).unwrap();
    let region = liuyan::store::regions::get(&mut conn, &root).unwrap();
    let window = Window {
        start: now - Duration::days(7),
        end: now,
        reference: now,
    };
    // The unit that handles the most messages, read by someone who wrote none of them.
    #[derive(QueryableByName)]
    struct UnitRow {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        unit_id: Uuid,
    }
    let busiest: UnitRow = diesel::sql_query(
        "SELECT unit_id FROM messages WHERE unit_id IS NOT NULL \
         GROUP BY unit_id ORDER BY count(*) DESC LIMIT 1",
    )
    .get_result(&mut conn)
    .unwrap();
    let liaison = UnitReader {
        unit: liuyan::domain::ids::UnitId(busiest.unit_id),
        user: liuyan::domain::ids::UserId::new(),
    };

    for reader in [None, Some(liaison)] {
        let mut find = |keep: usize| {
            store::find_candidates(&mut conn, &region.path, &window, reader, keep).unwrap()
        };
        let all = find(1_000_000);
        let others: HashSet<Uuid> = find(0).candidates.iter().map(|c| c.message_id).collect();
        let full = ranked(&all);
        assert_eq!(all.count, full.len(), "{reader:?}");
        let late_only: Vec<&(Uuid, i32)> =
            full.iter().filter(|(id, _)| !others.contains(id)).collect();
        // The data must make the ranking matter: many late-only candidates, several scores.
        let scores: HashSet<i32> = late_only.iter().map(|(_, s)| *s).collect();
        assert!(
            late_only.len() > 40,
            "{reader:?}: {} late only",
            late_only.len()
        );
        assert!(scores.len() > 5, "{reader:?}: scores {scores:?}");
        for keep in [1, 7, 25] {
            let few = find(keep);
            assert_eq!(few.count, all.count, "{reader:?} keep {keep}: the count");
            let got: HashMap<Uuid, i32> = ranked(&few).into_iter().collect();
            let best: Vec<Uuid> = late_only.iter().take(keep).map(|(id, _)| *id).collect();
            let mut want: HashSet<Uuid> = others.clone();
            want.extend(&best);
            let got_ids: HashSet<Uuid> = got.keys().copied().collect();
            assert_eq!(got_ids, want, "{reader:?} keep {keep}: not the best {keep}");
            // And each is scored as in the full search.
            for (id, score) in &full {
                if let Some(s) = got.get(id) {
                    assert_eq!(s, score, "{reader:?} keep {keep}: {id}");
                }
            }
        }
    }
}
