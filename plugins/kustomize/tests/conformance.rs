//! Conformance: renders every case of `tests/corpus/kustomize` and compares
//! with `kubectl kustomize` v5.5 output (parsed multi-document YAML, in
//! order); every case of `tests/corpus/kustomize-errors` must fail.
//!
//! `tests/corpus/kustomize-known-failures.txt` lists cases expected to fail
//! (`name  reason`); the test fails when an unlisted case fails or a listed
//! one passes. `KUSTOMIZE_UPDATE_KNOWN=1` rewrites the list from this run.
//! `KUSTOMIZE_LIVE=1` also runs `kubectl kustomize` on each case and
//! compares with it (reported, not asserted).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use capstan_kustomize::{DirFs, LoadRestrictor, Options, build};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

fn parse_multi(text: &str) -> Result<Vec<Value>, String> {
    // As `kubectl apply -k` reads kustomize's output: YAML 1.1 plain scalars.
    capstan_plugin::yaml::from_str(text).map_err(|e| e.to_string())
}

fn options(case: &Value) -> Options {
    let flags = case["kubectl_flags"].as_array().cloned().unwrap_or_default();
    let none = flags.iter().any(|f| f.as_str() == Some("--load-restrictor=LoadRestrictionsNone"));
    Options { load_restrictor: if none { LoadRestrictor::None } else { LoadRestrictor::RootOnly } }
}

fn first_diff(a: &Value, b: &Value, path: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) if p != q => return first_diff(p, q, &format!("{path}.{k}")),
                    (Some(_), None) => return format!("{path}.{k}: unexpected"),
                    (None, Some(_)) => return format!("{path}.{k}: missing"),
                    _ => {}
                }
            }
            format!("{path}: differs")
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if p != q {
                    return first_diff(p, q, &format!("{path}[{i}]"));
                }
            }
            format!("{path}: differs")
        }
        _ => {
            let s = |v: &Value| {
                let s = v.to_string();
                if s.len() > 80 { format!("{}…", &s[..s.floor_char_boundary(80)]) } else { s }
            };
            format!("{path}: got {} want {}", s(a), s(b))
        }
    }
}

fn compare(got: &[Value], want: &[Value]) -> Result<(), String> {
    if got.len() != want.len() {
        let ids = |v: &[Value]| {
            v.iter()
                .map(|o| {
                    format!("{}/{}", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""))
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        return Err(format!("{} objects, want {}: got [{}] want [{}]", got.len(), want.len(), ids(got), ids(want)));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            return Err(format!(
                "object {i} ({}/{}): {}",
                w["kind"].as_str().unwrap_or(""),
                w["metadata"]["name"].as_str().unwrap_or(""),
                first_diff(g, w, "")
            ));
        }
    }
    Ok(())
}

fn render(dir: &Path, case: &Value) -> Result<Vec<Value>, String> {
    let fs = DirFs::new(dir.join("input"));
    let run = case["run"].as_str().unwrap_or(".");
    build(&fs, Path::new(run), &options(case)).map_err(|e| capstan_kustomize::error::chain(&e))
}

fn live(dir: &Path, case: &Value) -> Option<Result<Vec<Value>, String>> {
    let run = case["run"].as_str().unwrap_or(".");
    let mut cmd = std::process::Command::new("kubectl");
    cmd.arg("kustomize").arg(dir.join("input").join(run));
    for f in case["kubectl_flags"].as_array().into_iter().flatten() {
        cmd.arg(f.as_str().unwrap_or(""));
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return Some(Err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    Some(parse_multi(&String::from_utf8_lossy(&out.stdout)))
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    v.sort();
    v
}

#[test]
fn conformance() {
    let root = corpus();
    let known_path = root.join("kustomize-known-failures.txt");
    let known: BTreeMap<String, String> = std::fs::read_to_string(&known_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (n, r) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (n.to_string(), r.trim().to_string())
        })
        .collect();
    let live_on = std::env::var_os("KUSTOMIZE_LIVE").is_some();

    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut by_feature: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut total, mut passed) = (0, 0);
    let mut live_mismatch = 0;
    for dir in cases(&root.join("kustomize")) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let want = parse_multi(&std::fs::read_to_string(dir.join("expected.kubectl.yaml")).unwrap()).unwrap();
        let got = render(&dir, &case);
        if std::env::var("KUSTOMIZE_CASE").is_ok_and(|c| c == name) {
            match &got {
                Ok(objs) => objs.iter().for_each(|o| println!("---\n{}", serde_json::to_string_pretty(o).unwrap())),
                Err(e) => println!("error: {e}"),
            }
        }
        let result = got.as_ref().map_err(|e| format!("error: {e}")).and_then(|g| compare(g, &want));
        total += 1;
        let ok = result.is_ok();
        if ok {
            passed += 1;
        } else {
            failures.insert(name.clone(), result.unwrap_err());
        }
        for f in case["features"].as_array().into_iter().flatten() {
            let e = by_feature.entry(f.as_str().unwrap_or("").to_string()).or_default();
            e.0 += 1;
            e.1 += ok as usize;
        }
        if live_on
            && let (Some(Ok(l)), Ok(g)) = (live(&dir, &case), &got)
            && compare(g, &l).is_err()
        {
            live_mismatch += 1;
            println!("live mismatch: {name}");
        }
    }
    let (mut etotal, mut epassed, mut esub) = (0, 0, 0);
    for dir in cases(&root.join("kustomize-errors")) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        etotal += 1;
        match render(&dir, &case) {
            Ok(objs) => {
                failures.insert(format!("errors/{name}"), format!("rendered {} objects, want an error", objs.len()));
            }
            Err(e) => {
                epassed += 1;
                let subs = case["error_substrings"].as_array().cloned().unwrap_or_default();
                let want = |s: &Value| s.as_str().or_else(|| s["contains"].as_str()).unwrap_or("").to_string();
                if subs.iter().all(|s| e.contains(&want(s))) {
                    esub += 1;
                } else if std::env::var_os("KUSTOMIZE_SHOW_MESSAGES").is_some() {
                    println!(
                        "message differs {name}: got {e:?}, upstream wants {:?}",
                        subs.iter().map(want).collect::<Vec<_>>()
                    );
                }
            }
        }
    }

    println!("kustomize corpus: {passed}/{total} passed ({:.1} %)", 100.0 * passed as f64 / total as f64);
    println!("error corpus: {epassed}/{etotal} rejected, {esub} with the upstream message substrings");
    println!(
        "overall: {}/{} ({:.1} %)",
        passed + epassed,
        total + etotal,
        100.0 * (passed + epassed) as f64 / (total + etotal) as f64
    );
    if live_on {
        println!("live kubectl mismatches: {live_mismatch}");
    }
    println!("by feature (passed/total):");
    for (f, (t, p)) in &by_feature {
        println!("  {f:<45} {p:>3}/{t:<3}");
    }

    if std::env::var_os("KUSTOMIZE_UPDATE_KNOWN").is_some() {
        let mut s = String::from(
            "# Corpus cases builtin:kustomize does not yet match, one per line: name, then the reason.\n# The conformance test fails when an unlisted case fails or a listed case passes.\n",
        );
        for (n, r) in &failures {
            let reason = known.get(n).filter(|r| !r.is_empty()).cloned().unwrap_or_else(|| r.replace('\n', " "));
            s.push_str(&format!("{n}  {reason}\n"));
        }
        std::fs::write(&known_path, s).unwrap();
    }
    let unexpected: Vec<_> = failures.iter().filter(|(n, _)| !known.contains_key(*n)).collect();
    let fixed: BTreeSet<_> = known.keys().filter(|n| !failures.contains_key(*n)).collect();
    for (n, r) in &unexpected {
        println!("UNEXPECTED FAILURE {n}: {r}");
    }
    for n in &fixed {
        println!("NOW PASSING (remove from known failures): {n}");
    }
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} unexpected failures, {} listed cases now pass",
        unexpected.len(),
        fixed.len()
    );
}
