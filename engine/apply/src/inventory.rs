//! The inventory: which objects the last sync of an Application applied,
//! and at which revision — stored in the cluster, so any Capstan (CLI or
//! controller) prunes from the same record.
//!
//! It lives in ConfigMaps named `capstan-inventory-<app>` (plus `-1`, `-2`,
//! … when large) in the Application's own namespace, never a destination:
//! a render cannot produce these names or their label
//! ([`capstan_plan::Bounds::check_static`]), and even a forged entry
//! deletes nothing, because a prune deletes only objects whose tracking
//! annotation names the Application. The namespace is created when missing. One line per object,
//! `apiVersion kind namespace name` separated by tabs; lines are split into
//! chunks of at most [`CHUNK_BYTES`] per ConfigMap, so an inventory of any
//! size stays far below the API server's 1.5 MiB object limit. Writes
//! happen only when the content changed, so a no-op sync writes nothing.

use std::collections::BTreeMap;

use capstan_plan::bounds::{INVENTORY_LABEL, INVENTORY_PREFIX};
use capstan_types::ObjectRef;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::retry::RetryPolicy;
use crate::{Error, FIELD_MANAGER, Result};

/// Largest `objects` text per ConfigMap.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// The record of one Application's last sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The revision (commit) synced.
    pub revision: String,
    /// The objects applied, in apply order.
    pub objects: Vec<ObjectRef>,
}

/// Reads and writes one Application's inventory.
pub struct InventoryStore {
    api: Api<ConfigMap>,
    namespaces: Api<Namespace>,
    namespace: String,
    app: String,
    retry: RetryPolicy,
}

impl InventoryStore {
    /// The store of `app` in `namespace`.
    pub fn new(client: Client, namespace: &str, app: &str, retry: RetryPolicy) -> Self {
        Self {
            api: Api::namespaced(client.clone(), namespace),
            namespaces: Api::all(client),
            namespace: namespace.to_owned(),
            app: app.to_owned(),
            retry,
        }
    }

    fn name(&self, chunk: usize) -> String {
        if chunk == 0 {
            format!("{INVENTORY_PREFIX}{}", self.app)
        } else {
            format!("{INVENTORY_PREFIX}{}-{chunk}", self.app)
        }
    }

    /// The stored inventory; empty if there is none yet.
    pub async fn load(&self) -> Result<Inventory> {
        let Some(head) = self.get(0).await? else { return Ok(Inventory::default()) };
        let label = head.metadata.labels.as_ref().and_then(|l| l.get(INVENTORY_LABEL));
        if label != Some(&self.app) {
            return Err(self.corrupt(format!("{} is not labelled {INVENTORY_LABEL}={}", self.name(0), self.app)));
        }
        let data = head.data.unwrap_or_default();
        let chunks: usize = data.get("chunks").and_then(|c| c.parse().ok()).unwrap_or(1);
        let mut text = data.get("objects").cloned().unwrap_or_default();
        for chunk in 1..chunks {
            let part =
                self.get(chunk).await?.ok_or_else(|| self.corrupt(format!("chunk {} is missing", self.name(chunk))))?;
            text.push_str(part.data.unwrap_or_default().get("objects").map_or("", String::as_str));
        }
        let objects = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| parse_line(l).ok_or_else(|| self.corrupt(format!("bad line {l:?}"))))
            .collect::<Result<_>>()?;
        Ok(Inventory { revision: data.get("revision").cloned().unwrap_or_default(), objects })
    }

    /// Stores `inventory` unless `previous` (what [`InventoryStore::load`]
    /// returned) already says the same.
    pub async fn store(&self, inventory: &Inventory, previous: &Inventory) -> Result<()> {
        if inventory == previous {
            return Ok(());
        }
        let chunks = chunk_lines(&inventory.objects);
        let old_chunks = chunk_lines(&previous.objects).len();
        // Tail chunks first, the head last: a reader never sees a head
        // pointing at chunks that are not written yet.
        for (index, text) in chunks.iter().enumerate().skip(1).rev() {
            self.put(index, json!({"objects": text})).await?;
        }
        let head = json!({"revision": inventory.revision, "chunks": chunks.len().to_string(), "objects": chunks[0]});
        self.put(0, head).await?;
        for stale in chunks.len()..old_chunks {
            let name = self.name(stale);
            let params = DeleteParams::default();
            let result = self.retry.run("delete inventory chunk", || self.api.delete(&name, &params)).await;
            match result {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(source) => return Err(Error::Inventory { name, source: source.into() }),
            }
        }
        Ok(())
    }

    async fn get(&self, chunk: usize) -> Result<Option<ConfigMap>> {
        let name = self.name(chunk);
        self.retry
            .run("get inventory", || self.api.get_opt(&name))
            .await
            .map_err(|source| Error::Inventory { name, source: source.into() })
    }

    async fn put(&self, chunk: usize, data: serde_json::Value) -> Result<()> {
        let name = self.name(chunk);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "capstan", INVENTORY_LABEL: self.app}},
            "data": data});
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&cm);
        let mut result = self.retry.run("store inventory", || self.api.patch(&name, &params, &patch)).await;
        if matches!(&result, Err(kube::Error::Api(s)) if s.code == 404 && s.details.as_ref().is_some_and(|d| d.kind == "namespaces"))
        {
            self.create_namespace().await?;
            result = self.retry.run("store inventory", || self.api.patch(&name, &params, &patch)).await;
        }
        result.map(drop).map_err(|source| Error::Inventory { name, source: source.into() })
    }

    /// Creates the Application's namespace for its inventory (the CLI's
    /// Application files have none in the cluster yet).
    async fn create_namespace(&self) -> Result<()> {
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}});
        let params = PatchParams::apply(FIELD_MANAGER);
        let patch = Patch::Apply(&namespace);
        let result = self
            .retry
            .run("create inventory namespace", || self.namespaces.patch(&self.namespace, &params, &patch))
            .await;
        result
            .map(drop)
            .map_err(|source| Error::Inventory { name: format!("namespace {}", self.namespace), source: source.into() })
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::InventoryCorrupt { app: self.app.clone(), reason }
    }
}

fn line(object: &ObjectRef) -> String {
    format!("{}\t{}\t{}\t{}\n", object.api_version, object.kind, object.namespace.as_deref().unwrap_or(""), object.name)
}

fn parse_line(line: &str) -> Option<ObjectRef> {
    let mut parts = line.split('\t');
    let (api_version, kind, namespace, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || api_version.is_empty() || kind.is_empty() || name.is_empty() {
        return None;
    }
    let namespace = (!namespace.is_empty()).then(|| namespace.to_owned());
    Some(ObjectRef { api_version: api_version.to_owned(), kind: kind.to_owned(), namespace, name: name.to_owned() })
}

/// Lines grouped into chunks of at most [`CHUNK_BYTES`]; always at least one.
fn chunk_lines(objects: &[ObjectRef]) -> Vec<String> {
    let mut chunks = vec![String::new()];
    for object in objects {
        let text = line(object);
        let last = chunks.last_mut().expect("chunks starts non-empty");
        if !last.is_empty() && last.len() + text.len() > CHUNK_BYTES {
            chunks.push(text);
        } else {
            last.push_str(&text);
        }
    }
    chunks
}

/// Inventory objects by `(group, kind, namespace, name)`, for set operations.
pub(crate) fn keyed(objects: &[ObjectRef]) -> BTreeMap<(String, String, Option<String>, String), ObjectRef> {
    objects
        .iter()
        .map(|o| {
            let group = o.api_version.rsplit_once('/').map_or("", |(g, _)| g).to_owned();
            ((group, o.kind.clone(), o.namespace.clone(), o.name.clone()), o.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(i: usize) -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("ns".into()),
            name: format!("config-map-number-{i:06}"),
        }
    }

    #[test]
    fn lines_round_trip_and_large_inventories_chunk() {
        let cluster =
            ObjectRef { api_version: "v1".into(), kind: "Namespace".into(), namespace: None, name: "shop".into() };
        assert_eq!(parse_line(line(&cluster).trim_end()), Some(cluster));
        let many: Vec<_> = (0..20_000).map(object).collect();
        let chunks = chunk_lines(&many);
        assert!(chunks.len() > 1 && chunks.iter().all(|c| c.len() <= CHUNK_BYTES), "{} chunks", chunks.len());
        let back: Vec<_> = chunks.concat().lines().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(back, many);
        assert_eq!(chunk_lines(&[]), [""]);
        assert_eq!(parse_line("v1\tConfigMap"), None);
    }
}
