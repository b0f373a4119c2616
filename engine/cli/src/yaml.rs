//! The YAML writer behind `render -o yaml` and `hydrate`: block YAML for
//! JSON-shaped values that every reader reads back as the same value.
//!
//! serde_yaml 0.9 quotes a string only when a YAML 1.2 reader would take it
//! for something else, so `no`, `on`, `0755`, `1_000`, `1:20` or
//! `2001-12-14` come out plain and kubectl, go-yaml v2 and PyYAML (all
//! YAML 1.1) read booleans, numbers and dates back. This writer owns the
//! whole decision instead of post-processing serde_yaml's: a string is plain
//! only when it cannot be anything but a string under YAML 1.1 or 1.2 (the
//! test is deliberately wider than either resolver: anything that starts
//! like a number is quoted), multi-line strings become literal blocks, and
//! everything else is double-quoted with JSON-compatible escapes.

use serde_json::{Map, Value};

/// One YAML document (without the `---` separator) for `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value);
    out
}

/// [`to_string`], appended to `out`.
pub fn write(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) if !map.is_empty() => mapping(out, map, 0, false),
        Value::Array(items) if !items.is_empty() => sequence(out, items, 0, false),
        scalar => {
            write_scalar(out, scalar, 2, true);
            out.push('\n');
        }
    }
}

/// Writes `map` at `indent`; `inline` when its first key follows a `- `.
fn mapping(out: &mut String, map: &Map<String, Value>, indent: usize, mut inline: bool) {
    for (key, value) in map {
        if !inline {
            pad(out, indent);
        }
        inline = false;
        write_string(out, key, indent, false);
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                mapping(out, inner, indent + 2, false);
            }
            // Sequences under a key sit at the key's indentation, as kubectl writes them.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, indent, false);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar, indent + 2, true);
                out.push('\n');
            }
        }
    }
}

/// Writes `items` with their dashes at `indent`.
fn sequence(out: &mut String, items: &[Value], indent: usize, mut inline: bool) {
    for item in items {
        if !inline {
            pad(out, indent);
        }
        inline = false;
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => mapping(out, inner, indent + 2, true),
            Value::Array(inner) if !inner.is_empty() => sequence(out, inner, indent + 2, true),
            scalar => {
                write_scalar(out, scalar, indent + 2, true);
                out.push('\n');
            }
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar or an empty collection; `block_indent` is where the lines of a
/// literal block would go.
fn write_scalar(out: &mut String, value: &Value, block_indent: usize, block_ok: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => write_string(out, s, block_indent, block_ok),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// A number every reader takes for the same number: YAML 1.1 floats need a
/// dot and a signed exponent (`1e20` is a string to PyYAML).
fn number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if !n.is_f64() {
        return text;
    }
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return if text.contains('.') { text } else { format!("{text}.0") };
    };
    let mantissa = if mantissa.contains('.') { mantissa.to_owned() } else { format!("{mantissa}.0") };
    let exponent = if exponent.starts_with(['-', '+']) { exponent.to_owned() } else { format!("+{exponent}") };
    format!("{mantissa}e{exponent}")
}

fn write_string(out: &mut String, s: &str, block_indent: usize, block_ok: bool) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if block_ok && literal_block_fits(s) {
        literal_block(out, s, block_indent);
    } else {
        double_quoted(out, s);
    }
}

/// Whether `s` may be written plain: it must read back as this very string
/// in block context under YAML 1.1 and 1.2, whatever the reader.
pub fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    // Indicators, and anything a number, date, `.inf` or `-x` could start with.
    if b"-?:,[]{}#&*!|>'\"%@`+.~= \t".contains(&first) || first.is_ascii_digit() || matches!(last, b' ' | b'\t' | b':')
    {
        return false;
    }
    // One pass over the bytes for `: `, ` #` and ASCII controls, tab
    // among them (the writer's hot loop: every key and string of every
    // object).
    let mut previous = 0u8;
    for &b in bytes {
        if (previous == b':' && b == b' ') || (previous == b' ' && b == b'#') || b < b' ' || b == 0x7f {
            return false;
        }
        previous = b;
    }
    if !s.is_ascii() && s.chars().any(needs_escape) {
        return false;
    }
    !is_reserved_word(s)
}

/// The YAML 1.1 and 1.2 boolean and null words, in any case (1.1 readers
/// differ on which casings count; quoting them all is safe).
fn is_reserved_word(s: &str) -> bool {
    if s == "<<" {
        return true;
    }
    if s.len() > "infinity".len() {
        return false;
    }
    const WORDS: [&str; 12] = ["y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf", "infinity"];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// A literal block (`|`) keeps multi-line text readable; only text whose
/// lines survive block indentation exactly qualifies.
fn literal_block_fits(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && !s.chars().any(|c| c != '\n' && needs_escape(c))
        && s.split('\n').all(|line| line.is_empty() || !line.trim().is_empty())
        && !s.split('\n').any(|line| line.ends_with([' ', '\t']))
}

fn literal_block(out: &mut String, s: &str, indent: usize) {
    let body = s.trim_end_matches('\n');
    let chomp = match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    out.push('|');
    out.push_str(chomp);
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
}

/// Characters no reader takes raw: controls, YAML 1.1's extra line breaks,
/// the byte-order mark and the non-characters PyYAML refuses.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
