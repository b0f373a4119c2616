//! [`CodeCache`]: compiled components on disk, so a host that has seen a
//! component once loads it again in about a millisecond instead of
//! compiling it (hundreds of ms) or going through wasmtime's own cache
//! (zstd-compressed, several ms).
//!
//! One file per component and engine: `<component sha256>-<engine
//! hash>.cwasm`, where the engine hash is wasmtime's
//! `precompile_compatibility_hash` (target, compiler flags, tunables, wasm
//! features and the wasmtime version). Its contents are what
//! `Component::serialize` wrote, then a trailer: an HMAC-SHA256 of the file
//! name's digest and engine hash and of the code, the code's length, and
//! [`MAGIC`]. Files are written to a temporary name and renamed, so a
//! reader sees a whole file or none.
//!
//! Loading compiled code is `unsafe` in wasmtime: bytes that were not
//! written by its serializer can execute arbitrary code. A checksum does not
//! help against someone who can write a file here (a repository once
//! replaced `builtin:yaml`'s code with another component's through a
//! materialisation bug), so every entry is authenticated with a secret key
//! of this installation ([`KEY_FILE`]: 32 random bytes, created 0600 and
//! atomically, refused when another user owns it or anyone else may read or
//! write it) before wasmtime sees a byte. The MAC binds the entry to its
//! name, so even a genuine entry of another component copied over this one
//! is refused. A forged, damaged or foreign entry is reported, never
//! loaded, and recompiled. The directory itself is created private (0700)
//! and refused when another user owns it or others may write it, and the
//! host refuses a cache directory that holds, or lies inside, a directory
//! where repository content is written ([`CodeCache::open`]).

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use rustix::fs::OFlags;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The last bytes of every cache file (format version 3: HMAC-SHA256).
const MAGIC: &[u8; 8] = b"capstan3";
/// The MAC's length.
const MAC: usize = 32;
/// The trailer: the MAC, the code's length (8 bytes), [`MAGIC`].
const TRAILER: usize = MAC + 8 + MAGIC.len();
/// The installation's key, inside the cache directory.
pub(crate) const KEY_FILE: &str = "hmac-key";
/// Bytes of key.
const KEY_LEN: usize = 32;

/// Why a cache file was not used. Never fatal: the component is compiled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The directory could not be created or inspected.
    #[error("failed to prepare the compiled-code cache {dir}")]
    Dir {
        /// The cache directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Others may write the directory: its code cannot be trusted.
    #[error(
        "not using the compiled-code cache {dir}: it is writable by group or others (mode {mode:o}); run `chmod go-w` on it"
    )]
    Shared {
        /// The cache directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another user owns the directory or the key: its code cannot be trusted.
    #[error("not using the compiled-code cache: {path} is owned by uid {owner}, not by this process (uid {uid})")]
    Foreign {
        /// The cache directory or key file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's effective uid.
        uid: u32,
    },
    /// The key file is not a private regular file of [`KEY_LEN`] bytes.
    #[error("not using the compiled-code cache: its key {path} {reason}; delete it to have a new one made")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file's trailer, length or MAC does not match.
    #[error("refusing compiled-code cache file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What does not match.
        reason: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("failed to {action} compiled-code cache file {path}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// wasmtime refused the file (another version or configuration slipped
    /// past the engine hash) or could not serialize the component.
    #[error("wasmtime refused compiled-code cache file {path}")]
    Wasmtime {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: wasmtime::Error,
    },
}

/// Compiled components of one engine in one directory.
pub(crate) struct CodeCache {
    dir: PathBuf,
    engine_hash: String,
    /// The MAC keyed with this installation's secret.
    mac: Hmac<Sha256>,
}

impl CodeCache {
    /// Opens (creating, private) the cache directory for `engine`, and its
    /// key (creating it on first use).
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Self, Error> {
        let dir_error = |source| Error::Dir { dir: dir.to_owned(), source };
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(dir_error)?;
        let metadata = fs::metadata(dir).map_err(dir_error)?;
        check_owner(dir, &metadata)?;
        let mode = metadata.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(Error::Shared { dir: dir.to_owned(), mode: mode & 0o7777 });
        }
        let key = key(dir)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_owned(),
            engine_hash: hex::encode(&hasher.0.finalize()[..16]),
            mac: Hmac::new_from_slice(&key).expect("HMAC takes keys of any length"),
        })
    }

    /// The cached component of `digest` (`sha256:<hex>`), if an authentic
    /// file for this engine is there.
    pub(crate) fn get(&self, engine: &Engine, digest: &str) -> Result<Option<Component>, Error> {
        let path = self.path(digest);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { action: "read", path, source }),
        };
        let code = self.checked(digest, &bytes).map_err(|reason| Error::Corrupt { path: path.clone(), reason })?;
        deserialize(engine, code).map(Some).map_err(|source| Error::Wasmtime { path, source })
    }

    /// Writes `component` under `digest`, atomically.
    pub(crate) fn put(&self, digest: &str, component: &Component) -> Result<(), Error> {
        let path = self.path(digest);
        let code = component.serialize().map_err(|source| Error::Wasmtime { path: path.clone(), source })?;
        let tmp = self.dir.join(format!(".{}.{}.tmp", std::process::id(), next_tmp()));
        let write = || -> std::io::Result<()> {
            let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            file.write_all(&code)?;
            file.write_all(&self.trailer(digest, &code))?;
            drop(file);
            fs::rename(&tmp, &path)
        };
        write().map_err(|source| {
            // Best effort: a leftover temporary file is only wasted space.
            let _ = fs::remove_file(&tmp);
            Error::Io { action: "write", path, source }
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex_of(digest), self.engine_hash))
    }

    /// The MAC of `code` stored under `digest`: the name is authenticated
    /// with the contents, so no entry can stand in for another.
    fn mac(&self, digest: &str, code: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(hex_of(digest).as_bytes());
        mac.update(b"\0");
        mac.update(self.engine_hash.as_bytes());
        mac.update(b"\0");
        mac.update(code);
        mac
    }

    /// What follows the code in its file.
    fn trailer(&self, digest: &str, code: &[u8]) -> Vec<u8> {
        let mut trailer = Vec::with_capacity(TRAILER);
        trailer.extend_from_slice(&self.mac(digest, code).finalize().into_bytes());
        trailer.extend_from_slice(&(code.len() as u64).to_le_bytes());
        trailer.extend_from_slice(MAGIC);
        trailer
    }

    /// The code of a cache file, once its trailer and MAC match.
    fn checked<'a>(&self, digest: &str, bytes: &'a [u8]) -> Result<&'a [u8], &'static str> {
        let Some(split) = bytes.len().checked_sub(TRAILER) else { return Err("shorter than its trailer") };
        let (code, found) = bytes.split_at(split);
        if !found.ends_with(MAGIC) {
            return Err("no capstan trailer (truncated, or not written by this host)");
        }
        if found[MAC..MAC + 8] != (code.len() as u64).to_le_bytes() {
            return Err("length does not match the one written with it");
        }
        // Constant-time comparison: the MAC is a secret's output.
        self.mac(digest, code)
            .verify_slice(&found[..MAC])
            .map_err(|_| "MAC does not match (forged, damaged, or written with another key)")?;
        Ok(code)
    }
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Refuses `path` unless this process's user owns it.
fn check_owner(path: &Path, metadata: &fs::Metadata) -> Result<(), Error> {
    let (owner, uid) = (metadata.uid(), rustix::process::geteuid().as_raw());
    if owner != uid {
        return Err(Error::Foreign { path: path.to_owned(), owner, uid });
    }
    Ok(())
}

/// The installation's key in `dir`: read if it is there (and private),
/// created otherwise. Creation is atomic: the key is written to a private
/// temporary file and hard-linked into place, which fails rather than
/// replaces when another process got there first (its key is then read).
fn key(dir: &Path) -> Result<Vec<u8>, Error> {
    let path = dir.join(KEY_FILE);
    let io = |source| Error::Dir { dir: dir.to_owned(), source };
    match read_key(&path) {
        Err(Error::Dir { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut key = vec![0; KEY_LEN];
    fs::File::open("/dev/urandom").and_then(|mut random| random.read_exact(&mut key)).map_err(io)?;
    let tmp = dir.join(format!(".key.{}.{}.tmp", std::process::id(), next_tmp()));
    let created = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(&key)?;
        file.sync_all()?;
        fs::hard_link(&tmp, &path)
    })();
    let _ = fs::remove_file(&tmp);
    match created {
        Ok(()) => Ok(key),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => read_key(&path),
        Err(error) => Err(io(error)),
    }
}

/// Reads the key, refusing a link, a file another user owns or others may
/// read or write, and one of the wrong length.
fn read_key(path: &Path) -> Result<Vec<u8>, Error> {
    let dir = path.parent().unwrap_or(path).to_owned();
    let io = |source| Error::Dir { dir: dir.clone(), source };
    let refused = |reason: String| Error::Key { path: path.to_owned(), reason };
    let mut file =
        fs::OpenOptions::new().read(true).custom_flags(OFlags::NOFOLLOW.bits() as i32).open(path).map_err(|error| {
            // O_NOFOLLOW on a link fails with ELOOP.
            if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                refused("is a symbolic link".to_owned())
            } else {
                io(error)
            }
        })?;
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(refused("is not a regular file".to_owned()));
    }
    check_owner(path, &metadata)?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(refused(format!("may be read or written by others (mode {mode:o}, must be 600)")));
    }
    let mut key = Vec::with_capacity(KEY_LEN);
    Read::take(&mut file, KEY_LEN as u64 + 1).read_to_end(&mut key).map_err(io)?;
    if key.len() != KEY_LEN {
        return Err(refused(format!("holds {} bytes, not {KEY_LEN}", key.len())));
    }
    Ok(key)
}

/// Rebuilds a component from code this cache wrote.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, code: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires `code` to be output of its own serializer,
    // unmodified. It is: `CodeCache::put` wrote it with
    // `Component::serialize`, followed by an HMAC-SHA256 under this
    // installation's secret key (private to this user, never written by
    // anything but `key`) of the code and of the name it was stored under,
    // and `checked` verified that MAC on these very bytes (read into memory,
    // so the file cannot change underneath). Without the key no one can
    // produce a matching MAC, and an authentic entry of another component
    // fails on the name. wasmtime itself checks the header and refuses
    // artifacts of another version or engine configuration.
    unsafe { Component::deserialize(engine, code) }
}

/// A per-process counter that keeps concurrent writers' temporary files apart.
fn next_tmp() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Feeds `Hash` output into sha256: stable across processes and Rust
/// releases, unlike `DefaultHasher`.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("sha256 is 32 bytes"))
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(wasmtime::Config::new().wasm_component_model(true)).unwrap()
    }

    fn cached(dir: &Path) -> (CodeCache, Engine, String) {
        let engine = engine();
        let cache = CodeCache::open(dir, &engine).unwrap();
        let component = Component::new(&engine, "(component)").unwrap();
        cache.put("sha256:00ff", &component).unwrap();
        (cache, engine, dir.join(format!("00ff-{}.cwasm", cache_hash(dir))).display().to_string())
    }

    fn cache_hash(dir: &Path) -> String {
        CodeCache::open(dir, &engine()).unwrap().engine_hash
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_written_component_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, engine, path) = cached(dir.path());
        assert!(Path::new(&path).is_file());
        assert!(cache.get(&engine, "sha256:00ff").unwrap().is_some());
        assert!(cache.get(&engine, "sha256:0000").unwrap().is_none());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "the entry and the key, no temporary files: {names:?}");
        assert_eq!(mode(&dir.path().join(KEY_FILE)), 0o600);
    }

    #[test]
    fn truncated_flipped_or_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, engine, path) = cached(dir.path());
        let good = fs::read(&path).unwrap();
        let refused = |bytes: &[u8]| {
            fs::write(&path, bytes).unwrap();
            cache.get(&engine, "sha256:00ff").unwrap_err().to_string()
        };
        assert!(refused(&good[..good.len() - 1]).contains("no capstan trailer"));
        assert!(refused(&good[..10]).contains("shorter than its trailer"));
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 1;
        assert!(refused(&flipped).contains("MAC does not match"));
        let mut spliced = good[..good.len() - TRAILER - 1].to_vec();
        spliced.extend_from_slice(&good[good.len() - TRAILER..]);
        assert!(refused(&spliced).contains("length does not match"));
        fs::write(&path, &good).unwrap();
        assert!(cache.get(&engine, "sha256:00ff").unwrap().is_some());
    }

    #[test]
    fn an_entry_is_bound_to_its_name_and_to_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, engine, path) = cached(dir.path());
        // A genuine entry copied under another component's name.
        let other = dir.path().join(format!("0abc-{}.cwasm", cache.engine_hash));
        fs::copy(&path, &other).unwrap();
        let error = cache.get(&engine, "sha256:0abc").unwrap_err().to_string();
        assert!(error.contains("MAC does not match"), "{error}");
        // The same entry under a new key (another installation) is refused.
        fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let rekeyed = CodeCache::open(dir.path(), &engine).unwrap();
        assert!(rekeyed.get(&engine, "sha256:00ff").unwrap_err().to_string().contains("MAC does not match"));
    }

    #[test]
    fn a_key_others_can_read_or_a_linked_key_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join(KEY_FILE);
        cached(dir.path());
        fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
        let error = CodeCache::open(dir.path(), &engine()).err().unwrap().to_string();
        assert!(error.contains("may be read or written by others (mode 640, must be 600)"), "{error}");
        fs::remove_file(&key).unwrap();
        let elsewhere = tempfile::NamedTempFile::new().unwrap();
        fs::write(elsewhere.path(), [7; KEY_LEN]).unwrap();
        fs::set_permissions(elsewhere.path(), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), &key).unwrap();
        let error = CodeCache::open(dir.path(), &engine()).err().unwrap().to_string();
        assert!(error.contains("is a symbolic link"), "{error}");
        fs::remove_file(&key).unwrap();
        fs::write(&key, b"short").unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let error = CodeCache::open(dir.path(), &engine()).err().unwrap().to_string();
        assert!(error.contains("holds 5 bytes, not 32"), "{error}");
    }

    #[test]
    fn a_directory_others_can_write_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let error = CodeCache::open(dir.path(), &engine()).err().unwrap().to_string();
        assert!(error.contains("writable by group or others (mode 777)"), "{error}");
    }

    #[test]
    fn a_new_directory_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("a/b");
        CodeCache::open(&cache, &engine()).unwrap();
        assert_eq!(mode(&cache), 0o700);
    }

    #[test]
    fn another_engine_configuration_uses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        let other = CodeCache::open(dir.path(), &Engine::new(&config).unwrap()).unwrap();
        assert_ne!(other.engine_hash, cache_hash(dir.path()));
    }
}
