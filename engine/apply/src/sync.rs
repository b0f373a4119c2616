//! [`Syncer`]: one sync of a [`Plan`] — PreSync hooks, waves (each followed
//! by its Sync hooks), prune, inventory, PostSync hooks; SyncFail hooks
//! when anything fails.
//!
//! Prune runs only after every wave applied: a failed apply, hook, render
//! or policy check never deletes anything (the last two never reach here).
//! Only objects of the stored inventory are candidates. A failed sync still
//! records the objects it created (old inventory plus what it applied), so
//! nothing it created becomes an orphan the next prune cannot see.
//!
//! The inventory is written ahead: before a wave is applied, its objects
//! join the stored inventory (under the previous revision), so a process
//! killed mid-sync leaves nothing the next sync's prune cannot see, and the
//! sync is finished by simply running it again (server-side apply is
//! idempotent). A sync that adds nothing to the inventory writes none.
//!
//! A sync stops at its next safe point (before a hook or wave, or while
//! waiting for one) when [`SyncOptions::cancel`] fires — a newer commit
//! superseded it — with [`Error::Superseded`]; SyncFail hooks do not run
//! then, since nothing failed.
//!
//! Before anything else (the inventory read included), the whole plan,
//! hooks included, is checked against the Application's bounds
//! ([`Applier::check`]): one object out of bounds and nothing is written.
//! A prune candidate is deleted only when its live tracking annotation
//! names this Application; an inventory entry out of bounds is not even
//! read, and one that names an object this Application does not own is
//! dropped from the inventory, so a forged inventory deletes nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_plan::prune::protection;
use capstan_plan::{HookPhase, Plan, PruneOptions, plan_prune};
use capstan_types::{Object, ObjectRef};
use kube::Client;
use kube::api::PropagationPolicy;

use crate::applier::{Action, Applied, Applier, ApplyOptions};
use crate::hooks::{self, HookRun};
use crate::inventory::{Inventory, InventoryStore, keyed};
use crate::{CancellationToken, Error, Result, checkpoint, pause};

/// How often a wave's objects are polled.
const WAVE_POLL: Duration = Duration::from_millis(200);

/// Options of one sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// How objects are applied and compared.
    pub apply: ApplyOptions,
    /// The Application's name (names the inventory).
    pub app: String,
    /// The revision synced, recorded in the inventory.
    pub revision: String,
    /// Namespace of the inventory ConfigMaps.
    pub inventory_namespace: String,
    /// Create the destination namespace first when it does not exist.
    pub create_namespace: bool,
    /// Delete objects that left Git (otherwise they are reported and kept).
    pub prune: bool,
    /// Guards of the prune.
    pub prune_options: PruneOptions,
    /// Deletion propagation of pruned objects.
    pub propagation: PropagationPolicy,
    /// Longest wait for one hook to finish.
    pub hook_timeout: Duration,
    /// Between waves, wait until the objects of the finished wave are
    /// ready (as Argo CD does); `None` starts the next wave at once.
    pub wave_gate: Option<WaveGate>,
    /// Fired when a newer commit supersedes this sync: it stops at the
    /// next safe point with [`Error::Superseded`].
    pub cancel: CancellationToken,
}

/// Whether a live object lets the next wave start: `Ok(true)` ready,
/// `Ok(false)` not yet, `Err(reason)` failed (the sync stops).
pub type ReadyCheck = Arc<dyn Fn(&serde_json::Value) -> std::result::Result<bool, String> + Send + Sync>;

/// The wait between waves.
#[derive(Clone)]
pub struct WaveGate {
    /// Judges each object of the finished wave (the health stage's
    /// assessment in practice; apply does not depend on health).
    pub ready: ReadyCheck,
    /// Longest wait for one wave.
    pub timeout: Duration,
}

impl std::fmt::Debug for WaveGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaveGate").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl SyncOptions {
    /// Defaults for `app` at `revision`, inventory in `inventory_namespace`.
    pub fn new(app: &str, revision: &str, inventory_namespace: &str) -> Self {
        Self {
            apply: ApplyOptions::default(),
            app: app.to_owned(),
            revision: revision.to_owned(),
            inventory_namespace: inventory_namespace.to_owned(),
            create_namespace: false,
            prune: false,
            prune_options: PruneOptions::default(),
            propagation: PropagationPolicy::Background,
            hook_timeout: Duration::from_secs(300),
            wave_gate: None,
            cancel: CancellationToken::new(),
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    /// Every object applied, pruned or kept, in order.
    pub applied: Vec<Applied>,
    /// The hooks that ran, in order.
    pub hooks: Vec<HookRun>,
    /// The inventory as stored after the sync.
    pub inventory: Inventory,
}

/// Runs syncs through one client.
pub struct Syncer {
    client: Client,
    applier: Applier,
    options: SyncOptions,
}

impl Syncer {
    /// A syncer with `options`.
    pub fn new(client: Client, options: SyncOptions) -> Self {
        Self { applier: Applier::new(client.clone(), options.apply.clone()), client, options }
    }

    /// The applier (for reading live objects after the sync).
    pub fn applier(&self) -> &Applier {
        &self.applier
    }

    /// Syncs `plan`. On failure the error says what failed; SyncFail hooks
    /// have run and nothing was pruned.
    pub async fn sync(&self, plan: &Plan) -> Result<SyncResult> {
        self.applier.check(plan.all_objects()).await?;
        let store = InventoryStore::new(
            self.client.clone(),
            &self.options.inventory_namespace,
            &self.options.app,
            self.options.apply.retry,
        );
        let previous = store.load().await?;
        let mut record = Record { store, previous, stored: Inventory::default() };
        record.stored = record.previous.clone();
        let mut result = SyncResult::default();
        let crd_kinds = crd_kinds(plan);
        match self.run_phases(plan, &crd_kinds, &mut record, &mut result).await {
            Ok(()) => Ok(result),
            Err(error) => Err(self.after_failure(plan, &crd_kinds, &record, &mut result, error).await),
        }
    }

    /// What runs after a failure runs in full, and its own failures are
    /// reported with the first error, never instead of it: the inventory
    /// keeps everything applied; SyncFail hooks run unless superseded.
    async fn after_failure(
        &self,
        plan: &Plan,
        crd_kinds: &CrdScopes,
        record: &Record,
        result: &mut SyncResult,
        error: Error,
    ) -> Error {
        let mut later = Vec::new();
        if !self.options.apply.dry_run {
            let partial = Inventory {
                revision: record.previous.revision.clone(),
                objects: union(&record.stored.objects, &applied_refs(result)),
            };
            if let Err(failed) = record.store.store(&partial, &record.stored).await {
                later.push(format!("storing the partial inventory: {}", chain(&failed)));
            }
        }
        let superseded = matches!(error, Error::Superseded { .. });
        // SyncFail hooks run to their end: the cancel that stopped the sync does not stop them.
        let uncancelled = CancellationToken::new();
        for (object, hook) in plan.sync_fail.iter().filter(|_| !superseded) {
            let wait = crd_kinds.contains_key(&kind_key(object));
            let run = hooks::run(
                &self.applier,
                object,
                hook,
                HookPhase::SyncFail,
                self.options.hook_timeout,
                wait,
                &uncancelled,
            );
            match run.await {
                Ok(run) => result.hooks.push(run),
                Err(failed) => later.push(format!("SyncFail hook {}: {}", object.object_ref(), chain(&failed))),
            }
        }
        if later.is_empty() { error } else { Error::AlsoFailed { first: Box::new(error), later } }
    }

    async fn run_phases(
        &self,
        plan: &Plan,
        crd_kinds: &CrdScopes,
        record: &mut Record,
        result: &mut SyncResult,
    ) -> Result<()> {
        // The destination namespace is a precondition of everything, PreSync hooks included.
        if self.options.create_namespace {
            self.applier.create_destination_namespace().await?;
        }
        self.run_hooks(&plan.pre_sync, HookPhase::PreSync, crd_kinds, result).await?;
        for (index, wave) in plan.waves.iter().enumerate() {
            checkpoint(&self.options.cancel, || format!("before {}", wave_name(wave.number)))?;
            let first = result.applied.len();
            if !self.options.apply.dry_run {
                record.ahead(&self.applier.references(&wave.objects, crd_kinds).await?).await?;
            }
            // Kinds whose CRD this run creates are not served yet: GET those.
            let listable: Vec<Object> =
                wave.objects.iter().filter(|o| !crd_kinds.contains_key(&kind_key(o))).cloned().collect();
            let known = self.applier.read_ahead(&listable).await;
            for object in &wave.objects {
                let wait_for_crd = crd_kinds.contains_key(&kind_key(object));
                result.applied.push(self.applier.apply_known(object.clone(), wait_for_crd, &known).await?);
            }
            self.run_hooks(&wave.hooks, HookPhase::Sync, crd_kinds, result).await?;
            if let Some(gate) = &self.options.wave_gate
                && index + 1 < plan.waves.len()
                && !self.options.apply.dry_run
            {
                self.wait_wave(&result.applied[first..], gate, wave.number).await?;
            }
        }
        checkpoint(&self.options.cancel, || "before the prune".to_owned())?;
        let kept = self.prune(&record.stored, result).await?;
        let inventory =
            Inventory { revision: self.options.revision.clone(), objects: union(&applied_refs(result), &kept) };
        if !self.options.apply.dry_run {
            record.store.store(&inventory, &record.stored).await?;
            record.stored = inventory.clone();
        }
        result.inventory = inventory;
        self.run_hooks(&plan.post_sync, HookPhase::PostSync, crd_kinds, result).await
    }

    async fn run_hooks(
        &self,
        hooks: &[(Object, capstan_plan::Hook)],
        phase: HookPhase,
        crd_kinds: &CrdScopes,
        result: &mut SyncResult,
    ) -> Result<()> {
        for (object, hook) in hooks {
            checkpoint(&self.options.cancel, || format!("before {phase:?} hook {}", object.object_ref()))?;
            let run = hooks::run(
                &self.applier,
                object,
                hook,
                phase,
                self.options.hook_timeout,
                crd_kinds.contains_key(&kind_key(object)),
                &self.options.cancel,
            )
            .await?;
            let failed = run.outcome.clone().err().map(|reason| (run.object.clone(), reason));
            result.hooks.push(run);
            if let Some((object, reason)) = failed {
                return Err(Error::HookFailed { object, phase: format!("{phase:?}"), reason });
            }
        }
        Ok(())
    }

    /// Prunes what left Git; returns the candidates kept (still owned).
    async fn prune(&self, previous: &Inventory, result: &mut SyncResult) -> Result<Vec<ObjectRef>> {
        let desired = applied_refs(result);
        // The mass-prune guard guards deletions: without --prune nothing is
        // deleted, and what left Git is only reported.
        let guard = PruneOptions {
            confirmed: self.options.prune_options.confirmed || !self.options.prune,
            ..self.options.prune_options
        };
        let plan = plan_prune(&previous.objects, &desired, &guard)?;
        let mut kept = Vec::new();
        // Reverse apply order: workloads before the config and namespaces they use.
        for object in plan.candidates.iter().rev() {
            let live = match self.applier.get(object).await {
                // Out of bounds (bounds narrowed, or a forged entry): not even read; kept on record.
                Err(Error::Refused(refusal)) => {
                    tracing::warn!(object = %object, %refusal, "prune skipped");
                    kept.push(object.clone());
                    result.applied.push(Applied { object: object.clone(), action: Action::PruneSkipped, live: None });
                    continue;
                }
                // Its kind is no longer served (its CRD was deleted): no such
                // object can exist, and it leaves the inventory.
                Err(error) if kind_not_served(&error) => {
                    tracing::info!(object = %object, "kind no longer served; dropped from the inventory");
                    continue;
                }
                live => live?,
            };
            let Some(live) = live else { continue };
            if !self.applier.owns(object, &live) {
                tracing::warn!(object = %object, "prune skipped: its tracking annotation does not name this Application; dropped from the inventory");
                result.applied.push(Applied { object: object.clone(), action: Action::PruneSkipped, live: Some(live) });
                continue;
            }
            let guarded = protection(&live, &self.options.prune_options);
            if !self.options.prune || guarded.is_some() {
                tracing::info!(object = %object, reason = ?guarded, "prune skipped");
                kept.push(object.clone());
                result.applied.push(Applied { object: object.clone(), action: Action::PruneSkipped, live: Some(live) });
                continue;
            }
            let guards = &self.options.prune_options;
            self.applier.delete(object, guards, "delete (prune)", self.options.propagation.clone()).await?;
            tracing::info!(object = %object, "pruned");
            result.applied.push(Applied { object: object.clone(), action: Action::Pruned, live: None });
        }
        kept.reverse();
        Ok(kept)
    }

    /// Polls the objects of a finished wave until the gate lets them pass.
    async fn wait_wave(&self, wave: &[Applied], gate: &WaveGate, number: Option<i64>) -> Result<()> {
        let deadline = tokio::time::Instant::now() + gate.timeout;
        for applied in wave {
            loop {
                let live = self.applier.get(&applied.object).await?;
                let verdict = live.as_ref().map_or(Ok(false), |live| (gate.ready)(live));
                match verdict {
                    Ok(true) => break,
                    Err(reason) => return Err(Error::WaveFailed { object: applied.object.clone(), reason }),
                    Ok(false) if tokio::time::Instant::now() >= deadline => {
                        return Err(Error::Timeout {
                            object: applied.object.clone(),
                            waiting_for: "its wave to become healthy",
                        });
                    }
                    Ok(false) => {
                        let at = || format!("waiting for {} ({} not ready yet)", wave_name(number), applied.object);
                        pause(&self.options.cancel, WAVE_POLL, at).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The stored inventory during one sync: what it was before, and what is
/// stored now (the write-ahead entries included).
struct Record {
    store: InventoryStore,
    previous: Inventory,
    stored: Inventory,
}

impl Record {
    /// Adds `objects` to the stored inventory before they are applied
    /// (under the previous revision: the sync is not done); writes only
    /// when one of them is new.
    async fn ahead(&mut self, objects: &[ObjectRef]) -> Result<()> {
        let next =
            Inventory { revision: self.previous.revision.clone(), objects: union(&self.stored.objects, objects) };
        self.store.store(&next, &self.stored).await?;
        self.stored = next;
        Ok(())
    }
}

/// A wave for people: `wave 2`, or the foundation step.
fn wave_name(number: Option<i64>) -> String {
    number.map_or_else(|| "the foundation step (namespaces, CRDs)".to_owned(), |n| format!("wave {n}"))
}

/// Whether discovery failed because the server does not serve the kind
/// (as opposed to failing to answer).
fn kind_not_served(error: &Error) -> bool {
    let Error::Discover { source, .. } = error else { return false };
    match &source.0 {
        kube::Error::Discovery(_) => true,
        kube::Error::Api(status) => status.code == 404,
        _ => false,
    }
}

/// An error and its causes on one line.
fn chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn applied_refs(result: &SyncResult) -> Vec<ObjectRef> {
    result
        .applied
        .iter()
        .filter(|a| matches!(a.action, Action::Created | Action::Configured | Action::Unchanged))
        .map(|a| a.object.clone())
        .collect()
}

/// `a` then the objects of `b` not in `a`, by group, kind, namespace, name.
fn union(a: &[ObjectRef], b: &[ObjectRef]) -> Vec<ObjectRef> {
    let seen = keyed(a);
    let mut out = a.to_vec();
    out.extend(keyed(b).into_iter().filter(|(k, _)| !seen.contains_key(k)).map(|(_, v)| v));
    out
}

fn kind_key(object: &Object) -> (String, String) {
    (object.group().to_owned(), object.kind().to_owned())
}

/// The scope of every custom resource kind a CRD of the plan defines, by `(group, kind)`.
type CrdScopes = HashMap<(String, String), capstan_plan::bounds::Scope>;

fn crd_kinds(plan: &Plan) -> CrdScopes {
    capstan_plan::bounds::crd_scopes(plan.sync_objects())
}
