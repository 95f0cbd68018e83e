//! A plain timing loop (no criterion) for the typical 3-statement policy:
//! `cargo run --release --example eval_loop -- [iterations]`. Under
//! `perf stat -e instructions` it gives a load-independent cost per evaluation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rolecall_policy::{Policy, PolicyKind, PolicyRef, PolicySet, Principal, RequestContext};
use std::hint::black_box;
use std::time::Instant;

const TYPICAL: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"ListOwn","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::corp-data",
  "Condition":{"StringLike":{"s3:prefix":["home/${aws:username}/*"]}}},
 {"Sid":"RwOwn","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
  "Resource":"arn:aws:s3:::corp-data/home/${aws:username}/*",
  "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}},
 {"Sid":"DenyInsecure","Effect":"Deny","Action":"s3:*","Resource":"*",
  "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000_000);
    let policy = Policy::parse(TYPICAL, PolicyKind::Identity).expect("valid");
    let refs = [PolicyRef::new("typical", &policy)];
    let set = PolicySet {
        identity: &refs,
        ..Default::default()
    };
    let req = RequestContext::new(
        Principal::user("arn:aws:iam::123456789012:user/alice"),
        "s3:GetObject",
        "arn:aws:s3:::corp-data/home/alice/report.csv",
    )
    .with_key("aws:username", "alice")
    .with_key("aws:SourceIp", "10.1.2.3")
    .with_key("aws:SecureTransport", "true");
    let start = Instant::now();
    let mut allowed = 0u64;
    for _ in 0..n {
        allowed += u64::from(black_box(&set).evaluate(black_box(&req)).is_allowed());
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(allowed, n);
    println!(
        "{n} evaluations in {secs:.3}s: {:.0} evaluations/s, {:.1} ns each",
        n as f64 / secs,
        secs * 1e9 / n as f64
    );
}
