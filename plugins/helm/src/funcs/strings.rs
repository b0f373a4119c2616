//! Sprig's string functions (argument order as Sprig: the subject last, so
//! they pipe: `.Values.name | trunc 63 | trimSuffix "-"`).

use super::{FR, arity, int, string, strval};
use crate::template::format::go_quote;
use crate::template::{Funcs, Value};

fn s1(a: &[Value], name: &str) -> Result<String, crate::template::FnError> {
    arity(a, 1, name)?;
    Ok(string(a, 0)?.to_string())
}

fn ok(s: impl Into<std::rc::Rc<str>>) -> FR {
    Ok(Value::Str(s.into()))
}

/// `r`, a part of the string argument `a[i]`: that argument itself (shared,
/// not copied) when `r` is all of it. Names pass through `trunc 63 |
/// trimSuffix "-"` unchanged in nearly every chart.
fn part(a: &[Value], i: usize, r: &str) -> FR {
    match &a[i] {
        Value::Str(s) if s.len() == r.len() => Ok(a[i].clone()),
        _ => ok(r),
    }
}

pub fn register(f: &mut Funcs) {
    f.insert("upper", |_, a| ok(s1(&a, "upper")?.to_uppercase()));
    f.insert("lower", |_, a| ok(s1(&a, "lower")?.to_lowercase()));
    f.insert("title", |_, a| ok(title(&s1(&a, "title")?)));
    f.insert("untitle", |_, a| ok(untitle(&s1(&a, "untitle")?)));
    f.insert("trim", |_, a| ok(s1(&a, "trim")?.trim()));
    f.insert("trimAll", |_, a| {
        arity(&a, 2, "trimAll")?;
        let cut: Vec<char> = string(&a, 0)?.chars().collect();
        ok(string(&a, 1)?.trim_matches(&cut[..]))
    });
    f.insert("trimPrefix", |_, a| {
        arity(&a, 2, "trimPrefix")?;
        let (p, s) = (string(&a, 0)?, string(&a, 1)?);
        part(&a, 1, s.strip_prefix(p).unwrap_or(s))
    });
    f.insert("trimSuffix", |_, a| {
        arity(&a, 2, "trimSuffix")?;
        let (p, s) = (string(&a, 0)?, string(&a, 1)?);
        part(&a, 1, s.strip_suffix(p).unwrap_or(s))
    });
    f.insert("nospace", |_, a| ok(s1(&a, "nospace")?.chars().filter(|c| !c.is_whitespace()).collect::<String>()));
    f.insert("repeat", |_, a| {
        arity(&a, 2, "repeat")?;
        let n = int(&a, 0)?;
        if n < 0 {
            return Err("strings: negative Repeat count".into());
        }
        ok(string(&a, 1)?.repeat(n as usize))
    });
    f.insert("substr", |_, a| {
        arity(&a, 3, "substr")?;
        let (start, end, s) = (int(&a, 0)?, int(&a, 1)?, string(&a, 2)?);
        let len = s.len() as i64;
        let r = if start < 0 {
            s.get(..end.clamp(0, len) as usize)
        } else if end < 0 || end > len {
            s.get(start.min(len) as usize..)
        } else {
            s.get(start.min(end) as usize..end as usize)
        };
        ok(r.unwrap_or(""))
    });
    f.insert("trunc", |_, a| {
        arity(&a, 2, "trunc")?;
        let (c, s) = (int(&a, 0)?, string(&a, 1)?);
        let len = s.len() as i64;
        let r = if c >= 0 && len > c {
            &s[..floor_char(s, c as usize)]
        } else if c < 0 && len > -c {
            &s[floor_char(s, (len + c) as usize)..]
        } else {
            s
        };
        part(&a, 1, r)
    });
    f.insert("abbrev", |_, a| {
        arity(&a, 2, "abbrev")?;
        let (w, s) = (int(&a, 0)?, string(&a, 1)?);
        if w < 4 || s.len() as i64 <= w {
            return ok(s);
        }
        ok(format!("{}...", &s[..floor_char(s, (w - 3) as usize)]))
    });
    f.insert("contains", |_, a| {
        arity(&a, 2, "contains")?;
        Ok(Value::Bool(string(&a, 1)?.contains(string(&a, 0)?)))
    });
    f.insert("hasPrefix", |_, a| {
        arity(&a, 2, "hasPrefix")?;
        Ok(Value::Bool(string(&a, 1)?.starts_with(string(&a, 0)?)))
    });
    f.insert("hasSuffix", |_, a| {
        arity(&a, 2, "hasSuffix")?;
        Ok(Value::Bool(string(&a, 1)?.ends_with(string(&a, 0)?)))
    });
    f.insert("quote", |_, a| {
        ok(a.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| go_quote(&strval(v))).collect::<Vec<_>>().join(" "))
    });
    f.insert("squote", |_, a| {
        ok(a.iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| format!("'{}'", strval(v)))
            .collect::<Vec<_>>()
            .join(" "))
    });
    f.insert("cat", |_, a| ok(a.iter().filter(|v| !matches!(v, Value::Nil)).map(strval).collect::<Vec<_>>().join(" ")));
    f.insert("indent", |_, a| {
        arity(&a, 2, "indent")?;
        ok(indent(int(&a, 0)?, string(&a, 1)?))
    });
    f.insert("nindent", |_, a| {
        arity(&a, 2, "nindent")?;
        ok(indented("\n", int(&a, 0)?, string(&a, 1)?))
    });
    f.insert("replace", |_, a| {
        arity(&a, 3, "replace")?;
        let (old, new, s) = (string(&a, 0)?, string(&a, 1)?, string(&a, 2)?);
        if old.is_empty() {
            return ok(go_replace_empty(s, new));
        }
        ok(s.replace(old, new))
    });
    f.insert("plural", |_, a| {
        arity(&a, 3, "plural")?;
        let n = int(&a, 2)?;
        ok(if n == 1 { string(&a, 0)? } else { string(&a, 1)? })
    });
    f.insert("snakecase", |_, a| ok(words_join(&s1(&a, "snakecase")?, "_", false)));
    f.insert("kebabcase", |_, a| ok(words_join(&s1(&a, "kebabcase")?, "-", false)));
    f.insert("camelcase", |_, a| ok(camel(&s1(&a, "camelcase")?)));
    f.insert("swapcase", |_, a| {
        let s = s1(&a, "swapcase")?;
        ok(s.chars()
            .map(|c| {
                if c.is_uppercase() {
                    c.to_lowercase().next().unwrap_or(c)
                } else {
                    c.to_uppercase().next().unwrap_or(c)
                }
            })
            .collect::<String>())
    });
    f.insert("initials", |_, a| {
        ok(s1(&a, "initials")?.split_whitespace().filter_map(|w| w.chars().next()).collect::<String>())
    });
    f.insert("wrap", |_, a| {
        arity(&a, 2, "wrap")?;
        ok(wrap(string(&a, 1)?, int(&a, 0)? as usize, "\n"))
    });
    f.insert("wrapWith", |_, a| {
        arity(&a, 3, "wrapWith")?;
        ok(wrap(string(&a, 2)?, int(&a, 0)? as usize, string(&a, 1)?))
    });
    f.insert("splitList", |_, a| {
        arity(&a, 2, "splitList")?;
        Ok(Value::list(go_split(string(&a, 1)?, string(&a, 0)?).into_iter().map(Value::str).collect()))
    });
    f.insert("split", |_, a| {
        arity(&a, 2, "split")?;
        let parts = go_split(string(&a, 1)?, string(&a, 0)?);
        Ok(Value::map(parts.into_iter().enumerate().map(|(i, p)| (format!("_{i}"), Value::str(p))).collect()))
    });
    f.insert("splitn", |_, a| {
        arity(&a, 3, "splitn")?;
        let (sep, n, s) = (string(&a, 0)?, int(&a, 1)?, string(&a, 2)?);
        let parts: Vec<&str> = if n < 0 { go_split(s, sep) } else { s.splitn(n as usize, sep).collect() };
        Ok(Value::map(parts.into_iter().enumerate().map(|(i, p)| (format!("_{i}"), Value::str(p))).collect()))
    });
    f.insert("join", |_, a| {
        arity(&a, 2, "join")?;
        ok(strslice(&a[1]).join(string(&a, 0)?))
    });
    f.insert("sortAlpha", |_, a| {
        arity(&a, 1, "sortAlpha")?;
        let mut v = strslice(&a[0]);
        v.sort();
        Ok(Value::list(v.into_iter().map(Value::str).collect()))
    });
    f.insert("toString", |_, a| {
        arity(&a, 1, "toString")?;
        ok(strval(&a[0]))
    });
    f.insert("toStrings", |_, a| {
        arity(&a, 1, "toStrings")?;
        Ok(Value::list(strslice(&a[0]).into_iter().map(Value::str).collect()))
    });
    super::misc::register_regex(f);
}

/// The largest char boundary at or below `i`.
fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Go's `strings.Split`: an empty separator splits into characters.
pub fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return s.char_indices().map(|(i, c)| &s[i..i + c.len_utf8()]).collect();
    }
    s.split(sep).collect()
}

fn go_replace_empty(s: &str, new: &str) -> String {
    let mut out = String::from(new);
    for c in s.chars() {
        out.push(c);
        out.push_str(new);
    }
    out
}

/// Sprig's `strslice`: a list's items as strings (nil items dropped).
pub fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|v| !matches!(v, Value::Nil)).map(strval).collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

/// Sprig's `indent`: every line, the first included, gets `n` spaces.
pub fn indent(n: i64, s: &str) -> String {
    indented("", n, s)
}

/// `prefix`, then `s` indented as [`indent`] does, written once into a
/// string of the exact size (`nindent` of a label block is in every chart's
/// templates; building it by `replace` and `format!` copied it four times).
fn indented(prefix: &str, n: i64, s: &str) -> String {
    let n = usize::try_from(n).unwrap_or(0);
    let lines = memchr::memchr_iter(b'\n', s.as_bytes()).count() + 1;
    let mut out = String::with_capacity(prefix.len() + s.len() + n.saturating_mul(lines));
    out.push_str(prefix);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.extend(std::iter::repeat_n(' ', n));
        out.push_str(line);
    }
    out
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn untitle(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

/// Splits camelCase, snake_case and kebab-case into lower-case words.
fn words(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let boundary = c.is_uppercase()
            && !cur.is_empty()
            && (chars[i - 1].is_lowercase()
                || chars.get(i + 1).is_some_and(|n| n.is_lowercase()) && chars[i - 1].is_uppercase());
        if boundary {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn words_join(s: &str, sep: &str, _upper: bool) -> String {
    words(s).join(sep)
}

fn camel(s: &str) -> String {
    // xstrings.ToCamelCase: words split on `_`, `-`, space; each capitalised.
    s.split(['_', ' ', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn wrap(s: &str, width: usize, nl: &str) -> String {
    let width = width.max(1);
    let mut out = String::new();
    for (li, line) in s.split('\n').enumerate() {
        if li > 0 {
            out.push_str(nl);
        }
        let mut col = 0;
        for (wi, w) in line.split(' ').enumerate() {
            if wi > 0 {
                if col + 1 + w.len() > width {
                    out.push_str(nl);
                    col = 0;
                } else {
                    out.push(' ');
                    col += 1;
                }
            }
            out.push_str(w);
            col += w.len();
        }
    }
    out
}
