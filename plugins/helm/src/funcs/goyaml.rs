//! YAML text as Helm's `toYaml` writes it: `sigs.k8s.io/yaml.Marshal`, i.e.
//! Go's encoding/json, then go-yaml v2's emitter. Written out here because
//! the text itself matters (a `sha256sum` of a rendered ConfigMap is a
//! checksum annotation): go-yaml quotes a string that YAML 1.1 would read as
//! something else (`"yes"`, `"123"`, `"2001-12-14"`, `"1:20"`) in double
//! quotes, falls back to single quotes for indicators (`'a: b'`), writes
//! `|`/`|-`/`|+` blocks for multi-line text, folds long plain and quoted
//! lines at 80 columns, and sorts map keys with its "natural" order (`a2`
//! before `a10`).

use std::cmp::Ordering;
use std::sync::OnceLock;

use crate::template::Value;
use crate::template::value::go_float;

/// go-yaml's `best_width`: lines fold at a space past this column.
const WIDTH: usize = 80;
/// go-yaml's limit on a simple (`key: value`) key.
const MAX_SIMPLE_KEY: usize = 128;

/// `v` as go-yaml v2 prints it after a JSON round trip, with the trailing
/// newline.
pub fn emit(v: &Value) -> String {
    let mut e = Emitter { out: String::new(), column: 0 };
    match v {
        Value::Map(m) if !m.borrow().is_empty() => e.map(v, 0),
        Value::List(l) if !l.is_empty() => e.seq(v, 0),
        _ => e.scalar_or_empty(v, 0, false),
    }
    e.out.push('\n');
    e.out
}

struct Emitter {
    out: String,
    /// Characters on the current line.
    column: usize,
}

/// How a string is written.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        match s.rfind('\n') {
            Some(i) => self.column = s[i + 1..].chars().count(),
            None => self.column += s.chars().count(),
        }
        self.out.push_str(s);
    }

    fn put_char(&mut self, c: char) {
        self.out.push(c);
        self.column = if c == '\n' { 0 } else { self.column + 1 };
    }

    fn newline_indent(&mut self, indent: usize) {
        self.put_char('\n');
        for _ in 0..indent {
            self.put_char(' ');
        }
    }

    /// A block mapping whose keys start at `indent`, the first on the current line.
    fn map(&mut self, v: &Value, indent: usize) {
        let Value::Map(m) = v else { return };
        let m = m.borrow();
        let mut entries: Vec<(&String, &Value)> = m.iter().collect();
        entries.sort_by(|a, b| key_order(a.0, b.0));
        for (i, (k, val)) in entries.into_iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            if k.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) || k.chars().count() > MAX_SIMPLE_KEY {
                // go-yaml writes a key it cannot write simply as `? key` / `: value`.
                self.put("? ");
                self.string(k, indent, false);
                self.newline_indent(indent);
                self.put(":");
            } else {
                self.string(k, indent, true);
                self.put(":");
            }
            self.value(val, indent);
        }
    }

    /// What follows `key:` (or `- `): nested blocks go below, scalars after a space.
    fn value(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Map(m) if !m.borrow().is_empty() => {
                self.newline_indent(indent + 2);
                self.map(v, indent + 2);
            }
            // A sequence in a mapping is not indented (go-yaml's "indentless" sequence).
            Value::List(l) if !l.is_empty() => {
                self.newline_indent(indent);
                self.seq(v, indent);
            }
            _ => {
                self.put_char(' ');
                self.scalar_or_empty(v, indent, false);
            }
        }
    }

    /// A block sequence whose dashes sit at `indent`, the first on the current line.
    fn seq(&mut self, v: &Value, indent: usize) {
        let Value::List(l) = v else { return };
        for (i, item) in l.iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            self.put("-");
            match item {
                Value::Map(m) if !m.borrow().is_empty() => {
                    self.put_char(' ');
                    self.map(item, indent + 2);
                }
                Value::List(l) if !l.is_empty() => {
                    self.put_char(' ');
                    self.seq(item, indent + 2);
                }
                _ => {
                    self.put_char(' ');
                    self.scalar_or_empty(item, indent, false);
                }
            }
        }
    }

    /// A scalar, `{}` or `[]`; `indent` is that of the enclosing block.
    fn scalar_or_empty(&mut self, v: &Value, indent: usize, key: bool) {
        match v {
            Value::Nil => self.put("null"),
            Value::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.put(&i.to_string()),
            Value::Float(f) => self.put(&json_number(*f)),
            Value::Str(s) => self.string(s, indent, key),
            Value::Map(_) => self.put("{}"),
            Value::List(_) => self.put("[]"),
            Value::Obj(o) => self.string(&o.show(), indent, key),
        }
    }

    /// A string in the style go-yaml picks; continuation lines at `indent + 2`.
    fn string(&mut self, s: &str, indent: usize, key: bool) {
        let style = style(s, key);
        let inner = indent + 2;
        match style {
            Style::Plain => self.folded(s, inner, !key, Fold::Plain),
            Style::Single => {
                self.put_char('\'');
                self.folded(s, inner, !key, Fold::Single);
                self.put_char('\'');
            }
            Style::Double => {
                self.put_char('"');
                // go-yaml's `is_bom` looks at the first bytes of the whole
                // value: after a leading BOM every character is escaped.
                let fold = if s.starts_with('\u{feff}') { Fold::Escaped } else { Fold::Double };
                self.folded(s, inner, !key, fold);
                self.put_char('"');
            }
            Style::Literal => self.literal(s, inner),
        }
    }

    /// Writes `s` on one line, breaking at a single space once past
    /// [`WIDTH`] (go-yaml's `write_plain_scalar` and the quoted writers).
    fn folded(&mut self, s: &str, inner: usize, breaks: bool, fold: Fold) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' && fold != Fold::Escaped {
                let next_space = chars.get(i + 1) == Some(&' ');
                let inside = i > 0 && i + 1 < chars.len();
                let can_break = breaks
                    && !spaces
                    && self.column > WIDTH
                    && match fold {
                        Fold::Plain => !next_space,
                        Fold::Single => inside && !next_space,
                        Fold::Double | Fold::Escaped => inside,
                    };
                if can_break {
                    self.newline_indent(inner);
                    if fold == Fold::Double && next_space {
                        self.put_char('\\');
                    }
                } else {
                    self.put_char(' ');
                }
                spaces = true;
                continue;
            }
            spaces = false;
            match fold {
                Fold::Single if c == '\'' => self.put("''"),
                Fold::Double => self.double_char(c, false),
                Fold::Escaped => self.double_char(c, true),
                _ => self.put_char(c),
            }
        }
    }

    fn double_char(&mut self, c: char, all: bool) {
        let esc = match c {
            '\0' => "\\0",
            '\u{7}' => "\\a",
            '\u{8}' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\u{b}' => "\\v",
            '\u{c}' => "\\f",
            '\r' => "\\r",
            '\u{1b}' => "\\e",
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{85}' => "\\N",
            '\u{2028}' => "\\L",
            '\u{2029}' => "\\P",
            c if all || !printable(c) || c == '\u{feff}' => {
                let n = c as u32;
                let s = if n <= 0xff {
                    format!("\\x{n:02X}")
                } else if n <= 0xffff {
                    format!("\\u{n:04X}")
                } else {
                    format!("\\U{n:08X}")
                };
                self.put(&s);
                return;
            }
            c => {
                self.put_char(c);
                return;
            }
        };
        self.put(esc);
    }

    /// `|` with go-yaml's indentation and chomping hints, lines at `inner`.
    fn literal(&mut self, s: &str, inner: usize) {
        self.put_char('|');
        if s.starts_with([' ', '\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) {
            self.put_char('2');
        }
        let mut rev = s.chars().rev();
        let (last, before) = (rev.next(), rev.next());
        match (last.is_some_and(is_break), before.is_none_or(is_break)) {
            (false, _) => self.put_char('-'),
            (true, true) => self.put_char('+'),
            (true, false) => {}
        }
        let mut at_line_start = true;
        self.put_char('\n');
        for c in s.chars() {
            if is_break(c) {
                self.out.push(c);
                self.column = 0;
                at_line_start = true;
                continue;
            }
            if at_line_start {
                for _ in 0..inner {
                    self.put_char(' ');
                }
                at_line_start = false;
            }
            self.put_char(c);
        }
        if self.out.ends_with('\n') {
            // The node's own line break comes from the caller.
            self.out.pop();
            self.column = 0;
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Fold {
    Plain,
    Single,
    Double,
    /// Double-quoted with every character escaped.
    Escaped,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable` (with the emitter's unicode flag on).
fn printable(c: char) -> bool {
    matches!(c as u32, 0x0a | 0x20..=0x7e | 0xa0..=0xd7ff | 0xe000..=0xfffd) && c != '\u{feff}'
}

/// A float as encoding/json writes it (shortest digits, no exponent below
/// 1e21) and go-yaml reads it back: an integer that fits int64 or uint64
/// prints as those digits, anything else as `%g`.
fn json_number(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if f.fract() == 0.0 && (-(2f64.powi(63))..2f64.powi(64)).contains(&f) {
        // Rust's `{}` is also the shortest round-trip form without exponent.
        return format!("{f}");
    }
    go_float(f)
}

/// go-yaml v2's `emitter.analyze_scalar` and `select_scalar_style` for a
/// string the encoder asked to write plain (or literal, with a newline).
fn style(s: &str, key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if !resolves_to_non_string(s) {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    let multiline = a.line_breaks;
    let mut style = requested;
    if key && multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain || (s.is_empty() && key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block || key) {
        style = Style::Double;
    }
    style
}

struct Analysis {
    line_breaks: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis { line_breaks: false, block_plain: true, single: true, block: false };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut preceded_by_ws, mut prev_space, mut prev_break) = (true, false, false);
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = i + 1 >= n || matches!(chars[i + 1], ' ' | '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true
                }
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        special |= !printable(c);
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i + 1 == n;
            break_space |= prev_break;
            (prev_space, prev_break) = (true, false);
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i + 1 == n;
            space_break |= prev_space;
            (prev_space, prev_break) = (false, true);
        } else {
            (prev_space, prev_break) = (false, false);
        }
        preceded_by_ws = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    let mut a = Analysis { line_breaks, block_plain: true, single: true, block: true };
    if leading_space || leading_break || trailing_space || trailing_break || line_breaks || block_indicators {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    a
}

/// Whether go-yaml v2 would read `s`, unquoted, as anything but a string:
/// null, a YAML 1.1 bool, a number (`0x1F`, `1_000`, `.5`, `+.inf`), a
/// timestamp (`2001-12-14`) or a base-60 float (`1:20`).
pub fn resolves_to_non_string(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF")
        || matches!(s, "-.inf" | "-.Inf" | "-.INF")
    {
        return true;
    }
    if !s.is_empty() && s.starts_with('.') {
        // Go's ParseFloat: `.5`, `.5e3`.
        return s[1..].bytes().next().is_some_and(|b| b.is_ascii_digit()) && s.parse::<f64>().is_ok();
    }
    if !matches!(capstan_plugin::yaml::resolve_plain(s), serde_json::Value::String(_)) {
        return true;
    }
    timestamp(s) || base60(s)
}

/// go-yaml v2's `parseTimestamp`: `2006-1-2`, `2006-1-2 15:4:5.999999999`
/// or `2006-1-2T15:4:5.999999999Z07:00` (`t` too).
fn timestamp(s: &str) -> bool {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:([Tt ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$",
        )
        .unwrap_or_else(|_| unreachable!("a valid pattern"))
    });
    let Some(c) = re.captures(s) else { return false };
    let num = |i: usize| c.get(i).map_or(0, |m| m.as_str().parse::<u32>().unwrap_or(99));
    let (year, month, day) = (num(1), num(2), num(3));
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return false;
    }
    match c.get(4).map(|m| m.as_str()) {
        None => true,
        Some(sep) => {
            let zoned = c.get(8).is_some();
            // `T`/`t` need a zone, a space forbids one.
            let zone_ok = if sep == " " { !zoned } else { zoned };
            zone_ok && num(5) < 24 && num(6) < 60 && num(7) < 60
        }
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// go-yaml v2's `isBase60Float`: `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`.
fn base60(s: &str) -> bool {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .unwrap_or_else(|_| unreachable!("a valid pattern"))
    });
    s.contains(':') && re.is_match(s)
}

/// go-yaml v2's key order (`keyList.Less`): runs of digits compare as
/// numbers, letters before other characters, then by code point.
pub fn key_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    (an, bn) = (1, 1);
                    break;
                }
            }
        }
        let (mut ai, mut bi) = (i, i);
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}
