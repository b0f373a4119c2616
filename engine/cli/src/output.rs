//! kubectl-like output: objects as YAML or JSON, results as tables
//! (the sync table itself is in [`crate::sync_cmd`]), and errors and
//! diagnostics as lines whose foreign text cannot steer the terminal.

use std::fmt::Write as _;

use anyhow::Result;
use capstan_types::text::escape_untrusted;
use capstan_types::{Diagnostic, Object};
use clap::ValueEnum;

/// `-o` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Multi-document YAML.
    Yaml,
    /// A `kind: List` JSON document.
    Json,
}

/// Writes a command's output to stdout. A reader that closed the pipe early
/// (`capstan render | head`) is not a failure of ours: the error is
/// [`std::io::ErrorKind::BrokenPipe`], which `main` turns into a quiet exit
/// (status 141, as the shell reports for tools killed by SIGPIPE), where
/// `print!` would panic.
pub fn print(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The exit status when stdout's reader went away: 128 + SIGPIPE, what the
/// shell reports for a tool that signal ended.
pub const CLOSED_PIPE_STATUS: u8 = 141;

/// Whether a write failed because stdout's reader went away (see [`print`]).
pub fn is_closed_pipe(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::BrokenPipe
}

/// [`is_closed_pipe`] anywhere in an error's chain of causes.
pub fn caused_by_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(is_closed_pipe))
}

/// Objects in the chosen format.
pub fn objects(objects: &[Object], format: Format) -> Result<String> {
    Ok(match format {
        Format::Yaml => {
            let mut out = String::new();
            for object in objects {
                out.push_str("---\n");
                crate::yaml::write(&mut out, object.as_value());
            }
            out
        }
        Format::Json => {
            let items: Vec<_> = objects.iter().map(Object::as_value).collect();
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            serde_json::to_string_pretty(&list)? + "\n"
        }
    })
}

/// An error as the CLI prints it: `error: …`, then one `  caused by: …`
/// line per cause. Causes quote plugins, repositories and servers, so each
/// is escaped: a newline or a control sequence in one cannot forge a line
/// of Capstan's own or reach the terminal.
pub fn error_report(error: &anyhow::Error) -> String {
    let mut out = format!("error: {}\n", escape_untrusted(&error.to_string()));
    for cause in error.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {}", escape_untrusted(&cause.to_string()));
    }
    out
}

/// A plugin's diagnostic as one line: `Warning: ConfigMap/a data.x: message`.
pub fn diagnostic_line(diagnostic: &Diagnostic) -> String {
    let object = diagnostic.object.as_ref().map(|o| format!("{}/{} ", o.kind, o.name)).unwrap_or_default();
    let field = diagnostic.field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default();
    let line = format!("{:?}: {object}{field}{}", diagnostic.severity, diagnostic.message);
    escape_untrusted(&line).into_owned()
}

/// Left-aligned columns separated by three spaces, like kubectl.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells.zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", text.join("   ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn columns_align() {
        let rows = [["ConfigMap".into(), "web".into()], ["Deployment".into(), "a".into()]];
        assert_eq!(table(["KIND", "NAME"], &rows), "KIND         NAME\nConfigMap    web\nDeployment   a\n");
    }
}
