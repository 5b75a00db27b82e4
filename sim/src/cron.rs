//! Cron specs of periodic jobs: a small parser and "next launch after" in UTC.
//!
//! Nomad parses `periodic.cron` with `github.com/hashicorp/cronexpr` ([src] `nomad/structs/structs.go`,
//! `PeriodicConfig.Validate` → `CronParseNext`, and `PeriodicConfig.Next` → `cronexpr.Parse(..).Next(from)`),
//! a fork of gorhill/cronexpr. This module reads the 5-field form CI schedules use (minute, hour, day of
//! month, month, day of week) with `*`, lists (`1,15`), ranges (`1-5`), steps (`*/10`, `0-30/5`), month and
//! weekday names (`JAN`, `MON`; `0` and `7` are Sunday) and the macros `@yearly` (`@annually`), `@monthly`,
//! `@weekly`, `@daily` (`@midnight`) and `@hourly`. When both day of month and day of week are restricted, a
//! day matches if either does (cronexpr, like Vixie cron). Not read: the optional seconds and year fields,
//! `L`, `W`, `#` and `?`; a spec using them is refused with an error naming the field.
//!
//! Times are whole Unix seconds, UTC: the simulated clock starts at [`crate::record::SIM_EPOCH_UNIX_NS`]
//! (2020-11-17T00:00:00Z, a midnight), so `@daily` launches at t = 0, 24 h, 48 h, …

/// A parsed 5-field cron spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    dom: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6 (Sunday = 0).
    dow: u8,
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses one field into a bit set over `lo..=hi`. `names` map to `lo + index`.
fn field(name: &str, text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u64, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(lo + i as u32);
        }
        let v: u32 = s
            .parse()
            .map_err(|_| format!("{name} field {text:?}: {s:?} is not a number"))?;
        if v < lo || v > hi {
            return Err(format!("{name} field {text:?}: {v} is outside {lo}-{hi}"));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        if part.is_empty() {
            return Err(format!("{name} field {text:?}: empty list element"));
        }
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let st: u32 = s
                    .parse()
                    .map_err(|_| format!("{name} field {text:?}: step {s:?} is not a number"))?;
                if st == 0 {
                    return Err(format!("{name} field {text:?}: a step of 0"));
                }
                (r, st)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((x, y)) = range.split_once('-') {
            let (x, y) = (value(x)?, value(y)?);
            if x > y {
                return Err(format!(
                    "{name} field {text:?}: range {x}-{y} runs backwards"
                ));
            }
            (x, y)
        } else {
            let x = value(range)?;
            // `5/15` means from 5 to the end, every 15 (cronexpr, Vixie).
            (x, if step > 1 { hi } else { x })
        };
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Cron {
    /// Parses a spec; the error names the field and what is wrong with it.
    pub fn parse(spec: &str) -> Result<Cron, String> {
        let s = spec.trim();
        let expanded = match s {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ if s.starts_with('@') => {
                return Err(format!(
                    "unknown macro {s:?} (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)"
                ))
            }
            _ => s,
        };
        let f: Vec<&str> = expanded.split_whitespace().collect();
        if f.len() != 5 {
            return Err(format!(
                "{spec:?} has {} fields; expected 5 (minute hour day-of-month month day-of-week) or a macro such as @daily",
                f.len()
            ));
        }
        for (i, x) in f.iter().enumerate() {
            if let Some(c) = x.chars().find(|c| matches!(c, 'L' | 'W' | '#' | '?')) {
                let names = ["minute", "hour", "day-of-month", "month", "day-of-week"];
                return Err(format!(
                    "{} field {x:?}: {c:?} is not supported by the simulator",
                    names[i]
                ));
            }
        }
        let dow = field("day-of-week", f[4], 0, 7, &DAYS)?;
        // 7 is Sunday too.
        let dow = ((dow | (dow >> 7)) & 0x7f) as u8;
        Ok(Cron {
            minutes: field("minute", f[0], 0, 59, &[])?,
            hours: field("hour", f[1], 0, 23, &[])? as u32,
            dom: field("day-of-month", f[2], 1, 31, &[])? as u32,
            months: field("month", f[3], 1, 12, &MONTHS)? as u16,
            dow,
            dom_star: f[2].starts_with('*'),
            dow_star: f[4].starts_with('*'),
        })
    }

    fn day_matches(&self, month: u32, day: u32, weekday: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let d = self.dom & (1 << day) != 0;
        let w = self.dow & (1 << weekday) != 0;
        match (self.dom_star, self.dow_star) {
            (true, true) => true,
            (false, true) => d,
            (true, false) => w,
            (false, false) => d || w,
        }
    }

    /// The first launch strictly after `unix_s` (whole seconds, UTC), or `None` if there is none within
    /// eight years (e.g. `0 0 31 2 *`).
    pub fn next_after(&self, unix_s: i64) -> Option<i64> {
        let start = unix_s.div_euclid(60) + 1; // the next whole minute
        let mut day = start.div_euclid(1440);
        let mut minute_of_day = start.rem_euclid(1440) as u32;
        for _ in 0..366 * 8 {
            let (_, m, d) = civil_from_days(day);
            let weekday = (day + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
            if self.day_matches(m, d, weekday) {
                for h in minute_of_day / 60..24 {
                    if self.hours & (1 << h) == 0 {
                        continue;
                    }
                    let from = if h == minute_of_day / 60 {
                        minute_of_day % 60
                    } else {
                        0
                    };
                    if let Some(mi) = (from..60).find(|&mi| self.minutes & (1 << mi) != 0) {
                        return Some((day * 1440 + h as i64 * 60 + mi as i64) * 60);
                    }
                }
            }
            day += 1;
            minute_of_day = 0;
        }
        None
    }
}

/// `(year, month 1-12, day 1-31)` of the day `z` days after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2020-11-17T00:00:00Z, a Tuesday (the simulator's t = 0).
    const T0: i64 = 1_605_571_200;

    fn next(spec: &str, from: i64) -> i64 {
        Cron::parse(spec).unwrap().next_after(from).unwrap() - T0
    }

    #[test]
    fn calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(T0 / 86_400), (2020, 11, 17));
        assert_eq!(civil_from_days(T0 / 86_400 + 105), (2021, 3, 2));
    }

    #[test]
    fn steps_lists_ranges_and_macros() {
        assert_eq!(next("*/10 * * * *", T0), 600, "strictly after");
        assert_eq!(next("*/10 * * * *", T0 - 1), 0);
        assert_eq!(next("*/10 * * * *", T0 + 601), 1200);
        assert_eq!(next("0 2 * * *", T0), 2 * 3600);
        assert_eq!(next("@daily", T0), 86_400);
        assert_eq!(next("@hourly", T0 + 1), 3600);
        assert_eq!(next("15,45 9-17/4 * * *", T0), 9 * 3600 + 15 * 60);
        assert_eq!(
            next("15,45 9-17/4 * * *", T0 + 9 * 3600 + 46 * 60),
            13 * 3600 + 15 * 60
        );
        // Weekdays: T0 is a Tuesday; the next Saturday is 4 days on; 7 and 0 are Sunday.
        assert_eq!(next("0 0 * * SAT", T0), 4 * 86_400);
        assert_eq!(next("0 0 * * 7", T0), 5 * 86_400);
        assert_eq!(next("0 0 * * 0", T0), 5 * 86_400);
        // Month names and day of month: 1 March 2021.
        assert_eq!(next("0 0 1 mar *", T0), 104 * 86_400);
        assert_eq!(next("@yearly", T0), 45 * 86_400, "2021-01-01");
        // Both restricted: either matches (the 20th, or any Monday: the 23rd is later).
        assert_eq!(next("0 0 20 * MON", T0), 3 * 86_400);
        assert_eq!(next("0 0 30 * MON", T0), 6 * 86_400);
        // A single value with a step runs to the end of the range.
        assert_eq!(next("50/5 * * * *", T0), 50 * 60);
        assert_eq!(next("50/5 * * * *", T0 + 56 * 60), 60 * 60 + 50 * 60);
    }

    #[test]
    fn impossible_dates_have_no_next_launch() {
        assert_eq!(Cron::parse("0 0 31 2 *").unwrap().next_after(T0), None);
    }

    #[test]
    fn bad_specs_are_named() {
        for (spec, want) in [
            ("* * * *", "4 fields"),
            ("* * * * * *", "6 fields"),
            ("60 * * * *", "minute field \"60\": 60 is outside 0-59"),
            ("* 24 * * *", "hour field"),
            ("* * 0 * *", "day-of-month field \"0\": 0 is outside 1-31"),
            ("* * * 13 *", "month field"),
            ("* * * * 8", "day-of-week field"),
            ("*/0 * * * *", "a step of 0"),
            ("5-1 * * * *", "runs backwards"),
            ("x * * * *", "\"x\" is not a number"),
            ("1,,2 * * * *", "empty list element"),
            ("* * L * *", "'L' is not supported"),
            ("@fortnightly", "unknown macro"),
            ("", "0 fields"),
        ] {
            let e = Cron::parse(spec).unwrap_err();
            assert!(e.contains(want), "{spec:?}: {e}");
        }
    }
}
