//! Parsing arbitrary documents as every kind of policy never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rolecall_policy::{Policy, PolicyKind};

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = std::str::from_utf8(data) {
        for kind in PolicyKind::ALL {
            let _ = Policy::parse(doc, kind);
        }
    }
});
