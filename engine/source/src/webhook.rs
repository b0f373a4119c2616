//! The push webhook receiver: `POST /hooks/git` with a GitHub, Gitea or
//! GitLab push payload triggers an immediate fetch of the Applications
//! watching that repository and revision.
//!
//! Authenticity first: GitHub's `X-Hub-Signature-256` and Gitea's
//! `X-Gitea-Signature` are HMAC-SHA256 of the body with the shared secret,
//! GitLab's `X-Gitlab-Token` is the secret itself; both compared in constant
//! time. A request that fails the check gets `401` and triggers nothing.
//! The body is trusted for nothing but *which* Applications to fetch now:
//! what is fetched is still decided by the Application and the remote.
//!
//! The consumer (the controller) registers watches with [`Hooks::watch`] and
//! reads [`Trigger`]s from the channel [`Hooks::new`] returns.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

/// Bodies larger than this are refused before the HMAC is computed.
const MAX_BODY: usize = 4 << 20;

/// An Application that wants to hear about pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// Application name (namespace/name in the controller).
    pub app: String,
    /// `spec.source.repoURL`.
    pub repo_url: String,
    /// `spec.source.revision`: a branch, a tag, `HEAD`, or a semver range
    /// (which any tag push may satisfy).
    pub revision: String,
}

/// "Fetch this Application now."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The Application.
    pub app: String,
    /// The ref that was pushed (`refs/heads/main`).
    pub pushed_ref: String,
}

/// Shared state of the receiver.
#[derive(Debug)]
pub struct Hooks {
    secret: Vec<u8>,
    watches: Mutex<Vec<Watch>>,
    triggers: mpsc::UnboundedSender<Trigger>,
}

impl Hooks {
    /// A receiver checking requests against `secret`, and the channel its
    /// triggers arrive on.
    pub fn new(secret: impl Into<Vec<u8>>) -> (Arc<Self>, mpsc::UnboundedReceiver<Trigger>) {
        let (triggers, rx) = mpsc::unbounded_channel();
        (Arc::new(Self { secret: secret.into(), watches: Mutex::default(), triggers }), rx)
    }

    /// Registers (or replaces) the watch of `watch.app`.
    pub fn watch(&self, watch: Watch) {
        let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        watches.retain(|w| w.app != watch.app);
        watches.push(watch);
    }

    /// Forgets an Application.
    pub fn unwatch(&self, app: &str) {
        self.watches.lock().unwrap_or_else(PoisonError::into_inner).retain(|w| w.app != app);
    }

    /// The router serving `POST /hooks/git`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/hooks/git", post(receive))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
            .with_state(Arc::clone(self))
    }

    fn authentic(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(sig) = header("x-hub-signature-256") {
            return sig.strip_prefix("sha256=").is_some_and(|hex| self.hmac_matches(hex, body));
        }
        if let Some(sig) = header("x-gitea-signature") {
            return self.hmac_matches(sig, body);
        }
        header("x-gitlab-token").is_some_and(|token| constant_time_eq(token.as_bytes(), &self.secret))
    }

    fn hmac_matches(&self, hex_sig: &str, body: &[u8]) -> bool {
        let Ok(expected) = hex::decode(hex_sig.trim()) else { return false };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else { return false };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    }

    /// Sends one trigger per Application watching the pushed repo and ref.
    fn dispatch(&self, push: &Push) -> usize {
        let watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        let mut sent = 0;
        for watch in watches.iter().filter(|w| push.concerns(w)) {
            if self.triggers.send(Trigger { app: watch.app.clone(), pushed_ref: push.pushed_ref.clone() }).is_ok() {
                sent += 1;
            }
        }
        sent
    }
}

async fn receive(State(hooks): State<Arc<Hooks>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    if hooks.secret.is_empty() || !hooks.authentic(&headers, &body) {
        tracing::warn!("webhook refused: missing or wrong signature");
        return (StatusCode::UNAUTHORIZED, "signature missing or wrong\n".into());
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not JSON\n".into());
    };
    // Pings and other events carry no ref: accepted, nothing to do.
    let Some(push) = Push::parse(&payload) else { return (StatusCode::OK, "{\"triggered\":0}\n".into()) };
    let triggered = hooks.dispatch(&push);
    tracing::info!(pushed_ref = %push.pushed_ref, triggered, "webhook push");
    (StatusCode::ACCEPTED, format!("{{\"triggered\":{triggered}}}\n"))
}

/// The parts of a push payload that matter, from any of the three forges.
#[derive(Debug)]
struct Push {
    pushed_ref: String,
    urls: Vec<String>,
    default_branch: Option<String>,
}

impl Push {
    fn parse(payload: &serde_json::Value) -> Option<Self> {
        let pushed_ref = payload.get("ref")?.as_str()?.to_owned();
        // GitHub/Gitea: `repository`; GitLab: `project` (and a legacy `repository`).
        let mut urls = Vec::new();
        for holder in ["repository", "project"] {
            let Some(object) = payload.get(holder) else { continue };
            for key in [
                "clone_url",
                "html_url",
                "ssh_url",
                "git_url",
                "url",
                "git_http_url",
                "git_ssh_url",
                "web_url",
                "http_url",
            ] {
                if let Some(url) = object.get(key).and_then(|v| v.as_str()) {
                    urls.push(normalise_url(url));
                }
            }
        }
        let default_branch = ["repository", "project"]
            .iter()
            .find_map(|h| payload.get(h)?.get("default_branch")?.as_str().map(str::to_owned));
        Some(Self { pushed_ref, urls, default_branch })
    }

    fn concerns(&self, watch: &Watch) -> bool {
        if !self.urls.contains(&normalise_url(&watch.repo_url)) {
            return false;
        }
        let rev = watch.revision.as_str();
        match self.pushed_ref.strip_prefix("refs/tags/") {
            Some(tag) => tag == rev || crate::revision::is_range(rev),
            None => {
                let branch = self.pushed_ref.strip_prefix("refs/heads/").unwrap_or(&self.pushed_ref);
                branch == rev
                    || self.pushed_ref == rev
                    || (rev == "HEAD" && self.default_branch.as_deref() == Some(branch))
            }
        }
    }
}

/// One spelling per repository: no scheme, user, `.git` or trailing slash;
/// `git@host:org/repo` as `host/org/repo`; lower case.
fn normalise_url(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let rest = rest.split_once('@').filter(|(user, _)| !user.contains('/')).map_or(rest, |(_, r)| r);
    let rest = match rest.split_once(':') {
        // scp-like `host:path` (a port would be all digits before a slash)
        Some((host, path)) if !path.split('/').next().unwrap_or("").chars().all(|c| c.is_ascii_digit()) => {
            format!("{host}/{path}")
        }
        _ => rest.to_owned(),
    };
    rest.trim_end_matches('/').trim_end_matches(".git").to_owned()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_one_repository_normalise_alike() {
        let want = "github.com/org/repo";
        for url in [
            "https://github.com/org/repo.git",
            "https://github.com/Org/Repo/",
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo",
            "https://token@github.com/org/repo",
        ] {
            assert_eq!(normalise_url(url), want, "{url}");
        }
        assert_eq!(normalise_url("http://127.0.0.1:8080/repo.git"), "127.0.0.1:8080/repo");
    }

    #[test]
    fn pushes_concern_branches_tags_ranges_and_head() {
        let payload = serde_json::json!({
            "ref": "refs/heads/main",
            "repository": {"clone_url": "https://git.example/org/app.git", "default_branch": "main"}
        });
        let push = Push::parse(&payload).unwrap();
        let watch = |revision: &str| Watch {
            app: "a".into(),
            repo_url: "git@git.example:org/app".into(),
            revision: revision.into(),
        };
        assert!(push.concerns(&watch("main")));
        assert!(push.concerns(&watch("HEAD")));
        assert!(!push.concerns(&watch("release")));
        assert!(!push.concerns(&watch("~1.0")));
        let tag = Push { pushed_ref: "refs/tags/v1.0.1".into(), ..push };
        assert!(tag.concerns(&watch("~1.0")));
        assert!(tag.concerns(&watch("v1.0.1")));
        assert!(!tag.concerns(&watch("main")));
    }
}
