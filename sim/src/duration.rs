//! Parsing and printing human durations (`500ms`, `5s`, `1m30s`, `24h`) as integer nanoseconds.

/// Nanoseconds per unit suffix.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses `1h30m`, `250ms`, `1.5s`, `0`. Units: ns, us/µs, ms, s, m, h, d. Returns nanoseconds.
pub fn parse_duration_ns(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(0);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("`{s}`: expected a number at `{rest}`"));
        }
        let num: f64 = rest[..num_len].parse().map_err(|_| format!("`{s}`: bad number `{}`", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let mult = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| format!("`{s}`: unknown or missing unit `{unit}` (use ns, us, ms, s, m, h or d)"))?;
        total += (num * mult as f64).round() as u128;
        rest = &rest[unit_len..];
    }
    u64::try_from(total).map_err(|_| format!("`{s}`: too long"))
}

/// Formats nanoseconds compactly: `22m14s`, `1.5s`, `250ms`.
pub fn format_duration_ns(ns: u64) -> String {
    if ns >= 60_000_000_000 {
        let s = ns / 1_000_000_000;
        let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
        if h > 0 {
            format!("{h}h{m:02}m{s:02}s")
        } else {
            format!("{m}m{s:02}s")
        }
    } else if ns >= 1_000_000_000 {
        format!("{:.2}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{}µs", ns / 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_duration_ns("5s").unwrap(), 5_000_000_000);
        assert_eq!(parse_duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration_ns("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration_ns("250ms").unwrap(), 250_000_000);
        assert_eq!(parse_duration_ns("24h").unwrap(), 86_400_000_000_000);
        assert!(parse_duration_ns("5").is_err());
        assert!(parse_duration_ns("s").is_err());
        assert!(parse_duration_ns("5parsecs").is_err());
        assert_eq!(format_duration_ns(1_334_000_000_000), "22m14s");
    }
}
