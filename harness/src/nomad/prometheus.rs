//! A parser of the Prometheus text exposition format (what `/v1/metrics?format=prometheus` returns), as a
//! pure function over bytes: bounded input, errors naming the line, never a panic.

/// Largest body accepted (64 MiB).
pub const MAX_BODY: usize = 64 << 20;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    /// Metric name (`process_cpu_seconds_total`).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// Value (may be ±Inf or NaN).
    pub value: f64,
}

impl PromSample {
    /// The value of label `k`.
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// A parse failure, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromError {
    /// The body exceeded [`MAX_BODY`].
    #[error("Prometheus body larger than {max} bytes")]
    TooLarge {
        /// The bound.
        max: usize,
    },
    /// The body is not UTF-8.
    #[error("Prometheus body is not UTF-8 (at byte {at})")]
    Utf8 {
        /// Offset of the first bad byte.
        at: usize,
    },
    /// A line is malformed.
    #[error("line {line}: {msg}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What was wrong.
        msg: String,
    },
}

/// Parses a whole exposition body. Comment (`#`) and blank lines are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<PromSample>, PromError> {
    if body.len() > MAX_BODY {
        return Err(PromError::TooLarge { max: MAX_BODY });
    }
    let text = std::str::from_utf8(body).map_err(|e| PromError::Utf8 {
        at: e.valid_up_to(),
    })?;
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(|msg| PromError::Syntax { line: i + 1, msg })?);
    }
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_line(line: &str) -> Result<PromSample, String> {
    let mut chars = line.char_indices().peekable();
    match chars.peek() {
        Some(&(_, c)) if is_name_start(c) => {}
        _ => return Err(format!("expected a metric name at `{}`", snippet(line))),
    }
    let mut name_end = line.len();
    for (i, c) in line.char_indices() {
        if !is_name_char(c) {
            name_end = i;
            break;
        }
    }
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
            if end == 0 {
                return Err(format!("bad label name in `{}`", snippet(line)));
            }
            let lname = rest[..end].to_string();
            rest = rest[end..].trim_start();
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| format!("expected `=` after label `{lname}`"))?;
            rest = rest.trim_start();
            rest = rest
                .strip_prefix('"')
                .ok_or_else(|| format!("expected `\"` to open label `{lname}`"))?;
            let mut val = String::new();
            let mut closed = None;
            let mut it = rest.char_indices();
            while let Some((i, c)) = it.next() {
                match c {
                    '\\' => match it.next() {
                        Some((_, 'n')) => val.push('\n'),
                        Some((_, '\\')) => val.push('\\'),
                        Some((_, '"')) => val.push('"'),
                        Some((_, o)) => {
                            val.push('\\');
                            val.push(o)
                        }
                        None => return Err(format!("unterminated label value of `{lname}`")),
                    },
                    '"' => {
                        closed = Some(i);
                        break;
                    }
                    c => val.push(c),
                }
            }
            let end = closed.ok_or_else(|| format!("unterminated label value of `{lname}`"))?;
            rest = rest[end + 1..].trim_start();
            labels.push((lname, val));
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err(format!(
                    "expected `,` or `}}` after label value in `{}`",
                    snippet(line)
                ));
            }
        }
    }
    let mut parts = rest.split_whitespace();
    let v = parts
        .next()
        .ok_or_else(|| format!("metric `{name}` has no value"))?;
    let value = parse_value(v)
        .ok_or_else(|| format!("metric `{name}`: `{}` is not a number", snippet(v)))?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("metric `{name}`: bad timestamp `{}`", snippet(ts)))?;
    }
    if parts.next().is_some() {
        return Err(format!("metric `{name}`: trailing text"));
    }
    Ok(PromSample {
        name,
        labels,
        value,
    })
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

fn snippet(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exposition() {
        let body =
            b"# HELP process_cpu_seconds_total CPU.\n# TYPE process_cpu_seconds_total counter\n\
process_cpu_seconds_total 12.5\n\
nomad_nomad_plan_submit{host=\"srv1\",quantile=\"0.5\"} 0.23\n\
nomad_nomad_plan_submit_sum{host=\"s\\\"1\"} NaN 1700000000000\n\
go_x{a=\"1\",} +Inf\n";
        let s = parse(body).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].name, "process_cpu_seconds_total");
        assert_eq!(s[0].value, 12.5);
        assert_eq!(s[1].label("quantile"), Some("0.5"));
        assert_eq!(s[2].label("host"), Some("s\"1"));
        assert!(s[2].value.is_nan());
        assert_eq!(s[3].value, f64::INFINITY);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse(b"ok 1\nbad{x=\"1\" 2\n").unwrap_err(),
            PromError::Syntax {
                line: 2,
                msg: "expected `,` or `}` after label value in `bad{x=\"1\" 2`".into()
            }
        );
        assert!(parse(b"x\n").is_err());
        assert!(parse(b"x abc\n").is_err());
        assert!(parse(b"{a=\"b\"} 1\n").is_err());
        assert!(matches!(parse(b"x 1\n\xff"), Err(PromError::Utf8 { .. })));
    }
}
