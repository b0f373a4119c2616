//! Values: the user's (value files, inline values, `set` overrides) merged
//! in order, then Helm's coalescing with the chart defaults (a null deletes
//! a key, globals flow down to subcharts, subchart values live under the
//! subchart's name), dependency conditions, tags, aliases and
//! `import-values`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value as Json};

use crate::chart::Chart;
use crate::error::{Error, Result};

/// Merges `src` over `dst` (maps recursively, anything else replaced): how
/// Helm combines `-f` files and `--set` overrides.
pub fn merge_maps(dst: &mut Map<String, Json>, src: &Map<String, Json>) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Json::Object(d)), Json::Object(s)) => merge_maps(d, s),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Helm's `coalesceTables`: `dst` wins, `src` fills in; without `merge`, a
/// null in `dst` deletes the key.
fn coalesce_tables(dst: &mut Map<String, Json>, src: &Map<String, Json>, merge: bool) {
    coalesce_owned(dst, src.clone(), merge)
}

/// [`coalesce_tables`] taking `src`: what fills in moves, uncopied.
fn coalesce_owned(dst: &mut Map<String, Json>, src: Map<String, Json>, merge: bool) {
    for (k, sv) in src {
        match dst.get_mut(&k) {
            Some(Json::Null) if !merge => {
                dst.remove(&k);
            }
            None => {
                dst.insert(k, sv);
            }
            Some(Json::Object(d)) => {
                if let Json::Object(s) = sv {
                    coalesce_owned(d, s, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// Helm's `CoalesceValues(chart, vals)`: the chart's defaults under the
/// user's values, recursively for subcharts, with globals pushed down.
pub fn coalesce(chart: &mut Chart, dest: &mut Map<String, Json>, merge: bool) {
    walk(chart, dest, merge, &|c| c.values.clone());
}

/// [`coalesce`] for the last time: each chart's defaults move into `dest`
/// instead of being copied, and the charts keep none.
pub fn coalesce_taking(chart: &mut Chart, dest: &mut Map<String, Json>, merge: bool) {
    walk(chart, dest, merge, &|c| std::mem::take(&mut c.values));
}

/// The walk of [`coalesce`], with each chart's defaults from `defaults`.
fn walk(chart: &mut Chart, dest: &mut Map<String, Json>, merge: bool, defaults: &dyn Fn(&mut Chart) -> Json) {
    if let Json::Object(defaults) = defaults(chart) {
        // A set, not a scan per key: umbrella charts have hundreds of both.
        let children: HashSet<&str> = chart.deps.iter().map(Chart::name).collect();
        for (k, dv) in defaults {
            match dest.get_mut(&k) {
                Some(Json::Null) if !merge => {
                    dest.remove(&k);
                }
                Some(Json::Object(d)) => {
                    if let Json::Object(s) = dv {
                        let merge = merge || children.contains(k.as_str());
                        coalesce_owned(d, s, merge);
                    }
                }
                Some(_) => {}
                None => {
                    dest.insert(k, dv);
                }
            }
        }
    }
    for sub in &mut chart.deps {
        let name = sub.name().to_string();
        let entry = dest.entry(name.clone()).or_insert_with(|| Json::Object(Map::new()));
        if entry.is_null() {
            *entry = Json::Object(Map::new());
        }
        if !entry.is_object() {
            continue;
        }
        let parent_global = dest.get("global").and_then(Json::as_object).cloned().unwrap_or_default();
        let Some(Json::Object(sv)) = dest.get_mut(&name) else { continue };
        push_globals(sv, &parent_global);
        walk(sub, sv, merge, defaults);
    }
}

/// Helm's `coalesceGlobals`: the parent's globals override the subchart's.
fn push_globals(sub: &mut Map<String, Json>, parent: &Map<String, Json>) {
    let mut dg = sub.get("global").and_then(Json::as_object).cloned().unwrap_or_default();
    for (k, v) in parent {
        match (v, dg.get(k)) {
            (Json::Object(pv), Some(Json::Object(sv))) => {
                let mut vv = pv.clone();
                coalesce_tables(&mut vv, sv, true);
                dg.insert(k.clone(), Json::Object(vv));
            }
            (Json::Object(_), Some(_)) => {}
            (_, Some(Json::Object(_))) => {}
            _ => {
                dg.insert(k.clone(), v.clone());
            }
        }
    }
    sub.insert("global".into(), Json::Object(dg));
}

/// The value at a dotted path (`a.b.c`), if every step is a map.
fn path_value<'a>(v: &'a Map<String, Json>, path: &str) -> Option<&'a Json> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut cur = v.get(first)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// Renames aliased subcharts, drops disabled ones (conditions, then tags),
/// recursively: Helm's `processDependencyEnabled`.
pub fn process_enabled(chart: &mut Chart, user: &Map<String, Json>, path: &str) -> Result<()> {
    // A leaf chart has nothing to enable: skipping it keeps an umbrella of n
    // subcharts linear (each level would otherwise copy all the values).
    if is_leaf(chart) {
        return Ok(());
    }
    let reqs = chart.dependencies();
    let req_name = |r: &Json| r.get("name").and_then(Json::as_str).unwrap_or("").to_string();
    // How often each chart is listed (twice under two aliases is two uses).
    let mut uses: HashMap<String, usize> = HashMap::new();
    for r in &reqs {
        *uses.entry(req_name(r)).or_default() += 1;
    }
    // Subcharts not listed in dependencies come first, then listed ones in
    // order; each found by name in a map, not a scan (umbrellas list hundreds).
    let mut kept: Vec<Chart> = Vec::new();
    let mut by_name: HashMap<String, Chart> = HashMap::new();
    for d in std::mem::take(&mut chart.deps) {
        if uses.contains_key(d.name()) {
            by_name.entry(d.name().to_string()).or_insert(d);
        } else {
            kept.push(d);
        }
    }
    let mut names = Vec::new();
    for r in &reqs {
        let name = req_name(r);
        let alias = r.get("alias").and_then(Json::as_str).filter(|a| !a.is_empty());
        let left = uses.get_mut(&name).map(|n| {
            *n -= 1;
            *n
        });
        let found = if left == Some(0) { by_name.remove(&name) } else { by_name.get(&name).cloned() };
        let Some(mut d) = found else {
            return Err(Error::Chart {
                chart: chart.name().into(),
                msg: format!("found in Chart.yaml, but missing in charts/ directory: {name}"),
            });
        };
        if let Some(a) = alias {
            d.meta["name"] = Json::from(a);
        }
        kept.push(d);
        names.push((alias.unwrap_or(&name).to_string(), r.clone()));
    }
    chart.deps = kept;
    // The coalesced values are only read: by this chart's conditions and
    // tags, and by its subcharts' (leaves have none). Without either, an
    // umbrella skips copying every chart's values (a third of its values work).
    let reads =
        |r: &Json| r.get("condition").is_some_and(|c| !c.is_null()) || r.get("tags").is_some_and(|t| !t.is_null());
    if !reqs.iter().any(reads) && chart.deps.iter().all(is_leaf) {
        return Ok(());
    }
    let mut cvals = user.clone();
    coalesce(chart, &mut cvals, false);
    let tags = cvals.get("tags").and_then(Json::as_object).cloned().unwrap_or_default();
    let mut disabled = Vec::new();
    for (name, r) in &names {
        let mut enabled = true;
        if let Some(rt) = r.get("tags").and_then(Json::as_array) {
            let (mut t, mut f) = (false, false);
            for tag in rt.iter().filter_map(Json::as_str) {
                match tags.get(tag) {
                    Some(Json::Bool(true)) => t = true,
                    Some(Json::Bool(false)) => f = true,
                    _ => {}
                }
            }
            if !t && f {
                enabled = false;
            }
        }
        if let Some(cond) = r.get("condition").and_then(Json::as_str) {
            for c in cond.trim().split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if let Some(Json::Bool(b)) = path_value(&cvals, &format!("{path}{c}")) {
                    enabled = *b;
                    break;
                }
            }
        }
        if !enabled {
            disabled.push(name.clone());
        }
    }
    let disabled: HashSet<String> = disabled.into_iter().collect();
    chart.deps.retain(|d| !disabled.contains(d.name()));
    for d in &mut chart.deps {
        let sub_path = format!("{path}{}.", d.name());
        process_enabled(d, &cvals, &sub_path)?;
    }
    Ok(())
}

/// Whether `chart` lists no dependencies and holds no subcharts.
fn is_leaf(chart: &Chart) -> bool {
    chart.deps.is_empty() && chart.meta.get("dependencies").and_then(Json::as_array).is_none_or(Vec::is_empty)
}

fn path_to_map(path: &str, data: Map<String, Json>) -> Map<String, Json> {
    if path == "." || path.is_empty() {
        return data;
    }
    let mut cur = Json::Object(data);
    for p in path.trim_start_matches('.').rsplit('.') {
        let mut m = Map::new();
        m.insert(p.to_string(), cur);
        cur = Json::Object(m);
    }
    match cur {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

/// Helm's `processDependencyImportValues`: children first, each parent's
/// defaults become its coalesced values with the imported tables under them.
pub fn process_imports(chart: &mut Chart) {
    for d in &mut chart.deps {
        process_imports(d);
    }
    let reqs = chart.dependencies();
    if reqs.is_empty() {
        return;
    }
    let mut cvals = Map::new();
    coalesce(chart, &mut cvals, true);
    let mut imported = Map::new();
    for r in &reqs {
        let name =
            r.get("alias").and_then(Json::as_str).filter(|a| !a.is_empty()).or(r.get("name").and_then(Json::as_str));
        let Some(name) = name else { continue };
        for iv in r.get("import-values").and_then(Json::as_array).into_iter().flatten() {
            let (child, parent) = match iv {
                Json::Object(m) => (
                    m.get("child").and_then(Json::as_str).unwrap_or("").to_string(),
                    m.get("parent").and_then(Json::as_str).unwrap_or("").to_string(),
                ),
                Json::String(s) => (format!("exports.{s}"), ".".to_string()),
                _ => continue,
            };
            if let Some(Json::Object(t)) = path_value(&cvals, &format!("{name}.{child}")) {
                let add = path_to_map(&parent, t.clone());
                coalesce_tables(&mut imported, &add, true);
            }
        }
    }
    coalesce_tables(&mut cvals, &imported, true);
    chart.values = Json::Object(cvals);
}

/// Parses Helm's `--set` syntax (`a.b=1,c[0]=x,d=\{a,b\}`) into a map; ints
/// and booleans are typed, `null` deletes (after coalescing).
pub fn parse_set(expr: &str, into: &mut Map<String, Json>) -> Result<()> {
    for item in split_unescaped(expr, ',') {
        if item.is_empty() {
            continue;
        }
        let (key, val) = item
            .split_once('=')
            .ok_or_else(|| Error::Param { field: "set".into(), msg: format!("key {item:?} has no value") })?;
        let value = if let Some(list) = val.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            Json::Array(split_unescaped(list, ',').into_iter().map(|s| typed(&s)).collect())
        } else {
            typed(val)
        };
        set_path(into, key, value)?;
    }
    Ok(())
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    let mut depth = 0i32;
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            c if c == sep && depth == 0 => out.push(std::mem::take(&mut cur)),
            c => {
                depth += match c {
                    '{' => 1,
                    '}' => -1,
                    _ => 0,
                };
                cur.push(c);
            }
        }
    }
    out.push(cur);
    out
}

fn typed(v: &str) -> Json {
    match v {
        "true" => Json::Bool(true),
        "false" => Json::Bool(false),
        "null" => Json::Null,
        _ => match v.parse::<i64>() {
            Ok(i) if !(v.starts_with('0') && v.len() > 1) => Json::from(i),
            _ => Json::from(v),
        },
    }
}

/// Sets `value` at a `--set` key path (`a.b[0].c`).
pub fn set_path(into: &mut Map<String, Json>, key: &str, value: Json) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = into;
    for (i, p) in parts.iter().enumerate() {
        let (name, index) = match p.split_once('[') {
            Some((n, rest)) => {
                let idx = rest
                    .trim_end_matches(']')
                    .parse::<usize>()
                    .map_err(|_| Error::Param { field: "set".into(), msg: format!("bad list index in {key:?}") })?;
                if idx > 65536 {
                    return Err(Error::Param { field: "set".into(), msg: format!("list index too large in {key:?}") });
                }
                (n, Some(idx))
            }
            None => (*p, None),
        };
        let last = i + 1 == parts.len();
        match index {
            None if last => {
                cur.insert(name.to_string(), value);
                return Ok(());
            }
            None => {
                let e = cur.entry(name.to_string()).or_insert_with(|| Json::Object(Map::new()));
                if !e.is_object() {
                    *e = Json::Object(Map::new());
                }
                let Json::Object(m) = e else { unreachable!() };
                cur = m;
            }
            Some(idx) => {
                let e = cur.entry(name.to_string()).or_insert_with(|| Json::Array(Vec::new()));
                if !e.is_array() {
                    *e = Json::Array(Vec::new());
                }
                let Json::Array(a) = e else { unreachable!() };
                while a.len() <= idx {
                    a.push(Json::Null);
                }
                if last {
                    a[idx] = value;
                    return Ok(());
                }
                if !a[idx].is_object() {
                    a[idx] = Json::Object(Map::new());
                }
                let Json::Object(m) = &mut a[idx] else { unreachable!() };
                cur = m;
            }
        }
    }
    Ok(())
}
