//! proptest of the NDJSON and Prometheus parsers: arbitrary bytes, truncation, huge lines, invalid UTF-8.

use proptest::prelude::*;
use stampede::nomad::ndjson::{decode_line, LineSplitter};
use stampede::nomad::prometheus;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn splitter_never_panics_and_stays_bounded(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20), max in 1usize..64) {
        let mut s = LineSplitter::new(max);
        for c in &chunks {
            s.push(c);
            while let Some(l) = s.next_line() {
                if let Ok(l) = l {
                    prop_assert!(l.len() <= max);
                    let _ = decode_line(l);
                }
            }
            prop_assert!(s.buffered() <= max + c.len());
        }
        let _ = s.finish();
    }

    #[test]
    fn splitter_reassembles_any_chunking(lines in proptest::collection::vec("[a-z{}\":0-9]{0,40}", 0..20), cuts in proptest::collection::vec(0usize..2000, 0..10)) {
        let body: Vec<u8> = lines.iter().flat_map(|l| l.bytes().chain(std::iter::once(b'\n'))).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
        cuts.sort();
        let mut s = LineSplitter::new(1 << 20);
        let mut got = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain(std::iter::once(body.len())) {
            s.push(&body[prev..c]);
            prev = c;
            while let Some(l) = s.next_line() {
                got.push(String::from_utf8(l.unwrap().to_vec()).unwrap());
            }
        }
        prop_assert_eq!(got, lines);
        prop_assert!(s.finish().is_ok());
    }

    #[test]
    fn decode_line_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
        let _ = decode_line(&bytes);
    }

    #[test]
    fn decode_truncated_batches_is_an_error(cut in 1usize..200) {
        let line = br#"{"Index":7,"Events":[{"Topic":"Allocation","Type":"PlanResult","Key":"k","Index":7,"Payload":{"Allocation":{"ID":"5457f16d-0f87-8e6b-5e91-0c7da3a41eb7","JobID":"j","CreateTime":5}}}]}"#;
        let cut = cut.min(line.len() - 1);
        prop_assert!(decode_line(&line[..cut]).is_err());
    }

    #[test]
    fn prometheus_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
        let _ = prometheus::parse(&bytes);
    }

    #[test]
    fn prometheus_text_like_never_panics(s in "[a-z_{}=\",# \\n0-9.+-Infa]{0,300}") {
        let _ = prometheus::parse(s.as_bytes());
    }
}

#[test]
fn huge_line_is_an_error_with_bounded_memory() {
    let mut s = LineSplitter::new(1 << 20);
    let chunk = vec![b'x'; 64 << 10];
    let mut errors = 0;
    for _ in 0..64 {
        s.push(&chunk);
        while let Some(l) = s.next_line() {
            assert!(l.is_err());
            errors += 1;
        }
        assert!(s.buffered() <= (1 << 20) + chunk.len());
    }
    assert_eq!(errors, 1);
    s.push(b"\n{}\n");
    assert_eq!(s.next_line().unwrap().unwrap(), b"{}");
    let big = vec![b'#'; 65 << 20];
    assert!(matches!(
        prometheus::parse(&big),
        Err(prometheus::PromError::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn streaming_decoder_never_panics_and_agrees(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
        let mut n = 0u64;
        let r = stampede::nomad::ndjson::decode_line_events(&bytes, |_, _| n += 1);
        if let Ok(stampede::nomad::ndjson::LineKind::Batch { events, .. }) = r {
            prop_assert_eq!(events, n);
        }
    }

    #[test]
    fn streaming_decoder_on_truncated_batches(cut in 1usize..220) {
        let line = br#"{"Index":7,"Events":[{"Topic":"Allocation","Type":"PlanResult","Key":"k","Index":7,"Payload":{"Allocation":{"ID":"5457f16d-0f87-8e6b-5e91-0c7da3a41eb7","JobID":"j","CreateTime":5}}}]}"#;
        let cut = cut.min(line.len() - 1);
        let r = stampede::nomad::ndjson::decode_line_events(&line[..cut], |_, _| ());
        prop_assert!(r.is_err());
    }
}
