//! Sprig's defaults, type tests, regular expressions, paths, and the
//! non-deterministic functions (`uuidv4`, `rand*`, `now`: they differ on
//! every render, as in Helm; a GitOps diff will show them changing).

use std::rc::Rc;

use regex::Regex;

use super::{FR, arity, at_least, int, is_empty, string};
use crate::template::{Funcs, Value};

pub fn register(f: &mut Funcs) {
    f.insert("default", |_, a| {
        at_least(&a, 1, "default")?;
        Ok(match a.get(1) {
            Some(v) if !is_empty(v) => v.clone(),
            _ => a[0].clone(),
        })
    });
    f.insert("empty", |_, a| {
        arity(&a, 1, "empty")?;
        Ok(Value::Bool(is_empty(&a[0])))
    });
    f.insert("coalesce", |_, a| Ok(a.iter().find(|v| !is_empty(v)).cloned().unwrap_or_default()));
    f.insert("all", |_, a| Ok(Value::Bool(a.iter().all(|v| !is_empty(v)))));
    f.insert("any", |_, a| Ok(Value::Bool(a.iter().any(|v| !is_empty(v)))));
    f.insert("ternary", |_, a| {
        arity(&a, 3, "ternary")?;
        let Value::Bool(c) = a[2] else {
            return Err(crate::template::FnError::Arg(
                2,
                format!("wrong type for value; expected bool; got {}", a[2].type_name()),
            ));
        };
        Ok(if c { a[0].clone() } else { a[1].clone() })
    });
    f.insert("typeOf", |_, a| {
        arity(&a, 1, "typeOf")?;
        Ok(Value::str(a[0].type_name()))
    });
    f.insert("kindOf", |_, a| {
        arity(&a, 1, "kindOf")?;
        Ok(Value::str(a[0].kind()))
    });
    f.insert("kindIs", |_, a| {
        arity(&a, 2, "kindIs")?;
        Ok(Value::Bool(string(&a, 0)? == a[1].kind()))
    });
    f.insert("typeIs", |_, a| {
        arity(&a, 2, "typeIs")?;
        Ok(Value::Bool(string(&a, 0)? == a[1].type_name()))
    });
    f.insert("typeIsLike", |_, a| {
        arity(&a, 2, "typeIsLike")?;
        let t = string(&a, 0)?;
        let n = a[1].type_name();
        Ok(Value::Bool(t == n || t == format!("*{n}")))
    });
    f.insert("deepEqual", |_, a| {
        arity(&a, 2, "deepEqual")?;
        Ok(Value::Bool(a[0].deep_eq(&a[1])))
    });
    f.insert("base", |_, a| Ok(Value::str(path_base(string(&a, 0)?))));
    f.insert("dir", |_, a| {
        let p = string(&a, 0)?;
        Ok(Value::str(match p.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => p[..i].to_string(),
            None => ".".to_string(),
        }))
    });
    f.insert("ext", |_, a| {
        let b = path_base(string(&a, 0)?);
        Ok(Value::str(b.rfind('.').map_or("", |i| &b[i..])))
    });
    f.insert("isAbs", |_, a| Ok(Value::Bool(string(&a, 0)?.starts_with('/'))));
    f.insert("clean", |_, a| Ok(Value::str(clean(string(&a, 0)?))));
    f.insert("uuidv4", |_, _| {
        let mut b = random_bytes(16);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = super::encoding::hex(&b);
        Ok(Value::str(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])))
    });
    f.insert("randAlphaNum", |_, a| rand_from(&a, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"));
    f.insert("randAlpha", |_, a| rand_from(&a, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"));
    f.insert("randNumeric", |_, a| rand_from(&a, b"0123456789"));
    f.insert("randAscii", |_, a| {
        let chars: Vec<u8> = (32u8..127).collect();
        rand_from(&a, &chars)
    });
    f.insert("randInt", |_, a| {
        arity(&a, 2, "randInt")?;
        let (lo, hi) = (super::to_i64(&a[0]), super::to_i64(&a[1]));
        let r = u64::from_le_bytes(random_bytes(8).try_into().unwrap_or([0; 8]));
        Ok(Value::Int(if hi > lo { lo + (r % (hi - lo) as u64) as i64 } else { lo }))
    });
    for name in [
        "genPrivateKey",
        "genCA",
        "genCAWithKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "derivePassword",
        "encryptAES",
        "decryptAES",
        "htpasswd",
        "buildCustomCert",
        "getHostByName",
        "bcrypt",
    ] {
        f.insert(name, |_, _| Err("not supported by builtin:helm (key and certificate generation, lookups of the network and non-deterministic crypto cannot run in the sandbox; create the Secret outside the chart)".into()));
    }
    super::dates::register(f);
    super::semver::register(f);
}

pub fn register_regex(f: &mut Funcs) {
    for name in ["regexMatch", "mustRegexMatch"] {
        f.insert(name, |_, a| {
            arity(&a, 2, "regexMatch")?;
            Ok(Value::Bool(re(string(&a, 0)?)?.is_match(string(&a, 1)?)))
        });
    }
    for name in ["regexFind", "mustRegexFind"] {
        f.insert(name, |_, a| {
            arity(&a, 2, "regexFind")?;
            Ok(Value::str(re(string(&a, 0)?)?.find(string(&a, 1)?).map_or("", |m| m.as_str())))
        });
    }
    for name in ["regexFindAll", "mustRegexFindAll"] {
        f.insert(name, |_, a| {
            arity(&a, 3, "regexFindAll")?;
            let n = int(&a, 2)?;
            let r = re(string(&a, 0)?)?;
            let all = r.find_iter(string(&a, 1)?).map(|m| Value::str(m.as_str()));
            Ok(Value::list(if n < 0 { all.collect() } else { all.take(n as usize).collect() }))
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        f.insert(name, |_, a| {
            arity(&a, 3, "regexReplaceAll")?;
            Ok(Value::str(re(string(&a, 0)?)?.replace_all(string(&a, 1)?, string(&a, 2)?).into_owned()))
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        f.insert(name, |_, a| {
            arity(&a, 3, "regexReplaceAllLiteral")?;
            Ok(Value::str(
                re(string(&a, 0)?)?.replace_all(string(&a, 1)?, regex::NoExpand(string(&a, 2)?)).into_owned(),
            ))
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        f.insert(name, |_, a| {
            arity(&a, 3, "regexSplit")?;
            let n = int(&a, 2)?;
            let r = re(string(&a, 0)?)?;
            let s = string(&a, 1)?;
            let parts: Vec<Value> = if n < 0 {
                r.split(s).map(Value::str).collect()
            } else {
                r.splitn(s, n as usize).map(Value::str).collect()
            };
            Ok(Value::list(parts))
        });
    }
    f.insert("regexQuoteMeta", |_, a| Ok(Value::str(regex::escape(string(&a, 0)?))));
}

fn re(pattern: &str) -> Result<Regex, crate::template::FnError> {
    Regex::new(pattern).map_err(|e| format!("error parsing regexp: {e}").into())
}

fn path_base(p: &str) -> &str {
    if p.is_empty() {
        return ".";
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/";
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let s = out.join("/");
    match (abs, s.is_empty()) {
        (true, _) => format!("/{s}"),
        (false, true) => ".".into(),
        (false, false) => s,
    }
}

thread_local! {
    static SEED: std::cell::Cell<u64> = std::cell::Cell::new({
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0x9e37_79b9);
        t | 1
    });
}

/// Non-cryptographic random bytes (xorshift seeded from the clock): Sprig's
/// `rand*` and `uuidv4` change on every render anyway.
fn random_bytes(n: usize) -> Vec<u8> {
    SEED.with(|s| {
        let mut x = s.get();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(&x.to_le_bytes());
        }
        s.set(x);
        out.truncate(n);
        out
    })
}

fn rand_from(a: &[Value], chars: &[u8]) -> FR {
    arity(a, 1, "rand")?;
    let n = int(a, 0)?.max(0) as usize;
    let s: String = random_bytes(n).iter().map(|b| chars[*b as usize % chars.len()] as char).collect();
    Ok(Value::Str(Rc::from(s)))
}
