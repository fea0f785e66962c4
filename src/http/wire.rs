//! The HTTP server on the socket, and one thing actix cannot be asked to do: a request whose
//! head cannot be parsed (a URI over the head limit, a control byte in a header) is refused by
//! actix-http's parser before any middleware runs, with a hard-coded, bodiless 400 or 431.
//! [`Wire`] sits between the socket and actix and rewrites exactly those responses into
//! problem+json, so every client error of the API has a body a client can read.
//!
//! [`serve`] is what `HttpServer::listen` + `run` do, with the socket wrapped in [`Wire`].

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_http::{HttpService, KeepAlive, Protocol, Request, Response};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_web::body::MessageBody;
use actix_web::dev::AppConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Like actix-web's `HttpServer` defaults.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// In-flight requests get this long to finish after SIGTERM.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// Serve `factory`'s application on `listener` with `workers` threads (0: one per core).
pub fn serve<F, I, S, B>(listener: TcpListener, workers: usize, factory: F) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let mut builder = Server::build().shutdown_timeout(SHUTDOWN_TIMEOUT_SECS);
    if workers > 0 {
        builder = builder.workers(workers);
    }
    let shutdown = builder.graceful_shutdown_signal();
    builder = builder.listen("liuyan", listener, move || {
        let shutdown = shutdown.clone();
        let app = map_config(factory(), |_| AppConfig::default())
            .map_err(|e: S::Error| -> actix_web::Error { e.into() });
        let http = HttpService::<Wire, _, B>::build()
            .keep_alive(KeepAlive::Timeout(KEEP_ALIVE))
            .client_request_timeout(HEAD_TIMEOUT)
            .client_disconnect_timeout(DISCONNECT_TIMEOUT)
            .local_addr(addr)
            // Idle keep-alive connections close as soon as shutdown begins.
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .finish(app);
        fn_service(|io: TcpStream| async move {
            let _ = io.set_nodelay(true);
            let peer = io.peer_addr().ok();
            Ok::<(Wire, Protocol, Option<SocketAddr>), actix_http::error::DispatchError>((
                Wire::new(io),
                Protocol::Http1,
                peer,
            ))
        })
        .and_then(http)
    })?;
    Ok(builder.run())
}

/// A client connection: reads pass through; writes pass through except actix-http's own
/// bodiless parser refusals, which become problem+json.
pub struct Wire {
    io: TcpStream,
    /// A rewritten response still to be written, and how much of it is out.
    pending: Vec<u8>,
    sent: usize,
}

impl Wire {
    fn new(io: TcpStream) -> Self {
        Self {
            io,
            pending: Vec::new(),
            sent: 0,
        }
    }

    /// Write out what is pending; Ready once nothing is.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        if let Some(replacement) = problem_for_parser_refusal(buf) {
            this.pending = replacement;
            // Taken whole; what is not out yet goes with the next flush.
            let _ = this.poll_drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// The refusals actix-http's parser writes itself, always with an empty body (the application
/// never answers an error without a body: `request_context` gives every one a problem).
const PARSER_REFUSALS: &[(&str, u16, &str, &str, &str)] = &[
    (
        "400 Bad Request",
        400,
        "bad-request",
        "Bad request",
        "the request could not be parsed as HTTP: check the request line and that header values hold no control characters",
    ),
    (
        "431 Request Header Fields Too Large",
        431,
        "request-head-too-large",
        "Request head too large",
        "the request line and headers together are over the server's limit: shorten the URL or the headers",
    ),
];

/// `Some(new response)` when `buf` starts with a bodiless parser refusal.
fn problem_for_parser_refusal(buf: &[u8]) -> Option<Vec<u8>> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0"))?;
    let (line, status, slug, title, detail) = PARSER_REFUSALS.iter().find(|(line, ..)| {
        rest.strip_prefix(b" ")
            .and_then(|r| r.strip_prefix(line.as_bytes()))
            .is_some_and(|r| r.starts_with(b"\r\n"))
    })?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    if !head.contains("\r\ncontent-length: 0") || buf.len() != end + 4 {
        return None;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(status, %request_id, "refused a request that could not be parsed");
    let body = serde_json::json!({
        "type": crate::error::problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    })
    .to_string();
    Some(
        format!(
            "HTTP/1.1 {line}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
             x-request-id: {request_id}\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_parser_refusals_are_rewritten() {
        let refusal = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: Mon, 07 Dec 2026 10:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(problem_for_parser_refusal(refusal).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("content-type: application/problem+json"));
        let body: serde_json::Value =
            serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["type"], "urn:liuyan:problem:bad-request");
        assert_eq!(body["status"], 400);
        let too_big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(problem_for_parser_refusal(too_big).is_some());
        // The application's own errors carry bodies and are left alone.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 120\r\n\r\n{\"type\":\"urn:liuyan:problem:bad-request\"}";
        assert!(problem_for_parser_refusal(ours).is_none());
        assert!(
            problem_for_parser_refusal(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none()
        );
    }
}
