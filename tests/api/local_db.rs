//! The managed private cluster: started from the installed server binaries (as an unprivileged
//! user when we are root), reused when already running, stopped on request.

use diesel::{Connection, PgConnection, RunQueryDsl};
use liuyan::db::local::{LocalDatabase, LocalMode};

#[test]
fn a_private_cluster_is_initialised_started_and_reused() {
    let dir =
        std::env::temp_dir().join(format!("liuyan-pg-test-{}", uuid::Uuid::new_v4().simple()));
    let port = 55_000 + (std::process::id() % 5_000) as u16;
    let local = LocalDatabase {
        data_dir: dir.clone(),
        private_port: port,
        mode: LocalMode::Private,
    };
    let url = local
        .database_url("liuyan")
        .expect("private cluster starts");
    assert!(url.ends_with(&format!(":{port}/liuyan")), "{url}");
    let mut conn = PgConnection::establish(&url).expect("it accepts connections");
    liuyan::db::run_migrations(&mut conn).expect("migrations run there");
    diesel::sql_query("SELECT 1").execute(&mut conn).unwrap();
    drop(conn);
    // A second call finds the running cluster instead of starting another.
    assert_eq!(local.database_url("liuyan").unwrap(), url);
    local.stop_private_cluster().unwrap();
    assert!(PgConnection::establish(&url).is_err(), "stopped");
    let _ = std::fs::remove_dir_all(&dir);
}
