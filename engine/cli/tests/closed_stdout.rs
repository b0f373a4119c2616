//! A reader that stops early (`capstan render | head`) ends the real binary
//! quietly, with the status a shell reports for a tool killed by SIGPIPE,
//! instead of Rust's "failed printing to stdout" panic.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// A Git repository holding one manifest of `n` ConfigMaps, and an
/// Application rendering it with builtin:yaml.
fn repo_with_objects(dir: &Path, n: usize) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    let manifest: String = (0..n)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  key: value-{i}\n"))
        .collect();
    std::fs::write(dir.join("manifests/all.yaml"), manifest).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).current_dir(dir).output().expect("git is needed");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "objects"]);
    let app = dir.join("app.yaml");
    std::fs::write(
        &app,
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {name: many}\nspec:\n  source: {repoURL: ., revision: HEAD, path: manifests}\n  destination: {namespace: many}\n",
    )
    .unwrap();
    app
}

#[test]
fn render_into_a_pipe_closed_early_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // ~300 KB of YAML: more than a pipe holds, so the binary is still
    // writing (blocked) when the reader goes away.
    let app = repo_with_objects(dir.path(), 3_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["--cache-dir"])
        .arg(dir.path().join("cache"))
        .args(["render", "-f"])
        .arg(&app)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 4];
    stdout.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"---\n");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "the binary panicked:\n{stderr}");
    assert_eq!(out.status.code(), Some(141), "stderr:\n{stderr}");
    assert!(stderr.trim().is_empty(), "nothing to say about a closed pipe, said:\n{stderr}");
}
