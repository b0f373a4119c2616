//! [`Applier`]: discovery cache and server-side apply of each object.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use capstan_types::{Object, ObjectRef};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use tokio::sync::Mutex;

use crate::{Error, FIELD_MANAGER, Result};

/// How long to wait for a CRD applied in this run to be served.
const CRD_WAIT: Duration = Duration::from_secs(30);

/// What apply did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It did not exist.
    Created,
    /// It existed and changed.
    Configured,
    /// It existed and did not change.
    Unchanged,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
        })
    }
}

/// One applied object.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The object, with its final namespace.
    pub object: ObjectRef,
    /// What happened.
    pub action: Action,
    /// The live object as the server returned it.
    pub live: DynamicObject,
}

/// Options of one apply run.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Namespace for namespaced objects that set none.
    pub default_namespace: Option<String>,
    /// Create `default_namespace` first if it is missing.
    pub create_namespace: bool,
    /// Ask the server to validate only (`dryRun=All`).
    pub dry_run: bool,
}

/// `(group, kind)` of every custom resource a CRD among `objects` defines.
fn crd_kinds(objects: &[Object]) -> HashSet<(String, String)> {
    objects
        .iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
        .filter_map(|crd| {
            let spec = crd.as_value().get("spec")?;
            let group = spec.get("group")?.as_str()?;
            let kind = spec.get("names")?.get("kind")?.as_str()?;
            Some((group.to_owned(), kind.to_owned()))
        })
        .collect()
}

/// Applies objects with server-side apply.
pub struct Applier {
    client: Client,
    resources: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

impl Applier {
    /// An applier over `client`.
    pub fn new(client: Client) -> Self {
        Self { client, resources: Mutex::default() }
    }

    /// Applies all objects in dependency order; stops at the first failure.
    pub async fn apply_all(&self, mut objects: Vec<Object>, options: &ApplyOptions) -> Result<Vec<Applied>> {
        if options.create_namespace
            && let Some(ns) = &options.default_namespace
            && !objects.iter().any(|o| o.kind() == "Namespace" && o.name() == ns)
        {
            let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            objects.push(Object::new(namespace).expect("a literal Namespace is a valid object"));
        }
        capstan_plan::order::sort(&mut objects);
        let served_by_crds = crd_kinds(&objects);
        let mut applied = Vec::with_capacity(objects.len());
        for object in objects {
            let wait = served_by_crds.contains(&(object.group().to_owned(), object.kind().to_owned()));
            applied.push(self.apply_one(object, options, wait).await?);
        }
        Ok(applied)
    }

    async fn apply_one(&self, mut object: Object, options: &ApplyOptions, wait_for_crds: bool) -> Result<Applied> {
        let (resource, caps) = self.resolve(&object, wait_for_crds).await?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(self.client.clone(), &resource),
            Scope::Namespaced => {
                let ns = match object.namespace() {
                    Some(ns) => ns.to_owned(),
                    None => options
                        .default_namespace
                        .clone()
                        .ok_or_else(|| Error::NoNamespace { object: object.object_ref() })?,
                };
                object.set_namespace(&ns);
                Api::namespaced_with(self.client.clone(), &ns, &resource)
            }
        };
        let object_ref = object.object_ref();
        let before =
            api.get_opt(object.name()).await.map_err(|source| Error::Get { object: object_ref.clone(), source })?;
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = options.dry_run;
        let live = api
            .patch(object.name(), &params, &Patch::Apply(object.as_value()))
            .await
            .map_err(|source| Error::Apply { object: object_ref.clone(), source })?;
        let action = match before {
            None => Action::Created,
            Some(before) if before.metadata.resource_version == live.metadata.resource_version => Action::Unchanged,
            Some(_) => Action::Configured,
        };
        tracing::info!(object = %object_ref, %action, "applied");
        Ok(Applied { object: object_ref, action, live })
    }

    /// Finds the API resource of an object's kind; when a CRD of this run may
    /// serve it, retries until the API server does (CRDs take a moment to be Established).
    async fn resolve(&self, object: &Object, wait_for_crds: bool) -> Result<(ApiResource, ApiCapabilities)> {
        let (group, version) = object.api_version().rsplit_once('/').unwrap_or(("", object.api_version()));
        let gvk = GroupVersionKind::gvk(group, version, object.kind());
        if let Some(found) = self.resources.lock().await.get(&gvk) {
            return Ok(found.clone());
        }
        let deadline = tokio::time::Instant::now() + CRD_WAIT;
        let mut delay = Duration::from_millis(50);
        let found = loop {
            match kube::discovery::pinned_kind(&self.client, &gvk).await {
                Ok(found) => break found,
                Err(source) if !wait_for_crds || tokio::time::Instant::now() >= deadline => {
                    return Err(Error::Discover {
                        api_version: object.api_version().to_owned(),
                        kind: object.kind().to_owned(),
                        source,
                    });
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        };
        self.resources.lock().await.insert(gvk, found.clone());
        Ok(found)
    }
}
