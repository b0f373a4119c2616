//! Helm's engine: every template of the chart and its subcharts parsed into
//! one set (deepest first, so a parent's `define` wins), each non-partial
//! template executed with its chart's scope (`.Values`, `.Chart`, `.Files`,
//! `.Template`...), plus Helm's own functions (`include`, `tpl`,
//! `required`, `fail`, `lookup`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hash::BuildHasher as _;
use std::rc::Rc;

use crate::chart::Chart;
use crate::error::{Error, Result};
use crate::funcs::{self, arity, string};
use crate::objects::{ChartMeta, Files};
use crate::template::{Exec, FnError, Funcs, Set, Tmpl, Value};

/// Markers around the messages of `required` and `fail`, so the final
/// error reads `execution error at (FILE:LINE:COL): MSG` as in Helm.
const WARN_START: &str = "HELM_ERR_START";
const WARN_END: &str = "HELM_ERR_END";

fn warn(msg: &str) -> FnError {
    FnError::Call(format!("{WARN_START}{msg}{WARN_END}"))
}

/// Helm's `cleanupExecError`: a `required`/`fail` message at the location
/// of the template being rendered.
fn cleanup_exec_error(msg: String) -> String {
    let (Some(a), Some(b)) = (msg.find(WARN_START), msg.find(WARN_END)) else { return msg };
    let mut tokens = msg.splitn(3, ": ");
    let location = tokens.nth(1).unwrap_or("");
    format!("execution error at ({location}): {}", &msg[a + WARN_START.len()..b.max(a + WARN_START.len())])
}

/// What every template of one render shares.
pub struct Shared {
    /// `.Release`.
    pub release: Value,
    /// `.Capabilities`.
    pub capabilities: Value,
}

/// Per-render state functions reach through [`Exec::ctx`]: the parsed
/// bodies of `tpl` strings used more than once, so such a string is parsed
/// twice at most however often it is rendered. A string used once (a value
/// per entry of a long list) is parsed, run and dropped: keeping thousands
/// of parsed bodies alive made `tpl` grow faster than its input.
#[derive(Default)]
struct Ctx {
    /// Buffers `include` writes into, kept for the next call: a fresh
    /// string grew by doubling on each of an umbrella's thousands of calls.
    buffers: RefCell<Vec<String>>,
    tpl_cache: RefCell<foldhash::HashMap<Rc<str>, Rc<Tmpl>>>,
    tpl_seen: RefCell<foldhash::HashSet<u64>>,
}

/// One template to render, with its dot.
struct Job {
    name: String,
    chart: String,
    /// Its chart's dot, shared by the chart's templates as Helm shares it
    /// (each render sets `.Template` in it first); nil for a partial.
    dot: Value,
    /// `.Template.BasePath`.
    base_path: Rc<str>,
    /// Its source's length (the text itself moves into the template set).
    size: usize,
    render: bool,
}

/// The functions of a Helm render.
pub fn functions() -> Funcs {
    let mut f = funcs::all();
    f.insert("include", include);
    f.insert("tpl", tpl);
    f.insert("required", |_, a| {
        arity(&a, 2, "required")?;
        let msg = string(&a, 0)?.to_string();
        match &a[1] {
            Value::Nil => Err(warn(&msg)),
            Value::Str(s) if s.is_empty() => Err(warn(&msg)),
            v => Ok(v.clone()),
        }
    });
    f.insert("fail", |_, a| {
        arity(&a, 1, "fail")?;
        Err(warn(string(&a, 0)?))
    });
    f.insert("lookup", |_, a| {
        arity(&a, 4, "lookup")?;
        // `helm template` has no cluster: lookup returns an empty map.
        Ok(Value::map(BTreeMap::new()))
    });
    f
}

fn include(ex: &mut Exec, a: Vec<Value>) -> std::result::Result<Value, FnError> {
    arity(&a, 2, "include")?;
    let name = string(&a, 0)?;
    let ctx = ex.ctx.downcast_ref::<Ctx>().ok_or("internal: no render context")?;
    let mut out = ctx.buffers.borrow_mut().pop().unwrap_or_default();
    out.clear();
    // Includes nest: each call holds its own buffer until it returns.
    let done = ex.call(name, &a[1], &mut out);
    let text = Value::str(out.as_str());
    ctx.buffers.borrow_mut().push(out);
    done?;
    Ok(text)
}

fn tpl(ex: &mut Exec, a: Vec<Value>) -> std::result::Result<Value, FnError> {
    arity(&a, 2, "tpl")?;
    let text = string(&a, 0)?.to_string();
    // Helm parses the text as a template named "gotpl".
    let name = "gotpl";
    let ctx = ex.ctx.downcast_ref::<Ctx>().ok_or("internal: no render context")?;
    let cached = ctx.tpl_cache.borrow().get(text.as_str()).cloned();
    let tmpl = match cached {
        Some(t) => t,
        None => {
            let t =
                ex.set.parse_body(name, &text, ex.funcs).map_err(|e| format!("cannot parse template {text:?}: {e}"))?;
            let seen = foldhash::fast::FixedState::default().hash_one(text.as_str());
            if !ctx.tpl_seen.borrow_mut().insert(seen) {
                ctx.tpl_cache.borrow_mut().insert(text.as_str().into(), t.clone());
            }
            t
        }
    };
    let mut out = String::new();
    ex.call_tmpl(tmpl, &a[1], &mut out)
        .map_err(|e| format!("error during tpl function execution for {text:?}: {e}"))?;
    Ok(Value::str(without_no_value(out)))
}

/// Helm's `strings.ReplaceAll(out, "<no value>", "")` on a rendered text,
/// which copies only when there is something to remove.
fn without_no_value(text: String) -> String {
    // One searcher for every text (building one per call showed in profiles).
    static NO_VALUE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("<no value>"));
    match NO_VALUE.find(text.as_bytes()) {
        Some(_) => text.replace("<no value>", ""),
        None => text,
    }
}

fn file_value(f: &crate::chart::File) -> (String, Rc<str>) {
    (f.name.clone(), crate::chart::text(&f.data).into())
}

/// Builds the dot of `chart` (at template path `path`) and its subcharts'
/// dots, and lists its templates.
fn collect(
    chart: &mut Chart,
    path: &str,
    values: Value,
    shared: &Shared,
    is_root: bool,
    jobs: &mut Vec<(Job, String)>,
) -> Value {
    let mut subcharts = BTreeMap::new();
    for sub in &mut chart.deps {
        let sv = match &values {
            Value::Map(m) => m.borrow().get(sub.name()).cloned(),
            _ => None,
        };
        let sv = match sv {
            Some(v @ Value::Map(_)) => v,
            _ => Value::map(BTreeMap::new()),
        };
        let sub_path = format!("{path}/charts/{}", sub.name());
        let dot = collect(sub, &sub_path, sv, shared, false, jobs);
        subcharts.insert(sub.name().to_string(), dot);
    }
    let files: Vec<(String, Rc<str>)> = chart.files.iter().map(file_value).collect();
    let mut base = BTreeMap::new();
    base.insert("Chart".to_string(), Value::Obj(Rc::new(ChartMeta::new(&chart.meta, is_root))));
    base.insert("Files".to_string(), Value::Obj(Rc::new(Files(Rc::new(files)))));
    base.insert("Release".to_string(), shared.release.clone());
    base.insert("Capabilities".to_string(), shared.capabilities.clone());
    base.insert("Values".to_string(), values);
    base.insert("Subcharts".to_string(), Value::map(subcharts));
    let base = Value::map(base);
    let base_path: Rc<str> = format!("{path}/templates").into();
    let library = chart.is_library();
    for t in &mut chart.templates {
        let name = format!("{path}/{}", t.name);
        let partial = t.name.rsplit('/').next().is_some_and(|b| b.starts_with('_'));
        let render = !partial && (!library || is_root);
        // A partial is only parsed: it needs no dot.
        let dot = if render { base.clone() } else { Value::Nil };
        // The text moves into the template set as it was read (a copy of
        // an umbrella's templates was a tenth of the guest's memory).
        let src = crate::chart::into_text(std::mem::take(&mut t.data));
        let job = Job { name, chart: path.to_string(), dot, base_path: base_path.clone(), size: src.len(), render };
        jobs.push((job, src));
    }
    base
}

/// Helm's `vals["Template"] = {Name, BasePath}` on the chart's shared dot,
/// before the template `job` runs.
fn set_template(job: &Job) {
    if let Value::Map(dot) = &job.dot {
        let tv: BTreeMap<String, Value> = [
            ("Name".to_string(), Value::str(job.name.as_str())),
            ("BasePath".to_string(), Value::Str(job.base_path.clone())),
        ]
        .into_iter()
        .collect();
        dot.borrow_mut().insert("Template".to_string(), Value::map(tv));
    }
}

/// Helm's `sortTemplates` of the jobs' names: deeper paths first, then
/// reverse lexical order. Depths are counted once, not per comparison.
fn sort_templates(jobs: &[(Job, String)]) -> Vec<usize> {
    let depth: Vec<usize> = jobs.iter().map(|(j, _)| j.name.matches('/').count()).collect();
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| depth[b].cmp(&depth[a]).then_with(|| jobs[b].0.name.cmp(&jobs[a].0.name)));
    order
}

/// Helm's `TemplateName`: `--name-template` run with Sprig's functions
/// (not Helm's own) and no data.
pub fn name_template(text: &str) -> std::result::Result<String, String> {
    const NAME: &str = "name-template";
    let funcs = funcs::all();
    let set = Set::default();
    set.add(NAME, text, &funcs)?;
    let mut out = String::new();
    Exec::run(&set, &funcs, &(), NAME, &Value::Nil, &mut out)?;
    Ok(out)
}

/// Renders every template: template path → output text. The chart's
/// templates' texts move into the render (the chart keeps their names).
pub fn render(chart: &mut Chart, values: Value, shared: &Shared) -> Result<BTreeMap<String, String>> {
    let mut jobs = Vec::new();
    let root = chart.name().to_string();
    collect(chart, &root, values, shared, true, &mut jobs);
    let funcs = functions();
    let set = Set::default();
    let order = sort_templates(&jobs);
    // Parse in Helm's order: later definitions win.
    for &i in &order {
        let (job, src) = &mut jobs[i];
        let src = std::mem::take(src);
        set.add(&job.name, src, &funcs).map_err(|msg| Error::Template { chart: job.chart.clone(), msg })?;
    }
    let ctx = Ctx::default();
    let mut out = BTreeMap::new();
    for &i in &order {
        let (job, _) = &jobs[i];
        if !job.render {
            continue;
        }
        set_template(job);
        // About as long as its source: grown once at most.
        let mut text = String::with_capacity(job.size);
        Exec::run(&set, &funcs, &ctx, &job.name, &job.dot, &mut text)
            .map_err(|msg| Error::Template { chart: job.chart.clone(), msg: cleanup_exec_error(msg) })?;
        out.insert(job.name.clone(), without_no_value(text));
    }
    // Every parsed template and every dot (5 % of a large umbrella render).
    capstan_plugin::leave((set, jobs));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn name_template_has_sprig_but_not_helm_functions() {
        assert_eq!(super::name_template(r#"app-{{ "x" | upper }}-{{ . }}"#).unwrap(), "app-X-<no value>");
        let err = super::name_template(r#"{{ include "x" . }}"#).unwrap_err();
        assert!(err.contains(r#"function "include" not defined"#), "{err}");
    }
}
