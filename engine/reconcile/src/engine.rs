//! [`Engine`]: source → render → apply for one Application.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, anyhow};
use capstan_apply::{Applied, HookRun, Syncer};
use capstan_health::{Assessor, Check};
use capstan_host::pipeline::{Pipeline, Platform};
use capstan_host::{Builtins, HostConfig, Limits, LocalPlugins, PluginHost, RenderCall, Rendered, World};
use capstan_source::{Checkout, Credentials, Source};
use capstan_types::{Application, HealthCheck, Object, PluginStage};

use crate::error::{Error, Result, Stage};
use crate::render_cache::{CacheStats, Inputs, Key, RenderCache};

/// An Application read from a file, with the directory relative paths start from.
#[derive(Debug, Clone)]
pub struct AppFile {
    /// The Application.
    pub app: Application,
    /// Directory of the file: base of a relative `repoURL` and plugin paths.
    pub base_dir: PathBuf,
}

impl AppFile {
    /// Reads and checks an Application file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
        let app = Application::from_yaml(&text).with_context(|| format!("{}: invalid Application", path.display()))?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Self { app, base_dir: if base_dir.as_os_str().is_empty() { PathBuf::from(".") } else { base_dir } })
    }
}

/// Where the engine keeps its caches, and where builtin plugins come from.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Snapshots, compiled plugins (`wasmtime/`) and downloaded plugins
    /// (`plugins/sha256/<hex>`) go under this directory.
    pub cache_dir: PathBuf,
    /// Compiled plugins elsewhere than `cache_dir/wasmtime`: a directory
    /// several engines share (each entry is authenticated and written
    /// atomically, see `capstan_host`'s code cache), so a component is
    /// compiled once for all of them. Still refused inside a directory where
    /// repository content is written.
    pub compiled_cache_dir: Option<PathBuf>,
    /// Source of `builtin:` plugins.
    pub builtins: Builtins,
    /// The leash of every plugin call.
    pub limits: Limits,
    /// Git credentials per URL prefix (the longest matching prefix wins).
    pub git_credentials: Vec<(String, Credentials)>,
    /// The platform policies every Application's pipeline runs
    /// (`--platform-policies`); see [`EngineConfig::load_platform`].
    pub platform: Platform,
    /// Where local plugin files may come from: anywhere for the CLI (its
    /// user names the file), confined for the controller (an Application
    /// author must not read the controller's files through a digest error).
    pub local_plugins: LocalPlugins,
    /// Bound of the in-memory render cache in bytes (estimated as JSON
    /// length); 0 disables it. See [`crate::render_cache`].
    pub render_cache_bytes: usize,
    /// Told of every plugin call (the controller's metrics).
    pub plugin_observer: Option<capstan_host::CallObserver>,
    /// The file `platform` was read from, and its text then.
    platform_file: Option<(PathBuf, String)>,
}

/// The platform set in `text`, read from `file`.
fn platform_from(file: &Path, text: &str, limits: &Limits) -> anyhow::Result<Platform> {
    let stages = capstan_types::platform_policies(text)
        .with_context(|| format!("{}: invalid platform policies", file.display()))?;
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(Platform::new(&stages, &file.display().to_string(), dir, limits)?)
}

impl EngineConfig {
    /// The plugin host's settings under this configuration's cache: the one
    /// place the compiled-code cache is kept apart from what repositories hold.
    pub fn host_config(&self) -> HostConfig {
        HostConfig {
            cache_dir: Some(self.compiled_cache_dir.clone().unwrap_or_else(|| self.cache_dir.join("wasmtime"))),
            // Where the source stage writes what repositories hold.
            repository_dirs: vec![self.cache_dir.join("snapshots"), self.cache_dir.join("repos")],
            builtins: self.builtins.clone(),
            download_cache_dir: Some(self.cache_dir.join("plugins")),
            local_plugins: self.local_plugins.clone(),
            observer: self.plugin_observer.clone(),
            ..HostConfig::default()
        }
    }

    /// Loads the platform set of `file` (PlatformPolicy documents), with
    /// this configuration's limits as the leash of its stages; the engine
    /// re-reads the file on [`Engine::reload_platform`].
    pub fn load_platform(&mut self, file: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(file).with_context(|| format!("failed to read {}", file.display()))?;
        self.platform = platform_from(file, &text, &self.limits)?;
        self.platform_file = Some((file.to_owned(), text));
        Ok(())
    }

    /// Caches under `cache_dir`, embedded builtins, default limits.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            compiled_cache_dir: None,
            builtins: Builtins::Embedded,
            limits: Limits::default(),
            git_credentials: Vec::new(),
            platform: Platform::default(),
            local_plugins: LocalPlugins::Anywhere,
            render_cache_bytes: crate::render_cache::DEFAULT_BYTES,
            plugin_observer: None,
            platform_file: None,
        }
    }
}

/// The result of rendering an Application.
#[derive(Debug)]
pub struct RenderOutput {
    /// The commit and snapshot rendered.
    pub checkout: Checkout,
    /// The stages that ran (detected when the Application names none).
    pub stages: Vec<PluginStage>,
    /// Objects and diagnostics.
    pub rendered: Rendered,
}

/// Options of a sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Validate on the server without changing anything.
    pub dry_run: bool,
    /// Delete objects of the inventory that left Git.
    pub prune: bool,
    /// Allow a prune larger than the mass-prune guard's limit.
    pub confirm_prune: bool,
    /// Wait up to this long for each sync wave to be healthy before the next.
    pub wave_timeout: Option<std::time::Duration>,
    /// Fired when a newer commit supersedes the sync (the controller's
    /// head watch): it stops at its next safe point.
    pub cancel: capstan_apply::CancellationToken,
}

/// The result of a sync.
#[derive(Debug)]
pub struct SyncReport {
    /// What was rendered, at which commit.
    pub render: RenderOutput,
    /// What apply did to each object, in apply order.
    pub applied: Vec<Applied>,
    /// The hooks that ran, in order.
    pub hooks: Vec<HookRun>,
    /// The Application's health rules (its health plugins first).
    pub assessor: Arc<Assessor>,
}

/// Runs the stages of a reconcile. Cloning is cheap: clones share the
/// plugin host and its compiled components.
#[derive(Clone)]
pub struct Engine {
    source: Source,
    host: Arc<PluginHost>,
    limits: Limits,
    platform: Arc<RwLock<PlatformSet>>,
    /// Renders by everything they depend on; `None` when disabled.
    render_cache: Option<Arc<RenderCache>>,
}

/// The platform set in force, and the file and text it came from.
struct PlatformSet {
    policies: Arc<Platform>,
    file: Option<(PathBuf, String)>,
}

impl Engine {
    /// Sets up the source cache and the plugin host.
    pub fn new(config: EngineConfig) -> anyhow::Result<Self> {
        let host = PluginHost::new(config.host_config())?;
        let source =
            config.git_credentials.into_iter().fold(Source::new(&config.cache_dir), |source, (prefix, credentials)| {
                source.with_credentials(prefix, credentials)
            });
        let platform = PlatformSet { policies: Arc::new(config.platform), file: config.platform_file };
        let render_cache =
            (config.render_cache_bytes > 0).then(|| Arc::new(RenderCache::new(config.render_cache_bytes)));
        Ok(Self {
            source,
            host: Arc::new(host),
            limits: config.limits,
            platform: Arc::new(RwLock::new(platform)),
            render_cache,
        })
    }

    /// What the render cache did so far (all zero when it is disabled).
    pub fn render_cache_stats(&self) -> CacheStats {
        self.render_cache.as_ref().map(|cache| cache.stats()).unwrap_or_default()
    }

    /// Plugin calls this engine made (render, transform, validate, health),
    /// successful or not; a render served from the cache makes none.
    pub fn plugin_calls(&self) -> u64 {
        self.host.calls()
    }

    /// Re-reads the platform policy file if its text changed since it was
    /// read (the controller calls this before each reconcile: the install
    /// mounts a ConfigMap there, which the kubelet updates in place).
    /// Returns whether the set changed. A file that no longer reads or
    /// parses is an error and the set in force stays: a typo must not
    /// switch the platform's policies off.
    pub fn reload_platform(&self) -> anyhow::Result<bool> {
        let Some((file, old)) = self.platform.read().expect("platform lock poisoned").file.clone() else {
            return Ok(false);
        };
        let text = std::fs::read_to_string(&file).with_context(|| format!("failed to read {}", file.display()))?;
        if text == old {
            return Ok(false);
        }
        let policies = platform_from(&file, &text, &self.limits)?;
        *self.platform.write().expect("platform lock poisoned") =
            PlatformSet { policies: Arc::new(policies), file: Some((file, text)) };
        Ok(true)
    }

    /// The platform set in force.
    fn platform(&self) -> Arc<Platform> {
        self.platform.read().expect("platform lock poisoned").policies.clone()
    }

    /// [`Engine::render`] on a blocking thread, for async callers: plugin
    /// calls and Git I/O block, and must not stall the async runtime.
    pub async fn render_async(&self, file: &AppFile) -> Result<RenderOutput> {
        let (engine, file, name) = (self.clone(), file.clone(), file.app.metadata.name.clone());
        join(&name, tokio::task::spawn_blocking(move || engine.render(&file)).await)
    }

    /// Source and render: the objects the Application wants, at a commit.
    /// Blocks; from async code use [`Engine::render_async`]. An Application
    /// whose credentials are in a Secret (`spec.source.secretRef`) needs
    /// [`Engine::render_in_cluster`], or a credentials file for its URL.
    pub fn render(&self, file: &AppFile) -> Result<RenderOutput> {
        let url = &file.app.spec.source.repo_url;
        crate::git_secret::without_cluster(&file.app, self.source.has_credentials_for(url))
            .map_err(|e| Error::new(&file.app.metadata.name, Stage::Spec, e))?;
        self.render_with(&self.source, file)
    }

    /// [`Engine::render_async`] with the credentials of the Application's
    /// `spec.source.secretRef`, read from its namespace through `client`
    /// (they win over a credentials file for the same URL).
    pub async fn render_in_cluster(&self, file: &AppFile, client: &kube::Client) -> Result<RenderOutput> {
        let source = self.source_in_cluster(file, client).await?;
        let (engine, file, name) = (self.clone(), file.clone(), file.app.metadata.name.clone());
        join(&name, tokio::task::spawn_blocking(move || engine.render_with(&source, &file)).await)
    }

    /// The commit the Application's revision names now, with the
    /// credentials of its `spec.source.secretRef`: fetched, not
    /// materialised or rendered (a running sync's check for a newer commit).
    pub async fn head(&self, file: &AppFile, client: &kube::Client) -> Result<String> {
        let name = file.app.metadata.name.clone();
        let source_stage = self.source_in_cluster(file, client).await?;
        let file = file.clone();
        let resolve = move || {
            source_stage
                .resolve(&file.app.spec.source, &file.base_dir)
                .map_err(|e| Error::new(&file.app.metadata.name, Stage::Source, e))
        };
        join(&name, tokio::task::spawn_blocking(resolve).await)
    }

    /// The source stage with the credentials of the Application's
    /// `spec.source.secretRef` (they win over a credentials file for the same URL).
    async fn source_in_cluster(&self, file: &AppFile, client: &kube::Client) -> Result<Source> {
        let credentials = crate::git_secret::credentials(&file.app, client).await;
        Ok(match credentials.map_err(|e| Error::new(&file.app.metadata.name, Stage::Source, e))? {
            Some(credentials) => {
                self.source.clone().with_credentials(file.app.spec.source.repo_url.clone(), credentials)
            }
            None => self.source.clone(),
        })
    }

    fn render_with(&self, source_stage: &Source, file: &AppFile) -> Result<RenderOutput> {
        let app = &file.app;
        let name = &app.metadata.name;
        let source = &app.spec.source;
        let checkout =
            source_stage.checkout_source(source, &file.base_dir).map_err(|e| Error::new(name, Stage::Source, e))?;
        let pipeline = Pipeline::for_app(&app.spec, checkout.snapshot.root(), &source.path, &self.limits)
            .map_err(|e| Error::new(name, Stage::Spec, e).at(&checkout.commit))?
            .with_platform(&self.platform());
        let call = RenderCall {
            snapshot: checkout.snapshot.root(),
            path: &source.path,
            app: &app.metadata.name,
            namespace: app.spec.destination.namespace.as_deref(),
            revision: &checkout.commit,
            params: &serde_json::Value::Null,
        };
        let failed = |e: capstan_host::pipeline::Error| {
            let stage =
                if matches!(e, capstan_host::pipeline::Error::Denied { .. }) { Stage::Policy } else { Stage::Render };
            Error::new(name, stage, e).at(&checkout.commit)
        };
        let Some(cache) = &self.render_cache else {
            let rendered = pipeline.run(&self.host, &call, &file.base_dir).map_err(failed)?;
            return Ok(RenderOutput { checkout, stages: pipeline.render, rendered });
        };
        let plugins = pipeline.plugins(&self.host, &file.base_dir).map_err(failed)?;
        let key = Key::new(&Inputs {
            commit: &checkout.commit,
            tree: &checkout.tree,
            app,
            base_dir: &file.base_dir,
            pipeline: &pipeline,
            plugins: &plugins,
            limits: &self.limits,
        });
        if let Some(hit) = cache.get(&key) {
            tracing::debug!(app = %name, commit = short(&checkout.commit), "render served from the render cache");
            return Ok(RenderOutput { checkout, stages: pipeline.render, rendered: Rendered::clone(&hit) });
        }
        let rendered = pipeline.run(&self.host, &call, &file.base_dir).map_err(failed)?;
        cache.insert(key, rendered.clone());
        Ok(RenderOutput { checkout, stages: pipeline.render, rendered })
    }

    /// Render (with the credentials of `spec.source.secretRef`, if any),
    /// then apply everything with server-side apply. Nothing is applied
    /// unless the whole render succeeded and produced objects.
    pub async fn sync(&self, file: &AppFile, client: kube::Client, options: &SyncOptions) -> Result<SyncReport> {
        let render = self.render_in_cluster(file, &client).await?;
        self.sync_rendered(file, client, render, options).await
    }

    /// The apply half of [`Engine::sync`], for a caller that rendered first
    /// (the controller decides from the commit whether to sync for real).
    pub async fn sync_rendered(
        &self,
        file: &AppFile,
        client: kube::Client,
        render: RenderOutput,
        options: &SyncOptions,
    ) -> Result<SyncReport> {
        let assessor = self.assessor_async(file).await?;
        let app = &file.app;
        let name = &app.metadata.name;
        let commit = &render.checkout.commit;
        if render.rendered.objects.is_empty() {
            let why = anyhow!(
                "render produced no objects; refusing to sync (an empty render is treated as an error, never as \"delete everything\")"
            );
            return Err(Error::new(name, Stage::Render, why).at(commit));
        }
        let sync_options = crate::apply::sync_options(app, commit, options, &assessor)
            .map_err(|e| Error::new(name, Stage::Spec, e).at(commit))?;
        let syncer = Syncer::new(client, sync_options);
        let plan = capstan_plan::Plan::new(render.rendered.objects.clone())
            .map_err(|e| Error::new(name, Stage::Plan, e).at(commit))?;
        let result = syncer.sync(&plan).await.map_err(|e| {
            let stage = match e {
                capstan_apply::Error::WaveFailed { .. } | capstan_apply::Error::Timeout { .. } => Stage::Health,
                _ => Stage::Apply,
            };
            Error::new(name, stage, e).at(commit)
        })?;
        Ok(SyncReport { render, applied: result.applied, hooks: result.hooks, assessor })
    }

    /// [`Engine::assessor`] on a blocking thread (loading may compile).
    pub async fn assessor_async(&self, file: &AppFile) -> Result<Arc<Assessor>> {
        let (engine, file, name) = (self.clone(), file.clone(), file.app.metadata.name.clone());
        join(&name, tokio::task::spawn_blocking(move || engine.assessor(&file).map(Arc::new)).await)
    }

    /// The Application's health rules: its `spec.health` plugins, loaded
    /// and checked to be health plugins, in front of the built-in rules.
    pub fn assessor(&self, file: &AppFile) -> Result<Assessor> {
        let app = &file.app;
        let name = &app.metadata.name;
        let limits = match &app.spec.limits {
            Some(overrides) => self.limits.with_overrides(overrides).map_err(|e| Error::new(name, Stage::Spec, e))?,
            None => self.limits,
        };
        app.spec.health.iter().try_fold(Assessor::default(), |assessor, check| {
            let plugin = self
                .health_check(check, &file.base_dir, limits)
                .with_context(|| format!("spec.health plugin {}", check.plugin))
                .map_err(|e| Error::new(name, Stage::Health, e).permanent())?;
            Ok(assessor.with_check(&check.kinds, &check.plugin, plugin))
        })
    }

    fn health_check(&self, check: &HealthCheck, base_dir: &Path, limits: Limits) -> anyhow::Result<Check> {
        let limits = match &check.limits {
            Some(overrides) => limits.with_overrides(overrides).map_err(|e| e.within("limits"))?,
            None => limits,
        };
        let plugin = self.host.load(&check.plugin, check.digest.as_deref(), base_dir)?;
        if plugin.world() != World::Health {
            anyhow::bail!("is a {} plugin, not a health plugin (exporting capstan:plugin/assess)", plugin.world());
        }
        let (host, params) = (self.host.clone(), check.params.clone());
        Ok(Box::new(move |live| {
            let object = Object::new(live.clone()).map_err(|e| e.to_string())?;
            let verdict = host.assess(&plugin, &object, &params, &limits).map_err(|e| format!("{e:#}"))?;
            Ok(capstan_health::Assessment::new(health(verdict.health), verdict.message))
        }))
    }
}

/// The health stage's verdict for a health plugin's.
fn health(verdict: capstan_host::Health) -> capstan_health::Health {
    match verdict {
        capstan_host::Health::Healthy => capstan_health::Health::Healthy,
        capstan_host::Health::Progressing => capstan_health::Health::Progressing,
        capstan_host::Health::Degraded => capstan_health::Health::Degraded,
        capstan_host::Health::Missing => capstan_health::Health::Missing,
        capstan_host::Health::Unknown => capstan_health::Health::Unknown,
    }
}

/// The result of a blocking task: a panic there is the engine's bug, reported
/// as a permanent error of the Application rather than unwinding the caller.
fn join<T>(app: &str, joined: std::result::Result<Result<T>, tokio::task::JoinError>) -> Result<T> {
    joined.unwrap_or_else(|e| Err(Error::new(app, Stage::Render, e).permanent()))
}

/// The first 12 hex digits of a SHA, as people read them.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
