//! Chart layouts that Helm's loader treats in its own way: `.helmignore`
//! (read in the chart directory only, applied to subcharts' files too,
//! Go's glob rules, negation ignoring what does not match, `**` refused),
//! and what under `charts/` is a subchart. Each case builds its chart and
//! states what `helm template` v3.17.2 printed for it (ConfigMap names and
//! their `data.x`, or a piece of the error); where `helm` is installed
//! (PATH or `~/.cache/capstan/helm/helm`) each case is run through it as
//! well, so the statement cannot drift from Helm.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A ConfigMap template printing `expr` as `data.x`.
fn cm(name: &str, expr: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  x: {{{{ {expr} | quote }}}}\n")
}

fn chart_yaml(name: &str) -> String {
    format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n")
}

/// The files of a top chart with one template `a` (printing its own
/// `.helmignore`) and a subchart `sub` with one template `b` (printing its
/// own), plus `extra`.
fn layout(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut files = vec![
        ("Chart.yaml".to_string(), chart_yaml("top")),
        ("templates/a.yaml".into(), cm("a", ".Files.Get \".helmignore\"")),
        ("charts/sub/Chart.yaml".into(), chart_yaml("sub")),
        ("charts/sub/templates/b.yaml".into(), cm("b", ".Files.Get \".helmignore\"")),
    ];
    files.extend(extra.iter().map(|(p, t)| (p.to_string(), t.to_string())));
    files
}

/// A ConfigMap listing what `.Files.Glob` selects for each pattern.
const GLOBS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: g
data:
  {{- $out := list }}
  {{- range list "**" "files/*" "{README.md,files/**}" "files/**.cfg" "*" "files/?.txt" "[!f]*" "[a-z]*" "[unclosed" "{a,b" "**/y.cfg" "f*/**" "files/**/*.cfg" "**x*" "files/[x-z].txt" "{README.md" "{README.md,x" "README.md}" "{files/x.txt,z}" "{files/sub/*,z}" "{files/*/y.cfg,z}" }}
  {{- $k := list }}{{ range $f, $_ := $.Files.Glob . }}{{ $k = append $k $f }}{{ end }}
  {{- $out = append $out (join "," $k) }}
  {{- end }}
  x: {{ join ";" $out | quote }}
"#;

/// What `helm template` printed: the ConfigMaps in order, or the error.
type Outcome = Result<Vec<(&'static str, &'static str)>, &'static str>;

/// A case: what it shows, the chart's files (path, text), Helm's outcome.
type Case = (&'static str, Vec<(String, String)>, Outcome);

fn cases() -> Vec<Case> {
    vec![
        ("no .helmignore", layout(&[]), Ok(vec![("b", ""), ("a", "")])),
        (
            "a subchart's .helmignore is one of its files, not rules",
            layout(&[("charts/sub/.helmignore", "b.yaml\n")]),
            Ok(vec![("b", "b.yaml\n"), ("a", "")]),
        ),
        (
            "the chart's rules reach into subcharts, by base name",
            layout(&[(".helmignore", "# comment\n\nb.yaml\n")]),
            Ok(vec![("a", "# comment\n\nb.yaml\n")]),
        ),
        (
            "a rule with a slash matches the whole path",
            layout(&[(".helmignore", "charts/*/templates/b.yaml\n")]),
            Ok(vec![("a", "charts/*/templates/b.yaml\n")]),
        ),
        (
            "a rule from the root matches at the root only",
            layout(&[(".helmignore", "/b.yaml\n/templates/a.yaml\n")]),
            Ok(vec![("b", "")]),
        ),
        ("a directory rule skips the directory", layout(&[(".helmignore", "sub/\n")]), Ok(vec![("a", "sub/\n")])),
        (
            "a directory rule does not match a file",
            layout(&[(".helmignore", "a.yaml/\n")]),
            Ok(vec![("b", ""), ("a", "a.yaml/\n")]),
        ),
        ("a class and ? are Go's", layout(&[(".helmignore", "[^a].yam?\n")]), Ok(vec![("a", "[^a].yam?\n")])),
        (
            "a negated rule ignores everything it does not match",
            layout(&[(".helmignore", "!a.yaml\n")]),
            Err("Chart.yaml file is missing"),
        ),
        (
            "double star is refused",
            layout(&[(".helmignore", "templates/**/x.yaml\n")]),
            Err("double-star (**) syntax is not supported"),
        ),
        ("a malformed pattern is refused", layout(&[(".helmignore", "[z-\n")]), Err("syntax error in pattern")),
        (
            "dotfiles under the chart's templates/ are ignored, a subchart's are not",
            layout(&[("templates/.c.yaml", &cm("c", "1")), ("charts/sub/templates/.d.yaml", &cm("d", "1"))]),
            Ok(vec![("d", "1"), ("b", ""), ("a", "")]),
        ),
        (
            "subcharts named _* or .* are skipped",
            layout(&[
                ("charts/_skip/Chart.yaml", &chart_yaml("skip")),
                ("charts/_skip/templates/c.yaml", &cm("c", "1")),
                ("charts/.hidden/Chart.yaml", &chart_yaml("hidden")),
                ("charts/.hidden/templates/d.yaml", &cm("d", "1")),
                ("charts/.keep", ""),
            ]),
            Ok(vec![("b", ""), ("a", "")]),
        ),
        (
            "a template printing a list is refused",
            layout(&[("templates/list.yaml", "- apiVersion: v1\n  kind: ConfigMap\n")]),
            Err(
                "YAML parse error on top/templates/list.yaml: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type releaseutil.SimpleHead",
            ),
        ),
        (
            "a template printing a string is refused",
            layout(&[("templates/s.yaml", "just text\n")]),
            Err("json: cannot unmarshal string into Go value of type releaseutil.SimpleHead"),
        ),
        (
            "any file under templates/ is a template, JSON ones included",
            layout(&[
                ("templates/c.txt", &cm("c", "1")),
                (
                    "templates/d.json",
                    r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"x": "2"}}"#,
                ),
            ]),
            Ok(vec![("b", ""), ("a", ""), ("c", "1"), ("d", "2")]),
        ),
        (
            ".Files.Glob is gobwas/glob's: ** crosses /, braces close at the end, a bad class selects all",
            layout(&[
                ("README.md", "r\n"),
                ("files/x.txt", "x\n"),
                ("files/sub/y.cfg", "y\n"),
                ("files/sub/z.txt", "z\n"),
                ("templates/g.yaml", GLOBS),
            ]),
            Ok(vec![
                ("b", ""),
                ("a", ""),
                (
                    "g",
                    "README.md,files/sub/y.cfg,files/sub/z.txt,files/x.txt;files/x.txt;\
                     README.md,files/sub/y.cfg,files/sub/z.txt,files/x.txt;files/sub/y.cfg;README.md;\
                     files/x.txt;README.md;;README.md,files/sub/y.cfg,files/sub/z.txt,files/x.txt;;\
                     files/sub/y.cfg;files/sub/y.cfg,files/sub/z.txt,files/x.txt;files/sub/y.cfg;\
                     files/sub/z.txt,files/x.txt;files/x.txt;README.md;README.md;;files/x.txt;\
                     files/sub/y.cfg,files/sub/z.txt;files/sub/y.cfg",
                ),
            ]),
        ),
        (
            "any other file under charts/ is a subchart without Chart.yaml",
            layout(&[("charts/README.md", "hello\n")]),
            Err("error unpacking subchart README.md in top"),
        ),
    ]
}

fn write(dir: &Path, files: &[(String, String)]) {
    let _ = std::fs::remove_dir_all(dir);
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn configmaps(objects: &[Value]) -> Vec<(String, String)> {
    objects
        .iter()
        .map(|o| (o["metadata"]["name"].as_str().unwrap_or("").into(), o["data"]["x"].as_str().unwrap_or("").into()))
        .collect()
}

fn helm_binary() -> Option<PathBuf> {
    if Command::new("helm").arg("version").output().is_ok_and(|o| o.status.success()) {
        return Some("helm".into());
    }
    let cached = Path::new(&std::env::var_os("HOME")?).join(".cache/capstan/helm/helm");
    cached.exists().then_some(cached)
}

fn helm_template(bin: &Path, chart: &Path) -> Result<Vec<(String, String)>, String> {
    let out = Command::new(bin).args(["template", "r"]).arg(chart).output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = capstan_plugin::yaml::from_str(&text).map_err(|e| e.to_string())?;
    Ok(configmaps(&docs))
}

#[test]
fn chart_layouts_load_as_helm_loads_them() {
    let tmp = std::env::temp_dir().join(format!("capstan-helm-loader-{}", std::process::id()));
    let helm = helm_binary();
    if helm.is_none() {
        println!("helm not found (PATH or ~/.cache/capstan/helm/helm): checking the recorded outcomes only");
    }
    let mut failures = Vec::new();
    for (name, files, want) in cases() {
        let dir = tmp.join("top");
        write(&dir, &files);
        let opts = capstan_helm::Options::default();
        let got = capstan_helm::render(&tmp, "top", "r", None, &opts)
            .map(|objects| configmaps(&objects))
            .map_err(|e| capstan_helm::error::chain(&e));
        let agrees = |got: &Result<Vec<(String, String)>, String>| match (got, &want) {
            (Ok(got), Ok(want)) => got.iter().map(|(n, x)| (n.as_str(), x.as_str())).eq(want.iter().copied()),
            (Err(got), Err(want)) => got.contains(want),
            _ => false,
        };
        if !agrees(&got) {
            failures.push(format!("{name}: capstan {got:?}, recorded from helm {want:?}"));
        }
        if let Some(bin) = &helm {
            let printed = helm_template(bin, &dir);
            if !agrees(&printed) {
                failures.push(format!("{name}: helm now prints {printed:?}, recorded {want:?}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
