//! The event stream's wire format, as pure functions over bytes: [`LineSplitter`] cuts NDJSON into lines
//! (bounded length), [`decode_line`] turns one line into a heartbeat or a [`Batch`] of borrowed events.
//! Neither does IO, allocates per event beyond what the JSON needs, or panics on any input.

use std::borrow::Cow;

use serde::Deserialize;

use super::types::Allocation;

/// Longest line accepted by default (64 MiB). One line is one Raft index's batch, which can be large.
pub const DEFAULT_MAX_LINE: usize = 64 << 20;

/// Errors from the stream's framing or content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// A line exceeded the bound (the buffered part is dropped).
    #[error("event-stream line longer than {max} bytes")]
    TooLong {
        /// The bound, bytes.
        max: usize,
    },
    /// A line was not UTF-8.
    #[error("event-stream line is not valid UTF-8 (at byte {at})")]
    Utf8 {
        /// Offset of the first bad byte.
        at: usize,
    },
    /// A line was not the JSON the API promises.
    #[error("event-stream line is not a valid event batch: {0}")]
    Json(String),
    /// The body ended in the middle of a line.
    #[error("event stream ended inside a line ({len} bytes unterminated)")]
    Truncated {
        /// Bytes of the partial line.
        len: usize,
    },
}

/// Splits a byte stream into `\n`-terminated lines (a trailing `\r` is dropped), keeping at most
/// `max_line` bytes of an unterminated line buffered.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    start: usize,
    scanned: usize,
    max_line: usize,
    overflow: bool,
}

impl LineSplitter {
    /// A splitter with the given bound.
    pub fn new(max_line: usize) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line: max_line.max(1),
            overflow: false,
        }
    }

    /// Appends a chunk of the body. Lines are taken with [`LineSplitter::next_line`].
    pub fn push(&mut self, chunk: &[u8]) {
        // Compact only when the consumed prefix dwarfs the partial line that must move, so the copying
        // stays amortised (at most a third of a byte moved per byte pushed).
        let rest = self.buf.len() - self.start;
        if self.start > 0 && (rest == 0 || self.start >= 3 * rest) {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete line, without its terminator. `Some(Err(TooLong))` once per overlong line, whose
    /// bytes are skipped up to and including its `\n`.
    pub fn next_line(&mut self) -> Option<Result<&[u8], LineError>> {
        loop {
            let from = self.scanned.max(self.start);
            match memchr(b'\n', &self.buf[from..]) {
                Some(off) => {
                    let end = from + off;
                    let line_start = self.start;
                    self.start = end + 1;
                    self.scanned = self.start;
                    if self.overflow {
                        self.overflow = false;
                        continue;
                    }
                    if end - line_start > self.max_line {
                        return Some(Err(LineError::TooLong { max: self.max_line }));
                    }
                    let mut line = &self.buf[line_start..end];
                    if let [rest @ .., b'\r'] = line {
                        line = rest;
                    }
                    return Some(Ok(line));
                }
                None => {
                    self.scanned = self.buf.len();
                    if self.buf.len() - self.start > self.max_line {
                        // Drop what we hold of this line; remember to skip its remainder.
                        let was = self.overflow;
                        self.buf.clear();
                        self.start = 0;
                        self.scanned = 0;
                        self.overflow = true;
                        if !was {
                            return Some(Err(LineError::TooLong { max: self.max_line }));
                        }
                    }
                    return None;
                }
            }
        }
    }

    /// At end of body: an error if a partial line remains (a close-delimited body cut mid-line).
    pub fn finish(&mut self) -> Result<(), LineError> {
        let rest = self.buffered();
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        let overflow = std::mem::take(&mut self.overflow);
        if rest > 0 || overflow {
            Err(LineError::Truncated { len: rest })
        } else {
            Ok(())
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
}

/// One decoded line of the stream.
#[derive(Debug)]
pub enum StreamItem<'a> {
    /// `{}` (or a batch with index 0 and no events): the connection is alive.
    Heartbeat,
    /// A batch of events of one Raft index.
    Batch(Batch<'a>),
}

/// `structs.Events`: the events of one Raft index.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Batch<'a> {
    /// Raft index.
    pub index: u64,
    /// The events.
    #[serde(borrow)]
    pub events: Option<Vec<Event<'a>>>,
}

/// One event.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Event<'a> {
    /// `Allocation`, `Evaluation`, `Job`, `Node`, `Deployment`.
    #[serde(borrow)]
    pub topic: Cow<'a, str>,
    /// `PlanResult`, `AllocationUpdated`, …
    #[serde(borrow, rename = "Type")]
    pub event_type: Cow<'a, str>,
    /// Object key.
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    /// Raft index.
    pub index: u64,
    /// The object.
    #[serde(borrow)]
    pub payload: Payload<'a>,
}

/// Event payload: one of these is set, by topic.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Payload<'a> {
    /// Allocation topic.
    #[serde(borrow)]
    pub allocation: Option<Allocation<'a>>,
    /// Evaluation topic.
    #[serde(borrow)]
    pub evaluation: Option<EvalEvent<'a>>,
    /// Job topic.
    #[serde(borrow)]
    pub job: Option<JobEvent<'a>>,
}

/// Evaluation fields the timeline needs.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct EvalEvent<'a> {
    /// Eval ID.
    #[serde(borrow, rename = "ID")]
    pub id: Cow<'a, str>,
    /// Job ID.
    #[serde(borrow, rename = "JobID")]
    pub job_id: Cow<'a, str>,
    /// Status.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
}

/// Job fields the timeline needs.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobEvent<'a> {
    /// Job ID.
    #[serde(borrow, rename = "ID")]
    pub id: Cow<'a, str>,
    /// Status.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// Registration time, Unix ns.
    pub submit_time: i64,
}

/// Decodes one line: blank → `None`; `{}` → heartbeat; otherwise a batch. Invalid UTF-8 or JSON → error.
pub fn decode_line(line: &[u8]) -> Result<Option<StreamItem<'_>>, LineError> {
    let text = std::str::from_utf8(line).map_err(|e| LineError::Utf8 {
        at: e.valid_up_to(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.starts_with('{') {
        return Err(LineError::Json(format!(
            "expected a JSON object, found `{}`",
            text.chars().take(40).collect::<String>()
        )));
    }
    let b: Batch<'_> = serde_json::from_str(text).map_err(|e| LineError::Json(e.to_string()))?;
    if b.index == 0 && b.events.as_ref().is_none_or(|e| e.is_empty()) {
        return Ok(Some(StreamItem::Heartbeat));
    }
    Ok(Some(StreamItem::Batch(b)))
}

/// What [`decode_line_events`] found on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A blank line.
    Blank,
    /// A heartbeat (`{}`, or index 0 with no events).
    Heartbeat,
    /// A batch: its index and how many events were handed over.
    Batch {
        /// Raft index (the `Index` key, else the highest event `Index`).
        index: u64,
        /// Events passed to the callback.
        events: u64,
    },
}

/// Streaming form of [`decode_line`]: calls `on_event(index, event)` for each event as it is parsed,
/// without collecting the batch into a `Vec` (the ingest hot path). `index` is the batch's `Index` when
/// it precedes `Events` on the line (as Nomad writes it), else the event's own `Index`. If the line
/// turns out malformed after some events, those events were already delivered and an error is returned;
/// callers merge idempotently, so this is harmless.
pub fn decode_line_events<'a, F>(line: &'a [u8], mut on_event: F) -> Result<LineKind, LineError>
where
    F: FnMut(u64, Event<'a>),
{
    let text = std::str::from_utf8(line).map_err(|e| LineError::Utf8 {
        at: e.valid_up_to(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(LineKind::Blank);
    }
    if !text.starts_with('{') {
        return Err(LineError::Json(format!(
            "expected a JSON object, found `{}`",
            text.chars().take(40).collect::<String>()
        )));
    }
    let mut seed = BatchSeed {
        f: &mut on_event,
        index: 0,
        max_event_index: 0,
        events: 0,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(&mut seed, &mut de)
        .map_err(|e| LineError::Json(e.to_string()))?;
    de.end().map_err(|e| LineError::Json(e.to_string()))?;
    let index = if seed.index > 0 {
        seed.index
    } else {
        seed.max_event_index
    };
    if index == 0 && seed.events == 0 {
        return Ok(LineKind::Heartbeat);
    }
    Ok(LineKind::Batch {
        index,
        events: seed.events,
    })
}

struct BatchSeed<'f, F> {
    f: &'f mut F,
    index: u64,
    max_event_index: u64,
    events: u64,
}

impl<'de, F: FnMut(u64, Event<'de>)> serde::de::DeserializeSeed<'de> for &mut BatchSeed<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(u64, Event<'de>)> serde::de::Visitor<'de> for &mut BatchSeed<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event batch object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "Index" => self.index = map.next_value()?,
                "Events" => map.next_value_seed(EventsSeed(&mut *self))?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct EventsSeed<'s, 'f, F>(&'s mut BatchSeed<'f, F>);

impl<'de, F: FnMut(u64, Event<'de>)> serde::de::DeserializeSeed<'de> for EventsSeed<'_, '_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, F: FnMut(u64, Event<'de>)> serde::de::Visitor<'de> for EventsSeed<'_, '_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of events or null")
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let b = self.0;
        while let Some(ev) = seq.next_element::<Event<'de>>()? {
            b.max_event_index = b.max_event_index.max(ev.index);
            let idx = if b.index > 0 { b.index } else { ev.index };
            b.events += 1;
            (b.f)(idx, ev);
        }
        Ok(())
    }
}

/// Parses Nomad's RFC 3339 task times to Unix ns. `None` for null, Go's zero time, or anything unparsable.
pub fn rfc3339_to_unix_ns(s: &str) -> Option<i64> {
    if let Some(ns) = fast_rfc3339_utc(s.as_bytes()) {
        return (ns > 0).then_some(ns);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    let ns = t.timestamp_nanos_opt()?;
    (ns > 0).then_some(ns)
}

/// Fast path for the common `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` form; anything else → `None` (then chrono).
fn fast_rfc3339_utc(b: &[u8]) -> Option<i64> {
    if b.len() < 20
        || b[b.len() - 1] != b'Z'
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as i64;
        }
        Some(v)
    };
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut frac = 0i64;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        if rest[0] != b'.' || rest.len() < 2 || rest.len() > 10 {
            return None;
        }
        frac = num(20..b.len() - 1)? * 10i64.pow((10 - rest.len()) as u32);
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    secs.checked_mul(1_000_000_000)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &mut LineSplitter) -> Vec<Result<Vec<u8>, LineError>> {
        let mut v = Vec::new();
        while let Some(l) = s.next_line() {
            v.push(l.map(|x| x.to_vec()));
        }
        v
    }

    #[test]
    fn splits_across_chunks() {
        let mut s = LineSplitter::new(100);
        s.push(b"{}\n{\"Ind");
        assert_eq!(lines(&mut s), vec![Ok(b"{}".to_vec())]);
        s.push(b"ex\":1}\r\n");
        assert_eq!(lines(&mut s), vec![Ok(b"{\"Index\":1}".to_vec())]);
        assert!(s.finish().is_ok());
    }

    #[test]
    fn overlong_line_is_an_error_once_and_skipped() {
        let mut s = LineSplitter::new(8);
        s.push(b"0123456789");
        assert_eq!(lines(&mut s), vec![Err(LineError::TooLong { max: 8 })]);
        s.push(b"abcdefghijk");
        assert!(lines(&mut s).is_empty());
        s.push(b"xyz\nok\n");
        assert_eq!(lines(&mut s), vec![Ok(b"ok".to_vec())]);
        assert!(s.buffered() <= 8);
    }

    #[test]
    fn truncated_body_is_reported() {
        let mut s = LineSplitter::new(100);
        s.push(b"{}\n{\"Index\":");
        let _ = lines(&mut s);
        assert_eq!(s.finish(), Err(LineError::Truncated { len: 9 }));
    }

    #[test]
    fn decodes_heartbeat_and_batch() {
        assert!(matches!(
            decode_line(b"{}"),
            Ok(Some(StreamItem::Heartbeat))
        ));
        assert!(matches!(decode_line(b"  "), Ok(None)));
        let line = br#"{"Index":1050,"Events":[{"Topic":"Allocation","Type":"PlanResult","Key":"a","Index":1050,
            "Payload":{"Allocation":{"ID":"5457f16d-0f87-8e6b-5e91-0c7da3a41eb7","JobID":"j\"1","ClientStatus":"pending",
            "TaskStates":null,"CreateTime":1636017249798459000,"Metrics":{"AllocationTime":75475},"Unknown":[1,2]}}}]}"#;
        let Ok(Some(StreamItem::Batch(b))) = decode_line(line) else {
            panic!("not a batch")
        };
        assert_eq!(b.index, 1050);
        let ev = &b.events.as_ref().unwrap()[0];
        let a = ev.payload.allocation.as_ref().unwrap();
        assert_eq!(a.job_id, "j\"1");
        assert_eq!(a.create_time, 1636017249798459000);
        assert!(decode_line(b"\xff{}").is_err());
        assert!(decode_line(b"{\"Index\":").is_err());
        assert!(decode_line(b"[1]").is_err());
    }

    #[test]
    fn streaming_decode_matches_vec_decode() {
        let line = br#"{"Index":9,"Events":[{"Topic":"Allocation","Type":"PlanResult","Key":"a","Index":9,"Payload":{"Allocation":{"ID":"x","JobID":"j"}}},
            {"Topic":"Evaluation","Type":"EvaluationUpdated","Key":"e","Index":9,"Payload":{"Evaluation":{"ID":"e","JobID":"j","Status":"blocked"}}}]}"#;
        let mut got = Vec::new();
        assert_eq!(
            decode_line_events(line, |i, e| got.push((i, e.topic.to_string()))),
            Ok(LineKind::Batch {
                index: 9,
                events: 2
            })
        );
        assert_eq!(
            got,
            vec![(9, "Allocation".to_string()), (9, "Evaluation".to_string())]
        );
        assert_eq!(
            decode_line_events(b"{}", |_, _| panic!("no events")),
            Ok(LineKind::Heartbeat)
        );
        assert_eq!(
            decode_line_events(br#"{"Index":0,"Events":null}"#, |_, _| panic!("no events")),
            Ok(LineKind::Heartbeat)
        );
        assert_eq!(decode_line_events(b" ", |_, _| {}), Ok(LineKind::Blank));
        assert!(decode_line_events(b"{\"Index\":1,\"Events\":[", |_, _| {}).is_err());
        assert!(decode_line_events(b"{} x", |_, _| {}).is_err());
        assert!(decode_line_events(b"\xfe", |_, _| {}).is_err());
        // Events before Index: the events' own Index is used.
        let mut idx = Vec::new();
        let l2 = br#"{"Events":[{"Index":4,"Payload":{}}],"Index":4}"#;
        assert_eq!(
            decode_line_events(l2, |i, _| idx.push(i)),
            Ok(LineKind::Batch {
                index: 4,
                events: 1
            })
        );
        assert_eq!(idx, vec![4]);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(
            rfc3339_to_unix_ns("1970-01-01T00:00:01.5Z"),
            Some(1_500_000_000)
        );
        assert_eq!(
            rfc3339_to_unix_ns("2021-11-04T09:14:09.878484123+01:00"),
            Some(1_636_013_649_878_484_123)
        );
        assert_eq!(rfc3339_to_unix_ns("0001-01-01T00:00:00Z"), None);
        assert_eq!(rfc3339_to_unix_ns("yesterday"), None);
        for t in [
            "2021-11-04T09:14:09.878484Z",
            "2024-02-29T23:59:59.999999999Z",
            "2026-11-22T01:30:00Z",
            "1999-12-31T00:00:00.1Z",
        ] {
            let want = chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .timestamp_nanos_opt()
                .unwrap();
            assert_eq!(fast_rfc3339_utc(t.as_bytes()), Some(want), "{t}");
        }
    }
}
