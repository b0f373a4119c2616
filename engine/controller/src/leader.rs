//! Leader election (`--leader-elect`): of the controllers sharing a
//! `coordination.k8s.io/v1` Lease, only the holder reconciles; the others
//! are standbys that wait, report not ready, and take over when the holder
//! goes.
//!
//! The locking protocol is `kube-lease-manager`'s (server-side apply of
//! `holderIdentity`: two standbys grabbing a free Lease at once conflict,
//! and only one wins). Its standby sleeps until the holder's lease expires;
//! on top of it a watch on the Lease wakes a standby as soon as the holder
//! releases it ([`acquire`]), so a controller stopped with SIGTERM (which
//! releases, [`Leadership::release`]) is replaced at once rather than a
//! lease duration later. A holder that cannot renew before its lease
//! expires, or finds another holder, has lost: [`Leadership::lost`]
//! completes and the controller stops reconciling at once and exits with
//! the error, so that its Pod restarts as a standby.

use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerError, LeaseParams};

/// The Lease's name unless configured otherwise.
pub const DEFAULT_LEASE_NAME: &str = "capstan-controller";
/// The namespace of the Lease when neither a flag nor `$POD_NAMESPACE` names one.
pub const DEFAULT_NAMESPACE: &str = "capstan-system";

/// How a controller takes part in leader election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// Name of the Lease.
    pub lease_name: String,
    /// Namespace of the Lease.
    pub namespace: String,
    /// This controller's identity in the Lease (unique among the replicas).
    pub identity: String,
    /// How long the Lease is valid after each renewal; a holder that
    /// vanishes without releasing is replaced this long after its last
    /// renewal. Whole seconds (the Lease's unit), longer than `renew_before`.
    pub lease_duration: Duration,
    /// How long before expiry the holder renews: also the clock skew
    /// between nodes the election tolerates.
    pub renew_before: Duration,
}

impl LeaderElection {
    /// The Lease `capstan-controller` in `namespace`, held as `identity`
    /// for 15 s and renewed 5 s before it expires (client-go's defaults
    /// for controllers: 15 s leases, renewed within 10 s).
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            lease_name: DEFAULT_LEASE_NAME.to_owned(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_before: Duration::from_secs(5),
        }
    }

    /// `namespace/name` of the Lease.
    pub fn lease(&self) -> String {
        format!("{}/{}", self.namespace, self.lease_name)
    }

    /// The identity when none is configured: `$POD_NAME` (unique among a
    /// Deployment's Pods), else the host name and process id.
    pub fn default_identity() -> String {
        if let Some(pod) = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()) {
            return pod;
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "capstan".to_owned());
        format!("{host}-{}", std::process::id())
    }

    fn params(&self) -> Result<LeaseParams, Error> {
        let (duration, grace) = (self.lease_duration.as_secs(), self.renew_before.as_secs());
        if grace == 0 || duration <= grace {
            // kube-lease-manager panics on these; say it instead.
            return Err(Error::Config {
                lease: self.lease(),
                reason: format!(
                    "the lease duration ({duration} s) must be longer than the renewal margin ({grace} s), which must be at least 1 s"
                ),
            });
        }
        Ok(LeaseParams::new(self.identity.clone(), duration, grace))
    }
}

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings cannot work.
    #[error("leader election on Lease {lease}: {reason}")]
    Config {
        /// `namespace/name` of the Lease.
        lease: String,
        /// Why.
        reason: String,
    },
    /// Another controller holds the Lease now: this one must stop.
    #[error("lost the leader election Lease {lease} to {}", .holder.as_deref().unwrap_or("nobody (released by someone else)"))]
    Lost {
        /// `namespace/name` of the Lease.
        lease: String,
        /// Its holder now.
        holder: Option<String>,
    },
    /// The Lease could not be renewed before it expired.
    #[error("failed to renew the leader election Lease {lease} before it expired")]
    Renew {
        /// `namespace/name` of the Lease.
        lease: String,
        /// Why.
        #[source]
        source: LeaseManagerError,
    },
    /// The task renewing the Lease ended unexpectedly (a bug).
    #[error("the renewal of the leader election Lease {lease} stopped")]
    Stopped {
        /// `namespace/name` of the Lease.
        lease: String,
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Waits until this controller holds the Lease (creating it if missing),
/// or until `shutdown` completes (`None`: stopped as a standby). API
/// errors meanwhile are logged and retried: a standby waits for the API
/// server like any controller does.
pub async fn acquire(
    client: Client,
    election: &LeaderElection,
    shutdown: impl Future<Output = ()>,
) -> Result<Option<Leadership>, Error> {
    let params = election.params()?;
    let api: Api<Lease> = Api::namespaced(client.clone(), &election.namespace);
    let mut released = std::pin::pin!(released(api.clone(), &election.lease_name, &election.identity));
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Duration::from_secs(1);
    tracing::info!(lease = %election.lease(), identity = %election.identity, "waiting to become the leader");
    loop {
        // A fresh manager reads the Lease now (an old one trusts the expiry
        // it read last, so it would sleep through a release).
        let outcome = tokio::select! {
            () = &mut shutdown => return Ok(None),
            outcome = try_once(&client, election, &params, &mut released) => outcome,
        };
        match outcome {
            Ok(Some(manager)) => {
                tracing::info!(lease = %election.lease(), identity = %election.identity, "became the leader");
                return Ok(Some(Leadership::start(manager, api, election.clone())));
            }
            Ok(None) => backoff = Duration::from_secs(1),
            Err(error) => {
                tracing::warn!(lease = %election.lease(), error = %error, "leader election: retrying");
                tokio::select! {
                    () = &mut shutdown => return Ok(None),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// One manager's wait: `Some` once it holds the Lease, `None` when the
/// holder released it (try again with a fresh manager).
async fn try_once(
    client: &Client,
    election: &LeaderElection,
    params: &LeaseParams,
    released: &mut (impl Stream<Item = ()> + Unpin),
) -> Result<Option<LeaseManager>, LeaseManagerError> {
    let manager = LeaseManager::new(
        client.clone(),
        &election.lease_name,
        &election.namespace,
        params.clone(),
        LeaseCreateMode::AutoCreate,
    )
    .await?;
    tracing::debug!(lease = %election.lease(), "reading the Lease");
    loop {
        tokio::select! {
            changed = manager.changed() => {
                // The manager reports changes only; it starts as not leader.
                if changed? {
                    return Ok(Some(manager));
                }
            }
            // Dropping `changed()` here is safe: had it taken the Lease
            // meanwhile, the next manager (same identity) finds it held by
            // us and reports that at once.
            _ = released.next() => return Ok(None),
        }
    }
}

/// A tick each time the Lease goes from held by another controller to
/// free: the moment a standby should try.
fn released(api: Api<Lease>, name: &str, identity: &str) -> impl Stream<Item = ()> + use<> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let identity = identity.to_owned();
    let mut held_by_other = false;
    watcher(api, config).default_backoff().applied_objects().filter_map(move |lease| {
        let tick = match lease {
            Ok(lease) => {
                let holder = lease.spec.and_then(|spec| spec.holder_identity);
                let freed = held_by_other && holder.is_none();
                held_by_other = holder.is_some_and(|h| h != identity);
                freed.then_some(())
            }
            Err(error) => {
                tracing::debug!(%error, "leader election: watching the Lease");
                None
            }
        };
        std::future::ready(tick)
    })
}

/// This controller holds the Lease: a task renews it until it is lost or
/// released.
pub struct Leadership {
    manager: std::sync::Arc<LeaseManager>,
    renewing: tokio::task::JoinHandle<Error>,
    election: LeaderElection,
}

impl Leadership {
    fn start(manager: LeaseManager, api: Api<Lease>, election: LeaderElection) -> Self {
        let manager = std::sync::Arc::new(manager);
        let renewing = tokio::spawn(renew(manager.clone(), api, election.clone()));
        Self { manager, renewing, election }
    }

    /// Completes when the Lease is lost, with why.
    pub async fn lost(&mut self) -> Error {
        match (&mut self.renewing).await {
            Ok(error) => error,
            // Only a panic: the task is aborted by `release` alone, which consumes self.
            Err(source) => Error::Stopped { lease: self.election.lease(), source },
        }
    }

    /// Stops renewing and frees the Lease, so a standby takes over at once.
    pub async fn release(self) -> Result<(), Error> {
        self.renewing.abort();
        let _ = self.renewing.await;
        self.manager.release().await.map_err(|source| Error::Renew { lease: self.election.lease(), source })?;
        tracing::info!(lease = %self.election.lease(), "released the leader election Lease");
        Ok(())
    }
}

/// Renews the Lease until it is lost. A failed renewal is retried while
/// the Lease, as the API server has it, is still ours for more than a
/// second; after that a standby may take it, so this holder must stop.
async fn renew(manager: std::sync::Arc<LeaseManager>, api: Api<Lease>, election: LeaderElection) -> Error {
    loop {
        let source = match manager.changed().await {
            Ok(true) => continue,
            Ok(false) => {
                let holder = api.get_opt(&election.lease_name).await.ok().flatten().and_then(holder_of);
                return Error::Lost { lease: election.lease(), holder };
            }
            Err(source) => source,
        };
        match api.get_opt(&election.lease_name).await {
            Ok(Some(lease)) if held_for(&lease, &election.identity) > Duration::from_secs(1) => {
                tracing::warn!(lease = %election.lease(), error = %source, "failed to renew the Lease; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => return Error::Renew { lease: election.lease(), source },
        }
    }
}

fn holder_of(lease: Lease) -> Option<String> {
    lease.spec?.holder_identity
}

/// How much longer `identity` holds `lease` (zero if it does not).
fn held_for(lease: &Lease, identity: &str) -> Duration {
    let Some(spec) = &lease.spec else { return Duration::ZERO };
    let (Some(renewed), Some(seconds)) = (&spec.renew_time, spec.lease_duration_seconds) else {
        return Duration::ZERO;
    };
    if spec.holder_identity.as_deref() != Some(identity) {
        return Duration::ZERO;
    }
    let expiry = SystemTime::from(renewed.0) + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    expiry.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_held_only_by_its_holder_until_it_expires() {
        let lease = |holder: &str, renewed_ago: u64| {
            let renewed = SystemTime::now() - Duration::from_secs(renewed_ago);
            serde_json::from_value::<Lease>(serde_json::json!({
                "metadata": {"name": "capstan-controller"},
                "spec": {
                    "holderIdentity": holder,
                    "leaseDurationSeconds": 15,
                    "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                        k8s_openapi::jiff::Timestamp::try_from(renewed).unwrap()
                    ),
                },
            }))
            .unwrap()
        };
        assert!(held_for(&lease("a", 0), "a") > Duration::from_secs(13));
        assert_eq!(held_for(&lease("b", 0), "a"), Duration::ZERO);
        assert_eq!(held_for(&lease("a", 20), "a"), Duration::ZERO);
    }

    #[test]
    fn settings_the_lease_manager_would_panic_on_are_errors() {
        let mut election = LeaderElection::new("capstan-system", "a");
        assert!(election.params().is_ok());
        election.renew_before = election.lease_duration;
        assert!(election.params().unwrap_err().to_string().contains("must be longer"));
    }

    #[test]
    fn the_default_identity_is_never_empty() {
        assert!(!LeaderElection::default_identity().is_empty());
    }
}
