//! The benchmark data is valid data: constraints hold, every chain verifies, search finds it.

use diesel::prelude::*;

use crate::helpers::ScratchDb;

#[test]
fn seed_bench_writes_valid_messages_and_ledgers() {
    let db = ScratchDb::new(None);
    let report = liuyan::bench::seed_bench(&db.url, 500).expect("seed-bench runs");
    assert_eq!(report.messages, 500);
    let mut conn = db.connect();
    use liuyan::schema::messages::dsl as m;
    let total: i64 = m::messages.count().get_result(&mut conn).unwrap();
    assert_eq!(total as usize, 500 + liuyan::seed::MESSAGES.len());
    let ids: Vec<uuid::Uuid> = m::messages.select(m::id).load(&mut conn).unwrap();
    for id in ids {
        let message = liuyan::store::messages::get(&mut conn, id)
            .unwrap()
            .unwrap();
        let verdict = liuyan::store::messages::verify_chain(&mut conn, &message).unwrap();
        assert!(verdict.is_ok(), "{} {verdict:?}", message.tracking_no);
    }
    // Indexes are back (the load drops and rebuilds them).
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'messages_search_idx'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(n.n, 1);
    // Bench messages are searchable like any other.
    let hits: i64 = m::messages
        .filter(m::search_bigrams.contains(vec!["红绿".to_owned(), "绿灯".to_owned()]))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert!(hits > 0);
}
