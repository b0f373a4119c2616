//! Watches through `Api::watch` and `kube::runtime::watcher`.

use capstan_apiserver::{ServerConfig, TestApiServer, test_target, unique_name};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::runtime::{watcher, watcher::Event};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::time::Duration;

async fn namespace(client: &Client) -> String {
    let name = unique_name("watch");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    Api::<Namespace>::all(client.clone()).patch(&name, &PatchParams::apply("test"), &Patch::Apply(&ns)).await.unwrap();
    name
}

fn cm(name: &str, value: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "w"}}, "data": {"v": value}})
}

async fn next<S: futures::Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("timed out waiting for a watch event")
        .expect("the stream ended")
}

#[tokio::test]
async fn runtime_watcher_sees_init_add_modify_delete() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let pp = PatchParams::apply("test");
    api.patch("before", &pp, &Patch::Apply(cm("before", "1"))).await.unwrap();

    let mut stream = watcher(api.clone(), watcher::Config::default().labels("app=w")).boxed();
    assert!(matches!(next(&mut stream).await.unwrap(), Event::Init));
    match next(&mut stream).await.unwrap() {
        Event::InitApply(o) => assert_eq!(o.name_any(), "before"),
        other => panic!("expected InitApply, got {other:?}"),
    }
    assert!(matches!(next(&mut stream).await.unwrap(), Event::InitDone));

    api.patch("after", &pp, &Patch::Apply(cm("after", "1"))).await.unwrap();
    api.patch("after", &pp, &Patch::Apply(cm("after", "2"))).await.unwrap();
    api.delete("after", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match next(&mut stream).await.unwrap() {
            Event::Apply(o) => seen.push(format!("apply {} {}", o.name_any(), o.data.unwrap()["v"])),
            Event::Delete(o) => seen.push(format!("delete {}", o.name_any())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["apply after 1", "apply after 2", "delete after"]);
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let pp = PatchParams::apply("test");
    let first = api.patch("a", &pp, &Patch::Apply(cm("a", "1"))).await.unwrap();
    api.patch("a", &pp, &Patch::Apply(cm("a", "2"))).await.unwrap();
    let rv = first.resource_version().unwrap();
    // Labelled: a real cluster adds kube-root-ca.crt to every new namespace,
    // and its ADDED may come after `rv` (two CI failures were that event).
    let mut stream = api.watch(&WatchParams::default().labels("app=w"), &rv).await.unwrap().boxed();
    match next(&mut stream).await.unwrap() {
        WatchEvent::Modified(o) => assert_eq!(o.data.unwrap()["v"], "2"),
        other => panic!("expected the missed modification, got {other:?}"),
    }
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}

#[tokio::test]
async fn compacted_history_gives_410_and_bookmarks_flow() {
    let config = ServerConfig { bookmark_interval: Duration::from_millis(50), ..ServerConfig::default() };
    let server = TestApiServer::start_with(config).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let first = api.patch("a", &PatchParams::apply("t"), &Patch::Apply(cm("a", "1"))).await.unwrap();
    api.patch("a", &PatchParams::apply("t"), &Patch::Apply(cm("a", "2"))).await.unwrap();
    server.compact();

    let rv = first.resource_version().unwrap();
    let mut stream = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    match next(&mut stream).await.unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected 410 Gone, got {other:?}"),
    }

    let current = server.resource_version().to_string();
    let mut stream = api.watch(&WatchParams::default(), &current).await.unwrap().boxed();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Bookmark(_)));

    // A runtime watcher starts with a list, so compaction does not hurt it.
    let events: Vec<_> = watcher(api.clone(), watcher::Config::default()).take(3).try_collect().await.unwrap();
    assert!(matches!(events[1], Event::InitApply(_)));
    server.shutdown().await;
}

#[tokio::test]
async fn streaming_list_initial_events() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    api.patch("s", &PatchParams::apply("t"), &Patch::Apply(cm("s", "1"))).await.unwrap();
    let config = watcher::Config::default().streaming_lists().labels("app=w");
    let events: Vec<_> = watcher(api, config).take(3).try_collect().await.unwrap();
    assert!(matches!(&events[1], Event::InitApply(o) if o.name_any() == "s"), "{events:?}");
    assert!(matches!(events[2], Event::InitDone));
}

#[tokio::test]
async fn leaving_a_label_selection_is_a_delete_for_that_watch() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let pp = PatchParams::apply("test");
    api.patch("m", &pp, &Patch::Apply(cm("m", "1"))).await.unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default().labels("app=w")).boxed();
    for _ in 0..3 {
        next(&mut stream).await.unwrap(); // Init, InitApply, InitDone
    }
    let relabelled = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", "labels": {"app": "other"}}, "data": {"v": "1"}});
    api.patch("m", &pp, &Patch::Apply(&relabelled)).await.unwrap();
    match next(&mut stream).await.unwrap() {
        Event::Delete(o) => assert_eq!(o.name_any(), "m"),
        other => panic!("expected a delete for the watch on app=w, got {other:?}"),
    }
    api.patch("m", &pp, &Patch::Apply(cm("m", "1"))).await.unwrap();
    assert!(matches!(next(&mut stream).await.unwrap(), Event::Apply(o) if o.name_any() == "m"));
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}

#[tokio::test]
async fn metadata_only_get_list_and_watch() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    api.patch("meta", &PatchParams::apply("t"), &Patch::Apply(cm("meta", "1"))).await.unwrap();
    let partial = api.get_metadata("meta").await.unwrap();
    assert_eq!(partial.name_any(), "meta");
    assert_eq!(partial.types.as_ref().map(|t| t.kind.as_str()), Some("PartialObjectMetadata"));
    // Labelled: a real cluster adds kube-root-ca.crt to every namespace.
    let listed = api.list_metadata(&kube::api::ListParams::default().labels("app=w")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let meta_api: Api<kube::core::PartialObjectMeta<ConfigMap>> = Api::namespaced(target.client.clone(), &ns);
    let mut stream = watcher(meta_api, watcher::Config::default().labels("app=w")).boxed();
    for _ in 0..3 {
        next(&mut stream).await.unwrap();
    }
    api.delete("meta", &DeleteParams::default()).await.unwrap();
    assert!(matches!(next(&mut stream).await.unwrap(), Event::Delete(o) if o.name_any() == "meta"));
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}
