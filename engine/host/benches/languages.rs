//! What a plugin's language costs the host: first compile, cached load and
//! one call on the example's own fixture, for the committed Python and
//! TypeScript examples beside a Rust plugin of the same world measured in
//! the same run. Loads are what an Application's `plugin: FILE` with its
//! `digest:` does: the first after a compile reads the plugin file (hashed
//! against the digest) and the cache entry (MAC-checked), and is shown
//! apart; later loads, once both files have settled, find both by their
//! recorded identities. The goal for a cached load is 5 ms whatever the
//! language; the ratio column is the language's figure over Rust's.
//!
//! `cargo bench --workspace --bench languages` (compiles take several
//! seconds each for Python and JavaScript, so each is sampled a few times).

use std::path::{Path, PathBuf};
use std::time::Duration;

use capstan_host::{HostConfig, Limits, Plugin, PluginHost, RenderCall};
use capstan_types::Object;
use serde::Deserialize;
use serde_json::json;
use tempfile::TempDir;

mod support;
use support::sample;

/// One plugin under measurement, and what a call gives it.
struct Case {
    label: &'static str,
    world: &'static str,
    /// The component file, and its bytes.
    file: PathBuf,
    bytes: Vec<u8>,
    objects: Vec<Object>,
    params: serde_json::Value,
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins")
}

fn program(name: &str) -> PathBuf {
    Path::new(capstan_test_artifacts::GUEST_DIR).join(format!("capstan_test_{name}.wasm"))
}

/// The objects of a multi-document YAML fixture.
fn fixture(path: &Path) -> Vec<Object> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).unwrap())
        .filter(|value| !value.is_null())
        .map(|value| Object::new(value).unwrap())
        .collect()
}

fn cases() -> Vec<Case> {
    let (python, js) = (examples().join("require-limits"), examples().join("cost-centre"));
    let validator_input = fixture(&python.join("fixtures/input.yaml"));
    let transformer_input = fixture(&js.join("fixtures/input.yaml"));
    let case = |label, world, file: PathBuf, objects, params| {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        Case { label, world, file, bytes, objects, params }
    };
    vec![
        case(
            "Rust validator (policy test program)",
            "validator",
            program("policy"),
            validator_input.clone(),
            json!({"requireLabel": "app"}),
        ),
        case(
            "Python validator (require-limits)",
            "validator",
            python.join("require_limits.wasm"),
            validator_input,
            json!({"resources": ["cpu", "memory"]}),
        ),
        case(
            "Rust transformer (labels test program)",
            "transformer",
            program("labels"),
            transformer_input.clone(),
            json!({"team": "web"}),
        ),
        case(
            "TypeScript transformer (cost-centre)",
            "transformer",
            js.join("cost_centre.wasm"),
            transformer_input,
            json!({"costCentre": "cc-1234"}),
        ),
    ]
}

fn host(cache: Option<&Path>) -> PluginHost {
    PluginHost::new(HostConfig { cache_dir: cache.map(Path::to_owned), ..HostConfig::default() }).unwrap()
}

fn call(host: &PluginHost, plugin: &Plugin, case: &Case, snapshot: &Path) {
    let call =
        RenderCall { snapshot, path: ".", app: "bench", namespace: None, revision: "0123abc", params: &case.params };
    match case.world {
        "validator" => drop(host.validate(plugin, &call, &case.objects, &Limits::default()).unwrap()),
        _ => drop(host.transform(plugin, &call, &case.objects, &Limits::default()).unwrap()),
    }
}

/// First compile, cached load and call of one case.
struct Figures {
    size: usize,
    compile: Duration,
    /// The first load after the compile: the entry read and MAC-checked.
    first_load: Duration,
    /// Median and p99 of later loads.
    cached_load: (Duration, Duration),
    call: Duration,
}

fn measure(case: &Case) -> Figures {
    let large = case.bytes.len() > 1 << 20;
    let compile =
        sample(if large { 3 } else { 10 }, || host(None), |h| h.load_bytes(case.label, &case.bytes).unwrap()).0;
    let (cache, snapshot) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    host(Some(cache.path())).load_bytes(case.label, &case.bytes).unwrap();
    let digest = capstan_host::sha256_digest(&case.bytes);
    let (dir, name) = (case.file.parent().unwrap(), case.file.file_name().unwrap().to_str().unwrap());
    // The host is handed back, so that its teardown is not timed.
    let load = |h: PluginHost| {
        let plugin = h.load(name, Some(&digest), dir).unwrap();
        (h, plugin)
    };
    // The first load of a fresh entry reads the plugin file and hashes it,
    // and reads the entry and checks its MAC (the slow way, timed here
    // once); from a load 100 ms after they were written on (the cache's
    // SETTLE), their recorded identities stand in for both.
    let first_load = sample(1, || host(Some(cache.path())), load).0;
    std::thread::sleep(Duration::from_millis(150));
    load(host(Some(cache.path())));
    // A new host each time (not timed): nothing is in its memory, so the
    // load checks the plugin file and the cache entry and deserialises it.
    let cached_load = sample(20, || host(Some(cache.path())), load);
    let warm = host(Some(cache.path()));
    let plugin = warm.load_bytes(case.label, &case.bytes).unwrap();
    call(&warm, &plugin, case, snapshot.path());
    let call_time = sample(if large { 30 } else { 200 }, || (), |()| call(&warm, &plugin, case, snapshot.path())).0;
    Figures { size: case.bytes.len(), compile, first_load, cached_load, call: call_time }
}

fn ratio(value: Duration, peer: Duration) -> String {
    format!("{:.1}×", value.as_secs_f64() / peer.as_secs_f64())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // of the sort and only wants the binary to exist and run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("plugin languages (load average {}); ratio = this language / Rust, same world, same run", load.trim());
    println!(
        "{:<40} {:>9} {:>12} {:>16} {:>30} {:>14} {:>20}",
        "plugin", "size", "compile", "1st load (read)", "cached load (≤ 5 ms) median", "p99", "call on fixture"
    );
    let mut peer: Option<Figures> = None;
    for case in cases() {
        let figures = measure(&case);
        let vs = |value: fn(&Figures) -> Duration| match &peer {
            Some(rust) => format!(" ({})", ratio(value(&figures), value(rust))),
            None => String::new(),
        };
        println!(
            "{:<40} {:>6.1} MB {:>12} {:>16} {:>30} {:>14} {:>20}",
            case.label,
            figures.size as f64 / 1e6,
            format!("{:.0?}{}", figures.compile, vs(|f| f.compile)),
            format!("{:.2?}", figures.first_load),
            format!("{:.2?}{}", figures.cached_load.0, vs(|f| f.cached_load.0)),
            format!("{:.2?}", figures.cached_load.1),
            format!("{:.2?}{}", figures.call, vs(|f| f.call)),
        );
        // Rust rows come first in each world; the next row compares with it.
        peer = if case.label.starts_with("Rust") { Some(figures) } else { None };
    }
}
