//! The parser of Go's `text/template`: tokens → a tree of nodes, with
//! `define`/`block` bodies collected into the template set.

use std::rc::Rc;

use super::exec::Func;
use super::lex::{Tok, Token, lex};
use super::value::Value;

/// The names of a template set (fields, variables, functions), each held
/// once: an umbrella's thousands of templates repeat a few hundred names,
/// so a tree shares them instead of allocating each occurrence.
#[derive(Default)]
pub struct Names(foldhash::HashSet<Rc<str>>);

impl Names {
    /// The shared copy of `name`.
    pub fn get(&mut self, name: &str) -> Rc<str> {
        if let Some(n) = self.0.get(name) {
            return n.clone();
        }
        let n: Rc<str> = name.into();
        self.0.insert(n.clone());
        n
    }
}

/// A byte span in the source (for error positions and `at <...>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    /// Start offset.
    pub start: usize,
    /// End offset.
    pub end: usize,
    /// Where Go reports the node (a chain `.a.b` at its second field).
    pub at: usize,
}

impl Span {
    /// A span reported at its start.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end, at: start }
    }
}

/// A node of the tree, kept small: a text run (about half of all nodes)
/// is two offsets, and every other kind lives behind a box.
#[derive(Debug)]
pub enum Node {
    /// Literal text: a byte range of the template's source.
    Text(usize, usize),
    /// `{{pipeline}}`.
    Action(Box<Pipe>),
    /// `if`, `with` (`with: true`) with optional else branch.
    If(Box<If>),
    /// `range`.
    Range(Box<Range>),
    /// `template "name" pipeline`.
    Template(Box<Template>),
    /// `break`.
    Break,
    /// `continue`.
    Continue,
}

/// `if` and `with`.
#[derive(Debug)]
pub struct If {
    /// The condition (and the new dot for `with`).
    pub pipe: Pipe,
    /// `with` rather than `if`.
    pub with: bool,
    /// The branch taken when the pipeline is true.
    pub then: Nodes,
    /// `else`, when written.
    pub otherwise: Option<Nodes>,
}

/// `range`.
#[derive(Debug)]
pub struct Range {
    /// What is iterated.
    pub pipe: Pipe,
    /// The body, once per element.
    pub body: Nodes,
    /// `else`, run when there is nothing to iterate.
    pub otherwise: Option<Nodes>,
}

/// `template "name" pipeline`.
#[derive(Debug)]
pub struct Template {
    /// Where it is.
    pub span: Span,
    /// The template called.
    pub name: Rc<str>,
    /// Its dot.
    pub pipe: Option<Pipe>,
}

/// A list of nodes. Trees live as long as the render and umbrellas hold
/// thousands: lists, commands and arguments are boxed slices, without the
/// spare capacity a growing `Vec` keeps (a third of a tree's bytes).
pub type Nodes = Box<[Node]>;

/// A pipeline, with the variables it declares or assigns.
#[derive(Debug)]
pub struct Pipe {
    /// Where it is.
    pub span: Span,
    /// Variables (`$x :=` or `$k, $v :=`).
    pub vars: Box<[Rc<str>]>,
    /// `=` rather than `:=`.
    pub assign: bool,
    /// The commands, separated by `|`.
    pub cmds: Box<[Cmd]>,
}

/// One command: an operand followed by arguments.
#[derive(Debug)]
pub struct Cmd {
    /// Where it is.
    pub span: Span,
    /// The operands.
    pub args: Box<[Arg]>,
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// `.` followed by fields (`.A.B`; none for `.` alone).
    Field(Span, Fields),
    /// `$x.A.B`.
    Var(Span, Rc<str>, Fields),
    /// A function: its name, and the function it names.
    Func(Span, Rc<str>, Func),
    /// `(pipeline).A.B`.
    Chain(Span, Box<Pipe>, Fields),
    /// A constant.
    Const(Span, Value),
}

/// A chain of field names (`.A.B`).
pub type Fields = Box<[Rc<str>]>;

impl Arg {
    /// Its span.
    pub fn span(&self) -> Span {
        match self {
            Arg::Field(s, _) | Arg::Var(s, _, _) | Arg::Func(s, _, _) | Arg::Chain(s, _, _) | Arg::Const(s, _) => *s,
        }
    }
}

/// A parsed template: its body and the definitions found in it.
pub struct Parsed {
    /// The top-level body.
    pub root: Nodes,
    /// `define` and `block` bodies, in source order.
    pub defines: Vec<(Rc<str>, Nodes)>,
}

/// A parse error: byte offset and Go's message.
#[derive(Debug)]
pub struct ParseError {
    /// Byte offset.
    pub pos: usize,
    /// The message.
    pub msg: String,
}

/// Marks a lexer message whose action opened at the given offset
/// (`unclosed action started at FILE:LINE`).
pub const UNCLOSED: &str = "unclosed action";

/// Parses `src`; `func` finds a function by name (Go refuses undefined
/// functions at parse time; the tree keeps the function found, so a call
/// does not look it up again); names come from `names`.
pub fn parse(src: &str, func: &dyn Fn(&str) -> Option<Func>, names: &mut Names) -> Result<Parsed, ParseError> {
    let toks = lex(src).map_err(|(pos, msg)| ParseError { pos, msg })?;
    let mut p = Parser {
        toks,
        i: 0,
        src_len: src.len(),
        func,
        names,
        defines: Vec::new(),
        vars: vec!["$"],
        nodes: Vec::new(),
        cmds: Vec::new(),
        args: Vec::new(),
        first_field: None,
    };
    let (root, end) = p.list()?;
    if let Some((kw, pos)) = end {
        return Err(ParseError { pos, msg: format!("unexpected {{{{{kw}}}}}") });
    }
    Ok(Parsed { root, defines: p.defines })
}

struct Parser<'a, 's> {
    toks: Vec<Token<'s>>,
    i: usize,
    src_len: usize,
    func: &'a dyn Fn(&str) -> Option<Func>,
    names: &'a mut Names,
    defines: Vec<(Rc<str>, Nodes)>,
    /// The variables in scope, innermost last; a scope ends by truncating.
    vars: Vec<&'s str>,
    /// The lists being built, innermost last: each ends as a boxed slice of
    /// its exact length (one allocation, no growth) drained off the top.
    nodes: Vec<Node>,
    cmds: Vec<Cmd>,
    args: Vec<Arg>,
    first_field: Option<usize>,
}

type Ended = Option<(&'static str, usize)>;

impl<'s> Parser<'_, 's> {
    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { pos, msg: msg.into() })
    }

    fn peek(&self) -> Option<&Tok<'s>> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    /// The next token if it is a keyword that starts a node.
    fn keyword(&self) -> Option<&'static str> {
        const KEYWORDS: [&str; 10] =
            ["end", "else", "if", "with", "range", "define", "block", "template", "break", "continue"];
        match self.peek()? {
            Tok::Ident(k) => KEYWORDS.into_iter().find(|kw| k == kw),
            _ => None,
        }
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.src_len, |t| t.pos)
    }

    /// Takes the next token: the parser never reads a token's contents
    /// twice once past it (lookahead that backs up only peeks), so its
    /// strings move into the tree instead of being copied.
    fn next(&mut self) -> Option<Token<'s>> {
        let t = self.toks.get_mut(self.i).map(|t| Token { tok: std::mem::replace(&mut t.tok, Tok::Comma), ..*t });
        self.i += 1;
        t
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), ParseError> {
        match self.next() {
            Some(Token { tok: Tok::Close, .. }) => Ok(()),
            Some(t) => self.err(t.pos, format!("unexpected {:?} in {ctx}", t.tok)),
            None => self.err(self.src_len, format!("unexpected EOF in {ctx}")),
        }
    }

    /// Parses nodes until EOF or one of `end`, `else` (returned with its position).
    fn list(&mut self) -> Result<(Nodes, Ended), ParseError> {
        let mark = self.nodes.len();
        while let Some(t) = self.next() {
            match t.tok {
                Tok::Text(s) => self.nodes.push(Node::Text(t.pos, t.pos + s.len())),
                Tok::Open => {
                    if let Some(kw) = self.keyword() {
                        let pos = self.pos();
                        match kw {
                            "end" => {
                                self.i += 1;
                                self.expect_close("end")?;
                                return Ok((self.nodes.drain(mark..).collect(), Some(("end", pos))));
                            }
                            "else" => {
                                self.i += 1;
                                return Ok((self.nodes.drain(mark..).collect(), Some(("else", pos))));
                            }
                            "if" | "with" => {
                                self.i += 1;
                                let n = self.if_node(kw == "with")?;
                                self.nodes.push(n);
                                continue;
                            }
                            "range" => {
                                self.i += 1;
                                let n = self.range_node()?;
                                self.nodes.push(n);
                                continue;
                            }
                            "define" => {
                                self.i += 1;
                                self.define()?;
                                continue;
                            }
                            "block" | "template" => {
                                self.i += 1;
                                let n = self.template(pos, kw == "block")?;
                                self.nodes.push(n);
                                continue;
                            }
                            "break" | "continue" => {
                                self.i += 1;
                                self.expect_close(kw)?;
                                self.nodes.push(if kw == "break" { Node::Break } else { Node::Continue });
                                continue;
                            }
                            _ => {}
                        }
                    }
                    let pipe = self.pipeline("command", true)?;
                    if pipe.cmds.is_empty() {
                        return self.err(pipe.span.start, "missing value for command");
                    }
                    self.nodes.push(Node::Action(Box::new(pipe)));
                }
                _ => return self.err(t.pos, format!("unexpected {:?}", t.tok)),
            }
        }
        Ok((self.nodes.drain(mark..).collect(), None))
    }

    fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, ParseError>) -> Result<T, ParseError> {
        let mark = self.vars.len();
        let r = f(self);
        self.vars.truncate(mark);
        r
    }

    fn if_node(&mut self, with: bool) -> Result<Node, ParseError> {
        let ctx = if with { "with" } else { "if" };
        self.scoped(|p| {
            let pipe = p.pipeline(ctx, false)?;
            let (then, end) = p.list()?;
            let otherwise = p.else_part(ctx, end)?;
            Ok(Node::If(Box::new(If { pipe, with, then, otherwise })))
        })
    }

    /// After a branch: `end`, `else ... end`, or `else if`/`else with` chains.
    fn else_part(&mut self, ctx: &str, end: Ended) -> Result<Option<Nodes>, ParseError> {
        match end {
            Some(("end", _)) => Ok(None),
            Some((_, pos)) => {
                if let Some(&Tok::Ident(kw)) = self.peek()
                    && (kw == "if" || kw == "with")
                {
                    // `{{else if x}}` is `{{else}}{{if x}}...{{end}}{{end}}` sharing one end.
                    self.i += 1;
                    return Ok(Some(Box::new([self.if_node(kw == "with")?])));
                }
                self.expect_close("else")?;
                let (other, end) = self.list()?;
                match end {
                    Some(("end", _)) => Ok(Some(other)),
                    Some((_, p)) => self.err(p, format!("expected end; found {{{{else}}}} in {ctx}")),
                    None => self.err(pos, format!("unexpected EOF in {ctx}")),
                }
            }
            None => self.err(self.src_len, format!("unexpected EOF in {ctx}")),
        }
    }

    fn range_node(&mut self) -> Result<Node, ParseError> {
        self.scoped(|p| {
            let pipe = p.pipeline("range", false)?;
            let (body, end) = p.list()?;
            let otherwise = p.else_part("range", end)?;
            Ok(Node::Range(Box::new(Range { pipe, body, otherwise })))
        })
    }

    fn define(&mut self) -> Result<(), ParseError> {
        let pos = self.pos();
        let Some(Token { tok: Tok::Str(name), .. }) = self.next() else {
            return self.err(pos, "unexpected token in define clause");
        };
        self.expect_close("define clause")?;
        let name = self.names.get(&name);
        let saved = std::mem::replace(&mut self.vars, vec!["$"]);
        let r = self.list();
        self.vars = saved;
        let (body, end) = r?;
        match end {
            Some(("end", _)) => {
                self.defines.push((name, body));
                Ok(())
            }
            _ => self.err(pos, "unexpected EOF in define clause"),
        }
    }

    fn template(&mut self, pos: usize, block: bool) -> Result<Node, ParseError> {
        let ctx = if block { "block clause" } else { "template clause" };
        let npos = self.pos();
        let Some(Token { tok: Tok::Str(name), .. }) = self.next() else {
            return self.err(npos, format!("unexpected token in {ctx}"));
        };
        let name = self.names.get(&name);
        let pipe = if self.peek() == Some(&Tok::Close) {
            self.i += 1;
            None
        } else {
            Some(self.pipeline(ctx, false)?)
        };
        if block {
            let saved = std::mem::replace(&mut self.vars, vec!["$"]);
            let r = self.list();
            self.vars = saved;
            match r? {
                (body, Some(("end", _))) => self.defines.push((name.clone(), body)),
                _ => return self.err(pos, "unexpected EOF in block clause"),
            }
        }
        Ok(Node::Template(Box::new(Template { span: Span::new(pos, npos + name.len() + 2), name, pipe })))
    }

    /// A pipeline up to `}}` (consumed) or `)` (not consumed when `nested`).
    fn pipeline(&mut self, ctx: &str, allow_empty: bool) -> Result<Pipe, ParseError> {
        let start = self.pos();
        let mut vars = Vec::new();
        let mut assign = false;
        // Declarations: `$x :=`, `$x =`, `$k, $v :=`.
        let save = self.i;
        if let Some(&Tok::Var(v)) = self.peek() {
            self.i += 1;
            match self.peek() {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    assign = self.peek() == Some(&Tok::Assign);
                    self.i += 1;
                    vars.push(v);
                }
                Some(Tok::Comma) if ctx == "range" => {
                    self.i += 1;
                    if let Some(&Tok::Var(v2)) = self.peek() {
                        self.i += 1;
                        if matches!(self.peek(), Some(Tok::Declare) | Some(Tok::Assign)) {
                            assign = self.peek() == Some(&Tok::Assign);
                            self.i += 1;
                            vars.push(v);
                            vars.push(v2);
                        } else {
                            return self.err(self.pos(), "range can only initialize variables");
                        }
                    } else {
                        return self.err(self.pos(), "range can only initialize variables");
                    }
                }
                _ => self.i = save,
            }
        }
        for v in &vars {
            if assign {
                if !self.vars.contains(v) {
                    return self.err(start, format!("undefined variable \"{v}\""));
                }
            } else {
                self.vars.push(v);
            }
        }
        let vars: Box<[Rc<str>]> = vars.into_iter().map(|v| self.names.get(v)).collect();
        let mark = self.cmds.len();
        loop {
            match self.peek() {
                Some(Tok::Close) => {
                    let end = self.pos();
                    self.i += 1;
                    if self.cmds.len() == mark && !allow_empty {
                        return self.err(start, format!("missing value for {ctx}"));
                    }
                    return Ok(Pipe {
                        span: Span::new(start, end),
                        vars,
                        assign,
                        cmds: self.cmds.drain(mark..).collect(),
                    });
                }
                Some(Tok::RParen) => {
                    let end = self.pos();
                    if self.cmds.len() == mark {
                        return self.err(start, "missing value for parenthesized pipeline");
                    }
                    return Ok(Pipe {
                        span: Span::new(start, end),
                        vars,
                        assign,
                        cmds: self.cmds.drain(mark..).collect(),
                    });
                }
                None => return self.err(self.src_len, format!("unclosed action in {ctx}")),
                _ => {
                    let cmd = self.command()?;
                    self.cmds.push(cmd);
                }
            }
        }
    }

    fn command(&mut self) -> Result<Cmd, ParseError> {
        let start = self.pos();
        let mark = self.args.len();
        loop {
            match self.peek() {
                None | Some(Tok::Close) | Some(Tok::RParen) => break,
                Some(Tok::Pipe) => {
                    self.i += 1;
                    if self.args.len() == mark {
                        return self.err(start, "missing command");
                    }
                    break;
                }
                _ => {
                    let arg = self.operand()?;
                    self.args.push(arg);
                }
            }
        }
        if self.args.len() == mark {
            return self.err(start, "empty command");
        }
        let end = self.args.last().map_or(start, |a| a.span().end);
        Ok(Cmd { span: Span::new(start, end), args: self.args.drain(mark..).collect() })
    }

    /// Field names directly attached (no space) to the previous operand.
    fn fields(&mut self, first: Option<&'s str>) -> Fields {
        self.first_field = self.toks.get(self.i).map(|t| t.pos);
        let n = self.toks[self.i..].iter().take_while(|t| matches!(t.tok, Tok::Field(_)) && !t.spaced).count();
        let mut out = Vec::with_capacity(n + usize::from(first.is_some()));
        out.extend(first.map(|f| self.names.get(f)));
        for t in &self.toks[self.i..self.i + n] {
            if let Tok::Field(f) = t.tok {
                out.push(self.names.get(f));
            }
        }
        self.i += n;
        out.into_boxed_slice()
    }

    fn end_of_prev(&self) -> usize {
        self.toks[self.i - 1].end
    }

    fn operand(&mut self) -> Result<Arg, ParseError> {
        let t = self.next().ok_or_else(|| ParseError { pos: self.src_len, msg: "unexpected EOF".into() })?;
        let start = t.pos;
        let arg = match t.tok {
            Tok::Dot => {
                let f = self.fields(None);
                Arg::Field(Span::new(start, self.end_of_prev()), f)
            }
            Tok::Field(name) => {
                let f = self.fields(Some(name));
                // Go reports a chain `.a.b` at its second field.
                let at = if f.len() == 1 { start } else { self.first_field.unwrap_or(start) };
                Arg::Field(Span { at, ..Span::new(start, self.end_of_prev()) }, f)
            }
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return self.err(start, format!("undefined variable \"{name}\""));
                }
                let f = self.fields(None);
                let at = if f.is_empty() { start } else { self.first_field.unwrap_or(start) };
                Arg::Var(Span { at, ..Span::new(start, self.end_of_prev()) }, self.names.get(name), f)
            }
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                self.i += 1; // the `)`
                let f = self.fields(None);
                let at = if f.is_empty() { start } else { self.first_field.unwrap_or(start) };
                Arg::Chain(Span { at, ..Span::new(start, self.end_of_prev()) }, Box::new(pipe), f)
            }
            Tok::Ident(name) => {
                let span = Span::new(start, start + name.len());
                match name {
                    "true" => Arg::Const(span, Value::Bool(true)),
                    "false" => Arg::Const(span, Value::Bool(false)),
                    "nil" => Arg::Const(span, Value::Nil),
                    _ => match (self.func)(name) {
                        Some(f) => Arg::Func(span, self.names.get(name), f),
                        None => return self.err(start, format!("function \"{name}\" not defined")),
                    },
                }
            }
            // Shared like names: an umbrella's templates repeat the same
            // strings (`include "x.labels"`) thousands of times.
            Tok::Str(s) => Arg::Const(
                Span::new(start, self.toks.get(self.i).map_or(start + 1, |t| t.pos)),
                Value::Str(self.names.get(&s)),
            ),
            Tok::Char(c) => Arg::Const(Span::new(start, start + 3), Value::Int(c)),
            Tok::Number(n) => {
                let v =
                    number(n).ok_or_else(|| ParseError { pos: start, msg: format!("bad number syntax: \"{n}\"") })?;
                Arg::Const(Span::new(start, start + n.len()), v)
            }
            other => return self.err(start, format!("unexpected {other:?} in operand")),
        };
        if let Some(Token { tok: Tok::Field(_), spaced: false, pos, .. }) = self.toks.get(self.i)
            && matches!(arg, Arg::Const(..) | Arg::Func(..))
        {
            return self.err(*pos, "unexpected . after term");
        }
        Ok(arg)
    }
}

/// A Go number constant: an int when it is one, else a float.
fn number(n: &str) -> Option<Value> {
    // Most constants are plain decimals (`nindent 4`): no copies for them.
    if n.len() < 19 && n.bytes().all(|c| c.is_ascii_digit()) && (n.len() == 1 || !n.starts_with('0')) {
        return n.parse().ok().map(Value::Int);
    }
    let clean = n.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Value::Int(if neg { -i } else { i }));
    }
    if lower.starts_with("0x") {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    Some(Value::Float(if neg { -f } else { f }))
}
