//! The write verbs on storage: create, update, server-side apply and
//! patch, each ending in [`finish_create`] or [`finish_update`] where the
//! rules every write shares live (namespace must exist, immutable metadata,
//! generation, no-op detection, dry-run, finalizers).

use crate::catalog::{self, NAMESPACE_KEY, ResourceType};
use crate::managed::{self, Conflict, Writer};
use crate::meta::{self, meta_str, metadata_mut};
use crate::patch::{self, PatchType};
use crate::status::{ApiError, ApiResult};
use crate::store::Store;
use crate::{structural, validation};
use serde_json::{Value, json};

/// What every write request carries besides its body.
#[derive(Clone, Debug)]
pub(crate) struct WriteOptions {
    /// The resource written.
    pub(crate) rt: ResourceType,
    /// The namespace from the URL (namespaced resources).
    pub(crate) namespace: Option<String>,
    /// `dryRun=All`.
    pub(crate) dry_run: bool,
    /// The field manager (query `fieldManager`, else from the user agent).
    pub(crate) manager: String,
    /// `Some("status")` for the status subresource.
    pub(crate) subresource: Option<String>,
    /// `fieldValidation=Strict`: unknown fields fail the request instead of
    /// being dropped.
    pub(crate) strict: bool,
}

impl WriteOptions {
    fn writer<'a>(&'a self, now: &'a str) -> Writer<'a> {
        Writer {
            manager: &self.manager,
            api_version: "",
            subresource: self.subresource.as_deref(),
            has_status: self.rt.has_status,
            schema: self.rt.schema(),
            now,
        }
    }

    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
}

/// The outcome of a write: the object and whether storage changed.
pub(crate) struct Written {
    /// The object as stored (or as it would be, on dry run).
    pub(crate) object: Value,
    /// Whether it was created (201) rather than updated (200).
    pub(crate) created: bool,
}

/// Checks kind/apiVersion/namespace of a request body against the URL.
fn check_body(o: &WriteOptions, body: &mut Value, url_name: Option<&str>) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON or YAML object"));
    }
    let rt = &o.rt;
    match body.get("kind").and_then(Value::as_str) {
        Some(k) if k != rt.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind of the object ({k}) does not match the kind of the resource ({})",
                rt.kind
            )));
        }
        _ => {}
    }
    if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
        && av != rt.api_version()
        && !(av.split('/').next() == Some(rt.group.as_str()) && av.contains('/'))
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    body["apiVersion"] = json!(rt.api_version());
    body["kind"] = json!(rt.kind);
    let meta = metadata_mut(body);
    if let Some(url_name) = url_name {
        match meta.get("name").and_then(Value::as_str) {
            Some(n) if n != url_name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({url_name})"
                )));
            }
            Some(_) => {}
            None => {
                meta.insert("name".into(), json!(url_name));
            }
        }
    }
    if rt.namespaced {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != o.ns() => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(o.ns()));
            }
        }
    } else {
        meta.shift_remove("namespace");
    }
    if let Some(schema) = &o.rt.openapi {
        let dropped = structural::prune(body, schema);
        if o.strict && !dropped.is_empty() {
            let list: Vec<String> = dropped.iter().map(|f| format!("unknown field \"{f}\"")).collect();
            return Err(ApiError::bad_request(format!("{STRICT_DECODING}: {}", list.join(", "))));
        }
    }
    Ok(())
}

fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    let who = |c: &Conflict| {
        let mut s = format!("{:?}", c.manager);
        if let Some(sub) = &c.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if c.operation == "Update" {
            s.push_str(&format!(" using {}", c.api_version));
            if !c.time.is_empty() {
                s.push_str(&format!(" at {}", c.time));
            }
        }
        s
    };
    let message = if let [c] = conflicts {
        format!("Apply failed with 1 conflict: conflict with {}: {}", who(c), crate::fields::DisplayPath(&c.path))
    } else {
        let mut lines = Vec::new();
        let managers: std::collections::BTreeSet<String> = conflicts.iter().map(who).collect();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for c in conflicts.iter().filter(|c| who(c) == m) {
                lines.push(format!("- {}", crate::fields::DisplayPath(&c.path)));
            }
        }
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", who(c)),
                   "field": crate::fields::DisplayPath(&c.path).to_string()})
        })
        .collect();
    ApiError::conflict(message, json!({"causes": causes}))
}

/// How a real server starts a `fieldValidation=Strict` refusal.
const STRICT_DECODING: &str = "strict decoding error";

/// POST: create an object.
pub(crate) fn create(store: &mut Store, o: &WriteOptions, mut body: Value) -> ApiResult<Written> {
    check_body(o, &mut body, None)?;
    // Only the `create` verb is refused while the CRD terminates, as in the
    // real server's CRD handler: an apply that creates is a `patch` and
    // goes through (the CRD's finalizer then deletes that object too).
    let rt = &o.rt;
    let crd_name = format!("{}.{}", rt.plural, rt.group);
    if !rt.builtin
        && store
            .get(catalog::CRD_KEY, "", &crd_name)
            .is_some_and(|c| c.pointer("/metadata/deletionTimestamp").is_some())
    {
        return Err(ApiError::method_not_allowed_because(
            "create not allowed while custom resource definition is terminating",
        ));
    }
    meta::default_fields(&o.rt, &mut body);
    let now = meta::now();
    let mut writer = o.writer(&now);
    let av = o.rt.api_version();
    writer.api_version = &av;
    managed::record_update(None, &mut body, &writer);
    finish_create(store, o, body, &now)
}

/// Stores a new object after the checks every create shares.
fn finish_create(store: &mut Store, o: &WriteOptions, mut obj: Value, now: &str) -> ApiResult<Written> {
    let rt = &o.rt;
    if o.subresource.is_some() {
        return Err(ApiError::not_found(&rt.group, &rt.plural, meta_str(&obj, "name").unwrap_or_default()));
    }
    let name = meta::checked_name(rt, &mut obj)?;
    if rt.namespaced {
        check_namespace_open(store, o.ns())?;
    }
    if store.get(&rt.key(), o.ns(), &name).is_some() {
        return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
    }
    validation::validate(rt, &obj, None)?;
    if rt.key() == catalog::CRD_KEY {
        let causes = meta::validate_crd(&obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
        }
    }
    if rt.has_status
        && let Some(m) = obj.as_object_mut()
    {
        m.shift_remove("status");
    }
    let meta = metadata_mut(&mut obj);
    for f in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
        meta.shift_remove(f);
    }
    meta.insert("uid".into(), json!(meta::uid()));
    meta.insert("creationTimestamp".into(), json!(now));
    if rt.generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.shift_remove("generation");
    }
    meta::server_defaults_on_create(rt, &mut obj, now);
    if let Some(schema) = &rt.openapi {
        structural::apply_defaults(&mut obj, schema);
    }
    let object = if o.dry_run { obj } else { store.put(&rt.key(), obj) };
    Ok(Written { object, created: true })
}

/// 404 when the namespace is missing, 403 when it is terminating.
pub(crate) fn check_namespace_open(store: &Store, ns: &str) -> ApiResult<()> {
    match store.get(NAMESPACE_KEY, "", ns) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        ))),
        Some(_) => Ok(()),
    }
}

fn existing(store: &Store, o: &WriteOptions, name: &str) -> ApiResult<Value> {
    store.get(&o.rt.key(), o.ns(), name).cloned().ok_or_else(|| ApiError::not_found(&o.rt.group, &o.rt.plural, name))
}

fn check_rv(o: &WriteOptions, old: &Value, new: &Value, name: &str) -> ApiResult<()> {
    match meta_str(new, "resourceVersion") {
        Some(rv) if !rv.is_empty() && Some(rv) != meta_str(old, "resourceVersion") => {
            Err(ApiError::stale(&o.rt.group, &o.rt.plural, name))
        }
        _ => Ok(()),
    }
}

/// Without `metadata`, and without `status` (spec-ish content).
fn spec_content(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.shift_remove("metadata");
        m.shift_remove("status");
    }
    v
}

/// PUT: replace an object (or its status).
pub(crate) fn update(store: &mut Store, o: &WriteOptions, name: &str, mut body: Value) -> ApiResult<Written> {
    check_body(o, &mut body, Some(name))?;
    let old = existing(store, o, name)?;
    check_rv(o, &old, &body, name)?;
    meta::default_fields(&o.rt, &mut body);
    write_update(store, o, old, body)
}

/// The shared tail of PUT and non-apply PATCH.
fn write_update(store: &mut Store, o: &WriteOptions, old: Value, body: Value) -> ApiResult<Written> {
    let now = meta::now();
    let av = o.rt.api_version();
    let mut writer = o.writer(&now);
    writer.api_version = &av;
    let mut new = if o.rt.has_status && o.subresource.is_some() {
        let mut n = old.clone();
        n["status"] = body.get("status").cloned().unwrap_or(Value::Null);
        n
    } else {
        body
    };
    managed::record_update(Some(&old), &mut new, &writer);
    finish_update(store, o, &old, new)
}

/// Stores a changed object after the checks every update shares.
fn finish_update(store: &mut Store, o: &WriteOptions, old: &Value, mut new: Value) -> ApiResult<Written> {
    let rt = &o.rt;
    new["apiVersion"] = json!(rt.api_version());
    new["kind"] = json!(rt.kind);
    {
        let old_meta = old["metadata"].as_object().cloned().unwrap_or_default();
        let meta = metadata_mut(&mut new);
        for f in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match old_meta.get(f) {
                Some(v) => meta.insert(f.into(), v.clone()),
                None => meta.shift_remove(f),
            };
        }
    }
    if rt.has_status && o.subresource.is_none() {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|m| m.shift_remove("status"));
            }
        }
    }
    if rt.key() == catalog::CRD_KEY {
        let name = meta_str(old, "name").unwrap_or_default().to_string();
        let causes = meta::validate_crd(&new);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
        }
        if o.subresource.is_none() {
            let established = catalog::established(old);
            meta::crd_status(&mut new, meta_str(old, "creationTimestamp").unwrap_or_default(), established);
        }
    }
    if let Some(schema) = &rt.openapi {
        structural::apply_defaults(&mut new, schema);
    }
    validation::validate(rt, &new, Some(old))?;
    if rt.generation && spec_content(old) != spec_content(&new) {
        let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        metadata_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    if managed::same_ignoring_times(old, &new) {
        return Ok(Written { object: old.clone(), created: false });
    }
    if o.dry_run {
        return Ok(Written { object: new, created: false });
    }
    let finalized = new.pointer("/metadata/deletionTimestamp").is_some()
        && new.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
    let object = if finalized {
        let (ns, name) = (o.ns().to_string(), meta_str(&new, "name").unwrap_or_default().to_string());
        store.put(&rt.key(), new);
        store.remove(&rt.key(), &ns, &name).unwrap_or(Value::Null)
    } else {
        store.put(&rt.key(), new)
    };
    Ok(Written { object, created: false })
}

/// PATCH with `application/apply-patch+yaml`: server-side apply.
pub(crate) fn apply(
    store: &mut Store,
    o: &WriteOptions,
    name: &str,
    mut body: Value,
    force: bool,
) -> ApiResult<Written> {
    if o.manager.is_empty() {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![("fieldManager".into(), "Required value: is required for apply patch".into(), "FieldValueRequired")],
        ));
    }
    if body.get("apiVersion").is_none() || body.get("kind").is_none() {
        return Err(ApiError::bad_request(
            "invalid object type: /, Kind=: apiVersion and kind must be set for server-side apply",
        ));
    }
    let request_av = body["apiVersion"].as_str().unwrap_or_default().to_string();
    crate::typed::check_apply(&o.rt, name, &body)?;
    check_body(o, &mut body, Some(name))?;
    let old = store.get(&o.rt.key(), o.ns(), name).cloned();
    if let Some(old) = &old {
        check_rv(o, old, &body, name)?;
    } else if o.subresource.is_some() {
        return Err(ApiError::not_found(&o.rt.group, &o.rt.plural, name));
    }
    let now = meta::now();
    let mut writer = o.writer(&now);
    writer.api_version = &request_av;
    let new = managed::apply(old.as_ref(), &body, &writer, force).map_err(|c| conflict_error(&c))?;
    match old {
        None => finish_create(store, o, new, &now),
        Some(old) => finish_update(store, o, &old, new),
    }
}

/// PATCH with a JSON, merge or strategic-merge patch.
pub(crate) fn patch(
    store: &mut Store,
    o: &WriteOptions,
    name: &str,
    body: &[u8],
    kind: PatchType,
) -> ApiResult<Written> {
    let old = existing(store, o, name)?;
    let mut patched = patch::apply_patch(&old, body, kind, &o.rt.schema())?;
    check_rv(o, &old, &patched, name)?;
    let shown = patched.to_string();
    check_body(o, &mut patched, Some(name)).map_err(|e| {
        if e.message.starts_with(STRICT_DECODING) {
            // As the real server words it: the patched object is the invalid value.
            let cause = format!("Invalid value: {}: {}", Value::String(shown), e.message);
            ApiError::invalid("", "", "", vec![("patch".into(), cause, "FieldValueInvalid")])
        } else {
            ApiError::bad_request(format!("the patch changes the identity of the object: {}", e.message))
        }
    })?;
    meta::default_fields(&o.rt, &mut patched);
    write_update(store, o, old, patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::field_path;

    fn conflict(manager: &str, operation: &str, path: &[&str]) -> Conflict {
        Conflict {
            manager: manager.into(),
            operation: operation.into(),
            api_version: "apps/v1".into(),
            subresource: None,
            time: "2026-01-01T00:00:00Z".into(),
            path: field_path(path),
        }
    }

    #[test]
    fn conflict_messages_have_the_real_shape() {
        let one = conflict_error(&[conflict("kubectl-edit", "Update", &["spec", "replicas"])]);
        assert_eq!(
            one.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1 at 2026-01-01T00:00:00Z: .spec.replicas"
        );
        let many = conflict_error(&[
            conflict("b", "Apply", &["spec", "replicas"]),
            conflict("a", "Apply", &["spec", "paused"]),
            conflict("b", "Apply", &["metadata", "labels", "x"]),
        ]);
        assert_eq!(
            many.message,
            "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.paused\nconflicts with \"b\":\n- .spec.replicas\n- .metadata.labels.x"
        );
        assert_eq!(many.code, 409);
    }
}
