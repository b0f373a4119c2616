//! Error behaviour on small in-memory snapshots: the root is a hard
//! boundary, remote resources are refused, and every error names the
//! kustomization file and field.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use capstan_kustomize::{Fs, LoadRestrictor, Options, build, error::chain};

/// A snapshot held in memory: file path → content.
struct MemFs(BTreeMap<PathBuf, String>);

impl MemFs {
    fn new(files: &[(&str, &str)]) -> MemFs {
        MemFs(files.iter().map(|(p, c)| (PathBuf::from(p), c.to_string())).collect())
    }
}

impl Fs for MemFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0.get(path).map(|s| s.clone().into_bytes()).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.as_os_str().is_empty() || self.0.keys().any(|k| k.starts_with(path) && k != path)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
}

fn err(files: &[(&str, &str)], dir: &str, opts: &Options) -> String {
    match build(&MemFs::new(files), Path::new(dir), opts) {
        Ok(v) => panic!("expected an error, got {} objects", v.len()),
        Err(e) => chain(&e),
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";

#[test]
fn paths_never_leave_the_snapshot_even_without_restrictions() {
    let files = [("app/kustomization.yaml", "resources:\n- ../../../etc/passwd\n")];
    let opts = Options { load_restrictor: LoadRestrictor::None };
    let e = err(&files, "app", &opts);
    assert!(e.contains("app/kustomization.yaml") && e.contains("resources") && e.contains("escapes the root"), "{e}");
}

#[test]
fn root_only_refuses_files_beside_the_kustomization() {
    let files = [("app/kustomization.yaml", "resources:\n- ../cm.yaml\n"), ("cm.yaml", CM)];
    let e = err(&files, "app", &Options::default());
    assert!(e.contains("is not in or below"), "{e}");
    let ok = build(&MemFs::new(&files), Path::new("app"), &Options { load_restrictor: LoadRestrictor::None }).unwrap();
    assert_eq!(ok.len(), 1);
}

#[test]
fn remote_resources_are_refused() {
    let files = [(
        "kustomization.yaml",
        "resources:\n- https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.5.0\n",
    )];
    let e = err(&files, "", &Options::default());
    assert!(e.contains("remote resource") && e.contains("network"), "{e}");
}

#[test]
fn cycles_are_detected() {
    let files = [("a/kustomization.yaml", "resources:\n- ../b\n"), ("b/kustomization.yaml", "resources:\n- ../a\n")];
    let e = err(&files, "a", &Options::default());
    assert!(e.contains("cycle"), "{e}");
}

#[test]
fn missing_files_name_the_kustomization_and_field() {
    let files = [("kustomization.yaml", "resources:\n- nope.yaml\n")];
    let e = err(&files, "", &Options::default());
    assert!(e.contains("kustomization.yaml") && e.contains("resources") && e.contains("nope.yaml"), "{e}");
    let files = [("kustomization.yaml", "resources:\n- cm.yaml\npatches:\n- path: nope.yaml\n"), ("cm.yaml", CM)];
    let e = err(&files, "", &Options::default());
    assert!(e.contains("field `patches`") && e.contains("nope.yaml"), "{e}");
}

#[test]
fn duplicate_ids_are_refused() {
    let files = [("kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n"), ("a.yaml", CM), ("b.yaml", CM)];
    let e = err(&files, "", &Options::default());
    assert!(e.contains("already registered id"), "{e}");
}

#[test]
fn invalid_patches_are_reported() {
    let files = [
        (
            "kustomization.yaml",
            "resources:\n- cm.yaml\npatches:\n- patch: \"- op: add\\n  path: /data/x/y\\n  value: 1\"\n  target:\n    kind: ConfigMap\n",
        ),
        ("cm.yaml", CM),
    ];
    let e = err(&files, "", &Options::default());
    assert!(e.contains("field `patches`") && e.contains("missing"), "{e}");
    let files = [
        ("kustomization.yaml", "resources:\n- cm.yaml\npatches:\n- patch: \"- op: add\\n  path: /data\"\n"),
        ("cm.yaml", CM),
    ];
    let e = err(&files, "", &Options::default());
    assert!(e.contains("target"), "{e}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for text in
        ["resources: 3\n", "{{{", "resources:\n- [1, 2]\n", "patches:\n- patch: 7\n", "namePrefix: {a: b}\n", "\u{0}"]
    {
        let files = [("kustomization.yaml", text)];
        let _ = build(&MemFs::new(&files), Path::new(""), &Options::default());
    }
    let files = [
        ("kustomization.yaml", "resources:\n- x.yaml\n"),
        ("x.yaml", "kind: ConfigMap\nmetadata: 5\n---\n- 1\n---\n\"str\"\n"),
    ];
    let _ = build(&MemFs::new(&files), Path::new(""), &Options::default());
}

#[test]
fn a_small_overlay_renders() {
    let files = [
        ("base/kustomization.yaml", "resources:\n- cm.yaml\nconfigMapGenerator:\n- name: gen\n  literals:\n  - a=b\n"),
        ("base/cm.yaml", CM),
        ("overlay/kustomization.yaml", "resources:\n- ../base\nnamePrefix: p-\nnamespace: ns\n"),
    ];
    let out = build(&MemFs::new(&files), Path::new("overlay"), &Options::default()).unwrap();
    let names: Vec<&str> = out.iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
    // The hash suffix is the one `kubectl kustomize` v5.5 gives.
    assert_eq!(names, ["p-cm", "p-gen-4h2mbtbbt6"]);
    assert!(out.iter().all(|o| o["metadata"]["namespace"] == "ns"));
}
