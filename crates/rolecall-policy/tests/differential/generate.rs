//! Random (seeded, reproducible) requests covering every policy element and
//! condition operator, in the oracle's request format.

use serde_json::{Map, Value, json};

/// SplitMix64: small, deterministic, good enough for test generation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

const ACCT: &str = "123456789012";
const OTHER: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/app/s";
const ROLE: &str = "arn:aws:iam::123456789012:role/app";

/// A condition-key family: key, operators, policy values, request values.
struct Family {
    keys: &'static [&'static str],
    ops: &'static [&'static str],
    policy: &'static [&'static str],
    request: &'static [&'static str],
}

const STRING_OPS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
];

fn families(validated: bool) -> Vec<Family> {
    let mut f = vec![
        Family {
            keys: if validated {
                &["aws:username", "aws:PrincipalTag/team"]
            } else {
                &["svc:str", "aws:username"]
            },
            ops: STRING_OPS,
            policy: &[
                "alice",
                "Alice",
                "bob",
                "a*",
                "al?ce",
                "",
                "${aws:username}",
                "x${*}",
                "${aws:PrincipalTag/team}",
                "${aws:PrincipalTag/team, 'alice'}",
                "*",
            ],
            request: &["alice", "Alice", "bob", "a*", "", "alicex", "x*", "ALICE"],
        },
        Family {
            keys: if validated {
                &["aws:MultiFactorAuthAge"]
            } else {
                &["svc:num"]
            },
            ops: &[
                "NumericEquals",
                "NumericNotEquals",
                "NumericLessThan",
                "NumericLessThanEquals",
                "NumericGreaterThan",
                "NumericGreaterThanEquals",
            ],
            policy: &["0", "1", "10", "-5", "2.5", "10.0", "007", "3600"],
            request: &["0", "1", "10", "2.5", "-5", "7", "100", "3600", "10.00"],
        },
        Family {
            keys: &["aws:CurrentTime"],
            ops: &[
                "DateEquals",
                "DateNotEquals",
                "DateLessThan",
                "DateLessThanEquals",
                "DateGreaterThan",
                "DateGreaterThanEquals",
            ],
            policy: &[
                "2020-01-01T00:00:00Z",
                "2024-06-01T12:00:00Z",
                "2020-01-01",
                "2024-06-01T12:00:00.000Z",
                "2024-06-01T14:00:00+02:00",
            ],
            request: &[
                "2020-01-01T00:00:00Z",
                "2024-06-01T12:00:00Z",
                "2019-12-31T23:59:59Z",
                "2030-01-01T00:00:00Z",
                "2024-06-01T12:00:00.000Z",
            ],
        },
        Family {
            keys: &["aws:SecureTransport"],
            ops: &["Bool"],
            policy: &["true", "false", "TRUE"],
            request: &["true", "false", "True"],
        },
        Family {
            keys: &["aws:SourceIp"],
            ops: &["IpAddress", "NotIpAddress"],
            policy: &[
                "10.0.0.0/8",
                "10.1.2.3",
                "192.168.0.0/16",
                "2001:db8::/32",
                "0.0.0.0/0",
                "::/0",
                "10.1.2.3/32",
            ],
            request: &[
                "10.1.2.3",
                "192.168.5.5",
                "172.16.0.1",
                "2001:db8::1",
                "::1",
            ],
        },
        Family {
            keys: &["aws:SourceArn"],
            ops: &["ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"],
            policy: &[
                "arn:aws:sns:*:123456789012:topic/*",
                "arn:aws:sns:us-east-1:123456789012:topic/a",
                "arn:aws:sns:*:*:*",
                "arn:aws:sns:us-east-1:*:topic/${aws:username}",
                "arn:aws:sns:*:*:topic/?",
                "arn:aws:sns:us-?ast-1:123456789012:topic/a",
            ],
            request: &[
                "arn:aws:sns:us-east-1:123456789012:topic/a",
                "arn:aws:sns:eu-west-1:111122223333:topic/b",
                "arn:aws:sns:us-east-1:123456789012:topic/alice",
                "arn:aws:sns:us-east-1:123456789012:Topic/a",
            ],
        },
    ];
    if !validated {
        f.push(Family {
            keys: &["svc:bin"],
            ops: &["BinaryEquals"],
            policy: &["QUJD", "YWJj"],
            request: &["QUJD", "YWJj", "abc"],
        });
        f.push(Family {
            keys: &["svc:tags"],
            ops: STRING_OPS,
            policy: &["a", "b", "c", "a*", "${aws:username}"],
            request: &["a", "b", "c", "d", "alice"],
        });
    }
    f
}

struct Gen<'a> {
    rng: &'a mut Rng,
    validated: bool,
    families: Vec<Family>,
    /// Condition keys referenced, with the family index used for values.
    keys: Vec<(&'static str, usize)>,
    /// Is the policy being generated Version 2012-10-17?
    v2012: bool,
}

/// Values that put a case into an oracle-divergence class: generated rarely
/// so that most cases are compared strictly.
const RARE: &[&str] = &[
    "0.0.0.0/0",
    "x${*}",
    "",
    "*",
    "arn:aws:svc:us-east-1:123456789012:thing/*/star",
];

/// Values of one policy element: for validated policies (real services, checked as IAM
/// checks them) and for unchecked ones (the oracle's "unsafe" mode).
struct Pools {
    validated: &'static [&'static str],
    unchecked: &'static [&'static str],
}

const ACTIONS: Pools = Pools {
    validated: &[
        "s3:GetObject",
        "s3:Get*",
        "s3:*",
        "*",
        "sts:AssumeRole",
        "sts:*",
        "s3:PutObject",
        "S3:getobject",
        "s3:?etObject",
        "sts:Assume*",
    ],
    unchecked: &[
        "svc:GetThing",
        "svc:getthing",
        "SVC:Get*",
        "svc:*Thing",
        "svc:?etThing",
        "svc:*",
        "*",
        "other:*",
        "svc:List*",
        "svc:Delete?hing",
        "svc:Put*",
        "other:DoIt",
        "svc:*s",
    ],
};

const RESOURCES: Pools = Pools {
    validated: &[
        "*",
        "arn:aws:s3:::bkt/*",
        "arn:aws:s3:::bkt/${aws:username}/*",
        "arn:aws:s3:::other/*",
        "arn:aws:s3:::bkt/alice/a.txt",
        "arn:aws:s3:::bkt/*/?.txt",
        "arn:aws:iam::123456789012:role/app",
        "arn:aws:iam::*:role/*",
        "arn:aws:s3:::bkt/${aws:PrincipalTag/team, 'bob'}/*",
    ],
    unchecked: &[
        "*",
        "arn:aws:svc:*:*:thing/*",
        "arn:aws:svc:us-east-1:123456789012:thing/${aws:username}/*",
        "arn:aws:svc:*:123456789012:*",
        "arn:aws:svc:us-?ast-1:*:thing/*",
        "arn:aws:svc:::global",
        "arn:aws:svc:*:*:Thing/*",
        "arn:aws:svc:us-east-1:123456789012:thing/alice/a.txt",
        "arn:aws:svc:*:*:thing/${aws:PrincipalTag/team, 'bob'}/*",
        "arn:aws:svc:*:*:thing/*/?.txt",
        "arn:aws:svc:*:*:thing/${*}/star",
        "arn:aws:svc:*:*:*",
        "arn:aws:svc:*:*:other/x",
        "arn:aws:svc:eu-west-1:*:*",
        "arn:aws:svc:*:*:thing/${svc:str}/*",
        "arn:aws:svc:*:111122223333:*",
    ],
};

/// Pick from a pool, usually avoiding `RARE` values (and `${...}` outside
/// 2012-10-17 policies).
fn pick_str(rng: &mut Rng, pool: &[&'static str], v2012: bool) -> &'static str {
    let mut v = *rng.pick(pool);
    for _ in 0..4 {
        let rare = RARE.contains(&v) || (!v2012 && v.contains("${"));
        if !rare || rng.chance(15) {
            break;
        }
        v = *rng.pick(pool);
    }
    v
}

impl Gen<'_> {
    fn one_or_many(&mut self, xs: Vec<Value>) -> Value {
        if xs.len() == 1 && self.rng.chance(60) {
            xs.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(xs)
        }
    }

    /// Between 1 and `most` values from the pool of the policy's mode.
    fn pick_some(&mut self, pools: &Pools, most: usize) -> Vec<&'static str> {
        let pool = if self.validated {
            pools.validated
        } else {
            pools.unchecked
        };
        let n = self.rng.range(1, most);
        (0..n)
            .map(|_| pick_str(self.rng, pool, self.v2012))
            .collect()
    }

    fn actions(&mut self) -> Value {
        let v = self.pick_some(&ACTIONS, 3).into_iter().map(|a| json!(a));
        self.one_or_many(v.collect())
    }

    fn resources(&mut self) -> Value {
        let picked = self.pick_some(&RESOURCES, 2);
        for r in &picked {
            if r.contains("${svc:str}") {
                self.keys.push(("svc:str", 0));
            }
        }
        let v = picked.into_iter().map(|r| json!(r)).collect();
        self.one_or_many(v)
    }

    fn principals(&mut self) -> Value {
        let pool: &[Value] = &[
            json!("*"),
            json!({"AWS": "*"}),
            json!({"AWS": ACCT}),
            json!({"AWS": "arn:aws:iam::123456789012:root"}),
            json!({"AWS": ALICE}),
            json!({"AWS": ROLE}),
            json!({"AWS": SESSION}),
            json!({"AWS": OTHER}),
            json!({"AWS": BOB}),
            json!({"Service": "ec2.amazonaws.com"}),
            json!({"AWS": [ALICE, BOB]}),
            json!({"AWS": [OTHER], "Service": ["ec2.amazonaws.com"]}),
        ];
        self.rng.pick(pool).clone()
    }

    fn condition(&mut self) -> Value {
        let mut block = Map::new();
        for _ in 0..self.rng.range(1, 2) {
            let fi = self.rng.below(self.families.len());
            let fam = &self.families[fi];
            let null = self.rng.chance(8);
            let key = *self.rng.pick(fam.keys);
            let base = if null {
                "Null"
            } else {
                *self.rng.pick(fam.ops)
            };
            let qualifier = match self.rng.below(100) {
                _ if null => "",
                0..=64 => "",
                65..=82 => "ForAllValues:",
                _ => "ForAnyValue:",
            };
            let if_exists = !null && self.rng.chance(25);
            let op = format!(
                "{qualifier}{base}{}",
                if if_exists { "IfExists" } else { "" }
            );
            let n = self.rng.range(1, 3);
            let values: Vec<Value> = if null {
                vec![json!(*self.rng.pick(&["true", "false"]))]
            } else {
                (0..n)
                    .map(|_| {
                        let v = pick_str(self.rng, fam.policy, self.v2012);
                        // JSON booleans/numbers are allowed where AWS takes them.
                        if base == "Bool" && self.rng.chance(30) {
                            json!(v.eq_ignore_ascii_case("true"))
                        } else if base.starts_with("Numeric") && self.rng.chance(20) {
                            v.parse::<i64>().map_or(json!(v), |n| json!(n))
                        } else {
                            json!(v)
                        }
                    })
                    .collect()
            };
            for v in &values {
                if let Some(s) = v.as_str() {
                    for k in ["aws:username", "aws:PrincipalTag/team", "svc:str"] {
                        if s.contains(&format!("${{{k}")) {
                            self.keys.push((k, 0));
                        }
                    }
                }
            }
            self.keys.push((key, fi));
            let vals = self.one_or_many(values);
            let entry = block.entry(op).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = entry {
                m.insert(key.to_string(), vals);
            }
        }
        Value::Object(block)
    }

    fn statement(&mut self, sid: usize, principal: bool, resource: bool) -> Value {
        // Trust policies (no Resource) cannot use NotPrincipal.
        let trust = principal && !resource;
        let mut st = Map::new();
        if self.rng.chance(30) {
            st.insert("Sid".into(), json!(format!("S{sid}")));
        }
        let deny = self.rng.chance(30);
        st.insert("Effect".into(), json!(if deny { "Deny" } else { "Allow" }));
        if principal {
            let not = deny && !trust && self.rng.chance(15);
            st.insert(
                if not { "NotPrincipal" } else { "Principal" }.into(),
                self.principals(),
            );
        }
        let not_action = self.rng.chance(15);
        st.insert(
            if not_action { "NotAction" } else { "Action" }.into(),
            self.actions(),
        );
        if resource {
            let not_resource = self.rng.chance(15);
            st.insert(
                if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                }
                .into(),
                self.resources(),
            );
        }
        let n = match self.rng.below(100) {
            0..=39 => 0,
            40..=84 => 1,
            _ => 2,
        };
        if n > 0 {
            let mut c = Map::new();
            for _ in 0..n {
                if let Value::Object(m) = self.condition() {
                    for (k, v) in m {
                        c.insert(k, v);
                    }
                }
            }
            st.insert("Condition".into(), Value::Object(c));
        }
        Value::Object(st)
    }

    fn policy(&mut self, principal: bool, resource: bool) -> Value {
        self.policy_v(principal, resource, false)
    }

    /// A managed policy (e.g. a permissions boundary): Version 2012-10-17 is required.
    fn managed(&mut self) -> Value {
        self.policy_v(false, true, true)
    }

    fn policy_v(&mut self, principal: bool, resource: bool, managed: bool) -> Value {
        let mut p = Map::new();
        self.v2012 = false;
        match if managed { 0 } else { self.rng.below(100) } {
            0..=84 => {
                p.insert("Version".into(), json!("2012-10-17"));
                self.v2012 = true;
            }
            85..=92 => {
                p.insert("Version".into(), json!("2008-10-17"));
            }
            _ => {}
        }
        let n = self.rng.range(1, 3);
        let stmts: Vec<Value> = (0..n)
            .map(|i| self.statement(i, principal, resource))
            .collect();
        let st = if n == 1 && self.rng.chance(40) {
            stmts.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(stmts)
        };
        p.insert("Statement".into(), st);
        Value::Object(p)
    }

    /// `n` identity policies, and a permissions boundary sometimes where `boundary` allows one.
    fn identity_policies(&mut self, req: &mut Map<String, Value>, n: usize, boundary: bool) {
        let ids: Vec<Value> = (0..n).map(|_| self.policy(false, true)).collect();
        req.insert("identityPolicies".into(), Value::Array(ids));
        if boundary && self.rng.chance(20) {
            let pb = self.managed();
            req.insert("permissionBoundaries".into(), json!([pb]));
        }
    }

    fn context(&mut self, principal: &str) -> Value {
        let mut ctx = Map::new();
        if principal == ALICE && self.rng.chance(85) {
            ctx.insert("aws:username".into(), json!("alice"));
        }
        if self.rng.chance(40) {
            ctx.insert(
                "aws:PrincipalTag/team".into(),
                json!(*self.rng.pick(&["alice", "bob", "red"])),
            );
        }
        let keys = std::mem::take(&mut self.keys);
        for (key, fi) in keys {
            if ctx.contains_key(key) || !self.rng.chance(75) {
                continue;
            }
            let fam = &self.families[fi];
            // Validated mode: the oracle crashes on empty arrays and AWS's
            // global keys used here are single-valued.
            let multi = if key == "svc:tags" {
                self.rng.chance(85)
            } else {
                !self.validated && self.rng.chance(12)
            };
            let v = if multi {
                let n = self.rng.range(0, 3);
                Value::Array(
                    (0..n)
                        .map(|_| json!(pick_str(self.rng, fam.request, true)))
                        .collect(),
                )
            } else {
                json!(pick_str(self.rng, fam.request, true))
            };
            ctx.insert(key.to_string(), v);
        }
        Value::Object(ctx)
    }
}

/// Generate one request.
pub fn request(rng: &mut Rng, id: usize) -> Value {
    let validated = rng.chance(25);
    let families = families(validated);
    let mut g = Gen {
        rng,
        validated,
        families,
        keys: Vec::new(),
        v2012: true,
    };
    let mut req = Map::new();
    req.insert("id".into(), json!(id));
    let (principal, action, resource, account) = if !validated {
        req.insert("mode".into(), json!("unsafe"));
        let principal = if g.rng.chance(80) { ALICE } else { SESSION };
        let action = *g.rng.pick(&[
            "svc:GetThing",
            "svc:PutThing",
            "svc:ListThings",
            "svc:DeleteThing",
            "other:DoIt",
        ]);
        let resource = pick_str(
            g.rng,
            &[
                "arn:aws:svc:us-east-1:123456789012:thing/alice/a.txt",
                "arn:aws:svc:us-east-1:123456789012:thing/bob/b.txt",
                "arn:aws:svc:eu-west-1:123456789012:other/x",
                "arn:aws:svc:us-east-1:123456789012:Thing/alice/a.txt",
                "arn:aws:svc:::global",
                "arn:aws:svc:us-east-1:123456789012:thing/*/star",
                "*",
            ],
            true,
        );
        let n = if g.rng.chance(5) {
            0
        } else {
            g.rng.range(1, 3)
        };
        g.identity_policies(&mut req, n, true);
        (principal, action, resource, ACCT)
    } else {
        let trust = g.rng.chance(45);
        let (principal, action, resource, account) = if trust {
            let p = *g
                .rng
                .pick(&[ALICE, ALICE, SESSION, BOB, "ec2.amazonaws.com"]);
            (p, "sts:AssumeRole", ROLE, ACCT)
        } else {
            let p = *g.rng.pick(&[
                ALICE,
                ALICE,
                SESSION,
                BOB,
                "anonymous",
                "arn:aws:iam::123456789012:root",
            ]);
            let a = *g.rng.pick(&["s3:GetObject", "s3:PutObject"]);
            let r = *g.rng.pick(&[
                "arn:aws:s3:::bkt/alice/a.txt",
                "arn:aws:s3:::bkt/bob/b.txt",
                "arn:aws:s3:::other/x",
            ]);
            let acct = if g.rng.chance(20) { OTHER } else { ACCT };
            (p, a, r, acct)
        };
        let service = !principal.starts_with("arn:");
        // Anonymous callers have no policies; the root user cannot have a
        // permissions boundary.
        let anonymous = principal == "anonymous";
        let root = principal.ends_with(":root");
        let n = if service || anonymous || g.rng.chance(10) {
            0
        } else {
            g.rng.range(1, 2)
        };
        g.identity_policies(&mut req, n, !service && !anonymous && !root);
        if principal == SESSION && g.rng.chance(30) {
            let sp = g.policy(false, true);
            req.insert("sessionPolicy".into(), sp);
        }
        if trust || g.rng.chance(85) {
            let rp = g.policy(true, !trust);
            req.insert("resourcePolicy".into(), rp);
        }
        (principal, action, resource, account)
    };
    req.insert("principal".into(), json!(principal));
    req.insert("action".into(), json!(action));
    req.insert("resource".into(), json!(resource));
    req.insert("resourceAccount".into(), json!(account));
    let ctx = g.context(principal);
    req.insert("context".into(), ctx);
    Value::Object(req)
}
