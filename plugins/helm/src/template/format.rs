//! Go's `fmt.Sprintf` for the verbs templates use (`%s %d %v %q %f %x ...`,
//! flags, width and precision), with Go's `%!verb(type=value)` for a
//! mismatched argument.

use super::value::{Value, go_float};

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Formats `args` according to `format`, as Go's `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let body = one(verb, &spec, arg);
        pad(&mut out, &body, &spec, matches!(arg, Value::Int(_) | Value::Int64(_) | Value::Float(_)));
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..].iter().map(|a| format!("{}={}", a.type_name(), a)).collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn pad(out: &mut String, body: &str, spec: &Spec, numeric: bool) {
    let len = body.chars().count();
    let w = spec.width.unwrap_or(0);
    if len >= w {
        out.push_str(body);
    } else if spec.minus {
        out.push_str(body);
        out.push_str(&" ".repeat(w - len));
    } else if spec.zero && numeric {
        let (sign, digits) = match body.strip_prefix(['-', '+']) {
            Some(d) => (&body[..1], d),
            None => ("", body),
        };
        out.push_str(sign);
        out.push_str(&"0".repeat(w - len));
        out.push_str(digits);
    } else {
        out.push_str(&" ".repeat(w - len));
        out.push_str(body);
    }
}

fn bad(verb: char, arg: &Value) -> String {
    format!("%!{verb}({}={arg})", arg.type_name())
}

fn signed(s: String, neg: bool, spec: &Spec) -> String {
    if neg {
        format!("-{s}")
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

/// Go's `%q` of a string: double-quoted with Go escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn float(verb: char, f: f64, spec: &Spec) -> String {
    let neg = f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative());
    let a = f.abs();
    let body = match verb {
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), a),
        'e' | 'E' => {
            let s = exp_form(&format!("{:.*e}", spec.prec.unwrap_or(6), a));
            if verb == 'E' { s.to_uppercase() } else { s }
        }
        'g' | 'G' | 'v' => match spec.prec {
            None => go_float(a),
            Some(p) => {
                let p = p.max(1);
                let exp = if a == 0.0 { 0 } else { a.log10().floor() as i32 };
                if exp < -4 || exp >= p as i32 {
                    let s = exp_form(&format!("{:.*e}", p - 1, a));
                    trim_mantissa(&s)
                } else {
                    let s = format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, a);
                    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
                }
            }
        },
        _ => unreachable!(),
    };
    signed(body, neg, spec)
}

/// Rust's `1.5e6` → Go's `1.5e+06`.
fn exp_form(s: &str) -> String {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn trim_mantissa(s: &str) -> String {
    let (m, e) = s.split_once('e').unwrap_or((s, ""));
    let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
    format!("{m}e{e}")
}

fn one(verb: char, spec: &Spec, arg: &Value) -> String {
    // The verbs print Go's integer types alike; only errors name the type.
    if let Value::Int64(i) = arg
        && verb != 'T'
    {
        let s = one(verb, spec, &Value::Int(*i));
        return if s.starts_with("%!") { bad(verb, arg) } else { s };
    }
    match (verb, arg) {
        ('T', a) => a.type_name(),
        ('s' | 'q' | 'd' | 'x' | 'X' | 'o' | 'b' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 't' | 'c', Value::Nil) => {
            format!("%!{verb}(<nil>)")
        }
        ('v', Value::Str(s)) if spec.sharp => go_quote(s),
        ('v', Value::Float(f)) => float('g', *f, spec),
        ('v', Value::Int(i)) => signed(i.unsigned_abs().to_string(), *i < 0, spec),
        ('v', a) => a.to_string(),
        ('s', Value::Str(s)) => match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        },
        ('s', Value::Int(_) | Value::Float(_) | Value::Bool(_)) => bad(verb, arg),
        ('s', a) => a.to_string(),
        ('q', Value::Str(s)) => go_quote(s),
        ('q', Value::Int(i)) => char::from_u32(*i as u32).map_or_else(|| bad(verb, arg), |c| format!("'{c}'")),
        ('d', Value::Int(i)) => signed(i.unsigned_abs().to_string(), *i < 0, spec),
        ('t', Value::Bool(b)) => b.to_string(),
        ('c', Value::Int(i)) => char::from_u32(*i as u32).map_or("\u{fffd}".into(), |c| c.to_string()),
        ('x' | 'X', Value::Int(i)) => {
            let s = if verb == 'x' { format!("{:x}", i.unsigned_abs()) } else { format!("{:X}", i.unsigned_abs()) };
            let s = if spec.sharp { format!("0{verb}{s}") } else { s };
            signed(s, *i < 0, spec)
        }
        ('x' | 'X', Value::Str(s)) => {
            let h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            if verb == 'X' { h.to_uppercase() } else { h }
        }
        ('o', Value::Int(i)) => signed(format!("{:o}", i.unsigned_abs()), *i < 0, spec),
        ('b', Value::Int(i)) => signed(format!("{:b}", i.unsigned_abs()), *i < 0, spec),
        ('f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Float(f)) => float(verb, *f, spec),
        _ => bad(verb, arg),
    }
}
