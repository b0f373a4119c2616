//! Commit-signature verification with keys made by `ssh-keygen` and `gpg`
//! for each test (skipped with a message when the tool is missing).

use std::path::Path;
use std::process::Command;

use capstan::AppFile;
use capstan_integration::git_server::GitDaemon;
use capstan_integration::{GitRepo, TestEngine};
use capstan_source::{Error, Source, verify};
use capstan_types::{Application, Verify, VerifyMode};
use tempfile::TempDir;

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
        || Command::new(tool).arg("-h").output().is_ok();
    if !found {
        eprintln!("skipped: `{tool}` is not on PATH");
    }
    found
}

fn run(program: &str, args: &[&str], cwd: &Path, env: &[(&str, &Path)]) -> String {
    let mut command = Command::new(program);
    command.args(args).current_dir(cwd);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap_or_else(|e| panic!("failed to run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn new_ssh_key(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(name);
    run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key.to_str().unwrap()], dir, &[]);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key.with_extension("pub").display().to_string(), public)
}

/// Commits with `git -c <config…> commit -S`, or unsigned with no config.
fn commit(repo: &GitRepo, message: &str, config: &[String], env: &[(&str, &Path)]) -> String {
    repo.write("deploy/cm.yaml", &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {message}}}\n"));
    repo.git(&["add", "--all"]);
    let mut args: Vec<&str> = Vec::new();
    for c in config {
        args.extend(["-c", c]);
    }
    args.extend(["commit", "--quiet", "-m", message]);
    if !config.is_empty() {
        args.push("-S");
    }
    let mut env = env.to_vec();
    env.extend([("GIT_CONFIG_NOSYSTEM", Path::new("1")), ("HOME", repo.path())]);
    let named = [
        ("GIT_AUTHOR_NAME", "Capstan Test"),
        ("GIT_AUTHOR_EMAIL", "test@capstan.dev"),
        ("GIT_COMMITTER_NAME", "Capstan Test"),
        ("GIT_COMMITTER_EMAIL", "test@capstan.dev"),
    ];
    let mut command = Command::new("git");
    command.args(&args).current_dir(repo.path()).envs(named);
    for (k, v) in &env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "git commit: {}", String::from_utf8_lossy(&out.stderr));
    repo.git(&["rev-parse", "HEAD"]).trim().to_owned()
}

/// A copy of `commit` with another message but the same signature.
fn tampered(repo: &GitRepo, commit: &str) -> String {
    let original = repo.git(&["cat-file", "commit", commit]);
    let forged = original.replacen("\nsigned\n", "\nsigned, then edited\n", 1);
    assert_ne!(forged, original);
    let file = repo.path().join("forged-commit");
    std::fs::write(&file, forged).unwrap();
    repo.git(&["hash-object", "-t", "commit", "-w", file.to_str().unwrap()]).trim().to_owned()
}

fn check(repo: &GitRepo, revision: &str, policy: &Verify) -> Result<String, verify::Error> {
    check_url(&repo.path().display().to_string(), revision, policy)
}

fn check_url(url: &str, revision: &str, policy: &Verify) -> Result<String, verify::Error> {
    let cache = TempDir::new().unwrap();
    let source = capstan_types::Source {
        repo_url: url.to_owned(),
        revision: revision.to_owned(),
        path: "deploy".into(),
        interval: None,
        full_history: false,
        verify: Some(policy.clone()),
        secret_ref: None,
    };
    match Source::new(cache.path()).checkout_source(&source, cache.path()) {
        Ok(checkout) => Ok(checkout.signer.expect("a verified checkout names its signer")),
        Err(Error::Verify { source, .. }) => Err(source),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn ssh_signatures_allowed_unsigned_and_wrong_key() {
    if !have("ssh-keygen") {
        return;
    }
    let keys = TempDir::new().unwrap();
    let (good_pub, good) = new_ssh_key(keys.path(), "good");
    let (evil_pub, _) = new_ssh_key(keys.path(), "evil");
    let ssh = |key: &str| vec!["gpg.format=ssh".to_owned(), format!("user.signingkey={key}")];
    let repo = GitRepo::new();
    let signed = commit(&repo, "signed", &ssh(&good_pub), &[]);
    let unsigned = commit(&repo, "unsigned", &[], &[]);
    let wrong = commit(&repo, "wrong", &ssh(&evil_pub), &[]);
    let policy =
        Verify { mode: VerifyMode::Ssh, allowed_signers: Some(format!("test@capstan.dev {good}")), public_keys: None };

    let signer = check(&repo, &signed, &policy).unwrap();
    assert!(signer.starts_with("test@capstan.dev (SHA256:"), "{signer}");
    let unsigned_err = check(&repo, &unsigned, &policy).unwrap_err();
    assert!(matches!(unsigned_err, verify::Error::Unsigned { .. }), "{unsigned_err}");
    let wrong_err = check(&repo, &wrong, &policy).unwrap_err();
    assert!(matches!(wrong_err, verify::Error::KeyNotAllowed { .. }), "{wrong_err}");
    assert_ne!(unsigned_err.to_string(), wrong_err.to_string());
    assert!(unsigned_err.to_string().contains("not signed"), "{unsigned_err}");
    assert!(wrong_err.to_string().contains("not among the allowed"), "{wrong_err}");
    let forged = check(&repo, &tampered(&repo, &signed), &policy).unwrap_err();
    assert!(matches!(forged, verify::Error::BadSignature { .. }), "{forged}");

    // An unsigned commit under a signed release tag passes on the tag, locally and remotely.
    let tag = |name: &str, key: &str| {
        let config = ssh(key);
        repo.git(&["-c", &config[0], "-c", &config[1], "tag", "-s", name, "-m", "release", &unsigned]);
    };
    tag("v1.0.0", &good_pub);
    tag("v1.0.1", &evil_pub);
    assert!(check(&repo, "v1.0.0", &policy).unwrap().ends_with("on the tag"));
    assert!(matches!(check(&repo, "v1.0.1", &policy), Err(verify::Error::KeyNotAllowed { .. })));
    let daemon = GitDaemon::start(repo.path().parent().unwrap());
    let url = daemon.url(&repo.path().file_name().unwrap().to_string_lossy());
    assert!(check_url(&url, "~1.0.0, <1.0.1", &policy).unwrap().ends_with("on the tag"));
    assert!(matches!(check_url(&url, "v1.0.1", &policy), Err(verify::Error::KeyNotAllowed { .. })));

    let openpgp = Verify { mode: VerifyMode::Openpgp, allowed_signers: None, public_keys: Some(String::new()) };
    assert!(matches!(check(&repo, &signed, &openpgp), Err(verify::Error::WrongFormat { .. })));
}

#[test]
fn a_refused_signature_stops_the_render_before_any_plugin_runs() {
    if !have("ssh-keygen") {
        return;
    }
    let keys = TempDir::new().unwrap();
    let (_, good) = new_ssh_key(keys.path(), "good");
    let repo = GitRepo::new();
    commit(&repo, "unsigned", &[], &[]);
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: signed-only}}\nspec:\n  source:\n    repoURL: {}\n    path: deploy\n    verify:\n      mode: ssh\n      allowedSigners: 'ops {}'\n",
        repo.path().display(),
        good.trim()
    );
    let app = AppFile { app: Application::from_yaml(&text).unwrap(), base_dir: repo.path().to_owned() };
    let err = TestEngine::new().engine.render(&app).unwrap_err();
    let chain = format!("{err:#}");
    assert!(chain.contains("failed to verify the signature") && chain.contains("not signed"), "{chain}");
}

#[test]
fn openpgp_signatures_allowed_unsigned_and_wrong_key() {
    if !have("gpg") {
        return;
    }
    let home = TempDir::new().unwrap();
    let gnupg = home.path();
    let env = [("GNUPGHOME", gnupg)];
    for who in ["good", "evil"] {
        let uid = format!("{who} <{who}@capstan.dev>");
        run("gpg", &["--batch", "--passphrase", "", "--quick-gen-key", &uid, "ed25519", "sign", "never"], gnupg, &env);
    }
    let good_key = run("gpg", &["--armor", "--export", "good@capstan.dev"], gnupg, &env);
    let pgp = |who: &str| vec![format!("user.signingkey={who}@capstan.dev"), "gpg.program=gpg".to_owned()];
    let repo = GitRepo::new();
    let signed = commit(&repo, "signed", &pgp("good"), &env);
    let unsigned = commit(&repo, "unsigned", &[], &env);
    let wrong = commit(&repo, "wrong", &pgp("evil"), &env);
    let _ = Command::new("gpgconf").args(["--kill", "gpg-agent"]).env("GNUPGHOME", gnupg).output();
    let policy = Verify { mode: VerifyMode::Openpgp, allowed_signers: None, public_keys: Some(good_key) };

    let signer = check(&repo, &signed, &policy).unwrap();
    assert!(signer.starts_with("good <good@capstan.dev>"), "{signer}");
    let unsigned_err = check(&repo, &unsigned, &policy).unwrap_err();
    assert!(matches!(unsigned_err, verify::Error::Unsigned { .. }), "{unsigned_err}");
    let wrong_err = check(&repo, &wrong, &policy).unwrap_err();
    assert!(matches!(wrong_err, verify::Error::KeyNotAllowed { .. }), "{wrong_err}");
    assert_ne!(unsigned_err.to_string(), wrong_err.to_string());
    let forged = check(&repo, &tampered(&repo, &signed), &policy).unwrap_err();
    assert!(matches!(forged, verify::Error::BadSignature { .. }), "{forged}");
}
