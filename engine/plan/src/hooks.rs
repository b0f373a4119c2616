//! Hooks: objects that run at a phase of the sync instead of being synced.
//!
//! Three annotation families are read, first match wins: Capstan's
//! (`capstan.dev/hook`), Argo CD's (`argocd.argoproj.io/hook`, same values)
//! and Helm's (`helm.sh/hook`: `pre-install`/`pre-upgrade` run as PreSync,
//! `post-install`/`post-upgrade` as PostSync; Helm's delete, rollback and
//! test hooks have no sync phase and are skipped, as Argo CD does).

use capstan_types::{HOOK_ANNOTATIONS, Object};

use crate::{Error, Result};

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookPhase {
    /// Before anything is applied; a failure stops the sync.
    PreSync,
    /// With the sync, after the regular objects of its wave.
    Sync,
    /// After every wave applied and the app is synced.
    PostSync,
    /// Only when the sync failed.
    SyncFail,
    /// Never applied (Argo's `Skip`, Helm's non-sync hooks).
    Skip,
}

/// When a hook object is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePolicy {
    /// Delete the previous run's object before creating the hook (the default).
    BeforeHookCreation,
    /// Delete after it succeeded.
    HookSucceeded,
    /// Delete after it failed.
    HookFailed,
}

/// The hook reading of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The phases it runs in (Argo allows a comma-separated list).
    pub phases: Vec<HookPhase>,
    /// Its delete policies; [`DeletePolicy::BeforeHookCreation`] if none is set.
    pub delete_policies: Vec<DeletePolicy>,
}

const POLICY_KEYS: [&str; 3] =
    ["capstan.dev/hook-delete-policy", "argocd.argoproj.io/hook-delete-policy", "helm.sh/hook-delete-policy"];

/// The hook an object is, or `None` for a regular object.
pub fn hook_of(object: &Object) -> Result<Option<Hook>> {
    let Some((key, value)) = HOOK_ANNOTATIONS.iter().find_map(|k| object.annotation(k).map(|v| (*k, v))) else {
        return Ok(None);
    };
    let bad =
        || Error::HookAnnotation { object: Box::new(object.object_ref()), annotation: key, value: value.to_owned() };
    let mut phases = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let phase = match part {
            "PreSync" | "pre-install" | "pre-upgrade" => HookPhase::PreSync,
            "Sync" => HookPhase::Sync,
            "PostSync" | "post-install" | "post-upgrade" => HookPhase::PostSync,
            "SyncFail" => HookPhase::SyncFail,
            "Skip" | "pre-delete" | "post-delete" | "pre-rollback" | "post-rollback" | "test" | "test-success" => {
                HookPhase::Skip
            }
            _ => return Err(bad()),
        };
        if !phases.contains(&phase) {
            phases.push(phase);
        }
    }
    if phases.is_empty() {
        return Err(bad());
    }
    Ok(Some(Hook { phases, delete_policies: delete_policies(object)? }))
}

fn delete_policies(object: &Object) -> Result<Vec<DeletePolicy>> {
    let Some((key, value)) = POLICY_KEYS.iter().find_map(|k| object.annotation(k).map(|v| (*k, v))) else {
        return Ok(vec![DeletePolicy::BeforeHookCreation]);
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| match part {
            "BeforeHookCreation" | "before-hook-creation" => Ok(DeletePolicy::BeforeHookCreation),
            "HookSucceeded" | "hook-succeeded" => Ok(DeletePolicy::HookSucceeded),
            "HookFailed" | "hook-failed" => Ok(DeletePolicy::HookFailed),
            _ => Err(Error::HookAnnotation {
                object: Box::new(object.object_ref()),
                annotation: key,
                value: value.to_owned(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn annotated(annotations: serde_json::Value) -> Object {
        Object::new(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "annotations": annotations}})).unwrap()
    }

    #[test]
    fn reads_capstan_argo_and_helm_annotations() {
        let capstan = hook_of(&annotated(json!({"capstan.dev/hook": "PreSync"}))).unwrap().unwrap();
        assert_eq!(
            capstan,
            Hook { phases: vec![HookPhase::PreSync], delete_policies: vec![DeletePolicy::BeforeHookCreation] }
        );
        let argo = annotated(
            json!({"argocd.argoproj.io/hook": "PostSync, SyncFail", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}),
        );
        let argo = hook_of(&argo).unwrap().unwrap();
        assert_eq!(
            (argo.phases, argo.delete_policies),
            (vec![HookPhase::PostSync, HookPhase::SyncFail], vec![DeletePolicy::HookSucceeded])
        );
        let helm = annotated(
            json!({"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-delete-policy": "hook-failed,before-hook-creation"}),
        );
        let helm = hook_of(&helm).unwrap().unwrap();
        assert_eq!(
            (helm.phases, helm.delete_policies),
            (vec![HookPhase::PreSync], vec![DeletePolicy::HookFailed, DeletePolicy::BeforeHookCreation])
        );
        assert_eq!(hook_of(&annotated(json!({"helm.sh/hook": "test"}))).unwrap().unwrap().phases, [HookPhase::Skip]);
        assert_eq!(hook_of(&annotated(json!({}))).unwrap(), None);
    }

    #[test]
    fn unknown_values_name_the_object() {
        let err = hook_of(&annotated(json!({"capstan.dev/hook": "Whenever"}))).unwrap_err();
        assert_eq!(err.to_string(), "failed to read the hook annotation capstan.dev/hook=\"Whenever\" of Job/migrate");
        let err = hook_of(&annotated(json!({"capstan.dev/hook": "Sync", "helm.sh/hook-delete-policy": "never"})))
            .unwrap_err();
        assert!(err.to_string().contains("helm.sh/hook-delete-policy"), "{err}");
    }
}
