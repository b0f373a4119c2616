//! Resolving a revision (branch, tag, full or short SHA, semver range over
//! tags) against the references a remote advertised.
//!
//! The remote's ref advertisement is all this needs, so the answer is known
//! before any object is downloaded: if the cache already holds the commit,
//! nothing more is fetched.

use gix::ObjectId;

/// Errors of revision resolution.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The semver range does not parse.
    #[error("failed to parse semver range {range:?}")]
    Range {
        /// The range as written.
        range: String,
        /// Why.
        #[source]
        source: semver::Error,
    },
    /// No tag matches the semver range.
    #[error("no tag matches the semver range {range:?} (tags seen: {tags})")]
    NoMatchingTag {
        /// The range.
        range: String,
        /// The version tags the remote has, for the message.
        tags: String,
    },
    /// Neither a branch, a tag nor a SHA.
    #[error("revision {revision:?} is neither a branch, a tag nor a commit SHA of the remote")]
    Unknown {
        /// The revision.
        revision: String,
    },
}

/// One reference as the remote advertised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Full name (`refs/heads/main`, `refs/tags/v1.0.0`, `HEAD`).
    pub name: String,
    /// The commit it finally points at (annotated tags peeled).
    pub commit: ObjectId,
    /// The tag object, for annotated tags.
    pub tag: Option<ObjectId>,
}

/// What has to be fetched for a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A reference and the commit it points at now.
    Ref(RemoteRef),
    /// A full commit SHA that no advertised ref needs to point at.
    Commit(ObjectId),
    /// A SHA prefix that no advertised ref points at: only the full history
    /// can resolve it.
    Prefix(String),
}

/// Whether `revision` is a semver range rather than a ref name.
pub fn is_range(revision: &str) -> bool {
    revision == "*" || revision.starts_with(['~', '^', '>', '<', '='])
}

/// Resolves `revision` against `refs`.
pub fn resolve(revision: &str, refs: &[RemoteRef]) -> Result<Wanted, Error> {
    if is_range(revision) {
        return highest_match(revision, refs).map(|r| Wanted::Ref(r.clone()));
    }
    let by_name = |name: &str| refs.iter().find(|r| r.name == name).cloned();
    let named = if revision == "HEAD" || revision.starts_with("refs/") {
        by_name(revision)
    } else {
        by_name(&format!("refs/heads/{revision}")).or_else(|| by_name(&format!("refs/tags/{revision}")))
    };
    if let Some(found) = named {
        return Ok(Wanted::Ref(found));
    }
    if !is_hex(revision) {
        return Err(Error::Unknown { revision: revision.to_owned() });
    }
    if let Ok(id) = ObjectId::from_hex(revision.as_bytes()) {
        return Ok(Wanted::Commit(id));
    }
    let lower = revision.to_ascii_lowercase();
    let mut tips: Vec<ObjectId> = refs.iter().map(|r| r.commit).filter(|c| c.to_string().starts_with(&lower)).collect();
    tips.dedup();
    Ok(match tips.as_slice() {
        [one] => Wanted::Commit(*one),
        _ => Wanted::Prefix(lower),
    })
}

fn is_hex(s: &str) -> bool {
    (4..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The tag with the highest version in `range` (`v` prefixes allowed).
fn highest_match<'r>(range: &str, refs: &'r [RemoteRef]) -> Result<&'r RemoteRef, Error> {
    let req = semver::VersionReq::parse(&normalise_range(range))
        .map_err(|source| Error::Range { range: range.to_owned(), source })?;
    let versions: Vec<(semver::Version, &RemoteRef)> = refs
        .iter()
        .filter_map(|r| {
            let tag = r.name.strip_prefix("refs/tags/")?;
            let version = semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()?;
            Some((version, r))
        })
        .collect();
    versions.iter().filter(|(v, _)| req.matches(v)).max_by(|a, b| a.0.cmp(&b.0)).map(|(_, r)| *r).ok_or_else(|| {
        let mut tags: Vec<String> = versions.iter().map(|(v, _)| v.to_string()).collect();
        tags.sort();
        Error::NoMatchingTag {
            range: range.to_owned(),
            tags: if tags.is_empty() { "none".into() } else { tags.join(", ") },
        }
    })
}

/// The `semver` crate wants comparators separated by commas; people (and
/// npm, Helm, Flux) write `>=1.0 <2`. Operators written apart from their
/// version (`>= 1.0`) are joined back.
fn normalise_range(range: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for token in range.split([' ', ',']).filter(|t| !t.is_empty()) {
        if token.chars().all(|c| matches!(c, '~' | '^' | '>' | '<' | '=')) {
            pending_op.push_str(token);
        } else {
            parts.push(format!("{}{token}", std::mem::take(&mut pending_op)));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap()
    }

    fn refs() -> Vec<RemoteRef> {
        let r = |name: &str, n| RemoteRef { name: name.into(), commit: id(n), tag: None };
        vec![
            r("HEAD", 1),
            r("refs/heads/main", 1),
            r("refs/heads/release", 2),
            r("refs/tags/v1.0.0", 3),
            r("refs/tags/v1.2.3", 4),
            r("refs/tags/1.2.9", 5),
            r("refs/tags/v1.3.0", 6),
            r("refs/tags/v2.0.0", 7),
            r("refs/tags/v2.1.0-rc.1", 8),
            r("refs/tags/not-a-version", 9),
        ]
    }

    fn commit_of(revision: &str) -> ObjectId {
        match resolve(revision, &refs()).unwrap() {
            Wanted::Ref(r) => r.commit,
            Wanted::Commit(c) => c,
            Wanted::Prefix(p) => panic!("unexpected prefix {p}"),
        }
    }

    #[test]
    fn semver_ranges_pick_the_highest_match() {
        assert_eq!(commit_of("~1.2"), id(5));
        assert_eq!(commit_of(">=1.0 <2"), id(6));
        assert_eq!(commit_of(">= 1.0, < 1.3"), id(5));
        assert_eq!(commit_of("^1"), id(6));
        assert_eq!(commit_of("*"), id(7), "pre-releases only match when asked for");
        assert_eq!(commit_of(">=2.1.0-rc.0"), id(8));
    }

    #[test]
    fn branches_tags_and_shas() {
        assert_eq!(commit_of("main"), id(1));
        assert_eq!(commit_of("v1.2.3"), id(4));
        assert_eq!(commit_of("refs/heads/release"), id(2));
        assert_eq!(commit_of("HEAD"), id(1));
        assert_eq!(commit_of(&id(42).to_string()), id(42));
        assert_eq!(commit_of("0707"), id(7), "a prefix of an advertised tip");
        assert_eq!(resolve("abcd12", &refs()).unwrap(), Wanted::Prefix("abcd12".into()));
    }

    #[test]
    fn unknown_revisions_and_unmatched_ranges_are_errors() {
        assert!(matches!(resolve("nope", &refs()), Err(Error::Unknown { .. })));
        let err = resolve("~3.0", &refs()).unwrap_err();
        assert!(err.to_string().contains("1.0.0, 1.2.3"), "{err}");
        assert!(matches!(resolve(">=x", &refs()), Err(Error::Range { .. })));
    }
}
