//! Helpers of the suites that talk to a cluster ([`capstan_apiserver::test_target`]):
//! bounded polls, the Application CRD, throw-away namespaces, Jobs finished
//! as their controller would, free ports.

use std::net::SocketAddr;
use std::time::Duration;

use capstan_apiserver::unique_name;
use capstan_types::ApplicationResource;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt};

/// Polls `check` every 50 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Installs the Application CRD (server-side apply) and waits until it is served.
pub async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "applications.capstan.dev",
        &PatchParams::apply("capstan-test").force(),
        &Patch::Apply(ApplicationResource::crd()),
    )
    .await
    .expect("the CRD is accepted");
    let apps: Api<ApplicationResource> = Api::all(client.clone());
    eventually("the CRD to be served", Duration::from_secs(30), || async { apps.list(&Default::default()).await.ok() })
        .await;
}

/// Creates a namespace named `prefix` plus a unique suffix.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = unique_name(prefix);
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(ns).expect("a Namespace"))
        .await
        .expect("the namespace is created");
    name
}

/// Finishes Job `name` as its controller would, through the status
/// subresource (neither server runs its Pod: no kubelet). `status(start, now)`
/// gives the status to write; `start` is the Job's `startTime`, kept as it is
/// once set. A real job controller sets it at a moment of its own, and a real
/// API server refuses to change it on a running Job (`startTime cannot be
/// removed for unsuspended job`), so a refused write is read again and retried,
/// for at most 30 s.
pub async fn finish_job(jobs: &Api<Job>, name: &str, status: impl Fn(&str, &str) -> serde_json::Value) {
    let mut last_error = None;
    for _ in 0..600 {
        if let Ok(Some(live)) = jobs.get_opt(name).await {
            let now =
                k8s_openapi::jiff::Timestamp::now().round(k8s_openapi::jiff::Unit::Second).expect("a time").to_string();
            let start = live.status.and_then(|s| s.start_time).map_or(now.clone(), |t| t.0.to_string());
            let patch = serde_json::json!({"status": status(&start, &now)});
            match jobs.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => return,
                Err(error) => last_error = Some(error.to_string()),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Job {name} was never finished: {}", last_error.as_deref().unwrap_or("it was never created"));
}

/// A loopback address with a port free right now.
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// The reasons of the Events on Application `name` of `ns`.
pub async fn event_reasons(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), ns);
    let list = events.list(&Default::default()).await.expect("Events are listed");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}
