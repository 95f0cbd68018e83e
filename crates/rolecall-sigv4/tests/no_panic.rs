//! Randomized robustness test: `parse` and `verify` must never panic, whatever
//! the client sends. A small deterministic PRNG (no extra dependency) mutates
//! valid header/presigned requests and also generates pure garbage, including
//! multi-byte UTF-8 to catch bad string slicing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use rolecall_sigv4::{Request, SigningKey, parse, verify};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ALPHABET: &[&str] = &[
    "a",
    "Z",
    "0",
    "9",
    "=",
    "&",
    "%",
    "%2",
    "%zz",
    "%41",
    "+",
    "/",
    ";",
    ",",
    " ",
    "\t",
    ".",
    "..",
    "-",
    "_",
    "~",
    "é",
    "☕",
    "\u{1F600}",
    "\u{0}",
    "AWS4-HMAC-SHA256",
    "Credential=",
    "SignedHeaders=",
    "Signature=",
    "aws4_request",
    "X-Amz-Expires=",
    "X-Amz-Date=",
    "20260101T001000Z",
    "X-Amz-Algorithm=",
    "X-Amz-Credential=",
    "X-Amz-Signature=",
    "X-Amz-SignedHeaders=",
    "X-Amz-Security-Token=",
    "-1",
    "604801",
    "99999999999999999999",
];

const VALID_HEADER: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const VALID_QUERY: &str = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T001000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00";

fn garbage(rng: &mut Rng) -> String {
    let n = rng.below(24);
    (0..n).map(|_| rng.pick(ALPHABET)).collect()
}

/// Insert, delete or replace a random slice of `s` (on char boundaries).
fn mutate(rng: &mut Rng, s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out: Vec<char> = chars.clone();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        let at = rng.below(len + 1);
        match rng.below(3) {
            0 => {
                let ins: Vec<char> = garbage(rng).chars().collect();
                out.splice(at..at, ins);
            }
            1 if at < len => {
                let end = (at + 1 + rng.below(8)).min(len);
                out.drain(at..end);
            }
            _ if at < len => {
                let c = rng.pick(ALPHABET).chars().next().unwrap_or('x');
                out[at] = c;
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

#[test]
fn parse_and_verify_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 10, 0).unwrap();
    let key = SigningKey::derive("secret", "20260101", "us-east-1", "iam");
    let mut parsed_ok = 0usize;
    for i in 0..60_000 {
        let auth = match i % 3 {
            0 => mutate(&mut rng, VALID_HEADER),
            1 => garbage(&mut rng),
            _ => String::new(),
        };
        let query = match i % 4 {
            0 => mutate(&mut rng, VALID_QUERY),
            1 => garbage(&mut rng),
            2 => VALID_QUERY.to_owned(),
            _ => String::new(),
        };
        let date = if rng.below(4) == 0 {
            mutate(&mut rng, "20260101T001000Z")
        } else {
            "20260101T001000Z".to_owned()
        };
        let path = if rng.below(3) == 0 {
            garbage(&mut rng)
        } else {
            "/".to_owned()
        };
        let content_sha = garbage(&mut rng);
        let mut headers: Vec<(&str, &str)> = vec![("Host", "h"), ("X-Amz-Date", &date)];
        if !auth.is_empty() {
            headers.push(("Authorization", &auth));
        }
        if rng.below(5) == 0 {
            headers.push(("Date", &date));
        }
        if rng.below(5) == 0 {
            headers.push(("X-Amz-Content-Sha256", &content_sha));
        }
        let body = garbage(&mut rng);
        let req = Request {
            method: if rng.below(2) == 0 { "GET" } else { "POST" },
            path: &path,
            query: &query,
            headers: &headers,
            body: body.as_bytes(),
        };
        if let Ok(parsed) = parse(&req) {
            parsed_ok += 1;
            let _ = parsed.check_scope(|r| r == "us-east-1", "iam");
            let key = SigningKey::for_scope("secret", &parsed.scope);
            let _ = verify(&req, &parsed, &key, now);
        }
        let _ = verify(
            &req,
            &match parse(&Request {
                query: VALID_QUERY,
                headers: &[("Host", "h")],
                ..req
            }) {
                Ok(p) => p,
                Err(e) => panic!("valid presigned query failed to parse: {e}"),
            },
            &key,
            now,
        );
    }
    // The mutations must exercise the success path too, not only errors.
    assert!(parsed_ok > 1_000, "only {parsed_ok} parsed");
}
