//! The committed Python and TypeScript example plugins as stages of an
//! Application's pipeline, as a team would use them after `capstan plugin
//! build`: the TypeScript transformer labels what `builtin:yaml` rendered,
//! the Python validator checks it, under `warn` and under `deny`. The
//! components are large (12.5 and 19.4 MB, several core instances each),
//! so this proves the engine's pool, limits and compile deadline take them.

use std::path::{Path, PathBuf};

use capstan_integration::{GitRepo, TestEngine, app};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins").join(name)
}

/// `{plugin: <committed component>, digest: <its sha256>, with: <with>}`.
fn example_stage(component: &Path, with: &str, rest: &str) -> String {
    let digest = capstan_host::sha256_digest(&std::fs::read(component).expect("the example's component is committed"));
    format!("{{plugin: {}, digest: \"{digest}\", with: {with}{rest}}}", component.display())
}

#[test]
fn python_and_typescript_plugins_run_in_an_applications_pipeline() {
    let repo = GitRepo::new();
    let input = std::fs::read_to_string(example("require-limits/fixtures/input.yaml")).unwrap();
    repo.write("shop/all.yaml", &input);
    let head = repo.commit("the shop");
    let transformer = example_stage(&example("cost-centre/cost_centre.wasm"), "{costCentre: cc-1234}", "");
    let validator = |enforcement: &str| {
        let rest = format!(", enforcement: {enforcement}");
        example_stage(&example("require-limits/require_limits.wasm"), "{resources: [cpu, memory]}", &rest)
    };
    let spec = |enforcement: &str| {
        format!("  render:\n  - plugin: builtin:yaml\n  - {transformer}\n  policy:\n  - {}\n", validator(enforcement))
    };
    let engine = TestEngine::new();

    let output = engine.engine.render(&app("shop", &repo, &head, "shop", &spec("warn"))).unwrap();
    let rendered = output.rendered;
    let labelled: Vec<_> = rendered
        .objects
        .iter()
        .filter(|o| o.as_value().pointer("/metadata/labels/cost-centre").and_then(|v| v.as_str()) == Some("cc-1234"))
        .map(|o| o.as_value()["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        labelled,
        ["Deployment", "CronJob", "Pod", "ConfigMap"],
        "the TypeScript transformer labelled each object"
    );
    let template = rendered.objects[0].as_value().pointer("/spec/template/metadata/labels/cost-centre");
    assert_eq!(template.and_then(|v| v.as_str()), Some("cc-1234"), "and the Deployment's pod template");
    let findings: Vec<_> = rendered.verdicts.iter().map(|v| v.diagnostic.message.clone()).collect();
    assert_eq!(
        findings,
        ["container log-shipper sets no resources.limits (needs cpu, memory)", "container report sets no memory limit"],
        "the Python validator's findings, kept under warn"
    );

    let error = engine.engine.render(&app("shop", &repo, &head, "shop", &spec("deny"))).unwrap_err();
    let message = format!("{error:#}");
    for expected in [
        "policies denied the sync with 2 violation(s)",
        "Deployment/shop/shop spec.template.spec.containers[1].resources.limits: container log-shipper sets no resources.limits",
        "CronJob/shop/nightly-report",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
}
