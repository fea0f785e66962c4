//! A managed local PostgreSQL for development and tests, used when `DATABASE_URL` is not set:
//! a server on localhost:5432 that accepts us, or else a private cluster in the project's data
//! folder started with the installed server binaries.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use diesel::{Connection, PgConnection, RunQueryDsl};
use sha2::Digest;

/// Default port of the private cluster; far from 5432 so it never collides with a system server.
pub const DEFAULT_PRIVATE_PORT: u16 = 54329;

/// Which local server to use when `DATABASE_URL` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LocalMode {
    /// A server on localhost:5432 if it accepts us, else the private cluster.
    Auto,
    /// Always the private cluster (leaves a system server alone).
    Private,
}

/// Where to find a database when none was configured.
pub struct LocalDatabase {
    /// Folder for the private cluster (`<data_dir>/pg`), its log and lock file.
    pub data_dir: PathBuf,
    pub private_port: u16,
    pub mode: LocalMode,
}

impl LocalDatabase {
    /// The server URL (without database name) of a reachable PostgreSQL, starting a private
    /// cluster when needed. Safe to call from many processes at once (a file lock guards start-up).
    pub fn server_url(&self) -> anyhow::Result<String> {
        let candidates = match self.mode {
            LocalMode::Auto => system_server_candidates(),
            LocalMode::Private => Vec::new(),
        };
        for url in candidates {
            if can_connect(&format!("{url}/postgres")) {
                tracing::info!(server = %url, "using the PostgreSQL server on localhost:5432");
                return Ok(url);
            }
        }
        self.private_cluster_url()
    }

    /// A database URL for `database`, creating the database if it does not exist.
    pub fn database_url(&self, database: &str) -> anyhow::Result<String> {
        let server = self.server_url()?;
        ensure_database(&server, database)?;
        Ok(format!("{server}/{database}"))
    }

    fn private_cluster_url(&self) -> anyhow::Result<String> {
        let url = format!("postgres://liuyan@127.0.0.1:{}", self.private_port);
        if can_connect(&format!("{url}/postgres")) {
            return Ok(url);
        }
        fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data folder {}", self.data_dir.display()))?;
        let lock_path = self.data_dir.join("pg.lock");
        let lock = fs::File::create(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;
        lock.lock()
            .context("cannot lock the private cluster's lock file")?;
        // Another process may have started it while we waited for the lock.
        if !can_connect(&format!("{url}/postgres")) {
            self.start_private_cluster()?;
        }
        drop(lock);
        for _ in 0..50 {
            if can_connect(&format!("{url}/postgres")) {
                return Ok(url);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!(
            "the private PostgreSQL cluster in {} did not accept connections; see {}",
            self.data_dir.display(),
            self.data_dir.join("pg.log").display()
        )
    }

    /// Where the cluster lives: the data folder, or, when we are root and the unprivileged user
    /// cannot reach it (a project under /root, say), a folder of its own under /var/tmp.
    fn cluster_dir(&self, run_as: &Option<String>) -> anyhow::Result<PathBuf> {
        let Some(user) = run_as else {
            return Ok(self.data_dir.clone());
        };
        if give_to(&self.data_dir, user)? {
            return Ok(self.data_dir.clone());
        }
        let key =
            hex::encode(&sha2::Sha256::digest(self.data_dir.to_string_lossy().as_bytes())[..6]);
        let alt = PathBuf::from(format!("/var/tmp/liuyan-pg-{key}"));
        fs::create_dir_all(&alt).with_context(|| format!("cannot create {}", alt.display()))?;
        if !give_to(&alt, user)? {
            bail!(
                "user {user} cannot write {} nor {}; set DATABASE_URL",
                self.data_dir.display(),
                alt.display()
            );
        }
        tracing::warn!(folder = %alt.display(), "user {user} cannot reach the data folder; the cluster lives here instead");
        Ok(alt)
    }

    /// Stop the private cluster (tests and `liuyan` never stop a system server).
    pub fn stop_private_cluster(&self) -> anyhow::Result<()> {
        let bin = server_bin_dir().ok_or_else(|| anyhow::anyhow!("no pg_ctl"))?;
        let run_as = unprivileged_user_if_root()?;
        let dir = self.cluster_dir(&run_as)?;
        command_as(&run_as, &bin.join("pg_ctl"))
            .arg("-D")
            .arg(dir.join("pg"))
            .args(["-m", "fast", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status()
            .context("failed to run pg_ctl stop")?;
        Ok(())
    }

    fn start_private_cluster(&self) -> anyhow::Result<()> {
        let bin = server_bin_dir().ok_or_else(|| {
            anyhow::anyhow!(
                "no PostgreSQL server found on localhost:5432 and no server binaries (initdb, \
                 pg_ctl) installed. Install them with `sudo apt-get install -y postgresql` \
                 (Debian/Ubuntu), or set DATABASE_URL to a server you have."
            )
        })?;
        let run_as = unprivileged_user_if_root()?;
        let dir = self.cluster_dir(&run_as)?;
        let pgdata = dir.join("pg");
        let log = dir.join("pg.log");
        if !pgdata.join("PG_VERSION").exists() {
            tracing::info!(pgdata = %pgdata.display(), "initialising a private PostgreSQL cluster");
            let status = command_as(&run_as, &bin.join("initdb"))
                .args(["-D"])
                .arg(&pgdata)
                .args([
                    "-U",
                    "liuyan",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ])
                .stdout(std::process::Stdio::null())
                .status()
                .context("failed to run initdb")?;
            if !status.success() {
                bail!("initdb failed for {}", pgdata.display());
            }
        }
        tracing::info!(
            port = self.private_port,
            "starting the private PostgreSQL cluster"
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            self.private_port,
            dir.display()
        );
        let status = command_as(&run_as, &bin.join("pg_ctl"))
            .arg("-D")
            .arg(&pgdata)
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "-w", "-t", "30", "start"])
            .stdout(std::process::Stdio::null())
            .status()
            .context("failed to run pg_ctl")?;
        if !status.success() {
            bail!(
                "pg_ctl could not start the private cluster; see {}",
                log.display()
            );
        }
        Ok(())
    }
}

fn system_server_candidates() -> Vec<String> {
    let mut users = vec!["postgres".to_owned()];
    if let Ok(user) = std::env::var("USER")
        && !user.is_empty()
        && user != "postgres"
    {
        users.push(user);
    }
    users
        .into_iter()
        .map(|u| format!("postgres://{u}@127.0.0.1:5432"))
        .collect()
}

fn can_connect(url: &str) -> bool {
    let sep = if url.contains('?') { '&' } else { '?' };
    PgConnection::establish(&format!("{url}{sep}connect_timeout=2")).is_ok()
}

/// Create `database` on `server` unless it exists (tolerating a concurrent creator).
pub fn ensure_database(server: &str, database: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(&format!("{server}/postgres"))
        .with_context(|| format!("cannot connect to {server}"))?;
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(database)
            .get_result(&mut conn)?;
    if !found.exists {
        let quoted = database.replace('"', "\"\"");
        // Two creators racing past the check: the loser gets either "already exists" or, when
        // both inserted into pg_database at once, a unique violation on its name index.
        if let Err(e) =
            diesel::sql_query(format!("CREATE DATABASE \"{quoted}\"")).execute(&mut conn)
            && !is_concurrent_create(&e)
        {
            return Err(e.into());
        }
    }
    Ok(())
}

fn is_concurrent_create(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(
        e,
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    ) || e.to_string().contains("already exists")
}

/// The folder with `initdb` and `pg_ctl`: pg_config's bindir, the newest
/// /usr/lib/postgresql/*/bin, or the PATH.
fn server_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|dir| has_tools(dir))
}

/// PostgreSQL refuses to run as root; when we are root, run it as `postgres` (created by the
/// Debian package) or `nobody`.
fn unprivileged_user_if_root() -> anyhow::Result<Option<String>> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return Ok(None);
    }
    for user in ["postgres", "nobody"] {
        if Command::new("id")
            .arg(user)
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Ok(Some(user.to_owned()));
        }
    }
    bail!("running as root and no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

fn command_as(user: &Option<String>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Give `dir` to `user`; whether `user` can then write it (every parent must let it through).
fn give_to(dir: &Path, user: &str) -> anyhow::Result<bool> {
    let status = Command::new("chown")
        .arg("-R")
        .arg(user)
        .arg(dir)
        .status()
        .context("cannot run chown")?;
    if !status.success() {
        bail!("cannot give {} to user {user}", dir.display());
    }
    Ok(Command::new("runuser")
        .args(["-u", user, "--", "test", "-w"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success()))
}
