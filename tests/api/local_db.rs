//! The managed private cluster: started from the installed server binaries (as an unprivileged
//! user when we are root), reused when already running, stopped on request.

use diesel::{Connection, PgConnection, RunQueryDsl};
use liuyan::db::local::{LocalDatabase, LocalMode};

/// A port nothing listens on, from the OS. Ports derived from the process id made the two tests
/// below share one cluster now and then (and one stopped it under the other).
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("the OS hands out a free port")
        .port()
}

#[test]
fn a_private_cluster_is_initialised_started_and_reused() {
    let dir =
        std::env::temp_dir().join(format!("liuyan-pg-test-{}", uuid::Uuid::new_v4().simple()));
    let port = unused_port();
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

/// As root, a data folder the `postgres` user cannot reach (a project under /root) moves the
/// cluster to /var/tmp instead of failing.
#[test]
fn as_root_an_unreachable_data_folder_moves_the_cluster() {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let closed = std::fs::metadata("/root").is_ok_and(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o001 == 0
    });
    if !is_root || !closed {
        crate::helpers::skip(
            "local_db::as_root_an_unreachable_data_folder_moves_the_cluster",
            if is_root {
                "/root is open to others: there is no unreachable data folder to move"
            } else {
                "not running as root: the move only happens for root"
            },
        );
        return;
    }
    let dir = std::path::PathBuf::from(format!(
        "/root/liuyan-pg-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let port = unused_port();
    let local = LocalDatabase {
        data_dir: dir.clone(),
        private_port: port,
        mode: LocalMode::Private,
    };
    let url = local
        .database_url("liuyan")
        .expect("the cluster starts elsewhere");
    assert!(PgConnection::establish(&url).is_ok());
    local.stop_private_cluster().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    use sha2::Digest;
    let key = hex::encode(&sha2::Sha256::digest(dir.to_string_lossy().as_bytes())[..6]);
    let moved = std::path::PathBuf::from(format!("/var/tmp/liuyan-pg-{key}"));
    assert!(
        moved.join("pg").join("PG_VERSION").exists(),
        "the cluster was made in {}",
        moved.display()
    );
    let _ = std::fs::remove_dir_all(&moved);
}

/// Replicas starting together may all try to create the database: every one of them succeeds,
/// whether it loses the race as "already exists" or as a unique violation in pg_database.
#[test]
fn concurrent_creators_of_one_database_all_succeed() {
    use crate::helpers::ScratchDb;
    let name = format!("liuyan_test_{}", uuid::Uuid::new_v4().simple());
    let server = ScratchDb::server_of(&name);
    // Dropped at the end of the test whatever happens.
    let _cleanup = ScratchDb {
        name: name.clone(),
        url: format!("{server}/{name}"),
    };
    let start = std::sync::Arc::new(std::sync::Barrier::new(8));
    let creators: Vec<_> = (0..8)
        .map(|_| {
            let (server, name, start) = (server.clone(), name.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                liuyan::db::local::ensure_database(&server, &name).map_err(|e| format!("{e:#}"))
            })
        })
        .collect();
    for creator in creators {
        let outcome = creator.join().expect("no creator panics");
        assert_eq!(outcome, Ok(()), "every creator succeeds");
    }
    assert!(
        PgConnection::establish(&format!("{server}/{name}")).is_ok(),
        "the database exists once"
    );
}
