//! The fast path of [`super::from_str`]: a line reader for the plain block
//! YAML that manifests are mostly written in. [`parse`] returns exactly what
//! the event reader would (documents as `serde_json::Value`s, null
//! documents left out), or `None` when the text uses anything outside the
//! subset it knows; the event reader then reads it and reports errors.
//!
//! Why: reading files was half of a large kustomize render's time inside
//! the sandbox (an event parser allocates for every token).
//!
//! The subset: `---` separators, comments, block mappings and sequences,
//! single-line plain and quoted scalars, `[]` and `{}`, one-line flow
//! sequences of scalars and flow mappings of plain scalars (also alone on
//! a line below their key). Not in it (so `None`): block scalars (`|`,
//! `>`), multi-line scalars, nested or multi-line flow collections,
//! anchors, aliases, tags, merge keys, duplicate or null keys,
//! directives, complex keys, tabs, carriage returns and odd indentation.
//! Plain scalars and keys resolve by the [`Rules`] given, as the event
//! reader resolves them.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::Rules;

/// Deeper nesting is left to the event reader.
const MAX_DEPTH: usize = 64;

/// The documents of `text` that are not null, or `None` outside the subset.
pub(super) fn parse(text: &str, rules: Rules) -> Option<Vec<Value>> {
    read(text, rules, &mut Values)
}

/// The documents of `text` that are not null as JSON text, each with where
/// its top-level keys' values are in it, or `None` outside the subset: what
/// [`parse`] returns, encoded by `serde_json`, without building the values.
pub(super) fn parse_json(text: &str, rules: Rules) -> Option<Vec<super::JsonDoc>> {
    read(text, rules, &mut Json::default())
}

/// The documents of `text`, each built by `sink`.
fn read<S: Sink>(text: &str, rules: Rules, sink: &mut S) -> Option<Vec<S::Doc>> {
    if has_odd(text) {
        return None;
    }
    let mut docs = Vec::new();
    let mut lines: Vec<Line> = Vec::new();
    for raw in text.lines() {
        let content = raw.trim_start_matches(' ');
        let indent = raw.len() - content.len();
        if indent == 0 && (content.starts_with("---") || content.starts_with("...") || content.starts_with('%')) {
            let rest = content.strip_prefix("---")?;
            if !rest.is_empty() && !rest.starts_with(' ') || !is_blank(rest) {
                return None;
            }
            docs.extend(document(std::mem::take(&mut lines), rules, sink)?);
            continue;
        }
        if !is_blank(content) {
            lines.push(Line { indent, text: content.trim_end_matches(' ') });
        }
    }
    docs.extend(document(lines, rules, sink)?);
    Some(docs)
}

/// What the line reader builds as it reads: values, or JSON text. Both
/// read the same lines the same way, so the text is the values' encoding.
trait Sink {
    /// A node built.
    type Node;
    /// A mapping being built.
    type Map;
    /// A sequence being built.
    type Seq;
    /// A document built.
    type Doc;
    /// A mapping of about `keys` keys starts (`top`: the document's).
    fn map(&mut self, keys: usize, top: bool) -> Self::Map;
    /// `key` starts an entry; `false` when the mapping holds it already.
    fn key(&mut self, map: &mut Self::Map, key: String) -> bool;
    /// The value of the last key; `false` when its key was a duplicate.
    fn value(&mut self, map: &mut Self::Map, value: Self::Node) -> bool;
    fn end_map(&mut self, map: Self::Map) -> Self::Node;
    fn seq(&mut self) -> Self::Seq;
    /// An item starts.
    fn item(&mut self, seq: &mut Self::Seq);
    fn push(&mut self, seq: &mut Self::Seq, item: Self::Node);
    fn end_seq(&mut self, seq: Self::Seq) -> Self::Node;
    /// A scalar or one-line flow collection (`top`: the document's node).
    fn scalar(&mut self, value: Value, top: bool) -> Self::Node;
    /// A plain scalar, read by `rules`.
    fn plain(&mut self, text: &str, rules: Rules) -> Self::Node {
        self.scalar(rules.resolve(text), false)
    }
    /// The next document starts.
    fn begin(&mut self);
    fn doc(&mut self, root: Self::Node) -> Self::Doc;
}

/// Builds `serde_json` values.
struct Values;

impl Sink for Values {
    type Node = Value;
    type Map = (Map<String, Value>, Option<String>);
    type Seq = Vec<Value>;
    type Doc = Value;

    fn map(&mut self, keys: usize, _: bool) -> Self::Map {
        (Map::with_capacity(keys), None)
    }
    fn key(&mut self, map: &mut Self::Map, key: String) -> bool {
        map.1 = Some(key);
        true
    }
    fn value(&mut self, map: &mut Self::Map, value: Value) -> bool {
        // A duplicate key is an error: the event reader reports it.
        map.1.take().is_some_and(|key| map.0.insert(key, value).is_none())
    }
    fn end_map(&mut self, map: Self::Map) -> Value {
        Value::Object(map.0)
    }
    fn seq(&mut self) -> Vec<Value> {
        Vec::new()
    }
    fn item(&mut self, _: &mut Vec<Value>) {}
    fn push(&mut self, seq: &mut Vec<Value>, item: Value) {
        seq.push(item);
    }
    fn end_seq(&mut self, seq: Vec<Value>) -> Value {
        Value::Array(seq)
    }
    fn scalar(&mut self, value: Value, _: bool) -> Value {
        value
    }
    fn begin(&mut self) {}
    fn doc(&mut self, root: Value) -> Value {
        root
    }
}

/// Writes JSON text as `serde_json` encodes the values [`Values`] builds
/// (keys in document order), and where the top-level keys' values are.
#[derive(Default)]
struct Json {
    out: String,
    /// The top-level keys and their values' byte ranges, of this document.
    fields: Vec<(String, std::ops::Range<usize>)>,
}

/// A mapping being written: whether it is the document's, and its keys so
/// far (a duplicate makes the reader decline).
struct JsonMap {
    top: bool,
    keys: Keys,
}

/// The keys of a mapping written so far: a few are compared as written
/// (where their JSON text is in the output: equal keys are written alike),
/// more are looked up in a set (values files hold mappings of hundreds).
enum Keys {
    Few(Vec<std::ops::Range<usize>>),
    Many(std::collections::HashSet<String>),
}

/// Past this many keys, a mapping's keys move into a set.
const SCAN_KEYS: usize = 16;

impl Keys {
    fn is_empty(&self) -> bool {
        match self {
            Keys::Few(v) => v.is_empty(),
            Keys::Many(_) => false,
        }
    }

    /// Adds the key written at `at` in `out`; `false` when it is there already.
    fn insert(&mut self, out: &str, at: std::ops::Range<usize>) -> bool {
        let key = &out[at.clone()];
        match self {
            Keys::Few(v) if v.iter().any(|k| &out[k.clone()] == key) => false,
            Keys::Few(v) if v.len() < SCAN_KEYS => {
                v.push(at);
                true
            }
            Keys::Few(v) => {
                let mut set: std::collections::HashSet<String> = v.iter().map(|k| out[k.clone()].to_string()).collect();
                set.insert(key.to_string());
                *self = Keys::Many(set);
                true
            }
            Keys::Many(set) => set.insert(key.to_string()),
        }
    }
}

impl Sink for Json {
    type Node = ();
    type Map = JsonMap;
    type Seq = bool;
    type Doc = super::JsonDoc;

    fn map(&mut self, keys: usize, top: bool) -> JsonMap {
        self.out.push('{');
        JsonMap { top, keys: Keys::Few(Vec::with_capacity(keys.min(SCAN_KEYS))) }
    }
    fn key(&mut self, map: &mut JsonMap, key: String) -> bool {
        if !map.keys.is_empty() {
            self.out.push(',');
        }
        let start = self.out.len();
        write_str(&mut self.out, &key);
        let written = start..self.out.len();
        self.out.push(':');
        if map.top {
            let at = self.out.len();
            self.fields.push((key, at..at));
        }
        map.keys.insert(&self.out, written)
    }
    fn value(&mut self, map: &mut JsonMap, (): ()) -> bool {
        if map.top
            && let Some(last) = self.fields.last_mut()
        {
            last.1.end = self.out.len();
        }
        true
    }
    fn end_map(&mut self, _: JsonMap) {
        self.out.push('}');
    }
    fn seq(&mut self) -> bool {
        self.out.push('[');
        false
    }
    fn item(&mut self, started: &mut bool) {
        if std::mem::replace(started, true) {
            self.out.push(',');
        }
    }
    fn push(&mut self, _: &mut bool, (): ()) {}
    fn end_seq(&mut self, _: bool) {
        self.out.push(']');
    }
    fn scalar(&mut self, value: Value, top: bool) {
        match value {
            Value::String(s) => write_str(&mut self.out, &s),
            // A flow mapping as the document (`{kind: X}`): its keys are
            // the document's fields.
            Value::Object(m) if top => {
                let mut map = self.map(m.len(), true);
                for (k, v) in m {
                    self.key(&mut map, k);
                    self.scalar(v, false);
                    self.value(&mut map, ());
                }
                self.end_map(map);
            }
            // Numbers, booleans, null and flow collections as serde_json
            // writes them (`Display` is its encoder, into the text itself).
            other => {
                let _ = write!(self.out, "{other}");
            }
        }
    }
    fn plain(&mut self, text: &str, rules: Rules) {
        match rules.resolve_other(text) {
            Some(value) => self.scalar(value, false),
            // The text itself: no string built to be copied.
            None => write_str(&mut self.out, text),
        }
    }
    fn begin(&mut self) {
        self.out.clear();
        self.fields.clear();
    }
    fn doc(&mut self, (): ()) -> super::JsonDoc {
        super::JsonDoc { text: std::mem::take(&mut self.out), fields: std::mem::take(&mut self.fields) }
    }
}

/// `s` as a JSON string, escaped as `serde_json` escapes it.
fn write_str(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // Rare: serde_json's own escaping.
    let _ = write!(out, "{}", Value::from(s));
}

/// Whether a line's content is empty or a comment.
fn is_blank(content: &str) -> bool {
    let t = content.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// One line holding content: its indentation and text (no trailing spaces).
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// One document (`None` inside means a null document).
fn document<S: Sink>(lines: Vec<Line>, rules: Rules, sink: &mut S) -> Option<Option<S::Doc>> {
    let Some(first) = lines.first() else { return Some(None) };
    let col = first.indent;
    sink.begin();
    let mut p = Parser { lines, pos: 0, depth: 0, rules, sink };
    let v = p.block(col)?;
    (p.pos == p.lines.len()).then(|| Some(p.sink.doc(v)))
}

struct Parser<'a, 's, S> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
    rules: Rules,
    sink: &'s mut S,
}

/// A line of a block mapping: `key: rest`, or not a key at all.
enum Entry<'a> {
    Key(String, &'a str),
    NotKey,
}

fn is_dash(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

impl<'a, S: Sink> Parser<'a, '_, S> {
    fn next_indent(&self) -> Option<usize> {
        self.lines.get(self.pos).map(|l| l.indent)
    }

    /// The node starting at the current line, at column `col`.
    fn block(&mut self, col: usize) -> Option<S::Node> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let line = self.lines[self.pos];
        let v = if line.text.starts_with(['{', '[']) {
            // A flow collection on a line of its own: what `toYaml` of an
            // empty map prints under `nindent` (`securityContext:\n  {}`).
            self.pos += 1;
            scalar(line.text, self.rules).map(|v| self.emit(v, self.depth == 1))
        } else if is_dash(line.text) {
            self.sequence(col)
        } else {
            self.mapping(col)
        };
        self.depth -= 1;
        let v = v?;
        // What follows must close this node, not be indented into it.
        match self.next_indent() {
            Some(i) if i > col => None,
            _ => Some(v),
        }
    }

    fn mapping(&mut self, col: usize) -> Option<S::Node> {
        // Sized once, from its keys' lines (those at this column but a
        // value's sequence): a growing map rehashes every key it holds, a
        // sixth of reading a rendered manifest.
        let keys = self.lines[self.pos..]
            .iter()
            .take_while(|l| l.indent >= col)
            .filter(|l| l.indent == col && !is_dash(l.text))
            .count();
        let mut m = self.sink.map(keys, self.depth == 1);
        while let Some(line) = self.lines.get(self.pos).copied().filter(|l| l.indent == col) {
            if is_dash(line.text) {
                return None;
            }
            let Entry::Key(key, rest) = entry(line.text, self.rules)? else { return None };
            self.pos += 1;
            // A duplicate key is an error: the event reader reports it.
            if !self.sink.key(&mut m, key) {
                return None;
            }
            let v = self.value(col, rest, true)?;
            if !self.sink.value(&mut m, v) {
                return None;
            }
        }
        Some(self.sink.end_map(m))
    }

    fn sequence(&mut self, col: usize) -> Option<S::Node> {
        let mut items = self.sink.seq();
        while let Some(line) = self.lines.get(self.pos).copied().filter(|l| l.indent == col && is_dash(l.text)) {
            let after = &line.text[1..];
            let content = after.trim_start_matches(' ');
            self.sink.item(&mut items);
            if is_blank(content) {
                self.pos += 1;
                let v = self.value(col, "", false)?;
                self.sink.push(&mut items, v);
                continue;
            }
            if content.starts_with('-') && is_dash(content) {
                return None;
            }
            match entry(content, self.rules)? {
                Entry::Key(..) => {
                    // A mapping starting on the dash's line: its keys sit
                    // at the column of the first one.
                    let inner = col + 1 + (after.len() - content.len());
                    self.lines[self.pos] = Line { indent: inner, text: content };
                    let v = self.block(inner)?;
                    self.sink.push(&mut items, v);
                }
                Entry::NotKey => {
                    self.pos += 1;
                    let v = self.value(col, content, false)?;
                    self.sink.push(&mut items, v);
                }
            }
        }
        Some(self.sink.end_seq(items))
    }

    /// The value after `key:` (or `-`) on a line at column `col`: `rest`
    /// inline, else the lines indented below (or, for a mapping value, a
    /// sequence at the same column), else null.
    fn value(&mut self, col: usize, rest: &str, in_mapping: bool) -> Option<S::Node> {
        let rest = rest.trim_start_matches(' ');
        if is_blank(rest) {
            return match self.lines.get(self.pos) {
                Some(l) if l.indent > col => self.block(l.indent),
                Some(l) if in_mapping && l.indent == col && is_dash(l.text) => {
                    self.depth += 1;
                    let v = if self.depth > MAX_DEPTH { None } else { self.sequence(col) };
                    self.depth -= 1;
                    v
                }
                _ => Some(self.sink.scalar(Value::Null, false)),
            };
        }
        // A scalar continued on the next lines is not in the subset.
        if self.next_indent().is_some_and(|i| i > col) {
            return None;
        }
        scalar(rest, self.rules).map(|v| self.emit(v, false))
    }

    fn emit(&mut self, scalar: Scalar, top: bool) -> S::Node {
        match scalar {
            Scalar::Value(v) => self.sink.scalar(v, top),
            Scalar::Plain(text) => self.sink.plain(text, self.rules),
        }
    }
}

/// Splits `key: rest`, the key as the event reader makes it; `None` when
/// unsure or when the key is not a plain JSON key (`<<`, null).
fn entry(text: &str, rules: Rules) -> Option<Entry<'_>> {
    if let Some(q) = text.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let (key, after) = quoted(text, q)?;
        return match after.strip_prefix(':') {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => Some(Entry::Key(key, rest)),
            _ => Some(Entry::NotKey),
        };
    }
    // A flow collection is a value (a flow key is outside the subset).
    if text.starts_with(['{', '[']) {
        return Some(Entry::NotKey);
    }
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'#' if i > 0 && bytes[i - 1] == b' ' => return Some(Entry::NotKey),
            b':' if i + 1 == bytes.len() || bytes[i + 1] == b' ' => {
                let key = &text[..i];
                if key.is_empty() || key.ends_with(' ') || key == "<<" || starts_with_indicator(key) {
                    return None;
                }
                let key = rules.plain_key(key).ok()?;
                return Some(Entry::Key(key, &text[i + 1..]));
            }
            _ => {}
        }
    }
    Some(Entry::NotKey)
}

fn starts_with_indicator(s: &str) -> bool {
    s.starts_with(['-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`'])
}

/// Whether `text` holds characters YAML refuses or treats specially (C0
/// controls but the newline, DEL, C1 controls, U+FEFF, U+FFFE, U+FFFF),
/// which the event reader reports. Scanned as bytes: in valid UTF-8 those
/// characters start with bytes no other character starts with, and
/// decoding every character cost more than the check (a WASM profile).
fn has_odd(text: &str) -> bool {
    let bytes = text.as_bytes();
    let odd_at = |i: usize| match bytes[i] {
        b'\n' => false,
        0..0x20 | 0x7f => true,
        0xc2 => bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
        0xef => matches!(bytes.get(i + 1..i + 3), Some([0xbb, 0xbf] | [0xbf, 0xbe] | [0xbf, 0xbf])),
        _ => false,
    };
    // Eight bytes at a time: a word of printable ASCII and newlines (nearly
    // all of a manifest) is passed whole, any other is looked at bytewise.
    let words = bytes.chunks_exact(8);
    let tail = words.remainder().len();
    for (w, word) in words.enumerate() {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        if !plain_word(x) && (w * 8..w * 8 + 8).any(odd_at) {
            return true;
        }
    }
    (bytes.len() - tail..bytes.len()).any(odd_at)
}

/// Whether every byte of `x` is printable ASCII (0x20 to 0x7e) or `\n`
/// (SWAR: each byte's test stays in its own byte, no carries across).
fn plain_word(x: u64) -> bool {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let bytes = |b: u8| u64::from_le_bytes([b; 8]);
    // High bit set where the byte, less its own high bit, is at least 0x20.
    let at_least_space = (x & LOW7) + bytes(0x60);
    let control = !(at_least_space | x) & HIGH;
    // High bit clear where the byte is zero.
    let nonzero = |y: u64| ((y & LOW7) + LOW7) | y;
    let newline = !nonzero(x ^ bytes(b'\n')) & HIGH;
    let del = !nonzero(x ^ bytes(0x7f)) & HIGH;
    (control & !newline) | del | (x & HIGH) == 0
}

/// Where the two ASCII bytes `a` `b` first appear together in `text`. A
/// scalar is a few bytes long: a plain scan beats the two-way string
/// search, whose set-up showed in profiles of the sandboxed reader.
fn find_pair(text: &str, a: u8, b: u8) -> Option<usize> {
    text.as_bytes().windows(2).position(|w| w[0] == a && w[1] == b)
}

/// A scalar read: a value, or plain text the sink reads by the rules.
enum Scalar<'a> {
    Value(Value),
    Plain(&'a str),
}

/// A single-line scalar (no leading spaces, not blank).
fn scalar(text: &str, rules: Rules) -> Option<Scalar<'_>> {
    if let Some(q) = text.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let (s, after) = quoted(text, q)?;
        return (after.is_empty() || after.starts_with(' ') && is_blank(after))
            .then_some(Scalar::Value(Value::String(s)));
    }
    if let Some(rest) = text.strip_prefix("[]").or_else(|| text.strip_prefix("{}")) {
        if !rest.is_empty() && !rest.starts_with(' ') || !is_blank(rest) {
            return None;
        }
        let empty = if text.starts_with('[') { Value::Array(Vec::new()) } else { Value::Object(Map::new()) };
        return Some(Scalar::Value(empty));
    }
    if text.starts_with('{') {
        return flow_mapping(text, rules).map(Scalar::Value);
    }
    if text.starts_with('[') {
        return flow_sequence(text, rules).map(Scalar::Value);
    }
    // A plain scalar may start with `-` when no space follows (`-1`, `-x`).
    let dash_plain = text.starts_with('-') && !is_dash(text);
    if starts_with_indicator(text) && !dash_plain {
        return None;
    }
    let plain = match find_pair(text, b' ', b'#') {
        Some(i) => text[..i].trim_end_matches(' '),
        None => text,
    };
    if find_pair(plain, b':', b' ').is_some()
        || plain.ends_with(':')
        || plain.starts_with("--")
        || plain.starts_with("..")
    {
        return None;
    }
    Some(Scalar::Plain(plain))
}

/// A one-line flow mapping of plain keys and values (`{cpu: 10m, memory:
/// 32Mi}`, common in values files); `None` for anything richer: quotes,
/// nesting, comments, anchors, a `:` inside a key or value, empty entries.
fn flow_mapping(text: &str, rules: Rules) -> Option<Value> {
    let text = find_pair(text, b' ', b'#').map_or(text, |comment| &text[..comment]);
    let inner = text.strip_prefix('{')?.trim_end_matches(' ').strip_suffix('}')?;
    let mut m = Map::new();
    for item in inner.split(',') {
        let item = item.trim_matches(' ');
        let at = find_pair(item, b':', b' ')?;
        let (key, value) = (item[..at].trim_end_matches(' '), item[at + 2..].trim_start_matches(' '));
        if !flow_plain(key) || !flow_plain(value) || key == "<<" {
            return None;
        }
        if m.insert(rules.plain_key(key).ok()?, rules.resolve(value)).is_some() {
            return None;
        }
    }
    Some(Value::Object(m))
}

/// Whether `s` is a plain scalar of a one-line flow collection in the
/// subset: not empty, no indicator or `:` anywhere (a `-` may start it
/// when no space follows).
fn flow_plain(s: &str) -> bool {
    !s.is_empty()
        && !s.bytes().any(|b| b"{}[]\"'#&*!|>%@`?:".contains(&b))
        && (!starts_with_indicator(s) || s.starts_with('-') && !is_dash(s))
}

/// A one-line flow sequence of plain and quoted scalars (`['wget']`,
/// `[--port, "8080"]`, common in container commands); `None` for anything
/// richer: nesting, a `:` or an indicator in a plain item, empty entries.
fn flow_sequence(text: &str, rules: Rules) -> Option<Value> {
    let mut rest = text.strip_prefix('[')?;
    let mut items = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        let (item, after) = match rest.chars().next()? {
            q @ ('"' | '\'') => {
                let (s, after) = quoted(rest, q)?;
                (Value::String(s), after)
            }
            _ => {
                let end = rest.find([',', ']'])?;
                let plain = rest[..end].trim_end_matches(' ');
                if !flow_plain(plain) {
                    return None;
                }
                (rules.resolve(plain), &rest[end..])
            }
        };
        items.push(item);
        let after = after.trim_start_matches(' ');
        if let Some(next) = after.strip_prefix(',') {
            rest = next;
            continue;
        }
        let tail = after.strip_prefix(']')?;
        return (tail.is_empty() || tail.starts_with(' ') && is_blank(tail)).then_some(Value::Array(items));
    }
}

/// A quoted scalar at the start of `text` and what follows it; `None` for
/// escapes outside the common ones or a scalar not closed on the line.
fn quoted(text: &str, quote: char) -> Option<(String, &str)> {
    let body = &text[1..];
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if quote == '\'' => {
                if body[i + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some((out, &body[i + 1..]));
                }
            }
            '"' if quote == '"' => return Some((out, &body[i + 1..])),
            '\\' if quote == '"' => match chars.next()?.1 {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '/' => out.push('/'),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::Value;

    use super::{Rules, parse};

    /// `parse` either declines or agrees with the event reader, key order
    /// included (the event reader is checked against kubectl in `super`),
    /// under both rules; `true` when it took the text under kubectl's.
    fn check(text: &str) -> bool {
        let mut taken = false;
        for rules in [Rules::Kubectl, Rules::Kustomize] {
            let json = super::parse_json(text, rules);
            let Some(fast) = parse(text, rules) else {
                assert!(json.is_none(), "the JSON writer took what the value reader declined ({rules:?}):\n{text}");
                continue;
            };
            same_json(&fast, &json.expect("the JSON writer declined what the value reader took"));
            taken |= rules == Rules::Kubectl;
            let slow = super::super::from_events(text, rules, None).ok();
            let show = |v: &Option<Vec<Value>>| serde_json::to_string(v).unwrap();
            assert_eq!(
                show(&Some(fast)),
                show(&slow),
                "the fast path differs from the event reader ({rules:?}) on:\n{text}"
            );
        }
        taken
    }

    /// The JSON writer's text is serde_json's encoding of the values, and
    /// its top-level ranges hold each key's value.
    fn same_json(values: &[Value], docs: &[crate::yaml::JsonDoc]) {
        assert_eq!(values.len(), docs.len());
        for (value, doc) in values.iter().zip(docs) {
            assert_eq!(doc.text, serde_json::to_string(value).unwrap());
            let fields: Vec<(&str, String)> =
                doc.fields.iter().map(|(k, at)| (k.as_str(), doc.text[at.clone()].to_string())).collect();
            let expected: Vec<(&str, String)> = match value {
                Value::Object(m) => m.iter().map(|(k, v)| (k.as_str(), serde_json::to_string(v).unwrap())).collect(),
                _ => Vec::new(),
            };
            assert_eq!(fields, expected);
        }
    }

    #[test]
    fn the_json_writer_escapes_names_numbers_and_duplicates_as_the_values_do() {
        let text = "a: \"q\\\"t\\\\n\\t\"\nb: [1, 1.5, -0x1f, x]\nc: {d: 1e3, e: ~}\n\"k\\\"\": ö\nlist:\n- x: 1\n  y: [a, 'b''c']\n- 2\n---\n- top\n---\nempty: {}\n";
        assert!(check(text));
        let docs = super::parse_json(text, Rules::Kubectl).unwrap();
        assert_eq!(docs[0].field("b"), Some("[1,1.5,-31,\"x\"]"));
        assert_eq!(docs[1].fields, Vec::new());
        // Duplicates past the scanned few are found in the set, as the values find them.
        let many: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        assert!(check(&many));
        for dup in ["k3", "k20", "k39"] {
            let text = format!("{many}{dup}: again\n");
            assert!(super::parse_json(&text, Rules::Kubectl).is_none(), "{dup}");
            assert!(parse(&text, Rules::Kubectl).is_none(), "{dup}");
        }
    }

    #[test]
    fn the_byte_scan_for_odd_characters_matches_their_definition() {
        let odd = |c: char| {
            (c < ' ' && c != '\n')
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{feff}' | '\u{fffe}' | '\u{ffff}')
        };
        // Every character of the first two planes, alone and between others.
        for c in (0..0x20000).filter_map(char::from_u32) {
            // Alone, between others, and inside and across eight-byte words.
            for text in [
                c.to_string(),
                format!("a{c}é"),
                format!("\u{fe00}{c}\u{ef00}"),
                format!("abcdefg{c}hijklmnopq"),
                format!("abcdefghij{c}klmnopqr\n"),
            ] {
                assert_eq!(super::has_odd(&text), text.contains(odd), "U+{:04X} in {text:?}", c as u32);
            }
        }
        // Every byte in every place of a word, with plain bytes around it.
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                let want = b == b'\n' || (0x20..0x7f).contains(&b);
                assert_eq!(super::plain_word(u64::from_le_bytes(word)), want, "byte {b:#04x} at {at}");
            }
        }
        assert_eq!(super::find_pair("a: b #c", b' ', b'#'), Some(4));
        assert_eq!(super::find_pair("x:y", b':', b' '), None);
    }

    #[test]
    fn agrees_with_the_event_reader_on_every_corpus_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
        let (mut files, mut taken) = (0, 0);
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    files += 1;
                    taken += usize::from(check(&text));
                }
            }
        }
        // Most files are in the subset; the rest fall back.
        eprintln!("fast path: {taken} of {files} corpus files");
        assert!(taken * 2 > files, "only {taken} of {files} corpus files were read by the fast path");
    }

    /// Documents put together from awkward pieces (a fixed pseudo-random
    /// sequence): whatever the fast path takes must match the event reader.
    #[test]
    fn agrees_with_the_event_reader_on_generated_documents() {
        const KEYS: &[&str] = &[
            "a",
            "b",
            "name",
            "\"q k\"",
            "'s k'",
            "k k",
            "x.y/z",
            "-k",
            "k#",
            "<<",
            "\"<<\"",
            "null",
            "~",
            "1",
            "a:b",
            "\"a\"b",
            "yes",
            "On",
            "0x1F",
            "0755",
            "1.5",
            "1e3",
            "2001-12-14",
            "\"no\"",
            "1:20",
        ];
        const VALUES: &[&str] = &[
            "",
            "v",
            "1",
            "01",
            "0755",
            "08",
            "-1",
            "+1",
            "1.5",
            ".5",
            "1e3",
            "0x1f",
            "-0o7",
            "0b101",
            "~",
            "null",
            "True",
            "no",
            "yes",
            "Y",
            "n",
            "oN",
            "OFF",
            "100m",
            "256Mi",
            "1:20",
            "2001-12-14",
            "\"s\"",
            "'s'",
            "''",
            "\"a\\nb\"",
            "\"\\u00e9\"",
            "'it''s'",
            "[]",
            "{}",
            "[1]",
            "['a', b]",
            "[a, 'b c', \"d\"]",
            "[1, -2, yes]",
            "[a b , c]",
            "['x''y']",
            "[a,b]",
            "a # c",
            "a#c",
            "# c",
            "a: b",
            "a:",
            "http://h:1/p",
            "-",
            "- x",
            "-x",
            "---",
            "...",
            "&a x",
            "*a",
            "!t x",
            "|",
            ">",
            "\"x\" # c",
            "\"x\"#c",
            "é ü",
            "a  b",
            ".inf",
            "-.nan",
            "1_0",
            "18446744073709551616",
            "-9223372036854775809",
            "@x",
            "`x`",
            "%x",
            "?x",
            ":x",
            ",x",
            "=",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        let (mut taken, total) = (0, 20_000);
        for _ in 0..total {
            let mut text = String::new();
            for _ in 0..1 + next(8) {
                let indent = " ".repeat([0, 0, 2, 2, 4, 1, 3, 6][next(8)]);
                let line = match next(10) {
                    0 => format!("{indent}- {}", VALUES[next(VALUES.len())]),
                    1 => format!("{indent}- {}: {}", KEYS[next(KEYS.len())], VALUES[next(VALUES.len())]),
                    2 => format!("{indent}-"),
                    3 => ["---", "# comment", "", "--- # c", "  # c"][next(5)].to_string(),
                    _ => format!("{indent}{}: {}", KEYS[next(KEYS.len())], VALUES[next(VALUES.len())]),
                };
                text.push_str(&line);
                text.push('\n');
            }
            taken += usize::from(check(&text));
        }
        assert!(taken > total / 10, "only {taken} of {total} generated documents were read by the fast path");
    }

    #[test]
    fn one_line_flow_mappings_of_plain_scalars_agree_with_the_event_reader() {
        // (flow, whether the fast path reads it rather than declining)
        let flows = [
            ("{a: 1}", true),
            ("{a: 1, b: yes, c: ~, d: 1.5e3, e: 0755, f: -1, g: x y}", true),
            ("{cpu: 10m, memory: 32Mi}", true),
            ("{ a: 1 ,b: 2 }", true),
            ("{a: 1,}", false),
            ("{a: 1,, b: 2}", false),
            ("{a: b, a: c}", false),
            ("{a: }", false),
            ("{a:1}", false),
            ("{a}", false),
            ("{a: - x}", false),
            ("{a: -x, -b: c}", true),
            ("{a: 1} # c", true),
            ("{a: 1} x", false),
            ("{k k: v}", true),
            ("{a: {b: 1}}", false),
            ("{a: 'x'}", false),
            ("{~: 1}", false),
            ("{null: 1, 1: 2, yes: 3}", false),
            ("{<<: 1}", false),
            ("{a: http://x}", false),
            ("{a: b: c}", false),
            ("{a: on, b: Off, c: 0x1F, d: .inf}", true),
        ];
        for (flow, fast) in flows {
            for text in [format!("k: {flow}\n"), format!("- {flow}\n"), format!("a:\n  b: {flow}\n  c: 1\n")] {
                assert_eq!(check(&text), fast, "taken or declined unlike expected: {text:?}");
            }
        }
    }

    #[test]
    fn agrees_with_the_event_reader_on_edge_cases() {
        let taken = [
            "a: 1\nb: -1\nc: 1.5\nd: 0x1f\ne: 0123\nf: 100m\ng: .inf\nh: 1e3\ni: -0x1f\nj: +1\nk: 1_000\n",
            "a: ~\nb: null\nc:\nd: true\ne: False\nf: yes\ng: \"x\\ny\"\nh: 'it''s'\ni: []\nj: {}\n",
            "a: b # comment\nc: 'd' # comment\n# whole line\n  # indented comment\ne: f#g\n",
            "list:\n- a\n-   b\n- name: x\n  v: 1\n-\n  nested: true\n- \n- c: d\n  e:\n  - f\n",
            "---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n",
            "  indented: root\n  second: key\n",
            "key with spaces: value with  spaces\n\"quoted key\": v\n'single': v\n\"<<\": quoted\nurl: http://x:80/y\n",
            "on: 1\nno: 2\n0x1F: 3\n1.5: 4\n\"yes\": 5\n",
            "defaultMode: 0644\ntty: yes\nstdin: on\nwhen: 2001-12-14\nt: 1:20\n",
            "a: 18446744073709551616\n",
            // `toYaml` of an empty map or list under `nindent`, as Helm charts print it.
            "securityContext:\n  {}\nresources:\n    []\nlist:\n- \n  {}\nx: 1\n",
            "a:\n  {b: 1, c: x} # c\n",
            "{}\n",
            "[]\n---\n{a: 1}\n",
            // One-line flow sequences of scalars, as container commands are written.
            "command: ['wget']\nargs: [\"a b\", c, 'it''s', -x, 1, 0755, yes, ~, 1.5] # c\n---\n- [a,b]\n",
            "a: [1, 2]\nb:\n  [x]\n",
        ];
        for text in taken {
            assert!(check(text), "the fast path declined:\n{text}");
        }
        let declined = [
            "a: |\n  block\n",
            "a: >\n  folded\n",
            "a: &x 1\nb: *x\n",
            "a: !tag 1\n",
            "a: multi\n  line\n",
            "a:\n  {}\n  b: 1\n",
            "a:\n  {}\n    b\n",
            "a: [a, [b]]\n",
            "a: [a,]\n",
            "a: [ ]\n",
            "a: [a: b]\n",
            "a: [http://x]\n",
            "a: ['x' y]\n",
            "a: [a] b\n",
            "a: [a, ,b]\n",
            "a: [\"\\x41\"]\n",
            "a:\n  {b: {c: 1}}\n",
            "a:\n\tb: 1\n",
            "a: 1\r\n",
            "a:\n    b: 1\n  c: 2\n",
            "%YAML 1.2\n---\na: 1\n",
            "? complex\n: key\n",
            "a: \"unclosed\n",
            "plain scalar document\n",
            "a: b: c\n",
            "--- a: 1\n",
            "- - nested\n",
            "a: - b\n",
            "a: \"x\"#c\n",
            "a: \u{1}\n",
            "dup: 1\nother: 2\ndup: 3\n",
            "yes: 1\ntrue: 2\n",
            "<<: {a: 1}\n",
            "null: 1\n",
        ];
        for text in declined {
            assert!(parse(text, Rules::Kubectl).is_none(), "the fast path should decline:\n{text}");
        }
    }
}
