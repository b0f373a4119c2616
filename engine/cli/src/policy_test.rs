//! `capstan policy test DIR`: policies against fixture objects with
//! expected verdicts, in the habit of Gatekeeper's gator and conftest.
//!
//! Two suite formats, found by their `kind` in the YAML files under DIR:
//!
//! - gator's `Suite` (`test.gatekeeper.sh/v1alpha1`): each test names a
//!   ConstraintTemplate and a Constraint file, run by builtin:rego; each
//!   case an object file and assertions.
//! - Capstan's `PolicyTest` (`capstan.dev/v1alpha1`): `spec.policy` is any
//!   policy stage (`with.files` paths start at the suite's directory);
//!   `spec.cases` as in gator.
//!
//! An assertion is `violations: yes|no|N` with an optional `message`
//! regular expression: the number of findings (errors and warnings) whose
//! message matches. Paths in a suite are relative to its file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use capstan_host::{Limits, PluginHost};
use capstan_types::{Enforcement, Object, PluginStage, Severity};
use serde::Deserialize;
use serde_json::{Value, json};

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per case: `PASS`/`FAIL suite/test/case` and, on failure, why.
    pub text: String,
    /// Cases whose assertions all held.
    pub passed: usize,
    /// Cases with a failed assertion or an error.
    pub failed: usize,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GatorSuite {
    #[serde(default)]
    tests: Vec<GatorTest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GatorTest {
    name: String,
    template: String,
    constraint: String,
    #[serde(default)]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyTest {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: capstan_types::Metadata,
    spec: PolicyTestSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyTestSpec {
    policy: PluginStage,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    name: String,
    object: String,
    #[serde(default)]
    assertions: Vec<Assertion>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Assertion {
    violations: Count,
    #[serde(default)]
    message: Option<String>,
}

/// `yes` (at least one), `no` (none), or an exact number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Count {
    Exactly(usize),
    Word(String),
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exactly(n) => write!(f, "{n}"),
            Self::Word(w) => write!(f, "{w}"),
        }
    }
}

/// Runs every suite under `path` (a directory, searched recursively, or a file).
pub fn run(path: &Path, host: &PluginHost, limits: &Limits) -> Result<Report> {
    let mut files = Vec::new();
    collect(path, &mut files)?;
    let mut report = Report::default();
    let mut suites = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("failed to read {}", file.display()))?;
        let Ok(head) = serde_yaml::from_str::<Value>(&text) else { continue };
        let dir = file.parent().unwrap_or(Path::new("."));
        let suite = file.display().to_string();
        match (head.get("apiVersion").and_then(Value::as_str), head.get("kind").and_then(Value::as_str)) {
            (Some(v), Some("Suite")) if v.starts_with("test.gatekeeper.sh/") => {
                let parsed: GatorSuite =
                    serde_yaml::from_str(&text).with_context(|| format!("{suite}: invalid Suite"))?;
                for test in parsed.tests {
                    let stage = gator_stage(dir, &test).with_context(|| format!("{suite}: test {}", test.name))?;
                    run_cases(host, limits, &stage, dir, &format!("{suite}/{}", test.name), &test.cases, &mut report);
                }
            }
            (Some("capstan.dev/v1alpha1"), Some("PolicyTest")) => {
                let parsed: PolicyTest =
                    serde_yaml::from_str(&text).with_context(|| format!("{suite}: invalid PolicyTest"))?;
                let name = format!("{suite}/{}", parsed.metadata.name);
                run_cases(host, limits, &parsed.spec.policy, dir, &name, &parsed.spec.cases, &mut report);
            }
            _ => continue,
        }
        suites += 1;
    }
    if suites == 0 {
        bail!("no policy test suite (gator Suite or Capstan PolicyTest) under {}", path.display());
    }
    Ok(report)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_file() {
        files.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("failed to read {}", path.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, files)?;
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(entry);
        }
    }
    Ok(())
}

/// builtin:rego with the test's template and constraint inline.
fn gator_stage(dir: &Path, test: &GatorTest) -> Result<PluginStage> {
    let read = |name: &str| -> Result<Value> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
        serde_yaml::from_str(&text).with_context(|| format!("{}: not YAML", path.display()))
    };
    Ok(PluginStage {
        plugin: "builtin:rego".into(),
        digest: None,
        params: json!({"templates": [read(&test.template)?], "constraints": [read(&test.constraint)?]}),
        enforcement: Some(Enforcement::Deny),
        limits: None,
    })
}

fn run_cases(
    host: &PluginHost,
    limits: &Limits,
    stage: &PluginStage,
    dir: &Path,
    name: &str,
    cases: &[Case],
    report: &mut Report,
) {
    for case in cases {
        let outcome = run_case(host, limits, stage, dir, case);
        match outcome {
            Ok(()) => {
                report.passed += 1;
                let _ = writeln!(report.text, "PASS {name}/{}", case.name);
            }
            Err(e) => {
                report.failed += 1;
                let _ = writeln!(report.text, "FAIL {name}/{}: {e:#}", case.name);
            }
        }
    }
}

fn run_case(host: &PluginHost, limits: &Limits, stage: &PluginStage, dir: &Path, case: &Case) -> Result<()> {
    let path = dir.join(&case.object);
    let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let mut objects = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let mut value = Value::deserialize(doc).with_context(|| format!("{}: not YAML", path.display()))?;
        // gator's AdmissionReview fixtures have no metadata of their own.
        if value.get("kind").and_then(Value::as_str) == Some("AdmissionReview") && value.get("metadata").is_none() {
            value["metadata"] = json!({"name": "admission-review"});
        }
        if !value.is_null() {
            objects.push(Object::new(value).with_context(|| format!("{}: not an object", path.display()))?);
        }
    }
    let found = crate::policy_cmd::validate(host, stage, dir, &objects, limits)?;
    let messages: Vec<&str> = found
        .iter()
        .filter(|d| d.severity != Severity::Info)
        .map(|d| d.message.strip_prefix('[').and_then(|m| m.split_once("] ")).map_or(d.message.as_str(), |(_, m)| m))
        .collect();
    for assertion in &case.assertions {
        let matching = match &assertion.message {
            Some(pattern) => {
                let re = regex::Regex::new(pattern).with_context(|| format!("invalid message pattern {pattern:?}"))?;
                messages.iter().filter(|m| re.is_match(m)).count()
            }
            None => messages.len(),
        };
        let ok = match &assertion.violations {
            Count::Exactly(n) => matching == *n,
            Count::Word(w) if w == "yes" => matching > 0,
            Count::Word(w) if w == "no" => matching == 0,
            Count::Word(w) => bail!("violations: {w:?} is not yes, no or a number"),
        };
        if !ok {
            let what = assertion.message.as_deref().map(|m| format!(" matching {m:?}")).unwrap_or_default();
            bail!("expected violations {}{what}, found {matching}: {messages:?}", assertion.violations);
        }
    }
    Ok(())
}
