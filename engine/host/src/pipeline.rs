//! The render pipeline: an Application's ordered plugin stages.
//!
//! `spec.render[0]` is a renderer (generator), `spec.render[1..]` are
//! transformers, and `spec.policy[..]` are validators that see the final
//! objects. When an Application lists no render stages, [`detect`] picks one
//! the way Argo CD does: `builtin:helm` for a directory with a Chart.yaml,
//! `builtin:kustomize` for one with a kustomization file, `builtin:yaml`
//! otherwise (each once that plugin is bundled). Every failure is an error of that stage, naming its place,
//! plugin and reason; an error-level diagnostic of a `deny` policy (the
//! default) fails the whole pipeline, so nothing gets applied.

use std::path::Path;

use capstan_types::{Diagnostic, Enforcement, PluginStage, Severity, Spec};

use crate::leash::LimitsError;
use crate::{BUILTINS, Limits, PluginHost, RenderCall, Rendered};

/// A stage failed, or a policy denied the result.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plugin could not be loaded or its call failed.
    #[error("{section}[{index}] ({plugin}) failed")]
    Stage {
        /// `render` or `policy`: the list of the Application the stage is in.
        section: &'static str,
        /// Index of the stage in that list.
        index: usize,
        /// The plugin reference.
        plugin: String,
        /// Why.
        #[source]
        source: crate::Error,
    },
    /// An enforcing policy returned error-level diagnostics.
    #[error("policy[{index}] ({plugin}) denied the sync with {} error(s): {}", .errors.len(), summary(.errors))]
    Denied {
        /// Index of the stage in `spec.policy`.
        index: usize,
        /// The plugin reference.
        plugin: String,
        /// The error-level diagnostics.
        errors: Vec<Diagnostic>,
    },
    /// `spec.limits`, or a stage's `limits`, could not be read.
    #[error("failed to read the plugin limits")]
    Limits(#[source] LimitsError),
}

/// What to run for one Application: its stages and their leash.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// The renderer, then transformers.
    pub render: Vec<PluginStage>,
    /// The validators.
    pub policy: Vec<PluginStage>,
    /// The leash of every call (`spec.limits` over the defaults).
    pub limits: Limits,
    /// Each render stage's leash, then each policy stage's (their
    /// `limits` over [`Pipeline::limits`]).
    stage_limits: Vec<Limits>,
}

impl Pipeline {
    /// The pipeline of an Application's `spec`, rendering `path` of
    /// `snapshot`: its stages (or the detected renderer) and `defaults`
    /// overridden by `spec.limits`.
    pub fn for_app(spec: &Spec, snapshot: &Path, path: &str, defaults: &Limits) -> Result<Self, Error> {
        let limits = match &spec.limits {
            Some(overrides) => defaults.with_overrides(overrides).map_err(Error::Limits)?,
            None => *defaults,
        };
        let render = if spec.render.is_empty() { detect(snapshot, path) } else { spec.render.clone() };
        let stages = render.iter().enumerate().map(|(i, s)| ("render", i, s));
        let stage_limits = stages
            .chain(spec.policy.iter().enumerate().map(|(i, s)| ("policy", i, s)))
            .map(|(section, index, stage)| match &stage.limits {
                Some(overrides) => limits
                    .with_overrides(overrides)
                    .map_err(|e| Error::Limits(e.within(format!("spec.{section}[{index}].limits")))),
                None => Ok(limits),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { render, policy: spec.policy.clone(), limits, stage_limits })
    }

    /// Runs the stages in order. Plugin paths are relative to `base_dir`.
    /// `call.params` is ignored: each stage passes its own `with:`.
    pub fn run(&self, host: &PluginHost, call: &RenderCall<'_>, base_dir: &Path) -> Result<Rendered, Error> {
        let mut rendered = Rendered::default();
        for (index, stage) in self.render.iter().enumerate() {
            let failed = |source| stage_error("render", index, stage, source);
            let plugin = host.load(&stage.plugin, stage.digest.as_deref(), base_dir).map_err(failed)?;
            let call = RenderCall { params: &stage.params, ..call.clone() };
            let limits = &self.stage_limits[index];
            let output = match index {
                0 => host.render(&plugin, &call, limits),
                _ => host.transform(&plugin, &call, &rendered.objects, limits),
            }
            .map_err(failed)?;
            rendered.plugins.push((stage.plugin.clone(), plugin.digest().to_owned()));
            rendered.objects = output.objects;
            rendered.diagnostics.extend(output.diagnostics);
        }
        for (index, stage) in self.policy.iter().enumerate() {
            let failed = |source| stage_error("policy", index, stage, source);
            let plugin = host.load(&stage.plugin, stage.digest.as_deref(), base_dir).map_err(failed)?;
            let call = RenderCall { params: &stage.params, ..call.clone() };
            let limits = &self.stage_limits[self.render.len() + index];
            let found = host.validate(&plugin, &call, &rendered.objects, limits).map_err(failed)?;
            let errors: Vec<Diagnostic> = found.iter().filter(|d| d.severity == Severity::Error).cloned().collect();
            if !errors.is_empty() && stage.enforcement.unwrap_or(Enforcement::Deny) == Enforcement::Deny {
                return Err(Error::Denied { index, plugin: stage.plugin.clone(), errors });
            }
            rendered.plugins.push((stage.plugin.clone(), plugin.digest().to_owned()));
            rendered.diagnostics.extend(found);
        }
        Ok(rendered)
    }
}

fn stage_error(section: &'static str, index: usize, stage: &PluginStage, source: crate::Error) -> Error {
    Error::Stage { section, index, plugin: stage.plugin.clone(), source }
}

/// The stages to run for `path` of `snapshot` when the Application names none.
pub fn detect(snapshot: &Path, path: &str) -> Vec<PluginStage> {
    let dir = snapshot.join(path);
    let bundled = |name: &str| BUILTINS.iter().any(|(n, _)| *n == name);
    let helm = dir.join("Chart.yaml").is_file() && bundled("helm");
    let kustomize = ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| dir.join(f).is_file())
        && bundled("kustomize");
    // Argo CD's order: a Chart.yaml makes a Helm app even beside a kustomization.
    let plugin = if helm {
        "builtin:helm"
    } else if kustomize {
        "builtin:kustomize"
    } else {
        "builtin:yaml"
    };
    vec![PluginStage {
        plugin: plugin.to_owned(),
        digest: None,
        params: serde_json::Value::Null,
        enforcement: None,
        limits: None,
    }]
}

/// `Kind/name field: message; …` for an error message.
fn summary(errors: &[Diagnostic]) -> String {
    let one = |d: &Diagnostic| {
        let object = d.object.as_ref().map(|o| format!("{}/{} ", o.kind, o.name)).unwrap_or_default();
        let field = d.field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default();
        format!("{object}{field}{}", d.message)
    };
    errors.iter().map(one).collect::<Vec<_>>().join("; ")
}
