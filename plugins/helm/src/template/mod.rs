//! Go's `text/template`, as Helm uses it: a lexer (`lex`), a parser
//! (`parse`), the executor (`exec`), the value model (`value`) and Go's
//! `fmt` formatting (`format`). Written for Helm's needs rather than taken
//! from `gotmpl`: method calls with arguments (`.Files.Get "x"`), Go's
//! error on a nil chain and Go's float printing all live in the core.

pub mod exec;
pub mod format;
pub mod lex;
pub mod parse;
pub mod value;

pub use exec::{Exec, FnError, Func, Funcs, Set, Tmpl};
pub use value::{Map, Object, Value};
