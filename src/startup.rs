//! Build the application from settings: database, keys, router, spec, middleware, server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, web};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::{AppExt, UtoipaApp, scope};
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::auth::jwt::JwtKeys;
use crate::auth::revocation::Revocations;
use crate::configuration::Settings;
use crate::db::{Db, PoolOptions, build_pool};
use crate::http::export::ExportSlots;
use crate::http::extract::BodyLimit;
use crate::http::fallback::{RouteTable, not_found_or_method_not_allowed};
use crate::http::metrics::Metrics;
use crate::http::rate_limit::RateLimits;
use crate::routes::health::SpecJson;
use crate::{http, openapi, routes, telemetry};

/// Register every operation. The router and the OpenAPI document are both built from this.
fn register<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    app.service(routes::health::healthz)
        .service(routes::health::readyz)
        .service(routes::health::metrics)
        .service(routes::api_scope(
            scope::scope("/api/v1")
                .wrap(from_fn(http::idempotency::idempotency))
                // Outermost: a role that may not call the operation is refused before its key
                // is claimed or its body read.
                .wrap(from_fn(crate::auth::guard::enforce)),
        ))
        .service(routes::open311_scope(
            scope::scope(routes::open311::PREFIX).wrap(from_fn(http::idempotency::idempotency)),
        ))
}

/// The OpenAPI document of this build.
pub fn openapi_spec() -> utoipa::openapi::OpenApi {
    let (_, doc) = register(
        App::new()
            .into_utoipa_app()
            .openapi(<openapi::ApiDoc as utoipa::OpenApi>::openapi()),
    )
    .split_for_parts();
    openapi::finish(doc)
}

/// Resolve the database URL: `DATABASE_URL`, else the managed local PostgreSQL.
pub fn database_url(settings: &Settings) -> anyhow::Result<String> {
    match &settings.database_url {
        Some(url) => Ok(url.clone()),
        None => settings.local_database().database_url("liuyan"),
    }
}

pub struct Application {
    server: Server,
    port: u16,
    pub db: Db,
    /// The download slots (shared with the handlers).
    pub exports: ExportSlots,
    background: Background,
}

/// The background loops (scheduler, statistics fold, webhooks, housekeeping, the token
/// revocation listener) and the signal that stops them.
struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The revocation listener's task: true once its thread has stopped and closed its
    /// connection.
    listener: Option<tokio::task::JoinHandle<bool>>,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every background loop and database thread stopped and every database connection was
    /// closed: nothing of ours is inside libpq any more.
    Complete,
    /// A wait ran out (a database that does not answer): a thread may still be inside libpq,
    /// and the C library's exit handlers must not run under it (`main` leaves with `_exit`).
    Incomplete,
}

impl Application {
    /// Connect, migrate (when configured) and bind; the server runs once `run_until_stopped`
    /// is awaited.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        settings.check()?;
        let url = {
            let s = settings.clone();
            web::block(move || database_url(&s)).await??
        };
        // The revocation listener's own connection goes to the same database unless told.
        settings
            .listen_database_url
            .get_or_insert_with(|| url.clone());
        let opts = PoolOptions {
            max_size: settings.pool_size(),
            connection_timeout: settings.pool_timeout(),
            statement_cache: settings.db_statement_cache,
        };
        let pool = {
            let url = url.clone();
            web::block(move || build_pool(&url, &opts)).await??
        };
        if settings.migrate_on_start {
            let pool = pool.clone();
            web::block(move || -> anyhow::Result<usize> {
                let mut conn = pool.get()?;
                crate::db::run_migrations(&mut conn)
            })
            .await??;
        }
        Self::build_with_pool(settings, Db::new(pool))
    }

    pub fn build_with_pool(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
        let port = listener.local_addr()?.port();
        let exports = ExportSlots::new(settings.export_slots(db.pool().max_size()));
        db.set_expensive_budget(settings.expensive_budget(db.pool().max_size()));
        let (server, background) = run(listener, settings, db.clone(), exports.clone())?;
        Ok(Self {
            server,
            port,
            db,
            exports,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until stopped (SIGTERM/SIGINT or the server handle): in-flight requests finish
    /// (up to 30 s; SIGINT: none), then the background loops finish their current pass and
    /// stop (the revocation listener's thread closes its connection), then the database
    /// threads end and are joined, then the pool is closed. When this returns `Complete`, no
    /// thread of ours is inside libpq and no connection is left for another thread to close:
    /// the process may exit (docs/RELIABILITY.md, "Shutdown").
    pub async fn run_until_stopped(self) -> std::io::Result<Shutdown> {
        let served = self.server.await;
        let Background {
            stop,
            tasks,
            listener,
        } = self.background;
        let _ = stop.send(true);
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a background task ended abnormally");
            }
        }
        let mut complete = match listener {
            Some(task) => task.await.unwrap_or(false),
            None => true,
        };
        let db = self.db;
        let db_done = actix_web::rt::task::spawn_blocking(move || db.shutdown(SHUTDOWN_DB_WAIT))
            .await
            .unwrap_or(false);
        complete &= db_done;
        if complete {
            tracing::info!("database threads stopped, connections closed; shutdown complete");
        } else {
            tracing::warn!(
                database = db_done,
                "shutdown incomplete: a thread may still be inside libpq"
            );
        }
        served.map(|()| {
            if complete {
                Shutdown::Complete
            } else {
                Shutdown::Incomplete
            }
        })
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// How long shutdown waits for the database threads to finish their last jobs.
const SHUTDOWN_DB_WAIT: Duration = Duration::from_secs(10);

fn run(
    listener: TcpListener,
    settings: Settings,
    db: Db,
    exports: ExportSlots,
) -> anyhow::Result<(Server, Background)> {
    let keys = web::Data::new(JwtKeys::new(
        &settings.jwt_keys,
        &settings.jwt_issuer,
        &settings.jwt_audience,
        settings.access_token_ttl_secs,
    )?);
    let revocations = Revocations::new(settings.access_token_ttl_secs);
    let revocations_data = web::Data::new(revocations.clone());
    let spec = openapi_spec();
    let spec_json = web::Data::new(SpecJson(openapi::to_pretty_json(&spec)));
    let route_table = web::Data::new(RouteTable::from_openapi(&spec));
    let operation_rules = web::Data::new(crate::auth::guard::OperationRules::from_openapi(&spec));
    let metrics = web::Data::new(Metrics::new()?);
    let limits = web::Data::new(RateLimits::new(
        settings.auth_rate_per_minute,
        settings.rate_per_second,
        settings.rate_burst,
    ));
    let db_data = web::Data::new(db.clone());
    let export_slots = web::Data::new(exports);
    let settings_data = web::Data::new(settings.clone());
    let cors_origins = Arc::new(settings.cors_origin_list());
    let body_limit = BodyLimit {
        default: settings.body_limit_bytes,
        sync: settings.sync_body_limit_bytes,
    };

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut revocation_listener = None;
    if settings.scheduler_interval_secs > 0 {
        tasks.push(crate::scheduler::spawn(
            db.clone(),
            settings.clock.clone(),
            Duration::from_secs(settings.scheduler_interval_secs),
            stopped.clone(),
        ));
    }
    if settings.stats_fold_interval_ms > 0 {
        tasks.push(crate::scheduler::spawn_stats_fold(
            db.clone(),
            Duration::from_millis(settings.stats_fold_interval_ms),
            stopped.clone(),
        ));
    }
    if settings.webhook_poll_ms > 0 {
        tasks.push(crate::webhooks::spawn(
            crate::webhooks::Dispatcher::new(db.clone(), &settings)?,
            Duration::from_millis(settings.webhook_poll_ms),
            stopped.clone(),
        ));
    }
    match settings
        .listen_database_url
        .clone()
        .or_else(|| settings.database_url.clone())
    {
        Some(url) => {
            revocation_listener = Some(crate::auth::revocation_listener::spawn(
                revocations,
                url,
                Duration::from_secs(settings.revocation_reload_secs),
                stopped.clone(),
            ))
        }
        None => tracing::error!(
            "no database URL for the token revocation listener: this process enforces only the \
             revocations it writes itself"
        ),
    }
    tasks.push(spawn_housekeeping(
        db,
        limits.clone().into_inner(),
        settings.idempotency_ttl_hours,
        stopped,
    ));

    let server =
        http::wire::serve(listener, settings.workers, move || {
            let (app, _) = register(
                App::new()
                    .app_data(keys.clone())
                    .app_data(revocations_data.clone())
                    .app_data(spec_json.clone())
                    .app_data(route_table.clone())
                    .app_data(operation_rules.clone())
                    .app_data(metrics.clone())
                    .app_data(limits.clone())
                    .app_data(db_data.clone())
                    .app_data(export_slots.clone())
                    .app_data(settings_data.clone())
                    .app_data(body_limit)
                    .app_data(web::PayloadConfig::new(body_limit.default))
                    .into_utoipa_app(),
            )
            .split_for_parts();
            app.service(web::redirect("/docs", "/docs/"))
                .service(SwaggerUi::new("/docs/{_:.*}").config(
                    SwaggerConfig::new(["/api/v1/openapi.json"]).persist_authorization(true),
                ))
                .default_service(web::to(not_found_or_method_not_allowed))
                .wrap(from_fn(http::rate_limit::limit))
                // Without configured origins there is no CORS layer at all: a restrictive one would
                // reject same-origin browser requests that carry an Origin header (e.g. from /docs).
                .wrap(Condition::new(
                    !cors_origins.is_empty(),
                    cors(&cors_origins),
                ))
                .wrap(TracingLogger::<telemetry::RequestSpan>::new())
                .wrap(from_fn(http::metrics::record))
                .wrap(from_fn(http::problem::request_context))
        })?;
    Ok((
        server,
        Background {
            stop,
            tasks,
            listener: revocation_listener,
        },
    ))
}

fn cors(origins: &[String]) -> Cors {
    let base = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allowed_headers([
            "authorization",
            "content-type",
            "if-match",
            "if-none-match",
            "idempotency-key",
            "x-request-id",
        ])
        .expose_headers([
            "etag",
            "location",
            "x-request-id",
            "retry-after",
            "idempotent-replayed",
        ])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        return base.allow_any_origin();
    }
    origins.iter().fold(base, |c, o| c.allowed_origin(o))
}

/// Periodic clean-up: expired idempotency records, refresh tokens and token revocations, idle
/// rate-limit entries.
/// Safe with several replicas (plain deletes of old rows).
fn spawn_housekeeping(
    db: Db,
    limits: Arc<RateLimits>,
    idempotency_ttl_hours: u32,
    mut stop: crate::scheduler::StopSignal,
) -> tokio::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(600));
        while crate::scheduler::tick_or_stop(&mut tick, &mut stop).await {
            limits.forget_idle();
            let result = db
                .run(move |conn| {
                    let keys =
                        crate::store::idempotency::purge_older_than(conn, idempotency_ttl_hours)?;
                    let tokens = crate::store::refresh_tokens::purge_expired(conn)?;
                    let revocations = crate::store::token_revocations::purge_expired(conn)?;
                    Ok::<_, crate::error::ApiError>((keys, tokens, revocations))
                })
                .await;
            match result {
                Ok((keys, tokens, revocations)) => {
                    tracing::debug!(keys, tokens, revocations, "housekeeping done")
                }
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
        }
    })
}
