//! Deletion: namespace cascade, finalizers, propagation policies, and
//! ownerReference garbage collection. Outcomes are eventually consistent,
//! as on a real cluster, so the tests poll.

use capstan_apiserver::{test_target, unique_name};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::time::Duration;

async fn namespace(client: &Client) -> String {
    let name = unique_name("del");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    Api::<Namespace>::all(client.clone()).patch(&name, &PatchParams::apply("test"), &Patch::Apply(&ns)).await.unwrap();
    name
}

async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for _ in 0..300 {
        if api.get_opt(name).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn cm(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    if let Some(meta) = extra.as_object() {
        for (k, x) in meta {
            v["metadata"][k] = x.clone();
        }
    }
    v
}

#[tokio::test]
async fn deleting_a_namespace_terminates_then_removes_it_and_its_objects() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    cms.patch("a", &PatchParams::apply("t"), &Patch::Apply(cm("a", json!({})))).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(target.client.clone());
    let deleted = namespaces.delete(&ns, &DeleteParams::default()).await.unwrap();
    let terminating = deleted.left().expect("the namespace is returned while it terminates");
    assert_eq!(terminating.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(gone(&namespaces, &ns).await, "namespace {ns} never went away");
    assert!(cms.get_opt("a").await.unwrap().is_none());
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let held = cm("held", json!({"finalizers": ["capstan.dev/test"]}));
    cms.patch("held", &PatchParams::apply("t"), &Patch::Apply(&held)).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());

    let release = json!({"metadata": {"finalizers": null}});
    cms.patch("held", &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();
    assert!(gone(&cms, "held").await);
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}

#[tokio::test]
async fn owner_references_are_garbage_collected_or_orphaned() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &ns);
    let pp = PatchParams::apply("t");
    let owned_by = |owner: &ConfigMap| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dep", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": owner.name_any(), "uid": owner.uid().unwrap()}]}})
    };

    let owner = cms.patch("owner", &pp, &Patch::Apply(cm("owner", json!({})))).await.unwrap();
    secrets.patch("dep", &pp, &Patch::Apply(owned_by(&owner))).await.unwrap();
    cms.delete("owner", &DeleteParams::background()).await.unwrap();
    assert!(gone(&secrets, "dep").await, "background deletion collects dependents");

    let owner = cms.patch("owner", &pp, &Patch::Apply(cm("owner", json!({})))).await.unwrap();
    secrets.patch("dep", &pp, &Patch::Apply(owned_by(&owner))).await.unwrap();
    cms.delete("owner", &DeleteParams::orphan()).await.unwrap();
    assert!(gone(&cms, "owner").await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kept = secrets.get("dep").await.unwrap();
    assert!(kept.owner_references().is_empty(), "orphaned dependents lose the reference");

    let owner = cms.patch("owner2", &pp, &Patch::Apply(cm("owner2", json!({})))).await.unwrap();
    secrets
        .patch(
            "dep2",
            &pp,
            &Patch::Apply({
                let mut d = owned_by(&owner);
                d["metadata"]["name"] = json!("dep2");
                d
            }),
        )
        .await
        .unwrap();
    cms.delete("owner2", &DeleteParams::foreground()).await.unwrap();
    assert!(gone(&cms, "owner2").await);
    assert!(secrets.get_opt("dep2").await.unwrap().is_none(), "foreground removes dependents first");
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}

#[tokio::test]
async fn delete_dry_run_and_collection() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let pp = PatchParams::apply("t");
    for name in ["x1", "x2", "y"] {
        let labels = json!({"labels": {"group": &name[..1]}});
        cms.patch(name, &pp, &Patch::Apply(cm(name, labels))).await.unwrap();
    }
    let dp = DeleteParams { dry_run: true, ..Default::default() };
    cms.delete("y", &dp).await.unwrap();
    assert!(cms.get_opt("y").await.unwrap().is_some());
    let lp = kube::api::ListParams::default().labels("group=x");
    cms.delete_collection(&DeleteParams::default(), &lp).await.unwrap();
    assert!(gone(&cms, "x1").await && gone(&cms, "x2").await);
    assert!(cms.get_opt("y").await.unwrap().is_some());
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}
