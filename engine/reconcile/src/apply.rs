//! Glue from an Application to the apply stage: options, health of the
//! synced objects, and `sync --wait`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use capstan_apply::{Action, Applied, Applier, ApplyOptions, RetryPolicy, WaveGate};
pub use capstan_health::{Assessment, Assessor, Health};
use capstan_plan::{Bounds, IgnoreRules, Owner, PruneOptions};
use capstan_types::Application;

use crate::SyncOptions;

/// Where an Application's inventory lives: the Application's own namespace
/// (`capstan-system` for a file that names none), never its destination,
/// so the objects a render writes and the engine's record of them are apart.
pub fn inventory_namespace(app: &Application) -> String {
    Owner::of(app).namespace
}

/// Apply options of an Application.
pub fn apply_options(app: &Application, dry_run: bool) -> Result<ApplyOptions> {
    let ignore = IgnoreRules::new(&app.spec.ignore_differences)
        .with_context(|| format!("application {}: invalid spec.ignoreDifferences", app.metadata.name))?;
    Ok(ApplyOptions {
        default_namespace: app.spec.destination.namespace.clone(),
        dry_run,
        ignore,
        retry: retry_policy(app),
        bounds: Bounds::for_application(app),
    })
}

/// `spec.sync.retry.limit` (Argo CD's shape) as the retries of each API
/// call; the default policy without it.
fn retry_policy(app: &Application) -> RetryPolicy {
    match app.spec.sync.retry.as_ref().and_then(|retry| retry.limit) {
        Some(limit) => RetryPolicy { attempts: limit.saturating_add(1), ..RetryPolicy::default() },
        None => RetryPolicy::default(),
    }
}

/// Sync options of an Application at `revision`; waves wait for `assessor`.
pub fn sync_options(
    app: &Application,
    revision: &str,
    options: &SyncOptions,
    assessor: &Arc<Assessor>,
) -> Result<capstan_apply::SyncOptions> {
    let mut out = capstan_apply::SyncOptions::new(&app.metadata.name, revision, &inventory_namespace(app));
    out.apply = apply_options(app, options.dry_run)?;
    out.create_namespace = app.spec.sync.create_namespace;
    out.prune = options.prune;
    out.prune_options = PruneOptions { confirmed: options.confirm_prune, ..PruneOptions::default() };
    out.cancel = options.cancel.clone();
    out.wave_gate = options.wave_timeout.map(|timeout| {
        let assessor = assessor.clone();
        WaveGate { ready: Arc::new(move |live| healthy(&assessor, live)), timeout }
    });
    Ok(out)
}

/// The wave gate's check: Healthy passes, Degraded fails, the rest waits.
fn healthy(assessor: &Assessor, live: &serde_json::Value) -> std::result::Result<bool, String> {
    let assessment = assessor.assess(Some(live));
    match assessment.health {
        Health::Healthy => Ok(true),
        Health::Degraded => Err(assessment.message),
        _ => Ok(false),
    }
}

/// Health of each object a sync applied (pruned and skipped ones have none).
pub fn health_of(assessor: &Assessor, applied: &[Applied]) -> Vec<Option<Assessment>> {
    applied
        .iter()
        .map(|a| match a.action {
            Action::Pruned | Action::PruneSkipped => None,
            _ => Some(assessor.assess(a.live.as_ref())),
        })
        .collect()
}

/// Polls the applied objects until all are Healthy or `timeout` passes;
/// `progress` hears each round's aggregate and the objects not healthy yet.
/// Returns the final assessments.
pub async fn wait_healthy(
    assessor: &Assessor,
    applier: &Applier,
    applied: &mut [Applied],
    timeout: Duration,
    mut progress: impl FnMut(Health, &[(String, Assessment)]),
) -> Result<Vec<Option<Assessment>>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(250);
    loop {
        for a in applied.iter_mut().filter(|a| !matches!(a.action, Action::Pruned | Action::PruneSkipped)) {
            a.live = applier.get(&a.object).await.with_context(|| format!("failed to read {}", a.object))?;
        }
        let health = health_of(assessor, applied);
        let pending: Vec<(String, Assessment)> = applied
            .iter()
            .zip(&health)
            .filter_map(|(a, h)| {
                h.as_ref().filter(|h| h.health != Health::Healthy).map(|h| (a.object.to_string(), h.clone()))
            })
            .collect();
        let overall = capstan_health::aggregate(health.iter().flatten());
        progress(overall, &pending);
        if pending.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(health);
        }
        tokio::time::sleep(delay.min(deadline - tokio::time::Instant::now())).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_limit_comes_from_the_application() {
        let app = |sync: &str| {
            let text = format!(
                "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: a}}\nspec:\n  source: {{repoURL: .}}\n{sync}"
            );
            Application::from_yaml(&text).unwrap()
        };
        assert_eq!(retry_policy(&app("  sync: {retry: {limit: 2}}\n")).attempts, 3);
        assert_eq!(retry_policy(&app("")), RetryPolicy::default());
    }
}
