//! Running one hook: delete the previous run's object if asked, apply, wait
//! until it finished, delete per policy.
//!
//! A hook is finished as Argo CD decides it: a Job when it is Complete or
//! Failed, a Pod when it Succeeded or Failed; any other kind as soon as it
//! is applied. Polling is bounded by the hook timeout.

use std::time::Duration;

use capstan_plan::{DeletePolicy, Hook, HookPhase, PruneOptions, Refusal};
use capstan_types::{Object, ObjectRef};
use kube::api::PropagationPolicy;
use serde_json::Value;

use crate::applier::Applier;
use crate::{CancellationToken, Error, Result, pause};

/// How often a running hook is polled.
const POLL: Duration = Duration::from_millis(100);

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// The hook object.
    pub object: ObjectRef,
    /// The phase it ran in.
    pub phase: HookPhase,
    /// `Err(reason)` if it failed.
    pub outcome: std::result::Result<(), String>,
}

/// Runs one hook to its end.
pub(crate) async fn run(
    applier: &Applier,
    object: &Object,
    hook: &Hook,
    phase: HookPhase,
    timeout: Duration,
    wait_for_crd: bool,
    cancel: &CancellationToken,
) -> Result<HookRun> {
    let mut object = object.clone();
    let object_ref = applier.resolve_ref(&mut object, wait_for_crd).await?;
    // Background deletion would let the old Job's pods linger; a hook
    // re-run must start clean.
    let propagation = PropagationPolicy::Foreground;
    // Hooks never take the prune's `allow_protected`: only the object's own opt-in.
    let guards = PruneOptions::default();
    let live = applier.get(&object_ref).await?;
    if let Some(live) = &live
        && !applier.owns(&object_ref, live)
    {
        return Err(Refusal::NotOwned {
            object: Box::new(object_ref),
            action: format!("run the {phase:?} hook (policies {:?}) over", hook.delete_policies),
            tracking: "it existed before the hook".into(),
        }
        .into());
    }
    if hook.delete_policies.contains(&DeletePolicy::BeforeHookCreation) && live.is_some() {
        applier.delete(&object_ref, &guards, "delete (hook BeforeHookCreation)", propagation.clone()).await?;
        wait_gone(applier, &object_ref, timeout, cancel).await?;
    }
    applier.apply(object, wait_for_crd).await?;
    let outcome = wait_finished(applier, &object_ref, timeout, cancel).await?;
    let policy = if outcome.is_ok() { DeletePolicy::HookSucceeded } else { DeletePolicy::HookFailed };
    if hook.delete_policies.contains(&policy) {
        applier.delete(&object_ref, &guards, &format!("delete (hook {policy:?})"), propagation).await?;
    }
    tracing::info!(hook = %object_ref, ?phase, ?outcome, "hook finished");
    Ok(HookRun { object: object_ref, phase, outcome })
}

async fn wait_gone(applier: &Applier, object: &ObjectRef, timeout: Duration, cancel: &CancellationToken) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while applier.get(object).await?.is_some() {
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                object: object.clone(),
                waiting_for: "the previous hook object to be deleted",
            });
        }
        pause(cancel, POLL, || format!("waiting for the previous hook object {object} to be deleted")).await?;
    }
    Ok(())
}

async fn wait_finished(
    applier: &Applier,
    object: &ObjectRef,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<std::result::Result<(), String>> {
    if applier.options().dry_run {
        return Ok(Ok(()));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let live = applier.get(object).await?;
        let Some(live) = live else { return Ok(Err("the hook object disappeared".into())) };
        if let Some(outcome) = finished(&live) {
            return Ok(outcome);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Err(format!("did not finish within {timeout:?}")));
        }
        pause(cancel, POLL, || format!("waiting for hook {object}")).await?;
    }
}

/// `Some(outcome)` once a hook object finished.
fn finished(live: &Value) -> Option<std::result::Result<(), String>> {
    let condition = |type_: &str| {
        live.pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_ && c["status"] == "True")
            .cloned()
    };
    let message = |c: Value| c.get("message").and_then(Value::as_str).unwrap_or("failed").to_owned();
    match live.get("kind").and_then(Value::as_str) {
        Some("Job") => match (condition("Complete"), condition("Failed")) {
            (_, Some(failed)) => Some(Err(message(failed))),
            (Some(_), None) => Some(Ok(())),
            (None, None) => None,
        },
        Some("Pod") => match live.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Some(Ok(())),
            Some("Failed") => {
                Some(Err(live.pointer("/status/message").and_then(Value::as_str).unwrap_or("pod failed").to_owned()))
            }
            _ => None,
        },
        _ => Some(Ok(())),
    }
}

#[cfg(test)]
mod tests {
    use super::finished;
    use serde_json::json;

    #[test]
    fn jobs_and_pods_finish_by_status_others_at_once() {
        let job = |status| json!({"kind": "Job", "status": status});
        assert_eq!(finished(&job(json!({"active": 1}))), None);
        assert_eq!(finished(&job(json!({"conditions": [{"type": "Complete", "status": "True"}]}))), Some(Ok(())));
        let failed =
            job(json!({"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}));
        assert_eq!(finished(&failed), Some(Err("BackoffLimitExceeded".into())));
        assert_eq!(finished(&json!({"kind": "Pod", "status": {"phase": "Running"}})), None);
        assert_eq!(finished(&json!({"kind": "Pod", "status": {"phase": "Succeeded"}})), Some(Ok(())));
        assert_eq!(finished(&json!({"kind": "ConfigMap"})), Some(Ok(())));
    }
}
