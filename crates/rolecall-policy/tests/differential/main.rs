//! Differential tests against the independent IAM policy evaluator in
//! `../shared/tools/iam-oracle` (run as a separate `node` process; install it
//! with `scripts/setup-oracle.sh`). The tests that need the oracle are
//! `#[ignore]`d, so a plain `cargo test` reports them as ignored; run them with
//! `cargo test -p rolecall-policy --test differential -- --include-ignored`
//! (scripts/test.sh does), where a missing oracle fails them.
//!
//! * `generated_cases_agree_with_oracle`: seeded random requests covering every
//!   element and operator (`ROLECALL_DIFF_CASES`, default 10,000;
//!   `ROLECALL_DIFF_SEED`). Every disagreement must fall under a documented
//!   oracle divergence (`divergences.rs`).
//! * `corpus_matches_aws_and_oracle`: hand-written tricky cases
//!   (`tests/corpus/*.json`) with the AWS-documented decision; rolecall must
//!   give it, and the oracle must too unless the case names its divergence.
//! * `oracle_smoke_cases`: the oracle's own expectations (`cases/cases.json`).

mod divergences;
mod generate;
mod harness;
mod oracle;

use harness::Outcome;
use oracle::Oracle;
use serde_json::Value;
use std::collections::BTreeMap;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "needs the IAM oracle: scripts/setup-oracle.sh, then --include-ignored"]
fn generated_cases_agree_with_oracle() {
    let oracle = Oracle::find("generated_cases_agree_with_oracle");
    let n = env_num("ROLECALL_DIFF_CASES", 10_000) as usize;
    let seed = env_num("ROLECALL_DIFF_SEED", 0x5EED_2026);
    let mut rng = generate::Rng::new(seed);
    let requests: Vec<Value> = (0..n).map(|i| generate::request(&mut rng, i)).collect();
    let answers = oracle.run(&requests);

    let mut agree = 0usize;
    let mut documented: BTreeMap<u32, usize> = BTreeMap::new();
    let mut in_divergence_class = 0usize;
    let mut class_members: BTreeMap<u32, usize> = BTreeMap::new();
    let mut oracle_errors = Vec::new();
    let mut rejected = Vec::new();
    let mut failures = Vec::new();
    let mut decisions: BTreeMap<String, usize> = BTreeMap::new();
    for (req, ans) in requests.iter().zip(&answers) {
        let ours = harness::decide(req);
        let theirs = ans.get("decision").and_then(Value::as_str).unwrap_or("?");
        *decisions.entry(ours.oracle_str().to_string()).or_default() += 1;
        let divs = divergences::classify(req, ans, ours.reason());
        if !divs.is_empty() {
            in_divergence_class += 1;
        }
        for d in &divs {
            *class_members.entry(*d).or_default() += 1;
        }
        if let Outcome::Rejected(msg) = &ours {
            if divs.iter().any(|d| [3, 5, 7, 8].contains(d)) {
                continue;
            }
            rejected.push(format!("{msg}\n  request: {req}"));
            continue;
        }
        if theirs == "Error" {
            oracle_errors.push(format!("{}\n  request: {req}", ans));
            continue;
        }
        if ours.oracle_str() == theirs {
            agree += 1;
        } else if let Some(d) = divs.first() {
            *documented.entry(*d).or_default() += 1;
        } else {
            failures.push(format!(
                "rolecall={} oracle={theirs}\n  request: {req}",
                ours.oracle_str()
            ));
        }
    }
    eprintln!(
        "differential: {n} generated cases (seed {seed:#x}): {agree} agree, {} documented \
         divergences {documented:?}, {in_divergence_class} in a divergence class {class_members:?}, \
         {} oracle errors, {} rejected by rolecall, {} undocumented disagreements; \
         rolecall decisions {decisions:?}",
        documented.values().sum::<usize>(),
        oracle_errors.len(),
        rejected.len(),
        failures.len()
    );
    for (d, text) in divergences::DESCRIPTIONS {
        if let Some(n) = documented.get(d) {
            eprintln!("  divergence {d} ({n} cases): {text}");
        }
    }
    for (label, list) in [
        ("UNDOCUMENTED DISAGREEMENT", &failures),
        ("REJECTED BY ROLECALL", &rejected),
        ("ORACLE ERROR", &oracle_errors),
    ] {
        for f in list.iter().take(env_num("ROLECALL_DIFF_SHOW", 8) as usize) {
            eprintln!("{label}: {f}");
        }
    }
    assert!(n >= 1, "no cases");
    assert!(
        failures.is_empty() && rejected.is_empty() && oracle_errors.is_empty(),
        "{} undocumented disagreements, {} unexpected rejections, {} oracle errors (see stderr)",
        failures.len(),
        rejected.len(),
        oracle_errors.len()
    );
}

/// Load every `tests/corpus/*.json` file (arrays of cases).
#[allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helper: an unreadable corpus fails the test"
)]
fn corpus() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read corpus file");
        let cases: Vec<Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        out.extend(cases);
    }
    out
}

#[test]
fn corpus_matches_aws_without_oracle() {
    // The expectations hold whether or not the oracle is installed.
    let mut bad = Vec::new();
    for case in corpus() {
        let ours = harness::decide(&case);
        let expect = case["expect"].as_str().expect("expect");
        if ours.oracle_str() != expect {
            bad.push(format!(
                "{}: expected {expect}, rolecall {:?}",
                case["id"], ours
            ));
        }
    }
    assert!(bad.is_empty(), "corpus failures:\n{}", bad.join("\n"));
}

#[test]
#[ignore = "needs the IAM oracle: scripts/setup-oracle.sh, then --include-ignored"]
fn corpus_matches_aws_and_oracle() {
    let oracle = Oracle::find("corpus_matches_aws_and_oracle");
    let cases = corpus();
    let requests: Vec<Value> = cases
        .iter()
        .filter(|c| c["expect"] != "Rejected")
        .cloned()
        .collect();
    let answers = oracle.run(&requests);
    let mut bad = Vec::new();
    let mut divergent = 0;
    for (case, ans) in requests.iter().zip(&answers) {
        let expect = case["expect"].as_str().expect("expect");
        let theirs = ans["decision"].as_str().unwrap_or("?");
        let declared = case.get("oracleDivergence").and_then(Value::as_u64);
        match (theirs == expect, declared) {
            (true, None) => {}
            (false, Some(_)) => divergent += 1,
            (true, Some(d)) => bad.push(format!(
                "{}: declares oracle divergence {d} but the oracle agrees ({theirs})",
                case["id"]
            )),
            (false, None) => bad.push(format!(
                "{}: AWS/rolecall {expect}, oracle {theirs} {}",
                case["id"],
                ans.get("error").map(Value::to_string).unwrap_or_default()
            )),
        }
    }
    eprintln!(
        "corpus: {} cases compared with the oracle, {divergent} documented divergences",
        requests.len()
    );
    assert!(bad.is_empty(), "corpus vs oracle:\n{}", bad.join("\n"));
}

#[test]
#[ignore = "needs the IAM oracle: scripts/setup-oracle.sh, then --include-ignored"]
fn oracle_smoke_cases() {
    let oracle = Oracle::find("oracle_smoke_cases");
    let path = oracle.dir().join("cases/cases.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        panic!("{} missing", path.display());
    };
    let cases: Vec<Value> = serde_json::from_str(&text).expect("cases.json");
    let mut bad = Vec::new();
    for case in &cases {
        let ours = harness::decide(case);
        let expect = case["expect"].as_str().unwrap_or("?");
        if ours.oracle_str() != expect {
            bad.push(format!(
                "{}: expected {expect}, rolecall {:?}",
                case["id"], ours
            ));
        }
    }
    eprintln!("oracle smoke cases: {} checked", cases.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
