//! Empty and null values keep their meaning through the transformers, as
//! kustomize keeps them: property tests over generated Deployments (a fixed
//! pseudo-random sequence, so failures repeat) whose fields are null, empty
//! lists, empty maps or small values.
//!
//! - Without an oracle, over many documents: fields no transformer targets
//!   come out exactly as they went in, and the fields the image transformer
//!   walks (`containers[]`, `initContainers[]`) change only from null to `[]`.
//! - Against `kubectl kustomize`, over fewer documents (one call per
//!   kustomization): the whole output equals kubectl's, read as
//!   `kubectl apply -k` reads it.

use std::path::{Path, PathBuf};
use std::process::Command;

use capstan_kustomize::{DirFs, Options, build};
use serde_json::{Value, json};

/// A fixed pseudo-random sequence.
struct Rng(u64);

impl Rng {
    fn pick<T: Clone>(&mut self, choices: &[T]) -> T {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        choices[(self.0 >> 33) as usize % choices.len()].clone()
    }
}

/// Sets `key` to a choice; `None` leaves it out.
fn maybe(map: &mut serde_json::Map<String, Value>, key: &str, rng: &mut Rng, choices: &[Option<Value>]) {
    if let Some(v) = rng.pick(choices) {
        map.insert(key.into(), v);
    }
}

fn container(rng: &mut Rng, name: &str) -> Value {
    let mut c = serde_json::Map::new();
    c.insert("name".into(), name.into());
    c.insert("image".into(), rng.pick(&["nginx", "busybox:1.36", "registry.example.com/app@sha256:0"]).into());
    maybe(&mut c, "env", rng, &[None, Some(Value::Null), Some(json!([])), Some(json!([{"name": "A", "value": ""}]))]);
    maybe(&mut c, "ports", rng, &[None, Some(Value::Null), Some(json!([])), Some(json!([{"containerPort": 80}]))]);
    maybe(&mut c, "args", rng, &[None, Some(Value::Null), Some(json!([])), Some(json!([""]))]);
    maybe(&mut c, "resources", rng, &[None, Some(Value::Null), Some(json!({})), Some(json!({"limits": {}}))]);
    Value::Object(c)
}

/// One Deployment with empty and null values in many places.
fn deployment(rng: &mut Rng, i: usize) -> Value {
    let list = |rng: &mut Rng, name: &str| -> Option<Value> {
        match rng.pick(&[0, 1, 2, 3]) {
            0 => None,
            1 => Some(Value::Null),
            2 => Some(json!([])),
            _ => Some(json!([container(rng, name)])),
        }
    };
    let mut spec = serde_json::Map::new();
    if let Some(v) = list(rng, "main") {
        spec.insert("containers".into(), v);
    }
    if let Some(v) = list(rng, "init") {
        spec.insert("initContainers".into(), v);
    }
    let configmap_volume = json!([{"name": "v", "configMap": {"name": "cm", "defaultMode": 420}}]);
    maybe(&mut spec, "volumes", rng, &[None, Some(Value::Null), Some(json!([])), Some(configmap_volume)]);
    maybe(&mut spec, "tolerations", rng, &[None, Some(Value::Null), Some(json!([]))]);
    maybe(&mut spec, "nodeSelector", rng, &[None, Some(Value::Null), Some(json!({}))]);
    maybe(&mut spec, "imagePullSecrets", rng, &[None, Some(Value::Null), Some(json!([])), Some(json!([{}]))]);
    maybe(&mut spec, "securityContext", rng, &[None, Some(Value::Null), Some(json!({}))]);
    let mut template = serde_json::Map::new();
    let template_meta = [None, Some(Value::Null), Some(json!({})), Some(json!({"annotations": {}, "labels": {}}))];
    maybe(&mut template, "metadata", rng, &template_meta);
    template.insert("spec".into(), Value::Object(spec));
    let mut meta = serde_json::Map::new();
    meta.insert("name".into(), format!("d{i}").into());
    maybe(&mut meta, "annotations", rng, &[None, Some(Value::Null), Some(json!({})), Some(json!({"a": ""}))]);
    maybe(&mut meta, "labels", rng, &[None, Some(json!({})), Some(json!({"app": "x"}))]);
    let mut deploy_spec = serde_json::Map::new();
    maybe(&mut deploy_spec, "replicas", rng, &[None, Some(Value::Null), Some(json!(0))]);
    maybe(&mut deploy_spec, "strategy", rng, &[None, Some(Value::Null), Some(json!({}))]);
    maybe(&mut deploy_spec, "extra", rng, &[None, Some(json!({"a": null, "b": [], "c": {}, "d": [null, {}]}))]);
    deploy_spec.insert("template".into(), Value::Object(template));
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": deploy_spec})
}

/// Kustomizations whose transformers do not mean to touch the generated
/// fields (an image rule that matches no image, among others).
const KUSTOMIZATIONS: [&str; 3] = [
    "resources:\n- deployments.yaml\n",
    "resources:\n- deployments.yaml\nnamePrefix: p-\nnamespace: prod\nimages:\n- name: not-used\n  newTag: \"2\"\n",
    "resources:\n- deployments.yaml\ncommonAnnotations:\n  team: a\nlabels:\n- pairs:\n    tier: web\nimages:\n- name: nginx\n  newTag: \"1.27\"\npatches:\n- patch: |\n    - op: add\n      path: /spec/paused\n      value: false\n  target:\n    kind: Deployment\n",
];

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capstan-kustomize-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn render(dir: &Path, docs: &[Value], kustomization: &str) -> Vec<Value> {
    let text: String = docs.iter().map(|d| format!("---\n{}\n", serde_json::to_string(d).unwrap())).collect();
    std::fs::write(dir.join("deployments.yaml"), text).unwrap();
    std::fs::write(dir.join("kustomization.yaml"), kustomization).unwrap();
    build(&DirFs::new(dir), Path::new("."), &Options::default()).unwrap()
}

/// The pod-spec fields no transformer of [`KUSTOMIZATIONS`] targets.
const UNTOUCHED: [&str; 5] = ["tolerations", "nodeSelector", "imagePullSecrets", "securityContext", "volumes"];

#[test]
fn fields_no_transformer_targets_keep_their_shape() {
    let mut rng = Rng(0x5eed);
    let dir = temp("empty-values");
    for round in 0..40 {
        let docs: Vec<Value> = (0..25).map(|i| deployment(&mut rng, i)).collect();
        for kustomization in KUSTOMIZATIONS.iter().take(2) {
            let out = render(&dir, &docs, kustomization);
            assert_eq!(out.len(), docs.len());
            for before in &docs {
                let name = before["metadata"]["name"].as_str().unwrap();
                let after =
                    out.iter().find(|o| o["metadata"]["name"].as_str().unwrap().trim_start_matches("p-") == name);
                let after = after.unwrap();
                let at = |v: &Value, f: &str| v["spec"]["template"]["spec"].get(f).cloned();
                for field in UNTOUCHED {
                    assert_eq!(at(before, field), at(after, field), "round {round}: {field} of {before}");
                }
                // The image transformer expects lists there (`containers[]`).
                let images = kustomization.contains("images:");
                for field in ["containers", "initContainers"] {
                    let want = match at(before, field) {
                        Some(Value::Null) if images => Some(json!([])),
                        other => other,
                    };
                    assert_eq!(at(after, field), want, "round {round}: {field} of {before}");
                }
                assert_eq!(before["spec"].get("extra"), after["spec"].get("extra"), "round {round}: {before}");
                assert_eq!(before["spec"].get("replicas"), after["spec"].get("replicas"), "round {round}");
                let empty_annotations =
                    before["metadata"].get("annotations").is_some_and(|a| a.is_null() || a == &json!({}));
                if empty_annotations {
                    assert_eq!(after["metadata"].get("annotations"), None, "kustomize drops empty annotations");
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn null_and_empty_values_follow_kubectl_kustomize() {
    let mut rng = Rng(0xc0ffee);
    let dir = temp("empty-values-kubectl");
    let docs: Vec<Value> = (0..30).map(|i| deployment(&mut rng, i)).collect();
    for kustomization in KUSTOMIZATIONS {
        let ours = render(&dir, &docs, kustomization);
        let Ok(output) = Command::new("kubectl").arg("kustomize").arg(&dir).output() else {
            eprintln!("skipping the comparison with kubectl kustomize: kubectl is not installed");
            return;
        };
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let theirs = capstan_plugin::yaml::from_str(&String::from_utf8_lossy(&output.stdout)).unwrap();
        assert_eq!(ours.len(), theirs.len());
        for (got, want) in ours.iter().zip(&theirs) {
            assert_eq!(got, want, "with kustomization:\n{kustomization}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
