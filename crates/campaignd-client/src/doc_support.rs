//! Support for the crate's documentation examples: a loopback server that
//! answers like campaignd does for the documented campaign 3. Not part of
//! the API.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CAMPAIGN: &str = r#"{"id":3,"name":"Summer Outreach Campaign","status":"active","strategy":"simple","dial_level":1,"dial_level_override":{"enabled":true,"value":1.5,"active_agents_threshold":3},"max_dial_time":60,"max_wait_time":5,"max_dial_attempts":3,"amd_enabled":true,"amd_voicemail_message":{"enabled":false,"voice_message":{"type":"voice_message","name":"Instructions"}},"caller_id_sets":[{"phone_numbers":["18885650001","18885650002"]}],"use_local_caller_id":false,"asr_optimization_enabled":true,"follow_up_mode":"timer","created_at":"2026-01-15T10:30:00.000Z","updated_at":"2026-01-20T14:15:00.000Z"}"#;

/// Serves canned answers on a loopback port; returns the base URL.
pub async fn serve_example() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                loop {
                    let Ok(n) = stream.read(&mut buf[read..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    read += n;
                    let Some(end) = buf[..read].windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.copy_within(end + 4..read, 0);
                    read -= end + 4;
                    let path = head.split_whitespace().nth(1).unwrap_or("/");
                    let (status, body) = if path.starts_with("/api/v4/campaigns/3") {
                        ("200 OK", format!(r#"{{"campaign":{CAMPAIGN}}}"#))
                    } else if path.starts_with("/api/v4/campaigns?") || path == "/api/v4/campaigns"
                    {
                        let item = CAMPAIGN
                            .replace(r#""dial_level_override":{"enabled":true,"value":1.5,"active_agents_threshold":3},"#, "")
                            .replace(r#""use_local_caller_id":false,"asr_optimization_enabled":true,"#, "");
                        (
                            "200 OK",
                            format!(r#"{{"campaigns":[{item}],"metadata":{{"total":1}}}}"#),
                        )
                    } else {
                        ("404 Not Found", r#"{"error":"Not found"}"#.to_owned())
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/api/v4")
}
