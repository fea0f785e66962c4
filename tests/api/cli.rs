//! The `liuyan` command's subcommands, run as a user would run them.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::ScratchDb;

fn liuyan(db: &ScratchDb) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_liuyan"));
    c.env("DATABASE_URL", &db.url)
        .env("LIUYAN_LOG", "warn")
        .env_remove("LIUYAN_NEW_USER_PASSWORD");
    c
}

#[test]
fn openapi_prints_the_spec() {
    let out = Command::new(env!("CARGO_BIN_EXE_liuyan"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["openapi"], "3.1.0");
    assert!(printed["paths"]["/api/v1/units"].is_object());
}

#[test]
fn migrate_then_seed_then_create_users() {
    let db = ScratchDb::new(None);
    let out = liuyan(&db).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("applied {migrations} migration(s)"))
    );
    let again = liuyan(&db).arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("applied 0 migration(s)"));

    let out = liuyan(&db).arg("seed-demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("admin@liuyan.example") && text.contains("Demo-Admin-2026"),
        "{text}"
    );

    // Password from the environment.
    let out = liuyan(&db)
        .args([
            "create-user",
            "--email",
            "ops@example.cn",
            "--role",
            "admin",
        ])
        .env("LIUYAN_NEW_USER_PASSWORD", "operations password 1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Password from standard input.
    let unit = liuyan::seed::unit_id("兰州市教育局").to_string();
    let mut child = liuyan(&db)
        .args([
            "create-user",
            "--email",
            "teacher@example.cn",
            "--role",
            "handler",
            "--unit",
            &unit,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"password from stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut conn = db.connect();
    let ops = liuyan::store::users::find_by_email(&mut conn, "ops@example.cn")
        .unwrap()
        .unwrap();
    assert!(liuyan::auth::password::verify_password(
        "operations password 1",
        &ops.password_hash
    ));
    let teacher = liuyan::store::users::find_by_email(&mut conn, "teacher@example.cn")
        .unwrap()
        .unwrap();
    assert!(liuyan::auth::password::verify_password(
        "password from stdin",
        &teacher.password_hash
    ));
    assert_eq!(teacher.unit_id.unwrap().to_string(), unit);

    // Mistakes are explained, not panicked about.
    let out = liuyan(&db)
        .args([
            "create-user",
            "--email",
            "nounit@example.cn",
            "--role",
            "handler",
        ])
        .env("LIUYAN_NEW_USER_PASSWORD", "a long password")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unit_id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = liuyan(&db)
        .args([
            "create-user",
            "--email",
            "weak@example.cn",
            "--role",
            "admin",
        ])
        .env("LIUYAN_NEW_USER_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
}

#[test]
fn production_refuses_to_start_with_the_development_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_liuyan"))
        .arg("serve")
        .env("LIUYAN_PROFILE", "production")
        .env("DATABASE_URL", "postgres://127.0.0.1:1/none")
        .env_remove("LIUYAN_JWT_KEYS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("LIUYAN_JWT_KEYS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
