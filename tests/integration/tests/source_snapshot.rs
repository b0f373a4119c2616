//! Snapshots: hostile trees never reach outside the snapshot, caps stop
//! repository bombs, and GC removes snapshots no Application uses.

use capstan_integration::{GitRepo, TestEngine, app};
use capstan_source::{Error, Limits, Source, TreeProblem};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n";

#[test]
fn symlinks_out_of_the_repository_are_not_followed_by_the_render() {
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", CM);
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("deploy/passwd.yaml")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/passwd", repo.path().join("deploy/up.yaml")).unwrap();
    repo.write("shared/other.yaml", &CM.replace("settings", "other"));
    std::os::unix::fs::symlink("../shared/other.yaml", repo.path().join("deploy/other.yaml")).unwrap();
    repo.commit("hostile links");
    let engine = TestEngine::new();

    let out = engine.engine.render(&app("links", &repo, "main", "deploy", "")).unwrap();
    let mut names: Vec<&str> = out.rendered.objects.iter().map(|o| o.name()).collect();
    names.sort();
    assert_eq!(names, ["other", "settings"], "cm.yaml and the in-repository link only");
    let skipped = out.checkout.skipped.join("\n");
    assert!(skipped.contains("deploy/passwd.yaml") && skipped.contains("deploy/up.yaml"), "{skipped}");
    assert!(!out.checkout.snapshot.root().join("deploy/passwd.yaml").exists());
}

#[test]
fn dot_dot_tree_entries_are_refused_and_never_written() {
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", CM);
    repo.commit("base");
    // Git's CLI refuses such paths, so build the tree by hand:
    // deploy/../../escaped.yaml, as a `..` tree inside `deploy`.
    let git = |args: &[&str], input: &str| {
        let mut child = std::process::Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim().to_owned()
    };
    let blob = git(&["hash-object", "-w", "--stdin"], "kind: Escaped\n");
    let inner = git(&["mktree"], &format!("100644 blob {blob}\tescaped.yaml\n"));
    let dotdot = git(&["mktree"], &format!("040000 tree {inner}\t..\n"));
    let cm = repo.git(&["rev-parse", "HEAD:deploy/cm.yaml"]).trim().to_owned();
    let deploy = git(&["mktree"], &format!("100644 blob {cm}\tcm.yaml\n040000 tree {dotdot}\t..\n"));
    let root = git(&["mktree"], &format!("040000 tree {deploy}\tdeploy\n"));
    let commit = repo.git(&["commit-tree", &root, "-m", "hostile tree"]).trim().to_owned();

    let cache = tempfile::TempDir::new().unwrap();
    let err = Source::new(cache.path())
        .checkout(&repo.path().display().to_string(), cache.path(), &commit, "deploy")
        .unwrap_err();
    assert!(
        matches!(&err, Error::TreeEntry { path, problem: TreeProblem::InvalidName(_), .. } if path == "deploy/.."),
        "{err:?}"
    );
    let written: Vec<_> = walk(cache.path()).into_iter().filter(|p| p.ends_with("escaped.yaml")).collect();
    assert!(written.is_empty(), "escaped.yaml written at {written:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn file_count_and_size_caps_stop_repository_bombs() {
    let repo = GitRepo::new();
    for i in 0..20 {
        repo.write(&format!("deploy/cm-{i}.yaml"), CM);
    }
    repo.commit("many files");
    let cache = tempfile::TempDir::new().unwrap();
    let url = repo.path().display().to_string();
    let few = Source::new(cache.path()).with_limits(Limits { max_files: 10, max_bytes: 1 << 20, ..Limits::default() });
    assert!(matches!(few.checkout(&url, cache.path(), "main", "deploy"), Err(Error::TooLarge { .. })));
    let small = Source::new(cache.path()).with_limits(Limits { max_files: 100, max_bytes: 500, ..Limits::default() });
    let err = small.checkout(&url, cache.path(), "main", "deploy").unwrap_err();
    assert!(err.to_string().contains("more than 500 bytes"), "{err}");
    assert!(
        Source::new(cache.path()).checkout(&url, cache.path(), "main", "deploy").is_ok(),
        "no half snapshot left behind"
    );
}

#[test]
fn gc_removes_unused_snapshots_and_keeps_those_in_use() {
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", CM);
    repo.commit("one");
    let cache = tempfile::TempDir::new().unwrap();
    let source = Source::new(cache.path());
    let url = repo.path().display().to_string();
    let old = source.checkout(&url, cache.path(), "main", "deploy").unwrap();
    repo.write("deploy/cm.yaml", &CM.replace("blue", "red"));
    repo.commit("two");
    let new = source.checkout(&url, cache.path(), "main", "deploy").unwrap();
    assert_ne!(old.tree, new.tree);

    let report = source.gc([new.tree.as_str()]).unwrap();
    assert_eq!(report.removed, std::slice::from_ref(&old.tree));
    assert_eq!(report.kept, 1);
    assert!(!old.snapshot.root().exists(), "read-only snapshot directories are removed too");
    assert!(new.snapshot.root().join("deploy/cm.yaml").exists());
    assert!(source.gc([new.tree.as_str()]).unwrap().removed.is_empty());
}

/// A snapshot an older engine wrote (the layout before the hostile-tree
/// checks, directly under `CACHE/snapshots/<tree>`) is never reused: the
/// tree is checked and written again, and GC removes the old one.
#[test]
fn snapshots_of_an_older_layout_are_not_reused_and_gc_removes_them() {
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", CM);
    repo.commit("one");
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]).trim().to_owned();
    let cache = tempfile::TempDir::new().unwrap();
    let old = cache.path().join("snapshots").join(&tree);
    std::fs::create_dir_all(old.join("deploy")).unwrap();
    std::fs::write(old.join("deploy/cm.yaml"), "written by a laxer engine").unwrap();
    let source = Source::new(cache.path());
    let url = repo.path().display().to_string();
    let checkout = source.checkout(&url, cache.path(), "main", "deploy").unwrap();
    assert_eq!(checkout.snapshot.root(), cache.path().join("snapshots/v2").join(&tree));
    assert_eq!(std::fs::read_to_string(checkout.snapshot.root().join("deploy/cm.yaml")).unwrap(), CM);
    source.gc([tree.as_str()]).unwrap();
    assert!(!old.exists(), "the old layout is removed");
    assert!(checkout.snapshot.root().exists(), "the snapshot in use stays");
}
