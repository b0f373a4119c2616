//! The CLI against Applications in the cluster, which the controller
//! reconciles: `get apps`, `status`, `history`, `sync APP`, `rollback`,
//! `suspend` and `resume`.
//!
//! The CLI never writes an Application's status (the controller owns it).
//! `sync`, `rollback` and `resume` ask the controller with an
//! [`OperationRequest`] in the `capstan.dev/operation` annotation;
//! `suspend` and `resume` set `spec.suspend`. Output is built in
//! [`crate::apps_view`], which escapes what the cluster and Git supply.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use capstan_types::{ApplicationResource, OPERATION_ANNOTATION, OperationRequest, RequestKind};
use clap::{Args, Subcommand, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};

use crate::apps_view;
use crate::output::Format;

/// The commands on Applications in the cluster (flattened into `capstan`'s).
#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// List Applications in the cluster, as `kubectl get` does.
    Get {
        /// What to list: `apps` (or `app`, `application`, `applications`).
        #[arg(value_enum)]
        resource: Resource,
        /// One Application by name.
        name: Option<String>,
        /// In every namespace.
        #[arg(short = 'A', long, conflicts_with_all = ["namespace", "name"])]
        all_namespaces: bool,
        /// Output format [default: a table].
        #[arg(short, long, value_enum)]
        output: Option<Format>,
        /// Cluster and namespace.
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Show an Application: sync, revision with subject and author, health,
    /// automation, the last operation and error, conditions, objects, drift.
    Status {
        /// The Application.
        app: String,
        /// Cluster and namespace.
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// The last syncs of an Application, newest first.
    History {
        /// The Application.
        app: String,
        /// Cluster and namespace.
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Sync a recorded earlier revision (an ID or a SHA prefix from
    /// `capstan history`); automated sync stays suspended until a new
    /// commit or `capstan resume`.
    Rollback {
        /// The Application.
        app: String,
        /// History ID or commit SHA (prefix) of a recorded sync.
        revision: String,
        /// Also delete objects that the older revision does not have.
        #[arg(long)]
        prune: bool,
        /// Cluster and namespace.
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Stop the controller changing the cluster for an Application (`spec.suspend`).
    Suspend {
        /// The Application.
        app: String,
        /// Cluster and namespace.
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Let the controller sync an Application again: clears `spec.suspend`
    /// and the hold of a rollback.
    Resume {
        /// The Application.
        app: String,
        /// Cluster and namespace.
        #[command(flatten)]
        kube: KubeArgs,
    },
}

/// The resource `capstan get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Resource {
    /// Applications.
    #[value(name = "apps", alias = "app", alias = "application", alias = "applications")]
    Apps,
}

/// Which cluster and namespace.
#[derive(Debug, Clone, Default, Args)]
pub struct KubeArgs {
    /// Namespace of the Application [default: the kube context's].
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Kubeconfig file [default: $KUBECONFIG or ~/.kube/config].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kube context to use.
    #[arg(long)]
    pub context: Option<String>,
}

/// Runs one command against the kubeconfig's cluster and prints its output.
pub async fn run(command: AppsCommand) -> Result<()> {
    let client = connect(command.kube()).await?;
    crate::output::print(&execute(&client, command).await?)?;
    Ok(())
}

impl AppsCommand {
    fn kube(&self) -> &KubeArgs {
        match self {
            Self::Get { kube, .. }
            | Self::Status { kube, .. }
            | Self::History { kube, .. }
            | Self::Rollback { kube, .. }
            | Self::Suspend { kube, .. }
            | Self::Resume { kube, .. } => kube,
        }
    }
}

/// Runs one command with `client`; its output.
pub async fn execute(client: &Client, command: AppsCommand) -> Result<String> {
    let api = api(client, command.kube());
    Ok(match command {
        AppsCommand::Get { resource: Resource::Apps, name, all_namespaces, output, .. } => {
            let api = if all_namespaces { Api::all(client.clone()) } else { api };
            get(&api, name.as_deref(), all_namespaces, output).await?
        }
        AppsCommand::Status { app, .. } => apps_view::status_page(&api.get(&app).await.with_context(|| missing(&app))?),
        AppsCommand::History { app, .. } => {
            let resource = api.get(&app).await.with_context(|| missing(&app))?;
            apps_view::history_table(&resource.status.unwrap_or_default())
        }
        AppsCommand::Rollback { app, revision, prune, .. } => rollback(&api, &app, &revision, prune).await? + "\n",
        AppsCommand::Suspend { app, .. } => {
            set_suspend(&api, &app, true, None).await?;
            format!(
                "Suspended {app}: the controller no longer changes the cluster for it (`capstan resume {app}` to undo).\n"
            )
        }
        AppsCommand::Resume { app, .. } => {
            let request = request(RequestKind::Resume, None, false, "capstan resume");
            set_suspend(&api, &app, false, Some(&request)).await?;
            format!("Resumed {app}: the controller syncs it again (automated sync, if enabled, goes on).\n")
        }
    })
}

/// `capstan sync APP`: asks the controller to sync now; with `wait`, waits
/// until it handled the request and prints the status page.
pub async fn sync(app: &str, kube: &KubeArgs, prune: bool, wait: Option<Duration>) -> Result<()> {
    let client = connect(kube).await?;
    let outcome = request_sync(&client, app, kube, prune, wait).await?;
    crate::output::print(&outcome.output)?;
    if outcome.failed {
        bail!("the sync of {app} failed (see Operation above)");
    }
    Ok(())
}

/// What `capstan sync APP` printed, and whether the sync failed.
#[derive(Debug)]
pub struct SyncOutcome {
    /// The text for the terminal.
    pub output: String,
    /// The controller handled the request, and the sync failed.
    pub failed: bool,
}

/// [`sync`] with `client`.
pub async fn request_sync(
    client: &Client,
    app: &str,
    kube: &KubeArgs,
    prune: bool,
    wait: Option<Duration>,
) -> Result<SyncOutcome> {
    let api = api(client, kube);
    let request = request(RequestKind::Sync, None, prune, "capstan sync");
    annotate(&api, app, &request).await?;
    let mut output = format!("Asked the controller to sync {app} (request {}).\n", request.requested_at);
    let Some(timeout) = wait else { return Ok(SyncOutcome { output, failed: false }) };
    let resource = wait_handled(&api, app, &request, timeout).await?;
    output.push_str(&apps_view::status_page(&resource));
    let failed = resource.status.as_ref().and_then(|s| s.operation.as_ref()).is_some_and(|o| o.phase == "Failed");
    Ok(SyncOutcome { output, failed })
}

/// A client from the kubeconfig (never the embedded local server: these
/// commands talk to the controller's cluster).
pub async fn connect(kube: &KubeArgs) -> Result<Client> {
    let options = crate::target::TargetOptions {
        kubeconfig: kube.kubeconfig.clone(),
        context: kube.context.clone(),
        ..Default::default()
    };
    let (client, _) = crate::target::kube_client(&options).await?;
    Ok(client)
}

fn api(client: &Client, kube: &KubeArgs) -> Api<ApplicationResource> {
    match &kube.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::default_namespaced(client.clone()),
    }
}

fn missing(app: &str) -> String {
    format!("failed to read Application {app}")
}

/// `capstan get apps` output.
async fn get(
    api: &Api<ApplicationResource>,
    name: Option<&str>,
    all_namespaces: bool,
    output: Option<Format>,
) -> Result<String> {
    let mut apps = match name {
        Some(name) => vec![api.get(name).await.with_context(|| missing(name))?],
        None => api.list(&ListParams::default()).await.context("failed to list Applications")?.items,
    };
    apps.sort_by(|a, b| (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name)));
    for app in &mut apps {
        // Clutter nobody reads in `get -o yaml` (kubectl shows it; we do not).
        app.metadata.managed_fields = None;
    }
    Ok(match output {
        None if apps.is_empty() => "No Applications found.\n".to_owned(),
        None => apps_view::apps_table(&apps, all_namespaces, Timestamp::now()),
        Some(Format::Json) => {
            let value = match name {
                Some(_) => serde_json::to_value(&apps[0])?,
                None => serde_json::json!({"apiVersion": "v1", "kind": "List", "items": apps}),
            };
            apps_view::json(&value)
        }
        Some(Format::Yaml) => {
            let mut out = String::new();
            for app in &apps {
                out.push_str("---\n");
                out.push_str(&crate::yaml::to_string(&serde_json::to_value(app)?));
            }
            out
        }
    })
}

/// A new request, identified by the current time.
fn request(op: RequestKind, revision: Option<String>, prune: bool, by: &str) -> OperationRequest {
    let now = Timestamp::now();
    OperationRequest { op, revision, prune, requested_at: now.to_string(), initiated_by: by.to_owned() }
}

async fn annotate(api: &Api<ApplicationResource>, app: &str, request: &OperationRequest) -> Result<()> {
    let patch = serde_json::json!({"metadata": {"annotations": {OPERATION_ANNOTATION: request.to_annotation()}}});
    api.patch(app, &PatchParams::default(), &Patch::Merge(&patch)).await.with_context(|| missing(app))?;
    Ok(())
}

async fn set_suspend(
    api: &Api<ApplicationResource>,
    app: &str,
    suspend: bool,
    request: Option<&OperationRequest>,
) -> Result<()> {
    let mut patch = serde_json::json!({"spec": {"suspend": suspend}});
    if let Some(request) = request {
        patch["metadata"] = serde_json::json!({"annotations": {OPERATION_ANNOTATION: request.to_annotation()}});
    }
    api.patch(app, &PatchParams::default(), &Patch::Merge(&patch)).await.with_context(|| missing(app))?;
    Ok(())
}

/// Resolves `revision` against the recorded history and asks for the rollback.
async fn rollback(api: &Api<ApplicationResource>, app: &str, revision: &str, prune: bool) -> Result<String> {
    let resource = api.get(app).await.with_context(|| missing(app))?;
    let history = resource.status.map(|s| s.history).unwrap_or_default();
    let entry = resolve(&history, revision)?;
    let sha = entry.revision.clone();
    let request = request(RequestKind::Rollback, Some(sha.clone()), prune, "capstan rollback");
    annotate(api, app, &request).await?;
    Ok(format!(
        "Asked the controller to roll {app} back to {} (history ID {}). Automated sync stays suspended until a new commit or `capstan resume {app}`.",
        capstan_reconcile::short(&sha),
        entry.id
    ))
}

/// The history entry `revision` names: an ID, or a unique SHA prefix.
pub fn resolve<'a>(
    history: &'a [capstan_types::HistoryEntry],
    revision: &str,
) -> Result<&'a capstan_types::HistoryEntry> {
    if let Ok(id) = revision.parse::<i64>()
        && let Some(entry) = history.iter().find(|e| e.id == id)
    {
        return Ok(entry);
    }
    let prefix = revision.to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{revision:?} is neither a history ID nor a commit SHA (4 or more hex digits); see `capstan history`");
    }
    let mut matches = history.iter().filter(|e| e.revision.starts_with(&prefix));
    let entry =
        matches.next().with_context(|| format!("no recorded sync has revision {prefix}; see `capstan history`"))?;
    if matches.any(|e| e.revision != entry.revision) {
        bail!("revision {prefix} is ambiguous in the history; give more digits");
    }
    Ok(entry)
}

/// Waits until the controller recorded `request` as handled.
async fn wait_handled(
    api: &Api<ApplicationResource>,
    app: &str,
    request: &OperationRequest,
    timeout: Duration,
) -> Result<ApplicationResource> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let resource = api.get(app).await.with_context(|| missing(app))?;
        let handled = resource.status.as_ref().and_then(|s| s.last_handled_request.as_deref());
        if handled == Some(request.requested_at.as_str()) {
            return Ok(resource);
        }
        if resource.spec.suspend {
            bail!("{app} is suspended (spec.suspend): the controller syncs it after `capstan resume {app}`");
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the controller did not handle the sync of {app} within {timeout:?} (is it running? `capstan status {app}`)"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_types::HistoryEntry;

    #[test]
    fn a_revision_is_an_id_or_a_unique_sha_prefix() {
        let entry = |id, c: &str| HistoryEntry { id, revision: c.repeat(40), ..Default::default() };
        let history = [entry(3, "b"), entry(2, "a"), entry(1, "b")];
        assert_eq!(resolve(&history, "2").unwrap().revision, "a".repeat(40));
        assert_eq!(resolve(&history, "AAAA").unwrap().id, 2);
        assert_eq!(resolve(&history, "bbbb").unwrap().id, 3, "the same commit twice: the newest sync");
        assert!(resolve(&history, "cccc").unwrap_err().to_string().contains("no recorded sync"));
        assert!(resolve(&history, "main").unwrap_err().to_string().contains("neither a history ID"));
    }
}
