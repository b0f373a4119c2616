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

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use capstan_apply::Action as Applied;
use capstan_reconcile::Stage;
use capstan_reconcile::{AppFile, SyncOptions, SyncReport};
use capstan_source::poll::{Poller, parse_interval};
use capstan_source::webhook::Watch;
use capstan_types::{
    Application, ApplicationResource, ApplicationStatus, AutomationSuspended, Difference, OPERATION_ANNOTATION,
    Operation, OperationRequest, RequestError, RequestKind,
};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use tracing::Instrument;

use crate::depends::{self, Gate};
use crate::status::{self, How, Pass};
use crate::supersede::HeadWatch;
use crate::{Context, events};

/// How long each sync wave may take to become healthy before the next.
const WAVE_TIMEOUT: Duration = Duration::from_secs(300);
/// When an Application blocked on a dependency looks again, if no
/// reconcile of the dependency woke it before.
const DEPENDENCY_RETRY: Duration = Duration::from_secs(30);

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
    /// The dependencies (`spec.dependsOn`) could not be read.
    #[error("application {key}: failed to read its dependencies")]
    Dependencies {
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
    // Whoever waits on this Application looks again.
    for dependent in ctx.dependents.take(&key) {
        if let Some((namespace, name)) = dependent.split_once('/') {
            let _ = ctx.wake.unbounded_send(ObjectRef::new(name).within(namespace));
        }
    }
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
    let gate = depends::gate(&ctx.client, key, &app)
        .await
        .map_err(|source| Error::Dependencies { key: key.to_owned(), source })?;
    match gate {
        Gate::Open => {}
        Gate::Blocked { on, message } => {
            ctx.dependents.wait(&on, key);
            status::write(ctx, object, &old, Pass::blocked(generation, &message)).await?;
            return Ok(Action::requeue(DEPENDENCY_RETRY));
        }
        Gate::Cycle(path) => {
            let message = format!("spec.dependsOn: dependency cycle {path}");
            status::write(ctx, object, &old, Pass::stalled(generation, "DependencyCycle", &message)).await?;
            return Ok(Action::requeue(DEPENDENCY_RETRY));
        }
    }
    let client = match client_for(ctx, &app) {
        Ok(client) => client,
        Err(message) => {
            status::write(ctx, object, &old, Pass::stalled(generation, "ImpersonationFailed", &message)).await?;
            return Err(stalled(message));
        }
    };
    let request = pending_request(object, &old);
    let file = AppFile { app: app.clone(), base_dir: PathBuf::from("/") };
    let mut run = Run {
        ctx,
        object,
        old: &old,
        current: old.clone(),
        generation,
        hold: old.automation_suspended.clone(),
        interval: poller.interval(),
        superseded_by: None,
    };
    let valid = request.as_ref().and_then(|r| r.as_ref().ok());
    let mut how = How {
        real: false,
        asked: valid.is_some(),
        initiated_by: valid.map_or_else(|| "automated".to_owned(), |r| r.initiated_by.clone()),
    };
    let outcome = run.sync_or_compare(&file, client, valid, &mut how).await;
    let update = match &outcome {
        Ok((report, drift)) => Pass::done(generation, report, &how, drift.clone(), &old),
        Err(error) if error.is_superseded() => {
            Pass::superseded(generation, error, run.superseded_by.as_deref(), &old, &how)
        }
        Err(error) => Pass::failed(generation, error, &old, &how),
    };
    // A request is done once it succeeded or failed for good; a transient
    // failure keeps it pending for the retry.
    let handled =
        valid.filter(|_| outcome.as_ref().err().is_none_or(|e| !e.is_transient())).map(|r| r.requested_at.clone());
    let invalid = match request {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    let update = update.and(after_pass(run.hold.clone(), handled, invalid, &old));
    ctx.watches.track(key, outcome.as_ref().ok().map(|(report, ..)| report));
    status::write_over(ctx, object, &old, &run.current, update).await?;
    match outcome {
        Ok(_) => Ok(Action::requeue(poller.next_delay())),
        // Not a failure: the newer commit is synced at once.
        Err(error) if error.is_superseded() => Ok(Action::requeue(Duration::ZERO)),
        Err(error) => Err(error.into()),
    }
}

/// The request in the `capstan.dev/operation` annotation, unless handled.
fn pending_request(
    object: &ApplicationResource,
    old: &ApplicationStatus,
) -> Option<Result<OperationRequest, RequestError>> {
    let text = object.annotations().get(OPERATION_ANNOTATION)?;
    match OperationRequest::parse(text) {
        Ok(request) if old.last_handled_request.as_deref() == Some(request.requested_at.as_str()) => None,
        parsed => Some(parsed),
    }
}

/// What a pass adds to the status after the sync or compare: the hold of a
/// rollback, the request handled, an unreadable request.
fn after_pass(
    hold: Option<AutomationSuspended>,
    handled: Option<String>,
    invalid: Option<String>,
    old: &ApplicationStatus,
) -> impl FnOnce(&mut ApplicationStatus) + Send + 'static {
    let unreadable = invalid.map(|message| {
        let same = old.operation.as_ref().filter(|o| o.phase == "Failed" && o.message == message);
        let now = status::now();
        Operation {
            phase: "Failed".to_owned(),
            revision: String::new(),
            started_at: same.map_or_else(|| now.clone(), |o| o.started_at.clone()),
            finished_at: Some(same.and_then(|o| o.finished_at.clone()).unwrap_or(now)),
            message: format!("ignored: {message}"),
            initiated_by: OPERATION_ANNOTATION.to_owned(),
        }
    });
    move |status: &mut ApplicationStatus| {
        if let Some(request) = handled {
            status.last_handled_request = Some(request);
        }
        if let Some(operation) = unreadable {
            status.operation = Some(operation);
        }
        if let Some(hold) = &hold {
            let message = status.message.take().unwrap_or_default();
            status.message = Some(format!("{message}; {}", hold.message));
        }
        status.automation_suspended = hold;
    }
}

/// One pass's sync or compare, and what it learnt on the way.
struct Run<'a> {
    ctx: &'a Context,
    object: &'a ApplicationResource,
    /// The status the pass started from.
    old: &'a ApplicationStatus,
    /// The status in the cluster now (after a `Running` write).
    current: ApplicationStatus,
    generation: Option<i64>,
    /// `status.automationSuspended` after this pass.
    hold: Option<AutomationSuspended>,
    /// How often the head is looked at (`spec.source.interval`), also
    /// during a sync.
    interval: Duration,
    /// The commit that superseded this pass's sync, if one did.
    superseded_by: Option<String>,
}

impl Run<'_> {
    /// Renders the Application's revision, then syncs for real when a
    /// request, automation (or self-heal) asks for it, else only compares.
    /// A rollback renders and syncs the recorded commit instead, and holds
    /// automation back until Git's revision moves or a resume.
    async fn sync_or_compare(
        &mut self,
        file: &AppFile,
        client: Client,
        request: Option<&OperationRequest>,
        how: &mut How,
    ) -> Result<(SyncReport, Vec<Difference>), capstan_reconcile::Error> {
        let app_file = file;
        let app = &file.app;
        // The platform set is a mounted ConfigMap: pick up an edit before rendering.
        match self.ctx.engine.reload_platform() {
            Ok(true) => tracing::info!("platform policies reloaded"),
            Ok(false) => {}
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "platform policies kept: the changed file does not load")
            }
        }
        let started = Instant::now();
        let head = self.ctx.engine.render_in_cluster(file, &client).await?;
        self.timed_render(&head, started.elapsed());
        let head_commit = head.checkout.commit.clone();
        tracing::Span::current().record("revision", capstan_reconcile::short(&head_commit));
        let op = request.map(|r| r.op);
        if op == Some(RequestKind::Resume) || self.hold.as_ref().is_some_and(|h| h.source_revision != head_commit) {
            self.hold = None;
        }
        // A resume is not a sync of its own: automation takes over again.
        let request = request.filter(|r| r.op != RequestKind::Resume);
        how.asked = request.is_some();
        let synced = self.old.sync.as_ref().and_then(|s| s.revision.as_ref()).map(|r| r.sha.as_str());
        let new_commit = synced != Some(head_commit.as_str());
        let spec_changed = self.old.observed_generation != self.generation;
        let automated = app.spec.sync.automated.filter(|_| self.hold.is_none());
        let (file, render) = match request {
            Some(request @ OperationRequest { op: RequestKind::Rollback, .. }) => {
                let (file, render) = self.rollback(file, &client, request, &head_commit).await?;
                (Cow::Owned(file), render)
            }
            _ => (Cow::Borrowed(file), head),
        };
        how.real = how.asked || automated.is_some_and(|a| new_commit || spec_changed || a.self_heal);
        if !(how.asked || new_commit || spec_changed) {
            how.initiated_by = "drift".to_owned();
        }
        let prune = match request {
            Some(request) => request.prune,
            None => automated.is_some_and(|a| a.prune),
        };
        let options = SyncOptions {
            dry_run: !how.real,
            prune: how.real && prune,
            confirm_prune: false,
            wave_timeout: Some(WAVE_TIMEOUT),
            ..SyncOptions::default()
        };
        if how.real && (how.asked || new_commit || spec_changed) {
            self.started(&render.checkout.commit, how).await;
        }
        // A real sync stops when a newer commit appears (not a compare: it is quick and writes nothing).
        let watch = how.real.then(|| {
            let key = key(self.object);
            let engine = self.ctx.engine.clone();
            HeadWatch::start(
                self.ctx.syncing.clone(),
                &key,
                engine,
                client.clone(),
                app_file.clone(),
                head_commit.clone(),
                self.interval,
            )
        });
        let options = SyncOptions { cancel: watch.as_ref().map(HeadWatch::token).unwrap_or_default(), ..options };
        let started = Instant::now();
        let report = self.ctx.engine.sync_rendered(&file, client.clone(), render, &options).await;
        self.ctx.metrics.stage("apply", started.elapsed());
        self.superseded_by = watch.and_then(|w| w.newer());
        let report = report?;
        let drift = if how.real { Vec::new() } else { drift(&file, client, &report).await? };
        Ok((report, drift))
    }

    /// Renders the commit of a rollback (one of `status.history`) and holds
    /// automation from now on.
    async fn rollback(
        &mut self,
        file: &AppFile,
        client: &Client,
        request: &OperationRequest,
        head_commit: &str,
    ) -> Result<(AppFile, capstan_reconcile::RenderOutput), capstan_reconcile::Error> {
        let name = &file.app.metadata.name;
        let sha = request.revision.clone().unwrap_or_default();
        if !self.old.history.iter().any(|entry| entry.revision == sha) {
            let why = format!("rollback: revision {sha} is not in status.history");
            return Err(capstan_reconcile::Error::new(name, Stage::Spec, why).permanent());
        }
        let mut file = file.clone();
        file.app.spec.source.revision = sha.clone();
        let started = Instant::now();
        let render = self.ctx.engine.render_in_cluster(&file, client).await?;
        self.timed_render(&render, started.elapsed());
        let short = capstan_reconcile::short(&sha);
        self.hold = Some(AutomationSuspended {
            message: format!(
                "automated sync suspended after rollback to {short}: a new commit or `capstan resume` lifts it"
            ),
            revision: sha.clone(),
            source_revision: head_commit.to_owned(),
            since: status::now(),
        });
        Ok((file, render))
    }

    /// Records the source and render stages of a render that took `took`.
    fn timed_render(&self, render: &capstan_reconcile::RenderOutput, took: Duration) {
        let fetch = render.checkout.fetch_duration;
        self.ctx.metrics.fetched(&render.checkout.fetched, fetch);
        self.ctx.metrics.stage("source", fetch);
        self.ctx.metrics.stage("render", took.saturating_sub(fetch));
    }

    /// Says in the status and in an Event that a sync starts.
    async fn started(&mut self, revision: &str, how: &How) {
        let running = status::inert(Pass::running(revision, how).apply(&self.current));
        match status::write_over(self.ctx, self.object, &self.current, &self.current, Pass::running(revision, how))
            .await
        {
            Ok(()) => self.current = running,
            Err(error) => tracing::warn!(%error, "failed to report the running sync"),
        }
        self.ctx.events.publish(self.object, vec![events::sync_started(revision, &how.initiated_by)]).await;
    }
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
        Error::Status { .. } | Error::Dependencies { .. } => Action::requeue(backoff(&None, failures.unwrap_or(1))),
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
