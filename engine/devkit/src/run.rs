//! `capstan plugin test` and `trace`: a built component run in the real
//! host under the real leash on fixtures, its output compared with what is
//! expected, and the time, memory and log lines of each call.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use capstan_host::{Limits, Plugin, PluginHost, RenderCall, World, last_call_stats};
use capstan_types::text::escape_untrusted;
use capstan_types::{Diagnostic, Object};
use serde_json::Value;

use crate::hints::explain;
use crate::project::{Case, Project};
use crate::{Error, Result};

/// The revision a test call's context names (there is no commit).
pub const TEST_REVISION: &str = "0000000000000000000000000000000000000000";
/// The destination namespace a test call's context names.
pub const TEST_NAMESPACE: &str = "default";

/// What `test` and `trace` run, beyond the project's own cases.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A fixture instead of the project's cases.
    pub input: Option<PathBuf>,
    /// The stage's parameters for `input`.
    pub with: Option<Value>,
    /// The expected output for `input`.
    pub expect: Option<PathBuf>,
    /// The leash: the host's defaults with these overrides.
    pub limits: Limits,
}

/// What a call returned, in the shape the expected files are written in.
struct Outcome {
    /// YAML documents: objects, or one list of diagnostics, or one status.
    documents: Vec<Value>,
    summary: String,
    diagnostics: Vec<Diagnostic>,
}

/// The cases to run: `--input` (with `--with`, `--expect`) or the project's.
fn cases(project: &Project, options: &RunOptions) -> Result<Vec<Case>> {
    if let Some(input) = &options.input {
        let with = options.with.clone().unwrap_or(Value::Null);
        return Ok(vec![Case { input: input.clone(), with, expect: options.expect.clone() }]);
    }
    if options.expect.is_some() || options.with.is_some() {
        return Err(Error::Usage("--expect and --with need --input FIXTURE".to_owned()));
    }
    let resolve = |path: &PathBuf| project.dir.join(path);
    Ok(project
        .tests
        .iter()
        .map(|case| Case {
            input: resolve(&case.input),
            with: case.with.clone(),
            expect: case.expect.as_ref().map(resolve),
        })
        .collect())
}

/// Loads the component and prints how long that took (a compile, or a load
/// from the compiled-code cache).
fn load(host: &PluginHost, project: &Project, bytes: &[u8], out: &mut dyn Write) -> Result<Plugin> {
    let started = Instant::now();
    let plugin = host.load_bytes(&project.name, bytes).map_err(|e| explain(e, Some(project)))?;
    let _ = writeln!(
        out,
        "plugin {} ({}, {}): loaded in {:.1} ms",
        project.name,
        plugin.world(),
        plugin.digest(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(plugin)
}

/// Runs every case; prints each call's output, figures and verdict; fails
/// when a case fails.
pub fn test(
    project: &Project,
    bytes: &[u8],
    host: &PluginHost,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let cases = cases(project, options)?;
    if cases.is_empty() {
        return Err(Error::Usage(format!(
            "{} lists no tests: add one under `tests:`, or pass --input FIXTURE",
            crate::PROJECT_FILE
        )));
    }
    let plugin = load(host, project, bytes, out)?;
    let mut failed = 0;
    for (index, case) in cases.iter().enumerate() {
        let _ = writeln!(out, "case {}/{}: {} with {}", index + 1, cases.len(), case.input.display(), case.with);
        let passed = match run_case(host, &plugin, project, case, &options.limits, out) {
            Ok(passed) => passed,
            Err(error) => {
                let _ = writeln!(out, "  error: {}", escape_untrusted(&error.to_string()));
                false
            }
        };
        failed += usize::from(!passed);
    }
    let _ = writeln!(out, "{} passed, {failed} failed", cases.len() - failed);
    if failed > 0 {
        return Err(Error::TestsFailed { failed, total: cases.len() });
    }
    Ok(())
}

fn run_case(
    host: &PluginHost,
    plugin: &Plugin,
    project: &Project,
    case: &Case,
    limits: &Limits,
    out: &mut dyn Write,
) -> Result<bool> {
    let outcome = call(host, plugin, project, case, limits)?;
    print_outcome(&outcome, limits, out);
    let Some(expect) = &case.expect else { return Ok(true) };
    let expected = read_documents(expect)?;
    if expected == outcome.documents {
        let _ = writeln!(out, "  ok: equals {}", expect.display());
        return Ok(true);
    }
    let _ = writeln!(out, "  FAILED: differs from {} (- expected, + actual):", expect.display());
    let (want, got) = (yaml_stream(&expected), yaml_stream(&outcome.documents));
    let diff = similar::TextDiff::from_lines(&want, &got);
    let _ = write!(out, "{}", diff.unified_diff().context_radius(3));
    Ok(false)
}

fn print_outcome(outcome: &Outcome, limits: &Limits, out: &mut dyn Write) {
    let _ = writeln!(out, "  {}; {}", outcome.summary, figures(limits));
    for diagnostic in &outcome.diagnostics {
        let _ = writeln!(out, "  {}", diagnostic_line(diagnostic));
    }
    let _ = write!(out, "{}", yaml_stream(&outcome.documents));
}

/// `0.42 ms, memory 1.1 MiB (leash: 5s, 256 MiB)` of the last call.
fn figures(limits: &Limits) -> String {
    let leash = format!("leash: {:?}, {} MiB", limits.deadline, limits.memory_bytes >> 20);
    match last_call_stats() {
        Some(stats) => format!(
            "{:.2} ms, memory {:.1} MiB ({leash})",
            stats.elapsed.as_secs_f64() * 1e3,
            stats.memory_bytes as f64 / f64::from(1 << 20)
        ),
        None => leash,
    }
}

fn diagnostic_line(diagnostic: &Diagnostic) -> String {
    let object = diagnostic.object.as_ref().map(|o| format!("{o} ")).unwrap_or_default();
    let field = diagnostic.field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default();
    escape_untrusted(&format!("{:?}: {object}{field}{}", diagnostic.severity, diagnostic.message)).into_owned()
}

/// One call of the plugin's world on a case's fixture.
fn call(host: &PluginHost, plugin: &Plugin, project: &Project, case: &Case, limits: &Limits) -> Result<Outcome> {
    let explain = |e| explain(e, Some(project));
    let snapshot = if case.input.is_dir() { case.input.clone() } else { parent(&case.input) };
    let render_call = RenderCall {
        snapshot: &snapshot,
        path: ".",
        app: &project.name,
        namespace: Some(TEST_NAMESPACE),
        revision: TEST_REVISION,
        params: &case.with,
    };
    let objects_out = |verb: &str, rendered: capstan_host::Rendered| Outcome {
        summary: format!("{verb}: {} objects, {} diagnostics", rendered.objects.len(), rendered.diagnostics.len()),
        documents: rendered.objects.into_iter().map(Object::into_value).collect(),
        diagnostics: rendered.diagnostics,
    };
    match plugin.world() {
        World::Renderer => {
            if !case.input.is_dir() {
                return Err(fixture(&case.input, "a renderer's input is a directory: the snapshot it renders"));
            }
            Ok(objects_out("render", host.render(plugin, &render_call, limits).map_err(explain)?))
        }
        World::Transformer => {
            let items = read_objects(&case.input)?;
            Ok(objects_out("transform", host.transform(plugin, &render_call, &items, limits).map_err(explain)?))
        }
        World::Validator => {
            let items = read_objects(&case.input)?;
            let diagnostics = host.validate(plugin, &render_call, &items, limits).map_err(explain)?;
            let list = serde_json::to_value(&diagnostics).unwrap_or(Value::Null);
            Ok(Outcome {
                summary: format!("validate: {} diagnostics", diagnostics.len()),
                documents: vec![list],
                diagnostics: Vec::new(),
            })
        }
        World::Health => {
            let [item] = <[Object; 1]>::try_from(read_objects(&case.input)?).map_err(|items| {
                fixture(&case.input, &format!("a health check takes exactly one object, found {}", items.len()))
            })?;
            let assessment = host.assess(plugin, &item, &case.with, limits).map_err(explain)?;
            let health = format!("{:?}", assessment.health).to_lowercase();
            Ok(Outcome {
                summary: format!("assess: {health}"),
                documents: vec![serde_json::json!({"health": health, "message": assessment.message})],
                diagnostics: Vec::new(),
            })
        }
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned()
}

fn fixture(path: &Path, reason: &str) -> Error {
    Error::Fixture { path: path.to_owned(), reason: reason.to_owned() }
}

/// The YAML documents of a file (empty ones skipped).
fn read_documents(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::Io { path: path.to_owned(), error })?;
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(document).map_err(|e| fixture(path, &e.to_string()))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// The objects of a YAML file, each checked as the host checks output.
fn read_objects(path: &Path) -> Result<Vec<Object>> {
    if path.is_dir() {
        return Err(fixture(path, "this world's input is a YAML file of objects, not a directory"));
    }
    read_documents(path)?
        .into_iter()
        .enumerate()
        .map(|(i, value)| Object::new(value).map_err(|e| fixture(path, &format!("document {}: {e}", i + 1))))
        .collect()
}

fn yaml_stream(documents: &[Value]) -> String {
    documents.iter().map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap_or_default())).collect()
}

/// What the guest logged during a traced call.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "capstan::plugin" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let source =
            fields.stream.unwrap_or_else(|| format!("log {}", event.metadata().level().as_str().to_lowercase()));
        self.0.lock().expect("capture poisoned").push(format!("{source}: {}", fields.message));
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    stream: Option<String>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "stream" {
            self.stream = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

/// One call of the first case (or `--input`): the guest's log lines
/// (`log` import, stdout, stderr), then its time, memory and output.
pub fn trace(
    project: &Project,
    bytes: &[u8],
    host: &PluginHost,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<()> {
    use tracing_subscriber::layer::SubscriberExt;

    let case = cases(project, options)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Usage(format!("{} lists no tests: pass --input FIXTURE", crate::PROJECT_FILE)))?;
    let plugin = load(host, project, bytes, out)?;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    let result = tracing::subscriber::with_default(subscriber, || call(host, &plugin, project, &case, &options.limits));
    let _ = writeln!(out, "call: {} with {}", case.input.display(), case.with);
    let lines = captured.0.lock().expect("capture poisoned").clone();
    let _ = writeln!(out, "guest log ({} lines):", lines.len());
    for line in &lines {
        let _ = writeln!(out, "  {line}");
    }
    let stats = last_call_stats();
    let _ = writeln!(out, "time:   {:.2} ms", stats.map_or(0.0, |s| s.elapsed.as_secs_f64() * 1e3));
    let _ = writeln!(
        out,
        "memory: {:.1} MiB of {} MiB",
        stats.map_or(0.0, |s| s.memory_bytes as f64 / f64::from(1 << 20)),
        options.limits.memory_bytes >> 20
    );
    let outcome = result?;
    let _ = writeln!(out, "output: {}", outcome.summary);
    print_outcome(&outcome, &options.limits, out);
    Ok(())
}
