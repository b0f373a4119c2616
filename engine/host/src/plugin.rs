//! [`Plugin`]: a compiled, pre-linked component of one world, and the check
//! that it was built against a compatible version of the WIT package.

use std::sync::Arc;

use wasmtime::component::InstancePre;

use crate::bindings::{HealthPre, RendererPre, TransformerPre, ValidatorPre};
use crate::state::HostState;
use crate::{Error, Result, WIT_VERSION};

/// The kind of plugin a component is: the `capstan:plugin` world it targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// Exports `render`: files of the snapshot → objects.
    Renderer,
    /// Exports `transform`: objects → objects.
    Transformer,
    /// Exports `validate`: objects → diagnostics.
    Validator,
    /// Exports `assess`: one live object → health.
    Health,
}

impl World {
    /// Every world, in pipeline order.
    pub const ALL: [World; 4] = [World::Renderer, World::Transformer, World::Validator, World::Health];

    /// The interface the world exports (`render`, `transform`, …).
    pub fn interface(self) -> &'static str {
        match self {
            Self::Renderer => "render",
            Self::Transformer => "transform",
            Self::Validator => "validate",
            Self::Health => "assess",
        }
    }

    /// `capstan:plugin/<interface>@<version this host implements>`.
    pub fn export_name(self) -> String {
        format!("capstan:plugin/{}@{WIT_VERSION}", self.interface())
    }

    fn of_interface(interface: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.interface() == interface)
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Renderer => "renderer",
            Self::Transformer => "transformer",
            Self::Validator => "validator",
            Self::Health => "health",
        })
    }
}

/// The pre-instantiated component, typed by its world.
#[derive(Clone)]
pub(crate) enum Pre {
    Renderer(RendererPre<HostState>),
    Transformer(TransformerPre<HostState>),
    Validator(ValidatorPre<HostState>),
    Health(HealthPre<HostState>),
}

impl Pre {
    /// Type-checks the linked component against the bindings of `world`.
    pub(crate) fn new(world: World, pre: InstancePre<HostState>) -> wasmtime::Result<Self> {
        Ok(match world {
            World::Renderer => Self::Renderer(RendererPre::new(pre)?),
            World::Transformer => Self::Transformer(TransformerPre::new(pre)?),
            World::Validator => Self::Validator(ValidatorPre::new(pre)?),
            World::Health => Self::Health(HealthPre::new(pre)?),
        })
    }

    fn world(&self) -> World {
        match self {
            Self::Renderer(_) => World::Renderer,
            Self::Transformer(_) => World::Transformer,
            Self::Validator(_) => World::Validator,
            Self::Health(_) => World::Health,
        }
    }
}

/// A compiled, pre-linked component, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) name: Arc<str>,
    pub(crate) digest: String,
    pub(crate) pre: Pre,
}

impl Plugin {
    /// The reference it was loaded under (`builtin:yaml`, a path…).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `sha256:<hex>` of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The world the component targets.
    pub fn world(&self) -> World {
        self.pre.world()
    }

    /// The error for calling this plugin as a `wanted` it is not.
    pub(crate) fn wrong_world(&self, wanted: World) -> Error {
        Error::Incompatible {
            plugin: self.name.to_string(),
            reason: format!(
                "is a {} plugin, but this stage needs a {wanted} (exporting {})",
                self.world(),
                wanted.export_name()
            ),
        }
    }
}

/// The world of a component, from the names it exports (one of them a
/// `capstan:plugin/*` interface); refuses components built against another
/// major (0.x: minor) WIT version, and components that export no or several
/// Capstan interfaces. Read before compiling ([`crate::shape`]); the
/// exports' types are checked when the compiled component is pre-linked.
pub(crate) fn world_of(name: &str, exports: &[String]) -> Result<World> {
    let ours: Vec<(World, &String)> = exports
        .iter()
        .filter_map(|export| {
            let interface = export.strip_prefix("capstan:plugin/")?.split('@').next()?;
            Some((World::of_interface(interface)?, export))
        })
        .collect();
    let incompatible = |reason| Error::Incompatible { plugin: name.to_owned(), reason };
    match ours.as_slice() {
        [(world, export)] if compatible(export, &world.export_name()) => Ok(*world),
        [(world, export)] => Err(incompatible(format!(
            "built against {export}, but this host implements {}; rebuild the plugin against capstan:plugin@{WIT_VERSION}",
            world.export_name()
        ))),
        [] => Err(incompatible(format!(
            "not a Capstan plugin: it exports [{}], expected one of {}",
            exports.join(", "),
            World::ALL.map(World::export_name).join(", ")
        ))),
        _ => Err(incompatible(format!(
            "exports several Capstan interfaces ({}); a plugin targets exactly one world",
            ours.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Same major version, or for 0.x the same minor version (semver rules).
fn compatible(export: &str, ours: &str) -> bool {
    let version = |s: &str| s.rsplit_once('@').map(|(_, v)| v.split('.').map(str::to_owned).collect::<Vec<_>>());
    match (version(export), version(ours)) {
        (Some(a), Some(b)) if a.first() == Some(&"0".to_owned()) => a.get(..2) == b.get(..2),
        (Some(a), Some(b)) => a.first() == b.first(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn version_compatibility_follows_semver() {
        assert!(compatible("capstan:plugin/render@0.1.3", "capstan:plugin/render@0.1.0"));
        assert!(!compatible("capstan:plugin/render@0.2.0", "capstan:plugin/render@0.1.0"));
        assert!(compatible("capstan:plugin/render@1.4.0", "capstan:plugin/render@1.0.0"));
        assert!(!compatible("capstan:plugin/render@2.0.0", "capstan:plugin/render@1.0.0"));
        assert!(!compatible("capstan:plugin/render", "capstan:plugin/render@0.1.0"));
    }
}
