//! What a plugin author should change when the host refuses or stops a
//! plugin: the host's errors say what happened, these say what to do.

use capstan_host::{Error as HostError, MAX_DEADLINE, MAX_MEMORY_BYTES, MAX_OBJECTS, MAX_OUTPUT_BYTES, World};

use crate::Error;
use crate::project::{Lang, Project};

/// The host's error, with what to change when there is something to say.
pub fn explain(error: HostError, project: Option<&Project>) -> Error {
    let help = help(&error, project);
    Error::Plugin { error, help }
}

/// How to export the project's world in its language.
pub fn export_fix(project: &Project) -> String {
    let (macro_name, class, export, helper) = match project.world {
        World::Renderer => ("export_renderer", "Render", "render", "renderer"),
        World::Transformer => ("export_transformer", "Transform", "transform", "transformer"),
        World::Validator => ("export_validator", "Validate", "validate", "validator"),
        World::Health => ("export_health", "Assess", "assess", "health"),
    };
    match project.lang {
        Lang::Rust => format!("`capstan_plugin::{macro_name}!(YourType);` in src/lib.rs"),
        Lang::Python => format!("`{class} = capstan_plugin.{helper}(your_function)` in app.py"),
        Lang::Js => format!("`export const {export} = {helper}(yourFunction);` in src/plugin.ts"),
    }
}

/// How a plugin fails a call instead of trapping, in its language.
fn fail_fix(project: Option<&Project>) -> &'static str {
    match project.map(|p| p.lang) {
        Some(Lang::Python) => "raise `capstan_plugin.Failed(…)` (or InvalidInput, InvalidConfig) instead",
        Some(Lang::Js) => "throw `new Failed(…)` (or InvalidInput, InvalidConfig) from ./capstan instead",
        Some(Lang::Rust) | None => "return `Err(Error::Failed(…))` instead",
    }
}

fn help(error: &HostError, project: Option<&Project>) -> Option<String> {
    let export = project.map_or_else(
        || "the SDK's export macro (`capstan_plugin::export_renderer!(YourType)` and friends)".to_owned(),
        export_fix,
    );
    Some(match error {
        HostError::Incompatible { reason, .. } if reason.starts_with("built against") => format!(
            "replace wit/plugin.wit with the WIT this Capstan implements (`capstan plugin wit > wit/plugin.wit`, capstan:plugin@{}) and rebuild",
            capstan_host::WIT_VERSION
        ),
        HostError::Incompatible { reason, .. } if reason.starts_with("not a Capstan plugin") => {
            format!("export exactly one Capstan interface: {export}")
        }
        HostError::Incompatible { reason, .. } if reason.starts_with("exports several") => {
            "keep one export macro: a plugin is a renderer, a transformer, a validator or a health check".to_owned()
        }
        HostError::Deadline { .. } => format!(
            "make the call faster, or give it more time: `limits: {{timeout: 30s}}` on the stage (at most {}s), `--timeout 30s` here",
            MAX_DEADLINE.as_secs()
        ),
        HostError::MemoryCap { .. } => format!(
            "use less memory, or raise the cap: `limits: {{memory: 512Mi}}` on the stage (at most {}Mi), `--memory 512Mi` here",
            MAX_MEMORY_BYTES >> 20
        ),
        HostError::OutputCap { .. } => format!(
            "return less, or raise `limits.maxOutputBytes` (at most {}Mi) and `limits.maxObjects` (at most {MAX_OBJECTS}) on the stage",
            MAX_OUTPUT_BYTES >> 20
        ),
        HostError::HandleCap { .. } => {
            "close files and directories once read (drop them); a call may hold 256 at once".to_owned()
        }
        HostError::Trap { .. } => format!(
            "the plugin panicked or trapped (its stderr is quoted above): {}, with a message that names the file or object",
            fail_fix(project)
        ),
        HostError::Plugin { kind: capstan_host::PluginErrorKind::InvalidConfig, .. } => {
            "the plugin refused its `with:` parameters: compare the test's `with:` with the parameters the plugin reads"
                .to_owned()
        }
        HostError::Garbage { .. } => {
            "every returned item must be one JSON object with `apiVersion`, `kind` and `metadata.name`".to_owned()
        }
        HostError::Shape { .. } => match project.map(|p| p.lang) {
            Some(Lang::Python | Lang::Js) => format!(
                "keep the component under {} MiB: import fewer packages (each is bundled into the component)",
                capstan_host::MAX_COMPONENT_BYTES >> 20
            ),
            Some(Lang::Rust) | None => format!(
                "build in release mode (`capstan plugin build` does) and keep the component under {} MiB and its functions small",
                capstan_host::MAX_COMPONENT_BYTES >> 20
            ),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn text(error: HostError) -> String {
        explain(error, None).to_string()
    }

    #[test]
    fn every_leash_error_says_what_to_change() {
        let plugin = "p".to_owned();
        assert_eq!(
            text(HostError::MemoryCap { plugin: plugin.clone(), cap: 1 << 20 }),
            "plugin p: memory cap exceeded: tried to grow past 1048576 bytes; to fix: use less memory, or raise the cap: `limits: {memory: 512Mi}` on the stage (at most 1024Mi), `--memory 512Mi` here"
        );
        assert!(
            text(HostError::Deadline { plugin: plugin.clone(), deadline: Duration::from_secs(5) })
                .ends_with("; to fix: make the call faster, or give it more time: `limits: {timeout: 30s}` on the stage (at most 300s), `--timeout 30s` here")
        );
        assert!(
            text(HostError::OutputCap { plugin: plugin.clone(), reason: "r".into() }).contains("limits.maxOutputBytes")
        );
        assert!(
            text(HostError::Trap { plugin, message: "unreachable".into() })
                .contains("; to fix: the plugin panicked or trapped")
        );
    }
}
