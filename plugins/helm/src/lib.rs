//! `builtin:helm`: renders a Helm chart from the snapshot as `helm template`
//! does (Helm v3.17), inside the WASM sandbox.
//!
//! Start reading at [`render`]: it loads the chart (module `chart`: a
//! directory, subcharts as directories or `.tgz` archives unpacked in
//! memory), merges the user's values and coalesces them with the chart's
//! (module `values`), validates `values.schema.json` (module `schema`),
//! executes every template with Go `text/template` semantics (modules
//! `template`, `funcs` for Sprig, `render` for Helm's engine) and sorts the
//! documents as `helm template` prints them (module `manifest`).
//!
//! Parameters (`with:`): see [`Options`]. Errors name the chart, the
//! template file and line in Go's words
//! (`template: web/templates/deploy.yaml:12:20: executing ... at <.Values.x.y>: nil pointer evaluating interface {}.y`).
//!
//! ```no_run
//! use std::path::Path;
//! use capstan_helm::{Options, render};
//!
//! let objects = render(Path::new("/srv/checkout"), "charts/web", "web", None, &Options::default())?;
//! println!("{} objects", objects.len());
//! # Ok::<(), capstan_helm::Error>(())
//! ```
//!
//! Fidelity is measured by `tests/conformance.rs` against `helm template`
//! outputs of Helm's own test charts (`tests/corpus/helm`).

pub mod chart;
pub mod error;
pub mod funcs;
mod ignore;
pub mod manifest;
pub mod objects;
pub mod render;
pub mod schema;
pub mod template;
pub mod values;
#[cfg(target_arch = "wasm32")]
mod wasi_fs;
pub mod yaml;

use std::path::Path;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

pub use error::{Error, Result};

use crate::objects::{ApiVersions, Capabilities, KubeVersion};
use crate::template::Value;

/// Kubernetes version `helm template` assumes (Helm 3.17's default).
pub const DEFAULT_KUBE_VERSION: &str = "v1.32.0";

/// The `with:` parameters of `builtin:helm` (names as in Argo CD's `helm` source).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// Release name (default: the Application's name).
    #[serde(default)]
    pub release_name: Option<String>,
    /// The release name from a Go template with Sprig's functions and no
    /// data, as `helm template --name-template` (`app-{{ "x" | upper }}`).
    #[serde(default)]
    pub name_template: Option<String>,
    /// Release namespace (default: the destination namespace, else `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Values files, relative to the chart directory, inside the snapshot only.
    #[serde(default)]
    pub value_files: Vec<String>,
    /// Inline values: a map, or YAML text (applied after `valueFiles`).
    #[serde(default)]
    pub values: Option<Json>,
    /// `--set` overrides: `{"image.tag": "1.2"}` (strings typed as `--set` does).
    #[serde(default)]
    pub set: Map<String, Json>,
    /// `.Capabilities.KubeVersion` (default v1.32.0).
    #[serde(default)]
    pub kube_version: Option<String>,
    /// Extra `.Capabilities.APIVersions` (`group/version` or `group/version/Kind`).
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// Emit `crds/` files first (default true, as Argo CD; `helm template` needs `--include-crds`).
    #[serde(default = "yes")]
    pub include_crds: bool,
    /// Drop test hooks (`helm.sh/hook: test`).
    #[serde(default)]
    pub skip_tests: bool,
    /// Skip `values.schema.json` validation.
    #[serde(default)]
    pub skip_schema_validation: bool,
}

fn yes() -> bool {
    true
}

impl Default for Options {
    fn default() -> Self {
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("empty options deserialise"))
    }
}

/// Renders the chart at `dir` (relative to the snapshot `root`) for the
/// Application `app` (release name default) in `namespace`.
pub fn render(root: &Path, dir: &str, app: &str, namespace: Option<&str>, opts: &Options) -> Result<Vec<Json>> {
    let objects = render_json(root, dir, app, namespace, opts)?;
    // The texts are serde_json's or the line reader's encoding of a value.
    let value = |text: &String| {
        serde_json::from_str(text)
            .map_err(|e| Error::Yaml { source_path: String::new(), msg: format!("internal: an object's JSON: {e}") })
    };
    objects.iter().map(value).collect()
}

/// As [`render`], each object as JSON text: what the component hands the host.
pub fn render_json(root: &Path, dir: &str, app: &str, namespace: Option<&str>, opts: &Options) -> Result<Vec<String>> {
    Ok(render_manifests(root, dir, app, namespace, opts)?.into_iter().filter_map(|m| m.json).collect())
}

/// As [`render`], keeping each document's template (`# Source:`).
pub fn render_manifests(
    root: &Path,
    dir: &str,
    app: &str,
    namespace: Option<&str>,
    opts: &Options,
) -> Result<Vec<manifest::Manifest>> {
    let chart_dir =
        chart::join(Path::new(""), dir).ok_or_else(|| Error::Escape { field: "path".into(), path: dir.into() })?;
    let files = chart::read_dir(root, &chart_dir)?;
    let shown = if chart_dir.as_os_str().is_empty() { ".".to_string() } else { chart_dir.display().to_string() };
    let mut chart = chart::load(files, &shown)?;
    if chart.is_library() {
        return Err(Error::Chart { chart: chart.name().into(), msg: "library charts are not installable".into() });
    }
    let user = user_values(root, &chart_dir, opts)?;
    let out = render_chart(&mut chart, user, app, namespace, opts);
    capstan_plugin::leave(chart);
    out
}

/// Renders a loaded chart with the user's values (the part of [`render`]
/// after loading). The chart's default values move into the coalesced
/// values: a chart is rendered once.
pub fn render_chart(
    chart: &mut chart::Chart,
    user: Map<String, Json>,
    app: &str,
    namespace: Option<&str>,
    opts: &Options,
) -> Result<Vec<manifest::Manifest>> {
    values::process_enabled(chart, &user, "")?;
    values::process_imports(chart);
    let mut vals = user;
    values::coalesce_taking(chart, &mut vals, false);
    let vals = Json::Object(vals);
    if !opts.skip_schema_validation {
        schema::validate_chart(chart, &vals)?;
    }
    let release_name = release_name(opts, app)?;
    let ns = opts.namespace.clone().or(namespace.map(str::to_string)).unwrap_or_else(|| "default".into());
    let release: std::collections::BTreeMap<String, Value> = [
        ("Name", Value::str(release_name)),
        ("Namespace", Value::str(ns)),
        ("IsInstall", Value::Bool(true)),
        ("IsUpgrade", Value::Bool(false)),
        ("Revision", Value::Int(1)),
        ("Service", Value::str("Helm")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut apis: Vec<String> = include_str!("apiversions.txt").lines().map(str::to_string).collect();
    apis.extend(opts.api_versions.iter().cloned());
    let kube = opts.kube_version.clone().unwrap_or_else(|| DEFAULT_KUBE_VERSION.into());
    let kube = if kube.starts_with('v') { kube } else { format!("v{kube}") };
    let shared = render::Shared {
        release: Value::map(release),
        capabilities: Value::Obj(Rc::new(Capabilities {
            kube: Value::Obj(Rc::new(KubeVersion { version: kube })),
            apis: Value::Obj(Rc::new(ApiVersions(apis))),
        })),
    };
    let rendered = render::render(chart, funcs::from_values(vals), &shared)?;
    let mut out = Vec::new();
    if opts.include_crds {
        crds(chart, &mut out)?;
    }
    out.extend(manifest::order(&rendered, opts.skip_tests)?);
    capstan_plugin::leave(rendered);
    Ok(out)
}

/// `releaseName`, else `nameTemplate` rendered, else the Application's name.
fn release_name(opts: &Options, app: &str) -> Result<String> {
    match (&opts.name_template, &opts.release_name) {
        (Some(_), Some(_)) => Err(Error::Param {
            field: "nameTemplate".into(),
            msg: "cannot set nameTemplate and also releaseName".into(),
        }),
        (Some(t), None) => render::name_template(t).map_err(|msg| Error::Param { field: "nameTemplate".into(), msg }),
        (None, name) => Ok(name.clone().unwrap_or_else(|| app.to_string())),
    }
}

/// The `crds/` files of the chart and its subcharts (not templated).
fn crds(chart: &chart::Chart, out: &mut Vec<manifest::Manifest>) -> Result<()> {
    for f in &chart.files {
        let is_manifest = [".yaml", ".yml", ".json"].iter().any(|e| f.name.ends_with(e));
        if f.name.starts_with("crds/") && is_manifest {
            let source = format!("{}/{}", chart.name(), f.name);
            for doc in manifest::split(&chart::text(&f.data)) {
                out.push(manifest::Manifest::read(source.clone(), doc)?);
            }
        }
    }
    for d in &chart.deps {
        crds(d, out)?;
    }
    Ok(())
}

/// The user's values: value files, then inline values, then `set`.
pub fn user_values(root: &Path, chart_dir: &Path, opts: &Options) -> Result<Map<String, Json>> {
    let mut user = Map::new();
    for vf in &opts.value_files {
        let path =
            chart::join(chart_dir, vf).ok_or_else(|| Error::Escape { field: "valueFiles".into(), path: vf.clone() })?;
        let shown = path.display().to_string();
        let data = chart::read_file(root, &path)?;
        let v = yaml::values(&chart::text(&data))
            .map_err(|e| Error::Param { field: "valueFiles".into(), msg: format!("{shown}: {e}") })?;
        match v {
            Json::Object(m) => values::merge_maps(&mut user, &m),
            Json::Null => {}
            _ => return Err(Error::Param { field: "valueFiles".into(), msg: format!("{shown}: not a map of values") }),
        }
    }
    match &opts.values {
        Some(Json::Object(m)) => {
            // Helm reads inline values as a values file: every number a float64.
            let mut m = Json::Object(m.clone());
            yaml::floats(&mut m);
            if let Json::Object(m) = m {
                values::merge_maps(&mut user, &m);
            }
        }
        Some(Json::String(s)) => match yaml::values(s) {
            Ok(Json::Object(m)) => values::merge_maps(&mut user, &m),
            Ok(Json::Null) => {}
            Ok(_) => return Err(Error::Param { field: "values".into(), msg: "not a map of values".into() }),
            Err(e) => return Err(Error::Param { field: "values".into(), msg: e.to_string() }),
        },
        Some(Json::Null) | None => {}
        Some(_) => return Err(Error::Param { field: "values".into(), msg: "expected a map or YAML text".into() }),
    }
    for (k, v) in &opts.set {
        let mut m = Map::new();
        match v {
            Json::String(s) => values::parse_set(&format!("{k}={s}"), &mut m)?,
            other => values::set_path(&mut m, k, other.clone())?,
        }
        values::merge_maps(&mut user, &m);
    }
    Ok(user)
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Context, Error, Output, Rendered, Renderer};

    struct Helm;

    fn failed(e: crate::Error) -> Error {
        match e {
            crate::Error::Param { .. } | crate::Error::Escape { .. } => Error::InvalidConfig(crate::error::chain(&e)),
            e => Error::Failed(crate::error::chain(&e)),
        }
    }

    impl Renderer for Helm {
        type Params = crate::Options;

        fn render(ctx: &Context, params: Self::Params) -> Result<Rendered, Error> {
            let items =
                crate::render(std::path::Path::new("/"), &ctx.path, &ctx.app, ctx.namespace.as_deref(), &params)
                    .map_err(failed)?;
            Ok(Rendered { items, results: Vec::new() })
        }

        /// The objects as the line reader wrote them (see `Manifest::read`).
        fn render_encoded(ctx: &Context, params: Self::Params) -> Result<Output, Error> {
            let items =
                crate::render_json(std::path::Path::new("/"), &ctx.path, &ctx.app, ctx.namespace.as_deref(), &params)
                    .map_err(failed)?;
            Ok(Output { items, results: Vec::new() })
        }
    }

    // Renders churn through millions of small blocks in a call-long
    // instance: see the SDK's allocator for the measured effect.
    #[global_allocator]
    static ALLOCATOR: capstan_plugin::alloc::SizeClasses = capstan_plugin::alloc::SizeClasses::new();

    capstan_plugin::export_renderer!(Helm);
}
