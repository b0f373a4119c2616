//! Remote sources: repositories served on loopback by `git daemon` and
//! `git http-backend`, fetched into the shared bare cache with gix.

use std::collections::BTreeMap;

use capstan::AppFile;
use capstan_integration::git_server::{GitDaemon, HttpGit};
use capstan_integration::{CONFIG_MAP, GitRepo, TestEngine};
use capstan_source::{Credentials, Fetched, Source};
use capstan_types::Application;

fn app_at(url: &str, revision: &str) -> AppFile {
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: remote}}\nspec:\n  source: {{repoURL: '{url}', revision: '{revision}', path: deploy}}\n"
    );
    AppFile { app: Application::from_yaml(&text).unwrap(), base_dir: std::env::temp_dir() }
}

#[test]
fn http_poll_of_an_unchanged_remote_downloads_no_pack_and_a_new_commit_is_rendered() {
    let repo = GitRepo::with_config_map();
    let (base, name) = repo.served();
    let server = HttpGit::start(base, None);
    let engine = TestEngine::new();
    let app = app_at(&server.url(&name), "main");

    let timer = std::time::Instant::now();
    let first = engine.engine.render(&app).unwrap();
    let first_time = timer.elapsed();
    assert_eq!(first.checkout.commit, repo.git(&["rev-parse", "HEAD"]).trim());
    assert!(
        matches!(first.checkout.fetched, Fetched::Pack { objects, bytes } if objects > 0 && bytes > 0),
        "{:?}",
        first.checkout.fetched
    );
    assert!(server.log().iter().any(|r| r.wants_pack), "the first checkout fetches a pack");

    server.clear_log();
    let timer = std::time::Instant::now();
    let again = engine.engine.render(&app).unwrap();
    let poll_time = timer.elapsed();
    assert_eq!(again.checkout.commit, first.checkout.commit);
    assert_eq!(again.checkout.fetched, Fetched::UpToDate);
    let log = server.log();
    assert!(
        !log.is_empty() && log.iter().all(|r| !r.wants_pack),
        "unchanged remote: ref advertisement only, got {log:#?}"
    );

    repo.write("deploy/cm.yaml", &CONFIG_MAP.replace("blue", "green"));
    let second = repo.commit("second");
    server.clear_log();
    let after = engine.engine.render(&app).unwrap();
    assert_eq!(after.checkout.commit, second);
    assert!(server.log().iter().any(|r| r.wants_pack));
    // Reported, not asserted (run with --nocapture to see them).
    eprintln!("render over http: first {first_time:?}, unchanged poll {poll_time:?}, {} requests per poll", log.len());
    let yaml = serde_json::to_string(&after.rendered.objects[0]).unwrap();
    assert!(yaml.contains("green"), "rendered at the new commit: {yaml}");
}

#[test]
fn git_daemon_fetches_are_incremental_and_shallow_by_default() {
    let repo = GitRepo::with_config_map();
    repo.commit("second");
    let (base, name) = repo.served();
    let daemon = GitDaemon::start(base);
    let cache = tempfile::TempDir::new().unwrap();
    let source = Source::new(cache.path());
    let url = daemon.url(&name);

    let timer = std::time::Instant::now();
    let first = source.checkout(&url, cache.path(), "main", "deploy").unwrap();
    let first_time = timer.elapsed();
    // Shallow: the tip commit, its tree, one directory and one blob.
    assert!(matches!(first.fetched, Fetched::Pack { objects: 4, bytes } if bytes > 0), "{:?}", first.fetched);
    let timer = std::time::Instant::now();
    let again = source.checkout(&url, cache.path(), "main", "deploy").unwrap();
    let poll_time = timer.elapsed();
    assert_eq!(again.fetched, Fetched::UpToDate);

    // Another Application on the same URL shares the cache: no second clone.
    let tip = repo.commit("third");
    let timer = std::time::Instant::now();
    let other = Source::new(cache.path()).checkout(&url, cache.path(), "main", "deploy").unwrap();
    // Reported, not asserted (run with --nocapture to see them).
    eprintln!(
        "git daemon: first fetch {first_time:?}, unchanged poll {poll_time:?}, one new commit {:?}",
        timer.elapsed()
    );
    assert_eq!(other.commit, tip);
    assert!(
        matches!(other.fetched, Fetched::Pack { objects: 1, .. }),
        "only the new commit (its tree is unchanged): {:?}",
        other.fetched
    );
    assert_eq!(
        std::fs::read_dir(cache.path().join("repos")).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count(),
        1
    );
}

#[test]
fn full_shas_short_shas_and_tags_resolve_over_the_network() {
    let repo = GitRepo::with_config_map();
    let old = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    repo.git(&["tag", "-a", "v1.0.0", "-m", "release"]);
    repo.commit("later");
    let (base, name) = repo.served();
    let daemon = GitDaemon::start(base);
    let cache = tempfile::TempDir::new().unwrap();
    let source = Source::new(cache.path());
    let url = daemon.url(&name);

    assert_eq!(source.checkout(&url, cache.path(), "v1.0.0", "deploy").unwrap().commit, old, "annotated tag peeled");
    let fresh = tempfile::TempDir::new().unwrap();
    assert_eq!(Source::new(fresh.path()).checkout(&url, fresh.path(), &old, "deploy").unwrap().commit, old);
    let fresh = tempfile::TempDir::new().unwrap();
    assert_eq!(Source::new(fresh.path()).checkout(&url, fresh.path(), &old[..8], "deploy").unwrap().commit, old);
    let err = source.checkout(&url, cache.path(), "no-such-branch", "deploy").unwrap_err();
    assert!(format!("{err:#}").contains("no-such-branch"), "{err}");
}

#[test]
fn semver_ranges_resolve_to_the_highest_matching_tag() {
    let repo = GitRepo::new();
    let mut tags = BTreeMap::new();
    for version in ["v1.0.0", "v1.2.0", "v1.2.7", "v1.3.1", "v2.0.0", "v2.1.0-rc.1"] {
        repo.write("deploy/cm.yaml", &CONFIG_MAP.replace("blue", version));
        tags.insert(version, repo.commit(version));
        repo.git(&["tag", version]);
    }
    let (base, name) = repo.served();
    let server = HttpGit::start(base, None);
    let cache = tempfile::TempDir::new().unwrap();
    let source = Source::new(cache.path());
    let url = server.url(&name);
    for (range, want) in [("~1.2", "v1.2.7"), (">=1.0 <2", "v1.3.1"), ("^2", "v2.0.0"), (">=2.1.0-rc.0", "v2.1.0-rc.1")]
    {
        let checkout = source.checkout(&url, cache.path(), range, "deploy").unwrap();
        assert_eq!(checkout.commit, tags[want], "{range} should pick {want}");
    }
    // The same resolution applies to a local path.
    assert_eq!(
        source.checkout(&repo.path().display().to_string(), cache.path(), "~1.2", "deploy").unwrap().commit,
        tags["v1.2.7"]
    );
    let err = source.checkout(&url, cache.path(), "~3", "deploy").unwrap_err();
    assert!(format!("{:#}", anyhow::Error::from(err)).contains("no tag matches"));
}

#[test]
fn http_basic_auth_comes_from_the_credentials() {
    let repo = GitRepo::with_config_map();
    let (base, name) = repo.served();
    let server = HttpGit::start(base, Some(("deploy-bot", "t0ken")));
    let url = server.url(&name);
    let cache = tempfile::TempDir::new().unwrap();

    let refused = Source::new(cache.path()).checkout(&url, cache.path(), "main", "deploy").unwrap_err();
    assert!(server.log().iter().all(|r| r.status == 401), "{refused}");

    let secret =
        BTreeMap::from([("username".to_owned(), b"deploy-bot".to_vec()), ("password".to_owned(), b"t0ken".to_vec())]);
    let source =
        Source::new(cache.path()).with_credentials(server.url(""), Credentials::from_secret_data(&secret).unwrap());
    let checkout = source.checkout(&url, cache.path(), "main", "deploy").unwrap();
    assert_eq!(checkout.commit, repo.git(&["rev-parse", "HEAD"]).trim());

    let file = cache.path().join("creds.yaml");
    std::fs::write(&file, "username: deploy-bot\npassword: wrong\n").unwrap();
    let wrong = Source::new(cache.path()).with_credentials(url.clone(), Credentials::from_file(&file).unwrap());
    assert!(wrong.checkout(&url, cache.path(), "main", "deploy").is_err(), "a wrong password is refused");
}

/// A stand-in for `ssh` (no sshd on loopback needed): it checks that the
/// key it was given is the one from the credentials, logs the call, and runs
/// the remote command (`git-upload-pack '<path>'`) locally, as sshd would.
const FAKE_SSH: &str = r#"#!/bin/sh
dir=$(dirname "$0")
key=""
while [ $# -gt 0 ]; do
  case "$1" in
    -i) key="$2"; shift 2 ;;
    -o|-p|-l|-E) shift 2 ;;
    -*) shift ;;
    *) host="$1"; shift; break ;;
  esac
done
cmp -s "$key" "$dir/expected-key" || { echo "wrong key: $key" >&2; exit 9; }
echo "$host $*" >> "$dir/calls"
exec sh -c "$*"
"#;

#[test]
fn ssh_urls_use_the_key_from_the_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let repo = GitRepo::with_config_map();
    let tools = tempfile::TempDir::new().unwrap();
    let ssh = tools.path().join("ssh");
    std::fs::write(&ssh, FAKE_SSH).unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n";
    std::fs::write(tools.path().join("expected-key"), key).unwrap();
    let secret = BTreeMap::from([("identity".to_owned(), key.as_bytes().to_vec())]);
    let cache = tempfile::TempDir::new().unwrap();
    let url = format!("ssh://git@git.example{}", repo.path().display());
    let source = Source::new(cache.path())
        .with_ssh_program(&ssh)
        .with_credentials("ssh://git@git.example/", Credentials::from_secret_data(&secret).unwrap());

    let checkout = source.checkout(&url, cache.path(), "main", "deploy").unwrap();
    assert_eq!(checkout.commit, repo.git(&["rev-parse", "HEAD"]).trim());
    let calls = std::fs::read_to_string(tools.path().join("calls")).unwrap();
    assert!(calls.starts_with("git@git.example git-upload-pack"), "{calls}");
    let leftovers: Vec<_> =
        std::fs::read_dir(cache.path().join("repos")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "the key directory is removed after the fetch: {leftovers:?}");

    std::fs::write(tools.path().join("expected-key"), "another key").unwrap();
    let fresh = tempfile::TempDir::new().unwrap();
    let refused = Source::new(fresh.path())
        .with_ssh_program(&ssh)
        .with_credentials("ssh://", Credentials::from_secret_data(&secret).unwrap())
        .checkout(&url, fresh.path(), "main", "deploy");
    assert!(refused.is_err(), "the stand-in refuses a key it does not expect");
}

#[test]
fn the_engine_takes_credentials_files_for_a_url_prefix() {
    let repo = GitRepo::with_config_map();
    let (base, name) = repo.served();
    let server = HttpGit::start(base, Some(("ci", "s3cret")));
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("git-credentials.yaml");
    std::fs::write(&file, format!("url: {}\nbearerToken: s3cret\n", server.url(""))).unwrap();
    let missing_url = dir.path().join("no-url.yaml");
    std::fs::write(&missing_url, "password: x\n").unwrap();
    let err = Credentials::from_file_with_url(&missing_url).unwrap_err();
    assert!(err.to_string().contains("`url`"), "{err}");

    let config = capstan_integration::engine_config(&dir.path().join("cache"));
    let app = app_at(&server.url(&name), "main");
    let without = capstan::Engine::new(config.clone()).unwrap();
    assert!(without.render(&app).is_err(), "the server demands credentials");
    // A bearer token is sent as the password of user `git`; this server wants user `ci`.
    let (prefix, mut credentials) = Credentials::from_file_with_url(&file).unwrap();
    assert!(capstan::Engine::new(config_with(&config, &prefix, credentials.clone())).unwrap().render(&app).is_err());
    std::fs::write(&file, format!("url: {}\nusername: ci\npassword: s3cret\n", server.url(""))).unwrap();
    (_, credentials) = Credentials::from_file_with_url(&file).unwrap();
    let engine = capstan::Engine::new(config_with(&config, &prefix, credentials)).unwrap();
    assert_eq!(engine.render(&app).unwrap().checkout.commit, repo.git(&["rev-parse", "HEAD"]).trim());
}

/// The config plus one credentials entry.
fn config_with(config: &capstan::EngineConfig, prefix: &str, credentials: Credentials) -> capstan::EngineConfig {
    let mut config = config.clone();
    config.git_credentials.push((prefix.to_owned(), credentials));
    config
}
