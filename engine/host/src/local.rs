//! Plugins from local files: only regular files, no larger than a download
//! may be, and — when the host is configured so ([`LocalPlugins::Confined`])
//! — only from the directories it allows.
//!
//! Reading `plugin: /dev/zero` once never ended, and a FIFO blocked the
//! render forever. And since a digest mismatch prints the digest of what
//! was read, an Application that may name any path can learn the hash of
//! any file the engine can read (a key, a token): the controller confines
//! local plugins to the Application's snapshot and its configured plugin
//! directories. Symbolic links are resolved first; the checks apply to what
//! they point at.

use std::fs::{File, Metadata};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::cache::Seen;
use crate::fetch::MAX_DOWNLOAD_BYTES;
use crate::{Error, Result};

/// Where local plugin files (`plugin: path` or `file://`) may come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LocalPlugins {
    /// Any path this process can read (the CLI: the user names the file).
    #[default]
    Anywhere,
    /// Only files beneath the `base_dir` of the load (for the controller,
    /// the Application's snapshot) or beneath one of these directories,
    /// after symbolic links are resolved.
    Confined(Vec<PathBuf>),
}

/// Opens `path` for reading without following a link planted at it, and
/// without blocking on a FIFO planted there (`O_NOFOLLOW | O_NONBLOCK`).
pub(crate) fn open_no_follow(path: &Path) -> std::io::Result<File> {
    File::options().read(true).custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32).open(path)
}

/// The bytes of the local plugin file `path` (`reference` as written),
/// loaded relative to `base_dir`.
pub(crate) fn read(reference: &str, path: &Path, base_dir: &Path, allowed: &LocalPlugins) -> Result<(Vec<u8>, Seen)> {
    let (file, before) = open(reference, path, base_dir, allowed)?;
    let read_error = |source| Error::Read { plugin: reference.to_owned(), source };
    let too_large = || Error::LocalFile {
        plugin: reference.to_owned(),
        path: path.into(),
        reason: format!("larger than the limit of {MAX_DOWNLOAD_BYTES} bytes"),
    };
    // A file that grows while it is read stops at the cap all the same.
    let (bytes, seen) = Seen::read(&file, before, MAX_DOWNLOAD_BYTES).map_err(read_error)?;
    if bytes.len() as u64 > MAX_DOWNLOAD_BYTES {
        return Err(too_large());
    }
    Ok((bytes, seen))
}

/// Opens the local plugin file `path` once the checks allow it (confined,
/// a regular file, within the size cap), without reading it: the file and
/// its metadata, taken from the descriptor.
pub(crate) fn open(reference: &str, path: &Path, base_dir: &Path, allowed: &LocalPlugins) -> Result<(File, Metadata)> {
    let read_error = |source| Error::Read { plugin: reference.to_owned(), source };
    let refused =
        |path: &Path, reason: String| Error::LocalFile { plugin: reference.to_owned(), path: path.into(), reason };
    let real = path.canonicalize().map_err(read_error)?;
    if let LocalPlugins::Confined(dirs) = allowed {
        let dirs: Vec<PathBuf> = std::iter::once(base_dir)
            .chain(dirs.iter().map(PathBuf::as_path))
            .filter_map(|d| d.canonicalize().ok())
            .collect();
        if !dirs.iter().any(|dir| real.starts_with(dir)) {
            let list = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(refused(&real, format!("outside the directories local plugins may come from ({list})")));
        }
    }
    // Checked before opening: opening a device or a FIFO may block or act.
    let kind = std::fs::metadata(&real).map_err(read_error)?.file_type();
    if !kind.is_file() {
        return Err(refused(&real, format!("not a regular file (a {})", describe(kind))));
    }
    // The path was resolved above; a link or a FIFO swapped in since is
    // refused or does not block.
    let file = open_no_follow(&real).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(refused(&real, format!("not a regular file (a {})", describe(metadata.file_type()))));
    }
    if metadata.len() > MAX_DOWNLOAD_BYTES {
        return Err(refused(&real, format!("larger than the limit of {MAX_DOWNLOAD_BYTES} bytes")));
    }
    Ok((file, metadata))
}

fn describe(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "directory"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(path: &str, base: &Path, allowed: &LocalPlugins) -> String {
        read(path, &base.join(path), base, allowed).unwrap_err().to_string()
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            error("/dev/zero", dir.path(), &LocalPlugins::Anywhere),
            "plugin /dev/zero: refusing /dev/zero: not a regular file (a character device)"
        );
        let made = std::process::Command::new("mkfifo").arg(dir.path().join("fifo")).status().unwrap();
        assert!(made.success());
        let fifo = error("fifo", dir.path(), &LocalPlugins::Anywhere);
        assert!(fifo.ends_with("/fifo: not a regular file (a FIFO)"), "{fifo}");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.wasm")).unwrap();
        assert_eq!(
            error("zero.wasm", dir.path(), &LocalPlugins::Anywhere),
            "plugin zero.wasm: refusing /dev/zero: not a regular file (a character device)"
        );
        assert!(error(".", dir.path(), &LocalPlugins::Anywhere).ends_with("not a regular file (a directory)"));
    }

    #[test]
    fn confined_paths_resolve_inside_the_base_or_the_plugin_dirs() {
        let (base, plugins, outside) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [&base, &plugins, &outside] {
            std::fs::write(dir.path().join("p.wasm"), b"bytes").unwrap();
        }
        let confined = LocalPlugins::Confined(vec![plugins.path().to_owned()]);
        assert_eq!(read("p.wasm", &base.path().join("p.wasm"), base.path(), &confined).unwrap().0, b"bytes");
        let in_plugins = plugins.path().join("p.wasm");
        assert_eq!(read("x", &in_plugins, base.path(), &confined).unwrap().0, b"bytes");
        let secret = outside.path().join("p.wasm");
        let error = read("x", &secret, base.path(), &confined).unwrap_err().to_string();
        assert!(error.contains("outside the directories local plugins may come from"), "{error}");
        // A link inside the snapshot to a file outside it is judged by its target.
        std::os::unix::fs::symlink(&secret, base.path().join("link.wasm")).unwrap();
        let error = read("link.wasm", &base.path().join("link.wasm"), base.path(), &confined).unwrap_err();
        assert!(error.to_string().contains("outside the directories"), "{error}");
        assert_eq!(read("x", &secret, base.path(), &LocalPlugins::Anywhere).unwrap().0, b"bytes");
    }
}
