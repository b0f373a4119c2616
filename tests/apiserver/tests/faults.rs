//! Fault injection as kube sees it. Server-only: skipped on a real cluster.

use capstan_apiserver::{Fault, TestApiServer, real_cluster_requested};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Error};
use serde_json::json;
use std::time::{Duration, Instant};

async fn server(test: &str) -> Option<TestApiServer> {
    if real_cluster_requested() {
        println!("skipping {test}: fault injection needs the in-process test API server");
        return None;
    }
    Some(TestApiServer::start().await.unwrap())
}

fn no_retry_client(server: &TestApiServer) -> Client {
    let mut config = server.kube_config();
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

fn status_of(e: Error) -> (u16, String) {
    match e {
        Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_sees_throttling_and_unavailability_without_retries() {
    let Some(server) = server("kube_sees_throttling_and_unavailability_without_retries").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(no_retry_client(&server), "default");
    server.faults().inject(Fault::too_many_requests(7));
    assert_eq!(status_of(api.get_opt("x").await.unwrap_err()), (429, "TooManyRequests".into()));
    server.faults().inject(Fault::unavailable());
    assert_eq!(status_of(api.get_opt("x").await.unwrap_err()), (503, "ServiceUnavailable".into()));
    server.faults().inject(Fault::internal_error());
    assert_eq!(status_of(api.get_opt("x").await.unwrap_err()), (500, "InternalError".into()));
    assert!(api.get_opt("x").await.unwrap().is_none(), "faults are used up");
    server.faults().inject(Fault::unavailable().verb("list"));
    assert!(api.get_opt("x").await.unwrap().is_none(), "a get is not a list");
    assert_eq!(status_of(api.list(&Default::default()).await.unwrap_err()).0, 503);
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 503, 500, 404, 404, 503]);
    server.shutdown().await;
}

#[tokio::test]
async fn default_client_retries_429_and_503() {
    let Some(server) = server("default_client_retries_429_and_503").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    server.faults().inject(Fault::too_many_requests(0).times(2));
    server.faults().inject(Fault::unavailable().after(2));
    assert!(api.get_opt("x").await.unwrap().is_none());
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 503, 404]);
    server.shutdown().await;
}

#[tokio::test]
async fn conflicts_and_the_nth_matching_request() {
    let Some(server) = server("conflicts_and_the_nth_matching_request").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(no_retry_client(&server), "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    server.faults().inject(Fault::conflict().method("PATCH").path_contains("/configmaps/c").nth(2));
    let pp = PatchParams::apply("t");
    api.patch("c", &pp, &Patch::Apply(&cm)).await.unwrap();
    api.get("c").await.unwrap();
    assert_eq!(status_of(api.patch("c", &pp, &Patch::Apply(&cm)).await.unwrap_err()).0, 409);
    api.patch("c", &pp, &Patch::Apply(&cm)).await.unwrap();
    assert_eq!(server.faults().pending(), 0);
    assert_eq!(server.write_count(), 1, "failed and no-op applies are not writes");
    server.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_and_latency() {
    let Some(server) = server("dropped_connections_and_latency").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(no_retry_client(&server), "default");
    server.faults().inject(Fault::drop_connection());
    let err = api.get_opt("x").await.unwrap_err();
    assert!(!matches!(err, Error::Api(_)), "a dropped connection is not an API status: {err:?}");
    assert_eq!(server.requests()[0].status, 0);
    assert!(api.get_opt("x").await.unwrap().is_none(), "the next request is served");

    server.faults().inject(Fault::latency(Duration::from_millis(300)));
    let start = Instant::now();
    api.get_opt("x").await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    server.faults().inject(Fault::internal_error().times(5));
    server.faults().clear();
    api.get_opt("x").await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn request_log_records_methods_content_types_and_dry_runs() {
    let Some(server) = server("request_log_records_methods_content_types_and_dry_runs").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    api.patch("c", &PatchParams::apply("capstan").dry_run(), &Patch::Apply(&cm)).await.unwrap();
    api.patch("c", &PatchParams::apply("capstan"), &Patch::Apply(&cm)).await.unwrap();
    let log = server.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "PATCH");
    assert_eq!(log[0].verb, "apply");
    assert_eq!(log[0].path, "/api/v1/namespaces/default/configmaps/c");
    assert_eq!(log[0].content_type.as_deref(), Some("application/apply-patch+yaml"));
    assert!(log[0].dry_run && !log[1].dry_run);
    assert_eq!(log[1].field_manager.as_deref(), Some("capstan"));
    assert_eq!(server.write_count(), 1);
    api.list(&Default::default()).await.unwrap();
    api.get("c").await.unwrap();
    api.delete("c", &Default::default()).await.unwrap();
    let verbs: Vec<String> = server.requests().iter().skip(2).map(|r| r.verb.clone()).collect();
    assert_eq!(verbs, ["list", "get", "delete"]);
    server.clear_requests();
    assert!(server.requests().is_empty());
    server.shutdown().await;
}
