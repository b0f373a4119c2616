//! Evaluation of entry files with jrsonnet: the standard library, external
//! variables, top-level arguments, Tanka's `std.native` functions, the
//! stack limit, and errors as jsonnet prints them (message, then one
//! `file:line:column` frame per call).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use jrsonnet_evaluator::function::CallLocation;
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::stack::limit_stack_depth;
use jrsonnet_evaluator::tla::TlaArg;
use jrsonnet_evaluator::trace::{CompactFormat, PathResolver, TraceFormat};
use jrsonnet_evaluator::{IStr, State, Val, apply_tla};
use jrsonnet_gcmodule::Acyclic;
use jrsonnet_stdlib::{ContextInitializer, TracePrinter};
use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::flatten::{self, Stop};
use crate::import::SnapshotResolver;
use crate::layout::Layout;
use crate::snapshot::RelPath;
use crate::{DEFAULT_MAX_STACK, Options};

/// Stack frames shown in an error, at most (jsonnet shows 20 as well).
const MAX_TRACE: usize = 20;

/// Tanka's `std.native` functions that the standard library covers,
/// written in Jsonnet (Tanka implements them in Go with the same results).
const NATIVES: &[(&str, &str)] = &[
    ("parseJson", "function(json) std.parseJson(json)"),
    ("manifestJsonFromJson", "function(json, indent) std.manifestJsonEx(std.parseJson(json), std.repeat(' ', indent))"),
    ("manifestYamlFromJson", "function(json) std.manifestYamlDoc(std.parseJson(json), quote_keys=false)"),
    ("sha256", "function(str) std.sha256(str)"),
];

/// The program of one render: one jrsonnet state (imports are parsed and
/// evaluated once for all entries) and the stage's top-level arguments.
pub struct Program {
    state: State,
    tlas: HashMap<IStr, TlaArg>,
    resolver: PathResolver,
    max_stack: usize,
    root: std::path::PathBuf,
    traces: Traces,
}

/// The `std.trace` messages of a render, as jsonnet prints them
/// (`TRACE: main.jsonnet:12 message`). In the sandbox each also goes to the
/// plugin's log as it happens, so a failing render still shows them.
#[derive(Acyclic, Clone)]
struct Traces {
    resolver: PathResolver,
    lines: Rc<RefCell<Vec<String>>>,
}

impl TracePrinter for Traces {
    fn print_trace(&self, loc: CallLocation, value: jrsonnet_evaluator::IStr) {
        let mut line = String::from("TRACE:");
        if let Some(span) = loc.0 {
            let at = span.0.map_source_locations(&[span.1]);
            let path = span.0.source_path();
            let file = path.path().map_or_else(|| path.to_string(), |p| self.resolver.resolve(p));
            line.push_str(&format!(" {file}:{}", at[0].line));
        }
        line.push(' ');
        line.push_str(&value);
        #[cfg(target_arch = "wasm32")]
        capstan_plugin::log(capstan_plugin::Level::Info, &line);
        self.lines.borrow_mut().push(line);
    }
}

// IStr hashes its interned pointer, which its interior mutability (the
// reference count) never changes: a sound HashMap key, as jrsonnet uses it.
#[allow(clippy::mutable_key_type)]
impl Program {
    /// Sets up the state for `layout` in the snapshot at `root`.
    pub fn new(root: &Path, layout: &Layout, opts: &Options) -> Result<Self> {
        let root = std::path::absolute(root).map_err(|source| Error::Read { path: ".".into(), source })?;
        let resolver = PathResolver::Relative(root.clone());
        let ctx = ContextInitializer::new(resolver.clone());
        let traces = Traces { resolver: resolver.clone(), lines: Rc::default() };
        ctx.settings_mut().trace_printer = Rc::new(traces.clone());
        for v in &opts.ext_vars {
            check_name("extVars", &v.name)?;
            if v.code {
                ctx.add_ext_code(&v.name, &v.value).map_err(|e| param("extVars", &v.name, &e))?;
            } else {
                ctx.add_ext_str(v.name.as_str().into(), v.value.as_str().into());
            }
        }
        let mut tlas = HashMap::new();
        for v in &opts.tlas {
            check_name("tlas", &v.name)?;
            let arg =
                if v.code { TlaArg::InlineCode(v.value.clone()) } else { TlaArg::String(v.value.as_str().into()) };
            if tlas.insert(IStr::from(v.name.as_str()), arg).is_some() {
                return Err(Error::Param { field: "tlas".into(), msg: format!("'{}' given twice", v.name) });
            }
        }
        let mut builder = State::builder();
        builder
            .import_resolver(SnapshotResolver::new(root.clone(), layout.dir.clone(), layout.jpath.clone()))
            .context_initializer(ctx.clone());
        let state = builder.build();
        let max_stack = opts.max_stack.unwrap_or(DEFAULT_MAX_STACK);
        if max_stack == 0 {
            return Err(Error::Param { field: "maxStack".into(), msg: "must be at least 1".into() });
        }
        let program = Program { state, tlas, resolver, max_stack, root, traces };
        program.add_natives(&ctx)?;
        Ok(program)
    }

    fn add_natives(&self, ctx: &ContextInitializer) -> Result<()> {
        let _entered = self.state.enter();
        for (name, code) in NATIVES {
            match self.state.evaluate_snippet(format!("<native {name}>"), *code) {
                Ok(Val::Func(f)) => ctx.add_native(*name, f),
                Ok(_) => unreachable!("native {name} is a function"),
                Err(e) => return Err(Error::Eval { entry: format!("<native {name}>"), trace: self.format(&e) }),
            }
        }
        Ok(())
    }

    /// Evaluates `entry`, calls it with the top-level arguments when it is a
    /// function, and returns its value as JSON.
    pub fn evaluate(&self, entry: &RelPath) -> Result<Json> {
        let _entered = self.state.enter();
        let _stack = limit_stack_depth(self.max_stack);
        let value = self.value(entry)?;
        let text = value.manifest(JsonFormat::minify()).map_err(|e| self.failed(entry, &e))?;
        crate::error::json(&text, &entry.display())
    }

    /// Evaluates `entry` as [`evaluate`](Self::evaluate) does and appends
    /// the Kubernetes objects of its output to `out`, each as JSON text
    /// (see [`flatten`](crate::flatten)).
    pub fn objects(&self, entry: &RelPath, out: &mut Vec<String>) -> Result<()> {
        let _entered = self.state.enter();
        let _stack = limit_stack_depth(self.max_stack);
        let value = self.value(entry)?;
        flatten::flatten(value, out).map_err(|stop| match stop {
            Stop::Eval(e) => self.failed(entry, &e),
            Stop::Shape { at, msg } => Error::Output { entry: entry.display(), at: flatten::shown(at), msg },
        })
    }

    /// The value of `entry`, applied to the top-level arguments; within `self.state`.
    fn value(&self, entry: &RelPath) -> Result<Val> {
        let source = SnapshotResolver::new(self.root.clone(), RelPath::default(), Vec::new()).source(entry);
        let value = self.state.import_resolved(source).map_err(|e| self.failed(entry, &e))?;
        let value = apply_tla(&self.tlas, value).map_err(|e| self.failed(entry, &e))?;
        if let Val::Func(_) = value {
            return Err(Error::Output {
                entry: entry.display(),
                at: ".".into(),
                msg: "the program is a function still needing arguments: pass them as tlas".into(),
            });
        }
        Ok(value)
    }

    fn failed(&self, entry: &RelPath, e: &jrsonnet_evaluator::Error) -> Error {
        Error::Eval { entry: entry.display(), trace: self.format(e) }
    }

    /// The `std.trace` messages so far, in order.
    pub fn traces(&self) -> Vec<String> {
        self.traces.lines.borrow().clone()
    }

    /// jsonnet's error text on one line: the message, then `; at FILE:LINE:COL desc` per frame.
    fn format(&self, e: &jrsonnet_evaluator::Error) -> String {
        let fmt = CompactFormat { resolver: self.resolver.clone(), max_trace: MAX_TRACE, padding: 0 };
        let text = fmt.format(e).unwrap_or_else(|_| e.error().to_string());
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let mut out = lines.next().unwrap_or("").to_string();
        for frame in lines.take(MAX_TRACE) {
            out.push_str("; at ");
            out.push_str(frame);
        }
        out
    }
}

fn check_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Param { field: field.into(), msg: "a variable without a name".into() });
    }
    Ok(())
}

fn param(field: &str, name: &str, e: &jrsonnet_evaluator::Error) -> Error {
    Error::Param { field: field.into(), msg: format!("{name}: {}", e.error()) }
}
