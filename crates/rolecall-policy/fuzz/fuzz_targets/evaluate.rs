//! Evaluating any policy that parses against a request built from the input
//! never panics, and `explain` agrees with `evaluate`.
//!
//! Input layout: lines. Line 1: policy document (one line of JSON). Line 2:
//! action. Line 3: resource. Further lines: `key=value` condition keys
//! (`key=a|b` for multi-valued keys).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rolecall_policy::{Policy, PolicyKind, PolicyRef, PolicySet, Principal, RequestContext};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let doc = lines.next().unwrap_or_default();
    let Ok(policy) = Policy::parse(doc, PolicyKind::Identity) else {
        return;
    };
    let action = lines.next().unwrap_or_default();
    let resource = lines.next().unwrap_or_default();
    let mut req = RequestContext::new(
        Principal::user("arn:aws:iam::123456789012:user/alice"),
        action,
        resource,
    );
    for line in lines {
        if let Some((k, v)) = line.split_once('=') {
            if v.contains('|') {
                req.keys.insert_values(k, v.split('|'));
            } else {
                req.keys.insert(k, v);
            }
        }
    }
    let refs = [PolicyRef::new("p", &policy)];
    let set = PolicySet {
        identity: &refs,
        boundary: Some(refs[0]),
        session: &refs,
        resource: None,
    };
    let e = set.evaluate(&req);
    assert_eq!(e, set.explain(&req).evaluation);
});
