//! Settings, read from environment variables (and the same names as `serve` flags).
//! README.md lists every variable with its default.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// The development signing key. Fine on a laptop; `production` refuses to start with it.
pub const DEV_JWT_KEY: &str = "dev:liuyan-development-signing-key-not-for-production";

/// The secret of [`DEV_JWT_KEY`] (refused in `production` under any key id).
fn dev_jwt_secret() -> &'static str {
    DEV_JWT_KEY
        .split_once(':')
        .map_or(DEV_JWT_KEY, |(_, secret)| secret)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// `production` refuses to start with a missing or development signing key.
    #[arg(
        long,
        env = "LIUYAN_PROFILE",
        value_enum,
        default_value = "development"
    )]
    pub profile: Profile,

    /// PostgreSQL URL. When unset: a server on localhost:5432 that accepts us, else a private
    /// cluster in LIUYAN_DATA_DIR.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// PostgreSQL URL of the one connection per process that LISTENs for token revocations. It
    /// needs a session of its own: when DATABASE_URL points at a pooler in transaction mode
    /// (PgBouncer), point this at the server itself. Default: DATABASE_URL.
    #[arg(long, env = "LIUYAN_LISTEN_DATABASE_URL")]
    pub listen_database_url: Option<String>,

    /// How often each process reloads the whole token revocation list as a backstop to the
    /// notifications, seconds (it also reloads after every reconnect).
    #[arg(long, env = "LIUYAN_REVOCATION_RELOAD_SECS", default_value_t = 30)]
    pub revocation_reload_secs: u64,

    /// Without DATABASE_URL: `auto` uses a server on localhost:5432 when it accepts us, else a
    /// private cluster; `private` always uses the private cluster.
    #[arg(long, env = "LIUYAN_LOCAL_DB", value_enum, default_value = "auto")]
    pub local_db: crate::db::local::LocalMode,

    /// Port of the private cluster.
    #[arg(long, env = "LIUYAN_LOCAL_DB_PORT", default_value_t = crate::db::local::DEFAULT_PRIVATE_PORT)]
    pub local_db_port: u16,

    /// Folder for the managed private PostgreSQL cluster.
    #[arg(long, env = "LIUYAN_DATA_DIR", default_value = ".liuyan")]
    pub data_dir: PathBuf,

    /// Address to listen on.
    #[arg(long, env = "LIUYAN_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "LIUYAN_PORT", default_value_t = 8080)]
    pub port: u16,

    /// HTTP worker threads (0 = one per core).
    #[arg(long, env = "LIUYAN_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// JWT keys as `kid:secret` pairs separated by commas. The first signs new tokens; all of
    /// them verify, so a key can be rotated without logging everyone out. Secrets of 32+ bytes.
    #[arg(long, env = "LIUYAN_JWT_KEYS", default_value = DEV_JWT_KEY, hide_default_value = true)]
    pub jwt_keys: String,

    /// `iss` of issued tokens (checked on every request).
    #[arg(long, env = "LIUYAN_JWT_ISSUER", default_value = "liuyan")]
    pub jwt_issuer: String,

    /// `aud` of issued tokens (checked on every request).
    #[arg(long, env = "LIUYAN_JWT_AUDIENCE", default_value = "liuyan-api")]
    pub jwt_audience: String,

    /// Lifetime of access tokens, seconds.
    #[arg(long, env = "LIUYAN_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Lifetime of refresh tokens, seconds.
    #[arg(long, env = "LIUYAN_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,

    /// Database connections (and database threads) per process; 0 = twice the cores.
    #[arg(long, env = "LIUYAN_DB_POOL_SIZE", default_value_t = 0)]
    pub db_pool_size: u32,

    /// How long a request waits for a database connection (a free database thread, or a new
    /// connection to a server that does not answer) before answering 503, milliseconds. Short,
    /// so that an outage or a saturated pool fails fast instead of queueing (docs/RELIABILITY.md).
    #[arg(long, env = "LIUYAN_DB_POOL_TIMEOUT_MS", default_value_t = 500)]
    pub db_pool_timeout_ms: u64,

    /// Downloads (CSV/XLSX) running at once per process; further ones get 503 at once. Each
    /// holds a database thread at its client's pace, so a few slow downloads must not take them
    /// all from the API. 0 = half the database threads (at least 1).
    #[arg(long, env = "LIUYAN_EXPORT_CONCURRENCY", default_value_t = 0)]
    pub export_concurrency: u32,

    /// Expensive reads running at once per process: searches with `q` (messages and the public
    /// board), statistics drill-downs, downloads, briefings. Further ones wait up to the pool
    /// timeout, then 503. 0 = the database threads minus one (at least 1), so at least one
    /// thread always stays for everything else.
    #[arg(long, env = "LIUYAN_EXPENSIVE_CONCURRENCY", default_value_t = 0)]
    pub expensive_concurrency: u32,

    /// Statement timeout of those expensive reads, milliseconds (0: none). A read cut off by it
    /// answers 503 saying so.
    #[arg(
        long,
        env = "LIUYAN_EXPENSIVE_STATEMENT_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub expensive_statement_timeout_ms: u64,

    /// Log format.
    #[arg(long, env = "LIUYAN_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// Log filter (tracing-subscriber EnvFilter syntax).
    #[arg(long, env = "LIUYAN_LOG", default_value = "info")]
    pub log_filter: String,

    /// Origins allowed by CORS, comma separated (`*` for any; empty for none).
    #[arg(long, env = "LIUYAN_CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,

    /// Largest accepted request body, bytes.
    #[arg(long, env = "LIUYAN_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,

    /// Largest accepted body of the sync API's batch imports, bytes.
    #[arg(long, env = "LIUYAN_SYNC_BODY_LIMIT", default_value_t = 16 * 1024 * 1024)]
    pub sync_body_limit_bytes: usize,

    /// Token-endpoint attempts per client address per minute (login, refresh, register).
    #[arg(long, env = "LIUYAN_AUTH_RATE_PER_MINUTE", default_value_t = 20)]
    pub auth_rate_per_minute: u32,

    /// General requests per client per second (sustained).
    #[arg(long, env = "LIUYAN_RATE_PER_SECOND", default_value_t = 100)]
    pub rate_per_second: u32,

    /// General burst size per client.
    #[arg(long, env = "LIUYAN_RATE_BURST", default_value_t = 200)]
    pub rate_burst: u32,

    /// How long a request's body may take to arrive, seconds (408 after it).
    #[arg(long, env = "LIUYAN_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,

    /// Messages one citizen account may submit per hour (0: no limit).
    #[arg(long, env = "LIUYAN_INTAKE_PER_HOUR", default_value_t = 10)]
    pub intake_per_hour: u32,

    /// Messages one citizen account may submit per day (0: no limit).
    #[arg(long, env = "LIUYAN_INTAKE_PER_DAY", default_value_t = 30)]
    pub intake_per_day: u32,

    /// How long Idempotency-Key records are kept, hours (at least 24).
    #[arg(long, env = "LIUYAN_IDEMPOTENCY_TTL_HOURS", default_value_t = 24)]
    pub idempotency_ttl_hours: u32,

    /// Prefix of tracking numbers (`GS-2026-000123`): the province's abbreviation.
    #[arg(long, env = "LIUYAN_TRACKING_PREFIX", default_value = "GS")]
    pub tracking_prefix: String,

    /// Run pending migrations at start-up.
    #[arg(long, env = "LIUYAN_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,

    /// Keep diesel's per-connection cache of named prepared statements. Turn it off behind a
    /// pooler in transaction mode that cannot track them (PgBouncer before 1.21, or without
    /// `max_prepared_statements`): queries are then sent with unnamed statements, which any
    /// pooler passes through (docs/SCALING.md).
    #[arg(long, env = "LIUYAN_DB_STATEMENT_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub db_statement_cache: bool,

    /// How often the deadline scheduler looks for due-soon and overdue deadlines, seconds
    /// (0 turns it off in this process; other replicas still run it).
    #[arg(long, env = "LIUYAN_SCHEDULER_INTERVAL_SECS", default_value_t = 30)]
    pub scheduler_interval_secs: u64,

    /// How often the statistics' pending changes are folded into the aggregates, milliseconds
    /// (0 turns it off in this process). Answers are exact either way; folding keeps the
    /// unfolded part, which every statistics request adds up, small.
    #[arg(long, env = "LIUYAN_STATS_FOLD_INTERVAL_MS", default_value_t = 2000)]
    pub stats_fold_interval_ms: u64,

    /// How often the webhook dispatcher looks for due deliveries, milliseconds (0 turns it off
    /// in this process; other replicas still deliver).
    #[arg(long, env = "LIUYAN_WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,

    /// Deliveries a dispatcher claims per pass (and sends concurrently).
    #[arg(long, env = "LIUYAN_WEBHOOK_BATCH", default_value_t = 16)]
    pub webhook_batch: u32,

    /// How long a claimed delivery stays with its dispatcher, seconds; after that (a crashed
    /// replica) another one takes it. Longer than the 10 s request timeout.
    #[arg(long, env = "LIUYAN_WEBHOOK_LEASE_SECS", default_value_t = 60)]
    pub webhook_lease_secs: u64,

    /// Factor applied to the retry schedule (1 = 5 s, 30 s, 2 min … 8 h, at least 24 h in all;
    /// tests use a tiny one).
    #[arg(long, env = "LIUYAN_WEBHOOK_BACKOFF_SCALE", default_value_t = 1.0)]
    pub webhook_backoff_scale: f64,

    /// Allow webhook targets on loopback, private, link-local and other non-public addresses
    /// (cloud metadata addresses stay refused). Off: such targets are refused (SSRF guard).
    #[arg(long, env = "LIUYAN_WEBHOOK_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private_targets: bool,

    /// The time source: the system clock, or a manual clock in tests.
    #[arg(skip)]
    pub clock: crate::clock::Clock,
}

impl Settings {
    /// The defaults, as if no variable were set. Tests start from here.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            settings: Settings,
        }
        // Parse from an empty command line without reading the environment.
        let mut s = <Only as clap::Parser>::parse_from(["liuyan"]).settings;
        s.database_url = None;
        s.listen_database_url = None;
        s.jwt_keys = DEV_JWT_KEY.to_owned();
        s
    }

    pub fn local_database(&self) -> crate::db::local::LocalDatabase {
        crate::db::local::LocalDatabase {
            data_dir: self.data_dir.clone(),
            private_port: self.local_db_port,
            mode: self.local_db,
        }
    }

    /// The pool size in force: twice the cores unless configured (measured best for single-row
    /// reads on 2 cores, docs/PERFORMANCE.md).
    pub fn pool_size(&self) -> u32 {
        match self.db_pool_size {
            0 => std::thread::available_parallelism()
                .map_or(4, |n| 2 * n.get() as u32)
                .max(2),
            n => n,
        }
    }

    /// Downloads allowed at once with `db_threads` database threads (see `export_concurrency`).
    pub fn export_slots(&self, db_threads: u32) -> usize {
        match self.export_concurrency {
            0 => (db_threads as usize / 2).max(1),
            n => n as usize,
        }
    }

    /// The expensive-read budget with `db_threads` database threads (see
    /// `expensive_concurrency`): never all of them when there are two or more.
    pub fn expensive_budget(&self, db_threads: u32) -> crate::db::ExpensiveBudget {
        let most = (db_threads as usize).saturating_sub(1).max(1);
        let size = match self.expensive_concurrency {
            0 => most,
            n => (n as usize).min(most),
        };
        crate::db::ExpensiveBudget::new(
            size,
            Duration::from_millis(self.expensive_statement_timeout_ms),
        )
    }

    /// What one citizen account may submit (`LIUYAN_INTAKE_PER_HOUR`, `LIUYAN_INTAKE_PER_DAY`).
    pub fn intake_quota(&self) -> crate::domain::quota::IntakeQuota {
        crate::domain::quota::IntakeQuota {
            per_hour: self.intake_per_hour,
            per_day: self.intake_per_day,
        }
    }

    pub fn pool_timeout(&self) -> Duration {
        Duration::from_millis(self.db_pool_timeout_ms)
    }

    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Reject settings that are unsafe or nonsensical before anything starts.
    pub fn check(&self) -> anyhow::Result<()> {
        let keys = crate::auth::jwt::parse_key_list(&self.jwt_keys)?;
        if self.profile == Profile::Production {
            for (kid, secret) in &keys {
                if secret.contains(dev_jwt_secret()) {
                    anyhow::bail!(
                        "LIUYAN_PROFILE=production needs LIUYAN_JWT_KEYS set to your own keys: \
                         key `{kid}` uses the development secret, which is public"
                    );
                }
                if let Some(why) = crate::auth::jwt::secret_weakness(secret) {
                    anyhow::bail!(
                        "LIUYAN_PROFILE=production refuses the secret of LIUYAN_JWT_KEYS key \
                         `{kid}`: {why}; generate one, e.g. `openssl rand -base64 48`"
                    );
                }
            }
            if self.database_url.is_none() {
                anyhow::bail!("LIUYAN_PROFILE=production needs DATABASE_URL");
            }
        }
        if !(1..=3600).contains(&self.revocation_reload_secs) {
            anyhow::bail!("LIUYAN_REVOCATION_RELOAD_SECS must be 1 to 3600");
        }
        if self.idempotency_ttl_hours < 24 {
            anyhow::bail!("LIUYAN_IDEMPOTENCY_TTL_HOURS must be at least 24");
        }
        if !(1..=4).contains(&self.tracking_prefix.len())
            || !self.tracking_prefix.bytes().all(|b| b.is_ascii_uppercase())
        {
            anyhow::bail!("LIUYAN_TRACKING_PREFIX must be 1 to 4 capital letters");
        }
        if self.db_pool_size > 1000 {
            anyhow::bail!("LIUYAN_DB_POOL_SIZE must be at most 1000");
        }
        if self.export_concurrency as usize > self.pool_size() as usize {
            anyhow::bail!(
                "LIUYAN_EXPORT_CONCURRENCY must be at most the database threads ({}): each \
                 download holds one",
                self.pool_size()
            );
        }
        if self.pool_size() > 1 && self.expensive_concurrency >= self.pool_size() {
            anyhow::bail!(
                "LIUYAN_EXPENSIVE_CONCURRENCY must be below the database threads ({}): at least \
                 one must stay free for cheap requests",
                self.pool_size()
            );
        }
        if self.rate_per_second == 0 || self.rate_burst == 0 || self.auth_rate_per_minute == 0 {
            anyhow::bail!("rate limits must be at least 1");
        }
        if self.webhook_batch == 0 || self.webhook_batch > 1000 {
            anyhow::bail!("LIUYAN_WEBHOOK_BATCH must be 1 to 1000");
        }
        if self.webhook_lease_secs < 15 {
            anyhow::bail!(
                "LIUYAN_WEBHOOK_LEASE_SECS must be at least 15 (requests time out after 10 s)"
            );
        }
        if !(self.webhook_backoff_scale.is_finite() && self.webhook_backoff_scale > 0.0) {
            anyhow::bail!("LIUYAN_WEBHOOK_BACKOFF_SCALE must be a positive number");
        }
        if self.profile == Profile::Production && self.webhook_backoff_scale < 1.0 {
            anyhow::bail!("LIUYAN_WEBHOOK_BACKOFF_SCALE below 1 would give up in less than 24 h");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_the_development_key_and_a_missing_database() {
        let mut s = Settings::defaults();
        assert!(s.check().is_ok(), "development accepts the defaults");
        s.profile = Profile::Production;
        s.database_url = Some("postgres://db/liuyan".into());
        let err = s.check().unwrap_err().to_string();
        assert!(err.contains("LIUYAN_JWT_KEYS"), "{err}");
        s.jwt_keys = format!("prod:{STRONG}");
        assert!(s.check().is_ok());
        s.database_url = None;
        assert!(s.check().unwrap_err().to_string().contains("DATABASE_URL"));
    }

    /// `openssl rand -base64 32`.
    const STRONG: &str = "q3Nf0yZ8vR2mKd7LxA1pWt9sHc4uJe6bGi5oYnQ+Vk0=";

    #[test]
    fn production_refuses_the_development_secret_under_any_key_id() {
        let mut s = Settings::defaults();
        s.profile = Profile::Production;
        s.database_url = Some("postgres://db/liuyan".into());
        let dev = dev_jwt_secret();
        for keys in [
            format!("prod:{dev}"),
            format!("2026-12:{dev}"),
            format!("new:{STRONG},old:{dev}"),
            format!("prod:{dev}-and-more"),
        ] {
            s.jwt_keys = keys.clone();
            let err = s.check().unwrap_err().to_string();
            assert!(err.contains("development secret"), "{keys}: {err}");
            assert!(
                !err.contains(dev),
                "the message does not repeat the secret: {err}"
            );
        }
        // Development accepts it (under any id).
        s.profile = Profile::Development;
        assert!(s.check().is_ok());
    }

    #[test]
    fn production_refuses_weak_secrets() {
        let mut s = Settings::defaults();
        s.profile = Profile::Production;
        s.database_url = Some("postgres://db/liuyan".into());
        for weak in [
            "k".repeat(40),
            "0123456789abcdef0123456789abcdef".to_owned(),
            "9f3a1c07e2b84d6650aa1f93c7d2e8b4".to_owned(),
        ] {
            s.jwt_keys = format!("new:{STRONG},prod:{weak}");
            let err = s.check().unwrap_err().to_string();
            assert!(err.contains("key `prod`"), "{weak}: {err}");
            assert!(
                !err.contains(&weak),
                "the message does not repeat the secret: {err}"
            );
        }
        s.jwt_keys = format!("prod:{STRONG}");
        assert!(s.check().is_ok());
        // Development keeps accepting test keys of 32 bytes.
        s.profile = Profile::Development;
        s.jwt_keys = "k1:0123456789abcdef0123456789abcdef".into();
        assert!(s.check().is_ok());
    }

    #[test]
    fn nonsense_settings_are_refused() {
        let mut s = Settings::defaults();
        s.jwt_keys = "k:short".into();
        assert!(s.check().is_err());
        let mut s = Settings::defaults();
        s.idempotency_ttl_hours = 1;
        assert!(s.check().is_err());
        let mut s = Settings::defaults();
        s.db_pool_size = 5000;
        assert!(s.check().is_err());
        assert!(
            Settings::defaults().pool_size() >= 2,
            "0 means twice the cores"
        );
        let mut s = Settings::defaults();
        s.db_pool_size = 4;
        s.export_concurrency = 5;
        assert!(s.check().unwrap_err().to_string().contains("EXPORT"));
        s.export_concurrency = 4;
        assert!(s.check().is_ok());
    }

    #[test]
    fn downloads_get_half_the_database_threads_unless_set() {
        let mut s = Settings::defaults();
        assert_eq!(s.export_slots(8), 4);
        assert_eq!(s.export_slots(1), 1, "at least one");
        s.export_concurrency = 3;
        assert_eq!(s.export_slots(8), 3);
    }

    #[test]
    fn expensive_reads_leave_a_thread_for_cheap_ones() {
        let mut s = Settings::defaults();
        assert_eq!(s.expensive_budget(4).size(), 3);
        assert_eq!(s.expensive_budget(1).size(), 1, "at least one");
        assert_eq!(
            s.expensive_budget(4).statement_timeout(),
            Duration::from_secs(5)
        );
        s.expensive_concurrency = 2;
        assert_eq!(s.expensive_budget(8).size(), 2);
        // A test pool smaller than the setting still keeps one thread free.
        assert_eq!(s.expensive_budget(2).size(), 1);
        s.db_pool_size = 4;
        s.expensive_concurrency = 4;
        assert!(s.check().unwrap_err().to_string().contains("EXPENSIVE"));
        s.expensive_concurrency = 3;
        assert!(s.check().is_ok());
    }

    #[test]
    fn cors_origins_are_a_comma_list() {
        let mut s = Settings::defaults();
        assert!(s.cors_origin_list().is_empty());
        s.cors_origins = " https://a.example , https://b.example,".into();
        assert_eq!(
            s.cors_origin_list(),
            vec!["https://a.example", "https://b.example"]
        );
    }
}
