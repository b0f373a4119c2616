//! Loading a chart: a directory of the snapshot or a `.tgz` archive
//! (unpacked in memory, with size caps) into [`Chart`]: metadata, default
//! values, templates, other files and subcharts, as Helm's loader sorts them.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::ignore::Rules;

/// Helm's caps on a chart archive: 100 MiB unpacked, 5 MiB per file.
const MAX_UNPACKED: u64 = 100 << 20;
const MAX_FILE: u64 = 5 << 20;
/// A cap on the files of one chart directory.
const MAX_FILES: usize = 20_000;

/// A file of a chart: its path relative to the chart root and its bytes.
#[derive(Debug, Clone)]
pub struct File {
    /// Path with `/` separators, relative to the chart.
    pub name: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// A loaded chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Chart.yaml (with `dependencies` from requirements.yaml for v1 charts).
    pub meta: Json,
    /// values.yaml.
    pub values: Json,
    /// values.schema.json, if any.
    pub schema: Option<Json>,
    /// Files under `templates/`.
    pub templates: Vec<File>,
    /// Every other file (what `.Files` serves, `crds/` included).
    pub files: Vec<File>,
    /// Subcharts found under `charts/`.
    pub deps: Vec<Chart>,
}

impl Chart {
    /// The chart's name (after aliasing).
    pub fn name(&self) -> &str {
        self.meta.get("name").and_then(Json::as_str).unwrap_or("")
    }

    /// Whether `type: library`.
    pub fn is_library(&self) -> bool {
        self.meta.get("type").and_then(Json::as_str) == Some("library")
    }

    /// `dependencies` of Chart.yaml.
    pub fn dependencies(&self) -> Vec<Json> {
        self.meta.get("dependencies").and_then(Json::as_array).cloned().unwrap_or_default()
    }
}

/// Reads one file of the snapshot, refusing a symlink that leaves `root`.
pub fn read_file(root: &Path, rel: &Path) -> Result<Vec<u8>> {
    let full = root.join(rel);
    let shown = rel.display().to_string();
    #[cfg(not(target_arch = "wasm32"))]
    if let (Ok(real), Ok(r)) = (full.canonicalize(), root.canonicalize())
        && !real.starts_with(&r)
    {
        return Err(Error::Escape { field: "valueFiles".into(), path: shown });
    }
    std::fs::read(&full).map_err(|source| Error::Read { path: shown, source })
}

/// Reads the chart directory `dir` of the snapshot as Helm's `LoadDir`
/// does: every file under it (relative paths, sorted) but those its
/// `.helmignore` ignores, refusing symlinks that leave `root`.
pub fn read_dir(root: &Path, dir: &Path) -> Result<Vec<File>> {
    let mut out = Vec::new();
    let base = root.join(dir);
    // Resolved once: symlinks are checked against it (outside the sandbox,
    // where the host's filesystem is not confined to the snapshot).
    let real_root = if cfg!(target_arch = "wasm32") { None } else { root.canonicalize().ok() };
    if let Some(r) = &real_root
        && base.canonicalize().is_ok_and(|real| !real.starts_with(r))
    {
        return Err(Error::Escape { field: "path".into(), path: dir.display().to_string() });
    }
    let rules = ignore_rules(root, dir)?;
    #[cfg(target_arch = "wasm32")]
    if root == Path::new("/")
        && let Some(files) = dir.to_str().and_then(|d| crate::wasi_fs::read_tree(d, &rules, MAX_FILES))
    {
        out = files;
    }
    if out.is_empty() {
        walk(root, real_root.as_deref(), &rules, &base, "", &mut out)?;
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The rules of the chart's `.helmignore` (Helm's defaults without one).
fn ignore_rules(root: &Path, dir: &Path) -> Result<Rules> {
    let text = match read_file(root, &dir.join(".helmignore")) {
        Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        read => read?,
    };
    Rules::parse(&self::text(&text)).map_err(|msg| Error::Load {
        chart: if dir.as_os_str().is_empty() { ".".into() } else { dir.display().to_string() },
        file: ".helmignore".into(),
        msg,
    })
}

fn walk(
    root: &Path,
    real_root: Option<&Path>,
    rules: &Rules,
    dir: &Path,
    prefix: &str,
    out: &mut Vec<File>,
) -> Result<()> {
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read { path: shown(dir), source })?;
    let mut names: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        // The entry's own type costs no call into the host; only a symlink
        // needs a stat of its target, and only a symlink can lead out of
        // a directory already inside the root.
        let mut ft = e.file_type().map_err(|source| Error::Read { path: shown(&path), source })?;
        if ft.is_symlink() {
            if let Some(r) = real_root
                && path.canonicalize().is_ok_and(|real| !real.starts_with(r))
            {
                return Err(Error::Escape { field: "chart".into(), path: shown(&path) });
            }
            ft = std::fs::metadata(&path).map_err(|source| Error::Read { path: shown(&path), source })?.file_type();
        }
        if rules.ignored(&rel, ft.is_dir()) {
            continue;
        }
        if ft.is_dir() {
            walk(root, real_root, rules, &path, &rel, out)?;
        } else if ft.is_file() {
            if out.len() >= MAX_FILES {
                return Err(Error::Chart { chart: shown(dir), msg: format!("more than {MAX_FILES} files") });
            }
            let data = read_whole(&path).map_err(|source| Error::Read { path: shown(&path), source })?;
            out.push(File { name: rel, data });
        }
    }
    Ok(())
}

/// A whole file in three calls (open, stat, one read): in the sandbox each
/// is a round trip into the host, and `std::fs::read` adds a probe read
/// for the end of the file. Snapshots do not change while they are read.
fn read_whole(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = usize::try_from(f.metadata()?.len()).map_err(std::io::Error::other)?;
    let mut data = Vec::new();
    data.try_reserve_exact(len).map_err(std::io::Error::other)?;
    data.resize(len, 0);
    let mut filled = 0;
    while filled < len {
        match f.read(&mut data[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    data.truncate(filled);
    Ok(data)
}

/// Unpacks a `.tgz` chart archive in memory; paths lose their first
/// component (the chart directory), as Helm's loader does.
pub fn untar(bytes: &[u8], shown: &str) -> Result<Vec<File>> {
    let bad = |msg: String| Error::Chart { chart: shown.to_string(), msg };
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut ar = tar::Archive::new(gz);
    let mut out = Vec::new();
    let mut total = 0u64;
    for entry in ar.entries().map_err(|e| bad(format!("failed to read the archive: {e}")))? {
        let mut entry = entry.map_err(|e| bad(format!("failed to read the archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| bad(format!("bad path in archive: {e}")))?.into_owned();
        let mut parts = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir => {}
                _ => {
                    return Err(bad(format!(
                        "chart illegally contains content outside the base directory: {}",
                        path.display()
                    )));
                }
            }
        }
        if parts.len() < 2 {
            continue;
        }
        let size = entry.header().size().unwrap_or(0);
        if size > MAX_FILE {
            return Err(bad(format!(
                "decompressed chart file {} is larger than the maximum file size {MAX_FILE}",
                path.display()
            )));
        }
        total += size;
        if total > MAX_UNPACKED {
            return Err(bad(format!("decompressed chart is larger than the maximum size {MAX_UNPACKED}")));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(MAX_FILE + 1)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("failed to read the archive: {e}")))?;
        out.push(File { name: parts[1..].join("/"), data });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A file's bytes as text, invalid UTF-8 replaced (as Go's conversion
/// to string does on output). Valid text, the usual case, is only checked:
/// `from_utf8` checks a word at a time where `from_utf8_lossy` goes byte by
/// byte (2 % of an umbrella render in the sandbox).
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    std::str::from_utf8(data).map_or_else(|_| String::from_utf8_lossy(data), std::borrow::Cow::Borrowed)
}

/// A file's bytes as text, as [`text`] reads them, without a copy when
/// they are UTF-8.
pub fn into_text(data: Vec<u8>) -> String {
    String::from_utf8(data).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn yaml(chart: &str, file: &str, data: &[u8]) -> Result<Json> {
    let text = text(data);
    if text.trim().is_empty() {
        return Ok(Json::Object(Default::default()));
    }
    let parsed = if file == "values.yaml" { crate::yaml::values(&text) } else { crate::yaml::parse(&text) };
    parsed.map_err(|e| Error::Load {
        chart: chart.into(),
        file: file.into(),
        msg: format!("error converting YAML to JSON: {e}"),
    })
}

/// Builds a chart from its files (`shown` names it in errors).
pub fn load(files: Vec<File>, shown: &str) -> Result<Chart> {
    let mut meta = None;
    let mut values = Json::Object(Default::default());
    let mut schema = None;
    let mut requirements = None;
    let mut templates = Vec::new();
    let mut other = Vec::new();
    let mut sub: std::collections::BTreeMap<String, Vec<File>> = Default::default();
    let mut archives = Vec::new();
    for mut f in files {
        // Helm's loader drops a UTF-8 byte order mark from every file.
        if f.data.starts_with(b"\xef\xbb\xbf") {
            f.data.drain(..3);
        }
        match f.name.as_str() {
            "Chart.yaml" => meta = Some(yaml(shown, "Chart.yaml", &f.data).map_err(|e| cannot_load("Chart.yaml", e))?),
            "values.yaml" => {
                values = yaml(shown, "values.yaml", &f.data)?;
                if !values.is_object() {
                    if values.is_null() {
                        values = Json::Object(Default::default());
                    } else {
                        return Err(Error::Load {
                            chart: shown.into(),
                            file: "values.yaml".into(),
                            msg: "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go value of type map[string]interface {}".into(),
                        });
                    }
                }
            }
            "values.schema.json" => {
                schema = Some(serde_json::from_slice(&f.data).map_err(|e| Error::Load {
                    chart: shown.into(),
                    file: "values.schema.json".into(),
                    msg: e.to_string(),
                })?)
            }
            "requirements.yaml" => requirements = Some(yaml(shown, "requirements.yaml", &f.data)?),
            "Chart.lock" | "requirements.lock" => {}
            n if n.starts_with("templates/") => templates.push(f),
            n if n.starts_with("charts/") => {
                let rest = &n["charts/".len()..];
                match rest.split_once('/') {
                    // Signatures are files wherever they are; Helm skips
                    // entries named `_*` and `.*`.
                    _ if rest.ends_with(".prov") => other.push(f),
                    _ if rest.starts_with(['_', '.']) => {}
                    Some((dir, _)) => {
                        let inner = File { name: rest[dir.len() + 1..].to_string(), data: f.data };
                        sub.entry(dir.to_string()).or_default().push(inner);
                    }
                    None if rest.ends_with(".tgz") => archives.push(f),
                    // Any other file is a subchart to Helm, one without a
                    // Chart.yaml: an error below.
                    None => {
                        sub.entry(rest.to_string()).or_default();
                    }
                }
            }
            _ => other.push(f),
        }
    }
    let Some(mut meta) = meta else {
        return Err(Error::Chart { chart: shown.into(), msg: "Chart.yaml file is missing".into() });
    };
    if !meta.is_object() {
        return Err(Error::Chart { chart: shown.into(), msg: "cannot load Chart.yaml: not a mapping".into() });
    }
    let api = meta.get("apiVersion").and_then(Json::as_str).unwrap_or("").to_string();
    if api.is_empty() {
        meta["apiVersion"] = Json::from("v1");
    }
    if let Some(req) = requirements
        && (api == "v1" || api.is_empty())
        && let Some(deps) = req.get("dependencies")
    {
        meta["dependencies"] = deps.clone();
    }
    validate(&meta, shown)?;
    let name = meta["name"].as_str().unwrap_or("").to_string();
    let mut deps = Vec::new();
    for (dir, files) in sub {
        let c = load(files, &format!("{shown}/charts/{dir}")).map_err(|e| Error::Chart {
            chart: name.clone(),
            msg: format!("error unpacking subchart {dir} in {name}: {}", crate::error::chain(&e)),
        })?;
        deps.push(c);
    }
    for a in archives {
        let shown_a = format!("{shown}/{}", a.name);
        let files = untar(&a.data, &shown_a)?;
        deps.push(load(files, &shown_a)?);
    }
    Ok(Chart { meta, values, schema, templates, files: other, deps })
}

fn cannot_load(file: &str, e: Error) -> Error {
    match e {
        Error::Load { chart, msg, .. } => Error::Chart { chart, msg: format!("cannot load {file}: {msg}") },
        e => e,
    }
}

/// Helm's `Metadata.Validate`.
fn validate(meta: &Json, shown: &str) -> Result<()> {
    let bad = |msg: &str| Err(Error::Chart { chart: shown.into(), msg: format!("validation: {msg}") });
    if meta.get("name").and_then(Json::as_str).is_none_or(str::is_empty) {
        return bad("chart.metadata.name is required");
    }
    let name = meta["name"].as_str().unwrap_or("");
    if name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return bad(&format!("chart.metadata.name {name:?} is invalid"));
    }
    if meta.get("version").is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
        return bad("chart.metadata.version is required");
    }
    if let Some(t) = meta.get("type").and_then(Json::as_str)
        && !t.is_empty()
        && t != "application"
        && t != "library"
    {
        return bad("chart.metadata.type must be application or library");
    }
    Ok(())
}

/// Joins `rel` onto `base` lexically; `None` when it would leave the root.
pub fn join(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out: Vec<String> = Vec::new();
    let rel_path = Path::new(rel);
    let parts = if rel_path.is_absolute() {
        rel_path.components().collect::<Vec<_>>()
    } else {
        base.components().chain(rel_path.components()).collect()
    };
    for c in parts {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop()?;
            }
            _ => {}
        }
    }
    Some(out.iter().collect())
}
