//! Output order: kustomize's legacy kind order (the default, as `kubectl
//! kustomize` prints) or input order (`sortOptions.order: fifo`).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::resource::Resource;

const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
}

/// Sorts objects per `sortOptions` (legacy order when absent).
pub fn sort(res: &mut Vec<Resource>, opts: Option<&Value>, file: &str) -> Result<()> {
    let order = match opts {
        None => "legacy",
        Some(o) => o.get("order").and_then(Value::as_str).unwrap_or(""),
    };
    let legacy = opts.and_then(|o| o.get("legacySortOptions"));
    match order {
        "fifo" => {
            if legacy.is_some() {
                return Err(Error::field(
                    file,
                    "sortOptions",
                    "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                ));
            }
            Ok(())
        }
        "legacy" => {
            let first = strings(legacy.and_then(|l| l.get("orderFirst")))
                .unwrap_or_else(|| ORDER_FIRST.iter().map(|s| s.to_string()).collect());
            let last = strings(legacy.and_then(|l| l.get("orderLast")))
                .unwrap_or_else(|| ORDER_LAST.iter().map(|s| s.to_string()).collect());
            let rank = |k: &str| -> i64 {
                if let Some(i) = first.iter().position(|x| x == k) {
                    i as i64 - first.len() as i64
                } else if let Some(i) = last.iter().position(|x| x == k) {
                    i as i64 + 1
                } else {
                    0
                }
            };
            let mut keyed: Vec<(i64, String, String, usize)> = res
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let id = r.id();
                    let ns = if id.namespace.is_empty() { "~X".to_string() } else { id.namespace.clone() };
                    (rank(&id.gvk.kind), id.gvk.sort_string(), format!("{ns}|{}", id.name), i)
                })
                .collect();
            keyed.sort();
            let mut taken: Vec<Option<Resource>> = res.drain(..).map(Some).collect();
            res.extend(keyed.into_iter().filter_map(|k| taken[k.3].take()));
            Ok(())
        }
        other => Err(Error::field(
            file,
            "sortOptions",
            format!("the field 'sortOptions.order' must be one of [fifo, legacy], not '{other}'"),
        )),
    }
}
