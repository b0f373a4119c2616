//! Policy libraries through `capstan policy test`: Gatekeeper's own library
//! templates (required labels, allowed repos, privileged containers,
//! container limits) against their upstream gator suites and fixtures,
//! unchanged; and the starter library of `examples/policies/`, each policy
//! in CEL and in Rego, against passing and failing fixtures.

use std::path::{Path, PathBuf};

use capstan_host::{Builtins, HostConfig, Limits, PluginHost};

fn host() -> PluginHost {
    PluginHost::new(HostConfig {
        builtins: Builtins::Dir(capstan_test_artifacts::GUEST_DIR.into()),
        ..HostConfig::default()
    })
    .unwrap()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn gatekeeper_library_templates_pass_their_upstream_suites() {
    let report =
        capstan::policy_test::run(&root().join("tests/policies/gatekeeper"), &host(), &Limits::default()).unwrap();
    println!("{}", report.text);
    assert_eq!(report.failed, 0, "{}", report.text);
    // requiredlabels 5, allowedrepos 5, privileged-containers 5, containerlimits 4.
    assert_eq!(report.passed, 19, "{}", report.text);
}

#[test]
fn the_starter_library_passes_its_fixtures() {
    let report = capstan::policy_test::run(&root().join("examples/policies"), &host(), &Limits::default()).unwrap();
    println!("{}", report.text);
    assert_eq!(report.failed, 0, "{}", report.text);
    assert!(report.passed >= 20, "{}", report.text);
}

#[test]
fn a_failing_expectation_is_reported() {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(dir.path().join("obj.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").unwrap();
    std::fs::write(
        dir.path().join("suite.yaml"),
        "apiVersion: capstan.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: t}\nspec:\n  policy:\n    plugin: builtin:rego\n    with: {modules: {m.rego: \"package m\\ndeny contains \\\"always\\\" if { true }\\n\"}}\n  cases:\n  - name: expects-none\n    object: obj.yaml\n    assertions: [{violations: no}]\n  - name: expects-one\n    object: obj.yaml\n    assertions: [{violations: 1, message: alw}]\n",
    )
    .unwrap();
    let report = capstan::policy_test::run(dir.path(), &host(), &Limits::default()).unwrap();
    assert_eq!((report.passed, report.failed), (1, 1), "{}", report.text);
    assert!(report.text.contains("FAIL"), "{}", report.text);
    assert!(report.text.contains("/t/expects-none: expected violations no, found 1: [\"always\"]"), "{}", report.text);
}
