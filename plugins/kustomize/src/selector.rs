//! Selecting objects: `target:` selectors (anchored regexes on name and
//! namespace, exact gvk, label and annotation selectors).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Result, msg};
use crate::resource::{Resource, effective_ns};

/// A `target`/`select` selector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Selector {
    /// Group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Name (regex).
    pub name: String,
    /// Namespace (regex).
    pub namespace: String,
    /// Label selector.
    pub label_selector: String,
    /// Annotation selector.
    pub annotation_selector: String,
}

fn anchored(p: &str) -> Result<Option<regex::Regex>> {
    if p.is_empty() {
        return Ok(None);
    }
    regex::Regex::new(&format!("^(?:{p})$")).map(Some).map_err(|e| msg(format!("invalid selector regex '{p}': {e}")))
}

/// A compiled selector.
pub struct Compiled {
    sel: Selector,
    name: Option<regex::Regex>,
    ns: Option<regex::Regex>,
    gvk: [Option<regex::Regex>; 3],
}

impl Selector {
    /// Compiles the regexes.
    pub fn compile(&self) -> Result<Compiled> {
        Ok(Compiled {
            sel: self.clone(),
            name: anchored(&self.name)?,
            ns: anchored(&self.namespace)?,
            gvk: [anchored(&self.group)?, anchored(&self.version)?, anchored(&self.kind)?],
        })
    }
}

impl Compiled {
    /// Whether `r` is selected.
    pub fn matches(&self, r: &Resource) -> Result<bool> {
        let g = r.gvk_ref();
        for (re, v) in self.gvk.iter().zip([g.group, g.version, g.kind]) {
            if re.as_ref().is_some_and(|re| !re.is_match(v)) {
                return Ok(false);
            }
        }
        let (name, ns) = (r.name(), effective_ns(g, r.namespace()));
        let (org_name, org_ns) = match r.prev.first() {
            Some(org) => (org.name.as_str(), org.effective_ns()),
            None => (name, ns),
        };
        if let Some(re) = &self.ns
            && !re.is_match(org_ns)
            && !re.is_match(ns)
        {
            return Ok(false);
        }
        if let Some(re) = &self.name
            && !re.is_match(org_name)
            && !re.is_match(name)
        {
            return Ok(false);
        }
        let s = &self.sel;
        if !s.label_selector.is_empty() && !label_match(&s.label_selector, &r.labels())? {
            return Ok(false);
        }
        if !s.annotation_selector.is_empty() && !label_match(&s.annotation_selector, &r.annotations())? {
            return Ok(false);
        }
        Ok(true)
    }
}

fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// Evaluates a Kubernetes label selector string against a label map.
pub fn label_match(sel: &str, labels: &Map<String, Value>) -> Result<bool> {
    let get = |k: &str| labels.get(k).map(crate::kustfile::scalar_string);
    for req in split_top(sel) {
        let req = req.trim();
        if req.is_empty() {
            continue;
        }
        let ok = if let Some(k) = req.strip_prefix('!') {
            get(k.trim()).is_none()
        } else if let Some((k, v)) = req.split_once("!=") {
            get(k.trim()).as_deref() != Some(v.trim())
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            get(k.trim()).as_deref() == Some(v.trim())
        } else if let Some((k, rest)) = req.split_once(" notin ") {
            let set = parse_set(rest)?;
            get(k.trim()).is_none_or(|v| !set.contains(&v))
        } else if let Some((k, rest)) = req.split_once(" in ") {
            let set = parse_set(rest)?;
            get(k.trim()).is_some_and(|v| set.contains(&v))
        } else {
            get(req).is_some()
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_set(s: &str) -> Result<Vec<String>> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| msg(format!("invalid label selector set '{s}'")))?;
    Ok(inner.split(',').map(|x| x.trim().to_string()).collect())
}
