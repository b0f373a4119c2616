//! Changes of managed objects wake the Application that manages them.
//!
//! One metadata-only watch per kind, shared by every Application that has
//! objects of that kind, started when a sync first applies one: the API
//! server pushes changes, so drift is seen within one watch event and
//! nothing polls. Events for the `resourceVersion` the controller itself
//! left behind are its own writes and wake nobody. An Application woken
//! again and again by changes (another controller fighting over a field) is
//! woken with a growing delay, so a fight never spins.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use capstan_apply::Action;
use capstan_reconcile::SyncReport;
use capstan_types::ApplicationResource;
use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

/// Wakes closer together than this count as one fight.
const QUIET: Duration = Duration::from_secs(30);
/// Longest delay of a wake during a fight.
const MAX_DELAY: Duration = Duration::from_secs(300);

/// `(apiVersion, kind, namespace, name)` of a managed object.
type Key = (String, String, String, String);

#[derive(Default)]
struct State {
    /// Managed object → (Applications, resourceVersion after their last sync).
    objects: HashMap<Key, (BTreeSet<String>, Option<String>)>,
    /// Kinds being watched.
    kinds: HashSet<(String, String)>,
    /// Per Application: when it was last woken by a change, the current delay,
    /// and whether a delayed wake is pending.
    wakes: HashMap<String, (Instant, Duration, bool)>,
    /// The watch tasks, stopped with the controller.
    tasks: Vec<tokio::task::AbortHandle>,
}

/// The managed-object watches of one controller.
#[derive(Clone)]
pub struct Watches {
    client: Client,
    wake: UnboundedSender<ObjectRef<ApplicationResource>>,
    state: Arc<Mutex<State>>,
}

impl Watches {
    /// Watches that wake Applications through `wake`.
    pub fn new(client: Client, wake: UnboundedSender<ObjectRef<ApplicationResource>>) -> Self {
        Self { client, wake, state: Arc::default() }
    }

    /// Records what `app` (`namespace/name`) manages after a pass, and
    /// starts the watches of kinds not yet watched.
    pub fn track(&self, app: &str, report: Option<&SyncReport>) {
        let Some(report) = report else { return };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for (apps, _) in state.objects.values_mut() {
            apps.remove(app);
        }
        state.objects.retain(|_, (apps, _)| !apps.is_empty());
        for applied in report.applied.iter().filter(|a| !matches!(a.action, Action::Pruned | Action::PruneSkipped)) {
            let object = &applied.object;
            let version = applied
                .live
                .as_ref()
                .and_then(|live| live.pointer("/metadata/resourceVersion"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let key = (
                object.api_version.clone(),
                object.kind.clone(),
                object.namespace.clone().unwrap_or_default(),
                object.name.clone(),
            );
            let entry = state.objects.entry(key).or_default();
            entry.0.insert(app.to_owned());
            entry.1 = version;
            let kind = (object.api_version.clone(), object.kind.clone());
            if state.kinds.insert(kind.clone()) {
                let task = tokio::spawn(self.clone().watch(kind));
                state.tasks.push(task.abort_handle());
            }
        }
    }

    /// Stops every watch (the controller is shutting down).
    pub fn stop(&self) {
        for task in self.state.lock().unwrap_or_else(PoisonError::into_inner).tasks.drain(..) {
            task.abort();
        }
    }

    /// The watch of one kind; runs until [`Watches::stop`].
    async fn watch(self, (api_version, kind): (String, String)) {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let resource = match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((resource, _)) => resource,
            Err(error) => {
                tracing::warn!(%api_version, %kind, %error, "failed to discover a managed kind; its drift is seen at the next poll");
                self.state.lock().unwrap_or_else(PoisonError::into_inner).kinds.remove(&(api_version, kind));
                return;
            }
        };
        let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(self.client.clone(), &resource);
        tracing::debug!(%api_version, %kind, "watching managed objects");
        let events = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(meta) | watcher::Event::Delete(meta)) => self.changed(&resource, &meta),
                Ok(_) => {}
                Err(error) => tracing::debug!(%kind, %error, "managed-object watch error (retried)"),
            }
        }
    }

    fn changed(&self, resource: &ApiResource, meta: &PartialObjectMeta<DynamicObject>) {
        let key = (
            resource.api_version.clone(),
            resource.kind.clone(),
            meta.metadata.namespace.clone().unwrap_or_default(),
            meta.metadata.name.clone().unwrap_or_default(),
        );
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((apps, version)) = state.objects.get(&key) else { return };
        if version.is_some() && *version == meta.metadata.resource_version {
            return;
        }
        let apps: Vec<String> = apps.iter().cloned().collect();
        for app in apps {
            let now = Instant::now();
            let delay = match state.wakes.get(&app).copied() {
                Some((_, _, true)) => continue,
                Some((last, delay, false)) if now.duration_since(last) < QUIET => {
                    (delay * 2).clamp(Duration::from_secs(1), MAX_DELAY)
                }
                _ => Duration::ZERO,
            };
            state.wakes.insert(app.clone(), (now, delay, !delay.is_zero()));
            let Some((namespace, name)) = app.split_once('/') else { continue };
            let target = ObjectRef::new(name).within(namespace);
            tracing::info!(app = %app, object = %format!("{}/{}", key.1, key.3), ?delay, "managed object changed");
            if delay.is_zero() {
                let _ = self.wake.unbounded_send(target);
            } else {
                let (wake, state) = (self.wake.clone(), self.state.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Some(entry) = state.lock().unwrap_or_else(PoisonError::into_inner).wakes.get_mut(&app) {
                        entry.2 = false;
                    }
                    let _ = wake.unbounded_send(target);
                });
            }
        }
    }
}
