//! Built-in health rules for the core kinds, modelled on Argo CD's and
//! kubectl's rollout checks.

use serde_json::Value;

use crate::{Assessment, Health, condition, condition_message, generation_pending};

/// The rule for `group`/`kind`, or `None` to fall back to kstatus.
pub(crate) fn assess(group: &str, kind: &str, object: &Value) -> Option<Assessment> {
    Some(match (group, kind) {
        ("apps", "Deployment") => deployment(object),
        ("apps", "StatefulSet") => stateful_set(object),
        ("apps", "DaemonSet") => daemon_set(object),
        ("apps", "ReplicaSet") => replica_set(object),
        ("batch", "Job") => job(object),
        ("", "Pod") => pod(object),
        ("", "PersistentVolumeClaim") => pvc(object),
        ("", "Service") => service(object),
        ("networking.k8s.io" | "extensions", "Ingress") => load_balanced(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(object),
        ("apiregistration.k8s.io", "APIService") => api_service(object),
        _ => return None,
    })
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn progressing(message: String) -> Assessment {
    Assessment::new(Health::Progressing, message)
}

/// A workload controller has not reported on the current spec yet.
fn unobserved(object: &Value) -> Option<Assessment> {
    if object.pointer("/status/observedGeneration").is_none() {
        return Some(progressing("waiting for the controller to report status".into()));
    }
    generation_pending(object)
}

fn deployment(d: &Value) -> Assessment {
    if d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return progressing("rollout is paused".into());
    }
    if let Some(pending) = unobserved(d) {
        return pending;
    }
    if condition(d, "Progressing") == Some("False") {
        return Assessment::new(Health::Degraded, condition_message(d, "Progressing"));
    }
    let want = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let (updated, total, available) =
        (int(d, "/status/updatedReplicas"), int(d, "/status/replicas"), int(d, "/status/availableReplicas"));
    if updated < want {
        progressing(format!("{updated} of {want} replicas updated"))
    } else if total > updated {
        progressing(format!("{} old replicas pending termination", total - updated))
    } else if available < updated {
        progressing(format!("{available} of {updated} updated replicas available"))
    } else {
        Assessment::healthy()
    }
}

fn stateful_set(s: &Value) -> Assessment {
    if let Some(pending) = unobserved(s) {
        return pending;
    }
    let want = s.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let ready = int(s, "/status/readyReplicas");
    if ready < want {
        return progressing(format!("{ready} of {want} replicas ready"));
    }
    if text(s, "/spec/updateStrategy/type") != "OnDelete"
        && text(s, "/status/updateRevision") != text(s, "/status/currentRevision")
    {
        return progressing(format!("{} of {want} replicas updated", int(s, "/status/updatedReplicas")));
    }
    Assessment::healthy()
}

fn daemon_set(d: &Value) -> Assessment {
    if let Some(pending) = unobserved(d) {
        return pending;
    }
    let want = int(d, "/status/desiredNumberScheduled");
    let (updated, available) = (int(d, "/status/updatedNumberScheduled"), int(d, "/status/numberAvailable"));
    if updated < want {
        progressing(format!("{updated} of {want} pods updated"))
    } else if available < want {
        progressing(format!("{available} of {want} pods available"))
    } else {
        Assessment::healthy()
    }
}

fn replica_set(r: &Value) -> Assessment {
    if let Some(pending) = unobserved(r) {
        return pending;
    }
    if condition(r, "ReplicaFailure") == Some("True") {
        return Assessment::new(Health::Degraded, condition_message(r, "ReplicaFailure"));
    }
    let want = r.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let available = int(r, "/status/availableReplicas");
    if available < want {
        progressing(format!("{available} of {want} replicas available"))
    } else {
        Assessment::healthy()
    }
}

fn job(j: &Value) -> Assessment {
    if condition(j, "Failed") == Some("True") {
        Assessment::new(Health::Degraded, condition_message(j, "Failed"))
    } else if condition(j, "Complete") == Some("True") {
        Assessment::healthy()
    } else if j.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        progressing("suspended".into())
    } else {
        progressing(format!("{} active, {} succeeded", int(j, "/status/active"), int(j, "/status/succeeded")))
    }
}

fn pod(p: &Value) -> Assessment {
    let statuses = p.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten();
    for status in statuses {
        let reason = text(status, "/state/waiting/reason");
        if matches!(
            reason,
            "CrashLoopBackOff"
                | "ImagePullBackOff"
                | "ErrImagePull"
                | "CreateContainerConfigError"
                | "InvalidImageName"
        ) {
            return Assessment::new(Health::Degraded, format!("container {}: {reason}", text(status, "/name")));
        }
    }
    match text(p, "/status/phase") {
        "Succeeded" => Assessment::healthy(),
        "Failed" => Assessment::new(Health::Degraded, text(p, "/status/message").to_owned()),
        "Running" if condition(p, "Ready") == Some("True") => Assessment::healthy(),
        "Running" => progressing("running, not ready".into()),
        "Unknown" => Assessment::new(Health::Unknown, "pod phase Unknown"),
        _ => progressing("pending".into()),
    }
}

fn pvc(p: &Value) -> Assessment {
    match text(p, "/status/phase") {
        "Bound" => Assessment::healthy(),
        "Lost" => Assessment::new(Health::Degraded, "claim lost its volume"),
        _ => progressing("waiting for the claim to bind".into()),
    }
}

fn service(s: &Value) -> Assessment {
    if text(s, "/spec/type") == "LoadBalancer" { load_balanced(s) } else { Assessment::healthy() }
}

fn load_balanced(o: &Value) -> Assessment {
    let assigned = o.pointer("/status/loadBalancer/ingress").and_then(Value::as_array).is_some_and(|i| !i.is_empty());
    if assigned { Assessment::healthy() } else { progressing("waiting for a load balancer address".into()) }
}

fn crd(c: &Value) -> Assessment {
    if condition(c, "NamesAccepted") == Some("False") {
        Assessment::new(Health::Degraded, condition_message(c, "NamesAccepted"))
    } else if condition(c, "Established") == Some("True") {
        Assessment::healthy()
    } else {
        progressing("waiting to be Established".into())
    }
}

fn api_service(a: &Value) -> Assessment {
    match condition(a, "Available") {
        Some("True") => Assessment::healthy(),
        Some("False") => Assessment::new(Health::Degraded, condition_message(a, "Available")),
        _ => progressing("waiting to be Available".into()),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Health, assess};
    use serde_json::{Value, json};

    fn health(object: Value) -> Health {
        assess(Some(&object)).health
    }

    fn with_status(api_version: &str, kind: &str, spec: Value, status: Value) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn deployment_rollout() {
        let d = |status: Value| health(with_status("apps/v1", "Deployment", json!({"replicas": 2}), status));
        assert_eq!(d(json!({})), Health::Progressing, "no controller report yet");
        assert_eq!(
            d(json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2})),
            Health::Progressing
        );
        assert_eq!(
            d(json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2})),
            Health::Healthy
        );
        let stuck = json!({"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
        assert_eq!(d(stuck), Health::Degraded);
    }

    #[test]
    fn workloads() {
        let sts = |status: Value| health(with_status("apps/v1", "StatefulSet", json!({"replicas": 1}), status));
        assert_eq!(
            sts(json!({"observedGeneration": 1, "readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"})),
            Health::Progressing
        );
        assert_eq!(
            sts(json!({"observedGeneration": 1, "readyReplicas": 1, "currentRevision": "b", "updateRevision": "b"})),
            Health::Healthy
        );
        let ds = json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2});
        assert_eq!(health(with_status("apps/v1", "DaemonSet", json!({}), ds)), Health::Progressing);
        let rs = json!({"observedGeneration": 1, "conditions": [{"type": "ReplicaFailure", "status": "True", "message": "quota"}]});
        assert_eq!(health(with_status("apps/v1", "ReplicaSet", json!({}), rs)), Health::Degraded);
        let job = |c: &str| {
            health(with_status("batch/v1", "Job", json!({}), json!({"conditions": [{"type": c, "status": "True"}]})))
        };
        assert_eq!((job("Complete"), job("Failed")), (Health::Healthy, Health::Degraded));
        assert_eq!(health(with_status("batch/v1", "Job", json!({}), json!({"active": 1}))), Health::Progressing);
    }

    #[test]
    fn pods_claims_and_endpoints() {
        let crash = json!({"phase": "Running", "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
        assert_eq!(
            assess(Some(&with_status("v1", "Pod", json!({}), crash))).message,
            "container app: CrashLoopBackOff"
        );
        let ready = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(health(with_status("v1", "Pod", json!({}), ready)), Health::Healthy);
        assert_eq!(
            health(with_status("v1", "PersistentVolumeClaim", json!({}), json!({"phase": "Pending"}))),
            Health::Progressing
        );
        assert_eq!(
            health(with_status("v1", "PersistentVolumeClaim", json!({}), json!({"phase": "Bound"}))),
            Health::Healthy
        );
        assert_eq!(health(with_status("v1", "Service", json!({"type": "ClusterIP"}), json!({}))), Health::Healthy);
        assert_eq!(
            health(with_status("v1", "Service", json!({"type": "LoadBalancer"}), json!({}))),
            Health::Progressing
        );
        let lb = json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}});
        assert_eq!(health(with_status("networking.k8s.io/v1", "Ingress", json!({}), lb)), Health::Healthy);
    }

    #[test]
    fn api_extensions() {
        let cond = |t: &str, s: &str| json!({"conditions": [{"type": t, "status": s}]});
        assert_eq!(
            health(with_status(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                json!({}),
                cond("Established", "True")
            )),
            Health::Healthy
        );
        assert_eq!(
            health(with_status("apiextensions.k8s.io/v1", "CustomResourceDefinition", json!({}), json!({}))),
            Health::Progressing
        );
        assert_eq!(
            health(with_status("apiregistration.k8s.io/v1", "APIService", json!({}), cond("Available", "False"))),
            Health::Degraded
        );
    }
}
