//! kubectl-like output: objects as YAML or JSON, results as tables
//! (the sync table itself is in [`crate::sync_cmd`]).

use std::fmt::Write as _;

use anyhow::Result;
use capstan_types::Object;
use clap::ValueEnum;

/// `-o` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Multi-document YAML.
    Yaml,
    /// A `kind: List` JSON document.
    Json,
}

/// Objects in the chosen format.
pub fn objects(objects: &[Object], format: Format) -> Result<String> {
    Ok(match format {
        Format::Yaml => {
            let mut out = String::new();
            for object in objects {
                out.push_str("---\n");
                out.push_str(&crate::yaml::to_string(object.as_value()));
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
