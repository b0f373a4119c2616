//! The chart's files read through WASI's own calls in the sandbox.
//!
//! `std::fs` costs six host calls a file (open, stat, open a stream, read,
//! two drops) and two a directory entry (wasi-libc asks each entry's
//! metadata hash for `d_ino`). Here a file is an open and one read for
//! files under 64 KiB (a short read of a regular file is its end; the
//! snapshot does not change while it is read), and a listing takes the
//! entries' types as they come. Any error falls back to the `std` walk,
//! which words it exactly as before.

use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, DescriptorType, OpenFlags, PathFlags};

use crate::chart::File;
use crate::ignore::Rules;

/// One read's request: wasmtime-wasi reads at most 64 KiB per call.
const CHUNK: u64 = 64 << 10;

/// The first read's request. The host allocates and zeroes a buffer of
/// the size asked for before each read: most chart files are a few KiB,
/// and 64 KiB per file was 2 % of a 1,000-subchart umbrella's render.
const FIRST_CHUNK: u64 = 16 << 10;

/// Every file under `dir` (relative to the preopen at `/`) that `rules`
/// keep, unsorted; `None` on any failure or over `max_files`.
pub(crate) fn read_tree(dir: &str, rules: &Rules, max_files: usize) -> Option<Vec<File>> {
    let (root, _) = get_directories().into_iter().find(|(_, p)| p == "/")?;
    let base = if dir.is_empty() { None } else { Some(open(&root, dir, true)?) };
    let mut out = Vec::new();
    walk(base.as_ref().unwrap_or(&root), "", rules, max_files, &mut out)?;
    Some(out)
}

fn open(dir: &Descriptor, name: &str, is_dir: bool) -> Option<Descriptor> {
    let oflags = if is_dir { OpenFlags::DIRECTORY } else { OpenFlags::empty() };
    dir.open_at(PathFlags::SYMLINK_FOLLOW, name, oflags, DescriptorFlags::READ).ok()
}

fn walk(dir: &Descriptor, prefix: &str, rules: &Rules, max_files: usize, out: &mut Vec<File>) -> Option<()> {
    let entries = dir.read_directory().ok()?;
    while let Some(e) = entries.read_directory_entry().ok()? {
        let rel = if prefix.is_empty() { e.name.clone() } else { format!("{prefix}/{}", e.name) };
        let kind = match e.type_ {
            DescriptorType::SymbolicLink => dir.stat_at(PathFlags::SYMLINK_FOLLOW, &e.name).ok()?.type_,
            t => t,
        };
        if rules.ignored(&rel, matches!(kind, DescriptorType::Directory)) {
            continue;
        }
        match kind {
            DescriptorType::Directory => walk(&open(dir, &e.name, true)?, &rel, rules, max_files, out)?,
            DescriptorType::RegularFile if out.len() < max_files => {
                out.push(File { name: rel, data: read_all(&open(dir, &e.name, false)?)? })
            }
            DescriptorType::RegularFile => return None,
            _ => {}
        }
    }
    Some(())
}

fn read_all(f: &Descriptor) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let want = if data.is_empty() { FIRST_CHUNK } else { CHUNK };
        let (chunk, eof) = f.read(want, data.len() as u64).ok()?;
        let short = (chunk.len() as u64) < want;
        // Most files are one chunk: that chunk is the file, uncopied.
        if data.is_empty() && (eof || short) {
            return Some(chunk);
        }
        data.extend_from_slice(&chunk);
        if eof || short {
            return Some(data);
        }
    }
}
