//! `app-toml`: an example Capstan renderer. The rendered directory holds an
//! `app.toml` that describes one HTTP service; it expands to a Deployment,
//! a Service and a HorizontalPodAutoscaler (autoscaling/v2):
//!
//! ```toml
//! name = "shop"
//! image = "ghcr.io/acme/shop:1.4.2"   # a tag or a digest is required
//! port = 8080                          # the container's port
//! [replicas]
//! min = 2
//! max = 10
//! cpu = 70                             # average CPU utilisation, percent
//! [env]
//! LOG_LEVEL = "info"
//! ```
//!
//! Parameters (`with:`): `servicePort` (default 80), the Service's port.
//! Errors name `app.toml`, the line (for syntax) and the field.

use std::collections::BTreeMap;

use capstan_plugin::Error;
use serde::Deserialize;
use serde_json::{Value, json};

/// The file this renderer reads in the rendered directory.
pub const APP_FILE: &str = "app.toml";

/// The stage's `with:` block.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// The Service's port (traffic goes to the container's `port`).
    pub service_port: u16,
}

impl Default for Params {
    fn default() -> Self {
        Self { service_port: 80 }
    }
}

/// An `app.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Name of every object, and their `app.kubernetes.io/name` label.
    pub name: String,
    /// The container image, with a tag or a digest.
    pub image: String,
    /// The port the container listens on.
    pub port: u16,
    /// How many replicas, and when to scale.
    pub replicas: Replicas,
    /// Environment variables of the container.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The `[replicas]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replicas {
    /// The fewest replicas (and the Deployment's initial count).
    pub min: u32,
    /// The most replicas.
    pub max: u32,
    /// The average CPU utilisation, in percent, the autoscaler aims at.
    #[serde(default = "default_cpu")]
    pub cpu: u32,
}

fn default_cpu() -> u32 {
    80
}

/// Reads an `app.toml`; errors name the file, and TOML's line and column.
pub fn parse(text: &str) -> Result<App, Error> {
    let app: App = toml::from_str(text).map_err(|e| Error::InvalidInput(format!("{APP_FILE}: {e}")))?;
    check(&app)?;
    Ok(app)
}

/// What TOML's types cannot say: the fields that must agree.
fn check(app: &App) -> Result<(), Error> {
    let invalid = |field: &str, reason: String| Err(Error::InvalidInput(format!("{APP_FILE}: `{field}`: {reason}")));
    let last = app.image.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !app.image.contains('@') {
        return invalid("image", format!("{:?} has no tag or digest; pin one, e.g. {}:1.0.0", app.image, app.image));
    }
    if app.replicas.min == 0 || app.replicas.min > app.replicas.max {
        return invalid(
            "replicas",
            format!("min = {} and max = {}: need 1 <= min <= max", app.replicas.min, app.replicas.max),
        );
    }
    if !(1..=100).contains(&app.replicas.cpu) {
        return invalid("replicas.cpu", format!("{} is not a percentage between 1 and 100", app.replicas.cpu));
    }
    Ok(())
}

/// The Deployment, Service and HorizontalPodAutoscaler of an app.
pub fn expand(app: &App, params: &Params) -> Vec<Value> {
    let labels = json!({"app.kubernetes.io/name": app.name});
    let env: Vec<Value> = app.env.iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app.name, "labels": labels},
        "spec": {
            "replicas": app.replicas.min,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{
                    "name": app.name,
                    "image": app.image,
                    "ports": [{"name": "http", "containerPort": app.port}],
                    "env": env,
                }]},
            },
        },
    });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app.name, "labels": labels},
        "spec": {
            "selector": labels,
            "ports": [{"name": "http", "port": params.service_port, "targetPort": "http"}],
        },
    });
    let autoscaler = json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": app.name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
            "minReplicas": app.replicas.min,
            "maxReplicas": app.replicas.max,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": app.replicas.cpu},
            }}],
        },
    });
    vec![deployment, service, autoscaler]
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Context, Error, Level, Rendered, Renderer};

    use super::APP_FILE;

    struct AppToml;

    impl Renderer for AppToml {
        type Params = super::Params;

        fn render(ctx: &Context, params: Self::Params) -> Result<Rendered, Error> {
            let file = std::path::Path::new("/").join(&ctx.path).join(APP_FILE);
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Error::InvalidInput(format!(
                    "{}/{APP_FILE}: {e} (a directory rendered by app-toml holds one)",
                    ctx.path
                ))
            })?;
            let app = super::parse(&text)?;
            capstan_plugin::log(Level::Info, &format!("expanding {} ({})", app.name, app.image));
            Ok(Rendered { items: super::expand(&app, &params), results: Vec::new() })
        }
    }

    capstan_plugin::export_renderer!(AppToml);
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "name = \"shop\"\nimage = \"shop:1\"\nport = 8080\n[replicas]\nmin = 2\nmax = 4\n";

    #[test]
    fn an_app_expands_to_three_objects() {
        let objects = expand(&parse(APP).unwrap(), &Params::default());
        let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["Deployment", "Service", "HorizontalPodAutoscaler"]);
        assert_eq!(objects[2]["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
    }

    #[test]
    fn mistakes_name_the_file_and_field() {
        let error = |text: &str| match parse(text) {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("expected invalid input, got {other:?}"),
        };
        assert_eq!(
            error(&APP.replace("shop:1", "shop")),
            "app.toml: `image`: \"shop\" has no tag or digest; pin one, e.g. shop:1.0.0"
        );
        assert_eq!(
            error(&APP.replace("min = 2", "min = 5")),
            "app.toml: `replicas`: min = 5 and max = 4: need 1 <= min <= max"
        );
        assert!(error(&APP.replace("port = 8080", "port = \"x\"")).starts_with("app.toml: TOML parse error at line 3"));
        assert!(error(&format!("{APP}colour = 1\n")).contains("unknown field `colour`"));
    }
}
