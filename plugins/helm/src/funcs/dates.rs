//! Sprig's dates, in UTC (the sandbox has no time-zone database): `now`
//! (non-deterministic), `date`/`dateInZone` with Go layouts, `toDate`,
//! `unixEpoch`, `duration`.

use std::rc::Rc;

use super::{FR, arity, string, to_i64};
use crate::template::{Funcs, Object, Value};

/// A point in time (Go's `time.Time`, always UTC here).
pub struct Time {
    secs: i64,
    nanos: u32,
}

impl Object for Time {
    fn type_name(&self) -> &str {
        "time.Time"
    }
    fn field(&self, name: &str, _: &[Value]) -> Option<Result<Value, String>> {
        let (y, mo, d, h, mi, s) = civil(self.secs);
        Some(Ok(match name {
            "Unix" => Value::Int(self.secs),
            "Year" => Value::Int(y),
            "Month" => Value::Int(mo),
            "Day" => Value::Int(d),
            "Hour" => Value::Int(h),
            "Minute" => Value::Int(mi),
            "Second" => Value::Int(s),
            "UTC" => Value::Obj(Rc::new(Time { secs: self.secs, nanos: self.nanos })),
            _ => return None,
        }))
    }
    fn show(&self) -> String {
        format_time("2006-01-02 15:04:05.999999999 -0700 MST", self.secs, self.nanos)
    }
}

fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];

/// Formats with a Go layout (`2006-01-02T15:04:05Z07:00`), in UTC.
pub fn format_time(layout: &str, secs: i64, nanos: u32) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    let wd = DAYS[secs.div_euclid(86400).rem_euclid(7) as usize];
    let month = MONTHS[(mo - 1) as usize];
    let tokens: [(&str, String); 24] = [
        ("2006", format!("{y:04}")),
        ("January", month.into()),
        ("Monday", wd.into()),
        ("Z07:00", "Z".into()),
        ("-07:00", "+00:00".into()),
        ("-0700", "+0000".into()),
        (".999999999", frac(nanos, 9, true)),
        (".000000000", frac(nanos, 9, false)),
        (".999999", frac(nanos / 1000, 6, true)),
        (".000000", frac(nanos / 1000, 6, false)),
        (".999", frac(nanos / 1_000_000, 3, true)),
        (".000", frac(nanos / 1_000_000, 3, false)),
        ("Jan", month[..3].into()),
        ("Mon", wd[..3].into()),
        ("MST", "UTC".into()),
        ("01", format!("{mo:02}")),
        ("02", format!("{d:02}")),
        ("_2", format!("{d:>2}")),
        ("15", format!("{h:02}")),
        ("03", format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 })),
        ("04", format!("{mi:02}")),
        ("05", format!("{s:02}")),
        ("06", format!("{:02}", y % 100)),
        ("PM", if h >= 12 { "PM".into() } else { "AM".into() }),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, val) in &tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let single: [(&str, String); 4] = [
            ("1", mo.to_string()),
            ("2", d.to_string()),
            ("3", (if h % 12 == 0 { 12 } else { h % 12 }).to_string()),
            ("4", mi.to_string()),
        ];
        for (tok, val) in &single {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn frac(n: u32, digits: usize, trim: bool) -> String {
    let s = format!("{n:0digits$}");
    let s = if trim { s.trim_end_matches('0').to_string() } else { s };
    if s.is_empty() { String::new() } else { format!(".{s}") }
}

fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

fn time_of(v: &Value) -> (i64, u32) {
    match v {
        Value::Obj(o) if o.type_name() == "time.Time" => {
            let secs = o.field("Unix", &[]).and_then(Result::ok).map_or(0, |v| to_i64(&v));
            (secs, 0)
        }
        Value::Str(s) => parse_rfc3339(s).unwrap_or((0, 0)),
        v => (to_i64(v), 0),
    }
}

/// Parses `2006-01-02T15:04:05Z` (and `2006-01-02`) into seconds.
fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, m, sec) = if s.len() >= 19 { (n(11..13)?, n(14..16)?, n(17..19)?) } else { (0, 0, 0) };
    Some((days * 86400 + h * 3600 + m * 60 + sec, 0))
}

fn time(secs: i64, nanos: u32) -> Value {
    Value::Obj(Rc::new(Time { secs, nanos }))
}

pub fn register(f: &mut Funcs) {
    f.insert("now", |_, _| {
        let (s, n) = now();
        Ok(time(s, n))
    });
    f.insert("date", |_, a| {
        arity(&a, 2, "date")?;
        let (s, n) = time_of(&a[1]);
        Ok(Value::str(format_time(string(&a, 0)?, s, n)))
    });
    f.insert("dateInZone", |_, a| {
        arity(&a, 3, "dateInZone")?;
        let zone = string(&a, 2)?;
        if zone != "UTC" && !zone.is_empty() {
            return Err(format!("time zone {zone:?} is not available in the sandbox (only UTC)").into());
        }
        let (s, n) = time_of(&a[1]);
        Ok(Value::str(format_time(string(&a, 0)?, s, n)))
    });
    f.insert("htmlDate", |_, a| {
        arity(&a, 1, "htmlDate")?;
        let (s, n) = time_of(&a[0]);
        Ok(Value::str(format_time("2006-01-02", s, n)))
    });
    f.insert("unixEpoch", |_, a| {
        arity(&a, 1, "unixEpoch")?;
        Ok(Value::str(time_of(&a[0]).0.to_string()))
    });
    for name in ["toDate", "mustToDate"] {
        f.insert(name, |_, a| -> FR {
            arity(&a, 2, "toDate")?;
            let s = string(&a, 1)?;
            let (secs, n) = parse_rfc3339(s).ok_or_else(|| format!("parsing time {s:?}: cannot parse"))?;
            Ok(time(secs, n))
        });
    }
    f.insert("duration", |_, a| {
        arity(&a, 1, "duration")?;
        let mut secs = to_i64(&a[0]);
        let mut out = String::new();
        if secs < 0 {
            out.push('-');
            secs = -secs;
        }
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            out.push_str(&format!("{h}h{m}m{s}s"));
        } else if m > 0 {
            out.push_str(&format!("{m}m{s}s"));
        } else {
            out.push_str(&format!("{s}s"));
        }
        Ok(Value::str(out))
    });
}
