//! Load-time checks of a parsed expression: every function it calls exists
//! in the environment, and every name it reads is a variable Capstan binds.
//! A CEL interpreter only finds an unknown function when it reaches the
//! call, so without this a typo in a rarely taken branch would pass
//! silently until the object that takes it.

use std::collections::BTreeSet;

use kube_cel::cel::common::ast::{EntryExpr, Expr, IdedExpr};
use kube_cel::cel::{Context, ExecutionError, Program};

/// The variables an expression may read (ValidatingAdmissionPolicy's, less
/// `authorizer`, which needs an API server).
pub const VARIABLES: &[&str] = &["object", "oldObject", "params", "namespaceObject", "request", "variables"];

/// Namespaces of qualified functions (`optional.of`, `format.dns1123Label`):
/// an identifier in front of a call that is not a variable.
const NAMESPACES: &[&str] = &["optional", "base64", "format", "ip", "jsonpatch", "lists", "math", "sets", "strings"];

/// An unknown function or variable, with where it is written.
#[derive(Debug, PartialEq)]
pub struct Unknown {
    /// What is wrong, e.g. "unknown function `foo`".
    pub what: String,
    /// 1-based line and column of its first occurrence in the source.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// The first unknown function or variable of `expr`, whose source is `source`.
pub fn unknown(ctx: &Context<'_>, expr: &IdedExpr, source: &str) -> Option<Unknown> {
    let mut walk = Walk::default();
    walk.expr(expr, &mut Vec::new());
    if let Some(name) = walk.idents.iter().find(|name| !VARIABLES.contains(&name.as_str())) {
        let (line, column) = position(source, name);
        let hint = if name == "authorizer" { " (authorizer checks need the API server)" } else { "" };
        let what = format!("unknown variable `{name}`{hint}; known: {}", VARIABLES.join(", "));
        return Some(Unknown { what, line, column });
    }
    walk.calls.iter().find(|(name, probe)| undeclared(ctx, probe, name)).map(|(name, _)| {
        let (line, column) = position(source, name.rsplit('.').next().unwrap_or(name));
        Unknown { what: format!("unknown function `{name}`"), line, column }
    })
}

/// Whether calling `probe` fails because `name` is not a function. A probe
/// calls the function with no arguments: a function that exists fails on
/// its arguments (or succeeds), one that does not is an undeclared reference.
fn undeclared(ctx: &Context<'_>, probe: &str, name: &str) -> bool {
    let Ok(program) = Program::compile(probe) else { return false };
    let short = name.rsplit('.').next().unwrap_or(name);
    matches!(program.execute(ctx), Err(ExecutionError::UndeclaredReference(n)) if n.as_str() == short || n.as_str() == name)
}

/// 1-based line and column of the first whole-word occurrence of `word`.
fn position(source: &str, word: &str) -> (usize, usize) {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let offset = source
        .match_indices(word)
        .find(|(i, _)| {
            let before = source[..*i].chars().next_back().is_none_or(|c| !is_word(c));
            let after = source[i + word.len()..].chars().next().is_none_or(|c| !is_word(c));
            before && after
        })
        .map_or(0, |(i, _)| i);
    let line = source[..offset].matches('\n').count() + 1;
    let column = source[..offset].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Function calls (name and probe source) and free identifiers of an expression.
#[derive(Default)]
struct Walk {
    calls: BTreeSet<(String, String)>,
    idents: BTreeSet<String>,
}

impl Walk {
    /// `bound` holds the comprehension variables in scope.
    fn expr(&mut self, e: &IdedExpr, bound: &mut Vec<String>) {
        match &e.expr {
            Expr::Call(call) => {
                // Operators (`_+_`, `!_`, `@in`, `_?._`) are the interpreter's own.
                let operator = call.func_name.starts_with(['_', '!', '-', '@']);
                match call.target.as_deref() {
                    Some(IdedExpr { expr: Expr::Ident(p), .. })
                        if NAMESPACES.contains(&p.as_str()) && !bound.contains(p) =>
                    {
                        let name = format!("{p}.{}", call.func_name);
                        self.calls.insert((name.clone(), format!("{name}()")));
                    }
                    target => {
                        if let Some(target) = target {
                            self.expr(target, bound);
                        }
                        if !operator {
                            self.calls.insert((call.func_name.clone(), format!("{}()", call.func_name)));
                        }
                    }
                }
                for arg in &call.args {
                    self.expr(arg, bound);
                }
            }
            Expr::Comprehension(c) => {
                self.expr(&c.iter_range, bound);
                self.expr(&c.accu_init, bound);
                let depth = bound.len();
                bound.push(c.iter_var.clone());
                bound.extend(c.iter_var2.clone());
                bound.push(c.accu_var.clone());
                self.expr(&c.loop_cond, bound);
                self.expr(&c.loop_step, bound);
                self.expr(&c.result, bound);
                bound.truncate(depth);
            }
            Expr::Ident(name) => {
                if !bound.contains(name) {
                    self.idents.insert(name.clone());
                }
            }
            Expr::List(list) => list.elements.iter().for_each(|e| self.expr(e, bound)),
            Expr::Map(map) => map.entries.iter().for_each(|entry| self.entry(&entry.expr, bound)),
            Expr::Struct(s) => s.entries.iter().for_each(|entry| self.entry(&entry.expr, bound)),
            Expr::Select(select) => self.expr(&select.operand, bound),
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    fn entry(&mut self, entry: &EntryExpr, bound: &mut Vec<String>) {
        match entry {
            EntryExpr::StructField(field) => self.expr(&field.value, bound),
            EntryExpr::MapEntry(entry) => {
                self.expr(&entry.key, bound);
                self.expr(&entry.value, bound);
            }
        }
    }
}
