//! Commit-signature verification, in-process and pure Rust: SSH signatures
//! (`gpg.format=ssh`, checked with `ssh-key`'s SSHSIG support against an
//! allowed-signers list) and OpenPGP signatures (checked with rpgp against
//! armored public keys). No `gpg` or `ssh-keygen` program and no keyring of
//! the host are involved, so what is trusted is exactly what the
//! Application lists.
//!
//! Each way of failing has its own variant and message — unsigned, signed by
//! a key that is not allowed, a signature that does not match — so that the
//! status condition tells an operator which one it was.

use capstan_types::{Verify, VerifyMode};
use gix::bstr::ByteSlice;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;

/// Errors of signature verification. Every one of them stops the sync.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The commit carries no signature at all.
    #[error("commit is not signed, but the Application requires a {mode} signature")]
    Unsigned {
        /// `ssh` or `openpgp`.
        mode: &'static str,
    },
    /// Signed, but in the other format.
    #[error("commit has a {found} signature, but the Application requires {mode}")]
    WrongFormat {
        /// What the Application asked for.
        mode: &'static str,
        /// What the commit carries.
        found: &'static str,
    },
    /// Signed by a key that is not in the allowed list.
    #[error("commit is signed by key {key}, which is not among the allowed signers / public keys")]
    KeyNotAllowed {
        /// Fingerprint or key ID of the signing key.
        key: String,
    },
    /// Signed by an allowed key, but the signature does not match the commit.
    #[error("commit signature by key {key} does not match the commit's content")]
    BadSignature {
        /// Fingerprint or key ID of the key.
        key: String,
    },
    /// The signature block cannot be parsed.
    #[error("failed to parse the commit's {mode} signature")]
    MalformedSignature {
        /// `ssh` or `openpgp`.
        mode: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The Application's key list is missing or cannot be parsed.
    #[error("failed to read the Application's {field}: {reason}")]
    Keys {
        /// `verify.allowedSigners` or `verify.publicKeys`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The commit object cannot be read.
    #[error("failed to read the commit's signature")]
    Read {
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Checks `commit` against `policy`; returns who signed it (principal or
/// key fingerprint). An unsigned commit passes when the annotated `tag` the
/// revision named carries a trusted signature instead (release tags are
/// often the only signed objects); a commit that *is* signed must pass on
/// its own — a good tag never hides a bad commit signature.
pub fn check(
    repo: &gix::Repository,
    commit: &gix::Commit<'_>,
    tag: Option<gix::ObjectId>,
    policy: &Verify,
) -> Result<String, Error> {
    let mode = mode_name(policy.mode);
    if let Some((signature, signed)) = commit.signature().map_err(|e| Error::Read { source: e.into() })? {
        return check_block(&signature.to_str_lossy(), &signed.to_bstring(), policy);
    }
    match tag.map(|id| tag_signature(repo, id)).transpose()?.flatten() {
        Some((signature, signed)) => {
            check_block(&signature, &signed, policy).map(|signer| format!("{signer} on the tag"))
        }
        None => Err(Error::Unsigned { mode }),
    }
}

fn check_block(signature: &str, data: &[u8], policy: &Verify) -> Result<String, Error> {
    let mode = mode_name(policy.mode);
    let found = if signature.contains("-----BEGIN SSH SIGNATURE-----") { "ssh" } else { "openpgp" };
    if found != mode {
        return Err(Error::WrongFormat { mode, found });
    }
    match policy.mode {
        VerifyMode::Ssh => check_ssh(signature, data, policy.allowed_signers.as_deref()),
        VerifyMode::Openpgp => check_openpgp(signature, data, policy.public_keys.as_deref()),
    }
}

/// A tag's signature is appended to its message; what was signed is
/// everything before it.
fn tag_signature(repo: &gix::Repository, id: gix::ObjectId) -> Result<Option<(String, Vec<u8>)>, Error> {
    let object = repo.find_object(id).map_err(|e| Error::Read { source: e.into() })?;
    let data = &object.data;
    let start = ["-----BEGIN PGP SIGNATURE-----", "-----BEGIN SSH SIGNATURE-----"]
        .iter()
        .filter_map(|marker| data.rfind(format!("\n{marker}").as_bytes()).map(|at| at + 1))
        .max();
    Ok(start.map(|at| (String::from_utf8_lossy(&data[at..]).into_owned(), data[..at].to_vec())))
}

fn mode_name(mode: VerifyMode) -> &'static str {
    match mode {
        VerifyMode::Ssh => "ssh",
        VerifyMode::Openpgp => "openpgp",
    }
}

/// Git signs commits in the `git` namespace of SSHSIG.
const SSH_NAMESPACE: &str = "git";

fn check_ssh(signature: &str, data: &[u8], allowed: Option<&str>) -> Result<String, Error> {
    let signers = allowed_signers(allowed)?;
    let sig = ssh_key::SshSig::from_pem(signature)
        .map_err(|e| Error::MalformedSignature { mode: "ssh", source: e.into() })?;
    let key = ssh_key::PublicKey::from(sig.public_key().clone());
    let fingerprint = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    let Some((principal, _)) = signers.iter().find(|(_, allowed)| allowed.key_data() == key.key_data()) else {
        return Err(Error::KeyNotAllowed { key: fingerprint });
    };
    key.verify(SSH_NAMESPACE, data, &sig).map_err(|_| Error::BadSignature { key: fingerprint.clone() })?;
    Ok(format!("{principal} ({fingerprint})"))
}

/// Parses `principals [options] key-type base64 [comment]` lines.
fn allowed_signers(text: Option<&str>) -> Result<Vec<(String, ssh_key::PublicKey)>, Error> {
    let field = "verify.allowedSigners";
    let text = text.ok_or(Error::Keys { field, reason: "missing (required for mode ssh)".into() })?;
    let mut signers = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let key_at = tokens.iter().position(|t| is_key_type(t));
        let (Some(i), Some(principal)) = (key_at, tokens.first()) else {
            return Err(Error::Keys {
                field,
                reason: format!("line {n}: no key type (ssh-ed25519, ssh-rsa, ecdsa-…)"),
            });
        };
        let encoded = format!("{} {}", tokens[i], tokens.get(i + 1).unwrap_or(&""));
        let key = ssh_key::PublicKey::from_openssh(&encoded)
            .map_err(|e| Error::Keys { field, reason: format!("line {n}: {e}") })?;
        signers.push(((*principal).to_owned(), key));
    }
    if signers.is_empty() {
        return Err(Error::Keys { field, reason: "no keys listed".into() });
    }
    Ok(signers)
}

fn is_key_type(token: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"].iter().any(|p| token.starts_with(p))
}

fn check_openpgp(signature: &str, data: &[u8], public_keys: Option<&str>) -> Result<String, Error> {
    let field = "verify.publicKeys";
    let text = public_keys.ok_or(Error::Keys { field, reason: "missing (required for mode openpgp)".into() })?;
    let keys: Vec<SignedPublicKey> = SignedPublicKey::from_string_many(text)
        .map_err(|e| Error::Keys { field, reason: e.to_string() })?
        .0
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Keys { field, reason: e.to_string() })?;
    if keys.is_empty() {
        return Err(Error::Keys { field, reason: "no keys listed".into() });
    }
    let (sig, _) = DetachedSignature::from_string(signature)
        .map_err(|e| Error::MalformedSignature { mode: "openpgp", source: e.into() })?;
    let issuers: Vec<String> = sig.signature.issuer_key_id().iter().map(|id| id.to_string()).collect();
    let found = keys.iter().find_map(|key| {
        let mut candidates: Vec<(String, &dyn Check)> = vec![(key.legacy_key_id().to_string(), &key.primary_key)];
        candidates.extend(key.public_subkeys.iter().map(|s| (s.key.legacy_key_id().to_string(), &s.key as &dyn Check)));
        candidates.into_iter().find(|(id, _)| issuers.contains(id)).map(|(id, candidate)| (key, id, candidate))
    });
    match found {
        None => Err(Error::KeyNotAllowed { key: issuers.first().cloned().unwrap_or_else(|| "(no issuer)".into()) }),
        Some((key, _, candidate)) if candidate.check(&sig, data) => {
            Ok(format!("{} ({})", user_id(key), key.fingerprint()))
        }
        Some((_, id, _)) => Err(Error::BadSignature { key: id }),
    }
}

/// Verification by a primary key or a subkey, behind one object type.
trait Check {
    fn check(&self, sig: &DetachedSignature, data: &[u8]) -> bool;
}

impl<K: pgp::types::VerifyingKey> Check for K {
    fn check(&self, sig: &DetachedSignature, data: &[u8]) -> bool {
        sig.verify(self, data).is_ok()
    }
}

fn user_id(key: &SignedPublicKey) -> String {
    key.details.users.first().map(|u| String::from_utf8_lossy(u.id.id()).into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDkBv7ggM0sQXOQxs6RjOd2ipHRWnIJgCahnc2zyeGN8";

    #[test]
    fn allowed_signers_lines_with_options_and_comments() {
        let text = format!("# team\nalice@example.com {KEY} laptop\nbob@example.com namespaces=\"git\" {KEY}\n");
        let signers = allowed_signers(Some(&text)).unwrap();
        assert_eq!(signers.len(), 2);
        assert_eq!(signers[1].0, "bob@example.com");
    }

    #[test]
    fn unusable_key_lists_are_errors() {
        assert!(matches!(allowed_signers(None), Err(Error::Keys { .. })));
        assert!(matches!(allowed_signers(Some("# nothing\n")), Err(Error::Keys { .. })));
        let err = allowed_signers(Some("alice only-a-name")).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
