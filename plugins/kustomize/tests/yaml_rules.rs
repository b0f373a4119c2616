//! builtin:kustomize reads YAML as `kubectl kustomize` does: resources and
//! strategic-merge patches with go-yaml v3 (`yes` is a string, `0755` is
//! 493, a date becomes RFC 3339 text), the kustomization and JSON 6902
//! patches with kubectl's YAML 1.1 rules (`yes` is true). A generated set
//! of such scalars and keys goes through a base, an overlay, both kinds of
//! patch and a name prefix; the result must equal kubectl's own reading
//! (`kubectl annotate --local -o json`, as `kubectl apply -k` reads) of
//! `kubectl kustomize` output for the same files.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use capstan_kustomize::{DirFs, Options, build};
use serde_json::Value;

/// Plain scalars whose meaning depends on the YAML rules.
fn scalars() -> Vec<String> {
    let mut out = Vec::new();
    for word in ["y", "yes", "n", "no", "on", "off", "true", "false", "null"] {
        let mut upper_tail = word[..1].to_string();
        upper_tail.push_str(&word[1..].to_uppercase());
        let mut capital = word[..1].to_uppercase();
        capital.push_str(&word[1..]);
        out.extend([word.to_string(), word.to_uppercase(), capital, upper_tail]);
    }
    out.extend(
        [
            "~",
            "0755",
            "0644",
            "0o17",
            "-0o17",
            "0x1F",
            "0b101",
            "1_000",
            "007",
            "08",
            "09.5",
            "-0",
            "+1",
            "1:20",
            "190:20:30",
            "-1:30",
            ".5",
            "1e3",
            "1.5e-3",
            "1.",
            "12e03",
            "1e6",
            "0.1",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14T21:59:43Z",
            "2001-12-14 21:59:43.10",
            "2001-2-3",
            "2001-12-14 21:59:43.10 -5",
            "2001-02-29",
            "1.2.3",
            "0x",
            "100m",
            "v1",
        ]
        .map(String::from),
    );
    out.sort();
    out.dedup();
    out
}

/// Keys that go-yaml v3 reads as strings but YAML 1.1 readers may not.
const KEYS: [&str; 8] = ["on", "N", "yes", "Off", "y", "1:20", "true_", "NULL_"];

/// Fields `values` (a mapping of `"scalar": scalar` lines: the quoted key
/// names the plain value) and, with `keys`, `keys` (a mapping with
/// [`KEYS`], which YAML 1.1 readers take for duplicate booleans), indented
/// by `indent`.
fn block(indent: &str, keys: bool) -> String {
    let mut text = format!("{indent}values:\n");
    for s in scalars() {
        text.push_str(&format!("{indent}  {s:?}: {s}\n"));
    }
    if keys {
        text.push_str(&format!("{indent}keys:\n"));
        for (i, k) in KEYS.iter().enumerate() {
            text.push_str(&format!("{indent}  {k}: {i}\n"));
        }
    }
    text
}

fn write_case(root: &Path) {
    let write = |path: &str, text: String| {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "base/probe.yaml",
        format!("apiVersion: example.com/v1\nkind: Probe\nmetadata:\n  name: p\nbase:\n{}", block("  ", true)),
    );
    write("base/kustomization.yaml", "resources:\n- probe.yaml\n".into());
    write(
        "overlay/smp.yaml",
        format!("apiVersion: example.com/v1\nkind: Probe\nmetadata:\n  name: p\nsmp:\n{}", block("  ", true)),
    );
    let mut json = String::from("- op: add\n  path: /json\n  value:\n");
    json.push_str(&block("    ", false));
    write("overlay/json.yaml", json);
    write(
        "overlay/kustomization.yaml",
        "resources:\n- ../base\nnamePrefix: x-\npatches:\n- path: smp.yaml\n- path: json.yaml\n  target:\n    kind: Probe\n"
            .into(),
    );
}

/// kubectl's reading of a YAML stream, or `None` when kubectl is missing.
fn kubectl_read(yaml: &str) -> Option<Vec<Value>> {
    let mut child = Command::new("kubectl")
        .args(["annotate", "--local", "-f", "-", "capstan.test/read=back", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let docs = serde_json::Deserializer::from_slice(&output.stdout)
        .into_iter::<Value>()
        .map(|doc| {
            let mut doc = doc.unwrap();
            doc["metadata"].as_object_mut().unwrap().remove("annotations");
            doc
        })
        .collect();
    Some(docs)
}

fn kubectl_kustomize(dir: &Path) -> Option<std::process::Output> {
    Command::new("kubectl").arg("kustomize").arg(dir).output().ok()
}

/// Equal values, numbers compared by value (`1000` and `1000.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capstan-kustomize-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn scalars_and_keys_read_as_kubectl_kustomize_reads_them() {
    let root = temp("yaml-rules");
    write_case(&root);
    let ours = build(&DirFs::new(&root), Path::new("overlay"), &Options::default()).unwrap();
    // Some fixed points, so that the test means something without kubectl.
    let probe = &ours[0];
    assert_eq!(probe["base"]["values"]["0755"], 493, "octal numbers in resources");
    assert_eq!(probe["base"]["values"]["yes"], "yes", "`yes` in a resource is a string to kustomize");
    assert_eq!(probe["smp"]["values"]["On"], "On", "and in a strategic-merge patch");
    assert_eq!(probe["json"]["values"]["On"], true, "but a boolean in a JSON 6902 patch");
    assert_eq!(probe["base"]["values"]["2001-12-14"], "2001-12-14T00:00:00Z");
    assert_eq!(probe["base"]["values"]["Null"], Value::Null);
    assert_eq!(probe["base"]["keys"]["on"], 0, "`on` is a string key to kustomize");
    let output = kubectl_kustomize(&root.join("overlay"));
    let _ = std::fs::remove_dir_all(&root);
    let Some(output) = output else {
        eprintln!("skipping the comparison with kubectl kustomize: kubectl is not installed");
        return;
    };
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let theirs = kubectl_read(&String::from_utf8_lossy(&output.stdout)).unwrap();
    assert_eq!(ours.len(), theirs.len());
    for field in ["base", "smp", "json"] {
        for (key, want) in theirs[0][field]["values"].as_object().unwrap() {
            let got = &ours[0][field]["values"][key];
            assert!(same(got, want), "{field}.{key}: builtin:kustomize reads {got}, kubectl kustomize {want}");
        }
    }
    assert!(same(&ours[0], &theirs[0]), "{}\n{}", ours[0], theirs[0]);
}

/// Keys go-yaml v3 reads as numbers, booleans or timestamps: `kubectl
/// kustomize` refuses them, and so does builtin:kustomize, saying why.
#[test]
fn keys_that_are_not_strings_are_refused_as_kubectl_kustomize_does() {
    for key in ["0755", "1.5", "True", "2001-12-14"] {
        let root = temp("yaml-keys");
        std::fs::create_dir_all(&root).unwrap();
        let probe = format!("apiVersion: example.com/v1\nkind: Probe\nmetadata:\n  name: p\ndata:\n  {key}: x\n");
        std::fs::write(root.join("probe.yaml"), probe).unwrap();
        std::fs::write(root.join("kustomization.yaml"), "resources:\n- probe.yaml\n").unwrap();
        let ours = build(&DirFs::new(&root), Path::new("."), &Options::default());
        let err = capstan_kustomize::error::chain(&ours.expect_err(key));
        assert!(err.contains("probe.yaml") && err.contains("quote it"), "{key}: {err}");
        if let Some(output) = kubectl_kustomize(&root) {
            assert!(!output.status.success(), "{key}: kubectl kustomize accepted it");
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
