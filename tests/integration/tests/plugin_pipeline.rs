//! An Application's plugin pipeline end to end: a `deny` policy stops the
//! sync before anything reaches the API server; a transformer stage that
//! fixes the objects lets the same sync through.

use capstan::SyncOptions;
use capstan_apiserver::{test_target, unique_name};
use capstan_integration::{GitRepo, TestEngine, app, program_stage as stage};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

#[tokio::test]
async fn deny_policy_applies_nothing_and_a_transformer_fixes_it() {
    let repo = GitRepo::new();
    repo.write("apps/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unlabelled}\ndata: {a: b}\n");
    let sha = repo.commit("one");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("plugin-pipeline");
    let base = format!(
        "  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n  policy:\n  - {}\n",
        stage("policy", "{requireLabel: team}")
    );

    let writes = target.server.as_ref().map(|s| s.write_count());
    let denied = engine
        .engine
        .sync(&app("web", &repo, &sha, "apps/web", &base), target.client.clone(), &SyncOptions::default())
        .await;
    let text = format!("{:#}", denied.unwrap_err());
    assert!(
        text.contains("denied the sync with 1 violation(s): spec.policy[0] ")
            && text.contains("ConfigMap/unlabelled metadata.labels.team: label team is required"),
        "{text}"
    );
    assert_eq!(target.server.as_ref().map(|s| s.write_count()), writes, "a denied sync must not write");
    let config_maps: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    assert!(config_maps.get_opt("unlabelled").await.unwrap().is_none());

    let fixed = format!("{base}  render:\n  - plugin: builtin:yaml\n  - {}\n", stage("labels", "{team: web}"));
    let report = engine
        .engine
        .sync(&app("web", &repo, &sha, "apps/web", &fixed), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(report.render.stages.len(), 2);
    let cm = config_maps.get("unlabelled").await.unwrap();
    assert_eq!(cm.metadata.labels.unwrap()["team"], "web");
}

/// The render cache (engine/reconcile/src/render_cache.rs): an unchanged
/// render runs no plugin; a change of commit, path, plugin parameters or
/// platform policy renders again; a failed render is never kept.
#[test]
fn an_unchanged_render_comes_from_the_cache_and_any_input_change_renders_again() {
    let repo = GitRepo::new();
    repo.write("apps/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: b}\n");
    repo.write("apps/api/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api}\ndata: {a: b}\n");
    let first = repo.commit("one");
    let platform_dir = tempfile::tempdir().unwrap();
    let platform_file = platform_dir.path().join("platform.yaml");
    let platform = |team: &str| {
        format!(
            "apiVersion: capstan.dev/v1alpha1\nkind: PlatformPolicy\nmetadata: {{name: base}}\nspec:\n  policy:\n  - name: team\n    plugin: {}\n    digest: {}\n    with: {{requireLabel: {team}}}\n    enforcement: warn\n",
            program_path("policy").display(),
            program_digest("policy"),
        )
    };
    std::fs::write(&platform_file, platform("team")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut config = capstan_integration::engine_config(cache.path());
    config.load_platform(&platform_file).unwrap();
    let engine = capstan::Engine::new(config).unwrap();
    let spec = |with: &str| format!("  render:\n  - plugin: builtin:yaml\n  - {}\n", stage("labels", with));
    let web = |revision: &str, path: &str, with: &str| app("web", &repo, revision, path, &spec(with));

    // What each render cost: plugin calls, cache hits and misses, time.
    let render = |file: &capstan::AppFile| {
        let (calls, stats, started) = (engine.plugin_calls(), engine.render_cache_stats(), std::time::Instant::now());
        let output = engine.render(file);
        let took = started.elapsed();
        let after = engine.render_cache_stats();
        (output, engine.plugin_calls() - calls, after.hits - stats.hits, after.misses - stats.misses, took)
    };
    let (output, calls, hits, misses, cold) = render(&web(&first, "apps/web", "{team: web}"));
    let rendered = output.unwrap().rendered;
    assert_eq!((calls, hits, misses), (3, 0, 1), "render, transform, platform policy");
    let (output, calls, hits, misses, warm) = render(&web(&first, "apps/web", "{team: web}"));
    assert_eq!((calls, hits, misses), (0, 1, 0), "the same inputs: no plugin runs");
    let again = output.unwrap();
    assert_eq!(again.rendered.objects, rendered.objects);
    assert_eq!(again.rendered.plugins, rendered.plugins);
    assert_eq!(again.rendered.verdicts, rendered.verdicts);
    assert_eq!(again.checkout.commit, first);
    eprintln!("first render (compiling the plugins): {cold:?}; the same render again, from the cache: {warm:?}");

    let second = repo
        .write("apps/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: c}\n")
        .commit("two");
    for (what, file) in [
        ("a new commit", web(&second, "apps/web", "{team: web}")),
        ("another path", web(&second, "apps/api", "{team: web}")),
        ("other plugin parameters", web(&second, "apps/api", "{team: api}")),
    ] {
        let (output, calls, hits, misses, _) = render(&file);
        assert_eq!((calls, hits, misses), (3, 0, 1), "{what} renders again");
        assert!(output.is_ok(), "{what}");
    }
    std::fs::write(&platform_file, platform("owner")).unwrap();
    assert!(engine.reload_platform().unwrap());
    let (output, calls, hits, misses, _) = render(&web(&second, "apps/api", "{team: api}"));
    assert_eq!((calls, hits, misses), (3, 0, 1), "a changed platform policy renders again");
    let verdicts = output.unwrap().rendered.verdicts;
    assert!(verdicts.iter().any(|v| v.diagnostic.message.contains("owner")), "{verdicts:?}");

    // A denied render is an error every time, never served from the cache.
    let denied = format!("{}  policy:\n  - {}\n", spec("{team: web}"), stage("policy", "{requireLabel: owner}"));
    for _ in 0..2 {
        let (output, calls, hits, misses, _) = render(&app("web", &repo, &second, "apps/web", &denied));
        assert!(output.is_err());
        assert_eq!((calls, hits, misses), (4, 0, 1), "a failed render is not cached");
    }
    let stats = engine.render_cache_stats();
    assert_eq!(stats.entries, 5);
    assert!(stats.bytes > 0);

    // Disabled: every render runs its plugins.
    let cache = tempfile::tempdir().unwrap();
    let mut config = capstan_integration::engine_config(cache.path());
    config.render_cache_bytes = 0;
    let engine = capstan::Engine::new(config).unwrap();
    engine.render(&web(&first, "apps/web", "{team: web}")).unwrap();
    let started = std::time::Instant::now();
    engine.render(&web(&first, "apps/web", "{team: web}")).unwrap();
    eprintln!("the same render again without the cache (plugins compiled): {:?}", started.elapsed());
    assert_eq!(engine.plugin_calls(), 4);
    let stats = engine.render_cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 0, 0));
}

fn program_path(program: &str) -> std::path::PathBuf {
    std::path::Path::new(capstan_test_artifacts::GUEST_DIR).join(format!("capstan_test_{program}.wasm"))
}

fn program_digest(program: &str) -> String {
    capstan_host::sha256_digest(&std::fs::read(program_path(program)).unwrap())
}
