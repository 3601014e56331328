//! The HTTP protocol layer, over raw TCP where a client library would hide it: keep-alive after a
//! request refused before its body was read, the header / body / idle timeouts, the connection
//! cap, and every error the application can shape in the `{timestamp, code, message}` envelope.

use std::sync::Arc;
use std::time::Duration;

use hotdeal::config::Config;
use hotdeal::domain::clock::SystemClock;
use hotdeal::http::auth::Role;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// The overall bound on waiting for the server in these tests (never a timing assertion: the
/// conditions are awaited, this only keeps a broken server from hanging the suite).
const PATIENCE: Duration = Duration::from_secs(20);

async fn app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(tweak, Arc::new(SystemClock)).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connects")
}

/// A response read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Read one response (with `Content-Length`), or `None` when the server closed (EOF or reset)
/// before a complete one arrived.
async fn read_response(stream: &mut TcpStream) -> Option<Raw> {
    tokio::time::timeout(PATIENCE, async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse::<u16>().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        body.truncate(len);
        Some(Raw {
            status,
            headers,
            body,
        })
    })
    .await
    .expect("the server answered or closed in time")
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
enum Closed {
    /// FIN: read returned 0.
    Clean,
    /// RST or another error.
    Reset,
}

/// Read (and discard) until the server closes; panics if it is still open after [`PATIENCE`].
async fn read_until_closed(stream: &mut TcpStream) -> Closed {
    tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return Closed::Clean,
                Ok(_) => continue,
                Err(_) => return Closed::Reset,
            }
        }
    })
    .await
    .expect("the server closed the connection")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("written");
}

/// After the answer to a request refused before its body arrived, the body and then a second
/// request go on the same connection: the second must be answered (the first answer may instead
/// say `Connection: close`, and then the server must close cleanly).
async fn assert_keep_alive_survives_refusal(
    app: &TestApp,
    head: String,
    body: &str,
    expect_status: u16,
    expect_code: &str,
) {
    let mut stream = connect(app).await;
    send(&mut stream, head.as_bytes()).await;
    let first = read_response(&mut stream)
        .await
        .expect("the refusal is answered");
    assert_eq!(first.status, expect_status, "{first:?}");
    assert_eq!(first.json()["code"], expect_code, "{first:?}");
    if first.header("connection") == Some("close") {
        assert_eq!(read_until_closed(&mut stream).await, Closed::Clean);
        return;
    }
    // The body arrives in a later segment, after the answer, then the next request.
    let kept_open =
        "the server kept the connection open (its answer did not say Connection: close)";
    stream.write_all(body.as_bytes()).await.expect(kept_open);
    stream
        .write_all(get("/healthz").as_bytes())
        .await
        .expect(kept_open);
    let second = read_response(&mut stream)
        .await
        .expect("the next request on the keep-alive connection is answered");
    assert_eq!(second.status, 200, "{second:?}");
}

#[tokio::test]
async fn a_401_before_the_body_keeps_the_connection_usable() {
    let app = spawn_app().await;
    let body = r#"{"name":"late body","quantity":1}"#;
    let head = format!(
        "POST /api/v1/coupon-infos HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    assert_keep_alive_survives_refusal(&app, head, body, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_415_before_the_body_keeps_the_connection_usable() {
    let app = spawn_app().await;
    let body = r#"{"email":"late@test.local"}"#;
    let head = format!(
        "POST /api/v1/auth/check-email HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    assert_keep_alive_survives_refusal(&app, head, body, 415, "UNSUPPORTED_MEDIA_TYPE").await;
}

#[tokio::test]
async fn a_refusal_of_an_expect_100_continue_request_says_connection_close() {
    let app = spawn_app().await;
    let body = r#"{"name":"never sent","quantity":1}"#;
    let head = format!(
        "POST /api/v1/coupon-infos HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = connect(&app).await;
    send(&mut stream, head.as_bytes()).await;
    let first = read_response(&mut stream).await.expect("answered");
    assert_eq!(first.status, 401, "{first:?}");
    assert_eq!(first.header("connection"), Some("close"), "{first:?}");
    assert_eq!(read_until_closed(&mut stream).await, Closed::Clean);
}

#[tokio::test]
async fn a_body_too_large_to_drain_is_refused_with_connection_close() {
    let app = app_with(|c| c.request_body_limit_bytes = 1024).await;
    let head = "POST /api/v1/coupon-infos HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n";
    let mut stream = connect(&app).await;
    send(&mut stream, head.as_bytes()).await;
    let first = read_response(&mut stream).await.expect("answered");
    assert_eq!(first.status, 401, "{first:?}");
    assert_eq!(first.header("connection"), Some("close"), "{first:?}");
    assert_eq!(read_until_closed(&mut stream).await, Closed::Clean);
}

#[tokio::test]
async fn a_slow_header_trickle_is_closed_while_others_are_served() {
    let app = app_with(|c| {
        c.http_header_timeout_ms = 300;
        c.http_idle_timeout_ms = 600_000;
    })
    .await;
    let stream = connect(&app).await;
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // One header line every 50 ms, for as long as the server takes them.
    let trickle = tokio::spawn(async move {
        let mut sent = 0u32;
        while write.write_all(b"X-Slow: 1\r\n").await.is_ok() && sent < 400 {
            sent += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    // Meanwhile another client is served.
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status, 200);
    let ended = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 1024];
        let mut got = Vec::new();
        loop {
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the slow client was closed");
    assert!(
        !String::from_utf8_lossy(&ended).contains("200 OK"),
        "the trickled request was never complete"
    );
    trickle.abort();
}

#[tokio::test]
async fn a_body_trickle_is_closed_with_408() {
    let app = app_with(|c| c.http_body_timeout_ms = 1_000).await;
    let (_, token) = app.token(Role::Master);
    let stream = connect(&app).await;
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /api/v1/coupon-infos HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    write.write_all(head.as_bytes()).await.unwrap();
    // A byte every 250 ms: each arrives well within the timeout, the whole body never does.
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let trickle = tokio::spawn(async move {
        for _ in 0..999 {
            tokio::select! {
                _ = &mut stop_rx => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            if write.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let mut got = Vec::new();
    let clean = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 4096];
        loop {
            match read.read(&mut chunk).await {
                Ok(0) => return true,
                Err(_) => return false,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the trickling client was closed");
    let _ = stop_tx.send(());
    trickle.abort();
    let text = String::from_utf8_lossy(&got);
    // The answer may be lost to a reset (the client was still sending); when it arrived it is
    // the envelope's 408.
    if clean || !text.is_empty() {
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains(r#""code":"REQUEST_TIMEOUT""#), "{text}");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = app_with(|c| c.http_idle_timeout_ms = 300).await;
    let mut stream = connect(&app).await;
    send(&mut stream, get("/healthz").as_bytes()).await;
    let res = read_response(&mut stream).await.expect("answered");
    assert_eq!(res.status, 200);
    assert_eq!(read_until_closed(&mut stream).await, Closed::Clean);
    // A connection that never sends anything is closed too.
    let mut silent = connect(&app).await;
    assert_eq!(read_until_closed(&mut silent).await, Closed::Clean);
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_while_the_others_work() {
    let app = app_with(|c| c.http_max_connections = 2).await;
    let mut a = connect(&app).await;
    let mut b = connect(&app).await;
    for s in [&mut a, &mut b] {
        send(s, get("/healthz").as_bytes()).await;
        assert_eq!(read_response(s).await.expect("served").status, 200);
    }
    let mut over = connect(&app).await;
    let _ = over.write_all(get("/healthz").as_bytes()).await;
    assert!(
        read_response(&mut over).await.is_none(),
        "a connection over the cap is not served"
    );
    for s in [&mut a, &mut b] {
        send(s, get("/healthz").as_bytes()).await;
        assert_eq!(read_response(s).await.expect("still served").status, 200);
    }
    // Closing one frees its slot (once the server has seen the close).
    drop(a);
    let served = tokio::time::timeout(PATIENCE, async {
        loop {
            let mut c = connect(&app).await;
            let _ = c.write_all(get("/healthz").as_bytes()).await;
            if let Some(res) = read_response(&mut c).await {
                return res.status;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a slot frees up");
    assert_eq!(served, 200);
}

fn assert_envelope(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test]
async fn invalid_utf8_in_a_path_parameter_is_invalid_path() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/products/%FF%FE", None).await;
    assert_eq!(res.status, 400, "{:?}", res.body);
    assert_envelope(&res.body, "INVALID_PATH");
}

#[tokio::test]
async fn a_query_string_of_the_wrong_type_is_invalid_query() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Customer);
    let res = app.get("/api/v1/baskets?page=abc", Some(&token)).await;
    assert_eq!(res.status, 400, "{:?}", res.body);
    assert_envelope(&res.body, "INVALID_QUERY");
}

#[tokio::test]
async fn a_wrong_method_is_method_not_allowed_with_allow() {
    let app = spawn_app().await;
    let res = app
        .request(reqwest::Method::DELETE, "/healthz", None, None)
        .await;
    assert_eq!(res.status, 405, "{:?}", res.body);
    assert_envelope(&res.body, "METHOD_NOT_ALLOWED");
    let allow = res.headers.get("allow").expect("Allow header kept");
    assert!(allow.to_str().unwrap().contains("GET"), "{allow:?}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_payload_too_large_on_every_route() {
    let app = app_with(|c| c.request_body_limit_bytes = 1024).await;
    let (_, customer) = app.token(Role::Customer);
    let (_, master) = app.token(Role::Master);
    let big = serde_json::json!({ "pad": "x".repeat(4096) });
    for (path, token) in [
        ("/api/v1/orders", &customer),
        ("/api/v1/coupon-infos", &master),
    ] {
        let res = app.post(path, &big, Some(token)).await;
        assert_eq!(res.status, 413, "{path}: {:?}", res.body);
        assert_envelope(&res.body, "PAYLOAD_TOO_LARGE");
    }
}

#[tokio::test]
async fn a_long_target_is_uri_too_long() {
    let app = app_with(|c| c.http_max_uri_bytes = 1024).await;
    let res = app
        .get(&format!("/healthz?pad={}", "x".repeat(2048)), None)
        .await;
    assert_eq!(res.status, 414, "{:?}", res.body);
    assert_envelope(&res.body, "URI_TOO_LONG");
}

#[tokio::test]
async fn large_headers_are_headers_too_large() {
    let app = app_with(|c| c.http_max_header_bytes = 4096).await;
    let res = app
        .client
        .health()
        .header("x-pad", "x".repeat(8192))
        .await
        .expect("sent");
    assert_eq!(res.status, 431);
    let body: Value = serde_json::from_slice(&res.raw).expect("a JSON body");
    assert_envelope(&body, "HEADERS_TOO_LARGE");
}

#[tokio::test]
async fn invalid_path_bytes_over_raw_tcp_are_invalid_path() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Customer);
    let mut stream = connect(&app).await;
    let head = format!(
        "GET /api/v1/coupon-infos/%C3%28 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    send(&mut stream, head.as_bytes()).await;
    let res = read_response(&mut stream).await.expect("answered");
    assert_eq!(res.status, 400, "{res:?}");
    assert_envelope(&res.json(), "INVALID_PATH");
}
