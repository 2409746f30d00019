//! What each request gets, decided from the latest published snapshot alone.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the working loop publishes after each sweep.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Prometheus text format 0.0.4.
    pub text: Bytes,
    /// The status document, byte for byte as written to the status file.
    pub status: Bytes,
    /// When the sweep completed.
    pub swept: Instant,
    pub interval: Duration,
    /// From `auth_token_file`: required on /metrics and /status when set.
    pub token: Option<Arc<str>>,
}

/// /healthz is unhealthy once this many sweep intervals passed without a completed sweep.
pub const STALE_AFTER_INTERVALS: u32 = 3;

pub fn respond<B>(req: &Request<B>, snap: Option<&Snapshot>, now: Instant) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/status" | "/healthz") {
        return plain(StatusCode::NOT_FOUND, "not found: try /metrics, /status or /healthz\n".into());
    }
    if req.method() != Method::GET {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed: use GET\n".into());
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    let Some(snap) = snap else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "starting: no sweep completed yet\n".into());
    };
    if path == "/healthz" {
        return healthz(snap, now);
    }
    if let Some(token) = &snap.token {
        if !authorized(req, token) {
            let mut r = plain(StatusCode::UNAUTHORIZED, "unauthorized: a bearer token is required\n".into());
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"pulsewatch\""));
            return r;
        }
    }
    if path == "/status" {
        return body(StatusCode::OK, "application/json", snap.status.clone());
    }
    body(StatusCode::OK, TEXT_FORMAT, snap.text.clone())
}

fn healthz(snap: &Snapshot, now: Instant) -> Response<Full<Bytes>> {
    let age = now.saturating_duration_since(snap.swept);
    let limit = snap.interval * STALE_AFTER_INTERVALS;
    if age <= limit {
        plain(StatusCode::OK, format!("ok: last sweep {:.1}s ago\n", age.as_secs_f64()))
    } else {
        let msg = format!("stale: last sweep {:.1}s ago (limit {:.1}s)\n", age.as_secs_f64(), limit.as_secs_f64());
        plain(StatusCode::SERVICE_UNAVAILABLE, msg)
    }
}

fn authorized<B>(req: &Request<B>, token: &str) -> bool {
    let Some(given) = req.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes) else {
        return false;
    };
    // The scheme is case-insensitive (RFC 9110); the token is compared in constant time.
    given.len() > 7 && given[..7].eq_ignore_ascii_case(b"bearer ") && constant_time_eq(&given[7..], token.as_bytes())
}

/// Compares without stopping at the first difference, so response times do not tell how
/// much of a guessed token was right. (The length is not secret.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    body(status, "text/plain; charset=utf-8", Bytes::from(text))
}

fn body(status: StatusCode, content_type: &'static str, bytes: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests;
