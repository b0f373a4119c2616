//! Bundled plugins (`builtin:NAME`): compiled into the binary from
//! `plugins/dist/`, or read from a directory of freshly built components.

use std::borrow::Cow;
use std::path::PathBuf;

use crate::{Error, Result};

/// Name and component bytes of every bundled plugin: the files
/// `plugins/dist/capstan_<name>.wasm`, embedded by `build.rs`.
pub const BUILTINS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// `sha256:<hex>` of each of [`BUILTINS`], computed by `build.rs` from the
/// bytes it embeds.
const DIGESTS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_digests.rs"));

/// Where `builtin:` plugins come from.
#[derive(Debug, Clone, Default)]
pub enum Builtins {
    /// The components compiled into this binary.
    #[default]
    Embedded,
    /// `capstan_<name>.wasm` files in a directory (what the test suite builds).
    Dir(PathBuf),
}

impl Builtins {
    /// The component bytes of `builtin:<name>`.
    pub fn get(&self, name: &str) -> Result<Cow<'static, [u8]>> {
        let unknown = || Error::UnknownBuiltin {
            plugin: format!("builtin:{name}"),
            known: BUILTINS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        };
        match self {
            Self::Embedded => {
                BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| Cow::Borrowed(*b)).ok_or_else(unknown)
            }
            Self::Dir(dir) => {
                if !BUILTINS.iter().any(|(n, _)| *n == name) {
                    return Err(unknown());
                }
                let path = dir.join(format!("capstan_{name}.wasm"));
                std::fs::read(&path)
                    .map(Cow::Owned)
                    .map_err(|source| Error::Read { plugin: format!("builtin:{name} ({})", path.display()), source })
            }
        }
    }

    /// The digest of `builtin:<name>` when it is known without reading it:
    /// for the embedded components (computed at build time), not for a
    /// directory, whose files may change under a running process.
    pub fn digest(&self, name: &str) -> Option<&'static str> {
        match self {
            Self::Embedded => DIGESTS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d),
            Self::Dir(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BUILTINS, Builtins};

    #[test]
    fn embedded_digests_are_those_of_the_embedded_bytes() {
        for (name, bytes) in BUILTINS {
            assert_eq!(Builtins::Embedded.digest(name), Some(crate::sha256_digest(bytes).as_str()), "builtin:{name}");
        }
        assert_eq!(Builtins::Embedded.digest("nope"), None);
        assert_eq!(Builtins::Dir("/x".into()).digest("helm"), None);
    }

    /// The committed components must not depend on where they were built:
    /// no path of the build machine (home, registry, toolchain, checkout)
    /// may be in them. `tests/artifacts/build.rs` remaps the registry and
    /// the standard library's sources; the plugins' own files are named
    /// relative to `plugins/`.
    #[test]
    fn bundled_plugins_name_no_path_of_the_machine_that_built_them() {
        let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap();
        let checkout = checkout.display().to_string();
        let markers = ["/root/", "/home/", "/tmp/", "/.cargo/", "/.rustup/", checkout.as_str()];
        for (name, bytes) in BUILTINS {
            for marker in markers {
                let found = bytes.windows(marker.len()).position(|w| w == marker.as_bytes());
                assert_eq!(found, None, "builtin:{name} holds {marker:?}: rebuild it with `cargo xtask plugins`");
            }
        }
    }
}
