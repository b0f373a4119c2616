//! `spec.dependsOn`: an Application syncs only once each dependency is
//! Synced and Healthy at its current generation (Flux's `dependsOn`).
//!
//! The gate reads the dependencies (and theirs, to find cycles) with GETs
//! of Applications only. A blocked Application says `blocked on
//! NAMESPACE/NAME: reason` in its status and is woken when a dependency
//! is reconciled ([`Dependents`]), with a slow requeue as a fallback.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use capstan_types::{Application, ApplicationResource};
use kube::{Api, Client, ResourceExt};

/// Most Applications a cycle search reads before it gives up.
const MAX_WALK: usize = 256;

/// Whether an Application may sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Every dependency is ready (or there are none).
    Open,
    /// `blocked on NAMESPACE/NAME: reason`; the dependency's key.
    Blocked {
        /// The dependency, `namespace/name`.
        on: String,
        /// The sentence for the status.
        message: String,
    },
    /// The dependencies lead back to the Application: the cycle, `a → b → a`.
    Cycle(String),
}

/// `namespace/name` of each dependency of `app`.
pub fn keys(app: &Application) -> Vec<String> {
    let own = app.metadata.namespace.as_deref().unwrap_or("default");
    app.spec.depends_on.iter().map(|d| format!("{}/{}", d.namespace.as_deref().unwrap_or(own), d.name)).collect()
}

/// The gate of `app` (`key` is its `namespace/name`).
pub async fn gate(client: &Client, key: &str, app: &Application) -> Result<Gate, kube::Error> {
    if app.spec.depends_on.is_empty() {
        return Ok(Gate::Open);
    }
    let mut cache = HashMap::new();
    if let Some(cycle) = find_cycle(client, key, app, &mut cache).await? {
        return Ok(Gate::Cycle(cycle));
    }
    for dependency in keys(app) {
        let reason = match fetch(client, &dependency, &mut cache).await? {
            None => "not found".to_owned(),
            Some(resource) => match not_ready(&resource) {
                Some(reason) => reason,
                None => continue,
            },
        };
        let message = format!("blocked on {dependency}: {reason}");
        return Ok(Gate::Blocked { on: dependency, message });
    }
    Ok(Gate::Open)
}

/// Why a dependency is not ready, or `None` when it is Synced and Healthy
/// at its current generation.
pub fn not_ready(resource: &ApplicationResource) -> Option<String> {
    let generation = resource.metadata.generation;
    let Some(status) = &resource.status else { return Some("not reconciled yet".to_owned()) };
    if status.observed_generation != generation {
        return Some(format!("generation {} not reconciled yet", generation.unwrap_or_default()));
    }
    for type_ in ["Synced", "Healthy"] {
        if !status.is_true(type_, generation) {
            let detail = status
                .condition(type_)
                .map(|c| if c.message.is_empty() { c.reason.clone() } else { format!("{}: {}", c.reason, c.message) });
            return Some(format!("not {type_} ({})", detail.unwrap_or_else(|| "no condition yet".to_owned())));
        }
    }
    None
}

/// A path from `key` back to itself through `dependsOn`, if any.
async fn find_cycle(
    client: &Client,
    key: &str,
    app: &Application,
    cache: &mut HashMap<String, Option<ApplicationResource>>,
) -> Result<Option<String>, kube::Error> {
    // Depth-first, iterative: (node, path to it).
    let mut stack: Vec<(String, Vec<String>)> = keys(app).into_iter().map(|d| (d, vec![key.to_owned()])).collect();
    let mut seen = HashSet::new();
    while let Some((node, mut path)) = stack.pop() {
        path.push(node.clone());
        if node == key {
            return Ok(Some(path.join(" → ")));
        }
        if !seen.insert(node.clone()) || seen.len() > MAX_WALK {
            continue;
        }
        let Some(resource) = fetch(client, &node, cache).await? else { continue };
        let Ok(next) = resource.to_application() else { continue };
        stack.extend(keys(&next).into_iter().map(|d| (d, path.clone())));
    }
    Ok(None)
}

async fn fetch(
    client: &Client,
    key: &str,
    cache: &mut HashMap<String, Option<ApplicationResource>>,
) -> Result<Option<ApplicationResource>, kube::Error> {
    if let Some(found) = cache.get(key) {
        return Ok(found.clone());
    }
    let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
    let found = Api::<ApplicationResource>::namespaced(client.clone(), namespace).get_opt(name).await?;
    cache.insert(key.to_owned(), found.clone());
    Ok(found)
}

/// Who waits on whom: a blocked Application registers here, and is woken
/// when the Application it waits on is reconciled.
#[derive(Default)]
pub struct Dependents(Mutex<HashMap<String, HashSet<String>>>);

impl Dependents {
    /// `dependent` waits on `dependency`.
    pub fn wait(&self, dependency: &str, dependent: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(dependency.to_owned()).or_default().insert(dependent.to_owned());
    }

    /// The Applications waiting on `dependency`, forgotten (they register
    /// again if still blocked).
    pub fn take(&self, dependency: &str) -> Vec<String> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(dependency).map(|set| set.into_iter().collect()).unwrap_or_default()
    }
}

/// `namespace/name` of an Application resource.
pub fn key_of(resource: &ApplicationResource) -> String {
    format!("{}/{}", resource.namespace().unwrap_or_default(), resource.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(generation: i64, status: &str) -> ApplicationResource {
        let text = format!(
            "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: db, namespace: a, generation: {generation}}}\nspec: {{source: {{repoURL: .}}}}\n{status}"
        );
        serde_yaml::from_str(&text).unwrap()
    }

    #[test]
    fn a_dependency_is_ready_only_synced_and_healthy_at_its_generation() {
        let ok = "status:\n  observedGeneration: 2\n  conditions:\n  - {type: Synced, status: 'True', reason: Synced, lastTransitionTime: t, observedGeneration: 2}\n  - {type: Healthy, status: 'True', reason: Healthy, lastTransitionTime: t, observedGeneration: 2}\n";
        assert_eq!(not_ready(&resource(2, ok)), None);
        assert_eq!(not_ready(&resource(3, ok)).unwrap(), "generation 3 not reconciled yet");
        assert_eq!(not_ready(&resource(2, "")).unwrap(), "not reconciled yet");
        let sick = ok.replace(
            "Healthy, status: 'True', reason: Healthy",
            "Healthy, status: 'False', reason: Progressing, message: 'Deployment web: 0/1 ready'",
        );
        assert_eq!(not_ready(&resource(2, &sick)).unwrap(), "not Healthy (Progressing: Deployment web: 0/1 ready)");
    }
}
