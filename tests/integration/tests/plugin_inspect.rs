//! `capstan plugin inspect FILE`: world, WIT version, imports, exports,
//! digest and size of a component; a clear error for anything else.

use std::path::Path;

use capstan::plugin_cmd::inspect;
use tempfile::TempDir;

#[test]
fn inspect_prints_world_version_exports_digest_and_size() {
    let cache = TempDir::new().unwrap();
    let file = Path::new(capstan_test_artifacts::GUEST_DIR).join("capstan_test_policy.wasm");
    let bytes = std::fs::read(&file).unwrap();
    let text = inspect(&file, cache.path()).unwrap();
    let head: Vec<&str> = text.lines().take(4).collect();
    assert_eq!(
        head,
        [
            "world:       validator (capstan:plugin/validator)".to_owned(),
            "wit version: 0.1.0".to_owned(),
            format!("digest:      {}", capstan_host::sha256_digest(&bytes)),
            format!("size:        {} bytes", bytes.len()),
        ]
    );
    assert!(text.contains("\nimports:\n  capstan:plugin/types@0.1.0\n"), "{text}");
    assert!(text.ends_with("exports:\n  capstan:plugin/validate@0.1.0\n"), "{text}");
}

#[test]
fn inspect_refuses_a_file_that_is_not_a_component() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "not wasm").unwrap();
    let error = inspect(&file, dir.path()).unwrap_err();
    assert_eq!(error.to_string(), format!("{} is not a WebAssembly component (no `\\0asm` header)", file.display()));
}
