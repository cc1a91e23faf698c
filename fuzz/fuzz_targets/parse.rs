//! Fuzz the parser: any bytes give a tree or a diagnostic, never a panic or a stack overflow;
//! and whatever parses, formats to text that parses back to the same formatting.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = remedy::dsl::parse_bytes(data) {
        let text = remedy::dsl::format(&file);
        let again = remedy::dsl::parse(&text).expect("formatted text parses");
        assert_eq!(remedy::dsl::format(&again), text, "formatting is idempotent");
    }
});
