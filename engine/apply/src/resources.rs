//! Discovery: from an object's `apiVersion`/`kind` to its API resource and
//! an [`Api`] handle, cached per run; CRs whose CRD is applied in the same
//! run wait until the API server serves them.
//!
//! Every handle for an object passes the Application's [`Bounds`] here,
//! names first (before discovery builds a URL from the group and version),
//! then the namespace or cluster-scoped kind once discovery knows the
//! scope: no request for an object reaches the API server unchecked.

use std::collections::HashMap;
use std::time::Duration;

use capstan_plan::{Bounds, Scope as BoundsScope};
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
    bounds: Bounds,
    found: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

impl Resources {
    pub(crate) fn new(client: Client, bounds: Bounds) -> Self {
        Self { client, bounds, found: Mutex::default() }
    }

    /// The bounds every handle is checked against.
    pub(crate) fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// The Api for writing `object`, setting its namespace to
    /// `default_namespace` when it is namespaced and has none. Refuses an
    /// object out of bounds ([`Bounds::check_static`], [`Bounds::check_ref`]).
    pub(crate) async fn api_for(
        &self,
        object: &mut Object,
        default_namespace: Option<&str>,
        wait_for_crd: bool,
    ) -> Result<Api<DynamicObject>> {
        self.bounds.check_static(object)?;
        let (resource, caps) = self.resolve(object.api_version(), object.kind(), wait_for_crd).await?;
        let namespace = namespace_of(object, &caps.scope, default_namespace)?;
        self.bounds.check_ref(&ObjectRef { namespace: namespace.clone(), ..object.object_ref() }, scope(&caps))?;
        Ok(match namespace {
            None => Api::all_with(self.client.clone(), &resource),
            Some(ns) => {
                object.set_namespace(&ns);
                Api::namespaced_with(self.client.clone(), &ns, &resource)
            }
        })
    }

    /// The Api for the destination namespace the engine creates
    /// (`spec.sync.createNamespace`): the one cluster-scoped write that
    /// needs no `spec.allow.clusterResources`, and only for the destination.
    pub(crate) fn api_for_destination_namespace(&self) -> Option<(String, Api<k8s_openapi::api::core::v1::Namespace>)> {
        let namespace = self.bounds.destination()?.to_owned();
        Some((namespace, Api::all(self.client.clone())))
    }

    /// The reference `object` will be applied under, without changing it;
    /// `crd_scopes` gives the scope of kinds discovery does not serve yet
    /// because a CRD of the same render defines them.
    pub(crate) async fn reference(
        &self,
        object: &Object,
        default_namespace: Option<&str>,
        crd_scopes: &HashMap<(String, String), BoundsScope>,
    ) -> Result<ObjectRef> {
        self.bounds.check_static(object)?;
        let scope = match self.resolve(object.api_version(), object.kind(), false).await {
            Ok((_, caps)) => caps.scope,
            Err(error) => match crd_scopes.get(&(object.group().to_owned(), object.kind().to_owned())) {
                Some(BoundsScope::Cluster) => Scope::Cluster,
                Some(BoundsScope::Namespaced) => Scope::Namespaced,
                None => return Err(error),
            },
        };
        let namespace = namespace_of(object, &scope, default_namespace)?;
        let reference = ObjectRef { namespace, ..object.object_ref() };
        self.bounds.check_ref(&reference, bounds_scope(&scope))?;
        Ok(reference)
    }

    /// The Api for an object already named by a reference (read, delete),
    /// refused when out of bounds: an inventory entry is checked like an
    /// object of the render.
    pub(crate) async fn api_for_ref(&self, object: &ObjectRef) -> Result<Api<DynamicObject>> {
        object.validate().map_err(capstan_plan::Refusal::from)?;
        let (resource, caps) = self.resolve(&object.api_version, &object.kind, false).await?;
        self.bounds.check_ref(object, scope(&caps))?;
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

fn scope(caps: &ApiCapabilities) -> BoundsScope {
    bounds_scope(&caps.scope)
}

fn bounds_scope(scope: &Scope) -> BoundsScope {
    match scope {
        Scope::Cluster => BoundsScope::Cluster,
        Scope::Namespaced => BoundsScope::Namespaced,
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
