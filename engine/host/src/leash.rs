//! The leash of one plugin call ([`Limits`]), its per-Application overrides
//! (`spec.limits`), and the memory limiter that enforces the cap.

use std::time::Duration;

use capstan_types::PluginLimits;

/// How often the epoch ticker advances; the deadline's granularity.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// The largest memory cap an Application may ask for. The pooling allocator
/// reserves this much address space per memory slot, so it is a ceiling,
/// not a default.
pub const MAX_MEMORY_BYTES: usize = 1 << 30;

/// The longest deadline an Application may ask for: a stuck render must not
/// hold a worker for long.
pub const MAX_DEADLINE: Duration = Duration::from_secs(300);

/// The most bytes of objects one call may return, whatever `spec.limits`
/// asks: decoded, JSON takes a few times its text in memory (see
/// [`Limits::max_nodes`]), and the host holds one call's output at a time
/// per worker.
pub const MAX_OUTPUT_BYTES: usize = 128 << 20;

/// The most objects one call may return, whatever `spec.limits` asks.
pub const MAX_OBJECTS: usize = 200_000;

/// The deepest nesting of arrays and objects in one returned object. Real
/// objects (CRD schemas included) stay far below; `[[[[…` is an attack on
/// the decoder's stack and memory.
pub const MAX_DEPTH: usize = 100;

/// Bytes of output per JSON value (object, array, string, number…) the
/// decoder accepts on average: [`Limits::max_nodes`] is the output cap
/// divided by this. A decoded value takes 80 to 120 bytes of host memory,
/// so `[0,0,0,…]` would grow 40-fold; Kubernetes objects run at about 25
/// bytes per value, so the budget only bites on pathological output.
pub const BYTES_PER_NODE: usize = 32;

/// Caps for one plugin call. Defaults are safe for untrusted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock CPU deadline of a call (epoch interruption).
    pub deadline: Duration,
    /// Most bytes of linear memory one instance may hold.
    pub memory_bytes: usize,
    /// Most bytes of objects a call may return.
    pub output_bytes: usize,
    /// Most objects (or diagnostics) a call may return.
    pub max_objects: usize,
    /// Most bytes of JSON of one returned object. The default is what the
    /// Kubernetes API server stores (etcd's 1.5 MiB request limit): a larger
    /// object could never be applied.
    pub object_bytes: usize,
    /// Most bytes of stdout, of stderr, and of `log` messages a call may
    /// send to the engine's log (each); the rest is dropped, and the log
    /// says so once.
    pub log_bytes: usize,
    /// Most lines of stdout, of stderr, and `log` messages (each) a call
    /// may send to the engine's log.
    pub log_lines: usize,
    /// Most handles (open files and directories, streams, pollables) a call
    /// may hold at once: each open file is a host descriptor until the call
    /// ends or the guest closes it.
    pub max_handles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            memory_bytes: 256 << 20,
            output_bytes: 64 << 20,
            max_objects: 50_000,
            object_bytes: 3 << 19,
            log_bytes: 64 << 10,
            log_lines: 1_000,
            max_handles: 256,
        }
    }
}

/// A `limits` field the host cannot accept.
#[derive(Debug, thiserror::Error)]
#[error("invalid `{scope}.{field}`: {value:?}: {reason}")]
pub struct LimitsError {
    /// Where the `limits` are: `spec.limits`, or a stage's.
    pub scope: String,
    /// The field, as written in the Application.
    pub field: &'static str,
    /// The value found.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Limits {
    /// The deadline in epoch ticks (at least one).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.deadline.as_micros() / TICK.as_micros()).max(1) as u64 + 1
    }

    /// How many JSON values (every object, array, string, number, boolean
    /// and null) the whole output of a call may hold: [`Limits::output_bytes`]
    /// over [`BYTES_PER_NODE`]. Bounds the decoded output's memory at a few
    /// times the output cap, however the text is shaped.
    pub fn max_nodes(&self) -> usize {
        (self.output_bytes / BYTES_PER_NODE).max(1_000)
    }

    /// These limits with the fields an Application sets replaced.
    pub fn with_overrides(&self, spec: &PluginLimits) -> Result<Self, LimitsError> {
        let mut limits = *self;
        if let Some(text) = &spec.timeout {
            limits.deadline = parse_duration(text).map_err(|reason| invalid("timeout", text, reason))?;
            if limits.deadline.is_zero() || limits.deadline > MAX_DEADLINE {
                return Err(invalid(
                    "timeout",
                    text,
                    format!("must be more than 0 and at most {}s", MAX_DEADLINE.as_secs()),
                ));
            }
        }
        if let Some(text) = &spec.memory {
            limits.memory_bytes = parse_quantity(text).map_err(|reason| invalid("memory", text, reason))?;
            if limits.memory_bytes < 1 << 20 || limits.memory_bytes > MAX_MEMORY_BYTES {
                return Err(invalid("memory", text, format!("must be between 1Mi and {}Mi", MAX_MEMORY_BYTES >> 20)));
            }
        }
        if let Some(text) = &spec.max_output_bytes {
            limits.output_bytes = parse_quantity(text).map_err(|reason| invalid("maxOutputBytes", text, reason))?;
            if limits.output_bytes > MAX_OUTPUT_BYTES {
                return Err(invalid("maxOutputBytes", text, format!("must be at most {}Mi", MAX_OUTPUT_BYTES >> 20)));
            }
        }
        if let Some(count) = spec.max_objects {
            let value = count.to_string();
            limits.max_objects = usize::try_from(count).map_err(|e| invalid("maxObjects", &value, e.to_string()))?;
            if limits.max_objects > MAX_OBJECTS {
                return Err(invalid("maxObjects", &value, format!("must be at most {MAX_OBJECTS}")));
            }
        }
        Ok(limits)
    }
}

fn invalid(field: &'static str, value: &str, reason: String) -> LimitsError {
    LimitsError { scope: "spec.limits".into(), field, value: value.to_owned(), reason }
}

impl LimitsError {
    /// The same error about the `limits` at `scope` (e.g. `spec.render[1].limits`).
    pub fn within(self, scope: impl Into<String>) -> Self {
        Self { scope: scope.into(), ..self }
    }
}

/// `500ms`, `5s`, `2m`: an integer and a unit.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| "expected an integer and a unit (ms, s or m), e.g. 5s".to_owned())?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        _ => Err(format!("unknown unit {unit:?}; use ms, s or m, e.g. 5s")),
    }
}

/// A Kubernetes quantity of bytes: `268435456`, `256Mi`, `1Gi`, `500M`.
fn parse_quantity(text: &str) -> Result<usize, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| "expected an integer and an optional suffix (Ki, Mi, Gi, k, M, G), e.g. 256Mi".to_owned())?;
    let unit: usize = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return Err(format!("unknown suffix {suffix:?}; use Ki, Mi, Gi, k, M or G, e.g. 256Mi")),
    };
    number.checked_mul(unit).ok_or_else(|| "too large".to_owned())
}

/// Denies memory and table growth past the cap, and remembers that it did;
/// counts the linear memory granted (creation included), which is what the
/// instance holds at the end: memories never shrink.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    pub(crate) cap: usize,
    pub(crate) exceeded: bool,
    pub(crate) granted: usize,
}

impl MemoryCap {
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap, exceeded: false, granted: 0 }
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = desired <= self.cap;
        self.exceeded |= !allowed;
        if allowed {
            self.granted += desired.saturating_sub(current);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PluginLimits {
        serde_json::from_str(yaml).unwrap()
    }

    #[test]
    fn overrides_replace_only_the_fields_given() {
        let limits = Limits::default()
            .with_overrides(&spec(
                r#"{"timeout": "750ms", "memory": "64Mi", "maxOutputBytes": "1M", "maxObjects": 10}"#,
            ))
            .unwrap();
        assert_eq!(limits.deadline, Duration::from_millis(750));
        assert_eq!(limits.memory_bytes, 64 << 20);
        assert_eq!(limits.output_bytes, 1_000_000);
        assert_eq!(limits.max_objects, 10);
        assert_eq!(limits.log_bytes, Limits::default().log_bytes);
        assert_eq!(Limits::default().with_overrides(&PluginLimits::default()).unwrap(), Limits::default());
    }

    #[test]
    fn bad_values_name_the_field_and_the_fix() {
        let error = |json| Limits::default().with_overrides(&spec(json)).unwrap_err().to_string();
        assert_eq!(
            error(r#"{"timeout": "5 seconds"}"#),
            r#"invalid `spec.limits.timeout`: "5 seconds": unknown unit " seconds"; use ms, s or m, e.g. 5s"#
        );
        assert_eq!(
            error(r#"{"timeout": "1h"}"#),
            r#"invalid `spec.limits.timeout`: "1h": unknown unit "h"; use ms, s or m, e.g. 5s"#
        );
        assert_eq!(
            error(r#"{"timeout": "10m"}"#),
            r#"invalid `spec.limits.timeout`: "10m": must be more than 0 and at most 300s"#
        );
        assert_eq!(
            error(r#"{"memory": "256MB"}"#),
            r#"invalid `spec.limits.memory`: "256MB": unknown suffix "MB"; use Ki, Mi, Gi, k, M or G, e.g. 256Mi"#
        );
        assert_eq!(
            error(r#"{"memory": "4Gi"}"#),
            r#"invalid `spec.limits.memory`: "4Gi": must be between 1Mi and 1024Mi"#
        );
        assert_eq!(
            error(r#"{"maxOutputBytes": "1Gi"}"#),
            r#"invalid `spec.limits.maxOutputBytes`: "1Gi": must be at most 128Mi"#
        );
        assert_eq!(
            error(r#"{"maxObjects": 1000000}"#),
            "invalid `spec.limits.maxObjects`: \"1000000\": must be at most 200000"
        );
        assert_eq!(
            error(r#"{"maxOutputBytes": "lots"}"#),
            r#"invalid `spec.limits.maxOutputBytes`: "lots": expected an integer and an optional suffix (Ki, Mi, Gi, k, M, G), e.g. 256Mi"#
        );
    }
}
