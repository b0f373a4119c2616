//! [`Applier`]: one object at a time — compare, then server-side apply only
//! what differs; get and delete for hooks and prune.
//!
//! An unchanged object costs one GET (or its share of a LIST, see
//! [`crate::read_ahead`]) and nothing else: each applied object records
//! the digest of its manifest and of the fields Capstan owns
//! ([`crate::record`]). When both still match, nothing can have changed (a
//! field dropped from the manifest changes the manifest digest; a field
//! another writer changed or removed leaves Capstan's field set). Anything
//! else goes through a `dryRun=All` apply compared with the live object
//! ([`capstan_plan::compare`]), and only a real difference is written.
//!
//! Each object applied carries the Application's tracking annotation
//! ([`capstan_plan::bounds::TRACKING_ANNOTATION`]); an object another
//! Application manages is not taken over, and [`Applier::delete`] deletes
//! only an object whose live annotation names this Application, re-read
//! and verified on each attempt, with the server checking that it did not
//! change in between (delete preconditions).

use std::collections::HashMap;

use capstan_plan::{Bounds, Comparison, IgnoreRules, Masker, PruneOptions, compare};
use capstan_types::{Object, ObjectRef};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy};
use serde_json::Value;

use crate::read_ahead::LiveObjects;
use crate::record;
use crate::resources::Resources;
use crate::retry::RetryPolicy;
use crate::{Error, FIELD_MANAGER, Result};

pub use crate::record::DIGEST_ANNOTATION;

/// What a sync did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It did not exist.
    Created,
    /// It existed and changed.
    Configured,
    /// It existed and did not change.
    Unchanged,
    /// It left Git and was deleted.
    Pruned,
    /// It left Git and was kept (protected, or prune not requested).
    PruneSkipped,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Pruned => "pruned",
            Self::PruneSkipped => "prune skipped",
        })
    }
}

/// One object a sync handled.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The object, with its final namespace.
    pub object: ObjectRef,
    /// What happened.
    pub action: Action,
    /// The live object afterwards (for a dry run: as it would be); `None`
    /// once pruned.
    pub live: Option<Value>,
}

/// How objects are applied and compared.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Namespace for namespaced objects that set none.
    pub default_namespace: Option<String>,
    /// Validate on the server (`dryRun=All`), change nothing.
    pub dry_run: bool,
    /// Fields whose differences are not drift.
    pub ignore: IgnoreRules,
    /// Retries of every API call.
    pub retry: RetryPolicy,
    /// What the Application may reach; the default reaches nothing.
    pub bounds: Bounds,
}

/// The diff of one object, for `capstan diff`.
#[derive(Debug, Clone)]
pub struct ObjectDiff {
    /// The object, with its final namespace.
    pub object: ObjectRef,
    /// Desired (SSA dry-run result) against live, prepared for display.
    pub comparison: Comparison,
}

/// Applies, compares, reads and deletes objects through one client.
pub struct Applier {
    resources: Resources,
    options: ApplyOptions,
    masker: Masker,
}

impl Applier {
    /// An applier over `client`.
    pub fn new(client: Client, options: ApplyOptions) -> Self {
        Self { resources: Resources::new(client, options.bounds.clone()), options, masker: Masker::new() }
    }

    /// Checks `objects` (a whole plan, hooks included) against the bounds
    /// before anything is written: names and reserved objects first, with
    /// no request at all, then each kind's scope from discovery (or from a
    /// CRD among `objects`) and its namespace. The first refusal is returned.
    pub async fn check<'a>(&self, objects: impl IntoIterator<Item = &'a Object>) -> Result<()> {
        let objects: Vec<&Object> = objects.into_iter().collect();
        for object in &objects {
            self.resources.bounds().check_static(object)?;
        }
        let crd_scopes = capstan_plan::bounds::crd_scopes(objects.iter().copied());
        for object in objects {
            self.resources.reference(object, self.options.default_namespace.as_deref(), &crd_scopes).await?;
        }
        Ok(())
    }

    /// The references `objects` will have once applied (the namespace
    /// defaulted as the apply does), kinds not served yet taking their
    /// scope from `crd_scopes`: what the inventory records ahead of a wave.
    pub(crate) async fn references(
        &self,
        objects: &[Object],
        crd_scopes: &HashMap<(String, String), capstan_plan::bounds::Scope>,
    ) -> Result<Vec<ObjectRef>> {
        let mut refs = Vec::with_capacity(objects.len());
        for object in objects {
            refs.push(self.resources.reference(object, self.options.default_namespace.as_deref(), crd_scopes).await?);
        }
        Ok(refs)
    }

    /// Creates the destination namespace unless it exists
    /// (`spec.sync.createNamespace`). It is the engine's, not the render's:
    /// not tracked, not in the inventory, so never pruned.
    pub async fn create_destination_namespace(&self) -> Result<()> {
        let Some((name, api)) = self.resources.api_for_destination_namespace() else { return Ok(()) };
        let object_ref = ObjectRef { api_version: "v1".into(), kind: "Namespace".into(), namespace: None, name };
        object_ref.validate().map_err(capstan_plan::Refusal::from)?;
        let live = self.options.retry.run("get", || api.get_opt(&object_ref.name)).await;
        if live.map_err(|source| Error::Get { object: object_ref.clone(), source: source.into() })?.is_some()
            || self.options.dry_run
        {
            return Ok(());
        }
        let namespace =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": object_ref.name}});
        let params = PatchParams::apply(FIELD_MANAGER);
        let patch = Patch::Apply(&namespace);
        let result = self.options.retry.run("apply", || api.patch(&object_ref.name, &params, &patch)).await;
        result.map_err(|source| Error::Apply { object: object_ref.clone(), source: source.into() })?;
        tracing::info!(namespace = %object_ref.name, "created the destination namespace");
        Ok(())
    }

    /// The options in use.
    pub fn options(&self) -> &ApplyOptions {
        &self.options
    }

    /// Applies one object if it differs from the live one. `wait_for_crd`:
    /// a CRD of this run serves its kind, so wait for discovery.
    pub async fn apply(&self, object: Object, wait_for_crd: bool) -> Result<Applied> {
        self.apply_known(object, wait_for_crd, &LiveObjects::default()).await
    }

    /// [`Applier::apply`], taking the live object from `known` when it was
    /// read ahead.
    pub async fn apply_known(&self, mut object: Object, wait_for_crd: bool, known: &LiveObjects) -> Result<Applied> {
        let api = self.resources.api_for(&mut object, self.options.default_namespace.as_deref(), wait_for_crd).await?;
        self.options.bounds.stamp(&mut object);
        let manifest = record::manifest_digest(object.as_value());
        let object_ref = object.object_ref();
        let live = match known.lookup(&object_ref) {
            Some(live) => live.cloned(),
            None => self.get_live(&api, &object_ref).await?,
        };
        if let Some(live) = &live {
            self.options.bounds.check_adopt(&object, live)?;
        }
        if let Some(live) = &live
            && record::unchanged_since_last_apply(&manifest, live)
        {
            return Ok(Applied { object: object_ref, action: Action::Unchanged, live: Some(live.clone()) });
        }
        prepare(&mut object, &manifest, live.as_ref(), &self.options);
        let desired = match self.server_apply(&api, &object, true).await {
            // A dry run cannot create the namespace the real sync creates first.
            Err(error) if self.options.dry_run && namespace_missing(&error) => {
                return Ok(Applied { object: object_ref, action: Action::Created, live: None });
            }
            Err(error) if !self.options.dry_run && dry_run_refused(&error) => {
                return self.apply_without_dry_run(&api, object, live.is_some(), &manifest, &error).await;
            }
            result => result?,
        };
        // The record is no drift, but a stale one is rewritten, or the
        // check above would fail on every sync.
        let fields = record::fields_digest(&desired);
        record::stamp(object.as_value_mut(), &manifest, fields.as_deref());
        if let Some(live) = &live
            && !compare(&desired, Some(live), &self.options.ignore, &self.masker).changed()
            && record::recorded(live) == record::recorded(object.as_value())
            && record::fields_digest(live) == fields
        {
            return Ok(Applied { object: object_ref, action: Action::Unchanged, live: Some(live.clone()) });
        }
        let result = if self.options.dry_run { desired } else { self.server_apply(&api, &object, false).await? };
        let action = if live.is_some() { Action::Configured } else { Action::Created };
        tracing::info!(object = %object_ref, %action, dry_run = self.options.dry_run, "applied");
        Ok(Applied { object: object_ref, action, live: Some(result) })
    }

    /// Applies `object` when an admission webhook refused its dry run (one
    /// with side effects): without the comparison, saying so. A second
    /// apply records the field set the first left (see [`crate::record`]),
    /// so later unchanged syncs need no dry run.
    async fn apply_without_dry_run(
        &self,
        api: &Api<DynamicObject>,
        mut object: Object,
        existed: bool,
        manifest: &str,
        refusal: &Error,
    ) -> Result<Applied> {
        let object_ref = object.object_ref();
        let reason = refusal_reason(refusal);
        tracing::warn!(object = %object_ref, %reason, "an admission webhook refused the dry run; applying without comparing first");
        let first = self.server_apply(api, &object, false).await?;
        record::stamp(object.as_value_mut(), manifest, record::fields_digest(&first).as_deref());
        let result = if record::recorded(&first) == record::recorded(object.as_value()) {
            first
        } else {
            self.server_apply(api, &object, false).await?
        };
        let action = if existed { Action::Configured } else { Action::Created };
        Ok(Applied { object: object_ref, action, live: Some(result) })
    }

    /// Compares one object with the live one through a dry-run apply.
    pub async fn diff(&self, mut object: Object) -> Result<ObjectDiff> {
        let api = self.resources.api_for(&mut object, self.options.default_namespace.as_deref(), false).await?;
        self.options.bounds.stamp(&mut object);
        let manifest = record::manifest_digest(object.as_value());
        let object_ref = object.object_ref();
        let mut live = self.get_live(&api, &object_ref).await?;
        let mut reads = 1;
        loop {
            if let Some(live) = &live {
                self.options.bounds.check_adopt(&object, live)?;
            }
            let mut candidate = object.clone();
            prepare(&mut candidate, &manifest, live.as_ref(), &self.options);
            let desired = self.server_apply(&api, &candidate, true).await?;
            // The dry-run answers from the stored object as it is now, the
            // GET read it a moment before: a controller writing in between
            // (the Deployment controller's revision annotation, a status)
            // would show as drift. A dry-run keeps the resourceVersion it
            // started from, so a differing one means read again.
            if reads == DIFF_READS || resource_version(&desired) == live.as_ref().and_then(resource_version) {
                return Ok(ObjectDiff {
                    object: object_ref,
                    comparison: compare(&desired, live.as_ref(), &self.options.ignore, &self.masker),
                });
            }
            live = self.get_live(&api, &object_ref).await?;
            reads += 1;
        }
    }

    /// Reads ahead the live objects of `objects` whose kind is served now,
    /// with one LIST per kind and namespace that holds many of them.
    pub async fn read_ahead(&self, objects: &[Object]) -> LiveObjects {
        let mut refs = Vec::with_capacity(objects.len());
        let no_crds = HashMap::new();
        for object in objects {
            if let Ok(object_ref) =
                self.resources.reference(object, self.options.default_namespace.as_deref(), &no_crds).await
            {
                refs.push(object_ref);
            }
        }
        let mut live = LiveObjects::default();
        for sample in LiveObjects::groups_worth_listing(&refs) {
            if let Ok(api) = self.resources.api_for_ref(sample).await {
                live.list(&api, sample, &self.options.retry).await;
            }
        }
        live
    }

    /// The reference of `object` as it will be applied (namespace filled in).
    pub async fn resolve_ref(&self, object: &mut Object, wait_for_crd: bool) -> Result<ObjectRef> {
        self.resources.api_for(object, self.options.default_namespace.as_deref(), wait_for_crd).await?;
        Ok(object.object_ref())
    }

    /// The live object, or `None`.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<Value>> {
        let api = self.resources.api_for_ref(object).await?;
        self.get_live(&api, object).await
    }

    /// Deletes an object this Application created (already gone counts as
    /// deleted). Each attempt reads the live object, checks it with
    /// [`Bounds::check_delete`] (tracking annotation, then the prune guards
    /// of `guards`) and deletes it on the condition that it is still that
    /// version: a change in between (another Application adopting it) is a
    /// conflict, and the next attempt checks again. `action` names what
    /// deletes it in a refusal.
    pub async fn delete(
        &self,
        object: &ObjectRef,
        guards: &PruneOptions,
        action: &str,
        propagation: PropagationPolicy,
    ) -> Result<()> {
        let api = self.resources.api_for_ref(object).await?;
        let attempt = || async {
            let Some(live) = api.get_opt(&object.name).await? else { return Ok(None) };
            let live = serde_json::to_value(live).map_err(kube::Error::SerdeError)?;
            if let Err(refused) = self.options.bounds.check_delete(object, &live, guards, action) {
                return Ok(Some(refused));
            }
            let text = |pointer: &str| live.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
            let preconditions =
                Preconditions { uid: text("/metadata/uid"), resource_version: text("/metadata/resourceVersion") };
            let mut params = DeleteParams {
                propagation_policy: Some(propagation.clone()),
                preconditions: Some(preconditions),
                ..DeleteParams::default()
            };
            if self.options.dry_run {
                params = params.dry_run();
            }
            match api.delete(&object.name, &params).await {
                Ok(_) => Ok(None),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
                Err(error) => Err(error),
            }
        };
        let result = self.options.retry.run("delete", attempt).await;
        match result.map_err(|source| Error::Delete { object: object.clone(), source: source.into() })? {
            Some(refused) => Err(refused.into()),
            None => Ok(()),
        }
    }

    /// Whether the live object is this Application's own (its tracking
    /// annotation names this Application and this object).
    pub fn owns(&self, object: &ObjectRef, live: &Value) -> bool {
        self.options.bounds.owns(object, live)
    }

    /// What this applier may reach.
    pub fn bounds(&self) -> &Bounds {
        &self.options.bounds
    }

    async fn get_live(&self, api: &Api<DynamicObject>, object: &ObjectRef) -> Result<Option<Value>> {
        let live = self.options.retry.run("get", || api.get_opt(&object.name)).await;
        let live = live.map_err(|source| Error::Get { object: object.clone(), source: source.into() })?;
        live.map(|l| serde_json::to_value(l).map_err(|source| Error::Decode { object: object.clone(), source }))
            .transpose()
    }

    async fn server_apply(&self, api: &Api<DynamicObject>, object: &Object, dry_run: bool) -> Result<Value> {
        // Strict: the server names unknown and duplicate fields instead of
        // dropping them.
        let mut params = PatchParams::apply(FIELD_MANAGER).force().validation_strict();
        params.dry_run = dry_run;
        let patch = Patch::Apply(object.as_value());
        let result = self.options.retry.run("apply", || api.patch(object.name(), &params, &patch)).await;
        let result = result.map_err(|source| Error::Apply { object: object.object_ref(), source: source.into() })?;
        serde_json::to_value(result).map_err(|source| Error::Decode { object: object.object_ref(), source })
    }
}

/// Whether apply failed because the object's namespace does not exist.
pub fn namespace_missing(error: &Error) -> bool {
    match error {
        Error::Apply { source, .. } => source.status().is_some_and(|status| {
            status.code == 404 && status.details.as_ref().is_some_and(|d| d.kind == "namespaces")
        }),
        _ => false,
    }
}

/// Whether an admission webhook refused a dry-run apply: one that declares
/// side effects (`does not support dry run`), or one that denies dry runs
/// itself. A webhook that denies the object outright denies the real apply
/// too, so falling back costs nothing but that request.
fn dry_run_refused(error: &Error) -> bool {
    match error {
        Error::Apply { source, .. } => source.status().is_some_and(|s| s.message.starts_with("admission webhook ")),
        _ => false,
    }
}

fn refusal_reason(error: &Error) -> String {
    match error {
        Error::Apply { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// How many times [`Applier::diff`] reads the live object before it compares
/// with a dry-run that answered from a newer version anyway.
const DIFF_READS: usize = 3;

/// `metadata.resourceVersion`, if set (a dry-run create has none).
fn resource_version(object: &Value) -> Option<&str> {
    object.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|rv| !rv.is_empty())
}

/// The object as it is applied: the record of its manifest, `stringData`
/// folded into `data`, ignored fields left to their live value and owner.
fn prepare(object: &mut Object, manifest: &str, live: Option<&Value>, options: &ApplyOptions) {
    let value = object.as_value_mut();
    record::stamp(value, manifest, None);
    record::fold_string_data(value);
    if let Some(live) = live {
        options.ignore.respect(value, live, FIELD_MANAGER);
    }
}
