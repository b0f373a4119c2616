//! Conformance through the sandbox: every case of `tests/corpus/kustomize`
//! (and every rejected input of `tests/corpus/kustomize-errors`) is rendered
//! by the `builtin:kustomize` WASM component in the real host, with the
//! snapshot preopened read-only, and must give exactly what the
//! `capstan-kustomize` library gives natively. The library itself is held to
//! `kubectl kustomize`'s output by `plugins/kustomize/tests/conformance.rs`
//! (with its known-failures list), so together they show the component's
//! fidelity; this test catches what only the sandbox could change (WASI file
//! access, path handling, output decoding, limits).

use std::path::{Path, PathBuf};

use capstan_host::{Limits, PluginHost, RenderCall};
use capstan_integration::builtin_component;
use capstan_kustomize::{DirFs, LoadRestrictor, Options};
use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus");

/// Cases where the host deliberately refuses what kustomize prints, with the
/// text the refusal must contain: an object without `apiVersion` can never
/// be applied, so the host rejects it at the plugin boundary.
const HOST_REFUSES: &[(&str, &str)] = &[("TestTransfomersImageDefaultConfig", "missing field `apiVersion`")];

struct Case {
    name: String,
    input: PathBuf,
    run: String,
    restrictor_none: bool,
}

fn cases(dir: &str) -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(Path::new(CORPUS).join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let case: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
            let flags = case["kubectl_flags"].as_array().cloned().unwrap_or_default();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                input: dir.join("input"),
                run: case["run"].as_str().unwrap_or(".").to_owned(),
                restrictor_none: flags.iter().any(|f| f == "--load-restrictor=LoadRestrictionsNone"),
            }
        })
        .collect()
}

fn native(case: &Case) -> Result<Vec<Value>, String> {
    let restrictor = if case.restrictor_none { LoadRestrictor::None } else { LoadRestrictor::RootOnly };
    capstan_kustomize::build(&DirFs::new(&case.input), Path::new(&case.run), &Options { load_restrictor: restrictor })
        .map_err(|e| capstan_kustomize::error::chain(&e))
}

fn sandboxed(host: &PluginHost, plugin: &capstan_host::Plugin, case: &Case) -> Result<Vec<Value>, String> {
    let params = if case.restrictor_none { json!({"loadRestrictor": "none"}) } else { json!({}) };
    let call = RenderCall {
        snapshot: &case.input,
        path: &case.run,
        app: "conformance",
        namespace: None,
        revision: "0000000000000000000000000000000000000000",
        params: &params,
    };
    host.render(plugin, &call, &Limits::default())
        .map(|out| out.objects.into_iter().map(|o| o.into_value()).collect())
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
}

/// Drops ` (os error N)`: WASI and Linux number errno differently.
fn without_errno(message: &str) -> String {
    match message.find(" (os error ") {
        Some(start) => {
            let end = message[start..].find(')').map_or(message.len(), |i| start + i + 1);
            format!("{}{}", &message[..start], without_errno(&message[end..]))
        }
        None => message.to_owned(),
    }
}

#[test]
fn component_renders_every_corpus_case_like_the_library() {
    let (host, plugin) = builtin_component("kustomize");
    let mut mismatches = Vec::new();
    let (mut rendered, mut rejected) = (0, 0);
    for case in cases("kustomize") {
        let refusal = HOST_REFUSES.iter().find(|(name, _)| *name == case.name).map(|(_, text)| *text);
        match (native(&case), sandboxed(&host, &plugin, &case), refusal) {
            (Ok(want), Ok(got), None) if want == got => rendered += 1,
            (Err(_), Err(_), None) => rejected += 1,
            (Ok(_), Err(got), Some(text)) if got.contains(text) => rejected += 1,
            (want, got, _) => mismatches.push(format!(
                "{}: native {:?} / sandboxed {:?}",
                case.name,
                want.map(|v| v.len()),
                got.map(|v| v.len())
            )),
        }
    }
    for case in cases("kustomize-errors") {
        match (native(&case), sandboxed(&host, &plugin, &case)) {
            // No input directory at all: the sandbox cannot even preopen it.
            (Err(_), Err(got)) if !case.input.exists() => {
                assert!(got.contains("failed to prepare the sandbox"), "{got}");
                rejected += 1;
            }
            (Err(want), Err(got)) if without_errno(&got).contains(&without_errno(&want)) => rejected += 1,
            (want, got) => mismatches.push(format!("errors/{}: native {want:?} / sandboxed {got:?}", case.name)),
        }
    }
    println!(
        "builtin:kustomize in the sandbox: {rendered} cases rendered and {rejected} rejected as natively ({} refused by the host on purpose)",
        HOST_REFUSES.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} cases differ between the component and the library:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(rendered >= 200, "only {rendered} cases rendered: is the corpus there?");
}
