//! A plugin project: the directory `capstan plugin new` writes and
//! `capstan plugin build` and `test` read, described by its
//! `capstan-plugin.yaml` (name, world, language, test cases).

use std::path::{Path, PathBuf};

use capstan_host::World;
use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

/// The file that makes a directory a plugin project.
pub const PROJECT_FILE: &str = "capstan-plugin.yaml";

/// The language a project is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Rust with the `capstan-plugin` SDK, built by cargo for `wasm32-wasip2`.
    Rust,
    /// Python with the `capstan_plugin` helper, built by componentize-py.
    Python,
    /// JavaScript or TypeScript with the `capstan` helper, built by jco
    /// (componentize-js) from the project's own `node_modules`.
    Js,
}

impl std::str::FromStr for Lang {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "rust" => Ok(Self::Rust),
            "python" => Ok(Self::Python),
            "js" => Ok(Self::Js),
            other => Err(Error::UnknownLang { value: other.to_owned() }),
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rust => "rust",
            Self::Python => "python",
            Self::Js => "js",
        })
    }
}

/// `renderer`, `transformer`, `validator` or `health`.
pub fn parse_world(text: &str) -> Result<World> {
    World::ALL
        .into_iter()
        .find(|world| world.to_string() == text)
        .ok_or_else(|| Error::UnknownWorld { value: text.to_owned() })
}

/// One test case: a fixture, the stage's parameters, and what the plugin
/// must return for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// A renderer's snapshot directory; for the other worlds a YAML file of
    /// objects (a health check takes exactly one). Relative to the project.
    pub input: PathBuf,
    /// The stage's `with:` parameters.
    pub with: Value,
    /// The expected output (objects; diagnostics for a validator; the
    /// status for a health check), as YAML; `None` only prints the output.
    pub expect: Option<PathBuf>,
}

/// A plugin project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// The plugin's name (for Rust the Cargo package; the component is `<name with _>.wasm`).
    pub name: String,
    /// The world it targets.
    pub world: World,
    /// Its language.
    pub lang: Lang,
    /// What `capstan plugin test` runs without `--input`.
    pub tests: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: String,
    world: String,
    lang: String,
    #[serde(default)]
    tests: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    input: PathBuf,
    #[serde(default)]
    with: Value,
    expect: Option<PathBuf>,
}

impl Project {
    /// Reads `DIR/capstan-plugin.yaml`.
    pub fn load(dir: &Path) -> Result<Self> {
        let file = dir.join(PROJECT_FILE);
        if !file.is_file() {
            return Err(Error::NoProject { dir: dir.to_owned() });
        }
        let text = std::fs::read_to_string(&file).map_err(|error| Error::Io { path: file.clone(), error })?;
        let raw: RawProject =
            serde_yaml::from_str(&text).map_err(|error| Error::ProjectFile { file: file.clone(), error })?;
        let field = |field: &'static str, source: Error| Error::ProjectField {
            file: file.clone(),
            field,
            error: Box::new(source),
        };
        check_name(&raw.name).map_err(|e| field("name", e))?;
        Ok(Self {
            // Absolute: the toolchain runs in the project directory.
            dir: std::path::absolute(dir).map_err(|error| Error::Io { path: dir.to_owned(), error })?,
            world: parse_world(&raw.world).map_err(|e| field("world", e))?,
            lang: raw.lang.parse().map_err(|e| field("lang", e))?,
            name: raw.name,
            tests: raw
                .tests
                .into_iter()
                .map(|case| Case { input: case.input, with: case.with, expect: case.expect })
                .collect(),
        })
    }

    /// The component's file name: the package name with `_` for `-`, as cargo names it.
    pub fn wasm_file_name(&self) -> String {
        format!("{}.wasm", self.name.replace('-', "_"))
    }

    /// Where a Python or JavaScript build writes the component (cargo
    /// decides for Rust): `build/<name with _>.wasm`.
    pub fn build_output(&self) -> PathBuf {
        self.dir.join("build").join(self.wasm_file_name())
    }
}

/// A plugin name is a Cargo package name Capstan can also use as a file
/// name: lowercase ASCII letters, digits and `-`, starting with a letter,
/// at most 64 characters.
pub fn check_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| Err(Error::InvalidName { name: name.to_owned(), reason: reason.to_owned() });
    if name.is_empty() || name.len() > 64 {
        return invalid("must be 1 to 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("must start with a lowercase letter");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return invalid("may hold only lowercase letters, digits and `-`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_worlds_and_languages_are_checked_with_the_fix() {
        assert!(check_name("app-toml2").is_ok());
        assert_eq!(
            check_name("App").unwrap_err().to_string(),
            "invalid plugin name \"App\": must start with a lowercase letter"
        );
        assert_eq!(
            check_name("a_b").unwrap_err().to_string(),
            "invalid plugin name \"a_b\": may hold only lowercase letters, digits and `-`"
        );
        assert_eq!(parse_world("validator").unwrap(), World::Validator);
        assert_eq!(
            parse_world("generator").unwrap_err().to_string(),
            "unknown world \"generator\": use renderer, transformer, validator or health"
        );
        assert_eq!("rust".parse::<Lang>().unwrap(), Lang::Rust);
        assert_eq!("python".parse::<Lang>().unwrap(), Lang::Python);
        assert_eq!("js".parse::<Lang>().unwrap(), Lang::Js);
        assert_eq!("go".parse::<Lang>().unwrap_err().to_string(), "unknown language \"go\": use rust, python or js");
    }

    #[test]
    fn a_project_file_with_a_wrong_field_names_the_file_and_field() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join(PROJECT_FILE), "name: x\nworld: render\nlang: rust\n").unwrap();
        let error = Project::load(dir.path()).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}: field `world`: unknown world \"render\": use renderer, transformer, validator or health",
                dir.path().join(PROJECT_FILE).display()
            )
        );
        std::fs::write(dir.path().join(PROJECT_FILE), "name: x\nworld: renderer\nlang: rust\ntest: []\n").unwrap();
        let error = Project::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("unknown field `test`, expected one of `name`, `world`, `lang`, `tests`"), "{error}");
        let empty = tempfile::TempDir::new().unwrap();
        assert!(Project::load(empty.path()).unwrap_err().to_string().contains("run `capstan plugin new`"));
    }
}
