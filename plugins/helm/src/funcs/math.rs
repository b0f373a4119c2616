//! Sprig's math: integer functions go through `cast.ToInt64` (floats
//! truncate), the `*f` family through `float64`.

use super::{arity, at_least, int, to_f64, to_i64};
use crate::template::{Funcs, Value};

fn ints(a: &[Value]) -> Vec<i64> {
    a.iter().map(to_i64).collect()
}

pub fn register(f: &mut Funcs) {
    f.insert("add", |_, a| Ok(Value::Int64(ints(&a).iter().fold(0i64, |x, y| x.wrapping_add(*y)))));
    f.insert("add1", |_, a| {
        arity(&a, 1, "add1")?;
        Ok(Value::Int64(to_i64(&a[0]).wrapping_add(1)))
    });
    f.insert("sub", |_, a| {
        arity(&a, 2, "sub")?;
        Ok(Value::Int64(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
    });
    f.insert("mul", |_, a| {
        at_least(&a, 1, "mul")?;
        Ok(Value::Int64(ints(&a).iter().fold(1i64, |x, y| x.wrapping_mul(*y))))
    });
    f.insert("div", |_, a| {
        arity(&a, 2, "div")?;
        let d = to_i64(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int64(to_i64(&a[0]) / d))
    });
    f.insert("mod", |_, a| {
        arity(&a, 2, "mod")?;
        let d = to_i64(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int64(to_i64(&a[0]) % d))
    });
    for name in ["max", "biggest"] {
        f.insert(name, |_, a| {
            at_least(&a, 1, "max")?;
            Ok(Value::Int64(ints(&a).into_iter().max().unwrap_or(0)))
        });
    }
    f.insert("min", |_, a| {
        at_least(&a, 1, "min")?;
        Ok(Value::Int64(ints(&a).into_iter().min().unwrap_or(0)))
    });
    f.insert("addf", |_, a| Ok(Value::Float(a.iter().map(to_f64).sum())));
    f.insert("add1f", |_, a| Ok(Value::Float(to_f64(&a[0]) + 1.0)));
    f.insert("subf", |_, a| {
        at_least(&a, 1, "subf")?;
        Ok(Value::Float(a[1..].iter().fold(to_f64(&a[0]), |x, y| x - to_f64(y))))
    });
    f.insert("mulf", |_, a| Ok(Value::Float(a.iter().map(to_f64).product())));
    f.insert("divf", |_, a| {
        at_least(&a, 1, "divf")?;
        Ok(Value::Float(a[1..].iter().fold(to_f64(&a[0]), |x, y| x / to_f64(y))))
    });
    f.insert("maxf", |_, a| Ok(Value::Float(a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max))));
    f.insert("minf", |_, a| Ok(Value::Float(a.iter().map(to_f64).fold(f64::INFINITY, f64::min))));
    f.insert("floor", |_, a| Ok(Value::Float(to_f64(&a[0]).floor())));
    f.insert("ceil", |_, a| Ok(Value::Float(to_f64(&a[0]).ceil())));
    f.insert("round", |_, a| {
        at_least(&a, 2, "round")?;
        let p = 10f64.powi(to_i64(&a[1]) as i32);
        let x = to_f64(&a[0]) * p;
        let r = if x.fract().abs() >= 0.5 { x.trunc() + x.signum() } else { x.trunc() };
        Ok(Value::Float(r / p))
    });
    f.insert("int", |_, a| {
        arity(&a, 1, "int")?;
        Ok(Value::Int(to_i64(&a[0])))
    });
    f.insert("int64", |_, a| {
        arity(&a, 1, "int64")?;
        Ok(Value::Int64(to_i64(&a[0])))
    });
    f.insert("float64", |_, a| {
        arity(&a, 1, "float64")?;
        Ok(Value::Float(to_f64(&a[0])))
    });
    f.insert("atoi", |_, a| {
        arity(&a, 1, "atoi")?;
        Ok(Value::Int(super::string(&a, 0)?.trim().parse().unwrap_or(0)))
    });
    f.insert("toDecimal", |_, a| {
        arity(&a, 1, "toDecimal")?;
        Ok(Value::Int(i64::from_str_radix(&super::strval(&a[0]), 8).unwrap_or(0)))
    });
    f.insert("until", |_, a| {
        arity(&a, 1, "until")?;
        let n = int(&a, 0)?;
        let step = if n < 0 { -1 } else { 1 };
        Ok(step_list(0, n, step))
    });
    f.insert("untilStep", |_, a| {
        arity(&a, 3, "untilStep")?;
        Ok(step_list(int(&a, 0)?, int(&a, 1)?, int(&a, 2)?))
    });
    f.insert("seq", |_, a| {
        let p = ints(&a);
        let (start, end, step) = match p.as_slice() {
            [] => return Ok(Value::str("")),
            [e] => (1, *e, if *e >= 1 { 1 } else { -1 }),
            [s, e] => (*s, *e, if e >= s { 1 } else { -1 }),
            [s, st, e, ..] => (*s, *e, *st),
        };
        let mut out = Vec::new();
        let mut i = start;
        while step != 0 && ((step > 0 && i <= end) || (step < 0 && i >= end)) && out.len() < 1_000_000 {
            out.push(i.to_string());
            i += step;
        }
        Ok(Value::str(out.join(" ")))
    });
}

fn step_list(start: i64, stop: i64, step: i64) -> Value {
    let mut out = Vec::new();
    if step == 0 {
        return Value::list(out);
    }
    let mut i = start;
    while ((step > 0 && i < stop) || (step < 0 && i > stop)) && out.len() < 10_000_000 {
        out.push(Value::Int(i));
        i += step;
    }
    Value::list(out)
}
