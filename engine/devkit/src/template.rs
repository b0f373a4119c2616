//! `capstan plugin new`: writes a ready project for one world and language
//! — the WIT this Capstan implements, the SDK it was tested with, a plugin
//! that does something small and real, a fixture with its expected output
//! (run by `capstan plugin test`) and a unit test (run by `cargo test`).
//!
//! A Python project is `app.py` (the plugin), `capstan_plugin.py` (the
//! helper over componentize-py's bindings), unit tests run natively by
//! `python3 -m unittest`, and the WIT; componentize-py builds it. A
//! JavaScript project is TypeScript (`src/plugin.ts`, the helper
//! `src/capstan.ts`) with a `package.json` and `package-lock.json` that pin
//! jco and componentize-js, installed by `npm ci`.
//!
//! A Rust project is a Cargo workspace of its own: the plugin crate and the
//! SDK vendored under `vendor/capstan-plugin` (its `wit-bindgen` reads
//! `../../wit`, the project's `wit/`), with the dependency versions and the
//! Cargo.lock of Capstan's own `plugins/` workspace, so the project builds
//! with what Capstan's tests built, offline once the crates are cached.

use std::path::{Path, PathBuf};

use capstan_host::World;

use crate::project::{Lang, PROJECT_FILE, Project, check_name};
use crate::{Error, Result};

/// The WIT package this Capstan implements (`capstan plugin wit` prints it).
pub const WIT: &str = include_str!("../../../wit/plugin.wit");

/// The SDK's sources, vendored into Rust projects (every file of
/// `plugins/sdk/src`; a unit test holds the list complete).
const SDK_SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../../../plugins/sdk/src/lib.rs")),
    ("alloc.rs", include_str!("../../../plugins/sdk/src/alloc.rs")),
    ("mem.rs", include_str!("../../../plugins/sdk/src/mem.rs")),
    ("object.rs", include_str!("../../../plugins/sdk/src/object.rs")),
    ("policy.rs", include_str!("../../../plugins/sdk/src/policy.rs")),
    ("yaml.rs", include_str!("../../../plugins/sdk/src/yaml.rs")),
    ("yaml/fast.rs", include_str!("../../../plugins/sdk/src/yaml/fast.rs")),
    ("yaml/plain.rs", include_str!("../../../plugins/sdk/src/yaml/plain.rs")),
    ("yaml/timestamp.rs", include_str!("../../../plugins/sdk/src/yaml/timestamp.rs")),
];
const SDK_MANIFEST: &str = include_str!("../../../plugins/sdk/Cargo.toml");
/// The patched YAML parser the SDK reads with (every file of
/// `plugins/sdk/patched/saphyr-parser`; a unit test holds the list
/// complete), vendored into Rust projects with the `[patch.crates-io]` that
/// Capstan's guest workspace has: without it a project's plugin would read
/// YAML unlike the builtins (quoted scalars continued at their key's column).
const YAML_PARSER: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../plugins/sdk/patched/saphyr-parser/Cargo.toml")),
    ("LICENSE", include_str!("../../../plugins/sdk/patched/saphyr-parser/LICENSE")),
    (
        ".licenses/ChenYuheng-Apache",
        include_str!("../../../plugins/sdk/patched/saphyr-parser/.licenses/ChenYuheng-Apache"),
    ),
    (".licenses/ChenYuheng-MIT", include_str!("../../../plugins/sdk/patched/saphyr-parser/.licenses/ChenYuheng-MIT")),
    (
        ".licenses/Ethiraric-Apache",
        include_str!("../../../plugins/sdk/patched/saphyr-parser/.licenses/Ethiraric-Apache"),
    ),
    (".licenses/Ethiraric-MIT", include_str!("../../../plugins/sdk/patched/saphyr-parser/.licenses/Ethiraric-MIT")),
    ("src/char_traits.rs", include_str!("../../../plugins/sdk/patched/saphyr-parser/src/char_traits.rs")),
    ("src/debug.rs", include_str!("../../../plugins/sdk/patched/saphyr-parser/src/debug.rs")),
    ("src/input.rs", include_str!("../../../plugins/sdk/patched/saphyr-parser/src/input.rs")),
    ("src/input/buffered.rs", include_str!("../../../plugins/sdk/patched/saphyr-parser/src/input/buffered.rs")),
    ("src/input/str.rs", include_str!("../../../plugins/sdk/patched/saphyr-parser/src/input/str.rs")),
    ("src/lib.rs", include_str!("../../../plugins/sdk/patched/saphyr-parser/src/lib.rs")),
    ("src/parser.rs", include_str!("../../../plugins/sdk/patched/saphyr-parser/src/parser.rs")),
    ("src/scanner.rs", include_str!("../../../plugins/sdk/patched/saphyr-parser/src/scanner.rs")),
];
/// How Capstan's guest workspace patches the YAML parser, and how a project does.
const YAML_PATCH: (&str, &str) = (
    r#"saphyr-parser = { path = "sdk/patched/saphyr-parser" }"#,
    r#"saphyr-parser = { path = "vendor/saphyr-parser" }"#,
);
/// Capstan's guest workspace: its shared sections and lock file pin the
/// versions a project builds with.
const GUEST_WORKSPACE: &str = include_str!("../../../plugins/Cargo.toml");
const GUEST_LOCK: &str = include_str!("../../../plugins/Cargo.lock");
/// The sections of [`GUEST_WORKSPACE`] a project copies.
const SHARED_SECTIONS: &[&str] =
    &["[workspace.package]", "[workspace.lints.rust]", "[workspace.dependencies]", "[profile.release]"];

/// Why a JavaScript project cannot be a renderer.
pub const JS_RENDERER: &str = "componentize-js binds only the imports of the world, and the renderer world imports only \
    `log`, so JavaScript cannot read the snapshot's files; write the renderer in Rust or Python (JavaScript plugins \
    can be transformers, validators and health checks)";

/// The Python helper library (`capstan_plugin.py`) a Python project vendors.
pub const PYTHON_HELPER: &str = include_str!("../templates/python/capstan_plugin.py");
/// The JavaScript helper library (`src/capstan.ts`) a JavaScript project vendors.
pub const JS_HELPER: &str = include_str!("../templates/js/capstan.ts");

const RUST_MANIFEST: &str = include_str!("../templates/rust/Cargo.toml");
const RUST_GITIGNORE: &str = include_str!("../templates/rust/gitignore");

/// Where `capstan plugin new` writes, and what.
#[derive(Debug, Clone)]
pub struct NewOptions {
    /// The project directory to create; its last component is the plugin's name.
    pub dir: PathBuf,
    /// The world the plugin targets.
    pub world: World,
    /// Its language.
    pub lang: Lang,
}

/// Writes the project and returns it, as `capstan plugin build` will read it.
pub fn new(options: &NewOptions) -> Result<Project> {
    let name = options.dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    check_name(&name)?;
    if options.dir.exists() {
        return Err(Error::Exists { dir: options.dir.clone() });
    }
    let files = match options.lang {
        Lang::Rust => rust_files(&name, options.world)?,
        Lang::Python => python_files(&name, options.world),
        Lang::Js => js_files(&name, options.world)?,
    };
    let fill = |text: &str| text.replace("{{name}}", &name).replace("{{world}}", &options.world.to_string());
    for (path, text) in files.iter().chain(&common_files(options.world, options.lang)) {
        write(&options.dir.join(path), &fill(text))?;
    }
    Project::load(&options.dir)
}

fn write(path: &Path, text: &str) -> Result<()> {
    let io = |error| Error::Io { path: path.to_owned(), error };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

/// The files of a Rust project, before `{{name}}` and `{{world}}` are filled in.
fn rust_files(name: &str, world: World) -> Result<Vec<(PathBuf, String)>> {
    let source = match world {
        World::Renderer => include_str!("../templates/rust/renderer.rs"),
        World::Transformer => include_str!("../templates/rust/transformer.rs"),
        World::Validator => include_str!("../templates/rust/validator.rs"),
        World::Health => include_str!("../templates/rust/health.rs"),
    };
    let mut files = vec![
        (PathBuf::from("Cargo.toml"), RUST_MANIFEST.replace("{{workspace}}", &shared_sections()?)),
        ("Cargo.lock".into(), GUEST_LOCK.to_owned()),
        (".gitignore".into(), RUST_GITIGNORE.to_owned()),
        ("src/lib.rs".into(), source.to_owned()),
        ("vendor/capstan-plugin/Cargo.toml".into(), SDK_MANIFEST.to_owned()),
        ("README.md".into(), readme(name, world, Lang::Rust)),
    ];
    for (file, text) in SDK_SOURCES {
        files.push((Path::new("vendor/capstan-plugin/src").join(file), (*text).to_owned()));
    }
    for (file, text) in YAML_PARSER {
        files.push((Path::new("vendor/saphyr-parser").join(file), (*text).to_owned()));
    }
    Ok(files)
}

/// The files of a Python project, before `{{name}}` is filled in.
fn python_files(name: &str, world: World) -> Vec<(PathBuf, String)> {
    let (source, test) = match world {
        World::Renderer => {
            (include_str!("../templates/python/renderer.py"), include_str!("../templates/python/test_renderer.py"))
        }
        World::Transformer => (
            include_str!("../templates/python/transformer.py"),
            include_str!("../templates/python/test_transformer.py"),
        ),
        World::Validator => {
            (include_str!("../templates/python/validator.py"), include_str!("../templates/python/test_validator.py"))
        }
        World::Health => {
            (include_str!("../templates/python/health.py"), include_str!("../templates/python/test_health.py"))
        }
    };
    vec![
        (PathBuf::from("app.py"), source.to_owned()),
        ("test_app.py".into(), test.to_owned()),
        ("capstan_plugin.py".into(), PYTHON_HELPER.to_owned()),
        (".gitignore".into(), include_str!("../templates/python/gitignore").to_owned()),
        ("README.md".into(), readme(name, world, Lang::Python)),
    ]
}

/// The files of a JavaScript (TypeScript) project, before `{{name}}` is filled in.
fn js_files(name: &str, world: World) -> Result<Vec<(PathBuf, String)>> {
    let source = match world {
        World::Renderer => return Err(Error::Unsupported { lang: Lang::Js, world, reason: JS_RENDERER }),
        World::Transformer => include_str!("../templates/js/transformer.ts"),
        World::Validator => include_str!("../templates/js/validator.ts"),
        World::Health => include_str!("../templates/js/health.ts"),
    };
    Ok(vec![
        (PathBuf::from("src/plugin.ts"), source.to_owned()),
        ("src/capstan.ts".into(), JS_HELPER.to_owned()),
        ("src/wit.d.ts".into(), include_str!("../templates/js/wit.d.ts").to_owned()),
        ("package.json".into(), include_str!("../templates/js/package.json").to_owned()),
        ("package-lock.json".into(), include_str!("../templates/js/package-lock.json").to_owned()),
        ("bundle.config.mjs".into(), include_str!("../templates/js/bundle.config.mjs").to_owned()),
        (".gitignore".into(), include_str!("../templates/js/gitignore").to_owned()),
        ("README.md".into(), readme(name, world, Lang::Js)),
    ])
}

/// The sections of Capstan's guest workspace a project shares, with the
/// SDK's path pointing at the vendored copy.
fn shared_sections() -> Result<String> {
    let mut out = String::new();
    let mut keep = false;
    for line in GUEST_WORKSPACE.lines() {
        if line.starts_with('[') {
            keep = SHARED_SECTIONS.contains(&line.trim());
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    let sdk = r#"capstan-plugin = { path = "sdk" }"#;
    if !out.contains(sdk) {
        return Err(Error::Usage(format!(
            "plugins/Cargo.toml no longer declares `{sdk}`: update the devkit's template"
        )));
    }
    if !GUEST_WORKSPACE.contains(YAML_PATCH.0) {
        return Err(Error::Usage(format!(
            "plugins/Cargo.toml no longer patches the YAML parser with `{}`: update the devkit's template",
            YAML_PATCH.0
        )));
    }
    let mut out = out.replace(sdk, r#"capstan-plugin = { path = "vendor/capstan-plugin" }"#);
    out.push_str("\n# The SDK's YAML parser, patched as in Capstan (see vendor/saphyr-parser/Cargo.toml).\n");
    out.push_str("[patch.crates-io]\n");
    out.push_str(YAML_PATCH.1);
    out.push('\n');
    Ok(out)
}

/// The files every language shares: the WIT, the project file, the fixtures.
fn common_files(world: World, lang: Lang) -> Vec<(PathBuf, String)> {
    let (input, with, input_note, expect_note) = match world {
        World::Renderer => {
            ("fixtures/input", "{namePrefix: demo-}", "the snapshot directory it renders", "the objects it must return")
        }
        World::Transformer => {
            ("fixtures/input.yaml", "{labels: {team: shop}}", "the objects it transforms", "the objects it must return")
        }
        World::Validator => ("fixtures/input.yaml", "{}", "the objects it checks", "the diagnostics it must return"),
        World::Health => ("fixtures/input.yaml", "{}", "the one live object it assesses", "the status it must return"),
    };
    let project = format!(
        "# A Capstan plugin project: `capstan plugin build` builds it, `capstan plugin test` runs its tests.\n\
         name: {{{{name}}}}\n\
         world: {world}\n\
         lang: {lang}\n\
         tests:\n\
         \x20 - input: {input}   # {input_note}\n\
         \x20   with: {with}   # the stage's `with:` parameters\n\
         \x20   expect: fixtures/expected.yaml   # {expect_note}\n"
    );
    let mut files = vec![(PathBuf::from(PROJECT_FILE), project), ("wit/plugin.wit".into(), WIT.to_owned())];
    files.extend(fixtures(world));
    files
}

fn fixtures(world: World) -> Vec<(PathBuf, String)> {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_owned());
    match world {
        World::Renderer => vec![
            file("fixtures/input/hello.txt", include_str!("../templates/fixtures/renderer/input/hello.txt")),
            file("fixtures/expected.yaml", include_str!("../templates/fixtures/renderer/expected.yaml")),
        ],
        World::Transformer => vec![
            file("fixtures/input.yaml", include_str!("../templates/fixtures/transformer/input.yaml")),
            file("fixtures/expected.yaml", include_str!("../templates/fixtures/transformer/expected.yaml")),
        ],
        World::Validator => vec![
            file("fixtures/input.yaml", include_str!("../templates/fixtures/validator/input.yaml")),
            file("fixtures/expected.yaml", include_str!("../templates/fixtures/validator/expected.yaml")),
        ],
        World::Health => vec![
            file("fixtures/input.yaml", include_str!("../templates/fixtures/health/input.yaml")),
            file("fixtures/expected.yaml", include_str!("../templates/fixtures/health/expected.yaml")),
        ],
    }
}

fn readme(name: &str, world: World, lang: Lang) -> String {
    let (unit_tests, files) = match lang {
        Lang::Rust => (
            "cargo test                    # the unit tests in src/lib.rs, natively",
            "- `src/lib.rs`: the plugin; its logic is plain Rust, the export is the `plugin` module.\n\
             - `wit/plugin.wit`: the contract (`capstan:plugin`), `vendor/capstan-plugin`: the SDK.\n",
        ),
        Lang::Python => (
            "python3 -m unittest           # the unit tests in test_app.py, natively",
            "- `app.py`: the plugin; its logic is plain Python, exported by the `capstan_plugin` decorator of its world.\n\
             - `capstan_plugin.py`: the helper over componentize-py's bindings; `wit/plugin.wit`: the contract.\n\
             - The build needs componentize-py 0.25.1 (`capstan plugin build` says how to install it).\n",
        ),
        Lang::Js => (
            "npm ci                        # jco and componentize-js, as package-lock.json pins them (build runs it once)",
            "- `src/plugin.ts`: the plugin (TypeScript; a `src/plugin.js` is built instead when there is no .ts).\n\
             - `src/capstan.ts`: the helper over jco's bindings; `wit/plugin.wit`: the contract.\n\
             - `package.json`, `package-lock.json`: jco 1.35.0 and componentize-js 0.22.0, installed by `npm ci`.\n",
        ),
    };
    format!(
        "# {name}\n\n\
         A Capstan {world} plugin ({lang}), created by `capstan plugin new`.\n\n\
         ```sh\n\
         capstan plugin build .        # the component, its digest and size\n\
         capstan plugin test .         # runs the tests of {PROJECT_FILE} in the real host\n\
         capstan plugin trace .        # one call: the plugin's log lines, time and memory\n\
         {unit_tests}\n\
         ```\n\n\
         {files}\
         - `fixtures/`: the test input and the expected output.\n\n\
         Use it in an Application with the digest `capstan plugin build` prints:\n\n\
         ```yaml\n\
         - plugin: ./{file}.wasm\n\
         \x20 digest: sha256:…\n\
         ```\n\n\
         The guide: Capstan's `docs/plugins.md`.\n",
        file = name.replace('-', "_"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `list` names every file under `dir` (of the repository).
    fn assert_lists_every_file(dir: &str, list: &[(&str, &str)]) {
        fn files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                if entry.file_type().unwrap().is_dir() {
                    files(&entry.path(), &format!("{name}/"), out);
                } else {
                    out.push(name);
                }
            }
        }
        let mut on_disk = Vec::new();
        files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir), "", &mut on_disk);
        on_disk.sort();
        let mut vendored: Vec<&str> = list.iter().map(|(f, _)| *f).collect();
        vendored.sort();
        assert_eq!(on_disk, vendored, "{dir}");
    }

    #[test]
    fn every_sdk_source_and_patched_parser_file_is_vendored() {
        assert_lists_every_file("plugins/sdk/src", SDK_SOURCES);
        assert_lists_every_file("plugins/sdk/patched/saphyr-parser", YAML_PARSER);
    }

    #[test]
    fn a_project_has_the_wit_the_sdk_and_the_guest_workspace_versions() {
        let parent = tempfile::TempDir::new().unwrap();
        for world in World::ALL {
            let dir = parent.path().join(format!("my-{world}"));
            let project = new(&NewOptions { dir: dir.clone(), world, lang: Lang::Rust }).unwrap();
            assert_eq!((project.name.as_str(), project.world), (format!("my-{world}").as_str(), world));
            assert_eq!(project.tests.len(), 1);
            assert!(dir.join(&project.tests[0].input).exists());
            assert_eq!(std::fs::read_to_string(dir.join("wit/plugin.wit")).unwrap(), WIT);
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            assert!(manifest.contains(&format!("name = \"my-{world}\"")), "{manifest}");
            assert!(manifest.contains(r#"capstan-plugin = { path = "vendor/capstan-plugin" }"#), "{manifest}");
            assert!(manifest.contains(&format!("[patch.crates-io]\n{}\n", YAML_PATCH.1)), "{manifest}");
            assert!(dir.join("vendor/saphyr-parser/src/scanner.rs").exists());
            assert!(manifest.contains("wit-bindgen = "), "{manifest}");
            assert!(!manifest.contains("{{"), "{manifest}");
            let source = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
            assert!(source.contains(&format!(
                "capstan_plugin::export_{}!",
                if world == World::Health { "health".to_owned() } else { world.to_string() }
            )));
        }
        let again =
            new(&NewOptions { dir: parent.path().join("my-renderer"), world: World::Renderer, lang: Lang::Rust });
        assert!(matches!(again, Err(Error::Exists { .. })));
        let bad = new(&NewOptions { dir: parent.path().join("My_Plugin"), world: World::Renderer, lang: Lang::Rust });
        assert!(matches!(bad, Err(Error::InvalidName { .. })));
    }

    #[test]
    fn python_and_js_projects_have_the_wit_the_helper_and_a_source_per_world() {
        let parent = tempfile::TempDir::new().unwrap();
        for world in World::ALL {
            let dir = parent.path().join(format!("py-{world}"));
            let project = new(&NewOptions { dir: dir.clone(), world, lang: Lang::Python }).unwrap();
            assert_eq!((project.lang, project.world), (Lang::Python, world));
            assert!(dir.join(&project.tests[0].input).exists());
            assert_eq!(std::fs::read_to_string(dir.join("wit/plugin.wit")).unwrap(), WIT);
            assert_eq!(std::fs::read_to_string(dir.join("capstan_plugin.py")).unwrap(), PYTHON_HELPER);
            let class = match world {
                World::Renderer => "Render = capstan.renderer(",
                World::Transformer => "Transform = capstan.transformer(",
                World::Validator => "Validate = capstan.validator(",
                World::Health => "Assess = capstan.health(",
            };
            assert!(std::fs::read_to_string(dir.join("app.py")).unwrap().contains(class), "{world}");
            assert!(dir.join("test_app.py").is_file());
            assert_eq!(project.build_output(), dir.join("build").join(format!("py_{world}.wasm")));
        }
        for world in [World::Transformer, World::Validator, World::Health] {
            let dir = parent.path().join(format!("js-{world}"));
            let project = new(&NewOptions { dir: dir.clone(), world, lang: Lang::Js }).unwrap();
            assert_eq!(project.lang, Lang::Js);
            assert_eq!(std::fs::read_to_string(dir.join("src/capstan.ts")).unwrap(), JS_HELPER);
            let export = format!("export const {} = ", world.export_name().split(['/', '@']).nth(1).unwrap());
            assert!(std::fs::read_to_string(dir.join("src/plugin.ts")).unwrap().contains(&export), "{world}: {export}");
            for file in ["package.json", "package-lock.json"] {
                let text = std::fs::read_to_string(dir.join(file)).unwrap();
                assert!(text.contains(&format!("\"name\": \"js-{world}\"")), "{file}");
                assert!(text.contains("\"@bytecodealliance/jco\""), "{file}");
            }
        }
        let renderer = new(&NewOptions { dir: parent.path().join("js-gen"), world: World::Renderer, lang: Lang::Js });
        assert!(matches!(renderer, Err(Error::Unsupported { .. })));
        assert!(!parent.path().join("js-gen").exists());
    }
}
