//! `.helmignore`: Helm's rules (`pkg/ignore`) and Go's `filepath.Match`,
//! which they are written in, ported as they are.
//!
//! Helm reads the file of the chart directory only, and applies it while
//! walking that directory, subcharts' directories included; a subchart's
//! own `.helmignore` is just one of its files (Helm's in-memory loader
//! never reads it). Matching is plain and compiles nothing: an umbrella
//! walks thousands of files through these rules.
//!
//! Helm's semantics, odd parts included, since charts are written against
//! them: a rule without `/` matches the base name, one with `/` the whole
//! path, one starting with `/` the path from the chart root; a trailing
//! `/` limits a rule to directories; `**` and malformed patterns are
//! errors; and a negated rule ignores every path it does *not* match
//! (so `!a.yaml` ignores `Chart.yaml`, as `helm template` does).

/// A parsed `.helmignore`, with Helm's default rule added.
#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    /// The pattern without `!`, the trailing `/` and a leading `/`.
    glob: String,
    negate: bool,
    must_dir: bool,
    /// No `/` in the rule: only the base name is matched.
    base_only: bool,
}

/// Go's `filepath.ErrBadPattern`.
const BAD_PATTERN: &str = "syntax error in pattern";

impl Rules {
    /// Parses the rules of a `.helmignore` (Helm's `Parse`, then
    /// `AddDefaults`: dotfiles under `templates/` are always ignored).
    /// The error is Helm's text.
    pub fn parse(text: &str) -> Result<Rules, String> {
        let mut rules = Rules::default();
        for line in text.lines().chain(["templates/.?*"]) {
            rules.add(line)?;
        }
        Ok(rules)
    }

    fn add(&mut self, rule: &str) -> Result<(), String> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err("double-star (**) syntax is not supported".into());
        }
        // As Helm: the whole rule, `!` and slashes included, must compile.
        glob_match(rule, "abc")?;
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (must_dir, rule) = match rule.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let base_only = !rule.contains('/');
        let glob = rule.strip_prefix('/').unwrap_or(rule).to_string();
        self.rules.push(Rule { glob, negate, must_dir, base_only });
        Ok(())
    }

    /// Whether `path` (relative to the chart, `/`-separated) is ignored;
    /// an ignored directory is skipped whole.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for r in &self.rules {
            let matched = || r.matches(path);
            if r.negate {
                if (r.must_dir && !is_dir) || !matched() {
                    return true;
                }
                continue;
            }
            if r.must_dir && !is_dir {
                continue;
            }
            if matched() {
                return true;
            }
        }
        false
    }
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        let name = if self.base_only { base(path) } else { path };
        glob_match(&self.glob, name).unwrap_or(false)
    }
}

/// Go's `filepath.Base` for `/`-separated paths.
fn base(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "." } else { "/" };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Go's `filepath.Match` on Unix: `*` is any run of non-`/` characters,
/// `?` one non-`/` character, `[...]` a class (`^` negates, `\` escapes);
/// the whole `name` must match.
pub fn glob_match(mut pattern: &str, mut name: &str) -> Result<bool, String> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest unless it has a `/`.
            return Ok(!name.contains('/'));
        }
        let (t, ok) = match_chunk(chunk, name)?;
        // The last chunk must use up the name; earlier ones may leave some.
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            // Try the chunk after skipping 1, 2, ... characters, never a `/`.
            for (i, c) in name.char_indices() {
                if c == '/' {
                    break;
                }
                let skipped = &name[i + c.len_utf8()..];
                let (t, ok) = match_chunk(chunk, skipped)?;
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
            }
        }
        // No match; Go still reports a malformed rest of the pattern.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, "")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// The next chunk of `pattern`: leading stars dropped (and reported), then
/// everything up to the next star outside a class.
fn scan_chunk(pattern: &str) -> (bool, &str, &str) {
    let trimmed = pattern.trim_start_matches('*');
    let star = trimmed.len() != pattern.len();
    let bytes = trimmed.as_bytes();
    let mut in_range = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &trimmed[..i], &trimmed[i..])
}

/// Whether `chunk` (no stars) matches the start of `s`: the rest of `s`.
/// After a mismatch the chunk is still read through, to report a malformed
/// one as Go does.
fn match_chunk<'a>(mut chunk: &str, mut s: &'a str) -> Result<(&'a str, bool), String> {
    let mut failed = false;
    while let Some(c) = chunk.chars().next() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            '[' => {
                let r = if failed { None } else { next_char(&mut s) };
                chunk = &chunk[1..];
                let negated = chunk.starts_with('^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if ranges > 0
                        && let Some(rest) = chunk.strip_prefix(']')
                    {
                        chunk = rest;
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if let Some(rest) = chunk.strip_prefix('-') {
                        (hi, chunk) = get_esc(rest)?;
                    }
                    if r.is_some_and(|r| lo <= r && r <= hi) {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed && next_char(&mut s) == Some('/') {
                    failed = true;
                }
                chunk = &chunk[1..];
            }
            _ => {
                let lit = if c == '\\' {
                    chunk = &chunk[1..];
                    chunk.chars().next().ok_or(BAD_PATTERN)?
                } else {
                    c
                };
                if !failed {
                    match s.strip_prefix(lit) {
                        Some(rest) => s = rest,
                        None => failed = true,
                    }
                }
                chunk = &chunk[lit.len_utf8()..];
            }
        }
    }
    Ok(if failed { ("", false) } else { (s, true) })
}

fn next_char(s: &mut &str) -> Option<char> {
    let c = s.chars().next()?;
    *s = &s[c.len_utf8()..];
    Some(c)
}

/// A possibly escaped character of a class, and what follows it (which
/// must not be empty: the class is still open).
fn get_esc(chunk: &str) -> Result<(char, &str), String> {
    let chunk = match chunk.as_bytes().first() {
        None | Some(b'-' | b']') => return Err(BAD_PATTERN.into()),
        Some(b'\\') => &chunk[1..],
        Some(_) => chunk,
    };
    let c = chunk.chars().next().ok_or(BAD_PATTERN)?;
    let rest = &chunk[c.len_utf8()..];
    if rest.is_empty() {
        return Err(BAD_PATTERN.into());
    }
    Ok((c, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's own table for `filepath.Match` (src/path/filepath/match_test.go,
    /// BSD licence); `None` is `ErrBadPattern`.
    #[test]
    fn glob_match_agrees_with_go() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("a*", "a", Some(true)),
            ("a*", "abc", Some(true)),
            ("a*", "ab/c", Some(false)),
            ("a*/b", "abc/b", Some(true)),
            ("a*/b", "a/c/b", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[e-g]", "abc", Some(false)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abc", Some(false)),
            ("ab[^e-g]", "abc", Some(true)),
            ("a\\*b", "a*b", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a☺b", Some(true)),
            ("a[^a]b", "a☺b", Some(true)),
            ("a???b", "a☺b", Some(false)),
            ("a[^a][^a][^a]b", "a☺b", Some(false)),
            ("[a-ζ]*", "α", Some(true)),
            ("*[a-ζ]", "A", Some(false)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[\\]a]", "]", Some(true)),
            ("[\\-]", "-", Some(true)),
            ("[x\\-]", "x", Some(true)),
            ("[x\\-]", "-", Some(true)),
            ("[x\\-]", "z", Some(false)),
            ("[\\-x]", "x", Some(true)),
            ("[\\-x]", "-", Some(true)),
            ("[\\-x]", "a", Some(false)),
            ("[]a]", "]", None),
            ("[-]", "-", None),
            ("[x-]", "x", None),
            ("[x-]", "-", None),
            ("[x-]", "z", None),
            ("[-x]", "x", None),
            ("[-x]", "-", None),
            ("[-x]", "a", None),
            ("\\", "a", None),
            ("[a-b-c]", "a", None),
            ("[", "a", None),
            ("[^", "a", None),
            ("[^bc", "a", None),
            ("a[", "a", None),
            ("a[", "ab", None),
            ("a[", "x", None),
            ("a/b[", "x", None),
            ("*x", "xxx", Some(true)),
        ];
        for (pattern, name, want) in cases {
            let got = glob_match(pattern, name).ok();
            assert_eq!(got, *want, "Match({pattern:?}, {name:?})");
        }
    }

    /// Helm's own table (pkg/ignore/rules_test.go, Apache-2.0): pattern,
    /// path, whether it is a directory, ignored.
    #[test]
    fn rules_agree_with_helm() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("helm.txt", "helm.txt", false, true),
            ("helm.*", "helm.txt", false, true),
            ("helm.*", "rudder.txt", false, false),
            ("*.txt", "tiller.txt", false, true),
            ("*.txt", "cargo/a.txt", false, true),
            ("cargo/*.txt", "cargo/a.txt", false, true),
            ("cargo/*.*", "cargo/a.txt", false, true),
            ("cargo/*.txt", "mast/a.txt", false, false),
            ("ru[c-e]?er.txt", "rudder.txt", false, true),
            ("templates/.?*", "templates/.dotfile", false, true),
            (".*", ".", true, false),
            (".*", "./", true, false),
            (".*", ".joonix", true, true),
            (".*", "helm.txt", false, false),
            (".*", "", true, false),
            ("cargo/", "cargo", true, true),
            ("cargo/", "cargo/", true, true),
            ("cargo/", "mast/", true, false),
            ("helm.txt/", "helm.txt", false, false),
            ("!helm.txt", "helm.txt", false, false),
            ("!helm.txt", "tiller.txt", false, true),
            ("!*.txt", "cargo", true, true),
            ("!cargo/", "mast/", true, true),
            ("/a.txt", "a.txt", false, true),
            ("/a.txt", "cargo/a.txt", false, false),
            ("/cargo/a.txt", "cargo/a.txt", false, true),
        ];
        for (pattern, path, is_dir, want) in cases {
            let mut rules = Rules::default();
            rules.add(pattern).unwrap();
            assert_eq!(rules.ignored(path, *is_dir), *want, "{pattern:?} on {path:?}");
        }
    }

    #[test]
    fn bad_rules_are_helm_errors() {
        for (text, msg) in [("foo/**/bar", "double-star (**) syntax is not supported"), ("[z-", BAD_PATTERN)] {
            assert_eq!(Rules::parse(text).unwrap_err(), msg, "{text}");
        }
        let rules = Rules::parse("#ignore\n\n\t#ignore\nfoo\nbar/*\nbaz/bar/foo.txt\n\none/more\n").unwrap();
        assert_eq!(rules.rules.len(), 5, "four rules and the default");
    }
}
