//! The Go structs Helm hands to templates, with their fields and methods:
//! `.Files` (Get, GetBytes, Glob, Lines, AsConfig, AsSecrets), `.Chart`,
//! `.Capabilities` (KubeVersion, APIVersions.Has, HelmVersion).

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use serde_json::Value as Json;

use crate::funcs::{from_json, to_yaml};
use crate::template::{Object, Value};

/// A chart's files (`.Files`), sorted by path.
pub struct Files(pub Rc<Vec<(String, Rc<str>)>>);

impl Files {
    fn get(&self, name: &str) -> Option<&Rc<str>> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|i| &self.0[i].1)
    }

    fn as_map(&self, encode: bool) -> Value {
        let m: BTreeMap<String, Value> = self
            .0
            .iter()
            .map(|(n, d)| {
                let base = n.rsplit('/').next().unwrap_or(n).to_string();
                let v =
                    if encode { base64::engine::general_purpose::STANDARD.encode(d.as_bytes()) } else { d.to_string() };
                (base, Value::str(v))
            })
            .collect();
        if m.is_empty() {
            return Value::str("");
        }
        Value::str(to_yaml(&Value::map(m)).unwrap_or_default())
    }
}

fn one_str(args: &[Value], name: &str) -> Result<String, String> {
    match args {
        [Value::Str(s)] => Ok(s.to_string()),
        [v] => Err(format!("wrong type for value; expected string; got {}", v.type_name())),
        _ => Err(format!("wrong number of args for {name}: want 1 got {}", args.len())),
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }
    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let r = match name {
            "Get" | "GetBytes" => {
                one_str(args, name).map(|n| Value::Str(self.get(&n).cloned().unwrap_or_else(|| "".into())))
            }
            "Glob" => one_str(args, name).map(|p| {
                // Helm falls back to `**` (every file) on a malformed pattern.
                let g = glob_regex(&p);
                let sel: Vec<_> =
                    self.0.iter().filter(|(n, _)| g.as_ref().is_none_or(|g| g.is_match(n))).cloned().collect();
                Value::Obj(Rc::new(Files(Rc::new(sel))))
            }),
            "Lines" => one_str(args, name).map(|n| match self.get(&n) {
                Some(s) if !s.is_empty() => {
                    let s = s.strip_suffix('\n').unwrap_or(s);
                    Value::list(s.split('\n').map(Value::str).collect())
                }
                _ => Value::list(Vec::new()),
            }),
            "AsConfig" => Ok(self.as_map(false)),
            "AsSecrets" => Ok(self.as_map(true)),
            _ => return None,
        };
        Some(r)
    }
    fn show(&self) -> String {
        let items: Vec<String> = self.0.iter().map(|(n, d)| format!("{n}:{:?}", d.as_bytes())).collect();
        format!("map[{}]", items.join(" "))
    }
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        Some(self.0.iter().map(|(n, d)| (Value::str(n.as_str()), Value::Str(d.clone()))).collect())
    }
}

/// `.Chart`: Chart.yaml as Helm's `chart.Metadata` struct.
pub struct ChartMeta {
    fields: BTreeMap<&'static str, Value>,
}

impl ChartMeta {
    /// Builds it from Chart.yaml.
    pub fn new(meta: &Json, is_root: bool) -> ChartMeta {
        let s = |k: &str| {
            Value::str(meta.get(k).map_or(String::new(), |v| v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        };
        let any = |k: &str, empty: Value| meta.get(k).filter(|v| !v.is_null()).map_or(empty, from_json);
        let mut f = BTreeMap::new();
        for (field, key) in [
            ("Name", "name"),
            ("Home", "home"),
            ("Version", "version"),
            ("Description", "description"),
            ("Icon", "icon"),
            ("APIVersion", "apiVersion"),
            ("Condition", "condition"),
            ("Tags", "tags"),
            ("AppVersion", "appVersion"),
            ("KubeVersion", "kubeVersion"),
            ("Type", "type"),
        ] {
            f.insert(field, s(key));
        }
        for (field, key) in [
            ("Sources", "sources"),
            ("Keywords", "keywords"),
            ("Maintainers", "maintainers"),
            ("Dependencies", "dependencies"),
        ] {
            f.insert(field, any(key, Value::list(Vec::new())));
        }
        f.insert("Annotations", any("annotations", Value::map(BTreeMap::new())));
        f.insert("Deprecated", Value::Bool(meta.get("deprecated").and_then(Json::as_bool).unwrap_or(false)));
        f.insert("IsRoot", Value::Bool(is_root));
        ChartMeta { fields: f }
    }
}

impl Object for ChartMeta {
    fn type_name(&self) -> &str {
        "*chart.Metadata"
    }
    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = self.fields.get(name)?;
        if !args.is_empty() {
            return Some(Err(format!("{name} is not a method but has arguments")));
        }
        Some(Ok(v.clone()))
    }
    fn show(&self) -> String {
        format!("{{{}}}", self.fields.values().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
    }
}

/// `.Capabilities.KubeVersion`.
pub struct KubeVersion {
    /// `v1.32.0`.
    pub version: String,
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "*chartutil.KubeVersion"
    }
    fn field(&self, name: &str, _: &[Value]) -> Option<Result<Value, String>> {
        let core = self.version.trim_start_matches('v');
        let mut parts = core.split(['.', '-', '+']);
        let major = parts.next().unwrap_or("").to_string();
        let minor = parts.next().unwrap_or("").to_string();
        Some(Ok(match name {
            "Version" | "GitVersion" | "String" => Value::str(self.version.as_str()),
            "Major" => Value::str(major),
            "Minor" => Value::str(minor),
            _ => return None,
        }))
    }
    fn show(&self) -> String {
        self.version.clone()
    }
}

/// `.Capabilities.APIVersions`, with `Has`.
pub struct ApiVersions(pub Vec<String>);

impl Object for ApiVersions {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }
    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Has" => Some(one_str(args, "Has").map(|v| Value::Bool(self.0.contains(&v)))),
            _ => None,
        }
    }
    fn show(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        Some(self.0.iter().enumerate().map(|(i, v)| (Value::Int(i as i64), Value::str(v.as_str()))).collect())
    }
}

/// `.Capabilities`.
pub struct Capabilities {
    /// KubeVersion.
    pub kube: Value,
    /// APIVersions.
    pub apis: Value,
}

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "*chartutil.Capabilities"
    }
    fn field(&self, name: &str, _: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(match name {
            "KubeVersion" => self.kube.clone(),
            "APIVersions" => self.apis.clone(),
            "HelmVersion" => {
                let m: BTreeMap<String, Value> = [
                    ("Version", "v3.17.2"),
                    ("GitCommit", "cc0bbbd6d6276b83880042c1ecb34087e84d41eb"),
                    ("GitTreeState", "clean"),
                    ("GoVersion", "go1.23.7"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::str(v)))
                .collect();
                Value::map(m)
            }
            _ => return None,
        }))
    }
    fn show(&self) -> String {
        format!("{{{} {}}}", self.kube, self.apis)
    }
}

/// A pattern of `.Files.Glob` (gobwas/glob with `/` as separator, as Helm
/// compiles it) as a regular expression: `**` is any text, `*` any text
/// without `/`, `?` one character but `/`, `[a-z]`/`[!a-z]` classes,
/// `{a,b}` alternatives (closed at the end if left open), `\` escapes.
/// `None` when it is malformed (an unclosed class). The
/// `regex` crate matches in linear time, whatever the pattern.
fn glob_regex(pattern: &str) -> Option<regex::Regex> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("(?s)^");
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '{' => {
                depth += 1;
                re.push_str("(?:");
            }
            '}' if depth > 0 => {
                depth -= 1;
                re.push(')');
            }
            ',' if depth > 0 => re.push('|'),
            '[' => {
                let close = i + 1 + chars[i + 1..].iter().position(|&c| c == ']')?;
                let mut body = &chars[i + 1..close];
                re.push('[');
                if let Some(rest) = body.strip_prefix(&['!']) {
                    re.push('^');
                    body = rest;
                }
                if body.is_empty() {
                    return None;
                }
                for (k, &c) in body.iter().enumerate() {
                    if c == '-' && k > 0 && k + 1 < body.len() {
                        re.push('-');
                    } else {
                        re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
                    }
                }
                re.push(']');
                i = close;
            }
            '\\' => {
                i += 1;
                re.push_str(&regex::escape(chars.get(i)?.encode_utf8(&mut [0; 4])));
            }
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
        i += 1;
    }
    // An unclosed `{` is closed at the end, as gobwas does.
    re.push_str(&")".repeat(depth));
    re.push('$');
    regex::Regex::new(&re).ok()
}
