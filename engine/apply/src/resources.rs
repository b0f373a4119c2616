//! Discovery: from an object's `apiVersion`/`kind` to its API resource and
//! an [`Api`] handle, cached per run; CRs whose CRD is applied in the same
//! run wait until the API server serves them.

use std::collections::HashMap;
use std::time::Duration;

use capstan_types::{Object, ObjectRef};
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use tokio::sync::Mutex;

use crate::{Error, Result};

/// How long to wait for a CRD applied in this run to be served.
const CRD_WAIT: Duration = Duration::from_secs(30);

/// A per-run cache of discovered resources.
pub(crate) struct Resources {
    client: Client,
    found: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

impl Resources {
    pub(crate) fn new(client: Client) -> Self {
        Self { client, found: Mutex::default() }
    }

    /// The Api for `object`, setting its namespace to `default_namespace`
    /// when it is namespaced and has none.
    pub(crate) async fn api_for(
        &self,
        object: &mut Object,
        default_namespace: Option<&str>,
        wait_for_crd: bool,
    ) -> Result<Api<DynamicObject>> {
        let (resource, caps) = self.resolve(object.api_version(), object.kind(), wait_for_crd).await?;
        Ok(match namespace_of(object, &caps.scope, default_namespace)? {
            None => Api::all_with(self.client.clone(), &resource),
            Some(ns) => {
                object.set_namespace(&ns);
                Api::namespaced_with(self.client.clone(), &ns, &resource)
            }
        })
    }

    /// The reference `object` will be applied under, without changing it.
    pub(crate) async fn reference(&self, object: &Object, default_namespace: Option<&str>) -> Result<ObjectRef> {
        let (_, caps) = self.resolve(object.api_version(), object.kind(), false).await?;
        let namespace = namespace_of(object, &caps.scope, default_namespace)?;
        Ok(ObjectRef { namespace, ..object.object_ref() })
    }

    /// The Api for an object already named by a reference.
    pub(crate) async fn api_for_ref(&self, object: &ObjectRef) -> Result<Api<DynamicObject>> {
        let (resource, caps) = self.resolve(&object.api_version, &object.kind, false).await?;
        Ok(match (&caps.scope, &object.namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        })
    }

    /// Finds the API resource of a kind; when a CRD of this run may serve
    /// it, retries until the API server does (CRDs take a moment to be Established).
    async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
        wait_for_crd: bool,
    ) -> Result<(ApiResource, ApiCapabilities)> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(found) = self.found.lock().await.get(&gvk) {
            return Ok(found.clone());
        }
        let deadline = tokio::time::Instant::now() + CRD_WAIT;
        let mut delay = Duration::from_millis(50);
        let found = loop {
            match kube::discovery::pinned_kind(&self.client, &gvk).await {
                Ok(found) => break found,
                Err(source) if !wait_for_crd || tokio::time::Instant::now() >= deadline => {
                    return Err(Error::Discover {
                        api_version: api_version.to_owned(),
                        kind: kind.to_owned(),
                        source: source.into(),
                    });
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        };
        self.found.lock().await.insert(gvk, found.clone());
        Ok(found)
    }
}

/// The namespace of `object` under `scope`: none for cluster-scoped kinds,
/// its own or else `default_namespace` for namespaced ones.
fn namespace_of(object: &Object, scope: &Scope, default_namespace: Option<&str>) -> Result<Option<String>> {
    match scope {
        Scope::Cluster => Ok(None),
        Scope::Namespaced => match object.namespace().or(default_namespace) {
            Some(ns) => Ok(Some(ns.to_owned())),
            None => Err(Error::NoNamespace { object: object.object_ref() }),
        },
    }
}
