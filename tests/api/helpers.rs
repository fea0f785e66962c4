//! Test harness: each test gets its own database, cloned from a migrated and seeded template,
//! and the real application listening on a random port.

use std::sync::OnceLock;

use diesel::{Connection, PgConnection, RunQueryDsl};
use liuyan::configuration::Settings;
use liuyan::db::{Db, PoolOptions, build_pool};
use liuyan::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The PostgreSQL server the tests use: `DATABASE_URL`'s server when set, else the managed
/// local one (a server on localhost:5432, or the project's private cluster).
fn server_url() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let (server, _db) = url
                .rsplit_once('/')
                .expect("DATABASE_URL has a database name");
            return server.to_owned();
        }
        let mut settings = Settings::defaults();
        settings.data_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".liuyan");
        settings
            .local_database()
            .server_url()
            .expect("a PostgreSQL server for the tests")
    })
}

/// Where the applications and the tests' own connections reach the test databases: the server
/// itself, or a connection pooler in front of it named by `LIUYAN_TEST_POOLER_URL` (e.g. PgBouncer
/// in transaction mode, scripts/test-pgbouncer). Databases are created and dropped on the server.
fn client_server_url() -> &'static str {
    static CLIENT: OnceLock<String> = OnceLock::new();
    CLIENT.get_or_init(|| match std::env::var("LIUYAN_TEST_POOLER_URL") {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => server_url().to_owned(),
    })
}

/// The template's name changes whenever the migrations or the code (which seeds it) change.
fn template_name() -> String {
    let mut h = Sha256::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut entries: Vec<_> = walk(&root.join("migrations"));
    entries.extend(walk(&root.join("src")));
    entries.sort();
    for p in entries {
        h.update(
            p.strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .as_bytes(),
        );
        h.update(std::fs::read(&p).unwrap_or_default());
    }
    format!("liuyan_tmpl_{}", &hex::encode(h.finalize())[..16])
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

fn admin_conn() -> PgConnection {
    PgConnection::establish(&format!("{}/postgres", server_url()))
        .expect("connect to the postgres database")
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Exists>(conn)
        .map(|e| e.exists)
        .unwrap_or(false)
}

/// Create the template once per test run, across processes (an advisory lock serialises the
/// builders; the template appears under its final name only when complete).
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = template_name();
        let mut conn = admin_conn();
        diesel::sql_query("SELECT pg_advisory_lock(727274)")
            .execute(&mut conn)
            .unwrap();
        if !database_exists(&mut conn, &name) {
            let building = format!("{name}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .execute(&mut conn)
                .unwrap();
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut conn)
                .unwrap();
            {
                let mut db =
                    PgConnection::establish(&format!("{}/{building}", server_url())).unwrap();
                liuyan::db::run_migrations(&mut db).expect("migrations apply");
                liuyan::seed::seed_demo(&mut db).expect("demo seed loads");
            }
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut conn)
                .unwrap();
        }
        diesel::sql_query("SELECT pg_advisory_unlock(727274)")
            .execute(&mut conn)
            .unwrap();
        name
    })
}

/// A fresh database cloned from the migrated, seeded template (blocking); dropped on drop.
pub fn seeded_db() -> ScratchDb {
    ScratchDb::new(Some(template()))
}

/// A fresh, empty database (no template) for migration tests; dropped on drop.
pub struct ScratchDb {
    pub name: String,
    pub url: String,
}

impl ScratchDb {
    pub fn new(template: Option<&str>) -> Self {
        let name = format!("liuyan_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin_conn();
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        // CREATE DATABASE … TEMPLATE fails while another session is connected to the
        // template; only the builder ever is, briefly, so retry.
        let mut attempt = 0;
        loop {
            match diesel::sql_query(&sql).execute(&mut conn) {
                Ok(_) => break,
                Err(e) if attempt < 20 => {
                    attempt += 1;
                    eprintln!("retrying database creation: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => panic!("cannot create test database: {e}"),
            }
        }
        let url = format!("{}/{name}", client_server_url());
        Self { name, url }
    }

    /// The server URL the scratch databases live on.
    pub fn server_of(_name: &str) -> String {
        server_url().to_owned()
    }

    pub fn connect(&self) -> PgConnection {
        establish(&self.url)
    }
}

/// A test's own connection to a test database, with diesel's statement cache off when the
/// service runs without it (behind a pooler that cannot track named prepared statements).
pub fn establish(url: &str) -> PgConnection {
    let mut conn = PgConnection::establish(url).expect("connect to the test database");
    if !test_settings().db_statement_cache {
        conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
    }
    conn
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let mut conn = admin_conn();
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn);
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Shared with the replicas of this app (`TestApp::replica`); dropped with the last one.
    pub db: std::sync::Arc<ScratchDb>,
    /// The application's own database handle (the same threads and pool requests use).
    pub dbh: Db,
    /// The application's download slots (a test takes them to play slow clients).
    pub exports: liuyan::http::export::ExportSlots,
    handle: actix_web::dev::ServerHandle,
}

/// Settings for tests: random port, generous rate limits unless a test says otherwise.
pub fn test_settings() -> Settings {
    let mut s = Settings::defaults();
    s.port = 0;
    s.host = "127.0.0.1".into();
    s.workers = 1;
    s.db_pool_size = 4;
    s.rate_per_second = 10_000;
    s.rate_burst = 10_000;
    s.auth_rate_per_minute = 10_000;
    // Tests write many messages as the demo citizen; the quota's own test sets it.
    s.intake_per_hour = 0;
    s.intake_per_day = 0;
    s.migrate_on_start = false;
    // Tests run the scheduler themselves (`liuyan::scheduler::run_once`), at times they choose.
    s.scheduler_interval_secs = 0;
    s.stats_fold_interval_ms = 0;
    // Webhook tests turn the dispatcher on themselves.
    s.webhook_poll_ms = 0;
    // Behind a pooler that cannot track named prepared statements (scripts/test-pgbouncer).
    if let Ok(v) = std::env::var("LIUYAN_DB_STATEMENT_CACHE") {
        s.db_statement_cache = v != "false";
    }
    s
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(test_settings()).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        Self::spawn_with_pool(settings, 4, std::time::Duration::from_secs(2)).await
    }

    /// An app with a pool of `max_size` connections that waits `timeout` for one.
    pub async fn spawn_with_pool(
        settings: Settings,
        max_size: u32,
        timeout: std::time::Duration,
    ) -> TestApp {
        let template = actix_web::web::block(template).await.unwrap();
        let db = actix_web::web::block(move || ScratchDb::new(Some(template)))
            .await
            .unwrap();
        Self::start(settings, std::sync::Arc::new(db), max_size, timeout).await
    }

    /// A second instance of the application (own pool, own workers, own background tasks) on
    /// this app's database: what a replica behind a load balancer is.
    pub async fn replica(&self, settings: Settings) -> TestApp {
        Self::start(
            settings,
            self.db.clone(),
            4,
            std::time::Duration::from_secs(2),
        )
        .await
    }

    async fn start(
        mut settings: Settings,
        db: std::sync::Arc<ScratchDb>,
        max_size: u32,
        timeout: std::time::Duration,
    ) -> TestApp {
        settings.database_url = Some(db.url.clone());
        // LISTEN needs a session: the revocation listener connects to the server itself even
        // when the rest goes through a pooler in transaction mode.
        settings.listen_database_url = Some(format!("{}/{}", server_url(), db.name));
        let url = db.url.clone();
        let statement_cache = settings.db_statement_cache;
        let pool = actix_web::web::block(move || {
            build_pool(
                &url,
                &PoolOptions {
                    max_size,
                    connection_timeout: timeout,
                    statement_cache,
                },
            )
        })
        .await
        .unwrap()
        .expect("pool");
        let pool = Db::new(pool);
        let app = Application::build_with_pool(settings, pool.clone()).expect("application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.server_handle();
        let exports = app.exports.clone();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            base,
            // The server closes idle keep-alive connections after 5 s; drop ours sooner, or a
            // request after a long pause (a big direct insert) may reuse a closed socket.
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("http client"),
            db,
            dbh: pool,
            exports,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Send a request; returns status, headers and the body as JSON (Null when empty).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.send_with(method, path, token, body, &[]).await
    }

    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::from(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Log in and return the access token (panics unless it works).
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self.login_response(email, password).await;
        assert_eq!(r.status, StatusCode::OK, "login {email}: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn login_response(&self, email: &str, password: &str) -> Resp {
        self.send(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"grant_type": "password", "email": email, "password": password})),
        )
        .await
    }

    /// Token of the demo account with this role (see `liuyan::seed::USERS`).
    pub async fn token(&self, who: Demo) -> String {
        let u = liuyan::seed::USERS
            .iter()
            .find(|u| u.email == who.email())
            .unwrap();
        self.login(u.email, u.password).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the database is dropped (with FORCE) right after.
        drop(self.handle.stop(false));
        // And close the pool: left open, its r2d2 threads keep reconnecting to the dropped
        // database until the process exits, and a connection opened through OpenSSL while
        // exit() runs its cleanup aborts the test binary after every test passed (the race
        // src/db/pool.rs describes for the server).
        self.dbh.pool().close(std::time::Duration::from_secs(2));
    }
}

/// The demo accounts by role.
#[derive(Clone, Copy, Debug)]
pub enum Demo {
    Admin,
    Liaison,
    Handler,
    UnitAdmin,
    Reviewer,
    Supervisor,
    Leader,
    Analyst,
    Citizen,
}

impl Demo {
    pub const ALL: [Demo; 9] = [
        Demo::Admin,
        Demo::Liaison,
        Demo::Handler,
        Demo::UnitAdmin,
        Demo::Reviewer,
        Demo::Supervisor,
        Demo::Leader,
        Demo::Analyst,
        Demo::Citizen,
    ];

    pub fn email(self) -> &'static str {
        match self {
            Demo::Admin => "admin@liuyan.example",
            Demo::Liaison => "liaison@liuyan.example",
            Demo::Handler => "handler@liuyan.example",
            Demo::UnitAdmin => "unitadmin@liuyan.example",
            Demo::Reviewer => "reviewer@liuyan.example",
            Demo::Supervisor => "supervisor@liuyan.example",
            Demo::Leader => "leader@liuyan.example",
            Demo::Analyst => "analyst@liuyan.example",
            Demo::Citizen => "citizen@liuyan.example",
        }
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    async fn from(r: reqwest::Response) -> Resp {
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap_or_default();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert this is a problem+json of `status` and `type` slug; returns the body.
    pub fn assert_problem(&self, status: u16, slug: &str) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type; body: {}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:liuyan:problem:{slug}"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(
            self.body["request_id"].as_str(),
            self.header("x-request-id"),
            "the problem carries the request id"
        );
        &self.body
    }

    /// The fields named in a validation problem.
    pub fn failing_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Id of a demo unit by name.
pub fn unit(name: &str) -> String {
    liuyan::seed::unit_id(name).to_string()
}

/// Where skipped tests are counted: `scripts/test` empties it before `cargo test` and adds its
/// lines to the summary's "skipped".
pub fn skip_log() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("test-skips.log")
}

/// A test that cannot check what it names here says so: on stderr (`--nocapture` shows it) and
/// as a line of [`skip_log`], so the run's summary counts it instead of calling it passed.
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    eprintln!("SKIPPED {test}: {reason}");
    let path = skip_log();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(f, "{test}: {reason}");
    }
}

/// Completed passes of a background loop (`task` = `scheduler`, `webhooks`) of the server at
/// `base`, from its `/metrics` (`liuyan_background_passes_total`, every result).
pub async fn background_passes(client: &reqwest::Client, base: &str, task: &str) -> u64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("task=\"{task}\"");
    text.lines()
        .filter(|l| l.starts_with("liuyan_background_passes_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Wait until every server of `bases` has completed `more` passes of `task` after this call:
/// what any of them would still do (a duplicate alarm, a second delivery) has been done by then.
/// Panics after `limit`.
pub async fn wait_for_passes(bases: &[String], task: &str, more: u64, limit: std::time::Duration) {
    let client = reqwest::Client::new();
    let mut start = Vec::new();
    for base in bases {
        start.push(background_passes(&client, base, task).await);
    }
    let deadline = std::time::Instant::now() + limit;
    loop {
        let mut done = true;
        for (base, s) in bases.iter().zip(&start) {
            done &= background_passes(&client, base, task).await >= s + more;
        }
        if done {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{task}: {bases:?} did not complete {more} passes in {limit:?}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
