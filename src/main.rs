//! The `liuyan` command: serve the API (default), migrate, create users, seed demo data, print
//! the OpenAPI document.

use std::io::Read;

use anyhow::Context;
use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use liuyan::configuration::Settings;
use liuyan::domain::ids::{UnitId, UserId};
use liuyan::domain::role::Role;
use liuyan::startup::{Application, Shutdown, database_url, openapi_spec};
use liuyan::{auth, db, openapi, seed, store, telemetry};

#[derive(Parser)]
#[command(name = "liuyan", version, about = "The leadership message board API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve {
        /// Load the demo province first (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Create a user. The password comes from LIUYAN_NEW_USER_PASSWORD or, when that is unset,
    /// from the first line of standard input — never from an argument.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Unit id (required for handler, unit_admin, reviewer).
        #[arg(long)]
        unit: Option<UnitId>,
        /// Region subtree (required for supervisor).
        #[arg(long)]
        scope_region: Option<String>,
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// Load the demo province: regions, units, leaders and one user of every role.
    SeedDemo,
    /// Print the OpenAPI document to stdout.
    Openapi,
    /// Print the access model's table (relations x field classes) as the README shows it.
    AccessModel,
    /// Print the message status machine as a Mermaid diagram, as docs/ARCHITECTURE.md shows it.
    StatusDiagram,
    /// Fill the database with synthetic messages for benchmarks (after the demo data). Only in
    /// builds with the `bench-seed` feature (scripts/bench); elsewhere it says how to get it.
    #[cfg_attr(not(feature = "bench-seed"), command(hide = true))]
    SeedBench {
        /// How many messages to add.
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
    },
    /// Recompute the statistics aggregates from the messages (repairs; blocks message writes
    /// while it runs).
    StatsRebuild,
}

#[cfg(feature = "bench-seed")]
fn seed_bench(settings: &Settings, messages: usize) -> anyhow::Result<()> {
    let url = database_url(settings)?;
    let started = std::time::Instant::now();
    let r = liuyan::bench::seed_bench(&url, messages)?;
    println!(
        "seed-bench: {} messages and {} ledger events in total; loaded in {:.1} s, indexes and analyze {:.1} s, {:.1} s in all",
        r.messages,
        r.events,
        r.seconds_load,
        r.seconds_indexes,
        started.elapsed().as_secs_f64()
    );
    for (phase, seconds) in &r.phases {
        println!("  {phase}: {seconds:.1} s");
    }
    Ok(())
}

/// Without the feature the loader is not compiled in (it stays out of the release image).
#[cfg(not(feature = "bench-seed"))]
fn seed_bench(_settings: &Settings, _messages: usize) -> anyhow::Result<()> {
    anyhow::bail!(
        "seed-bench is not part of this build; build it with \
         `cargo build --release --features bench-seed` (scripts/bench does)"
    )
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Openapi => {
            print!("{}", openapi::to_pretty_json(&openapi_spec()));
            Ok(())
        }
        Command::AccessModel => {
            print!("{}", liuyan::app::relations::relations_markdown());
            Ok(())
        }
        Command::StatusDiagram => {
            print!("{}", liuyan::domain::status_diagram::status_diagram());
            Ok(())
        }
        Command::Migrate => {
            telemetry::init(settings.log_format, &settings.log_filter);
            let mut conn = connect(&settings)?;
            let n = db::run_migrations(&mut conn)?;
            println!("applied {n} migration(s)");
            Ok(())
        }
        Command::SeedDemo => {
            telemetry::init(settings.log_format, &settings.log_filter);
            seed_demo(&settings)
        }
        Command::StatsRebuild => {
            telemetry::init(settings.log_format, &settings.log_filter);
            let started = std::time::Instant::now();
            let mut conn = connect(&settings)?;
            let cells = liuyan::store::statistics::rebuild(&mut conn)
                .map_err(|e| anyhow::anyhow!("rebuild: {e}"))?;
            println!(
                "stats-rebuild: {cells} cells in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::SeedBench { messages } => {
            telemetry::init(settings.log_format, &settings.log_filter);
            seed_bench(&settings, messages)
        }
        Command::CreateUser {
            email,
            role,
            unit,
            scope_region,
            display_name,
        } => {
            telemetry::init(settings.log_format, &settings.log_filter);
            create_user(&settings, email, role, unit, scope_region, display_name)
        }
        Command::Serve { demo } => {
            telemetry::init(settings.log_format, &settings.log_filter);
            if demo {
                seed_demo(&settings)?;
            }
            serve(settings)
        }
    }
}

fn connect(settings: &Settings) -> anyhow::Result<PgConnection> {
    let url = database_url(settings)?;
    // The same connect timeout and keepalives as the pool: a deploy job never hangs on a
    // database that does not answer.
    let mut conn = PgConnection::establish(&liuyan::db::with_connection_defaults(&url))
        .with_context(|| "cannot connect to the database")?;
    // Behind a transaction pooler that cannot track named prepared statements (docs/SCALING.md).
    if !settings.db_statement_cache {
        conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
    }
    Ok(conn)
}

fn seed_demo(settings: &Settings) -> anyhow::Result<()> {
    let mut conn = connect(settings)?;
    db::run_migrations(&mut conn)?;
    let r = seed::seed_demo(&mut conn)?;
    println!(
        "demo data: {} regions, {} units, {} leaders, {} users, {} messages added (0 everywhere means it was already there)",
        r.regions, r.units, r.leaders, r.users, r.messages
    );
    println!("demo accounts (email / password / role):");
    for u in seed::USERS {
        println!("  {:<28} {:<22} {}", u.email, u.password, u.role);
    }
    Ok(())
}

fn create_user(
    settings: &Settings,
    email: String,
    role: Role,
    unit: Option<UnitId>,
    scope_region: Option<String>,
    display_name: String,
) -> anyhow::Result<()> {
    let password = match std::env::var("LIUYAN_NEW_USER_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_to_string(&mut line)?;
            line.lines().next().unwrap_or("").to_owned()
        }
    };
    let display_name = if display_name.is_empty() {
        email.clone()
    } else {
        display_name
    };
    let (email, display_name) =
        liuyan::routes::auth::check_new_account(&email, &password, &display_name)
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    let mut conn = connect(settings)?;
    db::run_migrations(&mut conn)?;
    let new = store::users::NewUser {
        id: UserId::new(),
        email,
        password_hash: auth::password::hash_password(&password)?,
        display_name,
        role,
        unit_id: unit,
        scope_region_code: scope_region,
        leader_id: None,
    };
    let user =
        store::users::insert(&mut conn, &new).map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    println!(
        "created user {} ({}) with role {}",
        user.email, user.id, user.role
    );
    Ok(())
}

fn describe(e: &liuyan::error::ApiError) -> String {
    let p = e.to_problem();
    match p.errors {
        Some(errors) => errors
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        None => p.detail,
    }
}

#[actix_web::main]
async fn serve(settings: Settings) -> anyhow::Result<()> {
    let host = settings.host.clone();
    let app = Application::build(settings).await?;
    let url = format!("http://{host}:{}", app.port());
    tracing::info!(%url, "liuyan is listening");
    println!("liuyan is listening on {url} — API docs: {url}/docs/");
    if app.run_until_stopped().await? == Shutdown::Incomplete {
        leave_now();
    }
    Ok(())
}

/// End the process without the C library's exit handlers, for when a thread may still be
/// inside libpq: `exit()` would run OpenSSL's cleanup under it (a SIGSEGV). Everything of ours
/// that matters is done by then (requests answered, transactions committed or rolled back).
fn leave_now() -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` takes no pointers and never returns; skipping the exit handlers is the
    // point (nothing of ours relies on them: output is flushed above).
    unsafe { libc::_exit(0) }
}
