//! Hydration: render, then commit the plain manifests to a branch; the
//! same render again makes no commit.

use std::path::PathBuf;

use capstan::hydrate::{self, Destination};
use capstan_host::Builtins;
use capstan_integration::{GitRepo, TestEngine, app};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n";

#[test]
fn hydration_commits_once_then_not_again_for_the_same_render() {
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", CM).write("README.md", "docs\n");
    let source = repo.commit("app");
    let engine = TestEngine::new();
    let builtins = Builtins::Dir(PathBuf::from(capstan_test_artifacts::GUEST_DIR));
    let file = app("demo", &repo, "main", "deploy", "");
    let to: Destination = "hydrated:apps/demo".parse().unwrap();

    let first = hydrate::run(&engine.engine, &file, &to, None).unwrap();
    let commit = first.commit.expect("the first hydration commits");
    let manifest = repo.git(&["show", "hydrated:apps/demo/configmap-settings.yaml"]);
    assert!(manifest.contains("color: blue") && manifest.contains("kind: ConfigMap"), "{manifest}");
    let message = repo.git(&["log", "-1", "--format=%B", "hydrated"]);
    assert!(message.contains(&format!("Source-Commit: {source}")), "{message}");
    let yaml = capstan_host::sha256_digest(&builtins.get("yaml").unwrap());
    assert!(message.contains(&format!("Plugin: builtin:yaml {yaml}\n")), "{message}");
    assert_eq!(repo.git(&["rev-parse", "main"]).trim(), source, "the source branch is untouched");

    let again = hydrate::run(&engine.engine, &file, &to, None).unwrap();
    assert_eq!(again.commit, None, "same input, no commit");
    repo.write("README.md", "more docs\n");
    repo.commit("docs only");
    let docs = hydrate::run(&engine.engine, &file, &to, None).unwrap();
    assert_eq!(docs.commit, None, "a source change that renders the same makes no commit");
    assert_eq!(repo.git(&["rev-parse", "hydrated"]).trim(), commit);

    repo.remove("deploy/cm.yaml").write("deploy/other.yaml", &CM.replace("settings", "other"));
    repo.commit("rename");
    let changed = hydrate::run(&engine.engine, &file, &to, None).unwrap();
    assert!(changed.commit.is_some());
    let files = repo.git(&["ls-tree", "-r", "--name-only", "hydrated"]);
    assert_eq!(files.trim(), "apps/demo/configmap-other.yaml", "objects that left the render leave the branch");
}
