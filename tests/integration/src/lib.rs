//! Helpers shared by the integration suites: Git repositories built with the
//! `git` CLI, and an [`Engine`] wired to the freshly built guest components.

pub mod cluster;
pub mod git_server;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::Command;

use capstan::{AppFile, Engine, EngineConfig};
use capstan_host::{Builtins, HostConfig, Plugin, PluginHost};
use capstan_types::Application;
use tempfile::TempDir;

/// The manifest of [`GitRepo::with_config_map`].
pub const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n";

/// A throw-away Git repository with a working tree.
pub struct GitRepo {
    dir: TempDir,
}

impl GitRepo {
    /// `git init` in a new temporary directory, branch `main`.
    pub fn new() -> Self {
        let repo = Self { dir: TempDir::new().expect("failed to create a temp dir") };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    /// The working tree (also the repository URL for a local path).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating directories).
    pub fn write(&self, path: &str, content: &str) -> &Self {
        let file = self.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
        self
    }

    /// Deletes a file.
    pub fn remove(&self, path: &str) -> &Self {
        std::fs::remove_file(self.path().join(path)).unwrap();
        self
    }

    /// Commits everything; returns the commit SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// A repository whose first commit holds one ConfigMap (`settings`,
    /// `color: blue`) at `deploy/cm.yaml`.
    pub fn with_config_map() -> Self {
        let repo = Self::new();
        repo.write("deploy/cm.yaml", CONFIG_MAP);
        repo.commit("first");
        repo
    }

    /// Where a Git server serves it from, and its name there: the parent
    /// directory, and the repository's directory name.
    pub fn served(&self) -> (&Path, String) {
        let name = self.path().file_name().unwrap().to_string_lossy().into_owned();
        (self.path().parent().unwrap(), name)
    }

    /// Runs git with a fixed identity; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "Capstan Test")
            .env("GIT_AUTHOR_EMAIL", "test@capstan.dev")
            .env("GIT_COMMITTER_NAME", "Capstan Test")
            .env("GIT_COMMITTER_EMAIL", "test@capstan.dev")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path())
            .output()
            .expect("failed to run git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Default for GitRepo {
    fn default() -> Self {
        Self::new()
    }
}

/// An engine with its own cache directory, using the guests built from this tree.
pub struct TestEngine {
    /// The engine.
    pub engine: Engine,
    /// Its cache (snapshots, compiled components).
    pub cache: TempDir,
}

impl TestEngine {
    /// A fresh engine.
    pub fn new() -> Self {
        let cache = TempDir::new().unwrap();
        let config = engine_config(cache.path());
        Self { engine: Engine::new(config).expect("failed to create the engine"), cache }
    }
}

/// An engine's settings for a test: caches under `cache_dir` except the
/// compiled components, which all engines of the suites share
/// ([`capstan_test_artifacts::COMPILED_CACHE_DIR`]: each component is
/// compiled once, not once per test), and the guests built from this tree
/// as builtins.
pub fn engine_config(cache_dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(cache_dir);
    config.compiled_cache_dir = Some(PathBuf::from(capstan_test_artifacts::COMPILED_CACHE_DIR));
    config.builtins = Builtins::Dir(PathBuf::from(capstan_test_artifacts::GUEST_DIR));
    config
}

/// A plugin host of its own (no caches) with the guests built from this
/// tree as builtins, and `builtin:<name>` loaded in it: a component called
/// directly, beside its library run natively.
pub fn builtin_component(name: &str) -> (PluginHost, Plugin) {
    let host = PluginHost::new(HostConfig {
        cache_dir: None,
        builtins: Builtins::Dir(PathBuf::from(capstan_test_artifacts::GUEST_DIR)),
        download_cache_dir: None,
        ..HostConfig::default()
    })
    .expect("failed to create the plugin host");
    let plugin = host.load(&format!("builtin:{name}"), None, Path::new(".")).expect("failed to load the builtin");
    (host, plugin)
}

impl Default for TestEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// `{plugin: <test program path>, digest: <its sha256>, with: <with>}`: a
/// test program as a pipeline stage, pinned by digest.
pub fn program_stage(program: &str, with: &str) -> String {
    let path = Path::new(capstan_test_artifacts::GUEST_DIR).join(format!("capstan_test_{program}.wasm"));
    let digest = capstan_host::sha256_digest(&std::fs::read(&path).expect("test program is built"));
    format!("{{plugin: {}, digest: \"{digest}\", with: {with}}}", path.display())
}

/// An Application for `repo` at `revision`, from YAML `spec` lines below `source`.
pub fn app(name: &str, repo: &GitRepo, revision: &str, path: &str, extra_spec: &str) -> AppFile {
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  source: {{repoURL: {repo}, revision: {revision}, path: {path}}}\n{extra_spec}",
        repo = repo.path().display()
    );
    AppFile { app: Application::from_yaml(&text).expect("test Application is valid"), base_dir: repo.path().to_owned() }
}

/// `spec` lines sending objects to namespace `ns`, creating it when missing.
pub fn destination(ns: &str) -> String {
    format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n")
}

/// The writes (not dry runs) `server` saw, as `METHOD path`, in order.
pub fn writes(server: &capstan_apiserver::TestApiServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !r.dry_run)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Peak memory of one piece of work, for the hostile-input tests that bound
/// it: Linux's high-water mark of resident memory, reset before the work.
pub mod peak_memory {
    /// Bytes by which the resident set's peak exceeded its size before
    /// `run`. Run it in a process of its own (no other test's allocations).
    pub fn of<T>(run: impl FnOnce() -> T) -> (T, usize) {
        std::fs::write("/proc/self/clear_refs", "5").expect("failed to reset the peak RSS (Linux only)");
        let before = status_kib("VmRSS");
        let result = run();
        (result, status_kib("VmHWM").saturating_sub(before) << 10)
    }

    /// A field of /proc/self/status, in KiB.
    fn status_kib(field: &str) -> usize {
        let status = std::fs::read_to_string("/proc/self/status").expect("failed to read /proc/self/status");
        let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
        line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).unwrap_or_else(|| panic!("bad {line}"))
    }

    /// Runs one `#[ignore]`d test of the current test binary alone in a
    /// child process; its standard output, once it passed.
    pub fn in_child(test: &str) -> String {
        in_child_with(test, &[])
    }

    /// [`in_child`] with environment variables set for the child (how a
    /// parent passes it the input it built).
    pub fn in_child_with(test: &str, env: &[(&str, &str)]) -> String {
        let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([test, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .envs(env.iter().copied())
            .output()
            .expect("failed to run the test binary");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{test} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout
    }
}

/// Everything logged on this thread while `run` runs, as the CLI's
/// subscriber prints it (no colours, no timestamps).
pub fn logged(run: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).without_time().finish();
    tracing::subscriber::with_default(subscriber, run);
    let bytes = captured.0.lock().expect("log buffer poisoned").clone();
    String::from_utf8(bytes).expect("the log is UTF-8")
}
