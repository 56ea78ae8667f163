//! Calendar events (the systemd-like schedule syntax of Proxmox jobs): `daily`, `mon..fri 02:30`, `*/15`, `*-*-01 00:00`; `next_after` in a given time zone.
//!
//! Format: `[WEEKDAYS] [[YEARS-]MONTHS-DAYS] [HOURS:MINUTES[:SECONDS]]`. Each field takes
//! `*`, a value, a range `a..b`, a repetition `a/r` or `a..b/r` (`*/r` from the field's
//! first value), and comma lists of those. A time without `:` is minutes (`*/15` is every
//! 15 minutes, `30/10` minutes 30, 40, 50 of each hour). A missing time is 00:00:00, a
//! missing date or weekday is every day. Keywords: minutely, hourly, daily, weekly,
//! monthly, yearly/annually, quarterly, semiannually/semi-annually.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike,
};

use crate::error::{BackupError, Result};

/// How far ahead `next_after` looks (enough for `*-02-29` with a weekday).
pub const SEARCH_DAYS: i64 = 366 * 30;
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A set of values of one field, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field(u64);

impl Field {
    fn has(self, v: u32) -> bool {
        v < 64 && self.0 & (1 << v) != 0
    }
    fn first_at_least(self, v: u32, max: u32) -> Option<u32> {
        (v..=max).find(|x| self.has(*x))
    }
}

/// A year item: `start[..end][/step]` (years are unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct YearItem {
    start: i32,
    end: Option<i32>,
    step: Option<i32>,
}

/// A parsed calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    text: String,
    weekdays: Field,
    years: Option<Vec<YearItem>>,
    months: Field,
    days: Field,
    hours: Field,
    minutes: Field,
    seconds: Field,
}

fn bad(text: &str, why: impl std::fmt::Display) -> BackupError {
    BackupError::Invalid(format!("invalid schedule {text:?}: {why}"))
}

fn number(text: &str, s: &str, lo: u32, hi: u32) -> Result<u32> {
    let n: u32 = s
        .parse()
        .map_err(|_| bad(text, format!("{s:?} is not a number")))?;
    if n < lo || n > hi {
        return Err(bad(text, format!("{n} is out of range {lo}..{hi}")));
    }
    Ok(n)
}

/// Parses a comma list for a field with values lo..=hi.
fn field(text: &str, spec: &str, lo: u32, hi: u32) -> Result<Field> {
    let mut mask = 0u64;
    for item in spec.split(',') {
        if item.is_empty() {
            return Err(bad(text, "empty list item"));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(number(text, s, 1, hi.max(1))?)),
            None => (item, None),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once("..") {
            (number(text, a, lo, hi)?, number(text, b, lo, hi)?)
        } else {
            let a = number(text, range, lo, hi)?;
            (a, if step.is_some() { hi } else { a })
        };
        if a > b {
            return Err(bad(text, format!("range {a}..{b} is empty")));
        }
        let step = step.unwrap_or(1);
        let mut v = a;
        while v <= b {
            mask |= 1 << v;
            v += step;
        }
    }
    Ok(Field(mask))
}

fn weekday_field(text: &str, spec: &str) -> Result<Field> {
    let idx = |s: &str| {
        WEEKDAYS
            .iter()
            .position(|w| *w == s)
            .map(|i| i as u32)
            .ok_or_else(|| bad(text, format!("unknown weekday {s:?}")))
    };
    let mut mask = 0u64;
    for item in spec.split(',') {
        match item.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (idx(a)?, idx(b)?);
                // mon..fri; a wrap like sat..mon covers sat, sun, mon.
                let mut v = a;
                loop {
                    mask |= 1 << v;
                    if v == b {
                        break;
                    }
                    v = (v + 1) % 7;
                }
            }
            None => mask |= 1 << idx(item)?,
        }
    }
    Ok(Field(mask))
}

fn years(text: &str, spec: &str) -> Result<Option<Vec<YearItem>>> {
    if spec == "*" {
        return Ok(None);
    }
    let num = |s: &str| -> Result<i32> {
        s.parse::<i32>()
            .ok()
            .filter(|y| (1970..=9999).contains(y))
            .ok_or_else(|| bad(text, format!("bad year {s:?}")))
    };
    let mut out = Vec::new();
    for item in spec.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (
                r,
                Some(
                    s.parse::<i32>()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| bad(text, "bad year step"))?,
                ),
            ),
            None => (item, None),
        };
        let (start, end) = match range.split_once("..") {
            Some((a, b)) => (num(a)?, Some(num(b)?)),
            None if step.is_some() => (num(range)?, None),
            None => (num(range)?, Some(num(range)?)),
        };
        out.push(YearItem { start, end, step });
    }
    Ok(Some(out))
}

impl CalendarEvent {
    pub fn parse(text: &str) -> Result<CalendarEvent> {
        let norm = text.trim().to_ascii_lowercase();
        let expanded = match norm.as_str() {
            "minutely" => "*-*-* *:*:00",
            "hourly" => "*-*-* *:00:00",
            "daily" => "*-*-* 00:00:00",
            "weekly" => "mon *-*-* 00:00:00",
            "monthly" => "*-*-01 00:00:00",
            "yearly" | "annually" => "*-01-01 00:00:00",
            "quarterly" => "*-01,04,07,10-01 00:00:00",
            "semiannually" | "semi-annually" => "*-01,07-01 00:00:00",
            other => other,
        };
        let mut tokens: Vec<&str> = expanded.split_whitespace().collect();
        if tokens.is_empty() {
            return Err(bad(text, "empty"));
        }
        let mut ev = CalendarEvent {
            text: text.trim().to_string(),
            weekdays: Field(0x7f),
            years: None,
            months: field(text, "*", 1, 12)?,
            days: field(text, "*", 1, 31)?,
            hours: Field(1),
            minutes: Field(1),
            seconds: Field(1),
        };
        if tokens[0].starts_with(|c: char| c.is_ascii_alphabetic()) {
            ev.weekdays = weekday_field(text, tokens.remove(0))?;
        }
        if let Some(i) = tokens.iter().position(|t| t.contains('-')) {
            let date = tokens.remove(i);
            let parts: Vec<&str> = date.split('-').collect();
            let (y, m, d) = match parts.as_slice() {
                [m, d] => ("*", *m, *d),
                [y, m, d] => (*y, *m, *d),
                _ => return Err(bad(text, format!("bad date {date:?}"))),
            };
            ev.years = years(text, y)?;
            ev.months = field(text, m, 1, 12)?;
            ev.days = field(text, d, 1, 31)?;
        }
        match tokens.as_slice() {
            [] => {}
            [time] => {
                let parts: Vec<&str> = time.split(':').collect();
                let (h, m, s) = match parts.as_slice() {
                    [m] => ("*", *m, "0"),
                    [h, m] => (*h, *m, "0"),
                    [h, m, s] => (*h, *m, *s),
                    _ => return Err(bad(text, format!("bad time {time:?}"))),
                };
                ev.hours = field(text, h, 0, 23)?;
                ev.minutes = field(text, m, 0, 59)?;
                ev.seconds = field(text, s, 0, 59)?;
            }
            more => return Err(bad(text, format!("unexpected {:?}", more.join(" ")))),
        }
        Ok(ev)
    }

    /// The schedule as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn year_matches(&self, y: i32) -> bool {
        self.years.as_ref().is_none_or(|items| {
            items.iter().any(|it| {
                y >= it.start
                    && it.end.is_none_or(|e| y <= e)
                    && it.step.is_none_or(|s| (y - it.start) % s == 0)
            })
        })
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        self.year_matches(d.year())
            && self.months.has(d.month())
            && self.days.has(d.day())
            && self.weekdays.has(d.weekday().num_days_from_monday())
    }

    /// Whether a local time is one of the event's points.
    pub fn matches(&self, t: NaiveDateTime) -> bool {
        self.day_matches(t.date())
            && self.hours.has(t.hour())
            && self.minutes.has(t.minute())
            && self.seconds.has(t.second())
    }

    /// The first time of day at or after `from` on a matching day.
    fn first_time(&self, from: NaiveTime) -> Option<NaiveTime> {
        let (h0, m0, s0) = (from.hour(), from.minute(), from.second());
        let mut h = self.hours.first_at_least(h0, 23)?;
        loop {
            let m_start = if h == h0 { m0 } else { 0 };
            let mut m = self.minutes.first_at_least(m_start, 59);
            while let Some(mm) = m {
                let s_start = if h == h0 && mm == m0 { s0 } else { 0 };
                if let Some(s) = self.seconds.first_at_least(s_start, 59) {
                    return NaiveTime::from_hms_opt(h, mm, s);
                }
                m = self.minutes.first_at_least(mm + 1, 59);
            }
            h = self.hours.first_at_least(h + 1, 23)?;
        }
    }

    /// The first local point at or after `from`.
    fn next_naive(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut day = from.date();
        let mut start = from.time();
        for _ in 0..SEARCH_DAYS {
            if self.day_matches(day) {
                if let Some(t) = self.first_time(start) {
                    return Some(day.and_time(t));
                }
            }
            day = day.succ_opt()?;
            start = NaiveTime::MIN;
        }
        None
    }

    /// The first point of the event strictly after `after`, in `after`'s time zone (local
    /// wall-clock times that do not exist, in a DST gap, are skipped; a repeated one counts
    /// at its first occurrence).
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let tz = after.timezone();
        let mut from = after.naive_local().with_nanosecond(0)? + Duration::seconds(1);
        for _ in 0..SEARCH_DAYS {
            let n = self.next_naive(from)?;
            match tz.from_local_datetime(&n) {
                LocalResult::Single(t) if t > *after => return Some(t),
                LocalResult::Ambiguous(a, b) => {
                    if a > *after {
                        return Some(a);
                    }
                    if b > *after {
                        return Some(b);
                    }
                }
                _ => {}
            }
            from = n + Duration::seconds(1);
        }
        None
    }
}

impl std::str::FromStr for CalendarEvent {
    type Err = BackupError;
    fn from_str(s: &str) -> Result<Self> {
        CalendarEvent::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("t")
            .with_timezone(&Utc)
    }

    fn next(spec: &str, from: &str) -> String {
        CalendarEvent::parse(spec)
            .expect(spec)
            .next_after(&at(from))
            .expect("a next time")
            .format("%Y-%m-%dT%H:%M:%S %a")
            .to_string()
    }

    #[test]
    fn examples() {
        // 2026-12-01 is a Tuesday.
        let from = "2026-12-01T16:07:30Z";
        for (spec, want) in [
            ("daily", "2026-12-02T00:00:00 Wed"),
            ("hourly", "2026-12-01T17:00:00 Tue"),
            ("minutely", "2026-12-01T16:08:00 Tue"),
            ("weekly", "2026-12-07T00:00:00 Mon"),
            ("monthly", "2027-01-01T00:00:00 Fri"),
            ("yearly", "2027-01-01T00:00:00 Fri"),
            ("quarterly", "2027-01-01T00:00:00 Fri"),
            ("mon..fri 02:30", "2026-12-02T02:30:00 Wed"),
            ("sat,sun 3:00", "2026-12-05T03:00:00 Sat"),
            ("*/15", "2026-12-01T16:15:00 Tue"),
            ("02:00", "2026-12-02T02:00:00 Wed"),
            ("*-*-01 00:00", "2027-01-01T00:00:00 Fri"),
            ("16:07", "2026-12-02T16:07:00 Wed"),
            ("16:07:31", "2026-12-01T16:07:31 Tue"),
            ("30/10", "2026-12-01T16:30:00 Tue"),
            ("mon..wed 30/10", "2026-12-01T16:30:00 Tue"),
            ("fri 12..13:5/20", "2026-12-04T12:05:00 Fri"),
            ("mon..fri 8..17,22:0/15", "2026-12-01T16:15:00 Tue"),
            ("sat..mon 12:00", "2026-12-05T12:00:00 Sat"),
            ("2027-06-15", "2027-06-15T00:00:00 Tue"),
            ("*-02-29 12:00", "2028-02-29T12:00:00 Tue"),
            ("mon *-02-29", "2044-02-29T00:00:00 Mon"),
            ("2028/2-01-01", "2028-01-01T00:00:00 Sat"),
        ] {
            assert_eq!(next(spec, from), want, "{spec}");
        }
        // Strictly after: a point equal to `after` is not returned.
        assert_eq!(
            next("*/15", "2026-12-01T16:15:00Z"),
            "2026-12-01T16:30:00 Tue"
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in [
            "",
            "funday",
            "25:00",
            "*:61",
            "mon..xyz",
            "1..0",
            "*/0",
            "a b c d",
            "2026-13-01",
            "1-2-3-4",
            "12:00 13:00",
        ] {
            assert!(CalendarEvent::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn local_time_and_dst_gaps() {
        // A zone 2 h ahead: 02:30 there is 00:30 UTC.
        let tz = chrono::FixedOffset::east_opt(7200).expect("tz");
        let ev = CalendarEvent::parse("02:30").expect("ev");
        let after = at("2026-12-01T16:00:00Z").with_timezone(&tz);
        let n = ev.next_after(&after).expect("next");
        assert_eq!(n.with_timezone(&Utc), at("2026-12-02T00:30:00Z"));
    }

    fn spec_strategy() -> impl Strategy<Value = String> {
        let wd = prop::sample::select(vec!["", "mon ", "mon..fri ", "sat,sun ", "tue,thu..sat "]);
        let hour = prop::sample::select(vec!["*", "0", "2", "8..17", "*/3", "5/7", "22,23"]);
        let min = prop::sample::select(vec!["0", "30", "*/15", "5/20", "0..5", "59"]);
        (wd, hour, min, any::<bool>()).prop_map(|(w, h, m, minutes_only)| {
            if minutes_only {
                format!("{w}{m}")
            } else {
                format!("{w}{h}:{m}")
            }
        })
    }

    proptest! {
        #[test]
        fn next_is_the_first_matching_minute_after(spec in spec_strategy(), secs in 0i64..(400 * 86400 * 30)) {
            let ev = CalendarEvent::parse(&spec).expect("parses");
            let after = at("2020-01-01T00:00:00Z") + Duration::seconds(secs);
            let n = ev.next_after(&after).expect("next");
            prop_assert!(n > after);
            prop_assert!(ev.matches(n.naive_utc()));
            // No matching minute in between (every spec here fires on whole minutes).
            let mut t = after.naive_utc().with_second(0).expect("s") + Duration::minutes(1);
            while t < n.naive_utc() {
                prop_assert!(!ev.matches(t), "{spec}: {t} matches before {n}");
                t += Duration::minutes(1);
            }
        }
    }
}
