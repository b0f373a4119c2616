//! An in-process Kubernetes API server for tests and for the CLI's
//! embedded local mode.
//!
//! [`TestApiServer`] listens on 127.0.0.1 and speaks the real Kubernetes
//! HTTP API, so the engine's unmodified `kube::Client` code runs against it:
//! discovery, CRUD, server-side apply with managedFields, patches, watches,
//! deletion with finalizers and garbage collection, CRDs. It also records
//! every request ([`TestApiServer::requests`]) and injects faults
//! ([`Faults`]), which a real cluster cannot.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use capstan_apiserver::TestApiServer;
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::{Api, Patch, PatchParams};
//!
//! let server = TestApiServer::start().await?;
//! let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
//! let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "a"}, "data": {"k": "v"}});
//! cms.patch("a", &PatchParams::apply("capstan"), &Patch::Apply(&cm)).await?;
//! assert_eq!(server.write_count(), 1);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Start reading at `server` (lifecycle), then `handlers` (dispatch),
//! `objects` (the write verbs) and `managed` (server-side apply).
//!
//! # What is modelled
//!
//! - Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{g}`,
//!   `/apis/{g}/{v}` and aggregated discovery v2; a table of built-in kinds
//!   (core, apps, batch, networking, policy, autoscaling, rbac,
//!   apiextensions, coordination, events, apiregistration, storage,
//!   scheduling) plus every served version of each CRD once it is
//!   `Established`: a moment after it is stored (the background
//!   collector's next pass), as on a real server.
//! - CRUD with uid, a global resourceVersion, creationTimestamp,
//!   generation (bumped on non-metadata, non-status changes), name
//!   validation, namespace existence, optimistic concurrency, `generateName`,
//!   label and field selectors, `limit`/`continue`, `dryRun=All`, the
//!   `/status` subresource (main-resource writes keep the stored status),
//!   `PartialObjectMetadata` responses, DeleteOptions preconditions.
//! - Validation that GitOps tools meet most: names, label/annotation
//!   syntax, workload selectors matching templates, immutable fields
//!   (workload selectors, StatefulSet spec, Job template, immutable
//!   ConfigMaps/Secrets, RoleBinding roleRef), CRD specs, protected
//!   namespaces (`default`, `kube-system`, `kube-public`).
//! - Server-side apply: managedFields in the real `fieldsV1` format,
//!   conflicts (409 with the real message shape) and `force`, shared
//!   ownership of equal values, removal of fields a manager stopped
//!   applying when nobody else owns them, no-op applies not bumping the
//!   resourceVersion. Update operations record `Update` entries. A
//!   manager is its name, operation and subresource, as in
//!   structured-merge-diff.
//! - Server-side apply of a field the kind's schema does not declare (a
//!   misspelt field) is refused with the real server's 500 (`field not
//!   declared in schema`); for built-in kinds only the top level and
//!   `metadata` are checked.
//! - Custom resources: structural pruning of undeclared fields on other
//!   writes (or 400 with `fieldValidation=Strict`), schema `default`s, and
//!   `x-kubernetes-list-type`/`-list-map-keys`/`-map-type` for apply.
//! - JSON patch, JSON merge patch, strategic merge patch (merge keys of the
//!   common built-in lists).
//! - Watches (`ADDED`/`MODIFIED`/`DELETED`, `BOOKMARK`, 410 Gone after
//!   [`TestApiServer::compact`], `sendInitialEvents`, objects moving in or
//!   out of a selection), so kube-runtime's `watcher` works.
//! - Deletion: finalizers, `propagationPolicy` Background/Foreground/Orphan,
//!   ownerReference garbage collection, namespace termination (Terminating,
//!   then contents, then the namespace), CRD deletion deleting its objects
//!   first (and refusing new ones meanwhile). These run in a background
//!   collector, so they are eventually consistent: poll, as on a cluster.
//! - Persistence to a JSON state file ([`ServerConfig::state_file`]).
//! - Optionally ([`ServerConfig::simulate_controllers`]), stand-ins for the
//!   controllers: workloads become ready, Jobs complete, PVCs bind.
//!
//! # What is not modelled
//!
//! - Authentication, authorization (RBAC is stored, never enforced),
//!   impersonation, admission (webhooks, quotas, limit ranges, pod security).
//! - Most validation beyond the list above (e.g. resource quantities,
//!   container ports, probe shapes are accepted as written).
//! - Defaulting beyond port protocols, Namespace status and CRD status;
//!   no real controllers: no pods, ReplicaSets or cluster IPs are ever
//!   created, and without `simulate_controllers` status is only what
//!   clients write to `/status`.
//! - OpenAPI type validation of custom resources (their schemas do drive
//!   pruning of unknown fields, `default`s and SSA list/map types), CRD
//!   conversion (versions of a CRD share storage; only `apiVersion`
//!   changes). Built-in kinds use a merge-key table, not their OpenAPI.
//! - Protobuf, Table output, `/scale` and other subresources, `/openapi`,
//!   field selectors beyond plain equality, graceful deletion periods,
//!   `Warning` headers, API priority and fairness (use [`Faults`] for 429s).
//! - Concurrent use of one state file by two processes.

mod catalog;
mod controllers;
mod discovery;
mod error;
mod faults;
mod fields;
mod gc;
mod handlers;
mod managed;
mod meta;
mod objects;
mod patch;
mod requests;
mod route;
mod selector;
mod server;
mod status;
mod store;
mod structural;
mod target;
mod typed;
mod validation;
mod watch;

pub use error::{Error, Result};
pub use faults::{Fault, FaultAction, Faults};
pub use requests::{AUDIT_LOG_ENV, Mark, RequestLog};
pub use server::{ServerConfig, TestApiServer};
pub use target::{KUBECONFIG_ENV, TestTarget, real_cluster_requested, test_target, unique_name};

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method (`GET`, `PATCH`, ...).
    pub method: String,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `apply` (a server-side apply patch), `delete`,
    /// `deletecollection`; `get` for discovery and other non-resource URLs.
    pub verb: String,
    /// URL path.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// Response status; 0 when the connection was dropped by a fault.
    pub status: u16,
    /// Whether the request had `dryRun=All`.
    pub dry_run: bool,
    /// The `fieldManager` query parameter.
    pub field_manager: Option<String>,
}
