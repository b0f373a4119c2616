//! Credentials for remote repositories, from a Kubernetes Secret's data or
//! a local credentials file, using the keys Flux's `GitRepository` uses:
//! `username` + `password` (or `bearerToken`) for HTTP(S), `ca.crt` (or the
//! older `caFile`: PEM certificates trusted for HTTPS on top of the system's
//! roots, for a private CA), `identity` (an OpenSSH private key) and
//! `known_hosts` for SSH.
//!
//! Secrets never reach the log or an error message; SSH keys are written to
//! `0600` files inside the cache only for as long as `ssh` needs them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Errors of loading credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The credentials file could not be read.
    #[error("failed to read credentials file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The credentials file is not a map of strings.
    #[error("failed to parse credentials file {path}: expected a YAML map of string keys to string values")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_yaml::Error,
    },
    /// A CLI credentials file without its `url` key.
    #[error("failed to read credentials file {path}: key `url` (the URL prefix they are for) is missing")]
    MissingUrl {
        /// The file.
        path: PathBuf,
    },
    /// A value is not UTF-8.
    #[error("failed to read credentials: key {key:?} is not UTF-8")]
    NotUtf8 {
        /// The key.
        key: String,
    },
    /// The credentials lack what the URL's transport needs.
    #[error("failed to use the credentials for {url}: {missing}")]
    Missing {
        /// The repository URL.
        url: String,
        /// Which keys are missing.
        missing: &'static str,
    },
    /// The CA key holds no PEM certificate.
    #[error("failed to read credentials: key {key:?} holds no PEM certificate")]
    BadCa {
        /// `ca.crt` or `caFile`.
        key: &'static str,
    },
    /// Plain `http://` to a host that is not loopback: the password would
    /// cross the network in clear text.
    #[error("refusing to send credentials in clear text to {url}: use https://")]
    ClearText {
        /// The URL.
        url: String,
    },
    /// Writing the SSH key file failed.
    #[error("failed to write the SSH key file {path}")]
    WriteKey {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The file in the key directory that `ssh` writes its messages to.
pub(crate) const SSH_LOG: &str = "ssh.log";

/// Credentials of one repository. `Debug` shows which keys are set, never values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    username: Option<String>,
    password: Option<String>,
    identity: Option<String>,
    known_hosts: Option<String>,
    /// PEM certificates of a private CA (public: not redacted).
    ca: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .field("known_hosts", &self.known_hosts.is_some())
            .field("ca", &self.ca.is_some())
            .finish()
    }
}

impl Credentials {
    /// From a Secret's `data` (already base64-decoded by the Kubernetes client).
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, Error> {
        let get = |key: &str| -> Result<Option<String>, Error> {
            data.get(key)
                .map(|v| String::from_utf8(v.clone()).map_err(|_| Error::NotUtf8 { key: key.to_owned() }))
                .transpose()
        };
        let bearer = get("bearerToken")?;
        // Flux renamed `caFile` to `ca.crt`; Secrets of either age work.
        let (ca_key, ca) = match get("ca.crt")? {
            Some(ca) => ("ca.crt", Some(ca)),
            None => ("caFile", get("caFile")?),
        };
        if let Some(ca) = &ca {
            parse_ca(ca, ca_key)?;
        }
        Ok(Self {
            // A bearer token goes as the password of basic auth, which GitHub,
            // GitLab and Gitea all accept for HTTPS Git.
            username: get("username")?.or_else(|| bearer.as_ref().map(|_| "git".to_owned())),
            password: get("password")?.or(bearer),
            identity: get("identity")?,
            known_hosts: get("known_hosts")?,
            ca,
        })
    }

    /// From a YAML file with the same keys as the Secret (`stringData` style).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
        let map: BTreeMap<String, String> =
            serde_yaml::from_str(&text).map_err(|source| Error::Parse { path: path.to_owned(), source })?;
        Self::from_secret_data(&map.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())
    }

    /// A credentials file for the CLI: the keys of [`Credentials::from_file`]
    /// plus `url`, the URL prefix the credentials are for (they are never
    /// sent anywhere else).
    pub fn from_file_with_url(path: &Path) -> Result<(String, Self), Error> {
        let text = fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
        let mut map: BTreeMap<String, String> =
            serde_yaml::from_str(&text).map_err(|source| Error::Parse { path: path.to_owned(), source })?;
        let url = map.remove("url").ok_or_else(|| Error::MissingUrl { path: path.to_owned() })?;
        let credentials = Self::from_secret_data(&map.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())?;
        Ok((url, credentials))
    }

    /// Checks that these credentials can serve `url`: `identity` for SSH;
    /// for HTTP(S) `username` with `password`, `bearerToken`, or at least a CA.
    pub fn check_for(&self, url: &str) -> Result<(), Error> {
        let missing = |missing| Err(Error::Missing { url: url.to_owned(), missing });
        let ssh = url.starts_with("ssh://") || url.starts_with("git@");
        if ssh {
            return if self.identity.is_some() {
                Ok(())
            } else {
                missing("key `identity` (an SSH private key) is missing")
            };
        }
        match (&self.username, &self.password) {
            (Some(_), None) => missing("key `username` is set but `password` is missing"),
            (None, Some(_)) => missing("key `password` is set but `username` is missing"),
            (None, None) if self.ca.is_none() => {
                missing("none of the keys `username`/`password`, `bearerToken`, `ca.crt` (or `caFile`) is set")
            }
            _ => Ok(()),
        }
    }

    /// Username and password for HTTP(S) to `url`, if both are set.
    pub(crate) fn basic(&self, url: &str) -> Result<Option<(&str, &str)>, Error> {
        let (Some(user), Some(password)) = (self.username.as_deref(), self.password.as_deref()) else {
            return Ok(None);
        };
        if let Some(rest) = url.strip_prefix("http://") {
            let host = rest.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            let loopback = ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .any(|l| host == *l || host.strip_prefix(l).is_some_and(|port| port.starts_with(':')));
            if !loopback {
                return Err(Error::ClearText { url: url.to_owned() });
            }
        }
        Ok(Some((user, password)))
    }

    /// The private CA's certificates, if the credentials have one.
    pub(crate) fn ca_certificates(&self) -> Option<Vec<reqwest::Certificate>> {
        // Checked when loaded, so parsing cannot fail here.
        self.ca.as_deref().and_then(|ca| parse_ca(ca, "ca.crt").ok())
    }

    /// Writes the SSH key (and known hosts) under `dir` and returns the
    /// command line of `program` (an OpenSSH client) that uses them, or
    /// `None` without a key. `ssh` logs to [`SSH_LOG`] in `dir`, so that a
    /// refusal can be explained.
    ///
    /// Host keys are always checked strictly: against `known_hosts` only
    /// when the credentials have it (as Flux does), else against the user's
    /// known-hosts files. An unknown host is refused, never added.
    pub(crate) fn ssh_command(&self, dir: &Path, program: &Path) -> Result<Option<String>, Error> {
        let Some(identity) = &self.identity else { return Ok(None) };
        fs::create_dir_all(dir).map_err(|source| Error::WriteKey { path: dir.to_owned(), source })?;
        let key = dir.join("identity");
        write_private(&key, identity)?;
        let mut command = format!(
            "{} -i {} -E {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes",
            shell_quote(program),
            shell_quote(&key),
            shell_quote(&dir.join(SSH_LOG))
        );
        if let Some(known_hosts) = &self.known_hosts {
            let file = dir.join("known_hosts");
            write_private(&file, known_hosts)?;
            command
                .push_str(&format!(" -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null", shell_quote(&file)));
        }
        Ok(Some(command))
    }
}

/// `path` as one word for `sh`: gix runs a `core.sshCommand` with spaces
/// through the shell, and a cache directory may contain spaces.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The certificates of a PEM bundle; at least one.
fn parse_ca(pem: &str, key: &'static str) -> Result<Vec<reqwest::Certificate>, Error> {
    match reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(Error::BadCa { key }),
    }
}

/// Writes `content` to a file only its owner can read, replacing it.
fn write_private(path: &Path, content: &str) -> Result<(), Error> {
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| Error::WriteKey { path: path.to_owned(), source })?;
    let mut content = content.to_owned();
    // OpenSSH refuses a private key without its final newline.
    if !content.ends_with('\n') {
        content.push('\n');
    }
    file.write_all(content.as_bytes()).map_err(|source| Error::WriteKey { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_become_basic_auth_and_debug_hides_secrets() {
        let data = BTreeMap::from([("bearerToken".to_owned(), b"s3cret".to_vec())]);
        let creds = Credentials::from_secret_data(&data).unwrap();
        assert_eq!(creds.basic("https://git.example/repo").unwrap(), Some(("git", "s3cret")));
        assert_eq!(creds.basic("http://127.0.0.1:8080/repo").unwrap(), Some(("git", "s3cret")));
        assert!(matches!(creds.basic("http://git.example/repo"), Err(Error::ClearText { .. })));
        assert!(matches!(creds.basic("http://127.0.0.1.evil.example/repo"), Err(Error::ClearText { .. })));
        assert!(!format!("{creds:?}").contains("s3cret"));
    }

    #[test]
    fn credentials_must_fit_the_transport() {
        let only =
            |key: &str| Credentials::from_secret_data(&BTreeMap::from([(key.to_owned(), b"x".to_vec())])).unwrap();
        assert!(only("bearerToken").check_for("https://git.example/r").is_ok());
        let err = only("username").check_for("https://git.example/r").unwrap_err().to_string();
        assert!(err.contains("`password` is missing") && err.contains("https://git.example/r"), "{err}");
        let err = only("known_hosts").check_for("ssh://git@git.example/r").unwrap_err().to_string();
        assert!(err.contains("`identity`"), "{err}");
        let err = only("identity").check_for("https://git.example/r").unwrap_err().to_string();
        assert!(err.contains("none of the keys"), "{err}");
    }

    #[test]
    fn ssh_commands_quote_paths_and_never_skip_host_checks() {
        let dir = tempfile::TempDir::new().unwrap();
        let keys = dir.path().join("it's here");
        let data = BTreeMap::from([
            ("identity".to_owned(), b"key".to_vec()),
            ("known_hosts".to_owned(), b"host ssh-ed25519 AAAA".to_vec()),
        ]);
        let command =
            Credentials::from_secret_data(&data).unwrap().ssh_command(&keys, Path::new("ssh")).unwrap().unwrap();
        let quoted = format!("'{}'", keys.join("identity").display().to_string().replace('\'', r"'\''"));
        assert!(command.starts_with(&format!("'ssh' -i {quoted} ")), "{command}");
        assert!(command.contains("StrictHostKeyChecking=yes") && !command.contains("=no"), "{command}");
        assert!(command.contains("GlobalKnownHostsFile=/dev/null"), "{command}");
    }

    #[test]
    fn a_ca_key_must_hold_a_pem_certificate() {
        for key in ["ca.crt", "caFile"] {
            let data = BTreeMap::from([(key.to_owned(), b"not a certificate".to_vec())]);
            let err = Credentials::from_secret_data(&data).unwrap_err();
            assert_eq!(err.to_string(), format!("failed to read credentials: key {key:?} holds no PEM certificate"));
        }
    }
}
