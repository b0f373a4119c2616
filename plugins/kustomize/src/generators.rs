//! `configMapGenerator`, `secretGenerator` and `generatorOptions`: objects
//! made from literals, files and env files, with kustomize's parsing rules.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::kustfile::{Kustomization, scalar_string};
use crate::resource::{Behavior, Resource};
use crate::target::{Acc, Ctx};

/// Options shared by generators (`generatorOptions` and per-generator `options`).
#[derive(Debug, Clone, Default)]
pub struct GenOptions {
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
    disable_hash: bool,
    immutable: bool,
}

impl GenOptions {
    /// Reads `options`/`generatorOptions`.
    pub fn parse(v: Option<&Value>) -> GenOptions {
        let Some(v) = v else { return GenOptions::default() };
        let strmap = |k: &str| -> Map<String, Value> {
            v.get(k)
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), Value::String(scalar_string(v)))).collect())
                .unwrap_or_default()
        };
        GenOptions {
            labels: strmap("labels"),
            annotations: strmap("annotations"),
            disable_hash: v.get("disableNameSuffixHash").and_then(Value::as_bool).unwrap_or(false),
            immutable: v.get("immutable").and_then(Value::as_bool).unwrap_or(false),
        }
    }

    /// Global options under local ones.
    pub fn merged(global: &GenOptions, local: &GenOptions) -> GenOptions {
        let mut labels = global.labels.clone();
        labels.extend(local.labels.clone());
        let mut annotations = global.annotations.clone();
        annotations.extend(local.annotations.clone());
        GenOptions {
            labels,
            annotations,
            disable_hash: global.disable_hash || local.disable_hash,
            immutable: global.immutable || local.immutable,
        }
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(a)) => a.iter().map(scalar_string).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') { &s[1..s.len() - 1] } else { s }
}

/// Parses an env file into pairs.
pub fn parse_env(text: &str, file: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = if i == 0 { line.trim_start_matches('\u{feff}') } else { line };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(crate::error::msg(format!("invalid env var name {k:?} in '{file}' line {}", i + 1)));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Base64 as kustomize writes secret data: lines of 70 characters, each
/// ending in a newline, once the text is longer than one line.
fn wrapped_base64(b: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(b);
    if enc.len() <= 70 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
        out.push('\n');
    }
    out
}

enum Val {
    Text(String),
    Binary(Vec<u8>),
}

/// Builds one ConfigMap or Secret from a generator spec.
pub fn generate(ctx: &Ctx, spec: &Value, secret: bool, global: &GenOptions, field: &str) -> Result<Resource> {
    let file = &ctx.file;
    let name = spec
        .get("name")
        .map(scalar_string)
        .or_else(|| spec.get("metadata").and_then(|m| m.get("name")).map(scalar_string))
        .unwrap_or_default();
    if name.is_empty() {
        return Err(Error::field(file, field, "a generator needs a name"));
    }
    let namespace = spec
        .get("namespace")
        .map(scalar_string)
        .or_else(|| spec.get("metadata").and_then(|m| m.get("namespace")).map(scalar_string))
        .unwrap_or_default();
    let behavior_s = spec.get("behavior").map(scalar_string).unwrap_or_default();
    let behavior = Behavior::parse(&behavior_s)
        .ok_or_else(|| Error::field(file, field, format!("unknown generator behavior '{behavior_s}'")))?;
    let opts = GenOptions::merged(global, &GenOptions::parse(spec.get("options")));

    let mut pairs: Vec<(String, Val)> = Vec::new();
    let push = |pairs: &mut Vec<(String, Val)>, k: String, v: Val| -> Result<()> {
        if pairs.iter().any(|(x, _)| *x == k) {
            return Err(Error::field(file, field, format!("configmap {name} illegally repeats the key `{k}`")));
        }
        pairs.push((k, v));
        Ok(())
    };
    let mut envs = strings(spec, "envs");
    envs.extend(strings(spec, "env"));
    for e in &envs {
        let (p, text) = ctx.read(field, e)?;
        for (k, v) in parse_env(&text, &crate::fs::show(&p)).map_err(|e| e.within(file, field))? {
            push(&mut pairs, k, Val::Text(v))?;
        }
    }
    for f in strings(spec, "files") {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => (f.rsplit('/').next().unwrap_or(&f).to_string(), f.clone()),
        };
        if key.is_empty() {
            return Err(Error::field(file, field, format!("key for file source '{f}' is empty")));
        }
        let (_, bytes) = ctx.read_bytes(field, &path)?;
        let v = match String::from_utf8(bytes) {
            Ok(s) => Val::Text(s),
            Err(e) => Val::Binary(e.into_bytes()),
        };
        push(&mut pairs, key, v)?;
    }
    for l in strings(spec, "literals") {
        let Some((k, v)) = l.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Error::field(file, field, format!("invalid literal source {l}, expected key=value")));
        };
        push(&mut pairs, k.to_string(), Val::Text(remove_quotes(v).to_string()))?;
    }

    let b64 = |b: &[u8]| Value::String(wrapped_base64(b));
    let mut data = Map::new();
    let mut binary = Map::new();
    for (k, v) in pairs {
        match (v, secret) {
            (Val::Text(s), false) => {
                data.insert(k, Value::String(s));
            }
            (Val::Binary(b), false) => {
                binary.insert(k, b64(&b));
            }
            (Val::Text(s), true) => {
                data.insert(k, b64(s.as_bytes()));
            }
            (Val::Binary(b), true) => {
                data.insert(k, b64(&b));
            }
        }
    }
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(name.clone()));
    if !namespace.is_empty() {
        meta.insert("namespace".into(), Value::String(namespace));
    }
    if !opts.labels.is_empty() {
        meta.insert("labels".into(), Value::Object(opts.labels.clone()));
    }
    if !opts.annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(opts.annotations.clone()));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), "v1".into());
    obj.insert("kind".into(), if secret { "Secret" } else { "ConfigMap" }.into());
    obj.insert("metadata".into(), Value::Object(meta));
    if secret {
        let ty = spec.get("type").map(scalar_string).filter(|s| !s.is_empty()).unwrap_or_else(|| "Opaque".into());
        obj.insert("type".into(), Value::String(ty));
    }
    // kustomize writes a Secret's `data` even when empty (`data: {}`),
    // and leaves it out of an empty ConfigMap.
    if !data.is_empty() || secret {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if opts.immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(Value::Object(obj));
    r.behavior = Some(behavior);
    r.needs_hash = !opts.disable_hash;
    Ok(r)
}

/// Runs the generators of a kustomization and absorbs their output.
pub fn run_kustomization(ctx: &Ctx, k: &Kustomization, acc: &mut Acc) -> Result<()> {
    let global = GenOptions::parse(k.generator_options.as_ref());
    let mut cms = Vec::new();
    let by = |kind: &str| crate::origin::ConfiguredBy::builtin(&ctx.rel_file(), kind);
    for g in &k.config_map_generator {
        let mut r = generate(ctx, g, false, &global, "configMapGenerator")?;
        if ctx.ld.origins {
            crate::origin::generated(&mut r, &by("ConfigMapGenerator"));
        }
        cms.push(r);
    }
    acc.absorb(cms).map_err(|e| e.within(&ctx.file, "configMapGenerator"))?;
    let mut secrets = Vec::new();
    for g in &k.secret_generator {
        let mut r = generate(ctx, g, true, &global, "secretGenerator")?;
        if ctx.ld.origins {
            crate::origin::generated(&mut r, &by("SecretGenerator"));
        }
        secrets.push(r);
    }
    acc.absorb(secrets).map_err(|e| e.within(&ctx.file, "secretGenerator"))?;
    for g in &k.generators {
        crate::plugins::run_generator_entry(ctx, g, acc).map_err(|e| e.within(&ctx.file, "generators"))?;
    }
    Ok(())
}
