//! The "etcd" of the test API server: objects by resource, a global
//! resourceVersion counter, the recent history of changes for watches, and
//! persistence to a JSON state file.
//!
//! Objects are stored per resource key `group/plural` (shared by all
//! versions of the resource), then by `(namespace, name)`; cluster-scoped
//! objects use the empty namespace. Every change gets the next
//! resourceVersion and an [`Event`] that watches replay and follow.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::broadcast;

/// The kind of a change, as watch events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    /// The object was created.
    Added,
    /// The object changed.
    Modified,
    /// The object was removed from storage.
    Deleted,
}

impl EventType {
    /// The watch event `type` string.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to storage.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    /// The resourceVersion of the change.
    pub(crate) rv: u64,
    /// The resource key (`group/plural`).
    pub(crate) key: String,
    /// The object's namespace ("" when cluster-scoped).
    pub(crate) namespace: String,
    /// What happened.
    pub(crate) kind: EventType,
    /// The object after the change (before it, for deletions, with the new RV).
    pub(crate) object: Value,
    /// The object before a modification (for selector transitions).
    pub(crate) previous: Option<Value>,
}

/// The object of a resource at (namespace, name).
type Objects = BTreeMap<(String, String), Value>;

/// What the state file holds.
#[derive(Serialize, Deserialize, Default)]
struct Persisted {
    resource_version: u64,
    resources: BTreeMap<String, Vec<Value>>,
}

/// Storage of all objects.
pub(crate) struct Store {
    rv: u64,
    resources: BTreeMap<String, Objects>,
    history: VecDeque<Event>,
    history_limit: usize,
    /// Events at or below this RV are no longer in the history.
    compacted: u64,
    state_file: Option<PathBuf>,
    events: broadcast::Sender<Arc<Event>>,
}

fn name_of(obj: &Value) -> (String, String) {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    (s("/metadata/namespace"), s("/metadata/name"))
}

impl Store {
    /// An empty store, or the one in `state_file` when it exists.
    pub(crate) fn open(state_file: Option<PathBuf>, history_limit: usize) -> Result<Store, Error> {
        let (events, _) = broadcast::channel(4096);
        let mut store = Store {
            rv: 1,
            resources: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit,
            compacted: 1,
            state_file,
            events,
        };
        if let Some(path) = store.state_file.clone()
            && path.exists()
        {
            let text =
                std::fs::read_to_string(&path).map_err(|source| Error::ReadState { path: path.clone(), source })?;
            let persisted: Persisted =
                serde_json::from_str(&text).map_err(|source| Error::ParseState { path: path.clone(), source })?;
            store.rv = persisted.resource_version.max(1);
            store.compacted = store.rv;
            for (key, objects) in persisted.resources {
                let map = store.resources.entry(key).or_default();
                for obj in objects {
                    map.insert(name_of(&obj), obj);
                }
            }
        }
        Ok(store)
    }

    /// The current (latest) resourceVersion.
    pub(crate) fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch can start from.
    pub(crate) fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Subscribes to future changes.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Changes after `rv` still in the history, oldest first.
    pub(crate) fn events_since(&self, rv: u64) -> Vec<Event> {
        self.history.iter().filter(|e| e.rv > rv).cloned().collect()
    }

    /// Forgets the change history, as etcd compaction does: watches from an
    /// older resourceVersion then get 410 Gone.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// The object at `(namespace, name)` of resource `key`.
    pub(crate) fn get(&self, key: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.resources.get(key)?.get(&(namespace.to_string(), name.to_string()))
    }

    /// All objects of resource `key`, in `namespace` when given.
    pub(crate) fn list(&self, key: &str, namespace: Option<&str>) -> Vec<&Value> {
        let Some(objects) = self.resources.get(key) else {
            return Vec::new();
        };
        objects.iter().filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns)).map(|(_, v)| v).collect()
    }

    /// Every resource key with objects.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.resources.keys().cloned().collect()
    }

    /// Stores `obj` (created or changed), stamping the next resourceVersion.
    /// Returns the stored object.
    pub(crate) fn put(&mut self, key: &str, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let id = name_of(&obj);
        let previous = self.resources.entry(key.to_string()).or_default().insert(id.clone(), obj.clone());
        let kind = if previous.is_some() { EventType::Modified } else { EventType::Added };
        self.record(key, &id.0, kind, obj.clone(), previous);
        obj
    }

    /// Removes the object; returns it with the deletion's resourceVersion.
    pub(crate) fn remove(&mut self, key: &str, namespace: &str, name: &str) -> Option<Value> {
        let mut obj = self.resources.get_mut(key)?.remove(&(namespace.to_string(), name.to_string()))?;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(key, namespace, EventType::Deleted, obj.clone(), None);
        Some(obj)
    }

    fn record(&mut self, key: &str, namespace: &str, kind: EventType, object: Value, previous: Option<Value>) {
        let event =
            Event { rv: self.rv, key: key.to_string(), namespace: namespace.to_string(), kind, object, previous };
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        // No receivers is fine: nobody watches.
        let _ = self.events.send(Arc::new(event));
    }

    /// Writes the state file, when configured.
    pub(crate) fn persist(&self) -> Result<(), Error> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let persisted = Persisted {
            resource_version: self.rv,
            resources: self
                .resources
                .iter()
                .filter(|(_, objs)| !objs.is_empty())
                .map(|(k, objs)| (k.clone(), objs.values().cloned().collect()))
                .collect(),
        };
        write_atomically(path, &persisted)
    }
}

fn write_atomically(path: &Path, persisted: &Persisted) -> Result<(), Error> {
    let err = |source| Error::WriteState { path: path.to_path_buf(), source };
    let text = serde_json::to_vec_pretty(persisted).map_err(|e| err(std::io::Error::other(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
