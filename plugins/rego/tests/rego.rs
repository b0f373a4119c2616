//! builtin:rego natively: conftest rules, Gatekeeper templates and
//! constraints, v0/v1 syntax, and load errors with positions.

use std::collections::BTreeMap;
use std::path::Path;

use capstan_plugin::Severity;
use capstan_rego::{Params, check, load};
use serde_json::{Value, json};

fn modules(list: &[(&str, &str)]) -> Params {
    let modules: BTreeMap<String, String> = list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Params { modules, ..Params::default() }
}

fn run(params: &Params, items: &[Value]) -> Vec<String> {
    let mut loaded = load(params, Path::new("/nonexistent")).unwrap_or_else(|e| panic!("{e}"));
    check(&mut loaded, items, Some("default"))
        .unwrap()
        .into_iter()
        .map(|d| {
            let severity = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let object = d.object.map(|o| format!("{}/{}", o.kind, o.name)).unwrap_or_default();
            format!("{severity} {object} {}", d.message)
        })
        .collect()
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}})
}

#[test]
fn conftest_deny_and_warn_rules_in_v1_and_v0() {
    let v1 = "package main\n\ndeny contains msg if {\n  not input.metadata.labels.team\n  msg := sprintf(\"%s has no team\", [input.metadata.name])\n}\n\nwarn_owner contains \"no owner\" if not input.metadata.labels.owner\n";
    let v0 = "package old\n\ndeny[msg] {\n  input.metadata.name == \"b\"\n  msg := \"b is refused\"\n}\n";
    let found = run(
        &modules(&[("v1.rego", v1), ("v0.rego", v0)]),
        &[cm("a", json!({"owner": "x"})), cm("b", json!({"team": "t"}))],
    );
    assert_eq!(
        found,
        [
            "error ConfigMap/a [main.deny] a has no team",
            "error ConfigMap/b [old.deny] b is refused",
            "warning ConfigMap/b [main.warn_owner] no owner"
        ]
    );
}

#[test]
fn a_gatekeeper_template_runs_with_its_constraint() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/policies/gatekeeper/requiredlabels");
    let yaml = |p: &str| -> Value { serde_yaml::from_str(&std::fs::read_to_string(dir.join(p)).unwrap()).unwrap() };
    let params = Params {
        templates: vec![yaml("template.yaml")],
        constraints: vec![yaml("samples/all-must-have-owner/constraint.yaml")],
        ..Params::default()
    };
    let allowed = yaml("samples/all-must-have-owner/example_allowed.yaml");
    let disallowed = yaml("samples/all-must-have-owner/example_disallowed.yaml");
    let found = run(&params, &[allowed, disallowed, cm("not-a-namespace", json!({}))]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("error Namespace/disallowed-namespace [k8srequiredlabels/all-must-have-owner] All namespaces must have an `owner` label"), "{found:?}");
}

#[test]
fn malformed_modules_fail_at_load_with_file_line_and_column() {
    let bad = "package bad\n\ndeny contains msg if {\n  input.kind ==\n}\n";
    let error = load(&modules(&[("policies/bad.rego", bad)]), Path::new("/")).err().unwrap();
    assert!(error.contains("policies/bad.rego:5:"), "{error}");
    let unsafe_var = "package bad\n\ndeny contains msg if {\n  x == 1\n  msg := \"m\"\n}\n";
    let error = load(&modules(&[("unsafe.rego", unsafe_var)]), Path::new("/")).err().unwrap();
    assert!(error.contains("unsafe.rego:4:"), "{error}");
    let none = "package empty\n\nallow := true\n";
    let error = load(&modules(&[("none.rego", none)]), Path::new("/")).err().unwrap();
    assert!(error.contains("no rule named deny, warn or violation"), "{error}");
}

#[test]
fn constraints_need_their_template_and_a_known_enforcement_action() {
    let constraint =
        json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sNothing", "metadata": {"name": "x"}});
    let params = Params {
        constraints: vec![constraint],
        modules: [("m.rego".into(), "package m\ndeny contains 1 if false\n".into())].into(),
        ..Params::default()
    };
    let error = load(&params, Path::new("/")).err().unwrap();
    assert!(
        error.contains("constraint x is of kind K8sNothing, and no ConstraintTemplate defines that kind"),
        "{error}"
    );
}
