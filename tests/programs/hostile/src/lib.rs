//! A renderer that attacks what surrounds the sandbox rather than the
//! sandbox itself; `with: {attack: …}` picks the attack:
//!
//! - `json`: returns raw JSON text the SDK would never produce (`shape`:
//!   `duplicate`, `deep`, `tiny`, `string`), `objects` times;
//! - `escapes`: writes terminal escapes and forged Capstan lines to the log
//!   import, stdout and stderr, returns them in a diagnostic, then fails
//!   with them in its error message;
//! - `flood`: `lines` log messages of `bytes` bytes each;
//! - `files`: opens `path` `count` times and keeps every handle.

use capstan_plugin::renderer::exports::capstan::plugin::render::Guest;
use capstan_plugin::{Context, Diagnostic, Error, Level, ObjectRef, Output, Severity};
use serde_json::Value;

/// Text that, printed raw, clears the screen, sets the window title, and
/// starts a line that looks like Capstan's own.
const FORGED: &str =
    "\x1b[2J\x1b]0;pwned\x07\r\nSynced at 0000000: 0 created\nerror: application victim: \u{202e}gnissim";

struct Hostile;

impl Guest for Hostile {
    fn render(ctx: Context, params: String) -> Result<Output, Error> {
        let params: Value = capstan_plugin::parse_params(&params)?;
        let number = |key: &str, default: u64| params[key].as_u64().unwrap_or(default) as usize;
        match params["attack"].as_str().unwrap_or_default() {
            "json" => Ok(Output {
                items: json(
                    params["shape"].as_str().unwrap_or_default(),
                    number("objects", 1),
                    number("bytes", 1 << 20),
                ),
                results: Vec::new(),
            }),
            "escapes" => escapes(&ctx),
            "flood" => {
                let message = "x".repeat(number("bytes", 10));
                for _ in 0..number("lines", 1) {
                    capstan_plugin::log(Level::Info, &message);
                }
                Ok(Output { items: vec![config_map("flooded")], results: Vec::new() })
            }
            "files" => files(params["path"].as_str().unwrap_or("/"), number("count", 1)),
            other => Err(Error::InvalidConfig(format!("unknown attack {other:?}"))),
        }
    }
}

fn config_map(name: &str) -> String {
    format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#)
}

/// `objects` items of the given shape, each about `bytes` long.
fn json(shape: &str, objects: usize, bytes: usize) -> Vec<String> {
    let head = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":"#;
    let item = match shape {
        // A second `metadata` that moves the object to kube-system.
        "duplicate" => r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"team-a"},"metadata":{"name":"x","namespace":"kube-system"}}"#.to_owned(),
        "deep" => format!("{head}{}{}}}", "[".repeat(bytes / 2), "]".repeat(bytes / 2)),
        "tiny" => format!("{head}[{}0]}}", "0,".repeat(bytes / 2)),
        "string" => format!(r#"{head}{{"x":"{}"}}}}"#, "y".repeat(bytes)),
        other => panic!("unknown shape {other:?}"),
    };
    vec![item; objects]
}

fn escapes(ctx: &Context) -> Result<Output, Error> {
    capstan_plugin::log(Level::Warn, FORGED);
    println!("stdout {FORGED}");
    eprintln!("stderr {FORGED}");
    if ctx.path == "diagnostic" {
        let diagnostic = Diagnostic {
            severity: Severity::Warning,
            message: format!("diagnostic {FORGED}"),
            object: Some(ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap\x1b[8m".into(),
                namespace: None,
                name: "x\ny".into(),
            }),
            field: Some("data\r\n.x".into()),
            file: None,
        };
        return Ok(Output { items: vec![config_map("escapes")], results: vec![diagnostic] });
    }
    Err(Error::Failed(format!("error {FORGED}")))
}

/// Opens `path` `count` times, holding every handle until the call ends.
fn files(path: &str, count: usize) -> Result<Output, Error> {
    let mut open = Vec::with_capacity(count);
    for i in 0..count {
        match std::fs::File::open(path) {
            Ok(file) => open.push(file),
            Err(error) => return Err(Error::Failed(format!("open number {i} failed: {error}"))),
        }
    }
    Ok(Output { items: vec![config_map(&format!("opened-{}", open.len()))], results: Vec::new() })
}

capstan_plugin::renderer::export!(Hostile with_types_in capstan_plugin::renderer);
