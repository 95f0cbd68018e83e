//! The iam-oracle as a separate, long-lived `node oracle.mjs --jsonl` process.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Oracle {
    dir: PathBuf,
}

/// Where the oracle is installed: `$IAM_ORACLE_DIR`, default `/tmp/iam-oracle`.
fn oracle_dir() -> PathBuf {
    std::env::var_os("IAM_ORACLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/iam-oracle"))
}

impl Oracle {
    /// Find the installed oracle; panics when it is missing. The tests that use it are
    /// `#[ignore]`d, so they only run when asked to (`--include-ignored`, as scripts/test.sh
    /// does), and then a missing oracle is a failure, never a silent pass.
    pub fn find(test: &str) -> Oracle {
        let dir = oracle_dir();
        let problem = if !dir.join("oracle.mjs").is_file() {
            Some(format!("{} has no oracle.mjs", dir.display()))
        } else if !dir
            .join("node_modules/@cloud-copilot/iam-simulate")
            .is_dir()
        {
            Some(format!(
                "{} has no node_modules (run npm ci)",
                dir.display()
            ))
        } else {
            match Command::new("node").arg("--version").output() {
                Ok(o) if o.status.success() => None,
                _ => Some("`node` is not on PATH".to_string()),
            }
        };
        if let Some(p) = problem {
            panic!(
                "{test}: the IAM oracle is not installed: {p}. \
                 Run scripts/setup-oracle.sh (IAM_ORACLE_DIR={})",
                dir.display()
            );
        }
        Oracle { dir }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Evaluate a batch of requests (pipelined through one process).
    pub fn run(&self, requests: &[Value]) -> Vec<Value> {
        let mut child = Command::new("node")
            .arg(self.dir.join("oracle.mjs"))
            .arg("--jsonl")
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node oracle.mjs --jsonl");
        let mut stdin = child.stdin.take().expect("oracle stdin");
        let lines: Vec<String> = requests.iter().map(|r| r.to_string()).collect();
        let writer = std::thread::spawn(move || {
            for l in lines {
                if writeln!(stdin, "{l}").is_err() {
                    break;
                }
            }
            // Dropping stdin closes it; the oracle exits after the last line.
        });
        let stdout = child.stdout.take().expect("oracle stdout");
        let mut out = Vec::with_capacity(requests.len());
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read oracle output");
            out.push(serde_json::from_str(&line).expect("oracle output is JSON"));
        }
        writer.join().expect("writer thread");
        let status = child.wait().expect("oracle exit");
        assert!(status.success(), "oracle exited with {status}");
        assert_eq!(out.len(), requests.len(), "oracle answered every request");
        out
    }
}
