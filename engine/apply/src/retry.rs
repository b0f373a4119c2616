//! Retries of API calls: exponential backoff on 409, 429, 5xx and lost
//! connections, honouring the server's `Retry-After`.
//!
//! Every call retried here is idempotent (server-side apply, get, delete of
//! a named object), so a retry after a lost response cannot duplicate an
//! object. `kube::Client` already retries 429/503/504 below this layer when
//! its `default_retry` is on; this layer also covers 409, 500, 502 and
//! dropped connections, which it does not.

use std::future::Future;
use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base_delay: Duration,
    /// Longest delay between attempts (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 6, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// Runs `call` until it succeeds, fails for good, or attempts run out.
    pub async fn run<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut delay = self.base_delay;
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) if attempt < self.attempts && retryable(&error) => {
                    let wait = retry_after(&error).unwrap_or(delay).min(self.max_delay);
                    tracing::warn!(%what, attempt, ?wait, %error, "retrying");
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(self.max_delay);
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// Whether an error is worth another attempt.
pub fn retryable(error: &kube::Error) -> bool {
    match error {
        // A 500 from server-side apply's typed conversion (a field the
        // schema does not declare) fails the same way every time.
        kube::Error::Api(status) if status.code == 500 && status.message.contains(crate::errors::TYPED_PATCH) => false,
        kube::Error::Api(status) => matches!(status.code, 409 | 429 | 500 | 502 | 503 | 504),
        // Connection refused, reset or closed before a response.
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The server's `Retry-After` (from the Status body's `retryAfterSeconds`).
fn retry_after(error: &kube::Error) -> Option<Duration> {
    let kube::Error::Api(status) = error else { return None };
    let seconds = status.details.as_ref()?.retry_after_seconds;
    (seconds > 0).then(|| Duration::from_secs(seconds.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api_error(code: u16, retry_after_seconds: u32) -> kube::Error {
        let mut status = kube::core::Status::failure("injected", "Injected").with_code(code);
        if retry_after_seconds > 0 {
            status.details = Some(kube::core::response::StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: Vec::new(),
                retry_after_seconds,
            });
        }
        kube::Error::Api(status.boxed())
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::default();
        let started = tokio::time::Instant::now();
        let result = policy
            .run("test", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(api_error(429, 3)),
                    1 => Err(api_error(503, 0)),
                    _ => Ok("done"),
                }
            })
            .await;
        assert_eq!(result.unwrap(), "done");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Retry-After (3 s) for the 429, then the 200 ms second backoff step.
        assert_eq!(started.elapsed(), Duration::from_millis(3200));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_and_exhaustion_fail() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy { attempts: 3, ..RetryPolicy::default() };
        let not_found = policy
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(api_error(404, 0))
            })
            .await;
        assert!(not_found.is_err());
        assert_eq!(calls.swap(0, Ordering::SeqCst), 1);
        let busy = policy
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(api_error(500, 0))
            })
            .await;
        assert!(busy.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
