//! What a guest writes to stdout/stderr reaches the engine's log under the
//! plugin's name, and nowhere else (stdio is never inherited).

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use capstan_host::{HostConfig, Limits, PluginHost, RenderCall};
use serde_json::Value;

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn guest_stderr_is_logged_under_the_plugin_name() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).without_time().finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let host = PluginHost::new(HostConfig::default()).unwrap();
    let bytes = std::fs::read(Path::new(capstan_test_artifacts::GUEST_DIR).join("capstan_test_panic.wasm")).unwrap();
    let plugin = host.load_bytes("test:panic", &bytes).unwrap();
    let snapshot = tempfile::TempDir::new().unwrap();
    let call = RenderCall {
        snapshot: snapshot.path(),
        path: ".",
        app: "logs",
        namespace: None,
        revision: "r",
        params: &Value::Null,
    };
    host.render(&plugin, &call, &Limits::default()).unwrap_err();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains(r#"INFO capstan::plugin: cannot render logs: the test program always panics plugin="test:panic" stream="stderr""#),
        "{log}"
    );
}
