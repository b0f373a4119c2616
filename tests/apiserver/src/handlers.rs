//! Request dispatch: from an HTTP request to a response, through faults,
//! routing, the verbs, and the request log.
//!
//! Every request runs [`handle`]: fault injection first, then
//! [`route::parse`], then one verb under the store lock, then the log entry.

use crate::catalog::{self, ResourceType};
use crate::faults::{FaultAction, Faults};
use crate::gc::{self, Propagation};
use crate::objects::{self, WriteOptions, Written};
use crate::patch::{self, PatchType};
use crate::route::{self, Query, ResourcePath, Route};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::store::Store;
use crate::{RecordedRequest, discovery, meta, watch};
use axum::body::Body;
use http::{HeaderMap, Method, Request, Response, header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// State shared by all connections of one server.
pub(crate) struct Shared {
    /// All objects.
    pub(crate) store: Mutex<Store>,
    /// The request log.
    pub(crate) log: Mutex<RequestLog>,
    /// Fault rules.
    pub(crate) faults: Faults,
    /// `127.0.0.1:PORT`.
    pub(crate) address: String,
    /// Client writes that reached storage.
    pub(crate) writes: AtomicUsize,
    /// Wakes the garbage collector.
    pub(crate) gc: Notify,
    /// How often watches with bookmarks get one.
    pub(crate) bookmark_interval: Duration,
    /// Whether the controller stand-ins run.
    pub(crate) simulate_controllers: bool,
}

impl Shared {
    /// Locks the store (a panic elsewhere does not wedge the server).
    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the request log.
    pub(crate) fn lock_log(&self) -> MutexGuard<'_, RequestLog> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The request log, in arrival order; entries get their status when the
/// response is ready.
#[derive(Default)]
pub(crate) struct RequestLog {
    next: u64,
    entries: Vec<(u64, RecordedRequest)>,
}

impl RequestLog {
    /// Appends an entry; returns its sequence number.
    fn push(&mut self, entry: RecordedRequest) -> u64 {
        self.next += 1;
        self.entries.push((self.next, entry));
        self.next
    }

    /// Updates the entry `seq`, unless the log was cleared since.
    fn update(&mut self, seq: u64, f: impl FnOnce(&mut RecordedRequest)) {
        if let Some((_, e)) = self.entries.iter_mut().rev().find(|(s, _)| *s == seq) {
            f(e);
        }
    }

    /// The entries.
    pub(crate) fn entries(&self) -> Vec<RecordedRequest> {
        self.entries.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Forgets all entries.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// A request was answered by closing the connection (fault injection).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub(crate) struct Dropped;

/// Largest request body accepted.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

fn json_response(code: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("static response parts are valid")
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut resp = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    resp
}

/// Serves one request; `Err` means "drop the connection".
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Dropped> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or_default().to_string();
    let query = Query::parse(&raw_query);
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let entry = RecordedRequest {
        method: method.to_string(),
        verb: verb_of(&method, &path, &query, content_type.as_deref()),
        path: path.clone(),
        query: raw_query,
        content_type: content_type.clone(),
        status: 0,
        dry_run: query.dry_run(),
        field_manager: query.get("fieldManager").map(str::to_string),
    };

    let verdict =
        shared.faults.check(&crate::faults::Request { method: method.as_str(), verb: &entry.verb, path: &path });
    let seq = shared.lock_log().push(entry);
    let mut dry_run = query.dry_run();
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let response = match verdict.failure {
        Some(FaultAction::DropConnection) => return Err(Dropped),
        Some(FaultAction::Status(code)) => error_response(&ApiError::injected(code, None)),
        Some(FaultAction::TooManyRequests { retry_after_secs }) => {
            error_response(&ApiError::injected(429, Some(retry_after_secs)))
        }
        Some(FaultAction::Latency(_)) | None => {
            let (parts, body) = req.into_parts();
            match axum::body::to_bytes(Body::new(body), BODY_LIMIT).await {
                Err(_) => error_response(&ApiError::bad_request("failed to read the request body")),
                Ok(body) => {
                    dry_run |= method == Method::DELETE && body_dry_run(&body);
                    match serve(&shared, &method, &path, &query, &parts.headers, &body) {
                        Ok(resp) => resp,
                        Err(e) => error_response(&e),
                    }
                }
            }
        }
    };
    let status = response.status().as_u16();
    shared.lock_log().update(seq, |e| {
        e.status = status;
        e.dry_run = dry_run;
    });
    Ok(response)
}

fn serve(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response<Body>> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let route = route::parse(path);
    if !matches!(route, Route::Resource(_)) && *method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let all = || catalog::all(&shared.lock_store());
    let found = |v: Option<Value>| v.map(|v| json_response(200, &v)).ok_or_else(ApiError::no_route);
    match route {
        Route::Version => Ok(json_response(200, &discovery::version())),
        Route::Health => Ok(Response::new(Body::from("ok"))),
        Route::CoreVersions | Route::Groups if discovery::wants_aggregated(accept) => {
            let doc = discovery::aggregated(&all(), route == Route::CoreVersions);
            let mut resp = json_response(200, &doc);
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, discovery::AGGREGATED_CONTENT_TYPE.parse().expect("valid header"));
            Ok(resp)
        }
        Route::CoreVersions => Ok(json_response(200, &discovery::core_versions(&shared.address))),
        Route::Groups => Ok(json_response(200, &discovery::group_list(&all()))),
        Route::Group(g) => found(discovery::group(&all(), &g)),
        Route::Resources(g, v) => found(discovery::resource_list(&all(), &g, &v)),
        Route::Unknown => Err(ApiError::no_route()),
        Route::Resource(rp) => serve_resource(shared, method, rp, query, headers, body),
    }
}

fn serve_resource(
    shared: &Arc<Shared>,
    method: &Method,
    rp: ResourcePath,
    query: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response<Body>> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let rt =
        catalog::lookup(&shared.lock_store(), &rp.group, &rp.version, &rp.plural).ok_or_else(ApiError::no_route)?;
    if rp.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::no_route());
    }
    match rp.subresource.as_deref() {
        None => {}
        Some("status") if rt.has_status => {}
        Some(_) => return Err(ApiError::no_route()),
    }
    if *method == Method::GET && rp.name.is_none() && query.flag("watch") {
        let metadata_only = meta::wants_metadata_only(accept);
        let body = watch::watch(shared, &rt, rp.namespace.clone(), query, metadata_only)?;
        let resp = Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("static response parts are valid");
        return Ok(resp);
    }
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let opts = WriteOptions {
        rt: rt.clone(),
        namespace: rp.namespace.clone(),
        dry_run: query.dry_run(),
        manager: query.get("fieldManager").map(str::to_string).unwrap_or_else(|| default_manager(user_agent)),
        subresource: rp.subresource.clone(),
        strict: query.get("fieldValidation") == Some("Strict"),
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();

    let mut store = shared.lock_store();
    let rv_before = store.resource_version();
    let result = match (method, rp.name.as_deref()) {
        (&Method::GET, Some(name)) if meta::wants_metadata_only(accept) => {
            get(&store, &rt, &rp, name).map(|v| (200, meta::partial_metadata(&v)))
        }
        (&Method::GET, Some(name)) => get(&store, &rt, &rp, name).map(|v| (200, v)),
        (&Method::GET, None) if meta::wants_metadata_only(accept) => list(&store, &rt, rp.namespace.as_deref(), query)
            .map(|mut v| {
                let items: Vec<Value> =
                    v["items"].as_array().into_iter().flatten().map(meta::partial_metadata).collect();
                v["items"] = json!(items);
                v["kind"] = json!("PartialObjectMetadataList");
                v["apiVersion"] = json!("meta.k8s.io/v1");
                (200, v)
            }),
        (&Method::GET, None) => list(&store, &rt, rp.namespace.as_deref(), query).map(|v| (200, v)),
        (&Method::POST, None) => {
            let body = patch::parse_body(body)?;
            written(objects::create(&mut store, &opts, body))
        }
        (&Method::PUT, Some(name)) => {
            let body = patch::parse_body(body)?;
            written(objects::update(&mut store, &opts, name, body))
        }
        (&Method::PATCH, Some(name)) => {
            let kind = PatchType::from_content_type(content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            if kind == PatchType::Apply {
                // Apply has no default manager: the query must name one.
                let mut o = opts.clone();
                o.manager = query.get("fieldManager").unwrap_or_default().to_string();
                let body = patch::parse_apply_body(body, content_type)?;
                written(objects::apply(&mut store, &o, name, body, query.flag("force")))
            } else {
                if query.get("force").is_some() {
                    return Err(ApiError::bad_request("force may not be specified for non-apply patch"));
                }
                written(objects::patch(&mut store, &opts, name, body, kind))
            }
        }
        (&Method::DELETE, Some(name)) => {
            let o = delete_options(query, body)?;
            let ns = rp.namespace.as_deref().unwrap_or_default();
            delete_one(&mut store, &rt, ns, name, &o).map(|v| (200, v))
        }
        (&Method::DELETE, None) => delete_collection(&mut store, &rt, rp.namespace.as_deref(), query, body),
        _ => Err(ApiError::method_not_allowed()),
    };
    let changed = store.resource_version() != rv_before;
    if changed {
        shared.writes.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = store.persist() {
            tracing::warn!(error = %e, "failed to persist the state file");
        }
    }
    drop(store);
    // The collector only has work after deletions, on objects being deleted,
    // on objects with owners (whose owner may already be gone) and on CRDs
    // to establish.
    let needs_gc = |v: &Value| {
        v.pointer("/metadata/deletionTimestamp").is_some()
            || v.pointer("/metadata/ownerReferences").is_some()
            || (rt.key() == crate::catalog::CRD_KEY && !crate::catalog::established(v))
    };
    let simulated = shared.simulate_controllers && crate::controllers::SIMULATED.contains(&rt.key().as_str());
    if changed && (simulated || *method == Method::DELETE || result.as_ref().is_ok_and(|(_, v)| needs_gc(v))) {
        shared.gc.notify_one();
    }
    let (code, value) = result?;
    Ok(json_response(code, &value))
}

/// The Kubernetes verb of a request, for the request log.
fn verb_of(method: &Method, path: &str, query: &Query, content_type: Option<&str>) -> String {
    let named = matches!(route::parse(path), Route::Resource(ResourcePath { name: Some(_), .. }));
    let resource = matches!(route::parse(path), Route::Resource(_));
    let verb = match *method {
        Method::GET if !resource || named => "get",
        Method::GET if query.flag("watch") => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH if content_type.and_then(PatchType::from_content_type) == Some(PatchType::Apply) => "apply",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    };
    verb.to_string()
}

/// The field manager a real server derives from the user agent.
fn default_manager(user_agent: &str) -> String {
    let name = user_agent.split('/').next().unwrap_or_default();
    if name.is_empty() { "unknown".into() } else { name.chars().take(128).collect() }
}

fn written(r: ApiResult<Written>) -> ApiResult<(u16, Value)> {
    r.map(|w| (if w.created { 201 } else { 200 }, w.object))
}

/// The object as served at the requested version.
fn present(rt: &ResourceType, mut obj: Value) -> Value {
    if obj.is_object() {
        obj["apiVersion"] = json!(rt.api_version());
    }
    obj
}

fn get(store: &Store, rt: &ResourceType, rp: &ResourcePath, name: &str) -> ApiResult<Value> {
    let ns = rp.namespace.as_deref().unwrap_or_default();
    store
        .get(&rt.key(), ns, name)
        .map(|o| present(rt, o.clone()))
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
}

fn list(store: &Store, rt: &ResourceType, ns: Option<&str>, query: &Query) -> ApiResult<Value> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default())?;
    let after = query.get("continue").filter(|c| !c.is_empty());
    let limit: Option<usize> = query.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0);
    let id = |obj: &Value| {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        format!("{}/{}", s("/metadata/namespace"), s("/metadata/name"))
    };
    let matching: Vec<(String, &Value)> = store
        .list(&rt.key(), ns)
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .map(|o| (id(o), o))
        .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
        .collect();
    let (page, next) = match limit {
        Some(l) if matching.len() > l => (&matching[..l], Some(matching[l - 1].0.clone())),
        _ => (&matching[..], None),
    };
    let items: Vec<Value> = page
        .iter()
        .map(|(_, obj)| {
            let mut item = present(rt, (*obj).clone());
            // Real servers omit apiVersion/kind on items of built-in lists.
            if rt.builtin
                && let Some(m) = item.as_object_mut()
            {
                m.shift_remove("apiVersion");
                m.shift_remove("kind");
            }
            item
        })
        .collect();
    let mut meta = json!({"resourceVersion": store.resource_version().to_string()});
    if let Some(c) = next {
        meta["continue"] = json!(c);
    }
    Ok(json!({"apiVersion": rt.api_version(), "kind": format!("{}List", rt.kind), "metadata": meta, "items": items}))
}

/// DeleteOptions from the query and the body (kube sends them in the body).
struct DeleteOptions {
    policy: Propagation,
    dry_run: bool,
    uid: Option<String>,
    resource_version: Option<String>,
}

/// Whether a DELETE body asks for `dryRun: [All]`.
fn body_dry_run(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b.get("dryRun").and_then(Value::as_array).map(|a| a.iter().any(|x| x == "All")))
        .unwrap_or(false)
}

fn delete_options(query: &Query, body: &[u8]) -> ApiResult<DeleteOptions> {
    let b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |p: &str| b.pointer(p).and_then(Value::as_str).map(str::to_string);
    let policy = match (
        query.get("propagationPolicy").map(str::to_string).or(text("/propagationPolicy")),
        b.get("orphanDependents"),
    ) {
        (None, Some(Value::Bool(true))) => Propagation::Orphan,
        (p, _) => Propagation::parse(p.as_deref())?,
    };
    Ok(DeleteOptions {
        policy,
        dry_run: query.dry_run() || body_dry_run(body),
        uid: text("/preconditions/uid"),
        resource_version: text("/preconditions/resourceVersion"),
    })
}

fn delete_one(store: &mut Store, rt: &ResourceType, ns: &str, name: &str, o: &DeleteOptions) -> ApiResult<Value> {
    if rt.key() == catalog::NAMESPACE_KEY
        && let Some(refused) = crate::validation::undeletable_namespace(name)
    {
        return Err(refused);
    }
    if let Some(current) = store.get(&rt.key(), ns, name) {
        let have = |f: &str| current.pointer(&format!("/metadata/{f}")).and_then(Value::as_str).unwrap_or_default();
        for (field, want) in [("uid", &o.uid), ("resourceVersion", &o.resource_version)] {
            if let Some(want) = want
                && want != have(field)
            {
                let label = if field == "uid" { "UID" } else { "ResourceVersion" };
                return Err(ApiError::conflict(
                    format!(
                        "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {label} in precondition: {want}, {label} in object meta: {}",
                        crate::status::qualified(&rt.group, &rt.plural),
                        have(field)
                    ),
                    json!({"name": name, "group": rt.group, "kind": rt.plural}),
                ));
            }
        }
    }
    gc::delete(store, rt, ns, name, o.policy, o.dry_run).map(|v| present(rt, v))
}

fn delete_collection(
    store: &mut Store,
    rt: &ResourceType,
    ns: Option<&str>,
    query: &Query,
    body: &[u8],
) -> ApiResult<(u16, Value)> {
    let o = delete_options(query, body)?;
    let listed = list(store, rt, ns, query)?;
    let mut deleted = Vec::new();
    for item in listed["items"].as_array().cloned().unwrap_or_default() {
        let ns = item.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
        let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        deleted.push(delete_one(store, rt, ns, name, &o)?);
    }
    let meta = json!({"resourceVersion": store.resource_version().to_string()});
    Ok((
        200,
        json!({"apiVersion": rt.api_version(), "kind": format!("{}List", rt.kind), "metadata": meta, "items": deleted}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            verb: "get".into(),
            path: path.into(),
            query: String::new(),
            content_type: None,
            status: 0,
            dry_run: false,
            field_manager: None,
        }
    }

    #[test]
    fn the_log_keeps_arrival_order_and_survives_clearing() {
        let mut log = RequestLog::default();
        let slow = log.push(entry("/slow"));
        let fast = log.push(entry("/fast"));
        log.update(fast, |e| e.status = 200);
        log.update(slow, |e| e.status = 504);
        let paths: Vec<(String, u16)> = log.entries().into_iter().map(|e| (e.path, e.status)).collect();
        assert_eq!(paths, [("/slow".to_string(), 504), ("/fast".to_string(), 200)]);
        log.clear();
        log.update(slow, |e| e.status = 1);
        assert!(log.entries().is_empty());
    }

    #[test]
    fn verbs_and_default_managers() {
        let q = Query::parse("watch=true");
        assert_eq!(verb_of(&Method::GET, "/api/v1/namespaces/a/pods", &q, None), "watch");
        assert_eq!(verb_of(&Method::GET, "/apis/apps/v1", &Query::default(), None), "get");
        let apply = Some("application/apply-patch+yaml");
        assert_eq!(verb_of(&Method::PATCH, "/api/v1/namespaces/a/pods/p", &Query::default(), apply), "apply");
        assert_eq!(verb_of(&Method::DELETE, "/api/v1/namespaces/a/pods", &Query::default(), None), "deletecollection");
        assert_eq!(default_manager("kubectl/v1.33.0 (linux/amd64)"), "kubectl");
        assert_eq!(default_manager(""), "unknown");
    }
}
