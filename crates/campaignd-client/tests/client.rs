//! The client against a real campaignd on port 0, and against small fake
//! servers for the failures a real one will not produce on demand.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use campaignd_client::{CampaignFilter, Client, Error, RetryPolicy, Status, Strategy};
use campaignd_model::{ApiKeyToken, ContactCenterId, Scope};
use campaignd_server::Quota;
use campaignd_testkit::{EXAMPLE, Settings, TestServer};
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A campaignd on port 0 with one contact center, `acme`.
struct Server {
    inner: TestServer,
    addr: SocketAddr,
    center: ContactCenterId,
}

impl Server {
    async fn start(per_second: u32, burst: u32) -> Self {
        let mut settings = Settings::default();
        settings.config.quota = Quota {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        };
        let inner = TestServer::start_with(settings).await;
        let center = inner.center("acme").await;
        Self {
            addr: inner.addr,
            inner,
            center,
        }
    }

    async fn key(&self, scopes: &[Scope]) -> String {
        self.inner.key(self.center, scopes).await.0
    }

    async fn import(&self, records: &[Value]) {
        self.inner.import(self.center, records).await;
    }

    fn client(&self, key: &str) -> Client {
        self.inner.client(key)
    }
}

async fn example_server() -> Server {
    let server = Server::start(1000, 1000).await;
    let example: Value = serde_json::from_str(EXAMPLE).unwrap();
    server.import(&[example["campaign"].clone()]).await;
    server
}

#[tokio::test]
async fn get_campaign_returns_the_documented_campaign() {
    let server = example_server().await;
    let client = server.client(&server.key(&[Scope::CampaignsRead]).await);
    let c = client.get_campaign(3).await.unwrap();
    assert_eq!((c.id, c.name.as_str()), (3, "Summer Outreach Campaign"));
    assert_eq!(c.status, Status::Active);
    assert_eq!(c.strategy, Strategy::Simple);
    assert_eq!(c.dial_level_override.as_ref().map(|o| o.value), Some(1.5));
    assert_eq!(
        c.caller_id_sets[0].phone_numbers,
        ["18885650001", "18885650002"]
    );
    assert_eq!(c.use_local_caller_id, Some(false));
    assert_eq!(c.created_at, "2026-01-15T10:30:00.000Z");
    // The raw form is the server's bytes.
    let raw = client.get_campaign_json(3).await.unwrap();
    let direct = reqwest::Client::new()
        .get(format!("http://{}/api/v4/campaigns/3", server.addr))
        .bearer_auth(server.key(&[Scope::CampaignsRead]).await)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(raw, direct);
}

#[tokio::test]
async fn every_error_variant_the_server_produces_is_typed() {
    let server = Server::start(1000, 1000).await;
    server.import(&[json!({"id": 3, "name": "x"})]).await;
    let reader = server.client(&server.key(&[Scope::CampaignsRead]).await);
    assert!(matches!(reader.get_campaign(4).await, Err(Error::NotFound)));
    let bogus = server.client(ApiKeyToken::generate().expose());
    assert!(matches!(
        bogus.get_campaign(3).await,
        Err(Error::Unauthorized)
    ));
    let manager = server.client(&server.key(&[Scope::CampaignsManage]).await);
    assert!(matches!(
        manager.get_campaign(3).await,
        Err(Error::Forbidden)
    ));
    let invalid = reader.list_campaigns(&CampaignFilter::new().limit(0)).await;
    let Err(Error::Validation { errors }) = invalid else {
        panic!("{invalid:?}")
    };
    assert_eq!(errors["limit"], ["must be an integer between 1 and 100"]);
}

#[tokio::test]
async fn rate_limits_surface_with_retry_after_and_are_retried() {
    let server = Server::start(1, 1).await;
    server.import(&[json!({"id": 3, "name": "x"})]).await;
    let key = server.key(&[Scope::CampaignsRead]).await;
    let impatient = Client::builder()
        .base_url(format!("http://{}", server.addr))
        .api_key(&key)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    impatient.get_campaign(3).await.unwrap();
    let limited = impatient.get_campaign(3).await;
    let Err(Error::RateLimited { retry_after }) = limited else {
        panic!("{limited:?}")
    };
    assert_eq!(retry_after, Some(Duration::from_secs(1)));
    // The default policy waits the Retry-After and succeeds.
    let patient = server.client(&key);
    let started = Instant::now();
    patient.get_campaign(3).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_stream_walks_every_page_and_stops_at_the_total() {
    let server = Server::start(1000, 1000).await;
    let records: Vec<Value> = (0..250)
        .map(|i| json!({"name": format!("Campaign {i:03}"), "live": i % 3 == 0}))
        .collect();
    server.import(&records).await;
    let client = server.client(&server.key(&[Scope::CampaignsRead]).await);
    let all: Vec<_> = client
        .campaigns(&CampaignFilter::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 250);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let live: Vec<_> = client
        .campaigns(&CampaignFilter::new().live(true))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(live.len(), 84);
    let tail: Vec<_> = client
        .campaigns(&CampaignFilter::new().offset(230))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tail.len(), 20);
    let page = client
        .list_campaigns(&CampaignFilter::new().limit(7).offset(3).name("campaign 00"))
        .await
        .unwrap();
    assert_eq!(page.total, 10);
    assert_eq!(
        page.campaigns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [
            "Campaign 003",
            "Campaign 004",
            "Campaign 005",
            "Campaign 006",
            "Campaign 007",
            "Campaign 008",
            "Campaign 009"
        ]
    );
}

/// A fake server answering each request with the next of `replies`
/// (status line, body); returns its base URL and a request counter.
async fn fake(replies: Vec<(&'static str, &'static str)>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let mut read = 0;
            while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf[read..]).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                read += n;
            }
            let i = seen.fetch_add(1, Ordering::SeqCst);
            let (status, body) = replies[i.min(replies.len() - 1)];
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    (format!("http://{addr}/api/v4"), count)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(5),
        ..RetryPolicy::default()
    }
}

/// A client of `base` that retries quickly.
fn fast_client(base: impl Into<String>, key: &str) -> Client {
    Client::builder()
        .base_url(base)
        .api_key(key)
        .retry(fast_retry())
        .build()
        .unwrap()
}

#[tokio::test]
async fn reads_retry_503_with_backoff_then_report_server_errors() {
    const OK: &str = r#"{"campaigns":[],"metadata":{"total":0}}"#;
    let (base, count) = fake(vec![
        (
            "503 Service Unavailable",
            r#"{"error":"Service Unavailable"}"#,
        ),
        ("200 OK", OK),
    ])
    .await;
    let client = fast_client(base, "k");
    let page = client.list_campaigns(&CampaignFilter::new()).await.unwrap();
    assert_eq!((page.total, count.load(Ordering::SeqCst)), (0, 2));

    let (base, count) = fake(vec![(
        "503 Service Unavailable",
        r#"{"error":"Service Unavailable"}"#,
    )])
    .await;
    let client = fast_client(base, "k");
    let failed = client.get_campaign(3).await;
    assert!(
        matches!(failed, Err(Error::Server { status: 503, .. })),
        "{failed:?}"
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "one attempt and two retries"
    );
}

#[tokio::test]
async fn conflicts_bodies_that_do_not_decode_and_unknown_values_are_handled() {
    let (base, _) = fake(vec![(
        "409 Conflict",
        r#"{"errors":{"status":["cannot pause a campaign that is paused"]}}"#,
    )])
    .await;
    let client = Client::builder()
        .base_url(base)
        .api_key("k")
        .build()
        .unwrap();
    let Err(Error::Conflict { errors }) = client.get_campaign(3).await else {
        panic!()
    };
    assert_eq!(errors["status"], ["cannot pause a campaign that is paused"]);

    let (base, _) = fake(vec![("200 OK", "<html>not json</html>")]).await;
    let client = Client::builder()
        .base_url(base)
        .api_key("k")
        .build()
        .unwrap();
    assert!(matches!(
        client.get_campaign(3).await,
        Err(Error::Decode(_))
    ));

    let body = r#"{"campaign":{"id":3,"name":"n","status":"archived","strategy":"quantum","dial_level":2.5,
        "dial_level_override":null,"max_dial_time":60,"max_wait_time":5,"max_dial_attempts":3,"amd_enabled":false,
        "amd_voicemail_message":null,"caller_id_sets":[],"use_local_caller_id":false,"asr_optimization_enabled":false,
        "follow_up_mode":null,"created_at":"2026-01-15T10:30:00.000Z","updated_at":"2026-01-15T10:30:00.000Z",
        "new_in_v5":true}}"#;
    let (base, _) = fake(vec![("200 OK", body)]).await;
    let client = Client::builder()
        .base_url(base)
        .api_key("k")
        .build()
        .unwrap();
    let c = client.get_campaign(3).await.unwrap();
    assert_eq!(c.status, Status::Unknown("archived".into()));
    assert_eq!(c.strategy, Strategy::Unknown("quantum".into()));
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_and_the_key_stays_out_of_logs() {
    use std::io::Write;
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let key = "cmpd_TopSecretTopSecretTopSecretTopSeWXYZ";
    let client = fast_client(format!("http://127.0.0.1:{port}"), key);
    let failed = client.get_campaign(3).await;
    assert!(matches!(failed, Err(Error::Transport(_))), "{failed:?}");
    let logged = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("retrying"), "retries are logged: {logged}");
    assert!(!logged.contains("TopSecret"), "{logged}");
    assert!(!format!("{client:?} {failed:?}").contains("TopSecret"));
}

#[tokio::test]
async fn users_are_listed_walked_assigned_and_unassigned() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let users: Vec<Value> = (1..=130)
        .map(|i| json!({"name": format!("User {i}"), "email": format!("u{i}@x.example"), "extension": i.to_string()}))
        .collect();
    server.import_users(center, &users).await;
    let key = server
        .key(
            center,
            &[
                Scope::CampaignsRead,
                Scope::CampaignsManage,
                Scope::UsersRead,
            ],
        )
        .await
        .0;
    let client = server.client(&key);
    let page = client.list_users(Some(10), Some(5)).await.unwrap();
    assert_eq!((page.users.len(), page.total), (10, 130));
    assert_eq!(page.users[0].id, 6);
    assert_eq!(
        page.users[0].attributes["extension"], "6",
        "every other key kept"
    );
    let all: Vec<_> = client.users().try_collect().await.unwrap();
    assert_eq!(all.len(), 130);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));

    let added = client.assign_users(3, &[2, 1, 2]).await.unwrap();
    assert_eq!(added.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 2]);
    assert!(
        added[0].attributes.is_empty(),
        "the short form: id, name, email"
    );
    match client.assign_users(3, &[1, 999]).await {
        Err(Error::Validation { errors }) => assert_eq!(errors["user_ids"], ["999 does not exist"]),
        other => panic!("{other:?}"),
    }
    let staff = client.campaign_users(3, None, None).await.unwrap();
    assert_eq!(staff.total, 2);
    let walked: Vec<_> = client.all_campaign_users(3).try_collect().await.unwrap();
    assert_eq!(walked, staff.users);
    assert_eq!(client.unassign_user(3, 1).await.unwrap().name, "User 1");
    assert!(matches!(
        client.unassign_user(3, 1).await,
        Err(Error::NotFound)
    ));
    assert!(
        matches!(
            client.unassign_user(3, 2).await,
            Err(Error::Conflict { .. })
        ),
        "the last user of an active campaign"
    );
    assert!(matches!(
        client.campaign_users(99, None, None).await,
        Err(Error::NotFound)
    ));
}

/// The client against each kind of emulator fault (campaignd-testkit's
/// `Emulator`): reads are retried after a 429, a 503 and a dropped
/// connection; writes after a 429 (which changed nothing) but not after a
/// 503 or a drop, whose outcome the client cannot know.
#[tokio::test]
async fn the_client_retries_what_is_safe_to_retry_against_emulator_faults() {
    use campaignd_model::Scope;
    use campaignd_testkit::Emulator;

    let emulator = Emulator::start().await.unwrap();
    let client = emulator.client_with(emulator.full_key());
    let get = "/api/v4/campaigns/{campaign_id}";
    for action in [
        serde_json::json!({"status": 429}),
        serde_json::json!({"status": 503}),
        serde_json::json!({"drop": true}),
    ] {
        emulator.clear_requests().await.unwrap();
        emulator
            .add_fault(serde_json::json!({"match": {"route": get}, "action": action, "times": 1}))
            .await
            .unwrap();
        let campaign = client.get_campaign(3).await.expect("retried to success");
        assert_eq!(campaign.id, 3);
        let sent = emulator.requests("method=GET").await.unwrap();
        assert_eq!(sent.len(), 2, "{action}: one failure, one retry");
    }
    for (action, sent) in [
        (serde_json::json!({"status": 429}), 2),
        (serde_json::json!({"status": 503}), 1),
        (serde_json::json!({"drop": true}), 1),
    ] {
        emulator.clear_requests().await.unwrap();
        emulator
            .add_fault(
                serde_json::json!({"match": {"route": "/api/v4/campaigns", "method": "POST"},
                                          "action": action, "times": 1}),
            )
            .await
            .unwrap();
        let name = format!("Retry {}", action.to_string().len());
        let result = client
            .create_campaign(&serde_json::json!({"name": name}))
            .await;
        assert_eq!(result.is_ok(), sent == 2, "{action}: {result:?}");
        let posts = emulator.requests("method=POST").await.unwrap();
        assert_eq!(posts.len(), sent, "{action}");
    }
    // The keys of each scope are ready, and survive a reset.
    emulator.reset().await.unwrap();
    let reader = emulator.client(Scope::CampaignsRead);
    assert_eq!(reader.get_campaign(3).await.unwrap().id, 3);
    assert!(
        emulator
            .client(Scope::UsersRead)
            .get_campaign(3)
            .await
            .is_err(),
        "users.read alone may not read campaigns"
    );
}
