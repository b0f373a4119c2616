//! Conformance: runs Jsonnet's own test suite at v0.18.0
//! (`tests/corpus/jsonnet`, with the outcomes of the reference
//! implementation in `RESULTS-v0.18.0.tsv`) through this crate's evaluator,
//! as the suite's `run_tests.sh` runs it: `--ext-str var1=test --ext-code
//! var2={x:1,y:2}`, or the same as top-level arguments for `tla.*` tests.
//!
//! A case passes when its outcome is the reference's: a program that must
//! succeed yields the value of its `.golden` file (or `true` without one),
//! compared as parsed JSON; an `error.*` program fails. Error texts differ
//! between implementations and are not compared.
//!
//! Each case runs in a child process (this test binary again, test
//! [`one_case`]): jrsonnet checks the stack depth on function calls but not
//! on every object field, so a few programs that recurse without end
//! through fields overflow the native stack and abort the process (in the
//! sandbox the same programs trap and the host reports it).
//!
//! `tests/corpus/jsonnet-known-failures.txt` lists cases expected to fail
//! (`name  reason`); the test fails when an unlisted case fails or a listed
//! one passes. `JSONNET_UPDATE_KNOWN=1` rewrites the list from this run;
//! `JSONNET_CASE=name` prints one case's outcome.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use capstan_jsonnet::eval::Program;
use capstan_jsonnet::layout::Layout;
use capstan_jsonnet::snapshot::RelPath;
use capstan_jsonnet::{Options, Var};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

fn var(name: &str, value: &str, code: bool) -> Var {
    Var { name: name.into(), value: value.into(), code }
}

/// The options `run_tests.sh` passes to `test`.
fn options(test: &str) -> Options {
    let vars = vec![var("var1", "test", false), var("var2", "{x:1,y:2}", true)];
    if test.starts_with("tla.") {
        Options { tlas: vars, ..Options::default() }
    } else {
        Options { ext_vars: vars, ..Options::default() }
    }
}

/// The value of `test`, with its `std.trace` lines before it as the golden
/// files have them (jsonnet's stderr and stdout merged).
fn evaluate(root: &Path, test: &str) -> Result<Value, String> {
    let entry = RelPath::parse(test).map_err(|e| e.to_string())?;
    let layout = Layout { dir: RelPath::default(), entries: vec![entry.clone()], jpath: Vec::new(), spec: None };
    let program = Program::new(root, &layout, &options(test)).map_err(|e| e.to_string())?;
    let value = program.evaluate(&entry).map_err(|e| e.to_string())?;
    let traces = program.traces();
    if traces.is_empty() {
        return Ok(value);
    }
    Ok(Value::String(format!("{}\n{}", traces.join("\n"), serde_json::to_string_pretty(&value).unwrap())))
}

/// Evaluates `test` in a child process: its value, or its error (a crash included).
fn in_child(test: &str) -> Result<Value, String> {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["one_case", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_CASE, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout.lines().find_map(|l| l.find(RESULT).map(|i| &l[i + RESULT.len()..]));
    match result.map(serde_json::from_str::<Result<Value, String>>) {
        Some(Ok(r)) => r,
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            Err(format!("the evaluation crashed ({}): {last}", out.status))
        }
    }
}

const CHILD_CASE: &str = "JSONNET_CHILD_CASE";
const RESULT: &str = "RESULT ";

/// The child side of [`in_child`]; does nothing unless asked.
#[test]
fn one_case() {
    let Ok(test) = std::env::var(CHILD_CASE) else { return };
    let result = evaluate(&corpus().join("jsonnet"), &test);
    println!("{RESULT}{}", serde_json::to_string(&result).unwrap());
}

#[test]
fn conformance() {
    let root = corpus();
    let suite = root.join("jsonnet");
    let known_path = root.join("jsonnet-known-failures.txt");
    let known: BTreeMap<String, String> = std::fs::read_to_string(&known_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (n, r) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (n.to_string(), r.trim().to_string())
        })
        .collect();
    let results = std::fs::read_to_string(suite.join("RESULTS-v0.18.0.tsv")).unwrap();
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let (mut total, mut passed) = (0, 0);
    for line in results.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (test, golden_kind, exit) = (cols[0], cols[1], cols[2]);
        total += 1;
        if std::env::var_os("JSONNET_VERBOSE").is_some() {
            eprintln!("{test}");
        }
        let got = in_child(test);
        if std::env::var("JSONNET_CASE").is_ok_and(|c| c == test) {
            println!("{test}: {got:?}");
        }
        let result = match (exit, got) {
            ("error", Err(_)) => Ok(()),
            ("error", Ok(v)) => Err(format!("evaluated to {}, want an error", short(&v.to_string()))),
            (_, Err(e)) => Err(format!("error: {}", short(&e))),
            (_, Ok(v)) => {
                let want = if golden_kind == "golden" {
                    let text = std::fs::read_to_string(suite.join(format!("{test}.golden"))).unwrap();
                    serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.trim_end().to_string()))
                } else {
                    Value::Bool(true)
                };
                if v == want {
                    Ok(())
                } else {
                    Err(format!("got {} want {}", short(&v.to_string()), short(&want.to_string())))
                }
            }
        };
        match result {
            Ok(()) => passed += 1,
            Err(e) => {
                failures.insert(test.to_string(), e);
            }
        }
    }
    println!("jsonnet corpus: {passed}/{total} passed ({:.1} %)", 100.0 * passed as f64 / total as f64);
    if std::env::var_os("JSONNET_UPDATE_KNOWN").is_some() {
        let mut text = String::from(
            "# Corpus cases builtin:jsonnet does not yet match, one per line: name, then the reason.\n\
             # The conformance test fails when an unlisted case fails or a listed case passes.\n",
        );
        for (n, r) in &failures {
            text.push_str(&format!("{n}  {}\n", r.replace('\n', " ")));
        }
        std::fs::write(&known_path, text).unwrap();
        return;
    }
    let unexpected: Vec<_> = failures.iter().filter(|(n, _)| !known.contains_key(*n)).collect();
    let fixed: Vec<_> = known.keys().filter(|n| !failures.contains_key(*n)).collect();
    for (n, r) in &unexpected {
        println!("FAIL {n}: {r}");
    }
    for n in &fixed {
        println!("now passes (remove from the known list): {n}");
    }
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} unexpected failures, {} known failures now pass",
        unexpected.len(),
        fixed.len()
    );
}

fn short(s: &str) -> String {
    let s = s.replace('\n', " ");
    if s.len() > 160 { format!("{}…", &s[..s.floor_char_boundary(160)]) } else { s }
}
