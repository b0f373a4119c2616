//! Accumulating a kustomization: resources, generators, components and
//! transformers, recursively, in kustomize's order; then the final steps
//! (hash suffixes, name references, vars, sorting).

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result, msg};
use crate::fs::{self, Fs, show};
use crate::kustfile::{FILE_NAMES, Kustomization};
use crate::resource::{Behavior, Gvk, Resource, parse_objects};
use crate::vars::Var;
use crate::{LoadRestrictor, Options};

/// Resources, configuration and vars gathered so far.
#[derive(Debug, Default)]
pub struct Acc {
    /// Objects, in input order.
    pub res: Vec<Resource>,
    /// Field specs for transformers and name references.
    pub config: Config,
    /// Declared vars.
    pub vars: Vec<Var>,
}

impl Acc {
    fn new() -> Acc {
        Acc { res: Vec::new(), config: Config::defaults(), vars: Vec::new() }
    }

    /// The ids of the objects so far, for [`Acc::append`].
    pub fn ids(&self) -> Ids {
        Ids(self.res.iter().map(id_key).collect())
    }

    /// Appends objects, refusing an id that is already present; `ids` holds
    /// the ids of `self.res` (from [`Acc::ids`], kept up to date here, so
    /// that appending many files costs no rescan of the objects so far).
    pub fn append(&mut self, new: Vec<Resource>, ids: &mut Ids) -> Result<()> {
        for r in new {
            if !ids.0.insert(id_key(&r)) {
                return Err(msg(format!("may not add resource with an already registered id: {}", r.id())));
            }
            self.res.push(r);
        }
        Ok(())
    }

    /// Adds generated objects, honouring their `behavior`.
    pub fn absorb(&mut self, new: Vec<Resource>) -> Result<()> {
        for mut r in new {
            let id = r.id();
            let matches: Vec<usize> = (0..self.res.len()).filter(|i| self.res[*i].had(&id)).collect();
            let behavior = r.behavior.unwrap_or_default();
            match matches.as_slice() {
                [] => match behavior {
                    Behavior::Create => self.res.push(r),
                    _ => return Err(msg(format!("id {id} does not exist; cannot merge or replace"))),
                },
                [i] => {
                    let old = &self.res[*i];
                    match behavior {
                        Behavior::Create => {
                            return Err(msg(format!("id {id} exists; behavior must be merge or replace")));
                        }
                        Behavior::Replace | Behavior::Merge => {
                            let mut labels = old.labels();
                            labels.extend(r.labels());
                            let mut annos = old.annotations();
                            let old_origin = annos.get(crate::origin::ORIGIN).cloned();
                            annos.extend(r.annotations());
                            if let (Behavior::Merge, Some(o)) = (behavior, old_origin) {
                                annos.insert(crate::origin::ORIGIN.into(), o);
                            }
                            if behavior == Behavior::Merge {
                                for key in ["data", "binaryData"] {
                                    let mut m = crate::resource::map_at(&old.obj, &[key]);
                                    m.extend(crate::resource::map_at(&r.obj, &[key]));
                                    if !m.is_empty() {
                                        crate::resource::set_at(&mut r.obj, &[key], Value::Object(m));
                                    }
                                }
                            }
                            set_meta_map(&mut r.obj, "labels", labels);
                            set_meta_map(&mut r.obj, "annotations", annos);
                            crate::resource::set_at(
                                &mut r.obj,
                                &["metadata", "name"],
                                Value::String(old.name().into()),
                            );
                            if old.namespace().is_empty() {
                                if let Some(m) = r.obj.get_mut("metadata").and_then(Value::as_object_mut) {
                                    m.remove("namespace");
                                }
                            } else {
                                crate::resource::set_at(
                                    &mut r.obj,
                                    &["metadata", "namespace"],
                                    Value::String(old.namespace().into()),
                                );
                            }
                            r.prev = old.prev.clone();
                            r.prefixes = old.prefixes.clone();
                            r.suffixes = old.suffixes.clone();
                            r.ref_vars = old.ref_vars.clone();
                            r.needs_hash = r.needs_hash && old.needs_hash;
                            r.behavior = None;
                            self.res[*i] = r;
                        }
                    }
                }
                _ => return Err(msg(format!("found multiple objects that could accept merge of {id}"))),
            }
        }
        Ok(())
    }
}

/// The ids of an [`Acc`]'s objects (gvk, name, effective namespace).
pub struct Ids(HashSet<(Gvk, String, String)>);

fn id_key(r: &Resource) -> (Gvk, String, String) {
    let gvk = r.gvk_ref();
    let ns = crate::resource::effective_ns(gvk, r.namespace()).to_string();
    (gvk.to_owned(), r.name().to_string(), ns)
}

fn set_meta_map(obj: &mut Value, key: &str, m: serde_json::Map<String, Value>) {
    if m.is_empty() {
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove(key);
        }
    } else {
        crate::resource::set_at(obj, &["metadata", key], Value::Object(m));
    }
}

/// Reads files for kustomizations, enforcing the roots.
pub struct Loader<'a> {
    /// The snapshot.
    pub fs: &'a dyn Fs,
    /// Render options.
    pub opts: &'a Options,
    stack: RefCell<Vec<PathBuf>>,
    /// The directory being built (origin paths are relative to it).
    pub top: PathBuf,
    /// `buildMetadata: [originAnnotations]` at the top.
    pub origins: bool,
    /// `buildMetadata: [transformerAnnotations]` at the top.
    pub transformations: bool,
}

/// Where a step runs: the kustomization's directory and file.
#[derive(Clone)]
pub struct Ctx<'a> {
    /// The loader.
    pub ld: &'a Loader<'a>,
    /// The kustomization's directory (root-relative).
    pub dir: PathBuf,
    /// The kustomization file, for messages.
    pub file: String,
}

fn is_remote(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("git@")
        || s.starts_with("github.com/")
        || s.starts_with("gitlab.com/")
        || s.starts_with("bitbucket.org/")
        || s.contains(".git?")
        || s.contains(".git//")
}

impl Ctx<'_> {
    /// This kustomization file, relative to the build root.
    pub fn rel_file(&self) -> String {
        let name = self.file.rsplit('/').next().unwrap_or(&self.file);
        crate::origin::relative(&self.ld.top, &self.dir.join(name))
    }

    /// Resolves a path of field `field`, enforcing the roots.
    pub fn resolve(&self, field: &str, rel: &str, restrict: bool) -> Result<PathBuf> {
        if is_remote(rel) {
            return Err(Error::field(
                &self.file,
                field,
                format!("remote resource '{rel}' refused: builtin:kustomize runs without network access"),
            ));
        }
        let p = fs::join(&self.dir, rel).map_err(|_| Error::Escape {
            file: self.file.clone(),
            field: field.into(),
            path: rel.into(),
        })?;
        if restrict && self.ld.opts.load_restrictor == LoadRestrictor::RootOnly && !p.starts_with(&self.dir) {
            return Err(Error::field(
                &self.file,
                field,
                format!("security; file '{}' is not in or below '{}'", show(&p), show(&self.dir)),
            ));
        }
        Ok(p)
    }

    /// Reads a file of field `field` as text.
    pub fn read(&self, field: &str, rel: &str) -> Result<(PathBuf, String)> {
        let p = self.resolve(field, rel, true)?;
        let bytes =
            self.ld.fs.read(&p).map_err(|source| Error::Read { path: show(&p), source }.within(&self.file, field))?;
        Ok((p, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Reads a file of field `field` as bytes.
    pub fn read_bytes(&self, field: &str, rel: &str) -> Result<(PathBuf, Vec<u8>)> {
        let p = self.resolve(field, rel, true)?;
        let bytes =
            self.ld.fs.read(&p).map_err(|source| Error::Read { path: show(&p), source }.within(&self.file, field))?;
        Ok((p, bytes))
    }
}

impl<'a> Loader<'a> {
    /// Finds and parses the kustomization file of `dir`.
    pub fn load_kustomization(&self, dir: &Path) -> Result<(Kustomization, String)> {
        let mut found = FILE_NAMES.iter().map(|n| dir.join(n)).filter(|p| self.fs.is_file(p));
        let Some(path) = found.next() else {
            return Err(Error::NoKustomization { dir: show(dir) });
        };
        if let Some(other) = found.next() {
            return Err(msg(format!(
                "found multiple kustomization files under: {} ({} and {})",
                show(dir),
                show(&path),
                show(&other)
            )));
        }
        let bytes = self.fs.read(&path).map_err(|source| Error::Read { path: show(&path), source })?;
        let file = show(&path);
        let k = Kustomization::parse(&String::from_utf8_lossy(&bytes), &file)?;
        k.validate(&file)?;
        Ok((k, file))
    }

    /// Enters a kustomization directory, refusing cycles.
    pub fn enter(&self, dir: &Path) -> Result<()> {
        let mut st = self.stack.borrow_mut();
        if st.iter().any(|d| d == dir) {
            let chain: Vec<String> = st.iter().map(|d| show(d)).chain([show(dir)]).collect();
            return Err(Error::Cycle { dir: show(dir), chain: chain.join(" -> ") });
        }
        st.push(dir.to_path_buf());
        Ok(())
    }

    /// Leaves the directory entered last.
    pub fn leave(&self) {
        self.stack.borrow_mut().pop();
    }

    /// Accumulates the kustomization in `dir` into `acc` (a fresh one for a
    /// kustomization, the parent's for a component).
    pub fn accumulate(&self, dir: &Path, k: &Kustomization, file: &str, acc: &mut Acc) -> Result<()> {
        let ctx = Ctx { ld: self, dir: dir.to_path_buf(), file: file.to_string() };
        if let Some(p) = k.open_api.as_ref().and_then(|o| o.get("path")) {
            let (full, text) = ctx.read("openapi", p)?;
            let doc = crate::resource::parse_one(&text, &show(&full))?;
            crate::schema::set_custom(Some(doc));
        }
        let mut ids = acc.ids();
        for r in &k.resources {
            self.add_resource(&ctx, r, acc, &mut ids)
                .map_err(|e| match e {
                    e @ (Error::Escape { .. } | Error::Field { .. } | Error::Cycle { .. }) => e,
                    e => Error::Accumulate { entry: r.clone(), source: Box::new(e) },
                })
                .map_err(|e| e.within(file, "resources"))?;
        }
        for c in &k.configurations {
            let (p, text) = ctx.read("configurations", c)?;
            let v = crate::resource::parse_one(&text, &show(&p))?;
            let conf: Config = serde_json::from_value(v)
                .map_err(|e| Error::field(file, "configurations", format!("invalid transformer config '{c}': {e}")))?;
            // A custom `namePrefix`/`nameSuffix` list narrows the default
            // "every object's metadata/name" (observed kustomize behaviour).
            if !conf.name_prefix.is_empty() {
                acc.config.name_prefix.clear();
            }
            if !conf.name_suffix.is_empty() {
                acc.config.name_suffix.clear();
            }
            acc.config.merge(&conf);
        }
        for c in &k.crds {
            crate::plugins::load_crd(&ctx, c, &mut acc.config)?;
        }
        crate::generators::run_kustomization(&ctx, k, acc)?;
        for c in &k.components {
            self.add_component(&ctx, c, acc).map_err(|e| e.within(file, "components"))?;
        }
        crate::plugins::run_builtin_transformers(&ctx, k, acc)?;
        for t in &k.transformers {
            crate::plugins::run_transformer_entry(&ctx, t, acc).map_err(|e| e.within(file, "transformers"))?;
        }
        for v in &k.vars {
            let var: Var = serde_json::from_value(v.clone())
                .map_err(|e| Error::field(file, "vars", format!("invalid var: {e}")))?;
            if acc.vars.iter().any(|x| x.name == var.name) {
                return Err(Error::field(file, "vars", format!("var '{}' already encountered", var.name)));
            }
            crate::vars::bind(&mut acc.res, &var).map_err(|e| e.within(file, "vars"))?;
            acc.vars.push(var);
        }
        Ok(())
    }

    fn add_resource(&self, ctx: &Ctx, entry: &str, acc: &mut Acc, ids: &mut Ids) -> Result<()> {
        let p = ctx.resolve("resources", entry, false)?;
        if self.fs.is_file(&p) {
            let (_, text) = ctx.read("resources", entry)?;
            let mut res = parse_objects(&text, &show(&p))?;
            if self.origins {
                let rel = crate::origin::relative(&self.top, &p);
                res.iter_mut().for_each(|r| crate::origin::from_file(r, &rel));
            }
            return acc.append(res, ids);
        }
        if !self.fs.is_dir(&p) {
            return Err(msg(format!(
                "accumulating resources: '{}': must be a file or a directory (not found)",
                show(&p)
            )));
        }
        let (k, file) = self.load_kustomization(&p)?;
        if k.is_component() {
            return Err(msg(format!(
                "accumulating resources from '{entry}': expected kind 'Kustomization' for path '{}' but got 'Component'",
                show(&p)
            )));
        }
        self.enter(&p)?;
        let mut sub = Acc::new();
        let r = self.accumulate(&p, &k, &file, &mut sub);
        self.leave();
        r?;
        acc.append(sub.res, ids)?;
        for v in sub.vars {
            if acc.vars.iter().any(|x| x.name == v.name) {
                return Err(msg(format!("var '{}' already encountered", v.name)));
            }
            acc.vars.push(v);
        }
        acc.config.merge(&sub.config);
        Ok(())
    }

    fn add_component(&self, ctx: &Ctx, entry: &str, acc: &mut Acc) -> Result<()> {
        let p = ctx.resolve("components", entry, false)?;
        if self.fs.is_file(&p) {
            return Err(msg(format!(
                "component '{entry}' must be a directory holding a kind: Component kustomization"
            )));
        }
        let (k, file) = self.load_kustomization(&p)?;
        if !k.is_component() {
            return Err(msg(format!(
                "accumulating components: expected kind 'Component' for path '{}' but got '{}'",
                show(&p),
                k.kind.as_deref().unwrap_or("Kustomization")
            )));
        }
        self.enter(&p)?;
        let r = self.accumulate(&p, &k, &file, acc);
        self.leave();
        r
    }
}

/// Builds the kustomization in `dir` (see [`crate::build`]).
pub fn run(fs: &dyn Fs, dir: &Path, opts: &Options) -> Result<Vec<Value>> {
    let mut ld = Loader {
        fs,
        opts,
        stack: RefCell::new(Vec::new()),
        top: dir.to_path_buf(),
        origins: false,
        transformations: false,
    };
    if !fs.is_dir(dir) {
        return Err(msg(format!("'{}' doesn't exist (or is not a directory of the snapshot)", show(dir))));
    }
    let (k, file) = ld.load_kustomization(dir)?;
    let mut managed_by = false;
    for m in &k.build_metadata {
        match m.as_str() {
            "originAnnotations" => ld.origins = true,
            "transformerAnnotations" => ld.transformations = true,
            "managedByLabel" => managed_by = true,
            other => {
                return Err(Error::field(&file, "buildMetadata", format!("unknown buildMetadata option '{other}'")));
            }
        }
    }
    ld.enter(dir)?;
    crate::schema::set_custom(None);
    let mut acc = Acc::new();
    ld.accumulate(dir, &k, &file, &mut acc)?;
    crate::hash::add_hashes(&mut acc.res)?;
    crate::namereference::fix(&mut acc.res, &acc.config)?;
    crate::vars::resolve(&mut acc.res, &acc.vars, &acc.config)?;
    acc.res.retain(|r| {
        crate::resource::str_at(&r.obj, &["metadata", "annotations", "config.kubernetes.io/local-config"]) != "true"
    });
    if managed_by {
        // What the kustomize embedded in kubectl writes.
        for r in &mut acc.res {
            crate::resource::set_at(
                &mut r.obj,
                &["metadata", "labels", "app.kubernetes.io/managed-by"],
                Value::String("kustomize-(devel)".into()),
            );
        }
    }
    crate::sort::sort(&mut acc.res, k.sort_options.as_ref(), &file)?;
    Ok(acc.res.into_iter().map(|r| finish(r.obj)).collect())
}

/// Drops kustomize's internal annotations.
fn finish(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        && let Some(Value::Object(a)) = meta.get_mut("annotations")
    {
        a.retain(|k, _| {
            !k.starts_with("internal.config.kubernetes.io/")
                && k != "kustomize.config.k8s.io/behavior"
                && k != "kustomize.config.k8s.io/needs-hash"
                && k != "config.kubernetes.io/index"
        });
        if a.is_empty() {
            meta.remove("annotations");
        }
    }
    obj
}
