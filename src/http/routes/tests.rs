use super::*;
use http_body_util::BodyExt;

fn snap(token: Option<&str>, swept: Instant) -> Snapshot {
    Snapshot {
        text: Bytes::from_static(b"text\n"),
        status: Bytes::from_static(b"{\"schema\":1}\n"),
        swept,
        interval: Duration::from_secs(5),
        token: token.map(Arc::from),
    }
}

fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

fn text(r: Response<Full<Bytes>>) -> (u16, String) {
    let status = r.status().as_u16();
    let bytes = collect_body(r);
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn collect_body(r: Response<Full<Bytes>>) -> Bytes {
    // A `Full` body is ready at once: one poll on a throwaway runtime.
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(r.into_body().collect()).unwrap().to_bytes()
}

#[test]
fn routes_table() {
    let t0 = Instant::now();
    let fresh = snap(None, t0);
    let locked = snap(Some("s3cret"), t0);
    #[rustfmt::skip]
    let cases: &[(&str, &str, &[(&str, &str)], Option<&Snapshot>, u16, &str)] = &[
        ("GET", "/metrics", &[], Some(&fresh), 200, "text\n"),
        ("GET", "/metrics?x=1", &[], Some(&fresh), 200, "text\n"),
        ("GET", "/metrics", &[("accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")], Some(&fresh), 200, "text\n"),
        ("GET", "/status", &[], Some(&fresh), 200, "{\"schema\":1}\n"),
        ("GET", "/healthz", &[], Some(&fresh), 200, "ok: last sweep 0.0s ago\n"),
        ("GET", "/", &[], Some(&fresh), 404, "not found: try /metrics, /status or /healthz\n"),
        ("POST", "/nope", &[], Some(&fresh), 404, "not found: try /metrics, /status or /healthz\n"),
        ("POST", "/metrics", &[], Some(&fresh), 405, "method not allowed: use GET\n"),
        ("HEAD", "/healthz", &[], Some(&fresh), 405, ""),
        ("GET", "/healthz", &[], None, 503, "starting: no sweep completed yet\n"),
        ("GET", "/metrics", &[], None, 503, "starting: no sweep completed yet\n"),
        ("GET", "/metrics", &[], Some(&locked), 401, "unauthorized: a bearer token is required\n"),
        ("GET", "/status", &[("authorization", "Bearer wrong!")], Some(&locked), 401, "unauthorized: a bearer token is required\n"),
        ("GET", "/status", &[("authorization", "Bearer s3cre")], Some(&locked), 401, "unauthorized: a bearer token is required\n"),
        ("GET", "/status", &[("authorization", "Basic s3cret")], Some(&locked), 401, "unauthorized: a bearer token is required\n"),
        ("GET", "/status", &[("authorization", "Bearer s3cret")], Some(&locked), 200, "{\"schema\":1}\n"),
        ("GET", "/metrics", &[("authorization", "bearer s3cret")], Some(&locked), 200, "text\n"),
        ("GET", "/healthz", &[], Some(&locked), 200, "ok: last sweep 0.0s ago\n"),
    ];
    for (method, path, headers, snapshot, code, want) in cases {
        let r = respond(&req(method, path, headers), *snapshot, t0);
        let (got_code, body) = text(r);
        assert_eq!(got_code, *code, "{method} {path} {headers:?}");
        if *method != "HEAD" {
            assert_eq!(body, *want, "{method} {path} {headers:?}");
        }
    }
}

#[test]
fn headers() {
    let t0 = Instant::now();
    let r = respond(&req("GET", "/metrics", &[]), Some(&snap(None, t0)), t0);
    assert_eq!(r.headers()[header::CONTENT_TYPE], TEXT_FORMAT);
    let r = respond(&req("GET", "/status", &[]), Some(&snap(None, t0)), t0);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    let r = respond(&req("PUT", "/status", &[]), Some(&snap(None, t0)), t0);
    assert_eq!(r.headers()[header::ALLOW], "GET");
    let r = respond(&req("GET", "/status", &[]), Some(&snap(Some("t"), t0)), t0);
    assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"pulsewatch\"");
}

#[test]
fn healthz_goes_stale_after_three_intervals() {
    let t0 = Instant::now();
    let s = snap(None, t0);
    let cases = [(0, 200), (14_900, 200), (15_000, 200), (15_001, 503), (60_000, 503)];
    for (ms, code) in cases {
        let (got, body) = text(respond(&req("GET", "/healthz", &[]), Some(&s), t0 + Duration::from_millis(ms)));
        assert_eq!(got, code, "{ms} ms: {body}");
        assert_eq!(body.lines().count(), 1, "{body:?}");
    }
    let (_, body) = text(respond(&req("GET", "/healthz", &[]), Some(&s), t0 + Duration::from_secs(20)));
    assert_eq!(body, "stale: last sweep 20.0s ago (limit 15.0s)\n");
}

#[test]
fn constant_time_compare() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(constant_time_eq(b"", b""));
}
