//! go-yaml v3's timestamps, as kustomize turns them into JSON: a plain
//! scalar that Go's `time.Parse` reads with one of go-yaml's four layouts
//! becomes the RFC 3339 text Go's JSON writes for it (`2001-12-14` is
//! `2001-12-14T00:00:00Z`).

/// A parsed timestamp: the fields Go keeps, and the zone offset in minutes.
struct Stamp {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// The fraction's digits as written (trailing zeros included).
    fraction: String,
    offset_minutes: i32,
}

/// The JSON text of `s` when go-yaml v3 reads it as a timestamp.
pub(super) fn to_rfc3339(s: &str) -> Option<String> {
    // go-yaml's quick check: every layout starts with four digits and `-`.
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    parse(s).map(|t| format(&t))
}

/// go-yaml's layouts, tried in order: `2006-1-2T15:4:5.999999999Z07:00`,
/// the same with `t`, `2006-1-2 15:4:5.999999999` (UTC) and `2006-1-2`.
fn parse(s: &str) -> Option<Stamp> {
    let mut r = Reader(s);
    let year = r.fixed(4)?;
    r.literal("-")?;
    let month = r.num()?;
    r.literal("-")?;
    let day = r.num()?;
    let mut t = Stamp { year, month, day, hour: 0, minute: 0, second: 0, fraction: String::new(), offset_minutes: 0 };
    let zoned = match r.0.as_bytes().first() {
        None => return valid(t),
        Some(b'T' | b't') => true,
        Some(b' ') => false,
        _ => return None,
    };
    r.0 = &r.0[1..];
    t.hour = r.num()?;
    r.literal(":")?;
    t.minute = r.num()?;
    r.literal(":")?;
    t.second = r.num()?;
    t.fraction = r.fraction();
    if zoned {
        t.offset_minutes = r.zone()?;
    }
    if !r.0.is_empty() {
        return None;
    }
    valid(t)
}

/// Go's range checks.
fn valid(t: Stamp) -> Option<Stamp> {
    let leap = t.year.is_multiple_of(4) && (!t.year.is_multiple_of(100) || t.year.is_multiple_of(400));
    let days = match t.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let ok = (1..=days).contains(&t.day) && t.hour < 24 && t.minute < 60 && t.second < 60;
    ok.then_some(t)
}

/// Go's `RFC3339Nano` layout, as `time.Time`'s JSON.
fn format(t: &Stamp) -> String {
    let mut out = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second);
    let fraction = t.fraction.get(..9).unwrap_or(&t.fraction).trim_end_matches('0');
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    if t.offset_minutes == 0 {
        out.push('Z');
    } else {
        let sign = if t.offset_minutes < 0 { '-' } else { '+' };
        let m = t.offset_minutes.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
    }
    out
}

/// The rest of the text being parsed.
struct Reader<'a>(&'a str);

impl Reader<'_> {
    fn literal(&mut self, lit: &str) -> Option<()> {
        self.0 = self.0.strip_prefix(lit)?;
        Some(())
    }

    /// Exactly `n` digits.
    fn fixed(&mut self, n: usize) -> Option<u32> {
        let digits = self.0.get(..n).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
        self.0 = &self.0[n..];
        digits.parse().ok()
    }

    /// One or two digits (Go's `getnum` for `1`, `2`, `15`, `4`, `5`).
    fn num(&mut self) -> Option<u32> {
        let b = self.0.as_bytes();
        let n = match b {
            [a, c, ..] if a.is_ascii_digit() && c.is_ascii_digit() => 2,
            [a, ..] if a.is_ascii_digit() => 1,
            _ => return None,
        };
        self.fixed(n)
    }

    /// `.` or `,` and digits, if present (Go reads all the digits, keeps nine).
    fn fraction(&mut self) -> String {
        let b = self.0.as_bytes();
        if b.len() < 2 || !matches!(b[0], b'.' | b',') || !b[1].is_ascii_digit() {
            return String::new();
        }
        let end = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let digits = self.0[1..end].to_owned();
        self.0 = &self.0[end..];
        digits
    }

    /// `Z`, or `±hh:mm`, as minutes east of UTC.
    fn zone(&mut self) -> Option<i32> {
        if self.literal("Z").is_some() {
            return Some(0);
        }
        let b = self.0.as_bytes();
        if b.len() < 6 || b[3] != b':' || !matches!(b[0], b'+' | b'-') {
            return None;
        }
        let sign = if b[0] == b'-' { -1 } else { 1 };
        self.0 = &self.0[1..];
        let hours = self.fixed(2)?;
        self.literal(":")?;
        let minutes = self.fixed(2)?;
        (hours <= 24 && minutes <= 60).then_some(sign * i32::try_from(hours * 60 + minutes).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::to_rfc3339;

    #[test]
    fn timestamps_read_as_kustomize_writes_them() {
        let cases = [
            ("2001-12-14", Some("2001-12-14T00:00:00Z")),
            ("2001-12-14t21:59:43.10-05:00", Some("2001-12-14T21:59:43.1-05:00")),
            ("2001-12-14T21:59:43Z", Some("2001-12-14T21:59:43Z")),
            ("2001-1-2 3:4:5", Some("2001-01-02T03:04:05Z")),
            ("2001-12-14 21:59:43.10", Some("2001-12-14T21:59:43.1Z")),
            ("2001-12-14 21:59:43.10 -5", None),
            ("2001-02-29", None),
            ("2000-02-29", Some("2000-02-29T00:00:00Z")),
            ("2001-13-01", None),
            ("2001-12-14T24:00:00Z", None),
            ("2001-12-14T21:59:43+00:00", Some("2001-12-14T21:59:43Z")),
            ("2001-12-14T21:59:43.0000000001+01:30", Some("2001-12-14T21:59:43+01:30")),
            ("01-12-14", None),
            ("2001-12-14x", None),
            ("20011-12-14", None),
        ];
        for (text, want) in cases {
            assert_eq!(to_rfc3339(text).as_deref(), want, "{text}");
        }
    }
}
