//! Embeds every bundled plugin: each `plugins/dist/capstan_<name>.wasm`
//! becomes `builtin:<name>`, so the directory is the one list of them.

use std::path::PathBuf;

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
    let items: String = entries
        .iter()
        .map(|(name, path)| format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()))
        .collect();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("builtins.rs");
    std::fs::write(out, format!("&[\n{items}]\n")).unwrap();
}
