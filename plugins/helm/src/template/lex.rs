//! The lexer of Go's `text/template`: text runs and action tokens, with the
//! `{{-` / `-}}` trim markers applied to the surrounding text.

use std::borrow::Cow;

/// One token inside an action (or a text run between actions). Names and
/// text borrow the source: lexing allocates only for strings with escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok<'s> {
    /// Text outside actions, already trimmed.
    Text(&'s str),
    /// `{{` (trim markers consumed).
    Open,
    /// `}}`.
    Close,
    /// `.Name`.
    Field(&'s str),
    /// `.` alone.
    Dot,
    /// `$name` or `$`.
    Var(&'s str),
    /// An identifier: function name or keyword.
    Ident(&'s str),
    /// A quoted or raw string, unescaped.
    Str(Cow<'s, str>),
    /// A number literal as written.
    Number(&'s str),
    /// A character constant (an int in Go).
    Char(i64),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `|`.
    Pipe,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `,`.
    Comma,
}

/// A token with its byte offset and whether white space preceded it.
#[derive(Debug, Clone)]
pub struct Token<'s> {
    /// The token.
    pub tok: Tok<'s>,
    /// Byte offset in the source.
    pub pos: usize,
    /// Whether space separates it from the previous token.
    pub spaced: bool,
    /// Where an operand ending with it ends (for `at <...>` spans): after
    /// a field, variable, identifier or number, one byte after anything
    /// else. Kept apart from `tok`, which the parser takes.
    pub end: usize,
}

impl<'s> Token<'s> {
    fn new(tok: Tok<'s>, pos: usize, spaced: bool) -> Token<'s> {
        let width = match &tok {
            Tok::Field(f) => f.len() + 1,
            Tok::Var(v) | Tok::Ident(v) | Tok::Number(v) => v.len(),
            _ => 1,
        };
        Token { tok, pos, spaced, end: pos + width }
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits `src` into tokens; errors carry the byte offset.
pub fn lex(src: &str) -> Result<Vec<Token<'_>>, (usize, String)> {
    let b = src.as_bytes();
    // About a token per eight bytes in charts' templates: grown once at most.
    let mut out = Vec::with_capacity(src.len() / 8 + 4);
    let mut i = 0;
    let mut trim_next = false;
    while i < b.len() {
        let open = find_open(b, i);
        let end = open.unwrap_or(b.len());
        let mut text = &src[i..end];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        let Some(open) = open else {
            if !text.is_empty() {
                out.push(text_token(src, text));
            }
            break;
        };
        let mut j = open + 2;
        let trim_left = b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(|c| is_space(*c));
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            j += 1;
        }
        if !text.is_empty() {
            out.push(text_token(src, text));
        }
        // A comment: {{/* ... */}} with optional trim markers.
        let mut k = j;
        while k < b.len() && is_space(b[k]) && trim_left {
            k += 1;
        }
        if src[k..].starts_with("/*") {
            let close = src[k + 2..].find("*/").ok_or_else(|| (open, "unclosed comment".to_string()))? + k + 2;
            let mut m = close + 2;
            let mut trim_right = false;
            let ws = src[m..].len() - src[m..].trim_start_matches([' ', '\t', '\r', '\n']).len();
            if ws > 0 && src[m + ws..].starts_with("-}}") {
                trim_right = true;
                m += ws + 1;
            }
            if !src[m..].starts_with("}}") {
                return Err((open, "comment ends before closing delimiter".into()));
            }
            trim_next = trim_right;
            i = m + 2;
            continue;
        }
        out.push(Token::new(Tok::Open, open, false));
        let (next, trim_right) = lex_action(src, j, &mut out)?;
        trim_next = trim_right;
        i = next;
    }
    Ok(out)
}

/// The token of a text run, a slice of `src`: it sits where the slice starts.
fn text_token<'s>(src: &'s str, text: &'s str) -> Token<'s> {
    Token::new(Tok::Text(text), text.as_ptr() as usize - src.as_ptr() as usize, false)
}

/// Where the next `{{` starts at or after `i`: a search for `{` (a
/// `memmem::find` call builds a searcher each time, which cost more than
/// the search on short text runs).
fn find_open(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(o) = memchr::memchr(b'{', &b[i..]) {
        if b.get(i + o + 1) == Some(&b'{') {
            return Some(i + o);
        }
        i += o + 1;
    }
    None
}

/// Lexes the inside of one action from `i`; returns the offset after `}}`
/// and whether it ended with `-}}`.
fn lex_action<'s>(src: &'s str, mut i: usize, out: &mut Vec<Token<'s>>) -> Result<(usize, bool), (usize, String)> {
    let b = src.as_bytes();
    let mut spaced = true;
    let mut depth = 0usize;
    loop {
        if i >= b.len() {
            return Err((
                i,
                format!(
                    "{} {}",
                    super::parse::UNCLOSED,
                    out.iter().rev().find(|t| t.tok == Tok::Open).map_or(0, |t| t.pos)
                ),
            ));
        }
        let c = b[i];
        if is_space(c) {
            // ` -}}` closes with trimming.
            let mut k = i;
            while k < b.len() && is_space(b[k]) {
                k += 1;
            }
            if src[k..].starts_with("-}}") {
                if depth > 0 {
                    return Err((k, "unclosed left paren".into()));
                }
                out.push(Token::new(Tok::Close, k, true));
                return Ok((k + 3, true));
            }
            i = k;
            spaced = true;
            continue;
        }
        if src[i..].starts_with("}}") {
            if depth > 0 {
                return Err((i, "unclosed left paren".into()));
            }
            out.push(Token::new(Tok::Close, i, spaced));
            return Ok((i + 2, false));
        }
        let start = i;
        let tok = match c {
            b'(' => {
                depth += 1;
                i += 1;
                Tok::LParen
            }
            b')' => {
                if depth == 0 {
                    return Err((i, "unexpected right paren".into()));
                }
                depth -= 1;
                i += 1;
                Tok::RParen
            }
            b'|' => {
                i += 1;
                Tok::Pipe
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Declare
            }
            b'=' => {
                i += 1;
                Tok::Assign
            }
            b'"' => {
                let (s, n) = quoted(src, i)?;
                i = n;
                Tok::Str(s)
            }
            b'`' => {
                let close = src[i + 1..].find('`').ok_or_else(|| (i, "unterminated raw quoted string".to_string()))?;
                let s = &src[i + 1..i + 1 + close];
                i += close + 2;
                Tok::Str(Cow::Borrowed(s))
            }
            b'\'' => {
                let (s, n) = quoted(src, i)?;
                i = n;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(ch), None) => Tok::Char(ch as i64),
                    _ => return Err((start, format!("malformed character constant: {}", &src[start..n]))),
                }
            }
            b'.' if b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                i = number_end(b, i);
                Tok::Number(&src[start..i])
            }
            b'.' => {
                i += 1;
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                    i += 1;
                }
                if s == i { Tok::Dot } else { Tok::Field(&src[s..i]) }
            }
            b'$' => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                    i += 1;
                }
                Tok::Var(&src[start..i])
            }
            b'0'..=b'9' | b'-' | b'+' => {
                i = number_end(b, i);
                if i == start + 1 && !c.is_ascii_digit() {
                    return Err((start, format!("bad character {:?}", c as char)));
                }
                Tok::Number(&src[start..i])
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                    i += 1;
                }
                Tok::Ident(&src[start..i])
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err((i, format!("unexpected {ch:?} in command")));
            }
        };
        out.push(Token::new(tok, start, spaced));
        spaced = false;
    }
}

fn number_end(b: &[u8], mut i: usize) -> usize {
    if matches!(b[i], b'-' | b'+') {
        i += 1;
    }
    while i < b.len() {
        let c = b[i];
        let exp_sign = matches!(c, b'+' | b'-') && i > 0 && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P');
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exp_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// A Go interpreted string (or character constant) starting at `i`,
/// borrowed when it has no escapes.
fn quoted(src: &str, i: usize) -> Result<(Cow<'_, str>, usize), (usize, String)> {
    let b = src.as_bytes();
    let q = b[i];
    if let Some(k) = b[i + 1..].iter().position(|c| matches!(*c, b'\\' | b'\n') || *c == q)
        && b[i + 1 + k] == q
    {
        return Ok((Cow::Borrowed(&src[i + 1..i + 1 + k]), i + k + 2));
    }
    let q = q as char;
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            _ if c == q => return Ok((Cow::Owned(out), i + 1 + k + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' | '"' | '\'' => out.push(e),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        let code =
                            u32::from_str_radix(&hex, 16).map_err(|_| (i, "invalid escape in string".to_string()))?;
                        out.push(char::from_u32(code).ok_or_else(|| (i, "invalid escape in string".to_string()))?);
                    }
                    '0'..='7' => {
                        let rest: String = (0..2).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        let code = u32::from_str_radix(&format!("{e}{rest}"), 8)
                            .map_err(|_| (i, "invalid escape".to_string()))?;
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    _ => return Err((i, "unknown escape sequence".into())),
                }
            }
            _ => out.push(c),
        }
    }
    Err((i, "unterminated quoted string".into()))
}
