//! [`CodeCache`]: compiled components on disk, so a host that has seen a
//! component once loads it again in well under a millisecond instead of
//! compiling it (hundreds of ms) or going through wasmtime's own cache
//! (zstd-compressed, several ms).
//!
//! One file per component and engine: `<component sha256>-<engine
//! hash>.cwasm`, where the engine hash is wasmtime's
//! `precompile_compatibility_hash` (target, compiler flags, tunables, wasm
//! features and the wasmtime version). Its contents are what
//! `Component::serialize` wrote, then a trailer: their CRC-32, their length
//! and [`MAGIC`]. Files are written to a temporary name and renamed, so a
//! reader sees a whole file or none; a file whose trailer does not match
//! (truncated, corrupt, foreign) is ignored, recompiled and rewritten. The
//! checksum is for accidents (a full disk, bit rot): whoever can write the
//! directory could forge any checksum, which is why the directory itself
//! must be private (below). CRC-32 checks the 300 KB of a small component
//! in microseconds, where sha256 took a third of the load.
//!
//! Loading compiled code is `unsafe` in wasmtime: bytes that were not
//! written by its serializer can execute arbitrary code. Whoever can write
//! the cache directory can therefore run code as this process, so the host
//! creates it private (0700) and refuses one that another user owns or that
//! group or others may write.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The last bytes of every cache file (format version 2).
const MAGIC: &[u8; 8] = b"capstan2";
/// The trailer: CRC-32 of the code (4 bytes), its length (8), [`MAGIC`].
const TRAILER: usize = 4 + 8 + MAGIC.len();

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
    /// Another user owns the directory: its code cannot be trusted.
    #[error("not using the compiled-code cache {dir}: it is owned by uid {owner}, not by this process (uid {uid})")]
    Foreign {
        /// The cache directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's effective uid.
        uid: u32,
    },
    /// The file's trailer, length or checksum does not match.
    #[error("ignoring corrupt compiled-code cache file {path}: {reason}")]
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
}

impl CodeCache {
    /// Opens (creating, private) the cache directory for `engine`.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Self, Error> {
        let dir_error = |source| Error::Dir { dir: dir.to_owned(), source };
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(dir_error)?;
        let metadata = fs::metadata(dir).map_err(dir_error)?;
        let (owner, uid) = (metadata.uid(), rustix::process::geteuid().as_raw());
        if owner != uid {
            return Err(Error::Foreign { dir: dir.to_owned(), owner, uid });
        }
        let mode = metadata.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(Error::Shared { dir: dir.to_owned(), mode: mode & 0o7777 });
        }
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self { dir: dir.to_owned(), engine_hash: hex::encode(&hasher.0.finalize()[..16]) })
    }

    /// The cached component of `digest` (`sha256:<hex>`), if a sound file
    /// for this engine is there.
    pub(crate) fn get(&self, engine: &Engine, digest: &str) -> Result<Option<Component>, Error> {
        let path = self.path(digest);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { action: "read", path, source }),
        };
        let code = checked(&bytes).map_err(|reason| Error::Corrupt { path: path.clone(), reason })?;
        deserialize(engine, code).map(Some).map_err(|source| Error::Wasmtime { path, source })
    }

    /// Writes `component` under `digest`, atomically.
    pub(crate) fn put(&self, digest: &str, component: &Component) -> Result<(), Error> {
        let path = self.path(digest);
        let code = component.serialize().map_err(|source| Error::Wasmtime { path: path.clone(), source })?;
        let tmp = self.dir.join(format!(".{}.{}.tmp", std::process::id(), next_tmp()));
        let write = || -> std::io::Result<()> {
            let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(&code)?;
            file.write_all(&trailer(&code))?;
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
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join(format!("{hex}-{}.cwasm", self.engine_hash))
    }
}

/// What follows the code in its file.
fn trailer(code: &[u8]) -> Vec<u8> {
    let mut trailer = Vec::with_capacity(TRAILER);
    trailer.extend_from_slice(&crc32fast::hash(code).to_le_bytes());
    trailer.extend_from_slice(&(code.len() as u64).to_le_bytes());
    trailer.extend_from_slice(MAGIC);
    trailer
}

/// The code of a cache file, once its trailer matches.
fn checked(bytes: &[u8]) -> Result<&[u8], &'static str> {
    let Some(split) = bytes.len().checked_sub(TRAILER) else { return Err("shorter than its trailer") };
    let (code, found) = bytes.split_at(split);
    if !found.ends_with(MAGIC) {
        return Err("no capstan trailer (truncated, or not written by this host)");
    }
    let expected = trailer(code);
    if found[4..12] != expected[4..12] {
        return Err("length does not match the one written with it");
    }
    if found[..4] != expected[..4] {
        return Err("CRC-32 does not match the one written with it");
    }
    Ok(code)
}

/// Rebuilds a component from code this cache wrote.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, code: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires `code` to be output of its own serializer,
    // unmodified. It is: `CodeCache::put` wrote it with
    // `Component::serialize` into a directory private to this user (created
    // 0700; refused when another user owns it or group or others may write
    // it), under the component's digest and this engine's compatibility
    // hash, followed by its length and CRC-32, which `checked` verified on
    // these very bytes (read into memory, so the file cannot change
    // underneath): a truncated or damaged file never gets here. wasmtime
    // itself checks the header and refuses artifacts of another version or
    // engine configuration.
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

    #[test]
    fn a_written_component_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, engine, path) = cached(dir.path());
        assert!(Path::new(&path).is_file());
        assert!(cache.get(&engine, "sha256:00ff").unwrap().is_some());
        assert!(cache.get(&engine, "sha256:0000").unwrap().is_none());
        let leftovers = fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().path() != Path::new(&path));
        assert_eq!(leftovers.count(), 0, "no temporary files are left behind");
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
        assert!(refused(&flipped).contains("CRC-32 does not match"));
        let mut spliced = good[..good.len() - TRAILER - 1].to_vec();
        spliced.extend_from_slice(&good[good.len() - TRAILER..]);
        assert!(refused(&spliced).contains("length does not match"));
        let mut foreign = b"not wasmtime code".to_vec();
        foreign.extend_from_slice(&trailer(b"not wasmtime code"));
        assert!(refused(&foreign).starts_with("wasmtime refused compiled-code cache file"));
        fs::write(&path, &good).unwrap();
        assert!(cache.get(&engine, "sha256:00ff").unwrap().is_some());
    }

    #[test]
    fn a_directory_others_can_write_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let error = CodeCache::open(dir.path(), &engine()).err().unwrap().to_string();
        assert!(error.contains("writable by group or others (mode 777)"), "{error}");
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
