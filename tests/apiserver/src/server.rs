//! [`TestApiServer`]: binds a loopback port, runs the accept loop and the
//! background garbage collector, and hands out clients and kubeconfigs.

use crate::error::{Error, Result};
use crate::faults::Faults;
use crate::handlers::{self, Shared};
use crate::store::Store;
use crate::{RecordedRequest, catalog, controllers, gc, meta};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How to start a [`TestApiServer`].
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Load objects from this JSON file at start (when it exists) and write
    /// them back after every write, so consecutive processes see one "cluster".
    pub state_file: Option<PathBuf>,
    /// Port on 127.0.0.1 (default: any free port).
    pub port: Option<u16>,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// How many changes are kept for watches resuming from a resourceVersion.
    pub watch_history: usize,
    /// Stand in for the cluster's controllers: Deployments, StatefulSets,
    /// DaemonSets and ReplicaSets report every replica ready at their
    /// current generation, Jobs complete, PVCs bind (default: off).
    pub simulate_controllers: bool,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            state_file: None,
            port: None,
            bookmark_interval: Duration::from_secs(1),
            watch_history: 10_000,
            simulate_controllers: false,
        }
    }
}

impl ServerConfig {
    /// A config persisting to `state_file`.
    pub fn with_state_file(state_file: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig { state_file: Some(state_file.into()), ..ServerConfig::default() }
    }
}

/// An in-process Kubernetes API server on 127.0.0.1 (see the crate docs).
pub struct TestApiServer {
    shared: Arc<Shared>,
    url: String,
    client: kube::Client,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Namespaces every cluster starts with.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl TestApiServer {
    /// Starts a server with in-memory state on a free port.
    pub async fn start() -> Result<TestApiServer> {
        TestApiServer::start_with(ServerConfig::default()).await
    }

    /// Starts a server with `config`.
    pub async fn start_with(config: ServerConfig) -> Result<TestApiServer> {
        let mut store = Store::open(config.state_file.clone(), config.watch_history.max(1))?;
        seed(&mut store);
        store.persist()?;
        let listener = TcpListener::bind(("127.0.0.1", config.port.unwrap_or(0))).await.map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        let url = format!("http://{addr}");
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            log: Mutex::new(Default::default()),
            faults: Faults::default(),
            address: addr.to_string(),
            writes: AtomicUsize::new(0),
            gc: tokio::sync::Notify::new(),
            bookmark_interval: config.bookmark_interval,
            simulate_controllers: config.simulate_controllers,
        });
        let kube_config = kube::Config::new(url.parse().map_err(Error::Url)?);
        let client = kube::Client::try_from(kube_config).map_err(Error::Client)?;
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(accept_loop(listener, shared.clone(), stopped.clone())),
            tokio::spawn(collector(shared.clone(), stopped)),
        ];
        Ok(TestApiServer { shared, url, client, stop, tasks })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A `kube::Config` for the server (default namespace `default`). Set
    /// `default_retry = false` on it to see 429/503 errors instead of retries.
    pub fn kube_config(&self) -> kube::Config {
        kube::Config::new(self.url.parse().expect("the server URL parsed at start"))
    }

    /// A client built from [`TestApiServer::kube_config`].
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kubeconfig with one context, `capstan-local`, pointing at the server.
    pub fn kubeconfig(&self) -> kube::config::Kubeconfig {
        let name = "capstan-local";
        let value = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": self.url}}],
            "users": [{"name": name, "user": {}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
            "current-context": name,
        });
        serde_json::from_value(value).expect("a static kubeconfig deserialises")
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// The requests received so far, in arrival order (`status` is 0 while
    /// a request is in flight, or when its connection was dropped).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock_log().entries()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.lock_log().clear();
    }

    /// Client write requests (POST/PUT/PATCH/DELETE, not dry-run) that
    /// changed storage. No-op applies and updates do not count; neither do
    /// the garbage collector's own deletions.
    pub fn write_count(&self) -> usize {
        self.shared.writes.load(Ordering::SeqCst)
    }

    /// Forgets the watch history, as etcd compaction does: watches resuming
    /// from an older resourceVersion then get 410 Gone.
    pub fn compact(&self) {
        self.shared.lock_store().compact();
    }

    /// The current resourceVersion of the whole store.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock_store().resource_version()
    }

    /// Stops accepting, closes connections and waits for the tasks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn seed(store: &mut Store) {
    if !store.list(catalog::NAMESPACE_KEY, None).is_empty() {
        return;
    }
    let now = meta::now();
    for name in INITIAL_NAMESPACES {
        let ns = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "uid": meta::uid(), "creationTimestamp": now,
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        store.put(catalog::NAMESPACE_KEY, ns);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handlers::handle(shared.clone(), req));
                    // An Err here is a dropped connection (injected) or a client gone away.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
    connections.abort_all();
}

/// Runs the garbage collector at start (a state file may hold unfinished
/// deletions) and after every write; it is idle otherwise.
async fn collector(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        sweep_all(&shared);
        tokio::select! {
            _ = stopped.changed() => return,
            _ = shared.gc.notified() => {}
        }
    }
}

fn sweep_all(shared: &Shared) {
    {
        let mut store = shared.lock_store();
        let mut changed = false;
        for _ in 0..10_000 {
            let progressed = gc::sweep(&mut store) || (shared.simulate_controllers && controllers::step(&mut store));
            if !progressed {
                break;
            }
            changed = true;
        }
        if changed && let Err(e) = store.persist() {
            tracing::warn!(error = %e, "failed to persist the state file");
        }
    }
}
