//! Embeds every bundled plugin: each `plugins/dist/capstan_<name>.wasm`
//! becomes `builtin:<name>`, so the directory is the one list of them.
//! Each is copied into `OUT_DIR` and embedded from the copy, with the
//! SHA-256 of the copy's bytes: a `capstan` process then names an embedded
//! plugin's compiled code without hashing megabytes first (2 ms of a 9 ms
//! `capstan render`), and the digest is of exactly the bytes embedded.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let dist = manifest_dir.join("../../plugins/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(&dist)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", dist.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.strip_prefix("capstan_")?.strip_suffix(".wasm")?.to_owned();
            Some((name, path))
        })
        .collect();
    entries.sort();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let (mut items, mut digests) = (String::new(), String::new());
    for (name, path) in &entries {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
        let copy = out_dir.join(format!("capstan_{name}.wasm"));
        std::fs::write(&copy, &bytes).unwrap_or_else(|e| panic!("failed to write {}: {e}", copy.display()));
        items.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", copy.display().to_string()));
        digests.push_str(&format!("    ({name:?}, \"sha256:{}\"),\n", hex::encode(Sha256::digest(&bytes))));
    }
    std::fs::write(out_dir.join("builtins.rs"), format!("&[\n{items}]\n")).unwrap();
    std::fs::write(out_dir.join("builtin_digests.rs"), format!("&[\n{digests}]\n")).unwrap();
}
