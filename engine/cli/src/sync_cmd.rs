//! `capstan sync`: the kubectl-like report of a sync (kind, namespace,
//! name, action, health) and `--wait` for health with progress output.

use std::time::Duration;

use anyhow::{Result, bail};
use capstan_apply::{Action, Applied, Applier};
use capstan_health::{Assessment, Health};

use crate::apply::{apply_options, health_of, wait_healthy};
use crate::output::table;
use crate::target::{Target, TargetOptions};
use crate::{AppFile, Engine, SyncOptions, SyncReport};

/// Parses `90s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 90s, 5m or 1h"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?} has an unknown unit (use s, m or h)")),
    }
}

/// Runs `capstan sync` and prints its report; with `wait`, waits for health.
pub async fn run(
    engine: &Engine,
    file: &std::path::Path,
    target: &TargetOptions,
    options: &SyncOptions,
    wait: Option<Duration>,
) -> Result<()> {
    let app = AppFile::load(file)?;
    let cluster = Target::connect(target).await?;
    println!("{}", cluster.describe());
    let result = sync_and_report(engine, &app, &cluster, options, wait).await;
    cluster.close().await;
    result
}

async fn sync_and_report(
    engine: &Engine,
    app: &AppFile,
    cluster: &Target,
    options: &SyncOptions,
    wait: Option<Duration>,
) -> Result<()> {
    let mut report = engine.sync(app, cluster.client(), options).await?;
    print_header(app, &report, options);
    crate::policy_cmd::print_verdicts(&report.render.rendered.verdicts);
    let health = match wait {
        Some(timeout) if !options.dry_run => {
            let applier = Applier::new(cluster.client(), apply_options(&app.app, false)?);
            eprintln!("Waiting up to {timeout:?} for the application to be healthy…");
            wait_healthy(&report.assessor, &applier, &mut report.applied, timeout, progress).await?
        }
        _ => health_of(&report.assessor, &report.applied),
    };
    print!("{}", sync_table(&report.applied, &health));
    for run in &report.hooks {
        let outcome = run.outcome.as_ref().err().map_or("succeeded".to_owned(), |e| format!("failed: {e}"));
        println!("{:?} hook {}: {outcome}", run.phase, run.object);
    }
    let overall = capstan_health::aggregate(health.iter().flatten());
    let count = |action| report.applied.iter().filter(|a| a.action == action).count();
    println!(
        "Synced at {}: {} created, {} configured, {} unchanged, {} pruned, {} left Git but kept; health {overall}.",
        capstan_reconcile::short(&report.render.checkout.commit),
        count(Action::Created),
        count(Action::Configured),
        count(Action::Unchanged),
        count(Action::Pruned),
        count(Action::PruneSkipped),
    );
    if count(Action::PruneSkipped) > 0 && !options.prune {
        println!("Objects that left Git are kept; run with --prune to delete them.");
    }
    if wait.is_some() && !options.dry_run && overall != Health::Healthy {
        bail!("application {} is {overall} after the wait", app.app.metadata.name);
    }
    Ok(())
}

fn print_header(app: &AppFile, report: &SyncReport, options: &SyncOptions) {
    let checkout = &report.render.checkout;
    let plugins: Vec<&str> = report.render.stages.iter().map(|s| s.plugin.as_str()).collect();
    println!(
        "Application {}: revision {} ({}), {} objects rendered by {}{}",
        app.app.metadata.name,
        checkout.commit,
        app.app.spec.source.revision,
        report.render.rendered.objects.len(),
        plugins.join(" → "),
        if options.dry_run { " (dry run: nothing was changed)" } else { "" }
    );
}

fn progress(overall: Health, pending: &[(String, Assessment)]) {
    let first = pending.first().map(|(o, a)| format!(": {o} {} {}", a.health, a.message)).unwrap_or_default();
    eprintln!("  {overall}, {} not healthy yet{first}", pending.len());
}

/// KIND, NAMESPACE, NAME, ACTION, HEALTH — one row per object.
pub fn sync_table(applied: &[Applied], health: &[Option<Assessment>]) -> String {
    let rows: Vec<[String; 5]> = applied
        .iter()
        .zip(health)
        .map(|(a, h)| {
            let o = &a.object;
            let health = h.as_ref().map_or_else(|| "-".to_owned(), |h| h.health.to_string());
            [
                o.kind.clone(),
                o.namespace.clone().unwrap_or_else(|| "-".into()),
                o.name.clone(),
                a.action.to_string(),
                health,
            ]
        })
        .collect();
    table(["KIND", "NAMESPACE", "NAME", "ACTION", "HEALTH"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_types::ObjectRef;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn table_has_action_and_health() {
        let r = |kind: &str, name: &str| ObjectRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: Some("shop".into()),
            name: name.into(),
        };
        let applied = [
            Applied { object: r("ConfigMap", "web"), action: Action::Unchanged, live: None },
            Applied { object: r("Service", "old"), action: Action::Pruned, live: None },
        ];
        let health = [Some(Assessment { health: Health::Healthy, message: String::new() }), None];
        insta::assert_snapshot!(sync_table(&applied, &health));
    }
}
