//! `ssh://` sources against a real OpenSSH server on loopback: the key and
//! the server's host key come from Secret-shaped credentials (`identity`,
//! `known_hosts`). Skipped, with a printed reason, where `sshd` is not
//! installed (`cargo xtask test` installs it when it can).

use std::collections::BTreeMap;

use capstan_integration::GitRepo;
use capstan_integration::git_server::{SshKey, Sshd};
use capstan_source::{Credentials, Fetched, Source};

fn secret(identity: &str, known_hosts: &str) -> Credentials {
    let data = BTreeMap::from([
        ("identity".to_owned(), identity.as_bytes().to_vec()),
        ("known_hosts".to_owned(), known_hosts.as_bytes().to_vec()),
    ]);
    Credentials::from_secret_data(&data).unwrap()
}

/// The error of a fresh checkout with `credentials`, with its causes.
fn refused(sshd: &Sshd, url: &str, credentials: Credentials) -> String {
    let cache = tempfile::TempDir::new().unwrap();
    let result =
        Source::new(cache.path()).with_credentials(url, credentials).checkout(url, cache.path(), "main", "deploy");
    let err = result.expect_err("the fetch must be refused");
    let message = format!("{:#}", anyhow::Error::from(err));
    assert!(message.contains(url), "the error names the URL: {message}");
    assert!(!message.contains("PRIVATE KEY"), "no key material in errors: {message}");
    eprintln!("refused as expected: {message}\nsshd: {}", sshd.log().lines().last().unwrap_or(""));
    message
}

#[test]
fn ssh_fetches_with_the_identity_and_known_hosts_of_the_secret() {
    let key = SshKey::generate();
    let Some(sshd) = Sshd::start_or_skip("ssh_fetches_with_the_identity_and_known_hosts_of_the_secret", &key.public)
    else {
        return;
    };
    let repo = GitRepo::with_config_map();
    let url = sshd.url(repo.path());
    let cache = tempfile::TempDir::new().unwrap();
    let source = Source::new(cache.path()).with_credentials(&url, secret(&key.private, &sshd.known_hosts()));

    let timer = std::time::Instant::now();
    let first = source
        .checkout(&url, cache.path(), "main", "deploy")
        .unwrap_or_else(|e| panic!("{:#}\nsshd log:\n{}", anyhow::Error::from(e), sshd.log()));
    let first_time = timer.elapsed();
    assert_eq!(first.commit, repo.git(&["rev-parse", "HEAD"]).trim());
    assert!(
        matches!(first.fetched, Fetched::Pack { objects, bytes } if objects > 0 && bytes > 0),
        "{:?}",
        first.fetched
    );
    let timer = std::time::Instant::now();
    assert_eq!(source.checkout(&url, cache.path(), "main", "deploy").unwrap().fetched, Fetched::UpToDate);
    let poll_time = timer.elapsed();
    let next = repo.commit("second");
    assert_eq!(source.checkout(&url, cache.path(), "main", "deploy").unwrap().commit, next);
    assert!(sshd.log().contains("Accepted publickey"), "{}", sshd.log());
    // Reported, not asserted (run with --nocapture to see them).
    eprintln!("ssh: first fetch {first_time:?}, unchanged poll {poll_time:?}");
}

#[test]
fn ssh_with_a_key_the_server_does_not_know_is_an_authentication_error() {
    let (key, wrong) = (SshKey::generate(), SshKey::generate());
    let Some(sshd) = Sshd::start_or_skip("ssh_with_a_key_the_server_does_not_know", &key.public) else { return };
    let repo = GitRepo::with_config_map();
    let url = sshd.url(repo.path());
    let message = refused(&sshd, &url, secret(&wrong.private, &sshd.known_hosts()));
    assert!(message.contains("failed to authenticate over SSH: the server refused the key in `identity`"), "{message}");
    assert!(message.contains("Permission denied (publickey)"), "ssh's own words are kept: {message}");
}

#[test]
fn ssh_refuses_a_server_whose_host_key_is_not_known() {
    let key = SshKey::generate();
    let Some(sshd) = Sshd::start_or_skip("ssh_refuses_a_server_whose_host_key_is_not_known", &key.public) else {
        return;
    };
    let repo = GitRepo::with_config_map();
    let url = sshd.url(repo.path());
    let impostor = SshKey::generate();
    let port = url.split(':').nth(2).and_then(|rest| rest.split('/').next()).unwrap();
    for (what, known_hosts) in [
        ("another key for this host", format!("[127.0.0.1]:{port} {}", impostor.public)),
        ("no entry for this host", format!("git.example {}", sshd.known_hosts().split_once(' ').unwrap().1)),
    ] {
        let message = refused(&sshd, &url, secret(&key.private, &known_hosts));
        assert!(message.contains("refusing the SSH server: its host key is not a known host"), "{what}: {message}");
        assert!(message.contains("Host key verification failed"), "{what}: {message}");
    }
    assert!(!sshd.log().contains("Accepted publickey"), "no login happened: {}", sshd.log());
}
