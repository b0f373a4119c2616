//! [`Bounds`]: what one Application may reach. The one place that decides
//! whether an object may be written, read, adopted or deleted; apply,
//! hooks and prune all ask it before they send a request.
//!
//! - Names, namespaces, kinds and API versions follow Kubernetes' rules
//!   ([`capstan_types::names`]) before any URL is built from them.
//! - Namespaced objects go to the destination namespace, or to one that
//!   `spec.allow.namespaces` lists; cluster-scoped kinds only when
//!   `spec.allow.clusterResources` lists them. The scope of a kind comes
//!   from discovery (or from a CRD of the same render), never from a list.
//! - The engine's own objects (inventory ConfigMaps `capstan-inventory-*`,
//!   the `capstan.dev/inventory` label, the tracking annotation) cannot be
//!   rendered.
//! - Every object applied carries [`TRACKING_ANNOTATION`], naming the
//!   Application and the object (Argo CD's `tracking-id` shape). An object
//!   whose annotation names another Application (or which Argo CD tracks)
//!   is not taken over unless `spec.sync.adopt`; an object is deleted (by
//!   prune or a hook policy) only when its live annotation names this
//!   Application and this very object, so a forged inventory deletes
//!   nothing, and the prune guards ([`crate::prune::protection`]) hold for
//!   hooks too.
//!
//! A later platform-level restriction (the fleet's multi-team bounds)
//! narrows a [`Bounds`] further; it never widens one.

use std::collections::HashMap;

use capstan_types::{Application, NameError, Object, ObjectRef};
use serde_json::Value;
use wildmatch::WildMatch;

use crate::hooks::{HookPhase, hook_of};
use crate::prune::{PRUNE_ANNOTATION, Protection, PruneOptions, protection};

/// The annotation naming the Application that manages an object:
/// `<app namespace>/<app name>:<group>/<kind>:<namespace>/<name>`.
pub const TRACKING_ANNOTATION: &str = "capstan.dev/tracking-id";
/// Argo CD's annotation tracking (`<app>:<group>/<kind>:<namespace>/<name>`).
pub const ARGO_TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// Argo CD's label tracking (its default): the application's name.
pub const ARGO_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Name prefix of the inventory ConfigMaps.
pub const INVENTORY_PREFIX: &str = "capstan-inventory-";
/// Label of the inventory ConfigMaps (value: the Application's name).
pub const INVENTORY_LABEL: &str = "capstan.dev/inventory";
/// Namespace of an Application that names none (the CLI's Application
/// files): where its inventory lives, and the first part of its tracking id.
pub const DEFAULT_APP_NAMESPACE: &str = "capstan-system";

/// Whether a kind's objects live in a namespace (from discovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In a namespace.
    Namespaced,
    /// Cluster-wide.
    Cluster,
}

/// Why an object is out of an Application's reach.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A part of the object's identity breaks Kubernetes' rules.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The render produced one of the engine's own objects.
    #[error(
        "refusing {object}: {what} is reserved for Capstan's own objects (inventories); a render cannot produce it"
    )]
    Reserved {
        /// The object.
        object: Box<ObjectRef>,
        /// The reserved name, label or annotation.
        what: String,
    },
    /// A namespaced object outside the allowed namespaces.
    #[error(
        "refusing {object}: namespace {namespace:?} is outside the Application's bounds (destination {destination}, spec.allow.namespaces {allowed:?})"
    )]
    Namespace {
        /// The object.
        object: Box<ObjectRef>,
        /// Its namespace.
        namespace: String,
        /// The destination namespace, or `none`.
        destination: String,
        /// The patterns of `spec.allow.namespaces`.
        allowed: Vec<String>,
    },
    /// A cluster-scoped kind that `spec.allow.clusterResources` does not list.
    #[error(
        "refusing {object}: {kind} (group {group:?}) is cluster-scoped and not listed in spec.allow.clusterResources"
    )]
    ClusterScoped {
        /// The object.
        object: Box<ObjectRef>,
        /// Its API group.
        group: String,
        /// Its kind.
        kind: String,
    },
    /// The live object is managed by someone else.
    #[error("refusing {object}: it is managed by {manager}; set spec.sync.adopt: true to take it over")]
    ManagedByOther {
        /// The object.
        object: Box<ObjectRef>,
        /// Who manages it (escaped text from the live object).
        manager: String,
    },
    /// Deleting an object this Application did not create.
    #[error("refusing to {action} {object}: this Application did not create it ({tracking})")]
    NotOwned {
        /// The object.
        object: Box<ObjectRef>,
        /// `delete (prune)`, `delete (hook BeforeHookCreation)` …
        action: String,
        /// What its tracking annotation says.
        tracking: String,
    },
    /// Deleting an object the prune guards protect.
    #[error("refusing to {action} {object}: {protection}; annotate it {PRUNE_ANNOTATION}: enabled to allow")]
    Protected {
        /// The object.
        object: Box<ObjectRef>,
        /// What would have deleted it.
        action: String,
        /// The guard.
        protection: Protection,
    },
}

/// The Application an object belongs to: its namespace and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The Application's namespace ([`DEFAULT_APP_NAMESPACE`] when unset).
    pub namespace: String,
    /// The Application's name.
    pub name: String,
}

impl Owner {
    /// The owner identity of `app`.
    pub fn of(app: &Application) -> Self {
        Self {
            namespace: app.metadata.namespace.clone().unwrap_or_else(|| DEFAULT_APP_NAMESPACE.to_owned()),
            name: app.metadata.name.clone(),
        }
    }

    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// What one Application may reach. [`Bounds::default`] reaches nothing.
#[derive(Debug, Clone, Default)]
pub struct Bounds {
    owner: Option<Owner>,
    destination: Option<String>,
    namespaces: Vec<WildMatch>,
    cluster_resources: Vec<(WildMatch, WildMatch)>,
    adopt: bool,
}

impl Bounds {
    /// The bounds `app` declares: its destination, `spec.allow`, `spec.sync.adopt`.
    pub fn for_application(app: &Application) -> Self {
        let allow = &app.spec.allow;
        Self {
            owner: Some(Owner::of(app)),
            destination: app.spec.destination.namespace.clone(),
            namespaces: allow.namespaces.iter().map(|p| WildMatch::new(p)).collect(),
            cluster_resources: allow
                .cluster_resources
                .iter()
                .map(|gk| (WildMatch::new(&gk.group), WildMatch::new(&gk.kind)))
                .collect(),
            adopt: app.spec.sync.adopt,
        }
    }

    /// The Application these bounds belong to (`None` for the default).
    pub fn owner(&self) -> Option<&Owner> {
        self.owner.as_ref()
    }

    /// The destination namespace.
    pub fn destination(&self) -> Option<&str> {
        self.destination.as_deref()
    }

    /// Checks what needs no cluster: names, reserved objects, and hooks
    /// whose delete policy would delete a protected kind.
    pub fn check_static(&self, object: &Object) -> Result<(), Refusal> {
        let object_ref = object.object_ref();
        object_ref.validate()?;
        let value = object.as_value();
        let reserved = |what: String| Err(Refusal::Reserved { object: Box::new(object_ref.clone()), what });
        if object.group().is_empty() && object.kind() == "ConfigMap" && object.name().starts_with(INVENTORY_PREFIX) {
            return reserved(format!("the name prefix {INVENTORY_PREFIX:?}"));
        }
        if value.pointer("/metadata/labels").and_then(|l| l.get(INVENTORY_LABEL)).is_some() {
            return reserved(format!("the label {INVENTORY_LABEL}"));
        }
        if object.annotation(TRACKING_ANNOTATION).is_some() {
            return reserved(format!("the annotation {TRACKING_ANNOTATION}"));
        }
        if let Ok(Some(hook)) = hook_of(object)
            && hook.phases.iter().any(|p| *p != HookPhase::Skip)
            && let Some(policy) = hook.delete_policies.first()
            && let Some(guard) = protection(value, &PruneOptions::default())
        {
            return Err(Refusal::Protected {
                object: Box::new(object_ref),
                action: format!("delete (hook policy {policy:?})"),
                protection: guard,
            });
        }
        Ok(())
    }

    /// Checks a reference, its kind's scope known: valid names, and a
    /// namespace (or cluster-scoped kind) these bounds allow.
    pub fn check_ref(&self, object: &ObjectRef, scope: Scope) -> Result<(), Refusal> {
        object.validate()?;
        let group = object.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        match (scope, &object.namespace) {
            (Scope::Cluster, _) => {
                if self.cluster_resources.iter().any(|(g, k)| g.matches(group) && k.matches(&object.kind)) {
                    return Ok(());
                }
                Err(Refusal::ClusterScoped {
                    object: Box::new(object.clone()),
                    group: group.to_owned(),
                    kind: object.kind.clone(),
                })
            }
            (Scope::Namespaced, Some(ns)) if self.allows_namespace(ns) => Ok(()),
            (Scope::Namespaced, namespace) => Err(Refusal::Namespace {
                object: Box::new(object.clone()),
                namespace: namespace.clone().unwrap_or_default(),
                destination: self.destination.clone().unwrap_or_else(|| "none".into()),
                allowed: self.namespaces.iter().map(|p| p.to_string()).collect(),
            }),
        }
    }

    /// Whether namespaced objects may go to `namespace`.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.destination.as_deref() == Some(namespace) || self.namespaces.iter().any(|p| p.matches(namespace))
    }

    /// The tracking id of `object` under this Application.
    pub fn tracking_id(&self, object: &ObjectRef) -> String {
        let owner = self.owner.as_ref().map(Owner::key).unwrap_or_default();
        let group = object.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let namespace = object.namespace.as_deref().unwrap_or_default();
        format!("{owner}:{group}/{}:{namespace}/{}", object.kind, object.name)
    }

    /// Sets the tracking annotation of `object` (its namespace filled in).
    pub fn stamp(&self, object: &mut Object) {
        let id = self.tracking_id(&object.object_ref());
        let Some(meta) = object.as_value_mut().get_mut("metadata").and_then(Value::as_object_mut) else { return };
        let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
        if !annotations.is_object() {
            *annotations = Value::Object(Default::default());
        }
        annotations[TRACKING_ANNOTATION] = Value::String(id);
    }

    /// Whether the live object is this Application's own: its tracking
    /// annotation names this Application and this very object.
    pub fn owns(&self, object: &ObjectRef, live: &Value) -> bool {
        self.owner.is_some() && tracking(live, TRACKING_ANNOTATION) == Some(self.tracking_id(object).as_str())
    }

    /// Refuses to apply `desired` over a live object another Application
    /// (Capstan's or Argo CD's) manages, unless `spec.sync.adopt`.
    pub fn check_adopt(&self, desired: &Object, live: &Value) -> Result<(), Refusal> {
        if self.adopt {
            return Ok(());
        }
        let ours = self.owner.as_ref().map(Owner::key).unwrap_or_default();
        let manager = match tracking(live, TRACKING_ANNOTATION) {
            Some(id) if id.split_once(':').map_or(id, |(app, _)| app) == ours => return Ok(()),
            Some(id) => format!("Capstan Application {:?}", id.split_once(':').map_or(id, |(app, _)| app)),
            None => match tracking(live, ARGO_TRACKING_ANNOTATION) {
                Some(id) => format!("Argo CD application {:?}", id.split_once(':').map_or(id, |(app, _)| app)),
                None => match label(live, ARGO_INSTANCE_LABEL) {
                    // Helm charts set this label themselves: only a value the
                    // manifest does not carry marks someone else's object.
                    Some(instance) if label(desired.as_value(), ARGO_INSTANCE_LABEL) != Some(instance) => {
                        format!("{ARGO_INSTANCE_LABEL}={instance:?} (Argo CD's label tracking)")
                    }
                    _ => return Ok(()),
                },
            },
        };
        Err(Refusal::ManagedByOther { object: Box::new(desired.object_ref()), manager })
    }

    /// Refuses to delete the live object unless this Application created
    /// it and the prune guards let it go; `action` says what deletes it.
    pub fn check_delete(
        &self,
        object: &ObjectRef,
        live: &Value,
        options: &PruneOptions,
        action: &str,
    ) -> Result<(), Refusal> {
        if !self.owns(object, live) {
            let tracking = match tracking(live, TRACKING_ANNOTATION) {
                Some(id) => format!("its tracking id is {id:?}"),
                None => "it has no tracking id".to_owned(),
            };
            return Err(Refusal::NotOwned { object: Box::new(object.clone()), action: action.to_owned(), tracking });
        }
        match protection(live, options) {
            Some(guard) => Err(Refusal::Protected {
                object: Box::new(object.clone()),
                action: action.to_owned(),
                protection: guard,
            }),
            None => Ok(()),
        }
    }
}

fn tracking<'a>(live: &'a Value, key: &str) -> Option<&'a str> {
    live.pointer("/metadata/annotations")?.get(key)?.as_str()
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/labels")?.get(key)?.as_str()
}

/// The scope of every kind a CRD among `objects` defines, by `(group, kind)`:
/// what discovery will say once the CRD is served.
pub fn crd_scopes<'a>(objects: impl IntoIterator<Item = &'a Object>) -> HashMap<(String, String), Scope> {
    objects
        .into_iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
        .filter_map(|crd| {
            let spec = crd.as_value().get("spec")?;
            let scope = match spec.get("scope").and_then(Value::as_str) {
                Some("Cluster") => Scope::Cluster,
                _ => Scope::Namespaced,
            };
            Some((
                (spec.get("group")?.as_str()?.to_owned(), spec.get("names")?.get("kind")?.as_str()?.to_owned()),
                scope,
            ))
        })
        .collect()
}

#[cfg(test)]
#[path = "bounds_tests.rs"]
mod tests;
