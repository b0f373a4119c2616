//! A newer commit supersedes a running sync (Argo CD cannot: argo-cd#11494).
//!
//! While a real sync runs, a [`HeadWatch`] resolves the Application's
//! revision again every poll interval, and at once when a push webhook
//! names its repository ([`Syncing::nudge`]; kube-runtime queues the
//! webhook's reconcile until the running one ends, so the nudge is how a
//! push reaches a sync in flight). When the revision names another commit,
//! it fires the sync's cancellation token: the sync stops at its next safe
//! point (before a wave or hook, or while waiting for one), what it applied
//! stays on the inventory, and the pass is requeued at once, for the newer
//! commit. A failed sync needs nothing of this: every pass renders the
//! head, so a retry is always of the newest commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use capstan_apply::CancellationToken;
use capstan_reconcile::{AppFile, Engine};
use tokio::sync::Notify;

/// The Applications syncing now, by `namespace/name`, with what wakes
/// their head watch.
#[derive(Default)]
pub struct Syncing(Mutex<HashMap<String, Arc<Notify>>>);

impl Syncing {
    /// Makes the head watch of `key` look now, if it is syncing.
    pub fn nudge(&self, key: &str) {
        if let Some(notify) = self.0.lock().unwrap_or_else(PoisonError::into_inner).get(key) {
            notify.notify_one();
        }
    }

    fn enter(&self, key: &str) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned(), notify.clone());
        notify
    }

    fn leave(&self, key: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

/// Watches the head of one Application's revision while it syncs; stops
/// (and leaves [`Syncing`]) when dropped.
pub struct HeadWatch {
    cancel: CancellationToken,
    newer: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
    syncing: Arc<Syncing>,
    key: String,
}

impl HeadWatch {
    /// Starts watching `file`'s revision for a commit other than `commit`,
    /// every `every` and on a nudge.
    pub fn start(
        syncing: Arc<Syncing>,
        key: &str,
        engine: Engine,
        client: kube::Client,
        file: AppFile,
        commit: String,
        every: Duration,
    ) -> Self {
        let cancel = CancellationToken::new();
        let newer = Arc::new(Mutex::new(None));
        let notify = syncing.enter(key);
        let (token, found) = (cancel.clone(), newer.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = notify.notified() => {}
                }
                match engine.head(&file, &client).await {
                    Ok(head) if head != commit => {
                        tracing::info!(newer = %head, "a newer commit supersedes the running sync");
                        *found.lock().unwrap_or_else(PoisonError::into_inner) = Some(head);
                        token.cancel();
                        return;
                    }
                    Ok(_) => {}
                    // The sync goes on; the next look may get through.
                    Err(error) => tracing::debug!(error = %error, "head check failed during a sync"),
                }
            }
        });
        Self { cancel, newer, task, syncing, key: key.to_owned() }
    }

    /// The token the sync stops on.
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The commit that superseded the sync, if one did.
    pub fn newer(&self) -> Option<String> {
        self.newer.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for HeadWatch {
    fn drop(&mut self) {
        self.task.abort();
        self.syncing.leave(&self.key);
    }
}
