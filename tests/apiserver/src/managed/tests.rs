use super::*;
use crate::fields::Schema;
use serde_json::json;

fn writer(manager: &str) -> Writer<'_> {
    Writer {
        manager,
        api_version: "apps/v1",
        subresource: None,
        has_status: true,
        schema: Schema::BUILTIN,
        now: "2026-01-01T00:00:00Z",
    }
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
}

#[test]
fn apply_records_an_apply_entry_without_identity_fields() {
    let obj = apply(None, &deployment(1, "a"), &writer("capstan"), false).unwrap();
    let entries = read_entries(&obj);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].operation, "Apply");
    let v1 = entries[0].set.to_fields_v1();
    assert!(v1.get("f:metadata").is_none(), "{v1}");
    assert!(v1.get("f:apiVersion").is_none(), "{v1}");
    assert_eq!(v1["f:spec"]["f:replicas"], json!({}));
}

#[test]
fn other_manager_changing_an_owned_field_conflicts_unless_forced() {
    let live = apply(None, &deployment(1, "a"), &writer("capstan"), false).unwrap();
    let partial =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 3}});
    let conflicts = apply(Some(&live), &partial, &writer("hpa"), false).unwrap_err();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].manager, "capstan");
    assert_eq!(crate::fields::DisplayPath(&conflicts[0].path).to_string(), ".spec.replicas");

    let forced = apply(Some(&live), &partial, &writer("hpa"), true).unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    let entries = read_entries(&forced);
    let capstan = entries.iter().find(|e| e.manager == "capstan").unwrap();
    assert!(capstan.set.to_fields_v1()["f:spec"].get("f:replicas").is_none());
}

#[test]
fn same_value_is_shared_not_a_conflict() {
    let live = apply(None, &deployment(1, "a"), &writer("capstan"), false).unwrap();
    let same =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}});
    let shared = apply(Some(&live), &same, &writer("other"), false).unwrap();
    assert_eq!(read_entries(&shared).len(), 2);
}

#[test]
fn fields_no_longer_applied_are_removed_unless_owned_elsewhere() {
    let mut cfg = deployment(1, "a");
    cfg["metadata"]["labels"] = json!({"keep": "1", "drop": "1"});
    let live = apply(None, &cfg, &writer("capstan"), false).unwrap();
    let mut next = deployment(1, "a");
    next["metadata"]["labels"] = json!({"keep": "1"});
    let out = apply(Some(&live), &next, &writer("capstan"), false).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"keep": "1"}));

    // A label another manager also set survives.
    let other =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"drop": "1"}}});
    let live = apply(Some(&live), &other, &writer("other"), false).unwrap();
    let out = apply(Some(&live), &next, &writer("capstan"), false).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"keep": "1", "drop": "1"}));
}

#[test]
fn removed_list_items_go_away_and_empty_maps_are_cleaned() {
    let mut cfg = deployment(1, "a");
    cfg["metadata"]["annotations"] = json!({"a": "1"});
    let live = apply(None, &cfg, &writer("capstan"), false).unwrap();
    let mut next = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                          "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "other", "image": "b"}]}}}});
    next["metadata"]["name"] = json!("d");
    let out = apply(Some(&live), &next, &writer("capstan"), false).unwrap();
    assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "other", "image": "b"}]));
    assert!(out["metadata"].get("annotations").is_none(), "{out}");
}

#[test]
fn updates_take_ownership_of_changed_fields() {
    let live = apply(None, &deployment(1, "a"), &writer("capstan"), false).unwrap();
    let mut edited = live.clone();
    edited["spec"]["replicas"] = json!(5);
    record_update(Some(&live), &mut edited, &writer("kubectl-edit"));
    let entries = read_entries(&edited);
    let edit = entries.iter().find(|e| e.manager == "kubectl-edit").unwrap();
    assert_eq!(edit.operation, "Update");
    assert_eq!(edit.set.to_fields_v1(), json!({"f:spec": {"f:replicas": {}}}));
    let capstan = entries.iter().find(|e| e.manager == "capstan").unwrap();
    assert!(capstan.set.to_fields_v1()["f:spec"].get("f:replicas").is_none());
    // Applying the old value again now conflicts with the editor.
    let err = apply(Some(&edited), &deployment(1, "a"), &writer("capstan"), false).unwrap_err();
    assert_eq!(err[0].manager, "kubectl-edit");
}

#[test]
fn status_is_not_owned_through_the_main_resource() {
    let mut cfg = deployment(1, "a");
    cfg["status"] = json!({"replicas": 1});
    let out = apply(None, &cfg, &writer("capstan"), false).unwrap();
    assert!(out.get("status").is_none());
    let mut w = writer("controller");
    w.subresource = Some("status");
    let status =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "status": {"replicas": 1}});
    let out = apply(Some(&out), &status, &w, false).unwrap();
    assert_eq!(out["status"]["replicas"], 1);
    let entries = read_entries(&out);
    let ctl = entries.iter().find(|e| e.manager == "controller").unwrap();
    assert_eq!(ctl.subresource.as_deref(), Some("status"));
    assert_eq!(ctl.set.to_fields_v1(), json!({"f:status": {"f:replicas": {}}}));
}

#[test]
fn updates_adding_a_map_own_the_map_itself() {
    let mut created = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}},
                             "data": {"k": "v"}});
    let mut w = writer("kubectl-create");
    w.has_status = false;
    record_update(None, &mut created, &w);
    let set = read_entries(&created)[0].set.to_fields_v1();
    assert_eq!(set, json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}));
}
