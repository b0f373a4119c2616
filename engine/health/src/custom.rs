//! Health checks supplied from outside (plugins, in practice) for the kinds
//! an Application names: [`Assessor`] asks the first check whose pattern
//! matches an object, and the built-in rules otherwise.
//!
//! The crate stays free of the plugin host: a check is any function of the
//! live object, so the caller decides how it runs.

use serde_json::Value;

use crate::{Assessment, Health};

/// A custom health check: the verdict on a live object, or why it failed.
pub type Check = Box<dyn Fn(&Value) -> Result<Assessment, String> + Send + Sync>;

/// Built-in rules plus custom checks by kind.
#[derive(Default)]
pub struct Assessor {
    checks: Vec<(Vec<KindPattern>, String, Check)>,
}

impl std::fmt::Debug for Assessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.checks.iter().map(|(_, name, _)| name)).finish()
    }
}

impl Assessor {
    /// Adds `check`, called `name` in messages, for objects whose
    /// `GROUP/KIND` matches one of `kinds` (`*` for any group or kind,
    /// `*.example.com` for a group suffix, empty group for the core group).
    /// Earlier checks win.
    pub fn with_check(mut self, kinds: &[String], name: impl Into<String>, check: Check) -> Self {
        self.checks.push((kinds.iter().map(|k| KindPattern::new(k)).collect(), name.into(), check));
        self
    }

    /// Assesses a live object (`None`: it does not exist). A failing custom
    /// check makes the object's health Unknown, with the check's reason.
    pub fn assess(&self, live: Option<&Value>) -> Assessment {
        let Some(object) = live.filter(|o| o.pointer("/metadata/deletionTimestamp").is_none()) else {
            return crate::assess(live);
        };
        let (group, kind) = crate::group_kind(object);
        let found = self.checks.iter().find(|(patterns, _, _)| patterns.iter().any(|p| p.matches(group, kind)));
        match found {
            Some((_, name, check)) => check(object).unwrap_or_else(|reason| {
                Assessment::new(Health::Unknown, format!("health check {name} failed: {reason}"))
            }),
            None => crate::assess(live),
        }
    }
}

/// One `GROUP/KIND` pattern.
#[derive(Debug)]
struct KindPattern {
    group: String,
    kind: String,
}

impl KindPattern {
    fn new(pattern: &str) -> Self {
        let (group, kind) = pattern.rsplit_once('/').unwrap_or(("", pattern));
        Self { group: group.to_owned(), kind: kind.to_owned() }
    }

    fn matches(&self, group: &str, kind: &str) -> bool {
        let group_matches = match self.group.strip_prefix('*') {
            Some(suffix) => group.ends_with(suffix),
            None => self.group == group,
        };
        group_matches && (self.kind == "*" || self.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn widget(group: &str, kind: &str) -> Value {
        json!({"apiVersion": format!("{group}/v1"), "kind": kind, "metadata": {"name": "w"}})
    }

    fn verdict(health: Health) -> Check {
        Box::new(move |_| Ok(Assessment::new(health, "custom")))
    }

    #[test]
    fn first_matching_check_decides_and_the_rest_falls_back() {
        let assessor = Assessor::default()
            .with_check(&["*.crossplane.io/*".into()], "a", verdict(Health::Degraded))
            .with_check(&["example.com/Widget".into(), "/ConfigMap".into()], "b", verdict(Health::Progressing))
            .with_check(&["*/*".into()], "c", verdict(Health::Healthy));
        let health = |o: Value| assessor.assess(Some(&o)).health;
        assert_eq!(health(widget("pkg.crossplane.io", "Provider")), Health::Degraded);
        assert_eq!(health(widget("example.com", "Widget")), Health::Progressing);
        assert_eq!(health(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})), Health::Progressing);
        assert_eq!(health(widget("example.com", "Gadget")), Health::Healthy);
        assert_eq!(assessor.assess(None).health, Health::Missing);
    }

    #[test]
    fn unmatched_kinds_use_the_builtin_rules_and_failures_are_unknown() {
        let failing: Check = Box::new(|_| Err("trap: unreachable".into()));
        let assessor = Assessor::default().with_check(&["example.com/Widget".into()], "builtin:w", failing);
        let failed = assessor.assess(Some(&widget("example.com", "Widget")));
        assert_eq!(failed, Assessment::new(Health::Unknown, "health check builtin:w failed: trap: unreachable"));
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {}, "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}});
        assert_eq!(assessor.assess(Some(&job)), crate::assess(Some(&job)));
    }
}
