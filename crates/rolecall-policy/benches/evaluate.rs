//! Evaluation speed: a typical 3-statement identity policy (StringLike with
//! `${aws:username}`, IpAddress, a Bool Deny) and a principal with 20
//! attached policies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use rolecall_policy::{Policy, PolicyKind, PolicyRef, PolicySet};

#[path = "common/typical.rs"]
mod typical;
use typical::{TYPICAL, request};

/// 20 policies of 3 statements each over different services; the last one
/// is the typical policy, so every statement is examined.
fn twenty() -> Vec<Policy> {
    let mut out = Vec::new();
    for i in 0..19 {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[
              {{"Effect":"Allow","Action":["svc{i}:Get*","svc{i}:List*"],"Resource":"arn:aws:svc{i}:*:123456789012:thing/${{aws:username}}/*"}},
              {{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*","Condition":{{"StringEquals":{{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}}}}},
              {{"Effect":"Deny","Action":"iam:*","Resource":"*","Condition":{{"BoolIfExists":{{"aws:MultiFactorAuthPresent":"false"}}}}}}
            ]}}"#
        );
        out.push(Policy::parse(&doc, PolicyKind::Managed).expect("valid"));
    }
    out.push(Policy::parse(TYPICAL, PolicyKind::Managed).expect("valid"));
    out
}

fn bench(c: &mut Criterion) {
    let typical = Policy::parse(TYPICAL, PolicyKind::Identity).expect("valid");
    let req = request();
    let refs = [PolicyRef::new("typical", &typical)];
    let set = PolicySet {
        identity: &refs,
        ..Default::default()
    };
    assert!(set.evaluate(&req).is_allowed());
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical_3_statements", |b| {
        b.iter(|| black_box(&set).evaluate(black_box(&req)))
    });

    let many = twenty();
    let refs: Vec<PolicyRef<'_>> = many.iter().map(|p| PolicyRef::new("p", p)).collect();
    let set20 = PolicySet {
        identity: &refs,
        ..Default::default()
    };
    assert!(set20.evaluate(&req).is_allowed());
    g.bench_function("20_attached_policies", |b| {
        b.iter(|| black_box(&set20).evaluate(black_box(&req)))
    });
    let denied = request().with_key("aws:SecureTransport", "false");
    g.bench_function("20_attached_policies_explicit_deny", |b| {
        b.iter(|| black_box(&set20).evaluate(black_box(&denied)))
    });
    g.finish();

    let mut p = c.benchmark_group("parse");
    p.bench_function("typical_3_statements", |b| {
        b.iter(|| Policy::parse(black_box(TYPICAL), PolicyKind::Identity))
    });
    p.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
