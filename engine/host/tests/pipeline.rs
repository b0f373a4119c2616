//! The pipeline runner with real components: renderer → transformers →
//! validators, digests checked before compiling, policy enforcement, every
//! failure naming its stage, and `spec.limits` reaching the leash.

use std::path::Path;

use capstan_host::pipeline::{Error, Pipeline};
use capstan_host::{Builtins, HostConfig, Limits, PluginHost, RenderCall};
use capstan_types::{Application, Severity};
use serde_json::Value;
use tempfile::TempDir;

const GUESTS: &str = capstan_test_artifacts::GUEST_DIR;

struct Fixture {
    host: PluginHost,
    snapshot: TempDir,
    _cache: TempDir,
}

fn fixture() -> Fixture {
    let cache = TempDir::new().unwrap();
    let config = HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        builtins: Builtins::Dir(GUESTS.into()),
        ..HostConfig::default()
    };
    let snapshot = TempDir::new().unwrap();
    std::fs::create_dir_all(snapshot.path().join("app")).unwrap();
    let manifests = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, labels: {team: db}}\n";
    std::fs::write(snapshot.path().join("app/all.yaml"), manifests).unwrap();
    Fixture { host: PluginHost::new(config).unwrap(), snapshot, _cache: cache }
}

/// `plugin: <path of the test program>, digest: <its sha256>` as YAML.
fn stage(program: &str, rest: &str) -> String {
    let path = Path::new(GUESTS).join(format!("capstan_test_{program}.wasm"));
    let digest = capstan_host::sha256_digest(&std::fs::read(&path).unwrap());
    format!("{{plugin: {}, digest: \"{digest}\"{rest}}}", path.display())
}

fn app(spec: &str) -> Application {
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: p}}\nspec:\n  source: {{repoURL: ., path: app}}\n{spec}"
    );
    Application::from_yaml(&text).unwrap()
}

fn run(f: &Fixture, spec: &str) -> Result<capstan_host::Rendered, Error> {
    let app = app(spec);
    let pipeline = Pipeline::for_app(&app.spec, f.snapshot.path(), "app", &Limits::default())?;
    let call = RenderCall {
        snapshot: f.snapshot.path(),
        path: "app",
        app: "p",
        namespace: None,
        revision: "abc",
        params: &Value::Null,
    };
    pipeline.run(&f.host, &call, Path::new("/"))
}

#[test]
fn renderer_then_transformer_then_passing_policy() {
    let f = fixture();
    let spec = format!(
        "  render:\n  - plugin: builtin:yaml\n  - {}\n  policy:\n  - {}\n",
        stage("labels", ", with: {team: web}"),
        stage("policy", ", with: {requireLabel: team}")
    );
    let rendered = run(&f, &spec).unwrap();
    let labels: Vec<_> = rendered.objects.iter().map(|o| o.as_value()["metadata"]["labels"]["team"].clone()).collect();
    assert_eq!(labels, ["web", "web"]);
    assert!(rendered.diagnostics.iter().all(|d| d.severity == Severity::Info), "{:?}", rendered.diagnostics);
    assert_eq!(rendered.diagnostics.len(), 2);
}

#[test]
fn a_denying_policy_fails_the_pipeline_and_names_the_objects() {
    let f = fixture();
    let spec = format!("  policy:\n  - {}\n", stage("policy", ", with: {requireLabel: team}"));
    let error = run(&f, &spec).unwrap_err();
    let plugin = Path::new(GUESTS).join("capstan_test_policy.wasm");
    assert_eq!(
        error.to_string(),
        format!(
            "policies denied the sync with 1 violation(s): spec.policy[0] ({}): ConfigMap/a metadata.labels.team: label team is required",
            plugin.display()
        )
    );
}

#[test]
fn warn_and_audit_policies_report_without_failing() {
    let f = fixture();
    for enforcement in ["warn", "audit"] {
        let spec = format!(
            "  policy:\n  - {}\n",
            stage("policy", &format!(", with: {{requireLabel: team}}, enforcement: {enforcement}"))
        );
        let rendered = run(&f, &spec).unwrap();
        let errors: Vec<_> =
            rendered.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.message.as_str()).collect();
        assert_eq!(errors, ["label team is required"], "{enforcement}");
        assert_eq!(rendered.objects.len(), 2);
    }
}

#[test]
fn a_stage_of_the_wrong_world_is_named() {
    let f = fixture();
    let spec = format!("  render:\n  - plugin: builtin:yaml\n  - {}\n", stage("trivial", ""));
    let error = run(&f, &spec).unwrap_err();
    let plugin = Path::new(GUESTS).join("capstan_test_trivial.wasm").display().to_string();
    assert_eq!(
        format!("{:#}", anyhow::Error::new(error)),
        format!(
            "render[1] ({plugin}) failed: plugin {plugin}: is a renderer plugin, but this stage needs a transformer (exporting capstan:plugin/transform@0.1.0)"
        )
    );
}

#[test]
fn a_wrong_digest_is_refused_before_compiling() {
    let f = fixture();
    let path = Path::new(GUESTS).join("capstan_test_trivial.wasm");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let spec = format!("  render:\n  - {{plugin: {}, digest: \"{wrong}\"}}\n", path.display());
    let error = format!("{:#}", anyhow::Error::new(run(&f, &spec).unwrap_err()));
    assert!(
        error.starts_with(&format!(
            "render[0] ({0}) failed: plugin {0}: digest mismatch: expected {wrong}, found sha256:",
            path.display()
        )),
        "{error}"
    );
    let spec = format!("  render:\n  - {{plugin: {}}}\n", path.display());
    assert_eq!(
        format!("{:#}", anyhow::Error::new(run(&f, &spec).unwrap_err())),
        format!(
            "render[0] ({0}) failed: plugin {0}: a `digest: sha256:<hex>` is required for plugins that are not builtin",
            path.display()
        )
    );
}

#[test]
fn spec_limits_reach_the_leash() {
    let f = fixture();
    let spec = format!("  render:\n  - {}\n  limits: {{timeout: 50ms}}\n", stage("spin", ""));
    let error = format!("{:#}", anyhow::Error::new(run(&f, &spec).unwrap_err()));
    assert!(error.ends_with("deadline exceeded: stopped after 50ms"), "{error}");
    let spec = format!("  render:\n  - {}\n  limits: {{maxObjects: 1}}\n", stage("trivial", ""));
    assert_eq!(run(&f, &spec).unwrap().objects.len(), 1);
    let error = format!("{:#}", anyhow::Error::new(run(&f, "  limits: {maxObjects: 1}\n").unwrap_err()));
    assert_eq!(
        error,
        "render[0] (builtin:yaml) failed: plugin builtin:yaml: output rejected: 2 objects, over the cap of 1"
    );
    let error = format!("{:#}", anyhow::Error::new(run(&f, "  limits: {memory: 2Gi}\n").unwrap_err()));
    assert_eq!(
        error,
        "failed to read the plugin limits: invalid `spec.limits.memory`: \"2Gi\": must be between 1Mi and 1024Mi"
    );
}

#[test]
fn a_stage_limits_override_spec_limits_for_that_stage_only() {
    let f = fixture();
    let spin = stage("spin", ", limits: {timeout: 50ms}");
    let spec = format!("  render:\n  - {spin}\n  limits: {{timeout: 30s}}\n");
    let error = format!("{:#}", anyhow::Error::new(run(&f, &spec).unwrap_err()));
    assert!(error.starts_with("render[0] (") && error.ends_with("deadline exceeded: stopped after 50ms"), "{error}");
    let roomy = "  render:\n  - {plugin: builtin:yaml, limits: {maxObjects: 2}}\n  limits: {maxObjects: 1}\n";
    assert_eq!(run(&f, roomy).unwrap().objects.len(), 2);
    let other = roomy.replace("  limits:", &format!("  - {}\n  limits:", stage("labels", ", with: {team: web}")));
    let error = format!("{:#}", anyhow::Error::new(run(&f, &other).unwrap_err()));
    assert!(error.starts_with("render[1]") && error.ends_with("over the cap of 1"), "others keep spec.limits: {error}");
    let bad = "  policy:\n  - {plugin: builtin:yaml, limits: {timeout: 1h}}\n";
    let error = format!("{:#}", anyhow::Error::new(run(&f, bad).unwrap_err()));
    assert!(error.contains("invalid `spec.policy[0].limits.timeout`: \"1h\""), "{error}");
}
