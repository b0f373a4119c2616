//! The in-cluster controller: every `Application` in the cluster reconciled
//! continuously from Git with the same [`capstan_reconcile::Engine`] the CLI
//! uses.
//!
//! Start at [`run`]. It drives a kube-runtime `Controller` over
//! [`ApplicationResource`]s; an Application is reconciled ([`reconcile`])
//! when its spec changes, when its poll interval (with jitter) elapses, when
//! a signed push webhook names its repository ([`http`]), and when an object
//! it manages changes ([`watches`]: metadata-only watches per kind, shared by
//! all Applications; no periodic GET or LIST of managed objects). What a
//! pass found goes to the Application's `status` through the status
//! subresource with server-side apply ([`status`]), written only when it
//! changed, so a pass over unchanged Applications writes nothing, and
//! Kubernetes Events say what changed ([`events`]). `capstan sync`,
//! `rollback` and `resume` ask through an annotation
//! ([`capstan_types::OperationRequest`]); `spec.dependsOn` holds an
//! Application until its dependencies are ready ([`depends`]). With leader
//! election ([`leader`]) only the holder of a Lease reconciles; standbys
//! wait and report not ready.

pub mod cli;
pub mod depends;
pub mod events;
pub mod http;
pub mod install;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod status;
pub mod supersede;
pub mod watches;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use capstan_reconcile::Engine;
use capstan_source::webhook::Hooks;
use capstan_types::ApplicationResource;
use futures::StreamExt;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client};

/// The field manager of everything the controller writes to an Application.
pub const FIELD_MANAGER: &str = "capstan-controller";

/// Errors of starting or running the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP port could not be opened.
    #[error("failed to listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CRD is not installed or not served.
    #[error("failed to list Applications (is the CRD applications.capstan.dev installed?)")]
    Crd(#[source] kube::Error),
    /// Leader election failed, or this controller lost the Lease: it
    /// stopped reconciling, and exits so that its Pod restarts as a standby.
    #[error(transparent)]
    Leader(#[from] leader::Error),
}

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Watch Applications in this namespace only; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Applications reconciled at once; a slow one never blocks more than its slot.
    pub concurrency: u16,
    /// Address of the HTTP port: `/hooks/git`, `/healthz`, `/readyz`, `/metrics`.
    pub listen: SocketAddr,
    /// Shared secret of the push webhook; without one, `/hooks/git` refuses everything.
    pub webhook_secret: Vec<u8>,
    /// The connection settings the client was made from, to impersonate an
    /// Application's `spec.serviceAccountName`; `None` refuses such
    /// Applications (with the reason in their status).
    pub kube_config: Option<kube::Config>,
    /// Reconcile only while holding this Lease (`--leader-elect`); `None`
    /// reconciles at once (run a single replica then).
    pub leader_election: Option<leader::LeaderElection>,
    /// The metrics `/metrics` serves; the caller keeps a handle to hook the
    /// plugin host ([`metrics::Metrics::plugin_observer`]) and the client
    /// ([`cli::counting_client`]) into them.
    pub metrics: Arc<metrics::Metrics>,
}

impl Config {
    /// Defaults: all namespaces, 8 at once, port 8080, no webhook secret.
    pub fn new() -> Self {
        Self {
            namespace: None,
            concurrency: 8,
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            webhook_secret: Vec::new(),
            kube_config: None,
            leader_election: None,
            metrics: Arc::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// State shared by every reconcile.
pub struct Context {
    /// The engine (plugin host, source cache).
    pub engine: Engine,
    /// The controller's own client.
    pub client: Client,
    /// The push webhook receiver.
    pub hooks: Arc<Hooks>,
    /// Watches of managed objects.
    pub watches: watches::Watches,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Events on Applications.
    pub events: events::Events,
    /// Applications blocked on others (`spec.dependsOn`).
    pub dependents: depends::Dependents,
    /// Wakes an Application (a dependency of it was reconciled).
    pub wake: futures::channel::mpsc::UnboundedSender<ObjectRef<ApplicationResource>>,
    /// The Applications syncing now, whose head watches a push nudges.
    pub syncing: Arc<supersede::Syncing>,
    config: Config,
    failures: Mutex<HashMap<String, u32>>,
    clients: Mutex<HashMap<String, Client>>,
}

impl Context {
    /// Consecutive failures of `key`, after adding one (or resetting on success).
    fn note_failure(&self, key: &str, failed: bool) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failed {
            let count = failures.entry(key.to_owned()).or_default();
            *count += 1;
            *count
        } else {
            failures.remove(key);
            0
        }
    }
}

/// Runs the controller until `shutdown` completes: reconciles in flight
/// finish, no new ones start. Listens on `config.listen` meanwhile. With
/// leader election it first waits to hold the Lease (not ready meanwhile),
/// releases it after stopping, and returns [`Error::Leader`] at once,
/// abandoning the reconciles in flight, if it loses the Lease.
pub async fn run(
    engine: Engine,
    client: Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // kube-runtime wants a `Sync` future; a oneshot receiver is one.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The same signal for a standby waiting for the Lease.
    let (stopping, mut standby_stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(());
        let _ = stopping.send(true);
    });
    let (hooks, mut triggers) = Hooks::new(config.webhook_secret.clone());
    let (wake, woken) = futures::channel::mpsc::unbounded::<ObjectRef<ApplicationResource>>();
    let metrics = config.metrics.clone();
    let apps: Api<ApplicationResource> = match &config.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    apps.list(&kube::api::ListParams::default().limit(1)).await.map_err(Error::Crd)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen { addr: config.listen, source })?;
    let context = Arc::new(Context {
        engine,
        client: client.clone(),
        hooks: hooks.clone(),
        watches: watches::Watches::new(client.clone(), wake.clone()),
        metrics: metrics.clone(),
        events: events::Events::new(client.clone()),
        dependents: depends::Dependents::default(),
        wake: wake.clone(),
        syncing: Arc::default(),
        config: config.clone(),
        failures: Mutex::default(),
        clients: Mutex::default(),
    });
    // Webhook pushes name an Application as "namespace/name"; one that is
    // syncing checks at once whether the push superseded its sync.
    let webhook_wake = wake.clone();
    let syncing = context.syncing.clone();
    tokio::spawn(async move {
        while let Some(trigger) = triggers.recv().await {
            syncing.nudge(&trigger.app);
            if let Some((namespace, name)) = trigger.app.split_once('/') {
                let _ = webhook_wake.unbounded_send(ObjectRef::new(name).within(namespace));
            }
        }
    });
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = http::serve(listener, hooks, metrics, ready.clone());
    let server = tokio::spawn(server);
    let mut leadership = match &config.leader_election {
        None => None,
        Some(election) => {
            let shutdown = async move {
                let _ = standby_stop.wait_for(|stopping| *stopping).await;
            };
            let acquired = leader::acquire(client.clone(), election, shutdown).await;
            match acquired {
                Ok(Some(leadership)) => Some(leadership),
                stopped_or_failed => {
                    server.abort();
                    tracing::info!("controller stopped as a standby");
                    return stopped_or_failed.map(drop).map_err(Error::Leader);
                }
            }
        }
    };

    let controller = Controller::new(apps, watcher::Config::default())
        .with_config(controller::Config::default().concurrency(config.concurrency).debounce(Duration::from_millis(50)))
        .reconcile_on(woken)
        .graceful_shutdown_on(async move {
            let _ = stopped.await;
        });
    ready.store(true, std::sync::atomic::Ordering::Release);
    tracing::info!(namespace = config.namespace.as_deref().unwrap_or("*"), "controller started");
    let passes =
        controller.run(reconcile::reconcile, reconcile::error_policy, context.clone()).for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(error = %error, "controller event");
            }
        });
    let lost = match &mut leadership {
        // Dropping `passes` drops the reconciles in flight: once the Lease
        // may be another controller's, this one must not write a thing more
        // (a sync cut short resumes under the new leader, as after a crash).
        Some(leadership) => tokio::select! {
            () = passes => None,
            error = leadership.lost() => Some(error),
        },
        None => {
            passes.await;
            None
        }
    };
    ready.store(false, std::sync::atomic::Ordering::Release);
    server.abort();
    context.watches.stop();
    if let Some(error) = lost {
        tracing::error!(error = %error, "controller stopped: the leader election Lease was lost");
        return Err(error.into());
    }
    if let Some(leadership) = leadership {
        // A standby takes over at once; if this fails, after the lease expires.
        if let Err(error) = leadership.release().await {
            tracing::warn!(error = %error, "failed to release the leader election Lease");
        }
    }
    tracing::info!("controller stopped");
    Ok(())
}
