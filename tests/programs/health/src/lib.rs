//! A health check: `status.ready: true` is healthy, anything else progressing.

use capstan_plugin::{Error, Health, HealthCheck, Status};
use serde_json::Value;

struct Ready;

impl HealthCheck for Ready {
    type Params = Value;

    fn assess(item: Value, _: Value) -> Result<Status, Error> {
        Ok(match item.pointer("/status/ready") {
            Some(Value::Bool(true)) => Status { health: Health::Healthy, message: "ready".into() },
            _ => Status { health: Health::Progressing, message: "waiting for status.ready".into() },
        })
    }
}

capstan_plugin::export_health!(Ready);
