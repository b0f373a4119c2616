//! [`Plan`]: rendered objects split into hook phases and ordered waves.

use std::hash::BuildHasher;

use capstan_types::{MAX_GENERATE_NAME_PREFIX, Object};

use crate::Result;
use crate::hooks::{Hook, HookPhase, hook_of};
use crate::order::{is_foundation, rank, wave};

/// One step of the sync phase: objects applied together, then the Sync
/// hooks of the same wave.
#[derive(Debug, Clone)]
pub struct Wave {
    /// The wave number; `None` for the foundation step (Namespaces and CRDs,
    /// applied before every wave).
    pub number: Option<i64>,
    /// Regular objects, in kind order.
    pub objects: Vec<Object>,
    /// `Sync` hooks of this wave, after the objects.
    pub hooks: Vec<(Object, Hook)>,
}

/// What a sync applies, in which order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Hooks run before anything else; a failure stops the sync.
    pub pre_sync: Vec<(Object, Hook)>,
    /// The sync phase, wave by wave.
    pub waves: Vec<Wave>,
    /// Hooks run after every wave succeeded.
    pub post_sync: Vec<(Object, Hook)>,
    /// Hooks run when the sync failed.
    pub sync_fail: Vec<(Object, Hook)>,
}

impl Plan {
    /// Sorts rendered objects into phases and waves. Fails on an unreadable
    /// hook or wave annotation, naming the object.
    pub fn new(objects: Vec<Object>) -> Result<Self> {
        Self::with_names(objects, random_suffix)
    }

    /// [`Plan::new`], naming each run of a hook that has only a
    /// `metadata.generateName` `PREFIX` + `suffix()` (each phase a hook
    /// runs in is a run of its own, created fresh, as with the API
    /// server's own generated names).
    pub fn with_names(objects: Vec<Object>, mut suffix: impl FnMut() -> String) -> Result<Self> {
        let mut plan = Plan::default();
        let mut regular: Vec<(Option<i64>, Object)> = Vec::new();
        let mut sync_hooks: Vec<(i64, Object, Hook)> = Vec::new();
        for object in objects {
            let number = wave(&object)?;
            let Some(hook) = hook_of(&object)? else {
                regular.push(((!is_foundation(&object)).then_some(number), object));
                continue;
            };
            for phase in hook.phases.clone() {
                let entry = (named(&object, &mut suffix), hook.clone());
                match phase {
                    HookPhase::PreSync => plan.pre_sync.push(entry),
                    HookPhase::Sync => sync_hooks.push((number, entry.0, entry.1)),
                    HookPhase::PostSync => plan.post_sync.push(entry),
                    HookPhase::SyncFail => plan.sync_fail.push(entry),
                    HookPhase::Skip => {}
                }
            }
        }
        for hooks in [&mut plan.pre_sync, &mut plan.post_sync, &mut plan.sync_fail] {
            // Hooks of one phase run in wave order, like Argo CD's.
            hooks.sort_by_key(|(o, _)| (wave(o).unwrap_or(0), rank(o)));
        }
        regular.sort_by_key(|(number, o)| (number.is_some(), *number, rank(o)));
        sync_hooks.sort_by_key(|(number, o, _)| (*number, rank(o)));
        plan.waves = group_waves(regular, sync_hooks);
        Ok(plan)
    }

    /// Every object the sync phase applies (hooks excluded), in order.
    pub fn sync_objects(&self) -> impl Iterator<Item = &Object> {
        self.waves.iter().flat_map(|w| &w.objects)
    }

    /// Every object a sync may apply: the sync phase's, then the hooks of
    /// every phase (what the bounds check before the first write).
    pub fn all_objects(&self) -> impl Iterator<Item = &Object> {
        let hooks = self.pre_sync.iter().chain(self.waves.iter().flat_map(|w| &w.hooks));
        self.sync_objects().chain(hooks.chain(&self.post_sync).chain(&self.sync_fail).map(|(object, _)| object))
    }
}

/// `object` with its generated name, if it has one to generate.
fn named(object: &Object, suffix: &mut impl FnMut() -> String) -> Object {
    let Some(prefix) = object.generate_name() else { return object.clone() };
    let cut = (0..=MAX_GENERATE_NAME_PREFIX.min(prefix.len())).rev().find(|&i| prefix.is_char_boundary(i)).unwrap_or(0);
    let mut named = object.clone();
    named.set_name(&format!("{}{}", &prefix[..cut], suffix()));
    named
}

/// Five random characters from the API server's alphabet for generated
/// names (no vowels, no look-alikes). `RandomState` draws fresh random
/// keys per process and thread, so no random-number crate is needed.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bits = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    (0..5)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize];
            bits /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

fn group_waves(regular: Vec<(Option<i64>, Object)>, sync_hooks: Vec<(i64, Object, Hook)>) -> Vec<Wave> {
    let mut waves: Vec<Wave> = Vec::new();
    for (number, object) in regular {
        match waves.last_mut() {
            Some(last) if last.number == number => last.objects.push(object),
            _ => waves.push(Wave { number, objects: vec![object], hooks: Vec::new() }),
        }
    }
    for (number, object, hook) in sync_hooks {
        match waves.iter_mut().find(|w| w.number == Some(number)) {
            Some(w) => w.hooks.push((object, hook)),
            None => waves.push(Wave { number: Some(number), objects: Vec::new(), hooks: vec![(object, hook)] }),
        }
    }
    waves.sort_by_key(|w| (w.number.is_some(), w.number));
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str, annotations: serde_json::Value) -> Object {
        Object::new(json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "annotations": annotations}}))
            .unwrap()
    }

    fn names(objects: &[(Object, Hook)]) -> Vec<&str> {
        objects.iter().map(|(o, _)| o.name()).collect()
    }

    #[test]
    fn foundation_then_waves_then_hooks_by_phase() {
        let objects = vec![
            obj("Deployment", "late", json!({"capstan.dev/sync-wave": "2"})),
            obj("ConfigMap", "cm", json!({})),
            obj("Job", "migrate", json!({"argocd.argoproj.io/hook": "PreSync"})),
            obj("Namespace", "ns", json!({"capstan.dev/sync-wave": "5"})),
            obj("Service", "early", json!({"argocd.argoproj.io/sync-wave": "-1"})),
            obj("Job", "smoke", json!({"capstan.dev/hook": "PostSync"})),
            obj("Job", "during", json!({"capstan.dev/hook": "Sync", "capstan.dev/sync-wave": "2"})),
            obj("Job", "alert", json!({"capstan.dev/hook": "SyncFail"})),
            obj("Pod", "skipped", json!({"helm.sh/hook": "test"})),
            obj("CustomResourceDefinition", "crd", json!({})),
        ];
        let plan = Plan::new(objects).unwrap();
        let waves: Vec<_> = plan
            .waves
            .iter()
            .map(|w| (w.number, w.objects.iter().map(Object::name).collect::<Vec<_>>(), names(&w.hooks)))
            .collect();
        assert_eq!(
            waves,
            [
                (None, vec!["ns", "crd"], vec![]),
                (Some(-1), vec!["early"], vec![]),
                (Some(0), vec!["cm"], vec![]),
                (Some(2), vec!["late"], vec!["during"]),
            ]
        );
        assert_eq!(
            (names(&plan.pre_sync), names(&plan.post_sync), names(&plan.sync_fail)),
            (vec!["migrate"], vec!["smoke"], vec!["alert"])
        );
        assert_eq!(plan.sync_objects().count(), 5);
        assert_eq!(plan.all_objects().count(), 9, "every hook that runs, once per phase");
    }

    #[test]
    fn hooks_with_a_generated_name_are_named_once_per_run() {
        let hook = Object::new(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {
            "generateName": "smoke-", "annotations": {"argocd.argoproj.io/hook": "PostSync,SyncFail"}}}))
        .unwrap();
        let mut n = 0;
        let plan = Plan::with_names(vec![hook.clone()], || {
            n += 1;
            format!("r{n}")
        })
        .unwrap();
        assert_eq!((names(&plan.post_sync), names(&plan.sync_fail)), (vec!["smoke-r1"], vec!["smoke-r2"]));
        let random = Plan::new(vec![hook]).unwrap();
        let name = random.post_sync[0].0.name();
        assert!(name.starts_with("smoke-") && name.len() == "smoke-".len() + 5, "{name}");
        let long = "x".repeat(70);
        let long = Object::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "generateName": long, "annotations": {"capstan.dev/hook": "PreSync"}}}))
        .unwrap();
        assert_eq!(Plan::new(vec![long]).unwrap().pre_sync[0].0.name().len(), 63, "the API server's limit");
    }

    #[test]
    fn bad_annotation_fails_the_plan() {
        let err = Plan::new(vec![obj("ConfigMap", "cm", json!({"capstan.dev/sync-wave": "x"}))]).unwrap_err();
        assert!(err.to_string().contains("ConfigMap/cm"), "{err}");
    }
}
