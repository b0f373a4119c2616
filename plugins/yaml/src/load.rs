//! Reading manifests: directory walk, filters, YAML/JSON decoding, checks.

use std::path::{Path, PathBuf};

use capstan_plugin::Error;
use globset::{Glob, GlobMatcher};
use serde::Deserialize;
use serde_json::Value;

const DEFAULT_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The `with:` parameters of `builtin:yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Params {
    /// Descend into subdirectories.
    #[serde(default)]
    pub recurse: bool,
    /// Only files whose relative path matches this glob.
    pub include: Option<String>,
    /// Skip files whose relative path matches this glob.
    pub exclude: Option<String>,
    /// Refuse files larger than this many bytes.
    pub max_file_bytes: Option<u64>,
}

struct Filter {
    include: Option<GlobMatcher>,
    exclude: Option<GlobMatcher>,
    max_file_bytes: u64,
}

impl Filter {
    fn new(params: &Params) -> Result<Self, Error> {
        let glob = |field: &str, pattern: &Option<String>| {
            pattern
                .as_deref()
                .map(|p| {
                    Glob::new(p)
                        .map(|g| g.compile_matcher())
                        .map_err(|e| Error::InvalidConfig(format!("`{field}`: invalid glob {p:?}: {e}")))
                })
                .transpose()
        };
        Ok(Self {
            include: glob("include", &params.include)?,
            exclude: glob("exclude", &params.exclude)?,
            max_file_bytes: params.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES),
        })
    }

    fn wants(&self, relative: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(relative))
            && !self.exclude.as_ref().is_some_and(|g| g.is_match(relative))
    }
}

/// Loads every manifest under `root/dir` (the snapshot root and the app's path).
pub fn load_dir(root: &Path, dir: &str, params: &Params) -> Result<Vec<Value>, Error> {
    let filter = Filter::new(params)?;
    let base = root.join(dir.trim_start_matches('/'));
    let mut files = Vec::new();
    collect(&base, &base, params.recurse, &filter, &mut files)?;
    let mut objects = Vec::new();
    for (path, shown) in files {
        let shown = Path::new(dir).join(shown).display().to_string();
        let text = read(&path, &shown, filter.max_file_bytes)?;
        decode_file(&text, &shown, &mut objects)?;
    }
    Ok(objects)
}

fn collect(
    base: &Path,
    dir: &Path,
    recurse: bool,
    filter: &Filter,
    out: &mut Vec<(PathBuf, String)>,
) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::InvalidInput(format!("{}: failed to read directory: {e}", dir.display()));
    let mut entries = std::fs::read_dir(dir).map_err(io)?.collect::<Result<Vec<_>, _>>().map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type().map_err(io)?;
        let relative = path.strip_prefix(base).unwrap_or(&path).display().to_string();
        if file_type.is_dir() {
            if recurse {
                collect(base, &path, recurse, filter, out)?;
            }
        } else if is_manifest(&name) && filter.wants(&relative) {
            out.push((path, relative));
        }
    }
    Ok(())
}

fn is_manifest(name: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext))
}

fn read(path: &Path, shown: &str, max: u64) -> Result<String, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::InvalidInput(format!("{shown}: failed to read: {e}")))?;
    if meta.len() > max {
        return Err(Error::InvalidInput(format!(
            "{shown}: file is {} bytes, over the limit of {max} (set `maxFileBytes` to raise it)",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| Error::InvalidInput(format!("{shown}: failed to read: {e}")))
}

/// Decodes one file (YAML stream or JSON) and appends its objects.
///
/// serde_yaml checks the stream first (its messages name the line and what
/// was expected, and it caps alias expansion); the values are then read as
/// kubectl reads them, with YAML 1.1 rules for plain scalars (`0644` is 420,
/// `yes` is true), by the SDK's reader.
fn decode_file(text: &str, shown: &str, out: &mut Vec<Value>) -> Result<(), Error> {
    let mut numbers = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let n = index + 1;
        let yaml = serde_yaml::Value::deserialize(document)
            .map_err(|e| Error::InvalidInput(format!("{shown}: document {n}: {e}")))?;
        if !yaml.is_null() {
            numbers.push(n);
        }
    }
    let values = capstan_plugin::yaml::from_str(text).map_err(|e| Error::InvalidInput(format!("{shown}: {e}")))?;
    if values.len() != numbers.len() {
        return Err(Error::InvalidInput(format!(
            "{shown}: {} documents for serde_yaml but {} as Kubernetes reads them",
            numbers.len(),
            values.len()
        )));
    }
    for (n, json) in numbers.into_iter().zip(values) {
        flatten(json, &format!("{shown}: document {n}"), out)?;
    }
    Ok(())
}

/// Checks one object and unwraps `kind: List`.
fn flatten(value: Value, at: &str, out: &mut Vec<Value>) -> Result<(), Error> {
    let Value::Object(map) = &value else {
        return Err(Error::InvalidInput(format!(
            "{at}: expected a Kubernetes object (a mapping), found {}",
            kind_of(&value)
        )));
    };
    let field = |name: &str| map.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let kind = field("kind").ok_or_else(|| Error::InvalidInput(format!("{at}: missing field `kind`")))?;
    if kind == "List" || (kind.ends_with("List") && map.contains_key("items") && field("apiVersion") == Some("v1")) {
        let items = map.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        for (i, item) in items.into_iter().enumerate() {
            flatten(item, &format!("{at}: items[{i}]"), out)?;
        }
        return Ok(());
    }
    field("apiVersion").ok_or_else(|| Error::InvalidInput(format!("{at}: {kind}: missing field `apiVersion`")))?;
    let metadata = map.get("metadata").and_then(Value::as_object);
    let named = metadata.is_some_and(|m| {
        ["name", "generateName"].iter().any(|k| m.get(*k).and_then(Value::as_str).is_some_and(|s| !s.is_empty()))
    });
    if !named {
        return Err(Error::InvalidInput(format!("{at}: {kind}: missing field `metadata.name`")));
    }
    out.push(value);
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        decode_file(text, "app/x.yaml", &mut out).map_err(|e| format!("{e:?}"))?;
        Ok(out)
    }

    #[test]
    fn multi_document_and_list_are_flattened() {
        let objects = decode(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n",
        )
        .unwrap();
        let names: Vec<_> = objects.iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn plain_scalars_are_read_as_kubectl_reads_them() {
        let objects = decode(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: \"no\"}}\nspec:\n  containers: [{name: c, tty: yes, stdin: on}]\n  volumes: [{name: v, configMap: {name: c, defaultMode: 0644}}]\n",
        )
        .unwrap();
        let spec = &objects[0]["spec"];
        assert_eq!(
            (&spec["containers"][0]["tty"], &spec["containers"][0]["stdin"]),
            (&Value::Bool(true), &Value::Bool(true))
        );
        assert_eq!(spec["volumes"][0]["configMap"]["defaultMode"], 420);
        assert_eq!(objects[0]["metadata"]["labels"]["a"], "no", "quoted scalars stay strings");
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = decode("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n").unwrap_err();
        assert!(err.contains("app/x.yaml: document 1:") && err.contains("line"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = decode("apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n").unwrap_err();
        assert!(err.contains("duplicate"), "{err}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            text.push_str(&format!(
                "{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n",
                (b'a' + i) as char,
                (b'a' + i) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char
            ));
        }
        let err = decode(&text).unwrap_err();
        assert!(err.contains("repetition limit") || err.contains("recursion"), "{err}");
    }

    #[test]
    fn objects_need_kind_and_name() {
        assert!(decode("apiVersion: v1\nmetadata: {name: a}\n").unwrap_err().contains("missing field `kind`"));
        assert!(decode("apiVersion: v1\nkind: ConfigMap\n").unwrap_err().contains("metadata.name"));
        assert!(decode("- 1\n- 2\n").unwrap_err().contains("expected a Kubernetes object"));
    }
}
