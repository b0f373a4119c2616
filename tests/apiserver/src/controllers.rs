//! Optional stand-ins for the controllers of a real cluster
//! ([`crate::ServerConfig::simulate_controllers`]): workloads report all
//! replicas ready at their current generation, Jobs complete, and
//! PersistentVolumeClaims bind. Off by default, so status stays exactly
//! what clients write; on, health checks and "wait until ready" loops
//! finish as they would on a healthy cluster.

use crate::fields::Schema;
use crate::managed::{self, Writer};
use crate::meta;
use crate::store::Store;
use serde_json::{Value, json};

/// The kinds simulated, by storage key.
pub(crate) const SIMULATED: &[&str] = &[
    "apps/deployments",
    "apps/statefulsets",
    "apps/daemonsets",
    "apps/replicasets",
    "batch/jobs",
    "/persistentvolumeclaims",
];

fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1)
}

fn condition(kind: &str, reason: &str, now: &str) -> Value {
    json!({"type": kind, "status": "True", "lastTransitionTime": now, "lastUpdateTime": now, "reason": reason,
           "message": format!("simulated by the capstan test API server ({reason})")})
}

/// The status a healthy controller would write, or None when the object
/// already has it.
fn desired_status(key: &str, obj: &Value, now: &str) -> Option<Value> {
    let status = obj.get("status").cloned().unwrap_or(Value::Null);
    let g = generation(obj);
    let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let observed = status.get("observedGeneration").and_then(Value::as_i64);
    let desired = match key {
        "apps/deployments" => json!({
            "observedGeneration": g, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [condition("Available", "MinimumReplicasAvailable", now),
                           condition("Progressing", "NewReplicaSetAvailable", now)],
        }),
        "apps/statefulsets" => json!({
            "observedGeneration": g, "replicas": replicas, "readyReplicas": replicas,
            "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
            "currentRevision": format!("rev-{g}"), "updateRevision": format!("rev-{g}"),
        }),
        "apps/daemonsets" => json!({
            "observedGeneration": g, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "numberReady": 1, "updatedNumberScheduled": 1, "numberAvailable": 1, "numberMisscheduled": 0,
        }),
        "apps/replicasets" => json!({
            "observedGeneration": g, "replicas": replicas, "fullyLabeledReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
        }),
        "batch/jobs" => {
            if status.get("completionTime").is_some() {
                return None;
            }
            json!({
                "startTime": now, "completionTime": now, "succeeded": 1, "ready": 0,
                "conditions": [condition("SuccessCriteriaMet", "CompletionsReached", now),
                               condition("Complete", "CompletionsReached", now)],
            })
        }
        "/persistentvolumeclaims" => {
            if status.get("phase").and_then(Value::as_str) == Some("Bound") {
                return None;
            }
            let mut s = json!({"phase": "Bound", "accessModes": obj.pointer("/spec/accessModes").cloned()
                .unwrap_or(json!(["ReadWriteOnce"]))});
            if let Some(req) = obj.pointer("/spec/resources/requests") {
                s["capacity"] = req.clone();
            }
            s
        }
        _ => return None,
    };
    if key != "batch/jobs" && key != "/persistentvolumeclaims" && observed == Some(g) {
        return None;
    }
    Some(desired)
}

/// One controller step; returns whether anything changed.
pub(crate) fn step(store: &mut Store) -> bool {
    let now = meta::now();
    for key in SIMULATED {
        let pending = store.list(key, None).into_iter().find_map(|obj| {
            if obj.pointer("/metadata/deletionTimestamp").is_some() {
                return None;
            }
            desired_status(key, obj, &now).map(|s| (obj.clone(), s))
        });
        if let Some((old, status)) = pending {
            let mut new = old.clone();
            new["status"] = status;
            let api_version = old.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
            let writer = Writer {
                manager: "kube-controller-manager",
                api_version: &api_version,
                subresource: Some("status"),
                has_status: true,
                schema: Schema::BUILTIN,
                now: &now,
            };
            managed::record_update(Some(&old), &mut new, &writer);
            store.put(key, new);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_become_available_once_per_generation() {
        let mut store = Store::open(None, 100).unwrap();
        store.put(
            "apps/deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "d", "namespace": "n", "generation": 2}, "spec": {"replicas": 3}}),
        );
        assert!(step(&mut store));
        assert!(!step(&mut store), "nothing left to do at this generation");
        let d = store.get("apps/deployments", "n", "d").unwrap();
        assert_eq!(d["status"]["observedGeneration"], 2);
        assert_eq!(d["status"]["readyReplicas"], 3);
        let entries = managed::read_entries(d);
        assert_eq!(entries[0].subresource.as_deref(), Some("status"));
    }

    #[test]
    fn jobs_complete_and_claims_bind() {
        let mut store = Store::open(None, 100).unwrap();
        store.put("batch/jobs", json!({"metadata": {"name": "j", "namespace": "n"}, "spec": {}}));
        store.put(
            "/persistentvolumeclaims",
            json!({"metadata": {"name": "p", "namespace": "n"},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
        );
        while step(&mut store) {}
        assert_eq!(store.get("batch/jobs", "n", "j").unwrap()["status"]["succeeded"], 1);
        let pvc = store.get("/persistentvolumeclaims", "n", "p").unwrap();
        assert_eq!(pvc["status"]["phase"], "Bound");
        assert_eq!(pvc["status"]["capacity"]["storage"], "1Gi");
    }
}
