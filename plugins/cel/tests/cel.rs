//! builtin:cel natively: ValidatingAdmissionPolicy semantics, load errors
//! with positions, and the Kubernetes CEL libraries.

use capstan_cel::{Params, check, environment, load};
use capstan_plugin::Severity;
use serde_json::{Value, json};

fn policy(spec: Value) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "test"}, "spec": spec})
}

fn params(policies: Vec<Value>, p: Value) -> Params {
    Params { policies, files: vec![], params: p }
}

fn deployment(name: &str, image: &str, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "web", "labels": labels},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
}

/// The messages of the findings of `spec` on `items`.
fn run(spec: Value, p: Value, items: &[Value]) -> Vec<String> {
    let ctx = environment();
    let policies = load(&ctx, &params(vec![policy(spec)], p), std::path::Path::new("/nonexistent")).unwrap();
    check(&ctx, &policies, items, Some("default"))
        .into_iter()
        .map(|d| {
            let object = d.object.map(|o| format!("{}/{}", o.kind, o.name)).unwrap_or_default();
            let severity = if d.severity == Severity::Error { "" } else { "info " };
            format!("{severity}{object} {}{}", d.field.map(|f| format!("{f}: ")).unwrap_or_default(), d.message)
        })
        .collect()
}

fn load_error(spec: Value) -> String {
    let ctx = environment();
    match load(&ctx, &params(vec![policy(spec)], Value::Null), std::path::Path::new("/nonexistent")) {
        Ok(_) => panic!("loaded"),
        Err(e) => e,
    }
}

fn deployments_rule() -> Value {
    json!({"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}]})
}

#[test]
fn a_failed_validation_names_policy_object_field_and_message() {
    let spec = json!({
        "matchConstraints": deployments_rule(),
        "validations": [{"expression": "object.spec.replicas <= 2", "message": "at most 2 replicas", "fieldPath": ".spec.replicas"}]
    });
    let items = [
        deployment("web", "nginx:1.27", json!({})),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    ];
    assert_eq!(run(spec, Value::Null, &items), ["Deployment/web spec.replicas: [test] at most 2 replicas"]);
}

#[test]
fn label_keys_with_dots_and_slashes_are_plain_map_keys() {
    let spec = json!({"validations": [{"expression": "object.metadata.labels['app.kubernetes.io/name'] == 'web'"}]});
    let ok = deployment("a", "x", json!({"app.kubernetes.io/name": "web"}));
    let bad = deployment("b", "x", json!({"app.kubernetes.io/name": "db"}));
    assert_eq!(
        run(spec, Value::Null, &[ok, bad]),
        ["Deployment/b [test] failed expression: object.metadata.labels['app.kubernetes.io/name'] == 'web'"]
    );
}

#[test]
fn variables_see_earlier_variables_and_message_expressions_see_variables() {
    let spec = json!({
        "variables": [
            {"name": "containers", "expression": "object.spec.template.spec.containers"},
            {"name": "latest", "expression": "variables.containers.filter(c, c.image.endsWith(':latest') || !c.image.contains(':'))"}
        ],
        "validations": [{"expression": "size(variables.latest) == 0",
            "messageExpression": "'images without a pinned tag: ' + variables.latest.map(c, c.image).join(', ')"}]
    });
    let items = [deployment("a", "nginx:latest", json!({})), deployment("b", "nginx:1.27", json!({}))];
    assert_eq!(run(spec, Value::Null, &items), ["Deployment/a [test] images without a pinned tag: nginx:latest"]);
}

#[test]
fn params_and_has_and_optionals() {
    let spec = json!({
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "validations": [
            {"expression": "has(object.metadata.labels) && params.required.all(l, l in object.metadata.labels)", "message": "missing labels"},
            {"expression": "object.?spec.?replicas.orValue(1) <= params.maxReplicas", "message": "too many"}
        ]
    });
    let items = [deployment("a", "x", json!({"team": "t"})), deployment("b", "x", json!({"team": "t", "tier": "w"}))];
    let p = json!({"required": ["team", "tier"], "maxReplicas": 2});
    assert_eq!(
        run(spec, p, &items),
        ["Deployment/a [test] missing labels", "Deployment/a [test] too many", "Deployment/b [test] too many"]
    );
}

#[test]
fn kubernetes_libraries_quantity_regex_url() {
    let spec = json!({"validations": [
        {"expression": "quantity(object.data.mem).compareTo(quantity('1Gi')) <= 0", "message": "too much memory"},
        {"expression": "object.data.host.matches('^[a-z.]+$')", "message": "bad host"},
        {"expression": "url(object.data.url).getScheme() == 'https'", "message": "not https"},
        {"expression": "object.data.host.split('.').size() >= 2", "message": "not qualified"}
    ]});
    let cm = |mem: &str, host: &str, url: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": host}, "data": {"mem": mem, "host": host, "url": url}});
    let items = [cm("512Mi", "a.example", "https://x"), cm("2Gi", "B", "http://x")];
    assert_eq!(
        run(spec, Value::Null, &items),
        [
            "ConfigMap/B [test] too much memory",
            "ConfigMap/B [test] bad host",
            "ConfigMap/B [test] not https",
            "ConfigMap/B [test] not qualified"
        ]
    );
}

#[test]
fn match_constraints_selectors_and_exclusions() {
    let spec = json!({
        "matchConstraints": {
            "resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"]}],
            "excludeResourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["*"], "resources": ["configmaps"]}],
            "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
            "objectSelector": {"matchLabels": {"checked": "yes"}}
        },
        "validations": [{"expression": "false", "message": "seen"}]
    });
    let ns = |name: &str, env: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"env": env, "checked": "yes"}}});
    let obj = |kind: &str, name: &str, ns: &str, checked: &str| json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": {"checked": checked}}});
    let items = [
        ns("prod", "prod"),
        ns("dev", "dev"),
        obj("Secret", "in-prod", "prod", "yes"),
        obj("Secret", "unlabelled", "prod", "no"),
        obj("Secret", "in-dev", "dev", "yes"),
        obj("ConfigMap", "excluded", "prod", "yes"),
    ];
    assert_eq!(run(spec, Value::Null, &items), ["Namespace/prod [test] seen", "Secret/in-prod [test] seen"]);
}

#[test]
fn namespace_object_is_the_rendered_namespace() {
    let spec = json!({
        "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}]},
        "validations": [{"expression": "namespaceObject.metadata.labels.team == object.metadata.labels.team", "message": "team differs from its namespace's"}]
    });
    let items = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web", "labels": {"team": "a"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "same", "namespace": "web", "labels": {"team": "a"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "web", "labels": {"team": "b"}}}),
    ];
    assert_eq!(run(spec, Value::Null, &items), ["ConfigMap/other [test] team differs from its namespace's"]);
}

#[test]
fn evaluation_errors_follow_the_failure_policy() {
    let fail = json!({"validations": [{"expression": "object.spec.missing == 1"}]});
    let found = run(fail, Value::Null, &[deployment("a", "x", json!({}))]);
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("Deployment/a [test] validations[0]: evaluation failed:"), "{found:?}");
    let ignore = json!({"failurePolicy": "Ignore", "validations": [{"expression": "object.spec.missing == 1"}]});
    assert!(run(ignore, Value::Null, &[deployment("a", "x", json!({}))]).is_empty());
}

#[test]
fn malformed_expressions_fail_at_load_with_a_position() {
    let e = load_error(json!({"validations": [{"expression": "object.spec.replicas <"}]}));
    assert!(e.starts_with("policy test (with.policies[0]): spec.validations[0].expression: line 1 column"), "{e}");
    assert!(e.ends_with("`object.spec.replicas <`"), "{e}");
}

#[test]
fn unknown_functions_and_variables_fail_at_load() {
    let e = load_error(
        json!({"validations": [{"expression": "true"}, {"expression": "object.metadata.name.\n  toUpper() == 'A'"}]}),
    );
    assert_eq!(
        e,
        "policy test (with.policies[0]): spec.validations[1].expression: line 2 column 3: unknown function `toUpper`: `object.metadata.name.\n  toUpper() == 'A'`"
    );
    let e = load_error(
        json!({"variables": [{"name": "x", "expression": "authorizer.group('apps')"}], "validations": [{"expression": "true"}]}),
    );
    assert!(e.contains("spec.variables[0].expression: line 1 column 1: unknown variable `authorizer`"), "{e}");
    let e = load_error(json!({"validations": [{"expression": "format.nope('x')"}]}));
    assert!(e.contains("unknown function `format.nope`"), "{e}");
    // Comprehension variables are bound, not unknown.
    let ctx = environment();
    let ok = params(
        vec![policy(json!({"validations": [{"expression": "[1, 2].all(x, x > 0) && {'a': 1}.exists(k, k == 'a')"}]}))],
        Value::Null,
    );
    load(&ctx, &ok, std::path::Path::new("/")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn shapes_are_checked_at_load() {
    assert!(load_error(json!({})).contains("needs at least one validation"));
    assert!(
        load_error(json!({"paramKind": {"kind": "ConfigMap"}, "validations": [{"expression": "true"}]}))
            .contains("with.params")
    );
    let e = load_error(json!({"validations": [{"expression": "true", "mesage": "typo"}]}));
    assert!(e.contains("unknown field `mesage`"), "{e}");
}

#[test]
fn files_are_read_from_the_snapshot_and_must_stay_in_it() {
    let dir = std::env::temp_dir().join(format!("capstan-cel-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/replicas.yaml"),
        serde_yaml::to_string(&policy(
            json!({"validations": [{"expression": "object.spec.replicas < 3", "message": "few"}]}),
        ))
        .unwrap(),
    )
    .unwrap();
    let ctx = environment();
    let p = Params { policies: vec![], files: vec!["policies".into()], params: Value::Null };
    let policies = load(&ctx, &p, &dir).unwrap();
    let found = check(&ctx, &policies, &[deployment("a", "x", json!({}))], None);
    assert_eq!(found[0].file.as_deref(), Some("policies/replicas.yaml"));
    for bad in ["../etc", "/etc"] {
        let p = Params { policies: vec![], files: vec![bad.into()], params: Value::Null };
        assert!(load(&ctx, &p, &dir).err().unwrap().contains("inside the snapshot"), "{bad}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
