//! `values.schema.json` validation: a focused JSON Schema draft 7 subset
//! (type, required, properties, patternProperties, additionalProperties,
//! items, enum, const, numeric and length bounds, pattern, uniqueItems,
//! allOf/anyOf/oneOf/not, if/then/else, local `$ref`), with the messages
//! Helm users know from gojsonschema (`- age: Must be greater than or equal to 0`).
//! A full validator crate (`jsonschema`) would add megabytes to the
//! component for keywords charts rarely use.

use serde_json::{Map, Value as Json};

use crate::chart::Chart;
use crate::error::{Error, Result};

/// Validates the chart's and its subcharts' schemas against their values.
/// The values are borrowed: an umbrella's are those of all its subcharts.
pub fn validate_chart(chart: &Chart, values: &Json) -> Result<()> {
    let mut report = String::new();
    check(chart, values, &mut report);
    if report.is_empty() { Ok(()) } else { Err(Error::Schema(report)) }
}

fn check(chart: &Chart, values: &Json, report: &mut String) {
    if let Some(schema) = &chart.schema {
        let mut errs = Vec::new();
        validate(schema, schema, values, "(root)", &mut errs);
        if !errs.is_empty() {
            report.push_str(&format!("{}:\n", chart.name()));
            for e in errs {
                report.push_str(&format!("- {e}\n"));
            }
        }
    }
    let empty = Json::Object(Map::new());
    for d in &chart.deps {
        check(d, values.get(d.name()).unwrap_or(&empty), report);
    }
}

fn type_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn type_ok(want: &str, v: &Json) -> bool {
    let t = type_of(v);
    want == t || (want == "number" && t == "integer")
}

fn child(path: &str, key: &str) -> String {
    if path == "(root)" { key.to_string() } else { format!("{path}.{key}") }
}

fn resolve<'a>(root: &'a Json, r: &str) -> Option<&'a Json> {
    let p = r.strip_prefix('#')?;
    if p.is_empty() { Some(root) } else { root.pointer(p) }
}

fn num(v: &Json) -> Option<f64> {
    v.as_f64()
}

fn show(v: &Json) -> String {
    match v {
        Json::Number(n) => n.as_f64().map_or(n.to_string(), crate::template::value::go_float),
        v => v.to_string(),
    }
}

fn validate(root: &Json, schema: &Json, v: &Json, path: &str, errs: &mut Vec<String>) {
    let Json::Object(s) = schema else {
        if schema == &Json::Bool(false) {
            errs.push(format!("{path}: False always fails validation"));
        }
        return;
    };
    if let Some(r) = s.get("$ref").and_then(Json::as_str) {
        match resolve(root, r) {
            Some(target) => validate(root, target, v, path, errs),
            None => errs.push(format!("{path}: unresolved reference {r}")),
        }
        return;
    }
    if let Some(t) = s.get("type") {
        let wants: Vec<&str> = match t {
            Json::String(x) => vec![x.as_str()],
            Json::Array(a) => a.iter().filter_map(Json::as_str).collect(),
            _ => vec![],
        };
        if !wants.is_empty() && !wants.iter().any(|w| type_ok(w, v)) {
            errs.push(format!("{path}: Invalid type. Expected: {}, given: {}", wants.join("/"), type_of(v)));
            return;
        }
    }
    if let Some(Json::Array(e)) = s.get("enum")
        && !e.contains(v)
    {
        let opts: Vec<String> = e.iter().map(|x| x.to_string()).collect();
        errs.push(format!("{path}: {path} must be one of the following: {}", opts.join(", ")));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errs.push(format!("{path}: {path} does not match: {c}"));
    }
    if let Some(x) = num(v) {
        if let Some(m) = s.get("minimum").and_then(num)
            && x < m
        {
            errs.push(format!("{path}: Must be greater than or equal to {}", show(&s["minimum"])));
        }
        if let Some(m) = s.get("maximum").and_then(num)
            && x > m
        {
            errs.push(format!("{path}: Must be less than or equal to {}", show(&s["maximum"])));
        }
        if let Some(m) = s.get("exclusiveMinimum").and_then(num)
            && x <= m
        {
            errs.push(format!("{path}: Must be greater than {}", show(&s["exclusiveMinimum"])));
        }
        if let Some(m) = s.get("exclusiveMaximum").and_then(num)
            && x >= m
        {
            errs.push(format!("{path}: Must be less than {}", show(&s["exclusiveMaximum"])));
        }
        if let Some(m) = s.get("multipleOf").and_then(num)
            && m > 0.0
            && (x / m).fract() != 0.0
        {
            errs.push(format!("{path}: Must be a multiple of {}", show(&s["multipleOf"])));
        }
    }
    if let Json::String(t) = v {
        let len = t.chars().count() as u64;
        if let Some(m) = s.get("minLength").and_then(Json::as_u64)
            && len < m
        {
            errs.push(format!("{path}: String length must be greater than or equal to {m}"));
        }
        if let Some(m) = s.get("maxLength").and_then(Json::as_u64)
            && len > m
        {
            errs.push(format!("{path}: String length must be less than or equal to {m}"));
        }
        if let Some(p) = s.get("pattern").and_then(Json::as_str)
            && regex::Regex::new(p).is_ok_and(|r| !r.is_match(t))
        {
            errs.push(format!("{path}: Does not match pattern '{p}'"));
        }
    }
    if let Json::Array(items) = v {
        if let Some(m) = s.get("minItems").and_then(Json::as_u64)
            && (items.len() as u64) < m
        {
            errs.push(format!("{path}: Array must have at least {m} items"));
        }
        if let Some(m) = s.get("maxItems").and_then(Json::as_u64)
            && (items.len() as u64) > m
        {
            errs.push(format!("{path}: Array must have at most {m} items"));
        }
        if s.get("uniqueItems") == Some(&Json::Bool(true)) {
            'outer: for i in 0..items.len() {
                for j in i + 1..items.len() {
                    if items[i] == items[j] {
                        errs.push(format!("{path}: array items[{i},{j}] must be unique"));
                        break 'outer;
                    }
                }
            }
        }
        match s.get("items") {
            Some(Json::Array(tuple)) => {
                for (i, (it, sc)) in items.iter().zip(tuple).enumerate() {
                    validate(root, sc, it, &child(path, &i.to_string()), errs);
                }
            }
            Some(sc) => {
                for (i, it) in items.iter().enumerate() {
                    validate(root, sc, it, &child(path, &i.to_string()), errs);
                }
            }
            None => {}
        }
    }
    if let Json::Object(obj) = v {
        if let Some(Json::Array(req)) = s.get("required") {
            for r in req.iter().filter_map(Json::as_str) {
                if !obj.contains_key(r) {
                    errs.push(format!("{path}: {r} is required"));
                }
            }
        }
        let props = s.get("properties").and_then(Json::as_object);
        let pattern_props = s.get("patternProperties").and_then(Json::as_object);
        for (k, val) in obj {
            let mut matched = false;
            if let Some(sc) = props.and_then(|p| p.get(k)) {
                matched = true;
                validate(root, sc, val, &child(path, k), errs);
            }
            for (pat, sc) in pattern_props.into_iter().flatten() {
                if regex::Regex::new(pat).is_ok_and(|r| r.is_match(k)) {
                    matched = true;
                    validate(root, sc, val, &child(path, k), errs);
                }
            }
            if !matched {
                match s.get("additionalProperties") {
                    Some(Json::Bool(false)) => errs.push(format!("{path}: Additional property {k} is not allowed")),
                    Some(sc @ Json::Object(_)) => validate(root, sc, val, &child(path, k), errs),
                    _ => {}
                }
            }
        }
    }
    let passes = |sc: &Json| {
        let mut e = Vec::new();
        validate(root, sc, v, path, &mut e);
        e.is_empty()
    };
    if let Some(Json::Array(all)) = s.get("allOf") {
        for sc in all {
            validate(root, sc, v, path, errs);
        }
    }
    if let Some(Json::Array(any)) = s.get("anyOf")
        && !any.iter().any(passes)
    {
        errs.push(format!("{path}: Must validate at least one schema (anyOf)"));
    }
    if let Some(Json::Array(one)) = s.get("oneOf")
        && one.iter().filter(|sc| passes(sc)).count() != 1
    {
        errs.push(format!("{path}: Must validate one and only one schema (oneOf)"));
    }
    if let Some(n) = s.get("not")
        && passes(n)
    {
        errs.push(format!("{path}: Must not validate the schema (not)"));
    }
    if let Some(cond) = s.get("if") {
        let branch = if passes(cond) { s.get("then") } else { s.get("else") };
        if let Some(b) = branch {
            validate(root, b, v, path, errs);
        }
    }
}
