//! The sandbox holds: every adversarial test program under `tests/programs/`
//! is stopped or denied with a clear error, and the same host then serves a
//! well-behaved plugin. One test per program (`foreach_program!` makes a
//! program without a test a compile error).

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use capstan_host::{Health, HostConfig, Limits, PluginHost, RenderCall, Rendered, World};
use capstan_test_artifacts::GUEST_DIR;
use capstan_types::Object;
use serde_json::{Value, json};
use tempfile::TempDir;

/// Every test program must have a test function of its name in this file.
macro_rules! has_test {
    ($name:ident) => {
        const _: fn() = $name;
    };
}
capstan_test_artifacts::foreach_program!(has_test);

/// One host for the whole file: a failure in one test must not hurt the next.
fn host() -> &'static PluginHost {
    static HOST: OnceLock<(PluginHost, TempDir)> = OnceLock::new();
    let (host, _) = HOST.get_or_init(|| {
        let cache = TempDir::new().unwrap();
        let config = HostConfig { cache_dir: Some(cache.path().to_owned()), ..HostConfig::default() };
        (PluginHost::new(config).expect("failed to create the plugin host"), cache)
    });
    host
}

/// A snapshot with one manifest, and two symlinks that point out of it.
fn snapshot() -> &'static Path {
    static SNAPSHOT: OnceLock<TempDir> = OnceLock::new();
    SNAPSHOT
        .get_or_init(|| {
            let dir = TempDir::new().unwrap();
            std::fs::create_dir_all(dir.path().join("app")).unwrap();
            std::fs::write(dir.path().join("app/config.txt"), "inside the snapshot").unwrap();
            std::os::unix::fs::symlink("/etc/passwd", dir.path().join("app/absolute-link")).unwrap();
            std::os::unix::fs::symlink("../../../../../../../../etc/passwd", dir.path().join("app/relative-link"))
                .unwrap();
            dir
        })
        .path()
}

fn plugin(program: &str) -> capstan_host::Plugin {
    let bytes = std::fs::read(Path::new(GUEST_DIR).join(format!("capstan_test_{program}.wasm")))
        .expect("test program is built");
    host().load_bytes(&format!("test:{program}"), &bytes).expect("test program loads")
}

fn call(params: &Value) -> RenderCall<'_> {
    RenderCall { snapshot: snapshot(), path: "app", app: "sandbox", namespace: None, revision: "0123abc", params }
}

fn render(program: &str, params: Value, limits: &Limits) -> Result<Rendered, capstan_host::Error> {
    host().render(&plugin(program), &call(&params), limits)
}

fn render_error(program: &str, params: Value, limits: &Limits) -> String {
    let error = render(program, params, limits).expect_err("the call must fail");
    assert_still_serves_normal_plugins();
    format!("{:#}", anyhow::Error::new(error))
}

/// The host is intact after a failed call: a normal plugin renders fine.
fn assert_still_serves_normal_plugins() {
    let rendered = render("trivial", json!({}), &Limits::default()).expect("the host serves a normal plugin");
    assert_eq!(rendered.objects[0].as_value()["data"]["revision"], "0123abc");
}

/// The data of the one ConfigMap a probe returned.
fn data(rendered: &Rendered) -> &Value {
    &rendered.objects[0].as_value()["data"]
}

#[test]
fn trivial() {
    let rendered = render("trivial", json!({}), &Limits::default()).unwrap();
    let names: Vec<_> = rendered.objects.iter().map(|o| format!("{}/{}", o.kind(), o.name())).collect();
    assert_eq!(names, ["ConfigMap/sandbox"]);
    assert!(host().is_pooling(), "instances should come from the pooling allocator on this machine");
}

#[test]
fn spin() {
    let limits = Limits { deadline: Duration::from_millis(200), ..Limits::default() };
    assert_eq!(render_error("spin", json!({}), &limits), "plugin test:spin: deadline exceeded: stopped after 200ms");
}

/// A sleep is a WASI clock wait, outside wasm code where epochs cannot stop
/// it: the host cuts it at the deadline, so a year-long nap fails in 200 ms
/// (uncut, this test would hang for a year); a short nap renders.
#[test]
fn nap() {
    let limits = Limits { deadline: Duration::from_millis(200), ..Limits::default() };
    let year_ms = 365 * 24 * 3600 * 1000_u64;
    assert_eq!(
        render_error("nap", json!({"ms": year_ms}), &limits),
        "plugin test:nap: deadline exceeded: stopped after 200ms"
    );
    let rendered = render("nap", json!({"ms": 1}), &limits).unwrap();
    assert_eq!(data(&rendered)["slept"], "1");
}

#[test]
fn hog() {
    let limits = Limits { memory_bytes: 64 << 20, ..Limits::default() };
    assert_eq!(
        render_error("hog", json!({}), &limits),
        "plugin test:hog: memory cap exceeded: tried to grow past 67108864 bytes"
    );
}

#[test]
fn panic() {
    // The test programs live outside the guest workspace's directory, so
    // rustc names them by absolute path (the bundled plugins' are relative).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().display().to_string();
    assert_eq!(
        render_error("panic", json!({}), &Limits::default()),
        format!(
            "plugin test:panic: trapped: wasm trap: wasm `unreachable` instruction executed; guest stderr: \
             thread '<unnamed>' (1) panicked at {root}/tests/programs/panic/src/lib.rs:11:9: | cannot render sandbox: the test program always panics"
        )
    );
}

#[test]
fn trap() {
    assert_eq!(
        render_error("trap", json!({}), &Limits::default()),
        "plugin test:trap: trapped: wasm trap: wasm `unreachable` instruction executed"
    );
}

#[test]
fn fs() {
    let read = |path: &str| render_error("fs", json!({"path": path}), &Limits::default());
    let denied = |path: &str, why: &str| format!("plugin test:fs: failed: {path}: {why}");
    // `/` is the snapshot: the host's /etc is not there.
    assert_eq!(read("/etc/passwd"), denied("/etc/passwd", "No such file or directory (os error 44)"));
    assert_eq!(read("../../../etc/passwd"), denied("../../../etc/passwd", "Operation not permitted (os error 63)"));
    assert_eq!(read("/../../etc/passwd"), denied("/../../etc/passwd", "Operation not permitted (os error 63)"));
    assert_eq!(read("/app/absolute-link"), denied("/app/absolute-link", "Operation not permitted (os error 63)"));
    assert_eq!(read("/app/relative-link"), denied("/app/relative-link", "Operation not permitted (os error 63)"));
    let write = render_error("fs", json!({"path": "/app/config.txt", "write": "owned"}), &Limits::default());
    assert_eq!(write, denied("/app/config.txt", "Operation not permitted (os error 63)"));
    assert_eq!(std::fs::read_to_string(snapshot().join("app/config.txt")).unwrap(), "inside the snapshot");
    // What is inside the snapshot stays readable.
    let inside = render("fs", json!({"path": "/app/config.txt"}), &Limits::default()).unwrap();
    assert_eq!(data(&inside)["text"], "inside the snapshot");
}

#[test]
fn env() {
    // The test process has HOME, PATH…: none of it reaches the guest.
    assert!(std::env::var_os("PATH").is_some());
    let rendered = render("env", json!({}), &Limits::default()).unwrap();
    assert_eq!(data(&rendered), &json!({"vars": "", "args": "", "home": ""}));
}

#[test]
fn socket() {
    // wasmtime answers a refused name lookup as a resolver failure, before any query leaves.
    for (use_, denied) in [("tcp", "access-denied"), ("udp", "access-denied"), ("dns", "permanent-resolver-failure")] {
        assert_eq!(
            render_error("socket", json!({"use": use_}), &Limits::default()),
            format!("plugin test:socket: failed: denied: {denied}"),
            "{use_}"
        );
    }
}

#[test]
fn giant() {
    let limits = Limits { max_objects: 100, output_bytes: 1 << 20, ..Limits::default() };
    assert_eq!(
        render_error("giant", json!({"objects": 101}), &limits),
        "plugin test:giant: output rejected: 101 objects, over the cap of 100"
    );
    let error = render_error("giant", json!({"objects": 2, "bytes": 600_000}), &limits);
    assert_eq!(error, "plugin test:giant: output rejected: 1200168 bytes of objects, over the cap of 1048576");
    assert_eq!(render("giant", json!({"objects": 100}), &limits).unwrap().objects.len(), 100);
}

#[test]
fn garbage() {
    let garbage = |shape| render_error("garbage", json!({"shape": shape}), &Limits::default());
    assert_eq!(
        garbage("text"),
        "plugin test:garbage: returned garbage: item 0 is not a Kubernetes object: invalid JSON: expected ident at line 1 column 2"
    );
    assert_eq!(
        garbage("no-kind"),
        "plugin test:garbage: returned garbage: item 0 is not a Kubernetes object: missing field `kind`"
    );
    assert_eq!(
        garbage("array"),
        "plugin test:garbage: returned garbage: item 0 is not a Kubernetes object: expected a Kubernetes object (a mapping)"
    );
}

#[test]
fn labels() {
    let objects = [Object::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})).unwrap()];
    let params = json!({"team": "web"});
    let labels = plugin("labels");
    assert_eq!(labels.world(), World::Transformer);
    let out = host().transform(&labels, &call(&params), &objects, &Limits::default()).unwrap();
    assert_eq!(out.objects[0].as_value()["metadata"]["labels"], json!({"team": "web"}));
    // A transformer is not a renderer.
    let error = host().render(&labels, &call(&params), &Limits::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin test:labels: is a transformer plugin, but this stage needs a renderer (exporting capstan:plugin/render@0.1.0)"
    );
}

#[test]
fn policy() {
    let objects = [
        Object::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"team": "web"}}}),
        )
        .unwrap(),
        Object::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "x"}}))
            .unwrap(),
    ];
    let params = json!({"requireLabel": "team"});
    let found = host().validate(&plugin("policy"), &call(&params), &objects, &Limits::default()).unwrap();
    let lines: Vec<_> = found
        .iter()
        .map(|d| {
            format!(
                "{:?} {}/{} {}: {}",
                d.severity,
                d.object.as_ref().unwrap().kind,
                d.object.as_ref().unwrap().name,
                d.field.as_deref().unwrap(),
                d.message
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "Info ConfigMap/a metadata.labels.team: has label team",
            "Error ConfigMap/b metadata.labels.team: label team is required"
        ]
    );
    assert_eq!(found[1].object.as_ref().unwrap().namespace.as_deref(), Some("x"));
    // Bad `with:` is the plugin's invalid-config error.
    let error = host().validate(&plugin("policy"), &call(&json!({})), &objects, &Limits::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin test:policy: invalid config: invalid `with:` parameters: missing field `requireLabel` at line 1 column 2"
    );
}

#[test]
fn health() {
    let assess = |status: Value| {
        let object = Object::new(
            json!({"apiVersion": "x.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": status}),
        )
        .unwrap();
        host().assess(&plugin("health"), &object, &Value::Null, &Limits::default()).unwrap()
    };
    let ready = assess(json!({"ready": true}));
    assert_eq!((ready.health, ready.message.as_str()), (Health::Healthy, "ready"));
    let waiting = assess(json!({}));
    assert_eq!((waiting.health, waiting.message.as_str()), (Health::Progressing, "waiting for status.ready"));
}

/// The `hostile` program attacks what surrounds the sandbox; its attacks
/// are in `hostile_plugin.rs`. Here, the one this suite's shared host must
/// survive too: its error text reaches the engine escaped, one line.
#[test]
fn hostile() {
    let error = render_error("hostile", json!({"attack": "escapes"}), &Limits::default());
    assert!(error.starts_with(r"plugin test:hostile: failed: error \u{1b}[2J\u{1b}]0;pwned\u{7}\r\n"), "{error}");
    assert!(!error.contains(['\x1b', '\n', '\r']), "{error}");
}
