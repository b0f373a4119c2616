//! `render` on snapshots built here: layouts (jsonnet-bundler `vendor/`,
//! `lib/`, Tanka environments, `libs`), entries (default, lists, globs),
//! external variables and top-level arguments, errors with their Jsonnet
//! stack trace, and imports confined to the snapshot (`..`, absolute
//! paths, links out, link loops).
// Native only: the snapshots are built with Unix symlinks.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use capstan_jsonnet::{Error, Options, render};
use serde_json::{Value, json};

/// A fresh directory; removed when dropped.
struct Snapshot(PathBuf);

impl Snapshot {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "capstan-jsonnet-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Snapshot(dir)
    }

    fn write(&self, path: &str, text: &str) -> &Self {
        let p = self.0.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    fn link(&self, path: &str, target: &str) -> &Self {
        let p = self.0.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    fn root(&self) -> &Path {
        &self.0
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn opts(v: Value) -> Options {
    serde_json::from_value(v).unwrap()
}

fn names(objects: &[Value]) -> Vec<String> {
    objects.iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

const CM: &str = "function(name) {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: name}}";

#[test]
fn jsonnet_bundler_and_tanka_layouts_resolve_vendor_and_lib() {
    let s = Snapshot::new();
    s.write("jsonnetfile.json", "{}")
        .write("vendor/github.com/acme/kube/kube.libsonnet", &format!("{{cm: {CM}}}"))
        .link("vendor/kube", "github.com/acme/kube")
        .write("lib/names.libsonnet", "{first: 'from-lib'}")
        .write("environments/prod/vendor/names.libsonnet", "{first: 'from-env-vendor'}")
        .write(
            "environments/prod/spec.json",
            r#"{"apiVersion": "tanka.dev/v1alpha1", "kind": "Environment", "spec": {"namespace": "prod"}}"#,
        )
        .write(
            "environments/prod/main.jsonnet",
            "local kube = import 'kube/kube.libsonnet'; local n = import 'names.libsonnet';\n{a: kube.cm(n.first)}",
        );
    let objects = render(s.root(), "environments/prod", Some("prod"), &Options::default()).unwrap();
    assert_eq!(names(&objects), ["from-lib"], "the project's lib/ comes before the vendor directories");
    // Tanka's spec.namespace must agree with the Application's destination.
    let error = render(s.root(), "environments/prod", Some("staging"), &Options::default()).unwrap_err();
    assert!(matches!(error, Error::Spec { .. }), "{error}");
    assert!(error.to_string().contains("'prod'") && error.to_string().contains("'staging'"), "{error}");
    // `libs` come first; the last listed wins, as with -J.
    s.write("other/a/names.libsonnet", "{first: 'from-a'}").write("other/b/names.libsonnet", "{first: 'from-b'}");
    let objects =
        render(s.root(), "environments/prod", Some("prod"), &opts(json!({"libs": ["other/a", "other/b"]}))).unwrap();
    assert_eq!(names(&objects), ["from-b"]);
    let error = render(s.root(), "environments/prod", Some("prod"), &opts(json!({"libs": ["../x"]}))).unwrap_err();
    assert!(error.to_string().contains("escapes the snapshot"), "{error}");
}

#[test]
fn entries_tlas_and_ext_vars() {
    let s = Snapshot::new();
    s.write("app/cm.libsonnet", CM)
        .write("app/a.jsonnet", "(import 'cm.libsonnet')(std.extVar('prefix') + '-a')")
        .write("app/b.jsonnet", "function(name, n) [(import 'cm.libsonnet')(name + '-' + i) for i in std.range(1, n)]")
        .write(
            "app/c.jsonnet",
            "(import 'cm.libsonnet')(std.extVar('obj').name + std.native('parseJson')('{\"s\": \"-\"}').s + std.native('sha256')('')[0:4])",
        );
    let o = opts(json!({
        "entry": ["a.jsonnet", "*.jsonnet"],
        "extVars": [{"name": "prefix", "value": "x"}, {"name": "obj", "value": "{name: 'c' + 'c'}", "code": true}],
        "tlas": [{"name": "name", "value": "b"}, {"name": "n", "value": "2", "code": true}],
    }));
    let objects = render(s.root(), "app", None, &o).unwrap();
    assert_eq!(names(&objects), ["x-a", "x-a", "b-1", "b-2", "cc-e3b0"], "entries in order, globs sorted");
    let error = render(s.root(), "app", None, &opts(json!({"entry": "nope.jsonnet"}))).unwrap_err();
    assert!(matches!(error, Error::NoEntry { .. }), "{error}");
    let error = render(s.root(), "app", None, &opts(json!({"entry": "b.jsonnet"}))).unwrap_err();
    assert!(error.to_string().contains("b.jsonnet"), "{error}");
    let error = render(s.root(), "app", None, &opts(json!({"entry": "*.yaml"}))).unwrap_err();
    assert!(error.to_string().contains("no file under 'app' matches '*.yaml'"), "{error}");
    let error = serde_json::from_value::<Options>(json!({"tla": []})).unwrap_err();
    assert!(error.to_string().contains("unknown field `tla`"), "{error}");
}

#[test]
fn errors_carry_the_jsonnet_stack_trace() {
    let s = Snapshot::new();
    s.write("app/lib.libsonnet", "{\n  check(x):: if x > 2 then error 'too big: ' + x else x,\n}\n")
        .write("app/main.jsonnet", "local lib = import 'lib.libsonnet';\n{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'n' + lib.check(3)}}\n");
    let error = render(s.root(), "app", None, &Options::default()).unwrap_err().to_string();
    assert!(error.starts_with("app/main.jsonnet: runtime error: too big: 3"), "{error}");
    assert!(error.contains("at app/lib.libsonnet:2:"), "{error}");
    assert!(error.contains("at app/main.jsonnet:2:"), "{error}");
    s.write("app/main.jsonnet", "local f(n) = if n == 0 then 0 else 1 + f(n - 1);\nf(1000)\n");
    let error = render(s.root(), "app", None, &Options::default()).unwrap_err().to_string();
    assert!(error.contains("stack overflow") && error.contains("app/main.jsonnet:1:"), "{error}");
    let deeper = render(s.root(), "app", None, &opts(json!({"maxStack": 2000}))).unwrap_err().to_string();
    assert!(deeper.contains("a number is not a Kubernetes object"), "maxStack lifts the bound: {deeper}");
    s.write("app/main.jsonnet", "{a: }");
    let error = render(s.root(), "app", None, &Options::default()).unwrap_err().to_string();
    assert!(error.contains("app/main.jsonnet:1:"), "{error}");
}

#[test]
fn imports_stay_inside_the_snapshot() {
    let outside = Snapshot::new();
    outside.write("secret.txt", "s3cret");
    let s = Snapshot::new();
    let secret = outside.root().join("secret.txt").display().to_string();
    s.write("shared/ok.txt", "fine")
        .link("app/inside.txt", "../shared/ok.txt")
        .link("app/out.txt", &secret)
        .link("app/up", "../..")
        .link("app/loop1", "loop2")
        .link("app/loop2", "loop1");
    let program =
        |body: &str| format!("{{apiVersion: 'v1', kind: 'ConfigMap', metadata: {{name: 'x'}}, data: {{v: {body}}}}}");
    let run = |body: &str| {
        s.write("app/main.jsonnet", &program(body));
        render(s.root(), "app", None, &Options::default())
    };
    assert_eq!(run("importstr 'inside.txt'").unwrap()[0]["data"]["v"], "fine");
    let rel = format!("importstr '../{}'", "../".repeat(20) + secret.trim_start_matches('/'));
    for body in [
        rel.as_str(),
        &format!("importstr '{secret}'"),
        "importstr 'out.txt'",
        "importstr 'up/x'",
        "importbin 'out.txt'",
    ] {
        let error = run(body).unwrap_err().to_string();
        assert!(error.contains("escapes the snapshot"), "{body}: {error}");
        assert!(!error.contains("s3cret"), "{body}: {error}");
    }
    let error = run("importstr 'loop1'").unwrap_err().to_string();
    assert!(error.contains("escapes the snapshot"), "a loop of links is refused: {error}");
    // The Application's path itself, and entries, are confined too.
    let error = render(s.root(), "../", None, &Options::default()).unwrap_err();
    assert!(matches!(error, Error::Escape { .. }), "{error}");
    let error = render(s.root(), "app", None, &opts(json!({"entry": "../../x.jsonnet"}))).unwrap_err();
    assert!(error.to_string().contains("escapes the snapshot"), "{error}");
}
