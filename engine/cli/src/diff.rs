//! `capstan diff`: what a sync would change, object by object, as coloured
//! unified diffs; exit 0 when equal, 1 on differences, 2 on error.
//!
//! The desired side of each object is the server-side apply dry-run result
//! (so server defaults are no drift), compared by [`capstan_plan::compare`]
//! with `ignoreDifferences` honoured and Secret values masked. Objects of
//! the inventory that left Git are listed as prune candidates.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use capstan_apply::{Applier, InventoryStore, ObjectDiff};
use capstan_plan::{IgnoreRules, Masker, Plan, PruneOptions, compare, plan_prune};
use capstan_types::ObjectRef;

use crate::apply::{apply_options, inventory_namespace};
use crate::target::{Target, TargetOptions};
use crate::{AppFile, Engine, RenderOutput};

/// What `capstan diff` found.
#[derive(Debug)]
pub struct DiffReport {
    /// What was rendered, at which commit.
    pub render: RenderOutput,
    /// One entry per object of the sync phase, in apply order.
    pub diffs: Vec<ObjectDiff>,
    /// Inventory objects no longer rendered (pruned by `sync --prune`).
    pub prune: Vec<ObjectRef>,
}

impl DiffReport {
    /// Whether a sync would change anything.
    pub fn has_differences(&self) -> bool {
        !self.prune.is_empty() || self.diffs.iter().any(|d| d.comparison.changed())
    }

    /// Exit code of `capstan diff`: 0 equal, 1 differences.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.has_differences())
    }
}

/// Renders the Application and compares every object with the cluster.
pub async fn diff(engine: &Engine, file: &AppFile, client: kube::Client) -> Result<DiffReport> {
    let app = &file.app;
    let render = engine.render_in_cluster(file, &client).await?;
    let plan = Plan::new(render.rendered.objects.clone())
        .with_context(|| format!("application {}: plan failed", app.metadata.name))?;
    let applier = Applier::new(client.clone(), apply_options(app, true)?);
    applier
        .check(plan.all_objects())
        .await
        .with_context(|| format!("application {}: diff refused", app.metadata.name))?;
    let crd_kinds: HashSet<(String, String)> =
        capstan_plan::bounds::crd_scopes(plan.sync_objects()).into_keys().collect();
    let mut diffs = Vec::new();
    for object in plan.sync_objects() {
        match applier.diff(object.clone()).await {
            Ok(d) => diffs.push(d),
            // A CR whose CRD is in this render is not served yet: it will be created.
            Err(capstan_apply::Error::Discover { .. })
                if crd_kinds.contains(&(object.group().to_owned(), object.kind().to_owned())) =>
            {
                diffs.push(to_be_created(object));
            }
            // Its namespace does not exist yet (the sync creates it): so neither does it.
            Err(error) if capstan_apply::namespace_missing(&error) => diffs.push(to_be_created(object)),
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("application {}: diff of {} failed", app.metadata.name, object.object_ref())
                });
            }
        }
    }
    let store = InventoryStore::new(client, &inventory_namespace(app), &app.metadata.name, applier.options().retry);
    let inventory = store.load().await.with_context(|| format!("application {}", app.metadata.name))?;
    let desired: Vec<ObjectRef> = diffs.iter().map(|d| d.object.clone()).collect();
    let everything = PruneOptions { confirmed: true, ..PruneOptions::default() };
    let prune = plan_prune(&inventory.objects, &desired, &everything)?.candidates;
    Ok(DiffReport { render, diffs, prune })
}

/// The diff of an object the server cannot dry-run yet: all of it is new.
fn to_be_created(object: &capstan_types::Object) -> ObjectDiff {
    let comparison = compare(object.as_value(), None, &IgnoreRules::default(), &Masker::new());
    ObjectDiff { object: object.object_ref(), comparison }
}

/// Runs `capstan diff` against the chosen cluster and prints the report;
/// returns the exit code (0 equal, 1 differences, 2 error, with the error
/// printed to stderr).
pub async fn run(engine: &Engine, file: &std::path::Path, target: &TargetOptions, policies: &[PathBuf]) -> u8 {
    let result = async {
        let app = crate::policy_cmd::with_policies(AppFile::load(file)?, policies)?;
        let cluster = Target::connect(target).await?;
        eprintln!("{}", cluster.describe());
        let report = diff(engine, &app, cluster.client()).await;
        cluster.close().await;
        report
    }
    .await;
    match result {
        Ok(report) => {
            crate::policy_cmd::print_verdicts(&report.render.rendered.verdicts);
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            match crate::output::print(&format(&report, colour)) {
                Ok(()) => report.exit_code(),
                // The reader stopped early (`capstan diff | head`): quietly,
                // as a tool killed by SIGPIPE ends.
                Err(e) if crate::output::is_closed_pipe(&e) => crate::output::CLOSED_PIPE_STATUS,
                Err(e) => {
                    eprintln!("error: failed to write the diff: {e}");
                    2
                }
            }
        }
        Err(error) => {
            eprint!("{}", crate::output::error_report(&error));
            2
        }
    }
}

/// The report as text: a unified diff per changed object, then prune
/// candidates; ANSI colours when `colour`.
pub fn format(report: &DiffReport, colour: bool) -> String {
    let mut out = String::new();
    for d in report.diffs.iter().filter(|d| d.comparison.changed()) {
        let o = &d.object;
        let name = format!(
            "{}/{}/{}{}",
            o.api_version,
            o.kind,
            o.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default(),
            o.name
        );
        let what = if d.comparison.live.is_none() { "would be created" } else { "differs" };
        out.push_str(&paint(colour, "1", &format!("=== {o} {what}\n")));
        for line in d.comparison.unified(&name).lines() {
            let code = match line.as_bytes().first() {
                _ if line.starts_with("+++") || line.starts_with("---") => "1",
                Some(b'+') => "32",
                Some(b'-') => "31",
                Some(b'@') => "36",
                _ => "",
            };
            out.push_str(&paint(colour, code, line));
            out.push('\n');
        }
    }
    for object in &report.prune {
        out.push_str(&paint(colour, "31", &format!("=== {object} left Git (pruned by sync --prune)\n")));
    }
    out
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour && !code.is_empty() {
        let (body, newline) = text.strip_suffix('\n').map_or((text, ""), |b| (b, "\n"));
        format!("\x1b[{code}m{body}\x1b[0m{newline}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::paint;

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(paint(false, "32", "+a\n"), "+a\n");
        assert_eq!(paint(true, "32", "+a\n"), "\x1b[32m+a\x1b[0m\n");
        assert_eq!(paint(true, "", " a"), " a");
    }
}
