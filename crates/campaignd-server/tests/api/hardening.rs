//! Sending the bad thing: slow clients, oversize heads and bodies, too many
//! connections, shutdown with requests in flight, and garbage of all kinds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use campaignd_testkit::{Fault, FaultyStore, Settings, TestServer};

/// Reads until the server closes the connection (or `limit` passes), and
/// returns what was read.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_by_the_header_read_timeout() {
    let mut settings = Settings::default();
    settings.limits.header_read_timeout = Duration::from_secs(1);
    let server = TestServer::start_with(settings).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Dribble a header byte every 200 ms, never finishing the head.
    let mut cut = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream.write_all(b"X").await.is_err() {
            cut = true;
            break;
        }
        let mut probe = [0u8; 1024];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "the slow client was never cut off");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cut after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_by_the_header_read_timeout() {
    let mut settings = Settings::default();
    settings.limits.header_read_timeout = Duration::from_millis(500);
    let server = TestServer::start_with(settings).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection stayed open");
}

/// Sends raw bytes on a fresh connection; the whole reply as text.
async fn raw(server: &TestServer, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let (reply, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    String::from_utf8_lossy(&reply).into_owned()
}

/// The status, a header and the body of a raw reply.
fn parts(reply: &str) -> (u16, Option<String>, &str) {
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((reply, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-type: ")
            .map(str::to_owned)
    });
    (status, content_type, body)
}

#[tokio::test]
async fn requests_hyper_cannot_parse_are_answered_in_the_envelope() {
    let server = TestServer::start().await;
    let bad = r#"{"error":"Bad Request"}"#;
    let big = r#"{"error":"Request Header Fields Too Large"}"#;
    let long = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("a garbage request line", b"GARBAGE\r\n\r\n".to_vec(), 400, bad),
        ("an unknown version", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(), 400, bad),
        ("a NUL in a header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec(), 400, bad),
        ("a space in a header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n".to_vec(), 400, bad),
        (
            "two different content lengths",
            b"POST /api/v4/campaigns HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            400,
            bad,
        ),
        ("a head over 16 KiB", long.into_bytes(), 431, big),
    ];
    for (what, request, status, body) in cases {
        let reply = raw(&server, &request).await;
        let (got, content_type, got_body) = parts(&reply);
        assert_eq!(got, status, "{what}: {reply}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{what}: {reply}"
        );
        assert_eq!(got_body, body, "{what}: {reply}");
        assert!(
            reply.to_ascii_lowercase().contains("\r\nx-request-id: "),
            "{what}: {reply}"
        );
    }
}

#[tokio::test]
async fn the_header_cap_is_16_kib_not_a_count() {
    let server = TestServer::start().await;
    // 3,000 of the shortest header, about 15 KiB: far over hyper's default
    // of 100 headers, and still under the byte cap.
    let mut request = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for _ in 0..3000 {
        request.push_str("x:1\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    assert!(request.len() < 16 * 1024);
    let reply = raw(&server, request.as_bytes()).await;
    assert_eq!(
        parts(&reply),
        (200, Some("application/json".into()), r#"{"status":"ok"}"#),
        "{reply}"
    );
    // Raw bytes that are not UTF-8 in a header value are read as bytes:
    // an Authorization header of them is simply not a key.
    let reply = raw(
        &server,
        b"GET /api/v4/campaigns/3 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        parts(&reply),
        (
            401,
            Some("application/json".into()),
            r#"{"error":"Unauthorized"}"#
        ),
        "{reply}"
    );

    // Just under the cap is fine.
    let ok = server
        .request(
            "GET",
            "/healthz",
            &[("x-big".into(), "a".repeat(15 * 1024))],
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn bodies_over_2_mib_answer_413_in_the_envelope() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = "GET /api/v4/campaigns HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let (reply, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("content-type: application/json"), "{text}");
    assert!(text.ends_with(r#"{"error":"Payload Too Large"}"#), "{text}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let mut settings = Settings::default();
    settings.limits.max_connections = 1;
    let server = TestServer::start_with(settings).await;
    // The first connection holds the only slot (kept alive, idle).
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "the second connection was served while the first held the only slot"
    );
    drop(first);
    let (reply, _) = read_until_closed(&mut second, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"));
}

/// A request in flight when shutdown begins is answered. The handler says
/// when it has started and finishes only once the server has stopped
/// accepting (so shutdown is under way): no sleep decides the order.
#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let app = Router::new().route(
        "/slow",
        get({
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            move || async move {
                started.notify_one();
                release.notified().await;
                "done"
            }
        }),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let limits = Settings::default().limits;
    let server = tokio::spawn(campaignd_server::serve_http(
        listener,
        app,
        limits,
        async move {
            let _ = rx.await;
        },
    ));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let in_flight =
        tokio::spawn(async move { client.get(format!("http://{addr}/slow")).send().await });
    started.notified().await;
    tx.send(()).unwrap();
    // Shutdown is under way once new connections are refused.
    let refusing = Instant::now();
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            refusing.elapsed() < Duration::from_secs(30),
            "still accepting after shutdown began"
        );
        tokio::task::yield_now().await;
    }
    release.notify_one();
    let reply = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), "done");
    server.await.unwrap().unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn no_input_makes_the_server_answer_5xx() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let long = "x".repeat(8000);
    let paths = [
        "/api/v4/campaigns/%00",
        "/api/v4/campaigns/%",
        "/api/v4/campaigns/..%2F..%2Fetc%2Fpasswd",
        "/api/v4/campaigns?limit=%FF%FE",
        "/api/v4/campaigns?name=%00%01",
        "/api/v4/campaigns?=&&&==&limit",
        "/api/v4/campaigns?name=%E2%82",
        &format!("/api/v4/campaigns?name={long}"),
        "/api/v4/campaigns/3?x=%",
        "//api//v4",
    ];
    for path in paths {
        for auth in [None, Some(key.as_str())] {
            let reply = server.get(path, auth).await;
            assert!(reply.status.as_u16() < 500, "{path}: {}", reply.status);
            assert_eq!(
                reply.header("content-type"),
                Some("application/json"),
                "{path}"
            );
        }
    }
    // Each odd header gets one exact answer in the envelope: hyper refuses
    // control bytes itself (dressed), the rest reach the guard.
    let bad = r#"{"error":"Bad Request"}"#;
    let unauthorized = r#"{"error":"Unauthorized"}"#;
    let long = format!("Bearer {}", "cmpd_".repeat(1000)).into_bytes();
    let odd_headers: [(&str, Vec<u8>, u16, &str); 6] = [
        ("authorization", b"Bearer \0".to_vec(), 400, bad),
        ("authorization", long, 401, unauthorized),
        (
            "authorization",
            b"Bearer \xff\xfe\x80".to_vec(),
            401,
            unauthorized,
        ),
        ("if-none-match", b"\x7f".to_vec(), 400, bad),
        ("content-length", b"abc".to_vec(), 400, bad),
        ("x-other", b"caf\xc3\xa9 \xff".to_vec(), 401, unauthorized),
    ];
    for (name, value, status, body) in odd_headers {
        let mut request =
            format!("GET /api/v4/campaigns/3 HTTP/1.1\r\nHost: x\r\n{name}: ").into_bytes();
        request.extend_from_slice(&value);
        request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let reply = raw(&server, &request).await;
        let (got, content_type, got_body) = parts(&reply);
        assert_eq!(got, status, "{name}: {reply}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{name}: {reply}"
        );
        assert_eq!(got_body, body, "{name}: {reply}");
    }
}

/// A server over a [`FaultyStore`], with a contact center and a
/// `campaigns.read` key.
async fn faulty_server(settings: Settings) -> (TestServer, Arc<FaultyStore>, String) {
    let mut faulty = None;
    let server = TestServer::start_over(settings, |store| {
        let store = Arc::new(FaultyStore::new(store));
        faulty = Some(Arc::clone(&store));
        store
    })
    .await;
    let center = server.center("acme").await;
    let key = server.reader(center).await;
    (server, faulty.unwrap(), key)
}

#[tokio::test]
async fn a_stalled_store_answers_503_within_the_request_timeout() {
    let mut settings = Settings::default();
    settings.config.request_timeout = Duration::from_millis(300);
    let (server, store, key) = faulty_server(settings).await;
    store.set("get_campaign_body", Fault::Stall);
    store.set("ping", Fault::Stall);
    let addr = server.addr;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    let reply = client
        .get(format!("http://{addr}/api/v4/campaigns/3"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(reply.status(), 503);
    assert_eq!(reply.headers()["retry-after"], "1");
    assert_eq!(
        reply.text().await.unwrap(),
        r#"{"error":"Service Unavailable"}"#
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Readiness reports the stall too.
    let ready = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    server.stop().await.unwrap();
}

/// Many clients missing the same list at once (say, after a write dropped
/// it) cost one storage read: the rest wait for it and are answered from
/// the cache.
#[tokio::test]
async fn concurrent_misses_of_one_list_read_storage_once() {
    let (server, store, key) = faulty_server(Settings::default()).await;
    store.set("list_campaigns", Fault::Delay(Duration::from_millis(200)));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let requests = (0..20).map(|_| {
        client
            .get(format!("http://{}/api/v4/campaigns?limit=5", server.addr))
            .bearer_auth(&key)
            .send()
    });
    let replies = futures_util::future::join_all(requests).await;
    for reply in replies {
        let reply = reply.unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(
            reply.text().await.unwrap(),
            r#"{"campaigns":[],"metadata":{"total":0}}"#
        );
    }
    assert_eq!(store.calls("list_campaigns"), 1);
    server.stop().await.unwrap();
}

/// Requests queued behind a fill that storage never answers are bounded by
/// the request timeout too: the wait for the turn is storage time.
#[tokio::test]
async fn requests_waiting_on_a_stalled_fill_answer_503_within_the_request_timeout() {
    let mut settings = Settings::default();
    settings.config.request_timeout = Duration::from_secs(1);
    let (server, store, key) = faulty_server(settings).await;
    store.set("list_campaigns", Fault::Stall);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    let requests = (0..8).map(|_| {
        client
            .get(format!("http://{}/api/v4/campaigns", server.addr))
            .bearer_auth(&key)
            .send()
    });
    for reply in futures_util::future::join_all(requests).await {
        assert_eq!(reply.unwrap().status(), 503);
    }
    // One after another they would take 8 x 1 s; together, the timeout
    // and what a busy machine adds to it.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    assert!(store.calls("list_campaigns") >= 1);
    server.stop().await.unwrap();
}

/// A write of key last-use times that meets a busy or failing store is
/// kept and retried, not dropped: here the shutdown flush fails twice.
#[tokio::test]
async fn key_use_survives_failed_writes_and_is_recorded_at_shutdown() {
    let (server, store, key) = faulty_server(Settings::default()).await;
    store.set("record_key_use", Fault::UnavailableTimes(2));
    let before = campaignd_model::Timestamp::now();
    let reply = server.get("/api/v4/campaigns/3", Some(&key)).await;
    assert_eq!(reply.status, 404);
    let sqlite = Arc::clone(&server.store);
    server.stop().await.unwrap();
    assert_eq!(store.calls("record_key_use"), 3);
    let center = sqlite
        .contact_center_by_name(&"acme".parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let keys = sqlite.list_api_keys(center).await.unwrap();
    let used = keys[0].last_used_at.expect("last use recorded");
    assert!(used >= before, "{used} < {before}");
}
