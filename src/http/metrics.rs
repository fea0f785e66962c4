//! Prometheus metrics: request counts and latency histograms by route pattern and status, the
//! passes of the background loops, and the state of the database pool (read at scrape time).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::db::Db;

/// The methods that get a label of their own.
const KNOWN_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Completed passes of the background loops by `task` (`scheduler`, `webhooks`) and
    /// `result` (`ok`, `error`): a loop that stalls shows as a flat line, and a test can wait
    /// for the passes after a moment instead of sleeping.
    pub background_passes: IntCounterVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("liuyan".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )?;
        let background_passes = IntCounterVec::new(
            Opts::new(
                "background_passes_total",
                "Completed passes of the background loops by task and result",
            ),
            &["task", "result"],
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "Open database connections")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Idle database connections")?;
        let pool_max = IntGauge::new("db_pool_max_connections", "Configured pool size")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(background_passes.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            background_passes,
            pool_connections,
            pool_idle,
            pool_max,
        })
    }

    pub fn render(&self, db: &Db) -> String {
        let state = db.pool().state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        self.pool_max.set(i64::from(db.pool().max_size()));
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // Labels take known values only: any other method is one label, and routes are patterns
    // (unmatched paths are one label), so junk requests cannot grow the series.
    let method = KNOWN_METHODS
        .iter()
        .find(|m| **m == req.method().as_str())
        .copied()
        .unwrap_or("other");
    let started = Instant::now();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        // The route pattern, not the path: ids must not explode the label set.
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = res.status().as_u16().to_string();
        let labels = [method, route.as_str(), status.as_str()];
        metrics.requests.with_label_values(&labels).inc();
        metrics
            .latency
            .with_label_values(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}
