//! Built-in transformers and generators: the kustomization's own fields
//! (run in kustomize's fixed order) and `transformers:`/`generators:`
//! entries naming builtin plugin configs (`apiVersion: builtin`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, Result, msg};
use crate::fieldspec::FieldSpec;
use crate::generators::{GenOptions, generate};
use crate::images;
use crate::kustfile::{Image, Kustomization, Replica, scalar_string};
use crate::labels::{self, to_map};
use crate::namespace::{self, Subjects};
use crate::origin::ConfiguredBy;
use crate::patches::{self, Loaded};
use capstan_plugin::yaml::Rules;

use crate::resource::{Resource, read_yaml, str_at};
use crate::target::{Acc, Ctx};

/// Runs `f`, recording it on every object it changed when
/// `buildMetadata: [transformerAnnotations]` asks for it.
fn tracked(
    ctx: &Ctx,
    acc: &mut Acc,
    by: impl FnOnce() -> ConfiguredBy,
    f: impl FnOnce(&mut Acc) -> Result<()>,
) -> Result<()> {
    if !ctx.ld.transformations {
        return f(acc);
    }
    let before: Vec<Value> = acc.res.iter().map(|r| r.obj.clone()).collect();
    f(acc)?;
    if before.len() == acc.res.len() {
        let by = by();
        for (r, b) in acc.res.iter_mut().zip(before) {
            if r.obj != b {
                crate::origin::transformed(r, &by);
            }
        }
    }
    Ok(())
}

/// Runs the transformers configured by the kustomization's fields.
pub fn run_builtin_transformers(ctx: &Ctx, k: &Kustomization, acc: &mut Acc) -> Result<()> {
    let file = ctx.file.as_str();
    let by = |kind: &'static str| move || ConfiguredBy::builtin(&ctx.rel_file(), kind);
    for p in &k.patches_strategic_merge {
        let docs = load_inline_or_file(ctx, "patchesStrategicMerge", p)?;
        tracked(ctx, acc, by("PatchStrategicMergeTransformer"), |acc| {
            patches::apply_smp_by_id(&mut acc.res, &docs, false, false)
                .map_err(|e| e.within(file, "patchesStrategicMerge"))
        })?;
    }
    for p in &k.patches {
        let (loaded, _) = patches::load(ctx, "patches", p.path.as_deref(), p.patch.as_deref())?;
        let opts = p.options.clone().unwrap_or_default();
        tracked(ctx, acc, by("PatchTransformer"), |acc| {
            patches::patch_transformer(&mut acc.res, &loaded, p.target.as_ref(), &opts)
                .map_err(|e| e.within(file, "patches"))
        })?;
    }
    if let Some(ns) = k.namespace.as_deref().filter(|s| !s.is_empty()) {
        tracked(ctx, acc, by("NamespaceTransformer"), |acc| {
            namespace::set(&mut acc.res, ns, &acc.config.namespace, false, Subjects::DefaultOnly)
                .map_err(|e| e.within(file, "namespace"))
        })?;
    }
    let p = k.name_prefix.as_deref().unwrap_or("");
    tracked(ctx, acc, by("PrefixTransformer"), |acc| {
        crate::names::prefix_suffix(&mut acc.res, p, "", (true, false), &acc.config.name_prefix)
            .map_err(|e| e.within(file, "namePrefix"))
    })?;
    let s = k.name_suffix.as_deref().unwrap_or("");
    tracked(ctx, acc, by("SuffixTransformer"), |acc| {
        crate::names::prefix_suffix(&mut acc.res, "", s, (false, true), &acc.config.name_suffix)
            .map_err(|e| e.within(file, "nameSuffix"))
    })?;
    for l in &k.labels {
        let mut specs: Vec<FieldSpec> = Vec::new();
        if l.include_selectors {
            crate::fieldspec::merge_specs(&mut specs, &acc.config.common_labels);
        } else {
            specs.push(FieldSpec::any("metadata/labels", true));
            if l.include_templates {
                crate::fieldspec::merge_specs(&mut specs, &acc.config.template_labels);
            }
        }
        crate::fieldspec::merge_specs(&mut specs, &acc.config.labels);
        crate::fieldspec::merge_specs(&mut specs, &l.fields);
        let pairs = to_map(l.pairs.iter().flatten());
        tracked(ctx, acc, by("LabelTransformer"), |acc| {
            labels::add(&mut acc.res, &pairs, &specs).map_err(|e| e.within(file, "labels"))
        })?;
    }
    if let Some(cl) = &k.common_labels {
        tracked(ctx, acc, by("LabelTransformer"), |acc| {
            labels::add(&mut acc.res, &to_map(cl), &acc.config.common_labels)
                .map_err(|e| e.within(file, "commonLabels"))
        })?;
    }
    if let Some(ca) = &k.common_annotations {
        tracked(ctx, acc, by("AnnotationsTransformer"), |acc| {
            labels::add(&mut acc.res, &to_map(ca), &acc.config.common_annotations)
                .map_err(|e| e.within(file, "commonAnnotations"))
        })?;
    }
    for p in &k.patches_json6902 {
        let (loaded, _) = patches::load(ctx, "patchesJson6902", p.path.as_deref(), p.patch.as_deref())?;
        let Some(target) = &p.target else {
            return Err(Error::field(file, "patchesJson6902", "must specify a target"));
        };
        let loaded = match loaded {
            Loaded::Json(ops) => Loaded::Json(ops),
            Loaded::Smp(_) => {
                return Err(Error::field(file, "patchesJson6902", "patch is not a JSON 6902 operation list"));
            }
        };
        tracked(ctx, acc, by("PatchJson6902Transformer"), |acc| {
            patches::patch_transformer(&mut acc.res, &loaded, Some(target), &BTreeMap::new())
                .map_err(|e| e.within(file, "patchesJson6902"))
        })?;
    }
    for r in &k.replicas {
        tracked(ctx, acc, by("ReplicaCountTransformer"), |acc| {
            images::set_replicas(&mut acc.res, r, &acc.config.replicas).map_err(|e| e.within(file, "replicas"))
        })?;
    }
    for i in &k.images {
        tracked(ctx, acc, by("ImageTagTransformer"), |acc| {
            images::set_image(&mut acc.res, i, &acc.config.images).map_err(|e| e.within(file, "images"))
        })?;
    }
    for r in &k.replacements {
        for rep in load_replacements(ctx, r)? {
            tracked(ctx, acc, by("ReplacementTransformer"), |acc| {
                crate::replacements::apply(&mut acc.res, &rep).map_err(|e| e.within(file, "replacements"))
            })?;
        }
    }
    Ok(())
}

fn load_replacements(ctx: &Ctx, entry: &Value) -> Result<Vec<Value>> {
    if let Some(p) = entry.get("path").and_then(Value::as_str) {
        let (full, text) = ctx.read("replacements", p)?;
        let mut out = Vec::new();
        for d in read_yaml(&text, &crate::fs::show(&full), Rules::Kubectl)? {
            match d {
                Value::Array(a) => out.extend(a),
                v => out.push(v),
            }
        }
        return Ok(out);
    }
    Ok(vec![entry.clone()])
}

fn load_inline_or_file(ctx: &Ctx, field: &str, entry: &str) -> Result<Vec<Value>> {
    let looks_inline = entry.contains('\n') || entry.trim_start().starts_with('{');
    if !looks_inline
        && let Ok(p) = ctx.resolve(field, entry, false)
        && ctx.ld.fs.is_file(&p)
    {
        let (full, text) = ctx.read(field, entry)?;
        let docs =
            read_yaml(&text, &crate::fs::show(&full), Rules::Kustomize).map_err(|e| e.within(&ctx.file, field))?;
        if docs.is_empty() {
            return Err(Error::field(&ctx.file, field, format!("patch appears to be empty: '{entry}'")));
        }
        return Ok(docs);
    }
    let docs = read_yaml(entry, &format!("{} (inline)", ctx.file), Rules::Kustomize)
        .map_err(|e| e.within(&ctx.file, field))?;
    if docs.is_empty() {
        return Err(Error::field(&ctx.file, field, format!("patch appears to be empty: {entry:?}")));
    }
    if docs.iter().all(Value::is_object) && !docs.is_empty() {
        Ok(docs)
    } else {
        ctx.read(field, entry)?;
        Err(Error::field(&ctx.file, field, format!("'{entry}' is neither a file nor an inline object")))
    }
}

/// The plugin configs an entry of `transformers:`/`generators:` names.
fn configs(ctx: &Ctx, field: &str, entry: &str) -> Result<Vec<(Value, String)>> {
    if !entry.contains('\n') {
        let p = ctx.resolve(field, entry, false)?;
        if ctx.ld.fs.is_dir(&p) {
            let (k, file) = ctx.ld.load_kustomization(&p)?;
            let mut sub = Acc { config: Config::defaults(), ..Default::default() };
            ctx.ld.enter(&p)?;
            let r = ctx.ld.accumulate(&p, &k, &file, &mut sub);
            ctx.ld.leave();
            r?;
            let rel = crate::origin::relative(&ctx.ld.top, &p);
            return Ok(sub.res.into_iter().map(|r| (r.obj, rel.clone())).collect());
        }
        if ctx.ld.fs.is_file(&p) {
            let rel = crate::origin::relative(&ctx.ld.top, &p);
            return Ok(load_inline_or_file(ctx, field, entry)?.into_iter().map(|c| (c, rel.clone())).collect());
        }
    }
    let rel = ctx.rel_file();
    Ok(load_inline_or_file(ctx, field, entry)?.into_iter().map(|c| (c, rel.clone())).collect())
}

fn specs(cfg: &Value) -> Result<Vec<FieldSpec>> {
    match cfg.get("fieldSpecs") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| msg(format!("invalid fieldSpecs: {e}"))),
    }
}

fn str_map(cfg: &Value, key: &str) -> Map<String, Value> {
    cfg.get(key)
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), Value::String(scalar_string(v)))).collect())
        .unwrap_or_default()
}

fn check_builtin(cfg: &Value) -> Result<&str> {
    let api = str_at(cfg, &["apiVersion"]);
    let kind = str_at(cfg, &["kind"]);
    if api != "builtin" {
        return Err(msg(format!(
            "plugin {kind} (apiVersion '{api}') is external: only `apiVersion: builtin` plugins run inside builtin:kustomize"
        )));
    }
    Ok(kind)
}

/// Runs one `transformers:` entry.
pub fn run_transformer_entry(ctx: &Ctx, entry: &str, acc: &mut Acc) -> Result<()> {
    for (cfg, configured_in) in configs(ctx, "transformers", entry)? {
        tracked(ctx, acc, || ConfiguredBy::config(&configured_in, &cfg), |acc| run_transformer(ctx, &cfg, acc))?;
    }
    Ok(())
}

/// Top-level fields of builtin plugin configs; Go matches them case-insensitively.
const CONFIG_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "patch",
    "path",
    "paths",
    "patches",
    "jsonOp",
    "target",
    "options",
    "prefix",
    "suffix",
    "labels",
    "annotations",
    "fieldSpecs",
    "imageTag",
    "replica",
    "replacements",
    "unsetOnly",
    "setRoleBindingSubjects",
    "value",
    "targets",
    "targetFilePath",
    "name",
    "namespace",
    "behavior",
    "literals",
    "files",
    "envs",
    "env",
    "type",
    "cloud",
    "kubernetesService",
    "serviceAccount",
];

fn canonical_keys(cfg: &Value) -> Value {
    let Some(m) = cfg.as_object() else { return cfg.clone() };
    let mut out = Map::new();
    for (k, v) in m {
        let key = CONFIG_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(k))
            .map(|f| f.to_string())
            .unwrap_or_else(|| k.clone());
        if !out.contains_key(&key) || key == *k {
            out.insert(key, v.clone());
        }
    }
    Value::Object(out)
}

fn run_transformer(ctx: &Ctx, cfg: &Value, acc: &mut Acc) -> Result<()> {
    let cfg = &canonical_keys(cfg);
    let kind = check_builtin(cfg)?;
    let res = &mut acc.res;
    match kind {
        "PatchStrategicMergeTransformer" => {
            let mut docs = Vec::new();
            for p in cfg.get("paths").and_then(Value::as_array).into_iter().flatten() {
                docs.extend(load_inline_or_file(ctx, "transformers", &scalar_string(p))?);
            }
            if let Some(Value::String(p)) = cfg.get("patches") {
                docs.extend(read_yaml(p, &ctx.file, Rules::Kustomize)?);
            }
            patches::apply_smp_by_id(res, &docs, false, false)
        }
        "PatchTransformer" | "PatchJson6902Transformer" => {
            let inline = cfg.get("patch").or_else(|| cfg.get("jsonOp")).and_then(Value::as_str);
            let path = cfg.get("path").and_then(Value::as_str);
            let (loaded, _) = patches::load(ctx, "transformers", path, inline)?;
            let opts: BTreeMap<String, bool> =
                cfg.get("options").and_then(|o| serde_json::from_value(o.clone()).ok()).unwrap_or_default();
            patches::patch_transformer(res, &loaded, cfg.get("target"), &opts)
        }
        "NamespaceTransformer" => {
            let ns = str_at(cfg, &["metadata", "namespace"]).to_string();
            let unset_only = cfg.get("unsetOnly").and_then(Value::as_bool).unwrap_or(false);
            let subjects = match cfg.get("setRoleBindingSubjects").and_then(Value::as_str) {
                Some("none") => Subjects::None,
                Some("allServiceAccounts") => Subjects::AllServiceAccounts,
                _ => Subjects::DefaultOnly,
            };
            namespace::set(res, &ns, &specs(cfg)?, unset_only, subjects)
        }
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            let p = cfg.get("prefix").map(scalar_string).unwrap_or_default();
            let s = cfg.get("suffix").map(scalar_string).unwrap_or_default();
            let record = match kind {
                "PrefixTransformer" => (true, false),
                "SuffixTransformer" => (false, true),
                _ => (true, true),
            };
            crate::names::prefix_suffix(res, &p, &s, record, &specs(cfg)?)
        }
        "LabelTransformer" => labels::add(res, &str_map(cfg, "labels"), &specs(cfg)?),
        "AnnotationsTransformer" => labels::add(res, &str_map(cfg, "annotations"), &specs(cfg)?),
        "ImageTagTransformer" => {
            let img: Image = serde_json::from_value(cfg.get("imageTag").cloned().unwrap_or_default())
                .map_err(|e| msg(format!("invalid imageTag: {e}")))?;
            images::set_image(res, &img, &specs(cfg)?)
        }
        "ReplicaCountTransformer" => {
            let rep: Replica = serde_json::from_value(cfg.get("replica").cloned().unwrap_or_default())
                .map_err(|e| msg(format!("invalid replica: {e}")))?;
            images::set_replicas(res, &rep, &specs(cfg)?)
        }
        "ReplacementTransformer" => {
            for r in cfg.get("replacements").and_then(Value::as_array).into_iter().flatten() {
                for rep in load_replacements(ctx, r)? {
                    crate::replacements::apply(res, &rep)?;
                }
            }
            Ok(())
        }
        // Hash suffixes are appended at the end of the build, to the objects
        // that ask for one; an explicit HashTransformer adds nothing.
        "HashTransformer" => Ok(()),
        "ValueAddTransformer" => value_add(ctx, res, cfg),
        "SortOrderTransformer" => Err(msg(
            "unable to load builtin SortOrderTransformer.builtin.[noGrp]: use the kustomization's `sortOptions` field",
        )),
        other => Err(msg(format!("unknown builtin transformer kind '{other}'"))),
    }
}

/// The `ValueAddTransformer`: sets `value` at each target's `fieldPath`,
/// or inserts it as element `filePathPosition` (1-based) of a slash path.
fn value_add(ctx: &Ctx, res: &mut [Resource], cfg: &Value) -> Result<()> {
    let value = cfg.get("value").map(scalar_string).unwrap_or_default();
    let mut targets: Vec<Value> = cfg.get("targets").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(p) = cfg.get("targetFilePath").and_then(Value::as_str) {
        let (full, text) = ctx.read("transformers", p)?;
        for d in read_yaml(&text, &crate::fs::show(&full), Rules::Kubectl)? {
            targets.extend(d.get("targets").and_then(Value::as_array).cloned().unwrap_or_default());
        }
    }
    for t in &targets {
        let fp = t.get("fieldPath").and_then(Value::as_str).unwrap_or("metadata/namespace");
        let position = t.get("filePathPosition").and_then(Value::as_u64).unwrap_or(0) as usize;
        let picked: Vec<usize> = match t.get("selector") {
            Some(sel) => patches::select(res, sel)?,
            None => (0..res.len()).collect(),
        };
        let fs = FieldSpec::any(fp, true);
        for i in picked {
            crate::fieldspec::apply(&mut res[i].obj, &fs, crate::fieldspec::Create::Scalar, &mut |node| {
                *node = match (position, node.as_str()) {
                    (p, Some(cur)) if p > 0 => {
                        let mut parts: Vec<&str> = cur.split('/').collect();
                        parts.insert((p - 1).min(parts.len()), &value);
                        Value::String(parts.join("/"))
                    }
                    _ => Value::String(value.clone()),
                };
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Runs one `generators:` entry.
pub fn run_generator_entry(ctx: &Ctx, entry: &str, acc: &mut Acc) -> Result<()> {
    for (cfg, configured_in) in configs(ctx, "generators", entry)? {
        let cfg = canonical_keys(&cfg);
        let kind = check_builtin(&cfg)?;
        let mut r = match kind {
            "ConfigMapGenerator" => generate(ctx, &cfg, false, &GenOptions::default(), "generators")?,
            "SecretGenerator" => generate(ctx, &cfg, true, &GenOptions::default(), "generators")?,
            "IAMPolicyGenerator" => iam_policy(&cfg)?,
            other => return Err(msg(format!("unsupported builtin generator kind '{other}'"))),
        };
        if ctx.ld.origins {
            crate::origin::generated(&mut r, &ConfiguredBy::config(&configured_in, &cfg));
        }
        acc.absorb(vec![r])?;
    }
    Ok(())
}

/// The `IAMPolicyGenerator` (GKE workload identity): a ServiceAccount
/// annotated with its Google service account.
fn iam_policy(cfg: &Value) -> Result<Resource> {
    if str_at(cfg, &["cloud"]) != "gke" {
        return Err(msg("IAMPolicyGenerator: only `cloud: gke` is supported"));
    }
    let name = str_at(cfg, &["kubernetesService", "name"]);
    let ns = str_at(cfg, &["kubernetesService", "namespace"]);
    let gsa = format!(
        "{}@{}.iam.gserviceaccount.com",
        str_at(cfg, &["serviceAccount", "name"]),
        str_at(cfg, &["serviceAccount", "projectId"])
    );
    let mut meta = Map::new();
    let mut annos = Map::new();
    annos.insert("iam.gke.io/gcp-service-account".into(), Value::String(gsa));
    meta.insert("annotations".into(), Value::Object(annos));
    meta.insert("name".into(), Value::String(name.into()));
    if !ns.is_empty() {
        meta.insert("namespace".into(), Value::String(ns.into()));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), "v1".into());
    obj.insert("kind".into(), "ServiceAccount".into());
    obj.insert("metadata".into(), Value::Object(meta));
    Ok(Resource::new(Value::Object(obj)))
}

/// `crds:`: CRD OpenAPI definitions that declare name references.
pub fn load_crd(ctx: &Ctx, path: &str, config: &mut Config) -> Result<()> {
    let (_, text) = ctx.read("crds", path)?;
    let v = crate::resource::parse_one(&text, path)
        .map_err(|e| Error::field(&ctx.file, "crds", format!("invalid CRD file: {}", crate::error::chain(&e))))?;
    let Some(defs) = v.as_object() else {
        return Err(Error::field(&ctx.file, "crds", format!("'{path}' is not a map of OpenAPI definitions")));
    };
    for (name, def) in defs {
        let props = def.get("Schema").and_then(|s| s.get("properties"));
        let is_kind = props
            .is_some_and(|p| p.get("kind").is_some() && p.get("apiVersion").is_some() && p.get("metadata").is_some());
        if !is_kind || name.ends_with("List") {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        let mut refs = Vec::new();
        crd_refs(defs, props.expect("checked"), "", 0, &mut refs);
        for (path, ref_kind, ref_version) in refs {
            let spec = FieldSpec { kind: kind.into(), path, ..Default::default() };
            let nr = crate::config::NameRef {
                kind: ref_kind,
                version: ref_version,
                field_specs: vec![spec],
                ..Default::default()
            };
            let mut extra = Config::default();
            extra.name_reference.push(nr);
            config.merge(&extra);
        }
    }
    Ok(())
}

/// Collects `(path/name, kind, version)` of properties marked
/// `x-kubernetes-object-ref-kind` under `props`.
fn crd_refs(
    defs: &Map<String, Value>,
    props: &Value,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, String, String)>,
) {
    let Some(props) = props.as_object() else { return };
    if depth > 10 {
        return;
    }
    for (field, p) in props {
        let path = if prefix.is_empty() { field.clone() } else { format!("{prefix}/{field}") };
        if let Some(kind) = p.get("x-kubernetes-object-ref-kind").and_then(Value::as_str) {
            let version = p.get("x-kubernetes-object-ref-api-version").and_then(Value::as_str).unwrap_or("");
            out.push((format!("{path}/name"), kind.to_string(), version.to_string()));
            continue;
        }
        if let Some(r) = p.get("$ref").and_then(Value::as_str) {
            if let Some(sub) = defs.get(r).and_then(|d| d.get("Schema")).and_then(|s| s.get("properties")) {
                crd_refs(defs, sub, &path, depth + 1, out);
            }
        } else if let Some(sub) = p.get("properties") {
            crd_refs(defs, sub, &path, depth + 1, out);
        }
    }
}
