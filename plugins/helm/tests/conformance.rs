//! Conformance: renders Helm's own test charts (`tests/corpus/helm`) and
//! compares, as parsed multi-document YAML in order, with what `helm
//! template` v3.17.2 printed: `rendered/` (one chart each, `helm template
//! release-name <chart>`) and `template-golden/` (Helm's golden tests, with
//! their flags). A case recorded as an error must fail here too.
//!
//! `tests/corpus/helm-random-values.txt` names, for cases whose output
//! holds values drawn at random on every render (`randAlphaNum`), the
//! strings compared by length only.
//!
//! `tests/corpus/helm-known-failures.txt` lists cases expected to fail
//! (`name  reason`); the test fails when an unlisted case fails or a listed
//! one passes. `HELM_UPDATE_KNOWN=1` rewrites the list from this run;
//! `HELM_CASE=name` prints one case's output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use capstan_helm::{Options, render_manifests};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus")
}

/// Helm's output read as kubectl reads it (YAML 1.1 scalars: `yes` is true).
fn parse_multi(text: &str) -> Result<Vec<Value>, String> {
    capstan_plugin::yaml::from_str(text).map_err(|e| e.to_string())
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
    let ids = |v: &[Value]| {
        v.iter()
            .map(|o| format!("{}/{}", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(",")
    };
    if got.len() != want.len() {
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

/// `name  /pointer...` lines of a list file (comments and blanks skipped).
fn list_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (n, r) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (n.to_string(), r.trim().to_string())
        })
        .collect()
}

/// Replaces the random strings at `pointers` (`/object/path`) on both
/// sides by a marker, once they are found to be strings of equal length.
fn mask_random(got: &mut [Value], want: &mut [Value], pointers: &str) -> Result<(), String> {
    for p in pointers.split_whitespace() {
        let (g, w) = (pointer_mut(got, p), pointer_mut(want, p));
        match (g, w) {
            (Some(Value::String(a)), Some(Value::String(b))) if a.len() == b.len() => {
                *a = "<random>".into();
                *b = "<random>".into();
            }
            (Some(Value::String(a)), Some(Value::String(b))) => {
                return Err(format!("{p}: random strings of different lengths: {a:?} and {b:?}"));
            }
            (a, b) => return Err(format!("{p}: want a random string on both sides, got {a:?} and {b:?}")),
        }
    }
    Ok(())
}

fn pointer_mut<'a>(objects: &'a mut [Value], pointer: &str) -> Option<&'a mut Value> {
    let rest = pointer.strip_prefix('/')?;
    let (index, path) = rest.split_once('/').unwrap_or((rest, ""));
    let object = objects.get_mut(index.parse::<usize>().ok()?)?;
    if path.is_empty() { Some(object) } else { object.pointer_mut(&format!("/{path}")) }
}

/// A `helm template` invocation turned into a render.
struct Run {
    chart: Option<PathBuf>,
    opts: Options,
    show_only: Vec<String>,
    unsupported: Option<String>,
}

fn parse_args(cwd: &Path, args: &[String]) -> Run {
    let mut opts = Options { include_crds: false, release_name: Some("release-name".into()), ..Options::default() };
    let mut run = Run { chart: None, opts: Options::default(), show_only: Vec::new(), unsupported: None };
    let mut value_files = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a, None),
        };
        let mut val = || {
            inline.clone().unwrap_or_else(|| {
                i += 1;
                args.get(i).cloned().unwrap_or_default()
            })
        };
        match flag {
            "--set" => {
                let v = val();
                let (k, x) = v.split_once('=').unwrap_or((&v, ""));
                opts.set.insert(k.to_string(), Value::String(x.to_string()));
            }
            "--values" | "-f" => value_files.push(cwd.join(val())),
            "--kube-version" => opts.kube_version = Some(val()),
            "--api-versions" => opts.api_versions.push(val()),
            "--include-crds" => opts.include_crds = true,
            "--name-template" => opts.name_template = Some(val()),
            "--skip-tests" => opts.skip_tests = true,
            "--show-only" | "-s" => run.show_only.push(val()),
            "--debug" => {}
            f if f.starts_with('-') => run.unsupported = Some(f.to_string()),
            _ => {
                if run.chart.is_none() && !a.contains('/') && args.len() > i + 1 && !args[i + 1].starts_with('-') {
                    opts.release_name = Some(a.to_string());
                } else {
                    run.chart = Some(cwd.join(a));
                }
            }
        }
        i += 1;
    }
    // A name template replaces the release name argument.
    if opts.name_template.is_some() {
        opts.release_name = None;
    }
    // Value files are given relative to the chart directory.
    if let Some(chart) = &run.chart {
        for f in value_files {
            opts.value_files.push(pathdiff(&f, chart));
        }
    }
    run.opts = opts;
    run
}

fn pathdiff(target: &Path, base: &Path) -> String {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out.display().to_string()
}

fn glob_match(pattern: &str, path: &str) -> bool {
    globset::Glob::new(pattern).map(|g| g.compile_matcher().is_match(path)).unwrap_or(false)
}

fn render(root: &Path, run: &Run) -> Result<Vec<Value>, String> {
    let Some(chart) = &run.chart else { return Err("no chart given".into()) };
    let rel = chart.strip_prefix(root).map_err(|_| "chart outside the corpus".to_string())?;
    let ms = render_manifests(root, &rel.display().to_string(), "release-name", None, &run.opts)
        .map_err(|e| capstan_helm::error::chain(&e))?;
    let chart_name = ms.first().map(|m| m.source.split('/').next().unwrap_or("").to_string()).unwrap_or_default();
    if run.show_only.is_empty() {
        return Ok(ms.iter().filter_map(capstan_helm::manifest::Manifest::object).collect());
    }
    // `--show-only` prints the matches of each pattern in turn.
    let mut out = Vec::new();
    for p in &run.show_only {
        let pattern = format!("{chart_name}/{p}");
        out.extend(
            ms.iter().filter(|m| glob_match(&pattern, &m.source)).filter_map(capstan_helm::manifest::Manifest::object),
        );
    }
    Ok(out)
}

struct Case {
    name: String,
    run: Run,
    want: Result<Vec<Value>, ()>,
}

fn cases(root: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let rendered = root.join("helm/rendered");
    for line in std::fs::read_to_string(rendered.join("INDEX.tsv")).unwrap().lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, status, chart) = (cols[0], cols[2], cols[3]);
        let run = parse_args(root, &["template".into(), "release-name".into(), chart.into()]);
        let want = if status == "ok" {
            Ok(parse_multi(&std::fs::read_to_string(rendered.join(name).join("expected.yaml")).unwrap()).unwrap())
        } else {
            Err(())
        };
        out.push(Case { name: format!("rendered/{name}"), run, want });
    }
    let golden = root.join("helm/template-golden");
    let mut dirs: Vec<_> =
        std::fs::read_dir(&golden).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for dir in dirs {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let args: Vec<String> =
            case["helm_args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
        let run = parse_args(&root.join("helm").join(case["cwd"].as_str().unwrap()), &args);
        let want = if case["helm_rc"].as_i64() == Some(0) {
            Ok(parse_multi(&std::fs::read_to_string(dir.join("helm_stdout.txt")).unwrap()).unwrap())
        } else {
            Err(())
        };
        out.push(Case { name: format!("golden/{}", dir.file_name().unwrap().to_string_lossy()), run, want });
    }
    out
}

#[test]
fn conformance() {
    let root = corpus();
    let known_path = root.join("helm-known-failures.txt");
    let known = list_file(&known_path);
    let random = list_file(&root.join("helm-random-values.txt"));
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let (mut total, mut passed) = (0, 0);
    for case in cases(&root) {
        total += 1;
        let got = match &case.run.unsupported {
            Some(flag) => Err(format!("flag {flag} not modelled by this test")),
            None => render(&root, &case.run),
        };
        if std::env::var("HELM_CASE").is_ok_and(|c| case.name.ends_with(&c)) {
            match &got {
                Ok(objs) => objs.iter().for_each(|o| println!("---\n{}", serde_json::to_string_pretty(o).unwrap())),
                Err(e) => println!("error: {e}"),
            }
        }
        let result = match (got, case.want) {
            (Ok(mut g), Ok(mut w)) => match random.get(&case.name) {
                Some(pointers) => mask_random(&mut g, &mut w, pointers).and_then(|()| compare(&g, &w)),
                None => compare(&g, &w),
            },
            (Err(e), Ok(_)) => Err(format!("error: {e}")),
            (Ok(g), Err(())) => Err(format!("rendered {} objects, want an error", g.len())),
            (Err(_), Err(())) => Ok(()),
        };
        match result {
            Ok(()) => passed += 1,
            Err(e) => {
                failures.insert(case.name, e);
            }
        }
    }
    println!("helm corpus: {passed}/{total} passed ({:.1} %)", 100.0 * passed as f64 / total as f64);
    if std::env::var_os("HELM_UPDATE_KNOWN").is_some() {
        let mut text = String::from(
            "# Corpus cases builtin:helm does not yet match, one per line: name, then the reason.\n\
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
