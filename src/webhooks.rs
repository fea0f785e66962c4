//! The webhook dispatcher: claims due deliveries from the outbox (`FOR UPDATE SKIP LOCKED`
//! leases, safe with any number of replicas), sends them signed as Standard Webhooks, logs each
//! attempt and schedules the next one (exponential backoff with jitter, at least 24 h in all)
//! or gives up. And the SSRF guard's I/O half: target hosts are resolved and every address
//! vetted, at subscription time and again at each delivery, and the connection goes to the
//! vetted addresses (a resolver of our own), so a second DNS answer cannot slip past.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;

use crate::configuration::Settings;
use crate::db::Db;
use crate::domain::addresses::permitted;
use crate::domain::webhooks::{decode_secret, parse_target, retry_delay, sign};
use crate::error::ApiError;
use crate::store::webhooks::{self as store, Claimed, Outcome};

/// How long a DNS answer may take when a target is vetted.
const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// Resolve `host` and check every address it has: all must be permitted (one refused address
/// refuses the target: DNS answers rotate).
async fn resolve_vetted(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return Err(format!("the host `{host}` does not resolve: {e}")),
            Err(_) => return Err(format!("resolving the host `{host}` timed out")),
        };
    if addrs.is_empty() {
        return Err(format!("the host `{host}` has no address"));
    }
    for a in &addrs {
        check_ip(a.ip(), allow_private)?;
    }
    Ok(addrs)
}

fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), String> {
    permitted(ip, allow_private).map_err(|r| {
        format!(
            "the target resolves to {ip}, {}: webhook targets must be public addresses",
            r.describe()
        )
    })
}

/// Vet a target URL: its form, then every address its host resolves to.
pub async fn vet_target(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = parse_target(url)?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), allow_private),
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), allow_private),
        Some(url::Host::Domain(d)) => resolve_vetted(d, port, allow_private).await.map(|_| ()),
        None => Err("the URL has no host".into()),
    }
}

/// The HTTP client's resolver: answers only with vetted addresses, so the connection goes
/// where the guard looked.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_vetted(&host, 0, allow)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sends deliveries. One per process; `run_once` is safe to call from several at once.
#[derive(Clone)]
pub struct Dispatcher {
    db: Db,
    client: reqwest::Client,
    batch: i64,
    lease_secs: i64,
    scale: f64,
    allow_private: bool,
}

impl Dispatcher {
    pub fn new(db: Db, settings: &Settings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the host itself, past the guard.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: settings.webhook_allow_private_targets,
            }))
            .user_agent(concat!("liuyan-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Dispatcher {
            db,
            client,
            batch: i64::from(settings.webhook_batch),
            lease_secs: settings.webhook_lease_secs as i64,
            scale: settings.webhook_backoff_scale,
            allow_private: settings.webhook_allow_private_targets,
        })
    }

    /// One pass: claim due deliveries, send them concurrently, record the outcomes. Returns
    /// how many attempts were made.
    pub async fn run_once(&self) -> Result<usize, ApiError> {
        let (batch, lease) = (self.batch, self.lease_secs);
        let claimed = self
            .db
            .run(move |conn| store::claim(conn, batch, lease))
            .await?;
        let n = claimed.len();
        let results: Vec<Result<bool, ApiError>> = futures_util::stream::iter(claimed)
            .map(|c| async move {
                let outcome = self.attempt(c).await;
                self.db.run(move |conn| store::record(conn, &outcome)).await
            })
            .buffer_unordered(self.batch.max(1) as usize)
            .collect()
            .await;
        for r in results {
            if let Err(e) = r {
                tracing::warn!(error = %e, "recording a webhook attempt failed");
            }
        }
        Ok(n)
    }

    async fn attempt(&self, c: Claimed) -> Outcome {
        let started = Instant::now();
        let at = Utc::now();
        let result = self.send(&c).await;
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let (status_code, error, delivered) = match result {
            Ok(code) => (
                Some(i32::from(code)),
                (!(200..300).contains(&code)).then(|| format!("the receiver answered {code}")),
                (200..300).contains(&code),
            ),
            Err(e) => (None, Some(truncate(&e, 500)), false),
        };
        let retry_in = if delivered {
            None
        } else {
            let failed = u32::try_from(c.scheduled_attempt).unwrap_or(u32::MAX);
            retry_delay(failed, rand::random::<f64>(), self.scale)
        };
        if !delivered {
            tracing::info!(
                delivery = %c.id, attempt = c.attempt, status = ?status_code,
                error = error.as_deref().unwrap_or(""), gives_up = retry_in.is_none(),
                "webhook attempt failed"
            );
        }
        Outcome {
            delivery_id: c.id,
            attempt: c.attempt,
            at,
            status_code,
            error,
            duration_ms,
            delivered,
            retry_in,
        }
    }

    /// Send one attempt; the receiver's status code, or why there is none.
    async fn send(&self, c: &Claimed) -> Result<u16, String> {
        let parsed = parse_target(&c.url)?;
        // Literal addresses never reach the resolver: vet them here.
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), self.allow_private)?,
            Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), self.allow_private)?,
            _ => {}
        }
        let key = decode_secret(&c.secret).map_err(|e| format!("unusable secret: {e}"))?;
        let body = serde_json::to_vec(&c.payload).map_err(|e| e.to_string())?;
        let timestamp = Utc::now().timestamp();
        let signature = sign(&key, &c.id, timestamp, &body);
        let response = self
            .client
            .post(parsed)
            .header("content-type", "application/json")
            .header("webhook-id", &c.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        Ok(response.status().as_u16())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// Run the dispatcher every `interval` until `stop`.
pub fn spawn(
    dispatcher: Dispatcher,
    interval: Duration,
    mut stop: crate::scheduler::StopSignal,
    passes: prometheus::IntCounterVec,
) -> tokio::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while crate::scheduler::tick_or_stop(&mut tick, &mut stop).await {
            // A full batch: more may be due; go on at once (unless stopping).
            loop {
                let result = dispatcher.run_once().await;
                // Counted once its sends have ended (`task="webhooks"`).
                let label = if result.is_ok() { "ok" } else { "error" };
                passes.with_label_values(&["webhooks", label]).inc();
                match result {
                    Ok(n) if n as i64 >= dispatcher.batch && !*stop.borrow() => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook dispatcher pass failed");
                        break;
                    }
                }
            }
        }
        tracing::debug!("webhook dispatcher stopped");
    })
}
