//! The render pipeline: an Application's ordered plugin stages.
//!
//! `spec.render[0]` is a renderer (generator), `spec.render[1..]` are
//! transformers, and `spec.policy[..]` are validators that see the final
//! objects. When an Application lists no render stages, [`detect`] picks one
//! the way Argo CD does: `builtin:helm` for a directory with a Chart.yaml,
//! `builtin:kustomize` for one with a kustomization file, `builtin:jsonnet`
//! for one with a `main.jsonnet`, `builtin:yaml` otherwise (each once that
//! plugin is bundled). Every failure is an error
//! of that stage, naming its place, plugin and reason.
//!
//! Policies run in two groups: the platform set ([`Platform`], the same for
//! every Application, which no Application can remove or weaken), then the
//! Application's `spec.policy`. Every policy sees the final objects, and
//! every finding becomes a [`Verdict`] naming the policy's origin. When all
//! have run, the error-level findings of `deny` policies (the default) fail
//! the whole pipeline, listed together, so nothing gets applied.

use std::fmt;
use std::path::{Path, PathBuf};

use capstan_types::{Diagnostic, Enforcement, PlatformStage, PluginStage, Severity, Spec};

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
    /// A platform policy could not be loaded or its call failed.
    #[error("platform policy {name} ({file}, {plugin}) failed")]
    Platform {
        /// The policy's name.
        name: String,
        /// The platform file (or ConfigMap) it was read from.
        file: String,
        /// The plugin reference.
        plugin: String,
        /// Why (boxed: the error type stays small).
        #[source]
        source: Box<crate::Error>,
    },
    /// Enforcing policies returned error-level diagnostics.
    #[error("policies denied the sync with {} violation(s): {}", .violations.len(), summary(.violations))]
    Denied {
        /// The error-level verdicts of `deny` policies, platform ones first.
        violations: Vec<Verdict>,
    },
    /// `spec.limits`, or a stage's `limits`, could not be read.
    #[error("failed to read the plugin limits")]
    Limits(#[source] LimitsError),
}

/// Where a policy stage comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The platform set.
    Platform {
        /// The policy's name.
        name: String,
        /// The file (or ConfigMap) it was read from.
        file: String,
    },
    /// `spec.policy[index]` of the Application.
    Application {
        /// Index in `spec.policy`.
        index: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform { name, file } => write!(f, "platform policy {name} ({file})"),
            Self::Application { index } => write!(f, "spec.policy[{index}]"),
        }
    }
}

/// One finding of a policy stage: which policy, from where, under which
/// enforcement, about which object and field.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Where the stage comes from.
    pub origin: Origin,
    /// The plugin reference.
    pub plugin: String,
    /// The stage's enforcement.
    pub enforcement: Enforcement,
    /// The finding (its message starts with `[POLICY]` for builtin:cel and builtin:rego).
    pub diagnostic: Diagnostic,
}

impl Verdict {
    /// Whether this finding stops the sync.
    pub fn denies(&self) -> bool {
        self.enforcement == Enforcement::Deny && self.diagnostic.severity == Severity::Error
    }
}

impl fmt::Display for Verdict {
    /// `ORIGIN (PLUGIN): Kind/ns/name field: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.diagnostic;
        write!(f, "{} ({}): ", self.origin, self.plugin)?;
        if let Some(object) = &d.object {
            write!(f, "{object} ")?;
        }
        if let Some(field) = &d.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", d.message)
    }
}

/// The platform policy set as the pipeline runs it: each stage with its
/// origin and its leash (the engine's defaults under the stage's own
/// `limits`; never an Application's `spec.limits`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Platform {
    stages: Vec<(Origin, PluginStage, Limits)>,
    base_dir: PathBuf,
}

impl Platform {
    /// The stages read from `file`; plugin paths are relative to `base_dir`.
    pub fn new(stages: &[PlatformStage], file: &str, base_dir: &Path, defaults: &Limits) -> Result<Self, Error> {
        let stages = stages
            .iter()
            .map(|s| {
                let limits = match &s.limits {
                    Some(overrides) => defaults
                        .with_overrides(overrides)
                        .map_err(|e| Error::Limits(e.within(format!("platform policy {}.limits", s.name))))?,
                    None => *defaults,
                };
                Ok((Origin::Platform { name: s.name.clone(), file: file.to_owned() }, s.stage(), limits))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self { stages, base_dir: base_dir.to_owned() })
    }

    /// Whether the set has no stage.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }
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
    /// The platform policies, run before `policy`.
    platform: Platform,
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
        Ok(Self { render, policy: spec.policy.clone(), limits, stage_limits, platform: Platform::default() })
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
        let platform = self.platform.stages.iter().map(|(origin, stage, limits)| (origin.clone(), stage, limits));
        let own = self.policy.iter().enumerate().map(|(index, stage)| {
            (Origin::Application { index }, stage, &self.stage_limits[self.render.len() + index])
        });
        for (origin, stage, limits) in platform.chain(own) {
            let failed = |source| policy_error(&origin, stage, source);
            let plugin =
                host.load(&stage.plugin, stage.digest.as_deref(), self.dir_of(&origin, base_dir)).map_err(failed)?;
            let call = RenderCall { params: &stage.params, ..call.clone() };
            let found = host.validate(&plugin, &call, &rendered.objects, limits).map_err(failed)?;
            rendered.plugins.push((stage.plugin.clone(), plugin.digest().to_owned()));
            let enforcement = stage.enforcement.unwrap_or(Enforcement::Deny);
            rendered.verdicts.extend(found.iter().map(|diagnostic| Verdict {
                origin: origin.clone(),
                plugin: stage.plugin.clone(),
                enforcement,
                diagnostic: diagnostic.clone(),
            }));
            rendered.diagnostics.extend(found);
        }
        let violations: Vec<Verdict> = rendered.verdicts.iter().filter(|v| v.denies()).cloned().collect();
        if !violations.is_empty() {
            return Err(Error::Denied { violations });
        }
        Ok(rendered)
    }

    /// Loads every plugin the pipeline runs, in the order [`Pipeline::run`]
    /// runs them, and returns each reference with the `sha256:` digest of
    /// what was loaded: besides the call itself, what the output depends
    /// on (a builtin's digest comes from the host, not from the spec). `run`
    /// then finds them loaded. A plugin that does not load is the error
    /// `run` would report for its stage.
    pub fn plugins(&self, host: &PluginHost, base_dir: &Path) -> Result<Vec<(String, String)>, Error> {
        let mut out = Vec::with_capacity(self.render.len() + self.platform.stages.len() + self.policy.len());
        for (index, stage) in self.render.iter().enumerate() {
            let plugin = host
                .load(&stage.plugin, stage.digest.as_deref(), base_dir)
                .map_err(|source| stage_error("render", index, stage, source))?;
            out.push((stage.plugin.clone(), plugin.digest().to_owned()));
        }
        let platform = self.platform.stages.iter().map(|(origin, stage, _)| (origin.clone(), stage));
        let own = self.policy.iter().enumerate().map(|(index, stage)| (Origin::Application { index }, stage));
        for (origin, stage) in platform.chain(own) {
            let plugin = host
                .load(&stage.plugin, stage.digest.as_deref(), self.dir_of(&origin, base_dir))
                .map_err(|source| policy_error(&origin, stage, source))?;
            out.push((stage.plugin.clone(), plugin.digest().to_owned()));
        }
        Ok(out)
    }

    /// The directory plugin paths of a policy from `origin` are relative to.
    fn dir_of<'a>(&'a self, origin: &Origin, base_dir: &'a Path) -> &'a Path {
        if matches!(origin, Origin::Platform { .. }) { self.platform.base_dir.as_path() } else { base_dir }
    }

    /// The same pipeline with the platform policy set in front of `spec.policy`.
    pub fn with_platform(mut self, platform: &Platform) -> Self {
        self.platform = platform.clone();
        self
    }
}

fn stage_error(section: &'static str, index: usize, stage: &PluginStage, source: crate::Error) -> Error {
    Error::Stage { section, index, plugin: stage.plugin.clone(), source }
}

/// The error of a policy stage from `origin`.
fn policy_error(origin: &Origin, stage: &PluginStage, source: crate::Error) -> Error {
    match origin {
        Origin::Platform { name, file } => Error::Platform {
            name: name.clone(),
            file: file.clone(),
            plugin: stage.plugin.clone(),
            source: Box::new(source),
        },
        Origin::Application { index } => stage_error("policy", *index, stage, source),
    }
}

/// The stages to run for `path` of `snapshot` when the Application names none.
pub fn detect(snapshot: &Path, path: &str) -> Vec<PluginStage> {
    let dir = snapshot.join(path);
    let bundled = |name: &str| BUILTINS.iter().any(|(n, _)| *n == name);
    let helm = dir.join("Chart.yaml").is_file() && bundled("helm");
    let kustomize = ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| dir.join(f).is_file())
        && bundled("kustomize");
    let jsonnet = dir.join("main.jsonnet").is_file() && bundled("jsonnet");
    // Argo CD's order: a Chart.yaml makes a Helm app even beside a kustomization.
    let plugin = if helm {
        "builtin:helm"
    } else if kustomize {
        "builtin:kustomize"
    } else if jsonnet {
        "builtin:jsonnet"
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

/// `ORIGIN (PLUGIN): Kind/name field: message; …` for an error message.
fn summary(violations: &[Verdict]) -> String {
    violations.iter().map(Verdict::to_string).collect::<Vec<_>>().join("; ")
}
