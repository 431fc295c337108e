//! One audit.log line of arbitrary bytes: `parse_line`, then every field through the value decoders.
#![no_main]

use execwatch::source::audit::line::{parse_line, Fields};
use execwatch::source::audit::value;
use libfuzzer_sys::fuzz_target;

fn check_value(raw: &[u8]) {
    match value::decode(raw) {
        Ok(Some(v)) => {
            // Decoded text or hex is never longer than its encoding.
            assert!(v.len() <= raw.len());
            if raw.first() != Some(&b'"') {
                // Hex: exactly half as many bytes as digits.
                assert_eq!(v.len() * 2, raw.len());
            }
        }
        Ok(None) => assert_eq!(raw, b"(null)"),
        Err(_) => {}
    }
    let _ = value::classify(raw);
    let _ = value::parse_u64(raw);
    let _ = value::parse_u32(raw);
    let _ = value::parse_i64(raw);
    let _ = value::plain_string(raw);
}

fn check_fields(body: &[u8], fields: Fields<'_>) {
    let mut n = 0usize;
    for (k, v) in fields {
        // Every key and value is a slice of the body, and no field has a space in its key.
        assert!(k.len() + v.len() < body.len());
        assert!(!k.contains(&b' '));
        check_value(v);
        n += 1;
        // A field takes at least its `=`.
        assert!(n <= body.len());
    }
}

fuzz_target!(|data: &[u8]| {
    check_value(data);
    if let Ok(Some(line)) = parse_line(data) {
        assert!(!line.record_type.is_empty());
        assert!(line.msec < 1000);
        let _ = line.millis();
        check_fields(line.body, line.fields());
        if let Some(enriched) = line.enriched {
            check_fields(enriched, line.enriched_fields());
        }
    }
});
