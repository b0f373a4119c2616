//! {{name}}: a Capstan health check for a custom kind whose `status.phase`
//! says how it is. Replace [`assess_object`] with your kind's rules.

use capstan_plugin::{Health, Status};
use serde::Deserialize;
use serde_json::Value;

/// The health check's `with:` block, read by the SDK (unknown fields are errors).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// The phase that means the object is ready.
    pub ready_phase: String,
}

impl Default for Params {
    fn default() -> Self {
        Self { ready_phase: "Ready".to_owned() }
    }
}

/// The health of one live object: plain Rust, so `cargo test` runs it natively.
pub fn assess_object(item: &Value, params: &Params) -> Status {
    let phase = item.pointer("/status/phase").and_then(Value::as_str);
    let (health, message) = match phase {
        Some(p) if p == params.ready_phase => (Health::Healthy, format!("phase {p}")),
        Some("Failed") => (Health::Degraded, "phase Failed".to_owned()),
        Some(p) => (Health::Progressing, format!("phase {p}, waiting for {}", params.ready_phase)),
        None => (Health::Progressing, "no status.phase yet".to_owned()),
    };
    Status { health, message }
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Error, HealthCheck, Status};
    use serde_json::Value;

    struct Plugin;

    impl HealthCheck for Plugin {
        type Params = super::Params;

        fn assess(item: Value, params: Self::Params) -> Result<Status, Error> {
            Ok(super::assess_object(&item, &params))
        }
    }

    capstan_plugin::export_health!(Plugin);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_ready_phase_is_healthy() {
        let status = assess_object(&json!({"status": {"phase": "Ready"}}), &Params::default());
        assert!(matches!(status.health, Health::Healthy));
    }
}
