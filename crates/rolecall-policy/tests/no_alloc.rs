//! The evaluation hot path does not allocate. (Runs without the libtest
//! harness so that no other thread allocates while allocations are counted.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rolecall_policy::{Policy, PolicyKind, PolicyRef, PolicySet, Principal, RequestContext};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    evaluate_does_not_allocate();
    println!("no_alloc: PolicySet::evaluate made 0 allocations in 1000 evaluations");
}

fn evaluate_does_not_allocate() {
    let identity = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b",
           "Condition":{"StringLike":{"s3:prefix":["home/${aws:username}/*"]}}},
          {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
           "Resource":"arn:aws:s3:::b/home/${aws:username}/*",
           "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]},
                        "ForAnyValue:StringEquals":{"aws:TagKeys":["a"]},
                        "DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},
                        "NumericLessThanIfExists":{"s3:max-keys":"10"},
                        "ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/${aws:username}"}}},
          {"Effect":"Deny","NotAction":"s3:*","NotResource":"arn:aws:s3:::b/${aws:PrincipalTag/x, 'd'}/*",
           "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
        PolicyKind::Identity,
    )
    .unwrap();
    let boundary = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        PolicyKind::Boundary,
    )
    .unwrap();
    let trust = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::123456789012:user/alice"]},"Action":"s3:GetObject","Resource":"*"}}"#,
        PolicyKind::Resource,
    )
    .unwrap();
    let ids = [PolicyRef::new("id", &identity)];
    let set = PolicySet {
        identity: &ids,
        boundary: Some(PolicyRef::new("pb", &boundary)),
        session: &[],
        resource: Some(PolicyRef::new("rp", &trust)),
    };
    let req = RequestContext::new(
        Principal::user("arn:aws:iam::123456789012:user/alice"),
        "s3:GetObject",
        "arn:aws:s3:::b/home/alice/x",
    )
    .with_key("aws:username", "alice")
    .with_key("aws:SourceIp", "10.1.2.3")
    .with_key("aws:SecureTransport", "true")
    .with_key("aws:CurrentTime", "2026-01-01T00:00:00Z")
    .with_key("aws:PrincipalArn", "arn:aws:iam::123456789012:user/alice")
    .with_values("aws:TagKeys", ["a", "b"]);
    assert!(set.evaluate(&req).is_allowed());

    let region = Region::new(GLOBAL);
    let mut allowed = 0;
    for _ in 0..1000 {
        if std::hint::black_box(&set)
            .evaluate(std::hint::black_box(&req))
            .is_allowed()
        {
            allowed += 1;
        }
    }
    let stats = region.change();
    assert_eq!(allowed, 1000);
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");
}
