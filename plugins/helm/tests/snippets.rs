//! Go template and Sprig semantics, snippet by snippet, against what `helm
//! template` v3.17 printed for each (`tests/snippets/expected.json`, made by
//! `tools/gen_snippets.py` with the same chart layout). Each snippet of
//! `cases.txt` must print exactly Helm's text; each of `errors.txt` must fail
//! with Helm's error text (ours adds the chart in front).
//!
//! Every render gets the `--set` overrides of `set.txt` (as `set`).
//!
//! `snippets/known-differences.txt` lists snippets that differ on purpose or
//! for now (`name  reason`), enforced both ways.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

const HERE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snippets");

fn cases(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(HERE).join(file)).unwrap();
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.split('\n') {
        if let Some(name) = line.strip_prefix("=== ") {
            out.push((name.trim().to_string(), Vec::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(line);
        }
    }
    out.into_iter().map(|(n, b)| (n, b.join("\n").trim_end_matches('\n').to_string())).collect()
}

/// The same wrapping as tools/gen_snippets.py.
fn wrap(name: &str, body: &str) -> String {
    let (prelude, body) = match body.rfind("\n%%\n") {
        Some(i) => (&body[..i], &body[i + 4..]),
        None => ("", body),
    };
    format!(
        "{prelude}{{{{- define \"{name}\" }}}}{body}{{{{ end }}}}\nkind: Snip\nname: {name}\nout: {{{{ include \"{name}\" . | toJson }}}}\n"
    )
}

fn chart(dir: &Path, templates: &[(String, String)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::write(dir.join("Chart.yaml"), "apiVersion: v2\nname: snippets\nversion: 0.1.0\nappVersion: \"2.0\"\n")
        .unwrap();
    std::fs::copy(Path::new(HERE).join("values.yaml"), dir.join("values.yaml")).unwrap();
    std::fs::write(dir.join("files/a.txt"), "first\nsecond\n").unwrap();
    std::fs::write(dir.join("files/b.bin"), "bee").unwrap();
    for (name, text) in templates {
        std::fs::write(dir.join("templates").join(format!("{name}.yaml")), text).unwrap();
    }
}

fn render(root: &Path) -> Result<Vec<Value>, String> {
    let set = std::fs::read_to_string(Path::new(HERE).join("set.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let opts = capstan_helm::Options {
        release_name: Some("snip".into()),
        namespace: Some("ns".into()),
        set,
        ..Default::default()
    };
    capstan_helm::render(root, "snippets", "snip", None, &opts).map_err(|e| capstan_helm::error::chain(&e))
}

#[test]
fn snippets_match_helm() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(HERE).join("expected.json")).unwrap()).unwrap();
    let known: BTreeMap<String, String> = std::fs::read_to_string(Path::new(HERE).join("known-differences.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (n, r) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (n.to_string(), r.trim().to_string())
        })
        .collect();
    let tmp = std::env::temp_dir().join(format!("capstan-helm-snippets-{}", std::process::id()));
    let mut failures = BTreeMap::new();

    let ok = cases("cases.txt");
    let wrapped: Vec<(String, String)> = ok.iter().map(|(n, b)| (n.clone(), wrap(n, b))).collect();
    chart(&tmp.join("snippets"), &wrapped);
    let got: BTreeMap<String, String> = render(&tmp)
        .unwrap()
        .into_iter()
        .map(|o| (o["name"].as_str().unwrap().to_string(), o["out"].as_str().unwrap_or("").to_string()))
        .collect();
    for (name, _) in &ok {
        let want = expected["ok"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no expectation for {name}: rerun tools/gen_snippets.py"));
        let g = got.get(name).map(String::as_str).unwrap_or("(missing)");
        if g != want {
            failures.insert(name.clone(), format!("got {g:?}\n      want {want:?}"));
        }
    }
    for (name, body) in cases("errors.txt") {
        chart(&tmp.join("snippets"), &[(name.clone(), format!("{body}\n"))]);
        let want = expected["errors"][&name].as_str().unwrap_or("").trim_start_matches("Error: ").to_string();
        match render(&tmp) {
            Ok(objs) => {
                failures.insert(name, format!("rendered {} objects, want error {want:?}", objs.len()));
            }
            Err(e) if e.contains(&want) => {}
            Err(e) => {
                failures.insert(name, format!("got error {e:?}\n      want {want:?}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let unexpected: Vec<_> = failures.iter().filter(|(n, _)| !known.contains_key(*n)).collect();
    let fixed: Vec<_> = known.keys().filter(|n| !failures.contains_key(*n)).collect();
    for (n, r) in &unexpected {
        println!("DIFF {n}: {r}");
    }
    for n in &fixed {
        println!("now matches (remove from known-differences.txt): {n}");
    }
    println!(
        "snippets: {} of {} match helm",
        ok.len() + cases("errors.txt").len() - failures.len(),
        ok.len() + cases("errors.txt").len()
    );
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} unexpected differences, {} known ones now match",
        unexpected.len(),
        fixed.len()
    );
}
