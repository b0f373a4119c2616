//! The host around the calls: compiled components come back from the disk
//! cache in a new host, a damaged cache file is recompiled rather than
//! trusted, and more concurrent calls than the pool has instance slots wait
//! for a slot instead of failing; a plugin loaded under its pinned digest is
//! not read again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Barrier;

use capstan_host::{HostConfig, Limits, PluginHost, RenderCall};
use serde_json::{Value, json};
use tempfile::TempDir;

fn program(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(capstan_test_artifacts::GUEST_DIR).join(format!("capstan_test_{name}.wasm"))).unwrap()
}

fn host(cache: &Path) -> PluginHost {
    PluginHost::new(HostConfig { cache_dir: Some(cache.to_owned()), ..HostConfig::default() }).unwrap()
}

fn call<'a>(snapshot: &'a Path, params: &'a Value) -> RenderCall<'a> {
    RenderCall { snapshot, path: ".", app: "queued", namespace: None, revision: "abc", params }
}

/// Renders with a fresh host on `cache` and returns the name of the one object.
fn render_trivial(cache: &Path, snapshot: &Path) -> String {
    let host = host(cache);
    let plugin = host.load_bytes("trivial", &program("trivial")).unwrap();
    let rendered = host.render(&plugin, &call(snapshot, &Value::Null), &Limits::default()).unwrap();
    rendered.objects[0].as_value()["metadata"]["name"].as_str().unwrap().to_owned()
}

/// The only compiled component in the cache directory (beside the
/// installation's key).
fn cache_file(cache: &Path) -> PathBuf {
    let files: Vec<PathBuf> =
        std::fs::read_dir(cache).unwrap().map(|e| e.unwrap().path()).filter(|p| !p.ends_with("hmac-key")).collect();
    assert_eq!(files.len(), 1, "one component, one file: {files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn a_new_host_loads_from_the_cache_and_recompiles_a_damaged_file() {
    let (cache, snapshot) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    assert_eq!(render_trivial(cache.path(), snapshot.path()), "queued");
    let file = cache_file(cache.path());
    assert!(file.extension().is_some_and(|e| e == "cwasm"), "{}", file.display());
    let written = std::fs::metadata(&file).unwrap();

    // A new host reads the file as it is: a recompile would have replaced it.
    assert_eq!(render_trivial(cache.path(), snapshot.path()), "queued");
    assert_eq!(std::fs::metadata(&file).unwrap().ino(), written.ino(), "served from the cache");

    // Truncated (a full disk, a crash of another writer): refused, recompiled, replaced.
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(render_trivial(cache.path(), snapshot.path()), "queued");
    assert_eq!(std::fs::read(cache_file(cache.path())).unwrap().len(), bytes.len(), "rewritten whole");
}

#[test]
fn a_cache_directory_others_may_write_is_not_used_but_plugins_still_load() {
    use std::os::unix::fs::PermissionsExt;
    let (cache, snapshot) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(render_trivial(cache.path(), snapshot.path()), "queued");
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0, "nothing written to a shared directory");
}

/// More threads than the pool's 64 instance slots, released at once, each
/// rendering with `nap` (a 500 ms sleep, so every call holds its instance
/// while the others start): without the queue, the calls beyond the pool
/// fail with "maximum concurrent instance limit"; with it they wait.
#[test]
fn more_concurrent_calls_than_instance_slots_all_succeed() {
    const THREADS: usize = 96;
    let (cache, snapshot) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let host = host(cache.path());
    assert!(host.is_pooling(), "the queue is in front of the pooling allocator");
    let plugin = host.load_bytes("nap", &program("nap")).unwrap();
    let params = json!({"ms": 500});
    let start = Barrier::new(THREADS);
    let results: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    host.render(&plugin, &call(snapshot.path(), &params), &Limits::default())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (thread, result) in results.into_iter().enumerate() {
        let rendered = result.unwrap_or_else(|e| panic!("call {thread} failed: {e}"));
        assert_eq!(rendered.objects[0].as_value()["data"]["slept"], "500");
    }
}

#[test]
fn a_plugin_loaded_under_its_digest_is_not_read_again() {
    let (cache, dir) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let host = host(cache.path());
    let bytes = program("trivial");
    let digest = capstan_host::sha256_digest(&bytes);
    std::fs::write(dir.path().join("trivial.wasm"), &bytes).unwrap();
    let first = host.load("trivial.wasm", Some(&digest), dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("trivial.wasm")).unwrap();
    let again =
        host.load("./trivial.wasm", Some(&digest.to_uppercase().replace("SHA256", "sha256")), dir.path()).unwrap();
    assert_eq!((again.name(), again.digest()), ("./trivial.wasm", first.digest()));
    let other = format!("sha256:{}", "0".repeat(64));
    let error = host.load("trivial.wasm", Some(&other), dir.path()).err().expect("another digest reads the file");
    assert!(error.to_string().contains("failed to read the component"), "{error}");
}
