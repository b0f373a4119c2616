//! [`CodeCache`]: compiled components on disk, so a host that has seen a
//! component once loads it again in about a millisecond instead of
//! compiling it (hundreds of ms) or going through wasmtime's own cache
//! (zstd-compressed, several ms), and a Python or JavaScript component
//! (~40 MB of compiled code) in a few milliseconds: see "Two ways in".
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
//!
//! # Two ways in
//!
//! Reading, MACing and copying 40 MB costs ~60 ms, so an entry is
//! authenticated one of two ways ([`CodeCache::get`]):
//!
//! - **By contents**, as above: read through one descriptor, trailer and MAC
//!   checked, the verified bytes (in memory) handed to wasmtime. Always the
//!   first load of an entry, and whenever the next way does not apply.
//! - **By identity**: after a load by contents, if the file did not change
//!   while it was read and its ctime was [`SETTLE`] old, the host writes
//!   `<name>.id`, an HMAC under the same key (domain-separated) of the
//!   entry's name, engine hash and the inode's (device, number, size, ctime,
//!   mtime). A later load opens the entry once, `fstat`s that descriptor,
//!   and when the record matches, wasmtime maps that same inode (through
//!   `/proc/self/fd`, no second path lookup) instead of reading it; the
//!   identity is checked again after mapping. User space cannot set a
//!   ctime, and every write, truncation, chmod and rename moves it; a
//!   copied or restored entry is another inode. So a changed, replaced or
//!   copied file falls back to the contents' MAC (and is re-recorded if
//!   authentic); a record without the key cannot be made, and one copied
//!   from another entry names another name.
//!
//! What the second way trusts beyond the first: that the kernel's ctime
//! moves on every change (ext4, xfs, btrfs and tmpfs do; a network
//! filesystem with a skewed server clock may not — keep the cache local),
//! and that nothing writes the mapped file while the component lives (see
//! the SAFETY comment of `map`). Entries are written 0400 so such a write
//! needs a chmod first.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::local::open_no_follow;

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
/// How old an entry's ctime must be before its identity is recorded. The
/// kernel may stamp ctimes from a clock that advances once per tick (10 ms
/// at the coarsest, HZ=100), so a write within the same tick as the
/// recorded state could leave the ctime unchanged; ten ticks later it
/// cannot. Until then an entry is read and its contents' MAC checked.
pub(crate) const SETTLE: Duration = Duration::from_millis(100);

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
    /// Opening, inspecting, reading or writing a file failed.
    #[error("failed to {action} compiled-code cache file {path}")]
    Io {
        /// `open`, `inspect`, `read` or `write`.
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
        Ok(self.lookup(engine, digest)?.map(|(component, _)| component))
    }

    /// [`CodeCache::get`], saying how the entry was authenticated.
    fn lookup(&self, engine: &Engine, digest: &str) -> Result<Option<(Component, Checked)>, Error> {
        let path = self.path(digest);
        let io = |action, source| Error::Io { action, path: path.clone(), source };
        // A link planted under an entry's name is refused, not followed; a
        // FIFO planted there cannot block the open.
        let file = match open_no_follow(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io("open", source)),
        };
        let before = file.metadata().map_err(|source| io("inspect", source))?;
        if !before.is_file() {
            return Err(Error::Corrupt { path, reason: "not a regular file" });
        }
        if self.vouches(&Record::Entry(digest), &before) {
            match map(engine, &file) {
                // The identity is checked again once wasmtime has mapped the
                // file: a change in between (its ctime moves) drops the
                // component before any of its code has run.
                Ok(component) if same_file(&before, &file.metadata().map_err(|source| io("inspect", source))?) => {
                    return Ok(Some((component, Checked::Identity)));
                }
                Ok(_) => {
                    tracing::warn!(path = %path.display(), "compiled-code cache file changed while mapped; checking its contents")
                }
                // No /proc (the mapping opens /proc/self/fd/N): read it.
                Err(error) => {
                    tracing::debug!(path = %path.display(), error = %error, "mapping failed; checking its contents")
                }
            }
        }
        let (bytes, seen) = Seen::read(&file, before, u64::MAX).map_err(|source| io("read", source))?;
        let code = self.checked(digest, &bytes).map_err(|reason| Error::Corrupt { path: path.clone(), reason })?;
        let component = deserialize(engine, code).map_err(|source| Error::Wasmtime { path: path.clone(), source })?;
        self.record_seen(&Record::Entry(digest), &seen);
        Ok(Some((component, Checked::Contents)))
    }

    /// Writes `component` under `digest`, atomically and read-only (0400).
    /// Its identity is recorded by the first load after [`SETTLE`].
    pub(crate) fn put(&self, digest: &str, component: &Component) -> Result<(), Error> {
        let path = self.path(digest);
        let code = component.serialize().map_err(|source| Error::Wasmtime { path: path.clone(), source })?;
        let tmp = self.dir.join(format!(".{}.{}.tmp", std::process::id(), next_tmp()));
        let write = || -> std::io::Result<()> {
            // Read-only from the start: the descriptor opened here may write,
            // but no later open for writing succeeds without a chmod first.
            let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o400).open(&tmp)?;
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

    /// Whether the plugin file whose descriptor has `metadata` is the very
    /// inode a record names as holding bytes that hash to `digest`: the
    /// pinned digest holds without reading and hashing the file again.
    pub(crate) fn is_source(&self, digest: &str, metadata: &fs::Metadata) -> bool {
        self.vouches(&Record::Source(digest), metadata)
    }

    /// Records that the plugin file `seen` holds bytes hashing to `digest`
    /// (see [`CodeCache::record_seen`]).
    pub(crate) fn record_source(&self, digest: &str, seen: &Seen) {
        self.record_seen(&Record::Source(digest), seen);
    }

    /// Writes `record` for the file `seen`, only if it did not change while
    /// it was read and its ctime was already [`SETTLE`] old when it was:
    /// any later change gives it a ctime that differs from the recorded
    /// one, even where the kernel's timestamps are coarse.
    fn record_seen(&self, record: &Record<'_>, seen: &Seen) {
        if settled(&seen.before, seen.at) && same_file(&seen.before, &seen.after) {
            self.record(record, &seen.before);
        }
    }

    /// Whether `record` is there and names the inode of `metadata`.
    fn vouches(&self, record: &Record<'_>, metadata: &fs::Metadata) -> bool {
        // Constant-time comparison: the MAC is a secret's output.
        self.recorded(record).is_some_and(|mac| self.identity_mac(record, metadata).verify_slice(&mac).is_ok())
    }

    /// The MAC stored in `record`'s file, if one is there (32 bytes).
    fn recorded(&self, record: &Record<'_>) -> Option<Vec<u8>> {
        let path = self.record_path(record);
        let file = open_no_follow(&path).ok()?;
        let mut mac = Vec::with_capacity(MAC);
        Read::take(file, MAC as u64 + 1).read_to_end(&mut mac).ok()?;
        (mac.len() == MAC).then_some(mac)
    }

    /// Writes `record` for the file with `metadata` (best effort: without
    /// it the next load reads and checks the file).
    fn record(&self, record: &Record<'_>, metadata: &fs::Metadata) {
        let path = self.record_path(record);
        let tmp = self.dir.join(format!(".{}.{}.tmp", std::process::id(), next_tmp()));
        let mac = self.identity_mac(record, metadata).finalize().into_bytes();
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut file| file.write_all(&mac))
            .and_then(|()| fs::rename(&tmp, &path));
        if let Err(error) = written {
            let _ = fs::remove_file(&tmp);
            tracing::debug!(path = %path.display(), %error, "identity of a file not recorded");
        }
    }

    /// The MAC of a record: its kind, the digest it vouches for (and for an
    /// entry, the engine hash), and the inode (device, number, size, ctime,
    /// mtime) that held those bytes. The input starts with `identity\0` or
    /// `source\0`, which no content MAC's input (hex digits first) can, so
    /// no MAC stands in for another of a different kind.
    fn identity_mac(&self, record: &Record<'_>, metadata: &fs::Metadata) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        match record {
            Record::Entry(digest) => {
                mac.update(b"identity\0");
                mac.update(hex_of(digest).as_bytes());
                mac.update(b"\0");
                mac.update(self.engine_hash.as_bytes());
                mac.update(b"\0");
            }
            Record::Source(digest) => {
                mac.update(b"source\0");
                mac.update(hex_of(digest).as_bytes());
                mac.update(b"\0");
            }
        }
        for field in identity(metadata) {
            mac.update(&field.to_le_bytes());
        }
        mac
    }

    /// One record per entry, and one per digest for plugin files: a second
    /// file with the same bytes replaces the first's record (it costs a
    /// hash, no more), and the records stay as many as the entries.
    fn record_path(&self, record: &Record<'_>) -> PathBuf {
        match record {
            Record::Entry(digest) => self.dir.join(format!("{}-{}.id", hex_of(digest), self.engine_hash)),
            Record::Source(digest) => self.dir.join(format!("{}.source.id", hex_of(digest))),
        }
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
    let mut file = open_no_follow(path).map_err(|error| {
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

/// What an identity record vouches for, by digest.
enum Record<'a> {
    /// The compiled-code entry of this digest (for this engine) is the
    /// recorded inode: it may be mapped.
    Entry(&'a str),
    /// The recorded inode (a plugin file) holds bytes of this digest.
    Source(&'a str),
}

/// A file's metadata before and after it was read through one descriptor,
/// and when the reading began: equal identities mean the bytes read are the
/// inode's, and its age then says whether a later change must move its
/// ctime (see [`SETTLE`]).
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) before: fs::Metadata,
    pub(crate) at: SystemTime,
    pub(crate) after: fs::Metadata,
}

impl Seen {
    /// Reads all of `file` (at most `cap` bytes plus one, so that a larger
    /// file shows), whose metadata taken just before is `before`.
    pub(crate) fn read(file: &fs::File, before: fs::Metadata, cap: u64) -> std::io::Result<(Vec<u8>, Seen)> {
        let at = SystemTime::now();
        let mut bytes = Vec::with_capacity(before.len().min(cap) as usize);
        file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
        let after = file.metadata()?;
        Ok((bytes, Seen { before, at, after }))
    }
}

/// How an entry was found authentic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    /// Its inode is the one a MAC'd identity record names: mapped, not read.
    Identity,
    /// Its contents were read and their MAC verified.
    Contents,
}

/// What identifies an inode's contents without reading them. ctime cannot
/// be set from user space and moves on every write, truncation, chmod,
/// chown, link and rename; a copied or restored file is another inode (or
/// has a new ctime).
fn identity(metadata: &fs::Metadata) -> [i64; 7] {
    [
        metadata.dev() as i64,
        metadata.ino() as i64,
        metadata.size() as i64,
        metadata.ctime(),
        metadata.ctime_nsec(),
        metadata.mtime(),
        metadata.mtime_nsec(),
    ]
}

/// Whether the file's ctime was at least [`SETTLE`] old (by this host's
/// clock) at `at`. A ctime in the future is not settled.
fn settled(metadata: &fs::Metadata, at: SystemTime) -> bool {
    let ctime = std::time::UNIX_EPOCH
        + Duration::from_secs(metadata.ctime().max(0) as u64)
        + Duration::from_nanos(metadata.ctime_nsec().max(0) as u64);
    at.duration_since(ctime).is_ok_and(|age| age >= SETTLE)
}

fn same_file(before: &fs::Metadata, after: &fs::Metadata) -> bool {
    identity(before) == identity(after)
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

/// Rebuilds a component by mapping the open cache file `file`, whose
/// identity the caller has just authenticated.
#[allow(unsafe_code)]
fn map(engine: &Engine, file: &fs::File) -> wasmtime::Result<Component> {
    use std::os::fd::AsRawFd;
    // `/proc/self/fd/N` opens the inode `file` is open on, whatever is
    // renamed over the entry's name meanwhile: no path is looked up again.
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    // SAFETY: wasmtime requires the file to hold output of its own
    // serializer, unmodified while the component lives. What is trusted:
    // `CodeCache::put` (or a load that verified the contents' MAC) wrote an
    // identity record, an HMAC-SHA256 under this installation's key of the
    // entry's name and engine hash and of the (device, inode, size, ctime,
    // mtime) of the file holding those authentic bytes; the caller verified
    // that record against `fstat` of this very descriptor. Any write,
    // truncation, chmod or rename gives the inode a new ctime (the kernel
    // sets it; user space cannot), and a copy is another inode, so the record
    // no longer matches and the contents are read and MAC-checked instead.
    // The caller checks the identity again after mapping, so a change before
    // then drops the component before any code runs. What remains: the file
    // is mapped (MAP_PRIVATE), not copied, so a write to it while the
    // component lives changes code that runs (pages not yet copied are the
    // file's). Entries are written 0400, so such a writer must first chmod
    // (or be root), and it runs as this user, who can already read the key
    // and forge any entry. A record is only taken of a ctime [`SETTLE`] old,
    // so coarse kernel timestamps cannot hide a write before it. Truncating a mapped
    // file makes the next access to the lost pages fail with SIGBUS (a crash,
    // not code execution). The trailer after the code is mapped too; the
    // ELF reader ignores bytes past its sections. wasmtime itself checks the
    // header and refuses artifacts of another version or configuration.
    unsafe { Component::deserialize_file(engine, path) }
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

    /// Writes `bytes` into the existing file `path` in place (same inode),
    /// as a writer that first makes the read-only entry writable would.
    fn overwrite(path: &Path, bytes: &[u8]) {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap().write_all(bytes).unwrap();
    }

    /// Waits out [`SETTLE`], loads `digest` by its contents (which records
    /// its identity) and then by its identity.
    fn settle(cache: &CodeCache, engine: &Engine, digest: &str) {
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        assert_eq!(checked(cache, engine, digest), Ok(Checked::Contents));
        assert_eq!(checked(cache, engine, digest), Ok(Checked::Identity));
    }

    /// How `digest` was loaded, or why it was refused.
    fn checked(cache: &CodeCache, engine: &Engine, digest: &str) -> Result<Checked, String> {
        match cache.lookup(engine, digest) {
            Ok(Some((_, how))) => Ok(how),
            Ok(None) => Err("missing".into()),
            Err(error) => Err(error.to_string()),
        }
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
        // The entry, the key, perhaps an identity record; no temporary files.
        assert!(names.iter().all(|name| !name.to_string_lossy().starts_with('.')), "{names:?}");
        assert_eq!(mode(&dir.path().join(KEY_FILE)), 0o600);
        assert_eq!(mode(Path::new(&path)), 0o400, "entries are read-only");
    }

    #[test]
    fn truncated_flipped_or_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, engine, path) = cached(dir.path());
        let good = fs::read(&path).unwrap();
        let refused = |bytes: &[u8]| {
            overwrite(Path::new(&path), bytes);
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
        overwrite(Path::new(&path), &good);
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
        // The same entry under a new key (another installation) is refused,
        // even with an identity record made under the old key beside it.
        settle(&cache, &engine, "sha256:00ff");
        fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let rekeyed = CodeCache::open(dir.path(), &engine).unwrap();
        assert!(rekeyed.get(&engine, "sha256:00ff").unwrap_err().to_string().contains("MAC does not match"));
    }

    #[test]
    fn a_settled_entry_is_mapped_and_an_entry_changed_in_place_is_read_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, engine, path) = cached(dir.path());
        let path = Path::new(&path);
        // Right after it was written, an entry is read: its ctime is too new.
        assert_eq!(checked(&cache, &engine, "sha256:00ff"), Ok(Checked::Contents));
        settle(&cache, &engine, "sha256:00ff");
        // Modified after its identity was recorded, same size, same inode:
        // its ctime moved, so its contents are read and refused.
        let good = fs::read(path).unwrap();
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 1;
        overwrite(path, &flipped);
        assert!(checked(&cache, &engine, "sha256:00ff").unwrap_err().contains("MAC does not match"));
        // The good bytes written back are read (and MAC-checked) again first.
        overwrite(path, &good);
        assert_eq!(checked(&cache, &engine, "sha256:00ff"), Ok(Checked::Contents));
        settle(&cache, &engine, "sha256:00ff");
        // A chmod alone moves the ctime too.
        fs::set_permissions(path, fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(checked(&cache, &engine, "sha256:00ff"), Ok(Checked::Contents));
    }

    #[test]
    fn a_copied_entry_or_a_forged_or_borrowed_record_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, engine, path) = cached(dir.path());
        let path = Path::new(&path);
        let other_path = dir.path().join(format!("0abc-{}.cwasm", cache.engine_hash));
        cache.put("sha256:0abc", &Component::new(&engine, "(component (core module))").unwrap()).unwrap();
        settle(&cache, &engine, "sha256:00ff");
        settle(&cache, &engine, "sha256:0abc");
        // A copy of the entry restored over it (a backup, `cp -a` of the
        // directory) is another inode: read, found authentic, recorded anew.
        let copy = dir.path().join("copy");
        fs::copy(path, &copy).unwrap();
        fs::rename(&copy, path).unwrap();
        settle(&cache, &engine, "sha256:00ff");
        // An authentic entry of another component renamed over this one,
        // with this one's record still in place: read, and refused by name.
        let good = fs::read(path).unwrap();
        fs::copy(&other_path, &copy).unwrap();
        fs::rename(&copy, path).unwrap();
        assert!(checked(&cache, &engine, "sha256:00ff").unwrap_err().contains("MAC does not match"));
        overwrite(path, &good);
        settle(&cache, &engine, "sha256:00ff");
        // Another entry's record copied over this one's names another entry.
        let record = |hex: &str| dir.path().join(format!("{hex}-{}.id", cache.engine_hash));
        fs::copy(record("0abc"), record("00ff")).unwrap();
        assert_eq!(checked(&cache, &engine, "sha256:00ff"), Ok(Checked::Contents));
        // A forged record over a changed entry: the change is still caught.
        std::thread::sleep(SETTLE);
        fs::write(record("00ff"), [7; MAC]).unwrap();
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 1;
        overwrite(path, &flipped);
        assert!(checked(&cache, &engine, "sha256:00ff").unwrap_err().contains("MAC does not match"));
    }

    #[test]
    fn a_plugin_file_is_recorded_only_if_it_had_settled_and_did_not_change_while_read() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, ..) = cached(dir.path());
        let file = dir.path().join("p.wasm");
        fs::write(&file, b"plugin").unwrap();
        let before = fs::metadata(&file).unwrap();
        let ctime = std::time::UNIX_EPOCH
            + Duration::from_secs(before.ctime() as u64)
            + Duration::from_nanos(before.ctime_nsec() as u64);
        let seen = |at, after| Seen { before: before.clone(), at, after };
        // Read within SETTLE of its last change: a change in the same clock
        // tick could leave the ctime as recorded, so nothing is recorded.
        cache.record_source("sha256:00ff", &seen(ctime + SETTLE / 2, before.clone()));
        assert!(!cache.is_source("sha256:00ff", &before));
        // Changed while it was read: not recorded either.
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&file, b"plugin").unwrap();
        let after = fs::metadata(&file).unwrap();
        cache.record_source("sha256:00ff", &seen(ctime + SETTLE, after.clone()));
        assert!(!cache.is_source("sha256:00ff", &before) && !cache.is_source("sha256:00ff", &after));
        // Settled and unchanged: recorded, for this digest only.
        cache.record_source("sha256:00ff", &seen(ctime + SETTLE, before.clone()));
        assert!(cache.is_source("sha256:00ff", &before));
        assert!(!cache.is_source("sha256:0abc", &before));
        assert!(!cache.is_source("sha256:00ff", &after), "the file changed since");
    }

    #[test]
    fn a_link_or_a_fifo_under_an_entry_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, engine, path) = cached(dir.path());
        let target = dir.path().join("elsewhere");
        fs::rename(&path, &target).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let error = checked(&cache, &engine, "sha256:00ff").unwrap_err();
        assert!(error.starts_with("failed to open compiled-code cache file"), "{error}");
        fs::remove_file(&path).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(made.success());
        assert!(checked(&cache, &engine, "sha256:00ff").unwrap_err().contains("not a regular file"));
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
