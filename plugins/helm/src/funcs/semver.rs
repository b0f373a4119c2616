//! Sprig's `semver` and `semverCompare` with Masterminds/semver rules:
//! `v` prefixes and short versions accepted, constraints joined by `,`
//! (and) and `||` (or), `~` and `^` ranges, `x` wildcards, hyphen ranges,
//! and pre-releases matched only by constraints that carry one (the
//! reason charts write `>=1.19-0`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{arity, string};
use crate::template::{Funcs, Value};

#[derive(Debug, Clone, PartialEq)]
struct Version {
    nums: [u64; 3],
    pre: String,
    meta: String,
    original: String,
}

fn parse(s: &str) -> Option<Version> {
    let original = s.to_string();
    let t = s.trim().strip_prefix('v').unwrap_or(s.trim());
    let (t, meta) = t.split_once('+').unwrap_or((t, ""));
    let (core, pre) = t.split_once('-').unwrap_or((t, ""));
    let mut nums = [0u64; 3];
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    for (i, p) in parts.iter().enumerate() {
        nums[i] = p.parse().ok()?;
    }
    Some(Version { nums, pre: pre.into(), meta: meta.into(), original })
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

fn cmp(a: &Version, b: &Version) -> Ordering {
    a.nums.cmp(&b.nums).then_with(|| cmp_pre(&a.pre, &b.pre))
}

/// One `op version` term; wildcards widen it into a range.
fn term(op: &str, ver: &str, v: &Version) -> Result<bool, String> {
    let t = ver.trim().strip_prefix('v').unwrap_or(ver.trim());
    let (core, pre) = t.split_once('-').map_or((t, ""), |(c, p)| (c, p));
    let parts: Vec<&str> = core.split('.').collect();
    let wild = |p: Option<&&str>| p.is_none_or(|s| matches!(*s, "x" | "X" | "*" | ""));
    let n = |i: usize| parts.get(i).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
    let c = Version { nums: [n(0), n(1), n(2)], pre: pre.into(), meta: String::new(), original: ver.into() };
    if parts.len() > 3 || parts.iter().any(|p| !matches!(*p, "x" | "X" | "*") && p.parse::<u64>().is_err()) {
        return Err(format!("improper constraint: {op}{ver}"));
    }
    if !v.pre.is_empty() && c.pre.is_empty() {
        return Ok(false);
    }
    let (w0, w1, w2) = (wild(parts.first()), wild(parts.get(1)), wild(parts.get(2)));
    let o = cmp(v, &c);
    let next = |level: usize| {
        let mut nums = c.nums;
        nums[level] += 1;
        for x in nums.iter_mut().skip(level + 1) {
            *x = 0;
        }
        Version { nums, pre: String::new(), meta: String::new(), original: String::new() }
    };
    let upper = |level: usize| cmp(v, &next(level)) == Ordering::Less;
    Ok(match op {
        "" | "=" | "==" => {
            if w0 {
                true
            } else if w1 {
                v.nums[0] == c.nums[0]
            } else if w2 {
                v.nums[0] == c.nums[0] && v.nums[1] == c.nums[1]
            } else {
                o == Ordering::Equal
            }
        }
        "!=" => {
            if w1 {
                v.nums[0] != c.nums[0]
            } else if w2 {
                v.nums[0] != c.nums[0] || v.nums[1] != c.nums[1]
            } else {
                o != Ordering::Equal
            }
        }
        ">" => {
            if w1 {
                v.nums[0] > c.nums[0]
            } else if w2 {
                (v.nums[0], v.nums[1]) > (c.nums[0], c.nums[1])
            } else {
                o == Ordering::Greater
            }
        }
        ">=" | "=>" => o != Ordering::Less,
        "<" => o == Ordering::Less,
        "<=" | "=<" => {
            if w1 {
                v.nums[0] <= c.nums[0]
            } else if w2 {
                (v.nums[0], v.nums[1]) <= (c.nums[0], c.nums[1])
            } else {
                o != Ordering::Greater
            }
        }
        "~" | "~>" => o != Ordering::Less && upper(if w1 || parts.len() == 1 { 0 } else { 1 }),
        "^" => {
            let level = if c.nums[0] > 0 || w1 {
                0
            } else if c.nums[1] > 0 || w2 {
                1
            } else {
                2
            };
            o != Ordering::Less && upper(level)
        }
        _ => return Err(format!("improper constraint: {op}{ver}")),
    })
}

/// Whether `v` satisfies the constraint string `c`.
fn satisfies(c: &str, v: &Version) -> Result<bool, String> {
    for alt in c.split("||") {
        let mut ok = true;
        let tokens: Vec<String> = split_terms(alt);
        let mut i = 0;
        while i < tokens.len() {
            // Hyphen range `a - b`.
            if tokens.get(i + 1).is_some_and(|t| t == "-") && i + 2 < tokens.len() {
                ok &= term(">=", &tokens[i], v)? && term("<=", &tokens[i + 2], v)?;
                i += 3;
                continue;
            }
            let t = &tokens[i];
            let split = t.find(|ch: char| ch.is_ascii_alphanumeric() || ch == '*').unwrap_or(t.len());
            ok &= term(&t[..split], &t[split..], v)?;
            i += 1;
        }
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Splits a constraint on `,` and white space, joining an operator with its
/// version (`>= 1.2` → `>=1.2`).
fn split_terms(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in s.split([',', ' ']).filter(|t| !t.is_empty()) {
        if let Some(last) = out.last_mut()
            && !last.is_empty()
            && last.chars().all(|c| "<>=!~^".contains(c))
        {
            last.push_str(raw);
            continue;
        }
        out.push(raw.to_string());
    }
    out
}

pub fn register(f: &mut Funcs) {
    f.insert("semverCompare", |_, a| {
        arity(&a, 2, "semverCompare")?;
        let v = parse(string(&a, 1)?).ok_or("Invalid Semantic Version")?;
        Ok(Value::Bool(satisfies(string(&a, 0)?, &v)?))
    });
    f.insert("semver", |_, a| {
        arity(&a, 1, "semver")?;
        let v = parse(string(&a, 0)?).ok_or("Invalid Semantic Version")?;
        let mut m = BTreeMap::new();
        m.insert("Major".into(), Value::Int(v.nums[0] as i64));
        m.insert("Minor".into(), Value::Int(v.nums[1] as i64));
        m.insert("Patch".into(), Value::Int(v.nums[2] as i64));
        m.insert("Prerelease".into(), Value::str(v.pre.as_str()));
        m.insert("Metadata".into(), Value::str(v.meta.as_str()));
        m.insert("Original".into(), Value::str(v.original.as_str()));
        Ok(Value::map(m))
    });
}
