//! [`Inspection`]: what a component is (world, WIT version, imports,
//! exports, digest, size) without compiling or running it; `capstan plugin inspect`.

use crate::host::sha256_digest;
use crate::shape;
use crate::{Error, PluginHost, Result, World};

/// A description of one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `sha256:<hex>` of the bytes: the `digest:` to pin in an Application.
    pub digest: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// The world it targets, when this host can run it.
    pub world: Option<World>,
    /// Version of the `capstan:plugin` package of its export, if any.
    pub wit_version: Option<String>,
    /// Why this host would refuse it, if it would.
    pub problem: Option<String>,
    /// Imported interfaces (`capstan:plugin/log@0.1.0`, `wasi:filesystem/…`).
    pub imports: Vec<String>,
    /// Exported interfaces.
    pub exports: Vec<String>,
}

impl PluginHost {
    /// Describes a component without compiling it: its shape is read, and
    /// refused as a load would refuse it (not a component, over the caps).
    pub fn inspect(&self, name: &str, bytes: &[u8]) -> Result<Inspection> {
        let shape = shape::read(name, bytes)?;
        shape.check_code(name)?;
        let wit_version = shape.exports.iter().find_map(|e| {
            e.strip_prefix("capstan:plugin/").and_then(|rest| rest.split_once('@')).map(|(_, v)| v.to_owned())
        });
        let (world, problem) = match shape.world(name) {
            Ok(world) => (Some(world), None),
            Err(Error::Incompatible { reason, .. }) => (None, Some(reason)),
            Err(other) => return Err(other),
        };
        Ok(Inspection {
            digest: sha256_digest(bytes),
            size: bytes.len(),
            world,
            wit_version,
            problem,
            imports: shape.imports,
            exports: shape.exports,
        })
    }
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let world = self.world.map_or_else(|| "none".to_owned(), |w| format!("{w} (capstan:plugin/{w})"));
        writeln!(f, "world:       {world}")?;
        writeln!(f, "wit version: {}", self.wit_version.as_deref().unwrap_or("none"))?;
        if let Some(problem) = &self.problem {
            writeln!(f, "refused:     {problem}")?;
        }
        writeln!(f, "digest:      {}", self.digest)?;
        writeln!(f, "size:        {} bytes", self.size)?;
        writeln!(f, "imports:")?;
        self.imports.iter().try_for_each(|i| writeln!(f, "  {i}"))?;
        writeln!(f, "exports:")?;
        self.exports.iter().try_for_each(|e| writeln!(f, "  {e}"))
    }
}
