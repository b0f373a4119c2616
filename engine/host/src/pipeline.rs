//! The render pipeline: an Application's ordered plugin stages.
//!
//! Stage 0 is a renderer (generator). When an Application lists no stages,
//! [`detect`] picks one the way Argo CD does: `builtin:kustomize` for a
//! directory with a kustomization file (once that plugin is bundled),
//! `builtin:yaml` otherwise. Every failure is an error of that stage, naming
//! its index and plugin.

use std::path::Path;

use capstan_types::{Diagnostic, ObjectRef, PluginStage, Severity};

use crate::bindings::capstan::plugin::types;
use crate::{BUILTINS, Limits, PluginHost, RenderCall, Rendered};

/// A stage failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plugin could not be loaded or its call failed.
    #[error("render stage {stage} ({plugin}) failed")]
    Stage {
        /// Index of the stage in `spec.render`.
        stage: usize,
        /// The plugin reference.
        plugin: String,
        /// Why.
        #[source]
        source: crate::Error,
    },
    /// The pipeline's shape is not supported.
    #[error("invalid render pipeline: {0}")]
    Shape(String),
}

/// The stages to run for `path` of `snapshot` when the Application names none.
pub fn detect(snapshot: &Path, path: &str) -> Vec<PluginStage> {
    let dir = snapshot.join(path);
    let kustomize = ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| dir.join(f).is_file())
        && BUILTINS.iter().any(|(name, _)| *name == "kustomize");
    let plugin = if kustomize { "builtin:kustomize" } else { "builtin:yaml" };
    vec![PluginStage { plugin: plugin.to_owned(), digest: None, params: serde_json::Value::Null, enforcement: None }]
}

/// Runs `stages` in order. Plugin paths are relative to `base_dir`.
pub fn run(
    host: &PluginHost,
    stages: &[PluginStage],
    call: &RenderCall<'_>,
    base_dir: &Path,
    limits: &Limits,
) -> Result<Rendered, Error> {
    let [renderer] = stages else {
        return Err(Error::Shape(format!(
            "{} stages given; this version runs exactly one renderer stage (transformer stages are not supported yet)",
            stages.len()
        )));
    };
    let stage_error = |source| Error::Stage { stage: 0, plugin: renderer.plugin.clone(), source };
    let plugin = host.load(&renderer.plugin, renderer.digest.as_deref(), base_dir).map_err(stage_error)?;
    let empty = serde_json::json!({});
    let params = if renderer.params.is_null() { &empty } else { &renderer.params };
    host.render(&plugin, &RenderCall { params, ..call.clone() }, limits).map_err(stage_error)
}

/// Converts a WIT diagnostic into the engine's type.
pub(crate) fn diagnostic(d: types::Diagnostic) -> Diagnostic {
    Diagnostic {
        severity: match d.severity {
            types::Severity::Error => Severity::Error,
            types::Severity::Warning => Severity::Warning,
            types::Severity::Info => Severity::Info,
        },
        message: d.message,
        object: d.object.map(|o| ObjectRef { api_version: o.api_version, kind: o.kind, namespace: o.namespace, name: o.name }),
        field: d.field,
        file: d.file,
    }
}
