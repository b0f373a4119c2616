//! The push webhook receiver over real HTTP on loopback: signatures of
//! GitHub, Gitea and GitLab, and exactly one trigger per watching
//! Application for an authentic push.

use std::net::SocketAddr;

use capstan_source::webhook::{Hooks, Trigger, Watch};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

const SECRET: &str = "It's a Secret to Everybody";

fn push(url: &str, pushed_ref: &str) -> String {
    serde_json::json!({
        "ref": pushed_ref,
        "after": "0000000000000000000000000000000000000001",
        "repository": {"clone_url": url, "default_branch": "main"},
    })
    .to_string()
}

fn hmac_hex(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn serve() -> (SocketAddr, UnboundedReceiver<Trigger>) {
    let (hooks, triggers) = Hooks::new(SECRET);
    for (app, revision) in [("guestbook", "main"), ("staging", "staging"), ("releases", "~1.2")] {
        hooks.watch(Watch {
            app: app.into(),
            repo_url: "https://git.example/org/apps.git".into(),
            revision: revision.into(),
        });
    }
    hooks.watch(Watch {
        app: "elsewhere".into(),
        repo_url: "https://git.example/org/other".into(),
        revision: "main".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = hooks.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, triggers)
}

/// POSTs `body` with `headers`; returns the status code.
async fn post(addr: SocketAddr, headers: &[(&str, String)], body: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST /hooks/git HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("an HTTP status line")
}

fn drain(triggers: &mut UnboundedReceiver<Trigger>) -> Vec<String> {
    std::iter::from_fn(|| triggers.try_recv().ok()).map(|t| t.app).collect()
}

#[tokio::test]
async fn bad_or_missing_signatures_get_401_and_trigger_nothing() {
    let (addr, mut triggers) = serve().await;
    let body = push("https://git.example/org/apps.git", "refs/heads/main");
    let forged = format!("sha256={}", hmac_hex("another body"));
    assert_eq!(post(addr, &[("X-Hub-Signature-256", forged)], &body).await, 401);
    assert_eq!(post(addr, &[("X-Gitea-Signature", "00".repeat(32))], &body).await, 401);
    assert_eq!(post(addr, &[("X-Gitlab-Token", "guess".into())], &body).await, 401);
    assert_eq!(post(addr, &[], &body).await, 401);
    assert_eq!(drain(&mut triggers), Vec::<String>::new());
}

#[tokio::test]
async fn an_authentic_push_triggers_each_watching_application_once() {
    let (addr, mut triggers) = serve().await;
    let body = push("git@git.example:org/apps.git", "refs/heads/main");
    let github = format!("sha256={}", hmac_hex(&body));
    assert_eq!(post(addr, &[("X-GitHub-Event", "push".into()), ("X-Hub-Signature-256", github)], &body).await, 202);
    assert_eq!(drain(&mut triggers), ["guestbook"]);

    let tag = push("https://git.example/org/apps", "refs/tags/v1.2.9");
    assert_eq!(post(addr, &[("X-Gitea-Signature", hmac_hex(&tag))], &tag).await, 202);
    assert_eq!(drain(&mut triggers), ["releases"]);

    let gitlab = serde_json::json!({
        "object_kind": "push",
        "ref": "refs/heads/staging",
        "project": {"git_http_url": "https://git.example/org/apps.git", "git_ssh_url": "git@git.example:org/apps.git"},
    })
    .to_string();
    assert_eq!(post(addr, &[("X-Gitlab-Token", SECRET.into())], &gitlab).await, 202);
    assert_eq!(drain(&mut triggers), ["staging"]);
}

#[tokio::test]
async fn authentic_events_without_a_push_are_accepted_and_ignored() {
    let (addr, mut triggers) = serve().await;
    let ping = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    assert_eq!(post(addr, &[("X-Hub-Signature-256", format!("sha256={}", hmac_hex(ping)))], ping).await, 200);
    assert!(drain(&mut triggers).is_empty());
}
