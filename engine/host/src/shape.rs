//! The shape of a component, read with wasmparser before anything compiles:
//! is it a component, which `capstan:plugin` world does it target, and are
//! its functions of a size the compiler handles in bounded time and memory.
//!
//! Compiling is the one thing a plugin author makes the host do before any
//! leash applies: Cranelift's time and memory grow faster than linearly
//! with the size of a function, its locals and its nesting, so a 0.6 MB
//! component took 34 s to compile and a 1.5 MB one 317 s, only to be
//! refused as "not a plugin" afterwards. Reading the component once is
//! linear and takes milliseconds; it refuses non-components and foreign
//! worlds by their exports, and functions past [`MAX_BODY_BYTES`],
//! [`MAX_LOCALS`] or [`MAX_NESTING`], before the compiler sees them. The
//! caps sit well above what real plugins need (the bundled kustomize, the
//! largest, is in the unit tests) and make each function's compile cost
//! small; [`crate::compile`] adds a deadline for the whole.

use std::borrow::Cow;

use wasmparser::{Chunk, Encoding, Operator, Parser, Payload};

use crate::plugin::{World, world_of};
use crate::{Error, Result};

/// The largest component (binary or text) the host reads.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;
/// The most functions one core module may define.
pub const MAX_FUNCTIONS: u32 = 200_000;
/// The largest body of one function, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The most locals one function may declare.
pub const MAX_LOCALS: u64 = 10_000;
/// The deepest nesting of blocks, loops and ifs in one function.
pub const MAX_NESTING: usize = 1_000;

/// What the host needs to know of a component before compiling it.
#[derive(Debug)]
pub(crate) struct Shape<'a> {
    /// The binary (text components are converted).
    pub(crate) binary: Cow<'a, [u8]>,
    /// Names the component imports (`wasi:…`, `capstan:plugin/log@…`).
    pub(crate) imports: Vec<String>,
    /// Names it exports.
    pub(crate) exports: Vec<String>,
}

impl Shape<'_> {
    /// The world of a component that targets exactly one, in a compatible
    /// version (see [`world_of`]).
    pub(crate) fn world(&self, name: &str) -> Result<World> {
        world_of(name, &self.exports)
    }

    /// Walks every core module of the component (milliseconds for the
    /// largest real plugin) and refuses functions past the caps: what must
    /// hold before the component is compiled. A load served from the
    /// compiled-code cache skips it: the entry was checked when compiled.
    pub(crate) fn check_code(&self, name: &str) -> Result<()> {
        let refuse = |reason: String| Error::Shape { plugin: name.to_owned(), reason };
        let mut function = 0_u32;
        for payload in Parser::new(0).parse_all(&self.binary) {
            match payload.map_err(|e| refuse(format!("malformed: {e}")))? {
                Payload::Version { .. } => function = 0,
                Payload::FunctionSection(reader) if reader.count() > MAX_FUNCTIONS => {
                    return Err(refuse(format!(
                        "a module defines {} functions, over the cap of {MAX_FUNCTIONS}",
                        reader.count()
                    )));
                }
                Payload::CodeSectionEntry(body) => {
                    check_body(&body).map_err(|reason| refuse(format!("function {function} of a module {reason}")))?;
                    function += 1;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Reads `bytes` (a binary component, or WAT text): refuses more than
/// [`MAX_COMPONENT_BYTES`] and anything but a component, and lists the
/// component's own imports and exports (nested modules are skipped, not
/// read: see [`Shape::check_code`]).
pub(crate) fn read<'a>(name: &str, bytes: &'a [u8]) -> Result<Shape<'a>> {
    let refuse = |reason: String| Error::Shape { plugin: name.to_owned(), reason };
    if bytes.len() > MAX_COMPONENT_BYTES {
        return Err(refuse(format!("it is {} bytes, over the cap of {MAX_COMPONENT_BYTES}", bytes.len())));
    }
    let binary = if bytes.starts_with(b"\0asm") {
        Cow::Borrowed(bytes)
    } else {
        Cow::Owned(wat::parse_bytes(bytes).map_err(|e| refuse(format!("not WebAssembly: {e}")))?.into_owned())
    };
    let (imports, exports) = top_level(&binary).map_err(refuse)?;
    Ok(Shape { binary, imports, exports })
}

/// The imports and exports of the outer component.
fn top_level(binary: &[u8]) -> Result<(Vec<String>, Vec<String>), String> {
    let malformed = |e: wasmparser::BinaryReaderError| format!("malformed: {e}");
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let (mut parser, mut rest) = (Parser::new(0), binary);
    loop {
        let (payload, consumed) = match parser.parse(rest, true).map_err(malformed)? {
            Chunk::Parsed { consumed, payload } => (payload, consumed),
            Chunk::NeedMoreData(_) => return Err("malformed: truncated".to_owned()),
        };
        rest = &rest[consumed..];
        match payload {
            Payload::Version { encoding, .. } if encoding != Encoding::Component => {
                return Err("a core WebAssembly module, not a component; build the plugin for wasm32-wasip2 \
                     (or wrap the module with `wasm-tools component new`)"
                    .to_owned());
            }
            // The parser has stepped over a nested module or component;
            // its bytes are skipped here.
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => {
                rest = rest.get(unchecked_range.len()..).ok_or("malformed: truncated")?;
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    imports.push(import.map_err(malformed)?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    exports.push(export.map_err(malformed)?.name.name.to_owned());
                }
            }
            Payload::End(_) => return Ok((imports, exports)),
            _ => {}
        }
    }
}

/// Refuses a function body past the caps.
fn check_body(body: &wasmparser::FunctionBody<'_>) -> Result<(), String> {
    let malformed = |e: wasmparser::BinaryReaderError| format!("is malformed: {e}");
    let size = body.range().len();
    if size > MAX_BODY_BYTES {
        return Err(format!("is {size} bytes long, over the cap of {MAX_BODY_BYTES}"));
    }
    let mut locals = 0_u64;
    for group in body.get_locals_reader().map_err(malformed)? {
        locals += u64::from(group.map_err(malformed)?.0);
        if locals > MAX_LOCALS {
            return Err(format!("declares more than {MAX_LOCALS} locals"));
        }
    }
    let (mut depth, mut deepest) = (0_usize, 0_usize);
    let mut operators = body.get_operators_reader().map_err(malformed)?;
    while !operators.eof() {
        match operators.read().map_err(malformed)? {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. }
            | Operator::Try { .. } => {
                depth += 1;
                deepest = deepest.max(depth);
                if depth > MAX_NESTING {
                    return Err(format!("nests blocks deeper than {MAX_NESTING} levels"));
                }
            }
            Operator::End => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with(body: &str, locals: usize) -> String {
        format!(
            r#"(component
                (core module $m (func (export "f") {} {body}))
                (core instance $i (instantiate $m))
                (func $f (canon lift (core func $i "f")))
                (instance $inst (export "render" (func $f)))
                (export "capstan:plugin/render@0.1.0" (instance $inst)))"#,
            if locals == 0 { String::new() } else { format!("(local {})", "i32 ".repeat(locals)) }
        )
    }

    fn refused(wat: &str) -> String {
        let checked = read("bomb", wat.as_bytes()).and_then(|shape| shape.check_code("bomb"));
        checked.unwrap_err().to_string()
    }

    #[test]
    fn the_bundled_plugins_pass() {
        for (name, bytes) in crate::BUILTINS {
            let shape = read(name, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            shape.check_code(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(shape.world(name).is_ok(), "{name}");
            assert!(shape.imports.iter().any(|i| i.starts_with("wasi:")), "{name}: {:?}", shape.imports);
        }
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        assert_eq!(
            refused("(module (func (export \"f\")))"),
            "plugin bomb: refused before compiling: a core WebAssembly module, not a component; build the plugin \
             for wasm32-wasip2 (or wrap the module with `wasm-tools component new`)"
        );
    }

    #[test]
    fn too_many_locals_and_too_deep_nesting_are_refused() {
        assert_eq!(
            refused(&module_with("", 10_001)),
            "plugin bomb: refused before compiling: function 0 of a module declares more than 10000 locals"
        );
        let deep = format!("{}{}", "(block ".repeat(1_001), ")".repeat(1_001));
        assert_eq!(
            refused(&module_with(&deep, 0)),
            "plugin bomb: refused before compiling: function 0 of a module nests blocks deeper than 1000 levels"
        );
        let fine = module_with(&format!("{}{}", "(block ".repeat(100), ")".repeat(100)), 100);
        read("fine", fine.as_bytes()).unwrap().check_code("fine").unwrap();
    }

    #[test]
    fn a_huge_body_is_refused() {
        let huge = "(drop (i32.const 1)) ".repeat(400_000);
        let error = refused(&module_with(&huge, 0));
        assert!(error.ends_with("over the cap of 1048576"), "{error}");
    }
}
