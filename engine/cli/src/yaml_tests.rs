//! `render -o yaml` and `hydrate` output read back by the readers users
//! have: serde_yaml (YAML 1.2), PyYAML (YAML 1.1) and kubectl (go-yaml v2
//! under sigs.k8s.io/yaml). Each must see exactly the rendered values.

use std::io::Write as _;
use std::process::{Command, Stdio};

use capstan_types::Object;
use serde_json::{Value, json};

use crate::output::{Format, objects};

/// Strings that some YAML reader would take for something else when plain.
fn tricky_strings() -> Vec<String> {
    let mut out = Vec::new();
    let words = ["y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf", "infinity", "yEs", "oN"];
    for word in words {
        let mut upper_first = word.to_owned();
        upper_first[..1].make_ascii_uppercase();
        out.extend([word.to_owned(), word.to_uppercase(), upper_first]);
    }
    let literal = [
        "~",
        "",
        " ",
        "<<",
        "=",
        "-",
        "?",
        ":",
        "!",
        "&",
        "*",
        "|",
        ">",
        "%",
        "@",
        "`",
        "#",
        // Numbers in the forms of YAML 1.1, 1.2 and Go's strconv.
        "0755",
        "0o17",
        "0x1F",
        "0X1f",
        "0b101",
        "-0b101",
        "1_000",
        "1__0",
        "0_7",
        "08",
        "09",
        "0",
        "-0",
        "+1",
        "-1",
        "1:20",
        "190:20:30",
        "-1:20",
        "1:20.5",
        ".inf",
        "-.Inf",
        "+.INF",
        ".nan",
        ".NaN",
        "1e3",
        "1E3",
        "1.5e-3",
        "1.",
        "-.5",
        ".5",
        "1.2.3",
        "6.8523015e+5",
        "685.230_15e+03",
        "0.",
        "+.5",
        "1e",
        "0x",
        "0b",
        // Timestamps.
        "2001-12-14",
        "2002-1-2",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
        "2001-12-15T02:59:43.1Z",
        // Indicators and comments.
        "a: b",
        "a #b",
        "#x",
        "- x",
        "-x",
        "x:",
        "? x",
        "@x",
        "`x",
        "%x",
        "!x",
        "&x",
        "*x",
        "|x",
        ">x",
        "{}",
        "[]",
        "{a}",
        "[a]",
        "'q'",
        "\"q\"",
        "a,b",
        "a:b",
        "a:\tb",
        "a\t#b",
        // Whitespace, line breaks and characters outside printable ASCII.
        "multi\nline",
        "trail\n",
        "two\n\n",
        "\n",
        "\nstart",
        "  lead",
        "lead ",
        "tab\tx",
        "line \nx",
        "a\r\nb",
        " \n x",
        "\u{85}x",
        "x\u{2028}y",
        "\u{feff}bom",
        "é",
        "日本語",
        "\u{7f}",
        "\u{1}",
        "\u{fffe}",
        // Ordinary values that must stay readable.
        "v1",
        "nginx:1.25",
        "http://x:80/a?b=c#d",
        "no-op",
        "true-ish",
        "a b",
        "ok",
    ];
    out.extend(literal.iter().map(|s| (*s).to_owned()));
    out
}

fn tricky_object() -> Value {
    let strings = tricky_strings();
    let data: serde_json::Map<String, Value> =
        strings.iter().enumerate().map(|(i, s)| (format!("k{i}"), Value::from(s.clone()))).collect();
    let keys: serde_json::Map<String, Value> =
        strings.iter().enumerate().map(|(i, s)| (s.clone(), Value::from(i))).collect();
    json!({
        "apiVersion": "example.com/v1",
        "kind": "Tricky",
        "metadata": {"name": "tricky", "labels": {"no": "yes", "on": "0755"}},
        "data": data,
        "keys": keys,
        "list": strings,
        "nested": [[["no"]], [{"on": ["off", {}]}], [], {}],
        "numbers": [0, -1, 1.5, -0.25, 1e20, 1.5e-7, 100.0, 123_456_789_012_i64, u64::MAX],
        "others": [true, false, null],
    })
}

/// Numbers compared as f64: readers differ only in how they spell them.
fn normalise(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, normalise(v))).collect()),
        other => other,
    }
}

fn run(mut command: Command, input: &str) -> Result<String, String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{command:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8(output.stdout).unwrap())
}

/// Each document of `yaml` as each available reader sees it.
fn read_back(yaml: &str) -> Vec<(&'static str, Vec<Value>)> {
    let mut readers = Vec::new();
    let docs = serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("serde_yaml: {e}\n{yaml}")))
        .collect();
    readers.push(("serde_yaml", docs));

    let mut python = Command::new("python3");
    let script = "import yaml,sys,json\n\
                  docs=[d for d in yaml.safe_load_all(sys.stdin.read()) if d is not None]\n\
                  print(json.dumps(docs, default=lambda o: '<%s %s>' % (type(o).__name__, o)))";
    python.args(["-c", script]);
    match Command::new("python3").args(["-c", "import yaml"]).output() {
        Ok(out) if out.status.success() => {
            let text = run(python, yaml).unwrap();
            readers.push(("PyYAML", serde_json::from_str(&text).unwrap()));
        }
        _ => eprintln!("skipping PyYAML: python3 with the yaml module is not installed"),
    }

    let mut kubectl = Command::new("kubectl");
    // `--local` reads the files as the API machinery does without a cluster.
    kubectl.args(["annotate", "--local", "-f", "-", "capstan.test/read=back", "-o", "json"]);
    match run(kubectl, yaml) {
        Ok(text) => {
            // One JSON object per document, or a `List` of them.
            let items = serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .map(Result::unwrap)
                .flat_map(|value| match value.get("kind").and_then(Value::as_str) {
                    Some("List") => value["items"].as_array().unwrap().clone(),
                    _ => vec![value],
                })
                .map(|mut item| {
                    let metadata = item["metadata"].as_object_mut().unwrap();
                    metadata.remove("annotations");
                    item
                })
                .collect();
            readers.push(("kubectl", items));
        }
        Err(e) => eprintln!("skipping kubectl: {e}"),
    }
    readers
}

fn assert_reads_back(yaml: &str, expected: &[Value]) {
    let expected: Vec<Value> = expected.iter().cloned().map(normalise).collect();
    for (reader, docs) in read_back(yaml) {
        let docs: Vec<Value> = docs.into_iter().map(normalise).collect();
        assert_eq!(docs.len(), expected.len(), "{reader}: document count\n{yaml}");
        for (doc, want) in docs.iter().zip(&expected) {
            for (field, value) in want.as_object().unwrap() {
                assert_eq!(&doc[field], value, "{reader} reads `{field}` differently from\n{yaml}");
            }
            assert_eq!(doc, want, "{reader}");
        }
    }
}

#[test]
fn render_output_reads_back_identically() {
    let first = Object::new(tricky_object()).unwrap();
    let second = Object::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "b", "labels": {"enabled": "no"}}, "data": {"mode": "0644", "script": "#!/bin/sh\necho hi\n"}}))
    .unwrap();
    let yaml = objects(&[first.clone(), second.clone()], Format::Yaml).unwrap();
    assert!(yaml.contains("script: |\n    #!/bin/sh\n    echo hi\n"), "multi-line text stays a literal block:\n{yaml}");
    assert_reads_back(&yaml, &[first.into_value(), second.into_value()]);
}

#[test]
fn hydrated_files_read_back_identically() {
    let object = Object::new(tricky_object()).unwrap();
    let files = crate::hydrate::manifests(std::slice::from_ref(&object)).unwrap();
    let (_, bytes) = files.into_iter().next().unwrap();
    assert_reads_back(std::str::from_utf8(&bytes).unwrap(), &[object.into_value()]);
}

#[test]
fn floats_keep_a_dot_and_a_signed_exponent() {
    for (value, text) in [(json!(1e20), "1.0e+20"), (json!(1.5e-7), "1.5e-7"), (json!(100.0), "100.0"), (json!(7), "7")]
    {
        assert_eq!(crate::yaml::to_string(&value), format!("{text}\n"));
    }
}
