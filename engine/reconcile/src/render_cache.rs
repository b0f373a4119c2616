//! The render cache: what a successful render produced, kept in memory and
//! keyed by everything the output depends on, so that a reconcile of an
//! unchanged commit runs no plugin (DESIGN: caches keyed by content are
//! never stale).
//!
//! The key ([`Key::new`]) is a SHA-256 over the inputs of
//! [`capstan_host::pipeline::Pipeline::run`]: the commit and its tree (the
//! snapshot), the call (Application name and namespace, source path,
//! destination namespace), the directory plugin paths are relative to, the
//! spec parts the pipeline is built from (`spec.render`, `spec.policy`,
//! `spec.limits`), the pipeline as built (the detected renderer, every
//! stage's leash, the platform policy set with its parameters), the
//! digest of every plugin as the host loaded it (a builtin's comes from
//! its bytes, not from the spec), the engine's default limits and its
//! version. Leaving out an input that changes the output would serve a
//! stale render: the tests below change each one and expect a miss.
//!
//! The cache is bounded by bytes (each entry's size estimated as the
//! length of its JSON) and evicts the least recently used entry first.
//! Only successful renders are kept: a failure is rendered again, so a
//! transient failure (a plugin download) is never remembered.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use capstan_host::pipeline::Pipeline;
use capstan_host::{Limits, Rendered};
use capstan_types::Application;
use sha2::{Digest, Sha256};

/// The default bound of [`crate::EngineConfig::render_cache_bytes`]: 128 MiB.
pub const DEFAULT_BYTES: usize = 128 << 20;

/// What the render cache did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Renders served from the cache.
    pub hits: u64,
    /// Renders looked up and not found (then rendered).
    pub misses: u64,
    /// Renders held now.
    pub entries: usize,
    /// Their estimated size in bytes (JSON length).
    pub bytes: usize,
}

/// The SHA-256 of everything a render's output depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key([u8; 32]);

/// The inputs of a render, as [`crate::Engine`] runs it.
pub(crate) struct Inputs<'a> {
    /// The commit rendered.
    pub commit: &'a str,
    /// Its root tree: the snapshot the plugins read.
    pub tree: &'a str,
    /// The Application (name, namespace, source path, destination, spec).
    pub app: &'a Application,
    /// Where relative plugin paths start.
    pub base_dir: &'a Path,
    /// The pipeline as built (detected renderer, leashes, platform set).
    pub pipeline: &'a Pipeline,
    /// Reference and digest of every plugin it runs, as loaded.
    pub plugins: &'a [(String, String)],
    /// The engine's default limits.
    pub limits: &'a Limits,
}

impl Key {
    /// Hashes every input, each length-prefixed so that no two different
    /// sequences of fields hash the same bytes.
    pub(crate) fn new(inputs: &Inputs<'_>) -> Self {
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        let app = inputs.app;
        let spec = &app.spec;
        field(b"capstan render cache v1");
        field(env!("CARGO_PKG_VERSION").as_bytes());
        field(inputs.commit.as_bytes());
        field(inputs.tree.as_bytes());
        field(app.metadata.name.as_bytes());
        field(&json(&app.metadata.namespace));
        field(spec.source.path.as_bytes());
        field(&json(&spec.destination.namespace));
        field(inputs.base_dir.as_os_str().as_encoded_bytes());
        field(&json(&spec.render));
        field(&json(&spec.policy));
        field(&json(&spec.limits));
        // `Debug` prints every field of these derived types (the platform
        // set's stages, parameters, leashes and directory included), and
        // the key never leaves the process, so its format need not be stable.
        field(format!("{:?}", inputs.pipeline).as_bytes());
        for (reference, digest) in inputs.plugins {
            field(reference.as_bytes());
            field(digest.as_bytes());
        }
        field(format!("{:?}", inputs.limits).as_bytes());
        Self(hash.finalize().into())
    }
}

/// JSON of a part of the spec (serialising these types cannot fail).
fn json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The estimated size of a render: the length of its JSON.
fn size(rendered: &Rendered) -> usize {
    let mut count = Count(0);
    for object in &rendered.objects {
        let _ = serde_json::to_writer(&mut count, object.as_value());
    }
    let _ = serde_json::to_writer(&mut count, &rendered.diagnostics);
    let _ = serde_json::to_writer(&mut count, &rendered.plugins);
    for verdict in &rendered.verdicts {
        let _ = serde_json::to_writer(&mut count, &verdict.diagnostic);
        count.0 += verdict.plugin.len() + verdict.origin.to_string().len();
    }
    count.0
}

/// A writer that only counts bytes.
struct Count(usize);

impl io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A bounded, least-recently-used map of renders, shared by an engine's
/// clones.
#[derive(Debug)]
pub(crate) struct RenderCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keys by the tick of their last use: the first is the least recent.
    order: BTreeMap<u64, Key>,
    tick: u64,
    bytes: usize,
    hits: u64,
    misses: u64,
}

#[derive(Debug)]
struct Entry {
    value: Arc<Rendered>,
    bytes: usize,
    used: u64,
}

impl RenderCache {
    /// A cache holding at most `capacity` bytes of renders.
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, inner: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is consistent between statements; a panic elsewhere while
        // holding the lock cannot leave it half-updated.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The render of `key`, marked as the most recently used.
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Rendered>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let Some(entry) = inner.entries.get_mut(key) else {
            inner.misses += 1;
            return None;
        };
        let (old, value) = (std::mem::replace(&mut entry.used, tick), entry.value.clone());
        inner.order.remove(&old);
        inner.order.insert(tick, *key);
        inner.hits += 1;
        Some(value)
    }

    /// Keeps `value` under `key`, evicting the least recently used renders
    /// until it fits. A render larger than the whole cache is not kept.
    pub(crate) fn insert(&self, key: Key, value: Rendered) {
        let bytes = size(&value);
        if bytes > self.capacity {
            tracing::debug!(bytes, capacity = self.capacity, "render too large for the render cache");
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(old) = inner.entries.insert(key, Entry { value: Arc::new(value), bytes, used: tick }) {
            inner.order.remove(&old.used);
            inner.bytes -= old.bytes;
        }
        inner.order.insert(tick, key);
        inner.bytes += bytes;
        while inner.bytes > self.capacity {
            let Some((_, oldest)) = inner.order.pop_first() else { break };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.bytes;
            }
        }
    }

    /// Hits, misses and what is held now.
    pub(crate) fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats { hits: inner.hits, misses: inner.misses, entries: inner.entries.len(), bytes: inner.bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_host::pipeline::Platform;
    use capstan_types::Object;

    fn app(extra: &str) -> Application {
        let text = format!(
            "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: web, namespace: shop}}\nspec:\n  source: {{repoURL: ., path: deploy}}\n  destination: {{namespace: shop}}\n{extra}"
        );
        Application::from_yaml(&text).unwrap()
    }

    fn key_of(app: &Application, commit: &str, platform: &Platform, plugins: &[(String, String)]) -> Key {
        let limits = Limits::default();
        let dir = tempfile::tempdir().unwrap();
        let pipeline =
            Pipeline::for_app(&app.spec, dir.path(), &app.spec.source.path, &limits).unwrap().with_platform(platform);
        Key::new(&Inputs {
            commit,
            tree: "t1",
            app,
            base_dir: Path::new("/repo"),
            pipeline: &pipeline,
            plugins,
            limits: &limits,
        })
    }

    fn platform(params: &str) -> Platform {
        let text = format!(
            "apiVersion: capstan.dev/v1alpha1\nkind: PlatformPolicy\nmetadata: {{name: base}}\nspec:\n  policy:\n  - name: labels\n    plugin: builtin:cel\n    with: {params}\n"
        );
        let stages = capstan_types::platform_policies(&text).unwrap();
        Platform::new(&stages, "platform.yaml", Path::new("/etc"), &Limits::default()).unwrap()
    }

    #[test]
    fn every_input_that_changes_the_output_changes_the_key() {
        let base = app("");
        let yaml = vec![("builtin:yaml".to_owned(), "sha256:aa".to_owned())];
        let none = Platform::default();
        let key = key_of(&base, "c1", &none, &yaml);
        assert_eq!(key, key_of(&base, "c1", &none, &yaml), "the same inputs, the same key");
        let mut moved = base.clone();
        moved.spec.source.path = "other".into();
        let mut renamed = base.clone();
        renamed.metadata.name = "api".into();
        let mut elsewhere = base.clone();
        elsewhere.spec.destination.namespace = Some("prod".into());
        let changed = [
            ("commit", key_of(&base, "c2", &none, &yaml)),
            ("path", key_of(&moved, "c1", &none, &yaml)),
            ("name", key_of(&renamed, "c1", &none, &yaml)),
            ("destination", key_of(&elsewhere, "c1", &none, &yaml)),
            ("params", key_of(&app("  render:\n  - {plugin: builtin:yaml, with: {a: 1}}\n"), "c1", &none, &yaml)),
            ("policy", key_of(&app("  policy:\n  - {plugin: builtin:cel}\n"), "c1", &none, &yaml)),
            ("limits", key_of(&app("  limits: {timeout: 2s}\n"), "c1", &none, &yaml)),
            ("platform", key_of(&base, "c1", &platform("{a: 1}"), &yaml)),
            ("builtin digest", key_of(&base, "c1", &none, &[("builtin:yaml".to_owned(), "sha256:bb".to_owned())])),
        ];
        for (what, other) in changed {
            assert_ne!(key, other, "{what} must change the key");
        }
        assert_ne!(key_of(&base, "c1", &platform("{a: 1}"), &yaml), key_of(&base, "c1", &platform("{a: 2}"), &yaml));
    }

    fn render(objects: usize) -> Rendered {
        let object = |n: usize| {
            Object::new(
                serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{n}")}}),
            )
            .unwrap()
        };
        Rendered { objects: (0..objects).map(object).collect(), ..Default::default() }
    }

    #[test]
    fn the_least_recently_used_render_goes_first_and_the_bound_holds() {
        let size = size(&render(10));
        let cache = RenderCache::new(size * 2 + size / 2);
        let (a, b, c) = (Key([1; 32]), Key([2; 32]), Key([3; 32]));
        cache.insert(a, render(10));
        cache.insert(b, render(10));
        assert!(cache.get(&a).is_some(), "a is now the most recent");
        cache.insert(c, render(10));
        assert!(cache.get(&b).is_none(), "b was the least recently used");
        assert!(cache.get(&a).is_some() && cache.get(&c).is_some());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries, stats.bytes), (3, 1, 2, size * 2));
        // Larger than the whole cache: not kept, nothing evicted.
        cache.insert(Key([4; 32]), render(100));
        assert_eq!(cache.stats().entries, 2);
        // The same key again replaces, not adds.
        cache.insert(a, render(10));
        assert_eq!(cache.stats().bytes, size * 2);
    }
}
