//! A plain timing loop (no criterion) for the typical 3-statement policy:
//! `cargo run --release --example eval_loop -- [iterations]`. Under
//! `perf stat -e instructions` it gives a load-independent cost per evaluation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rolecall_policy::{Policy, PolicyKind, PolicyRef, PolicySet};
use std::hint::black_box;
use std::time::Instant;

#[path = "../benches/common/typical.rs"]
mod typical;
use typical::{TYPICAL, request};

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
    let req = request();
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
