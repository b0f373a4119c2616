//! Text that others wrote, made safe to print: [`escape_untrusted`].
//!
//! A plugin's log lines, error messages and diagnostics, and names that come
//! from a repository, end up on a terminal and in log files. Printed raw, a
//! control sequence there can clear the screen, set the window title or
//! rewrite what is already shown, and a newline can forge a whole line that
//! looks like Capstan's own (`Synced at …`, `error: application …`).
//! Everything such an author supplies goes through this one function before
//! it is printed or logged.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every character that could steer a terminal or split a line
/// shown visibly instead: newlines and tabs as `\n`, `\r`, `\t`; other C0
/// and C1 control characters (ESC included), DEL, and the Unicode
/// bidirectional controls and line separators as `\u{…}`. A backslash
/// stays as it is: the output is for people, not to be parsed back, and
/// what matters is that it is one line of inert text. Borrows when there is
/// nothing to escape.
pub fn escape_untrusted(text: &str) -> Cow<'_, str> {
    // Printable ASCII needs nothing: found byte by byte, the common case
    // skips decoding characters.
    let Some(start) = text.bytes().position(|b| !(b' '..=b'~').contains(&b)) else { return Cow::Borrowed(text) };
    let Some(first) = text[start..].find(needs_escape).map(|i| start + i) else { return Cow::Borrowed(text) };
    let mut escaped = String::with_capacity(text.len() + 16);
    escaped.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// Whether `c` must not reach a terminal as it is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional embeddings, overrides and isolates, and the marks
            // (they reorder what is shown: "Trojan Source").
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
            // Line and paragraph separators: some viewers start a new line.
            | '\u{2028}' | '\u{2029}'
        )
}

#[cfg(test)]
mod tests {
    use super::escape_untrusted;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "rendered 3 objects: ConfigMap/a — ünïcode ✓ and a \\ backslash";
        assert!(matches!(escape_untrusted(text), std::borrow::Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn control_sequences_and_newlines_are_shown_not_obeyed() {
        assert_eq!(escape_untrusted("a\nb\r\tc"), r"a\nb\r\tc");
        assert_eq!(escape_untrusted("\x1b[2J\x1b]0;pwned\x07"), r"\u{1b}[2J\u{1b}]0;pwned\u{7}");
        assert_eq!(escape_untrusted("x\u{9b}31m\u{7f}"), r"x\u{9b}31m\u{7f}");
        assert_eq!(escape_untrusted("ok\nSynced at abc123"), r"ok\nSynced at abc123");
    }

    #[test]
    fn bidi_overrides_and_separators_are_visible() {
        assert_eq!(escape_untrusted("admin\u{202e}txt.exe"), r"admin\u{202e}txt.exe");
        assert_eq!(escape_untrusted("\u{2066}a\u{2069}\u{2028}"), r"\u{2066}a\u{2069}\u{2028}");
    }
}
