//! The executor: walks a parsed tree with a dot and variables, and reports
//! errors in Go's words (`template: NAME:LINE:COL: executing "NAME" at <NODE>: ...`).

use std::cell::RefCell;
use std::rc::Rc;

// Keyed by chart text; why foldhash is in Cargo.toml.
use foldhash::HashMap;

use super::parse::{Arg, Cmd, Names, Node, Pipe, Span, parse};
use super::value::Value;

/// A function callable from templates.
pub type Func = fn(&mut Exec, Vec<Value>) -> Result<Value, FnError>;

/// Why a function failed; Go words each case differently.
#[derive(Debug)]
pub enum FnError {
    /// The function returned an error: `error calling NAME: MSG`.
    Call(String),
    /// Argument `n` has the wrong type (reported at that argument).
    Arg(usize, String),
    /// The call itself is wrong (arity): reported as is.
    Raw(String),
}

impl From<String> for FnError {
    fn from(s: String) -> Self {
        FnError::Call(s)
    }
}

impl From<&str> for FnError {
    fn from(s: &str) -> Self {
        FnError::Call(s.to_string())
    }
}

/// The function table (Go's builtins plus Sprig and Helm's own).
pub type Funcs = HashMap<&'static str, Func>;

/// One named template: its body and the file it was parsed from.
pub struct Tmpl {
    /// Its name (a file's path or a `define`'s name).
    pub name: Rc<str>,
    /// The file name (Go's `ParseName`).
    pub file: Rc<str>,
    /// The file's source text (for line numbers). A `String` behind the
    /// `Rc`: a file's text moves in as it was read, uncopied.
    pub src: Rc<String>,
    /// The body.
    pub body: Rc<[Node]>,
}

/// All templates known to one render (files and `define`s), shared by
/// name as in Go's `template.Template` set.
#[derive(Default)]
pub struct Set {
    map: RefCell<HashMap<Rc<str>, Rc<Tmpl>>>,
    /// Parsed trees by source text: files with the same text (a library
    /// chart such as Bitnami's `common`, vendored under every subchart of an
    /// umbrella) are parsed once. A tree holds no file name, so the
    /// templates named after each file share it.
    parsed: RefCell<HashMap<Text, Rc<Shared>>>,
    names: RefCell<Names>,
}

/// A source text with its hash, computed once: an umbrella's thousands of
/// texts of kilobytes were hashed again on each lookup, insert and growth
/// of the parse cache (2 % of its render in the sandbox).
struct Text {
    hash: u64,
    text: Rc<String>,
}

impl Text {
    fn new(text: Rc<String>) -> Text {
        use std::hash::BuildHasher;
        Text { hash: foldhash::fast::FixedState::default().hash_one(text.as_str()), text }
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for Text {}

/// One source text, parsed.
struct Shared {
    root: Rc<[Node]>,
    defines: Vec<(Rc<str>, Rc<[Node]>)>,
}

impl Shared {
    /// Parses `src`; errors are reported under the file `name`.
    fn parse(name: &str, src: &str, funcs: &Funcs, names: &mut Names) -> Result<Self, String> {
        let func = |f: &str| funcs.get(f).copied();
        let parsed = parse(src, &func, names).map_err(|e| parse_error(name, src, &e))?;
        Ok(Self {
            root: parsed.root.into(),
            defines: parsed.defines.into_iter().map(|(n, body)| (n, body.into())).collect(),
        })
    }
}

fn is_empty_tree(nodes: &[Node], src: &str) -> bool {
    nodes.iter().all(|n| matches!(n, Node::Text(a, b) if src[*a..*b].trim().is_empty()))
}

/// Helm's form of a parse error: `parse error at (FILE:LINE): MSG`.
fn parse_error(name: &str, src: &str, e: &super::parse::ParseError) -> String {
    let (line, _) = line_col(src, e.pos);
    match e.msg.strip_prefix(super::parse::UNCLOSED).and_then(|rest| rest.strip_prefix(' ')) {
        Some(started) => {
            let (open_line, _) = line_col(src, started.parse().unwrap_or(0));
            format!("parse error at ({name}:{line}): unclosed action started at {name}:{open_line}")
        }
        None => format!("parse error at ({name}:{line}): {}", e.msg),
    }
}

/// Finds the line and column (Go's 0-based byte column) of `pos`.
pub fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src[..pos];
    let line = 1 + before.matches('\n').count();
    let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
    (line, col)
}

impl Set {
    /// Parses `src` as the template `name` and adds its definitions. A
    /// later non-empty definition replaces an earlier one, as in Go.
    pub fn add(&self, name: &str, src: impl Into<String>, funcs: &Funcs) -> Result<(), String> {
        let (src, shared) = self.parsed(name, Rc::new(src.into()), funcs)?;
        let file: Rc<str> = name.into();
        self.define(&file, &src, &shared.defines);
        self.put(Tmpl { name: file.clone(), file, src, body: shared.root.clone() });
        Ok(())
    }

    /// `src` parsed (once per distinct text), and the text as shared (the
    /// first copy seen: a later equal text is dropped).
    fn parsed(&self, name: &str, src: Rc<String>, funcs: &Funcs) -> Result<(Rc<String>, Rc<Shared>), String> {
        let key = Text::new(src);
        if let Some((seen, shared)) = self.parsed.borrow().get_key_value(&key) {
            return Ok((seen.text.clone(), shared.clone()));
        }
        let shared = Rc::new(Shared::parse(name, &key.text, funcs, &mut self.names.borrow_mut())?);
        let src = key.text.clone();
        self.parsed.borrow_mut().insert(key, shared.clone());
        Ok((src, shared))
    }

    /// Parses `src` as an unnamed body reported under `name` (Helm's
    /// `tpl`): its definitions join the set, the body is returned.
    pub fn parse_body(&self, name: &str, src: &str, funcs: &Funcs) -> Result<Rc<Tmpl>, String> {
        let shared = Shared::parse(name, src, funcs, &mut self.names.borrow_mut())?;
        let (file, src): (Rc<str>, Rc<String>) = (name.into(), Rc::new(src.into()));
        self.define(&file, &src, &shared.defines);
        Ok(Rc::new(Tmpl { name: file.clone(), file, src, body: shared.root }))
    }

    /// Adds the `define`s of the file `file` (text `src`).
    fn define(&self, file: &Rc<str>, src: &Rc<String>, defines: &[(Rc<str>, Rc<[Node]>)]) {
        for (n, body) in defines {
            self.put(Tmpl { name: n.clone(), file: file.clone(), src: src.clone(), body: body.clone() });
        }
    }

    /// Adds `tmpl` under its name, unless it is empty and the name exists
    /// (Go keeps the earlier, non-empty one).
    fn put(&self, tmpl: Tmpl) {
        let mut map = self.map.borrow_mut();
        if is_empty_tree(&tmpl.body, &tmpl.src) && map.contains_key(&*tmpl.name) {
            return;
        }
        map.insert(tmpl.name.clone(), Rc::new(tmpl));
    }

    /// The template `name`.
    pub fn get(&self, name: &str) -> Option<Rc<Tmpl>> {
        self.map.borrow().get(name).cloned()
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Go's limit on nested template calls (`maxExecDepth` on wasm).
const MAX_DEPTH: usize = 1000;

/// One execution: the set, functions, variables and the template being run.
pub struct Exec<'a> {
    /// The template set.
    pub set: &'a Set,
    /// The functions.
    pub funcs: &'a Funcs,
    /// Every call's variables, innermost call last: a call's own start at
    /// `base`, so a call pushes onto one vector instead of allocating.
    vars: Vec<(Rc<str>, Value)>,
    base: usize,
    dollar: Rc<str>,
    depth: usize,
    tmpl: Rc<Tmpl>,
    /// Helm's per-render context (chart name, template base path...), for
    /// functions such as `include` and `tpl`.
    pub ctx: &'a dyn std::any::Any,
}

type R<T> = Result<T, String>;

impl<'a> Exec<'a> {
    /// Runs the template `name` with `dot` into `out`.
    pub fn run(
        set: &'a Set,
        funcs: &'a Funcs,
        ctx: &'a dyn std::any::Any,
        name: &str,
        dot: &Value,
        out: &mut String,
    ) -> R<()> {
        let tmpl =
            set.get(name).ok_or_else(|| format!("template: no template {name:?} associated with template {name:?}"))?;
        let dollar = set.names.borrow_mut().get("$");
        let mut ex = Exec { set, funcs, vars: Vec::new(), base: 0, dollar, depth: 0, tmpl: tmpl.clone(), ctx };
        ex.call_tmpl(tmpl, dot, out)
    }

    /// The name of the template being executed.
    pub fn name(&self) -> &str {
        &self.tmpl.name
    }

    /// Runs the template `name` with `dot` (for `template` and `include`).
    pub fn call(&mut self, name: &str, dot: &Value, out: &mut String) -> R<()> {
        let tmpl = self
            .set
            .get(name)
            .ok_or_else(|| format!("template: no template {name:?} associated with template \"gotpl\""))?;
        self.call_tmpl(tmpl, dot, out)
    }

    /// Runs a parsed template body (for `template`, `include` and `tpl`).
    pub fn call_tmpl(&mut self, tmpl: Rc<Tmpl>, dot: &Value, out: &mut String) -> R<()> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("template: {}: exceeded maximum template depth ({MAX_DEPTH})", tmpl.name));
        }
        let mark = self.vars.len();
        self.vars.push((self.dollar.clone(), dot.clone()));
        let saved_base = std::mem::replace(&mut self.base, mark);
        let saved_tmpl = std::mem::replace(&mut self.tmpl, tmpl.clone());
        self.depth += 1;
        let r = self.walk(dot, &tmpl.body, out);
        self.depth -= 1;
        self.vars.truncate(mark);
        self.base = saved_base;
        self.tmpl = saved_tmpl;
        r.map(|_| ())
    }

    fn err<T>(&self, span: Span, msg: impl std::fmt::Display) -> R<T> {
        let (line, col) = line_col(&self.tmpl.src, span.at);
        let end = span.end.clamp(span.start, self.tmpl.src.len());
        let node = self.tmpl.src.get(span.start..end).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
        Err(format!("template: {}:{line}:{col}: executing {:?} at <{node}>: {msg}", self.tmpl.file, self.tmpl.name))
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node], out: &mut String) -> R<Flow> {
        for node in nodes {
            match node {
                Node::Text(a, b) => out.push_str(&self.tmpl.src[*a..*b]),
                Node::Action(pipe) => {
                    let v = self.pipe(dot, pipe)?;
                    if pipe.vars.is_empty() {
                        print_value(&v, out);
                    }
                }
                Node::If(n) => {
                    let super::parse::If { pipe, with, then, otherwise } = &**n;
                    let mark = self.vars.len();
                    let v = self.pipe(dot, pipe)?;
                    let flow = if v.truthy() {
                        if *with { self.walk(&v, then, out)? } else { self.walk(dot, then, out)? }
                    } else if let Some(o) = otherwise {
                        self.walk(dot, o, out)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(n) => {
                    let super::parse::Range { pipe, body, otherwise } = &**n;
                    let mark = self.vars.len();
                    let r = self.range(dot, pipe, body, otherwise.as_deref(), out);
                    self.vars.truncate(mark);
                    r?;
                }
                Node::Template(n) => {
                    let super::parse::Template { span, name, pipe } = &**n;
                    let v = match pipe {
                        Some(p) => self.pipe(dot, p)?,
                        None => Value::Nil,
                    };
                    let Some(tmpl) = self.set.get(name) else {
                        return self
                            .err(*span, format!("template: no template {name:?} associated with template \"gotpl\""));
                    };
                    self.call_tmpl(tmpl, &v, out)?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        dot: &Value,
        pipe: &Pipe,
        body: &[Node],
        otherwise: Option<&[Node]>,
        out: &mut String,
    ) -> R<()> {
        let v = self.pipe_value(dot, pipe)?;
        let mark = self.vars.len();
        let one = |ex: &mut Self, key: Value, elem: Value, out: &mut String| -> R<bool> {
            ex.vars.truncate(mark);
            match pipe.vars.len() {
                1 => ex.set_var(pipe, 0, elem.clone()),
                2 => {
                    ex.set_var(pipe, 0, key);
                    ex.set_var(pipe, 1, elem.clone());
                }
                _ => {}
            }
            Ok(!matches!(ex.walk(&elem, body, out)?, Flow::Break))
        };
        let empty = match &v {
            Value::List(l) => {
                for (i, e) in l.iter().enumerate() {
                    if !one(self, Value::Int(i as i64), e.clone(), out)? {
                        break;
                    }
                }
                l.is_empty()
            }
            Value::Map(m) => {
                let entries: Vec<(String, Value)> = m.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                for (k, e) in &entries {
                    if !one(self, Value::str(k.as_str()), e.clone(), out)? {
                        break;
                    }
                }
                entries.is_empty()
            }
            Value::Nil => true,
            Value::Obj(o) if o.entries().is_some() => {
                let entries = o.entries().unwrap_or_default();
                for (k, e) in &entries {
                    if !one(self, k.clone(), e.clone(), out)? {
                        break;
                    }
                }
                entries.is_empty()
            }
            other => {
                let at = pipe.cmds.last().and_then(|c| c.args.first()).map_or(pipe.span, |a| a.span());
                return self.err(at, format!("range can't iterate over {other}"));
            }
        };
        if empty && let Some(o) = otherwise {
            self.vars.truncate(mark);
            self.walk(dot, o, out)?;
        }
        Ok(())
    }

    fn set_var(&mut self, pipe: &Pipe, i: usize, v: Value) {
        let name = &pipe.vars[i];
        if pipe.assign {
            if let Some(slot) = self.vars[self.base..].iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
            }
        } else {
            self.vars.push((name.clone(), v));
        }
    }

    /// A pipeline's value, without declaring its variables.
    fn pipe_value(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let mut v: Option<Value> = None;
        for cmd in &pipe.cmds {
            v = Some(self.cmd(dot, cmd, v)?);
        }
        Ok(v.unwrap_or_default())
    }

    fn pipe(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let v = self.pipe_value(dot, pipe)?;
        for i in 0..pipe.vars.len() {
            self.set_var(pipe, i, v.clone());
        }
        Ok(v)
    }

    fn var(&self, name: &str) -> Value {
        self.vars[self.base..].iter().rev().find(|(n, _)| **n == *name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    fn cmd(&mut self, dot: &Value, cmd: &Cmd, fin: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        let no_args = |ex: &Self, v: Value| -> R<Value> {
            if !rest.is_empty() || fin.is_some() {
                return ex.err(first.span(), format!("can't give argument to non-function {}", ex.text(first.span())));
            }
            Ok(v)
        };
        match first {
            Arg::Field(span, fields) => {
                if fields.is_empty() {
                    return no_args(self, dot.clone());
                }
                self.chain(dot, dot.clone(), *span, fields, rest, fin)
            }
            Arg::Var(span, name, fields) => {
                let v = self.var(name);
                if fields.is_empty() {
                    return no_args(self, v);
                }
                self.chain(dot, v, *span, fields, rest, fin)
            }
            Arg::Chain(span, pipe, fields) => {
                let v = self.pipe_value(dot, pipe)?;
                if fields.is_empty() {
                    return no_args(self, v);
                }
                self.chain(dot, v, *span, fields, rest, fin)
            }
            Arg::Func(_, name, f) => self.func(dot, cmd, name, *f, rest, fin),
            Arg::Const(_, v) => no_args(self, v.clone()),
        }
    }

    fn text(&self, span: Span) -> String {
        self.tmpl.src.get(span.start..span.end).unwrap_or("").to_string()
    }

    fn chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        span: Span,
        fields: &[Rc<str>],
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let n = fields.len();
        for f in &fields[..n - 1] {
            recv = self.field(recv, f, Vec::new(), false, span)?;
        }
        let has_args = !args.is_empty() || fin.is_some();
        // Most chains are fields without arguments: no vector for them.
        let mut vals = if has_args { Vec::with_capacity(args.len() + 1) } else { Vec::new() };
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        vals.extend(fin);
        self.field(recv, &fields[n - 1], vals, has_args, span)
    }

    fn field(&mut self, recv: Value, name: &str, args: Vec<Value>, has_args: bool, span: Span) -> R<Value> {
        match &recv {
            Value::Map(m) => {
                if has_args {
                    return self.err(span, format!("{name} is not a method but has arguments"));
                }
                Ok(m.borrow().get(name).cloned().unwrap_or_default())
            }
            Value::Obj(o) => match o.field(name, &args) {
                Some(Ok(v)) => Ok(v),
                Some(Err(e)) => self.err(span, format!("error calling {name}: {e}")),
                None => self.err(span, format!("can't evaluate field {name} in type {}", o.type_name())),
            },
            Value::Nil => self.err(span, format!("nil pointer evaluating interface {{}}.{name}")),
            // Values reach templates through maps and slices: Go sees `interface {}`.
            _ => self.err(span, format!("can't evaluate field {name} in type interface {{}}")),
        }
    }

    fn arg(&mut self, dot: &Value, a: &Arg) -> R<Value> {
        match a {
            Arg::Field(span, fields) => {
                if fields.is_empty() {
                    Ok(dot.clone())
                } else {
                    self.chain(dot, dot.clone(), *span, fields, &[], None)
                }
            }
            Arg::Var(span, name, fields) => {
                let v = self.var(name);
                if fields.is_empty() { Ok(v) } else { self.chain(dot, v, *span, fields, &[], None) }
            }
            Arg::Chain(span, pipe, fields) => {
                let v = self.pipe_value(dot, pipe)?;
                if fields.is_empty() { Ok(v) } else { self.chain(dot, v, *span, fields, &[], None) }
            }
            Arg::Func(span, name, f) => {
                let cmd = Cmd { span: *span, args: Box::default() };
                self.func(dot, &cmd, name, *f, &[], None)
            }
            Arg::Const(_, v) => Ok(v.clone()),
        }
    }

    fn func(&mut self, dot: &Value, cmd: &Cmd, name: &str, f: Func, args: &[Arg], fin: Option<Value>) -> R<Value> {
        // `and` and `or` stop at the first operand that decides (Go 1.18+).
        if name == "and" || name == "or" {
            if args.is_empty() && fin.is_none() {
                return self.err(cmd.span, format!("wrong number of args for {name}: want at least 1 got 0"));
            }
            let want = name == "or";
            let mut last = Value::Nil;
            for a in args {
                last = self.arg(dot, a)?;
                if last.truthy() == want {
                    return Ok(last);
                }
            }
            return Ok(fin.unwrap_or(last));
        }
        let mut vals = Vec::with_capacity(args.len() + usize::from(fin.is_some()));
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        vals.extend(fin);
        match f(self, vals) {
            Ok(v) => Ok(v),
            Err(FnError::Call(e)) => self.err(cmd.span, format!("error calling {name}: {e}")),
            Err(FnError::Raw(e)) => self.err(cmd.args.first().map_or(cmd.span, |a| a.span()), e),
            Err(FnError::Arg(i, e)) => self.err(args.get(i).map_or(cmd.span, Arg::span), e),
        }
    }
}

/// Writes what an action prints: `<no value>` for nil, else `%v`.
pub fn print_value(v: &Value, out: &mut String) {
    use std::fmt::Write as _;
    match v {
        Value::Nil => out.push_str("<no value>"),
        Value::Str(s) => out.push_str(s),
        v => {
            let _ = write!(out, "{v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(set: &Set, funcs: &Funcs, name: &str) -> R<String> {
        let mut out = String::new();
        Exec::run(set, funcs, &(), name, &Value::Nil, &mut out)?;
        Ok(out)
    }

    #[test]
    fn files_with_the_same_text_share_one_parse_and_keep_their_names() {
        let funcs = crate::funcs::all();
        let set = Set::default();
        let text = "{{- define \"lib.x\" }}x{{ end -}}\n{{ template \"lib.x\" }}{{ .Nope.deeper }}";
        set.add("a/templates/t.yaml", text, &funcs).unwrap();
        set.add("b/templates/t.yaml", text, &funcs).unwrap();
        set.add("c/templates/other.yaml", "{{ template \"lib.x\" }}", &funcs).unwrap();
        assert_eq!(set.parsed.borrow().len(), 2, "two distinct texts, two parses");
        let (a, b) = (set.get("a/templates/t.yaml").unwrap(), set.get("b/templates/t.yaml").unwrap());
        assert!(Rc::ptr_eq(&a.body, &b.body) && Rc::ptr_eq(&a.src, &b.src));
        assert_eq!(&*b.file, "b/templates/t.yaml");
        // An error in the shared tree names the file that ran it.
        let err = run(&set, &funcs, "b/templates/t.yaml").unwrap_err();
        assert!(err.starts_with("template: b/templates/t.yaml:2:"), "{err}");
        assert_eq!(run(&set, &funcs, "c/templates/other.yaml").unwrap(), "x");
        // A parse error is not cached: the same bad text fails for each file.
        for name in ["d.yaml", "e.yaml"] {
            let err = set.add(name, "{{ if }}", &funcs).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
    }
}
