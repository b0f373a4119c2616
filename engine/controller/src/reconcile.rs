//! One pass over one Application: render at the current commit, then sync
//! for real (automated sync of a new commit or spec, or self-heal) or only
//! compare (drift is reported, nothing changes), and report in `status`.
//!
//! The comparison is the engine's own dry-run sync, whose unchanged objects
//! cost no request beyond the read-ahead, so a pass over an unchanged
//! Application makes zero writes and zero dry-runs. Errors are typed by the
//! engine ([`capstan_reconcile::Error`]): transient ones back off
//! exponentially, permanent ones wait for the next poll (a new commit may
//! fix them) or a spec change.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use capstan_apply::Action as Applied;
use capstan_reconcile::Stage;
use capstan_reconcile::{AppFile, SyncOptions, SyncReport};
use capstan_source::poll::{Poller, parse_interval};
use capstan_source::webhook::Watch;
use capstan_types::{Application, ApplicationResource, ApplicationStatus, Difference};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use tracing::Instrument;

use crate::Context;
use crate::status::{self, Pass};

/// How long each sync wave may take to become healthy before the next.
const WAVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Errors of a pass (the Application's own failures are in its status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A stage of the reconcile failed.
    #[error(transparent)]
    Reconcile(#[from] capstan_reconcile::Error),
    /// The status could not be written.
    #[error("failed to write the status of application {key}")]
    Status {
        /// `namespace/name`.
        key: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The Application cannot run as asked (invalid spec, impersonation not
    /// possible); said in its status, retried on the next change.
    #[error("application {key}: {message}")]
    Stalled {
        /// `namespace/name`.
        key: String,
        /// Why.
        message: String,
    },
}

/// `namespace/name` of an Application.
pub fn key(app: &ApplicationResource) -> String {
    format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any())
}

/// The controller's reconcile function.
pub async fn reconcile(object: Arc<ApplicationResource>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = key(&object);
    let started = Instant::now();
    let span = tracing::info_span!("reconcile", app = %key, revision = tracing::field::Empty);
    let result = pass(&object, &ctx, &key).instrument(span).await;
    ctx.metrics.reconciled(started.elapsed(), result.as_ref().err());
    ctx.note_failure(&key, result.is_err());
    result
}

async fn pass(object: &ApplicationResource, ctx: &Context, key: &str) -> Result<Action, Error> {
    let old = object.status.clone().unwrap_or_default();
    let generation = object.metadata.generation;
    let stalled = |message: String| Error::Stalled { key: key.to_owned(), message };
    let app = match object.to_application() {
        Ok(app) => app,
        Err(error) => {
            let message = format!("invalid spec: {error}");
            status::write(ctx, object, &old, Pass::stalled(generation, "InvalidSpec", &message)).await?;
            return Err(stalled(message));
        }
    };
    let mut poller = match Poller::from_spec(app.spec.source.interval.as_deref()) {
        Ok(poller) => poller,
        Err(error) => {
            let message = format!("invalid spec.source.interval: {error}");
            status::write(ctx, object, &old, Pass::stalled(generation, "InvalidSpec", &message)).await?;
            return Err(stalled(message));
        }
    };
    ctx.hooks.watch(Watch {
        app: key.to_owned(),
        repo_url: app.spec.source.repo_url.clone(),
        revision: app.spec.source.revision.clone(),
    });
    if app.spec.suspend {
        status::write(ctx, object, &old, Pass::suspended(generation)).await?;
        return Ok(Action::await_change());
    }
    let client = match client_for(ctx, &app) {
        Ok(client) => client,
        Err(message) => {
            status::write(ctx, object, &old, Pass::stalled(generation, "ImpersonationFailed", &message)).await?;
            return Err(stalled(message));
        }
    };
    let file = AppFile { app: app.clone(), base_dir: PathBuf::from("/") };
    let outcome = sync_or_compare(ctx, &file, client, &old, generation).await;
    let update = match &outcome {
        Ok((report, real, drift)) => Pass::done(generation, report, *real, drift.clone(), &old),
        Err(error) => Pass::failed(generation, error, &old),
    };
    ctx.watches.track(key, outcome.as_ref().ok().map(|(report, ..)| report));
    status::write(ctx, object, &old, update).await?;
    match outcome {
        Ok(_) => Ok(Action::requeue(poller.next_delay())),
        Err(error) => Err(error.into()),
    }
}

/// Renders, then syncs for real when automation (or self-heal) asks for it,
/// else only compares. Returns the report, whether the sync was real, and
/// the fields of each object that differ when it only compared.
async fn sync_or_compare(
    ctx: &Context,
    file: &AppFile,
    client: Client,
    old: &ApplicationStatus,
    generation: Option<i64>,
) -> Result<(SyncReport, bool, Vec<Difference>), capstan_reconcile::Error> {
    let app = &file.app;
    // The platform set is a mounted ConfigMap: pick up an edit before rendering.
    match ctx.engine.reload_platform() {
        Ok(true) => tracing::info!("platform policies reloaded"),
        Ok(false) => {}
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "platform policies kept: the changed file does not load")
        }
    }
    let render = ctx.engine.render_in_cluster(file, &client).await?;
    tracing::Span::current().record("revision", capstan_reconcile::short(&render.checkout.commit));
    let synced = old.sync.as_ref().and_then(|s| s.revision.as_ref()).map(|r| r.sha.as_str());
    let new_commit = synced != Some(render.checkout.commit.as_str());
    let spec_changed = old.observed_generation != generation;
    let real = app.spec.sync.automated.is_some_and(|a| new_commit || spec_changed || a.self_heal);
    let options = SyncOptions {
        dry_run: !real,
        prune: real && app.spec.sync.automated.is_some_and(|a| a.prune),
        confirm_prune: false,
        wave_timeout: Some(WAVE_TIMEOUT),
    };
    let report = ctx.engine.sync_rendered(file, client.clone(), render, &options).await?;
    let drift = if real { Vec::new() } else { drift(file, client, &report).await? };
    Ok((report, real, drift))
}

/// Which fields differ, for the objects a compare found changed: one
/// dry-run apply each, only for those (an unchanged pass makes none).
async fn drift(
    file: &AppFile,
    client: Client,
    report: &SyncReport,
) -> Result<Vec<Difference>, capstan_reconcile::Error> {
    let app = &file.app;
    let changed: Vec<&capstan_types::ObjectRef> =
        report.applied.iter().filter(|a| a.action == Applied::Configured).map(|a| &a.object).collect();
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let error = |e: capstan_apply::Error| capstan_reconcile::Error::new(&app.metadata.name, Stage::Apply, e);
    let options = capstan_reconcile::apply::apply_options(app, true)
        .map_err(|e| capstan_reconcile::Error::new(&app.metadata.name, Stage::Spec, e))?;
    let applier = capstan_apply::Applier::new(client, options);
    let mut out = Vec::new();
    for object in &report.render.rendered.objects {
        let diff = match changed.iter().any(|c| c.kind == object.kind() && c.name == object.name()) {
            true => applier.diff(object.clone()).await.map_err(error)?,
            false => continue,
        };
        if !changed.contains(&&diff.object) {
            continue;
        }
        let fields = status::differing_fields(&diff.comparison.desired, diff.comparison.live.as_ref(), 20);
        out.push(status::difference(&diff.object, fields));
    }
    Ok(out)
}

/// The client to apply with: the controller's own, or one impersonating
/// `spec.serviceAccountName` (in the Application's namespace).
fn client_for(ctx: &Context, app: &Application) -> Result<Client, String> {
    let Some(account) = &app.spec.service_account_name else { return Ok(ctx.client.clone()) };
    let namespace = app.metadata.namespace.as_deref().unwrap_or("default");
    let user = format!("system:serviceaccount:{namespace}:{account}");
    let mut clients = ctx.clients.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(client) = clients.get(&user) {
        return Ok(client.clone());
    }
    let Some(config) = &ctx.config.kube_config else {
        return Err(format!(
            "spec.serviceAccountName {account}: this controller was started without a kube config to impersonate with"
        ));
    };
    let mut config = config.clone();
    config.auth_info.impersonate = Some(user.clone());
    let client = Client::try_from(config).map_err(|e| format!("spec.serviceAccountName {account}: {e}"))?;
    clients.insert(user, client.clone());
    Ok(client)
}

/// Backoff after a failed pass: exponential for transient errors (from
/// `spec.sync.retry.backoff`, default 5s × 2 up to 3m); permanent errors
/// wait for the poll interval, since only a new commit or spec can fix them.
pub fn error_policy(object: Arc<ApplicationResource>, error: &Error, ctx: Arc<Context>) -> Action {
    let failures = ctx.failures.lock().unwrap_or_else(PoisonError::into_inner).get(&key(&object)).copied();
    let interval = Poller::from_spec(object.spec.source.interval.as_deref()).map(|p| p.interval()).ok();
    tracing::warn!(app = %key(&object), error = %error, "reconcile failed");
    let retry = &object.spec.sync.retry;
    let exhausted = retry.as_ref().and_then(|r| r.limit).is_some_and(|limit| failures.unwrap_or(0) > limit);
    match error {
        // `spec.sync.retry.limit` failures of this commit: wait for a new one.
        Error::Reconcile(_) if exhausted => Action::requeue(interval.unwrap_or(capstan_source::poll::DEFAULT_INTERVAL)),
        Error::Reconcile(e) if e.is_transient() => {
            Action::requeue(backoff(&object.spec.sync.retry, failures.unwrap_or(1)))
        }
        Error::Status { .. } => Action::requeue(backoff(&None, failures.unwrap_or(1))),
        Error::Stalled { .. } => Action::await_change(),
        Error::Reconcile(_) => Action::requeue(interval.unwrap_or(capstan_source::poll::DEFAULT_INTERVAL)),
    }
}

/// The wait before retry number `failures` (1-based).
pub fn backoff(retry: &Option<capstan_types::RetryStrategy>, failures: u32) -> Duration {
    let spec = retry.as_ref().and_then(|r| r.backoff.as_ref());
    let parse = |text: Option<&String>, default: u64| {
        text.and_then(|t| parse_interval(t).ok()).unwrap_or(Duration::from_secs(default))
    };
    let first = parse(spec.and_then(|b| b.duration.as_ref()), 5);
    let max = parse(spec.and_then(|b| b.max_duration.as_ref()), 180);
    let factor = spec.and_then(|b| b.factor).unwrap_or(2).max(1);
    let exponent = failures.saturating_sub(1).min(16);
    first.saturating_mul(factor.saturating_pow(exponent)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_types::{Backoff, RetryStrategy};

    #[test]
    fn backoff_grows_to_its_cap() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(&None, n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 180, 180]);
        let spec = Some(RetryStrategy {
            limit: None,
            backoff: Some(Backoff { duration: Some("10s".into()), factor: Some(3), max_duration: Some("1m".into()) }),
        });
        let waits: Vec<u64> = (1..=4).map(|n| backoff(&spec, n).as_secs()).collect();
        assert_eq!(waits, [10, 30, 60, 60]);
    }
}
