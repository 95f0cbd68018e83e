//! Where the oracle is known to differ from AWS. Numbers 1-8 are from the
//! oracle's README; 9-11 were found by these tests and are AWS-documented
//! behaviour that rolecall follows (see tests/corpus/README.md).

use rolecall_policy::Operator;
use serde_json::Value;

pub const DESCRIPTIONS: &[(u32, &str)] = &[
    (
        1,
        "Version missing/2008-10-17 with ${...}: oracle resolves variables, AWS treats them as text",
    ),
    (
        2,
        "Date operators mixing epoch and ISO-8601 values: oracle compares seconds with milliseconds",
    ),
    (
        3,
        "Malformed numbers in Numeric operators: oracle parses them leniently",
    ),
    (
        4,
        "Partition/service/region/account of a Resource ARN: oracle matches case-insensitively",
    ),
    (
        5,
        "Unknown condition operators: oracle accepts the policy (AWS rejects it)",
    ),
    (6, "Validated mode drops inapplicable context keys"),
    (
        7,
        "Bool conditions with ${...} variables: oracle resolves them (AWS rejects them)",
    ),
    (
        8,
        "Wildcard in the service segment of a Resource ARN: oracle accepts it (AWS rejects it)",
    ),
    (
        9,
        "ForAnyValue:...IfExists with the key missing: oracle ignores IfExists (AWS: IfExists is true when the key is missing)",
    ),
    (
        10,
        "A `*` in the request's resource: oracle treats it as a wildcard (simulator feature); AWS matches the request resource literally",
    ),
    (
        11,
        "IPv4 CIDR with prefix /0 (0.0.0.0/0): oracle computes the mask as -1 << 32 == -1 in JavaScript, so it matches only 0.0.0.0",
    ),
    (
        12,
        "Unresolvable variable in NotResource or an Arn* value: oracle notices it only if the ARN segments before it match (short-circuit), so its result depends on the other segments; rolecall: the value never satisfies and a NotResource statement does not apply",
    ),
    (
        13,
        "A variable whose context value is the empty string: oracle treats it as unresolved (JavaScript falsy test); rolecall substitutes the empty string",
    ),
    (
        14,
        "${*} ${?} ${$} in StringEquals/StringNotEquals(IgnoreCase): oracle keeps them as literal text; AWS documents them as usable wherever variables are",
    ),
    (
        15,
        "Session policies: oracle applies them to every request, even when a resource-based policy names the session (or *) directly; AWS: such grants are not limited by the session policy",
    ),
    (
        16,
        "NotIpAddress with a bare IPv4/IPv6 address (no /prefix) and a request address of the other family: oracle returns false (true for the CIDR form)",
    ),
];

fn policies(req: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    fn doc(v: &Value) -> Option<&Value> {
        match v {
            Value::Object(m) if m.contains_key("policy") && !m.contains_key("Statement") => {
                m.get("policy")
            }
            Value::Null => None,
            other => Some(other),
        }
    }
    for list in ["identityPolicies", "permissionBoundaries"] {
        if let Some(Value::Array(items)) = req.get(list) {
            out.extend(items.iter().filter_map(doc));
        }
    }
    for single in ["sessionPolicy", "resourcePolicy"] {
        if let Some(v) = req.get(single).and_then(doc) {
            out.push(v);
        }
    }
    out
}

fn statements(p: &Value) -> Vec<&Value> {
    match p.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

fn context_values(req: &Value, key: &str) -> Option<Vec<String>> {
    let ctx = req.get("context")?.as_object()?;
    ctx.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| strings(v))
}

fn is_epoch(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn strict_number(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (i, f) = body.split_once('.').unwrap_or((body, "0"));
    !i.is_empty() && !f.is_empty() && (i.bytes().chain(f.bytes())).all(|b| b.is_ascii_digit())
}

/// The condition operators AWS documents (all of which rolecall implements).
fn known_op(base: &str) -> bool {
    Operator::ALL.iter().any(|op| op.name() == base)
}

fn base_op(op: &str) -> &str {
    let op = op
        .strip_prefix("ForAllValues:")
        .or_else(|| op.strip_prefix("ForAnyValue:"))
        .unwrap_or(op);
    op.strip_suffix("IfExists").unwrap_or(op)
}

/// Variables `${key}` / `${key, 'default'}` in a string: (key, has default).
fn variables_in(s: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let Some(j) = rest[i..].find('}') else { break };
        let body = &rest[i + 2..i + j];
        if !matches!(body, "*" | "?" | "$") {
            let (key, default) = match body.split_once(',') {
                Some((k, _)) => (k.trim(), true),
                None => (body.trim(), false),
            };
            out.push((key.to_string(), default));
        }
        rest = &rest[i + j + 1..];
    }
    out
}

/// Is `${key}` unresolvable in this request (missing, multi-valued or empty)?
fn unresolvable(req: &Value, key: &str) -> bool {
    let ctx = req.get("context").and_then(Value::as_object);
    match ctx.and_then(|c| c.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))) {
        None => true,
        Some((_, Value::String(s))) => s.is_empty(),
        Some(_) => true,
    }
}

fn empty_valued(req: &Value, key: &str) -> bool {
    let ctx = req.get("context").and_then(Value::as_object);
    ctx.and_then(|c| c.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
        .is_some_and(|(_, v)| v.as_str() == Some(""))
}

/// The documented divergences a request falls under.
pub fn classify(req: &Value, oracle: &Value, ours: Option<rolecall_policy::Reason>) -> Vec<u32> {
    let mut out = Vec::new();
    let mut add = |d: u32| {
        if !out.contains(&d) {
            out.push(d);
        }
    };
    if oracle
        .get("ignoredContextKeys")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        add(6);
    }
    let upper_head = |arn: &str| {
        arn.strip_prefix("arn:").is_some_and(|rest| {
            rest.splitn(5, ':')
                .take(4)
                .any(|seg| seg.chars().any(|c| c.is_ascii_uppercase()))
        })
    };
    if ours == Some(rolecall_policy::Reason::AllowedByResource)
        && req.get("sessionPolicy").is_some_and(|v| !v.is_null())
    {
        add(15);
    }
    let resource = req.get("resource").and_then(Value::as_str).unwrap_or("");
    if upper_head(resource) {
        add(4);
    }
    if resource.contains('*') {
        add(10);
    }
    for p in policies(req) {
        let v2012 = p.get("Version").and_then(Value::as_str) == Some("2012-10-17");
        if !v2012 && p.to_string().contains("${") {
            add(1);
        }
        for st in statements(p) {
            let v2012_vars = |s: &str| if v2012 { variables_in(s) } else { Vec::new() };
            for el in ["Resource", "NotResource"] {
                for r in st.get(el).map(strings).unwrap_or_default() {
                    for (k, has_default) in v2012_vars(&r) {
                        if empty_valued(req, &k) {
                            add(13);
                        }
                        if el == "NotResource" && !has_default && unresolvable(req, &k) {
                            add(12);
                        }
                    }
                    if upper_head(&r) {
                        add(4);
                    }
                    let service = r.split(':').nth(2).unwrap_or("");
                    if r.starts_with("arn:") && service.contains(['*', '?']) {
                        add(8);
                    }
                }
            }
            let Some(Value::Object(cond)) = st.get("Condition") else {
                continue;
            };
            for (op, keys) in cond {
                let base = base_op(op);
                if !known_op(base) {
                    add(5);
                }
                let Value::Object(keys) = keys else { continue };
                for (key, vals) in keys {
                    let pvals = strings(vals);
                    let cvals = context_values(req, key);
                    if base.starts_with("Date") {
                        let all: Vec<&String> =
                            pvals.iter().chain(cvals.iter().flatten()).collect();
                        if all.iter().any(|s| is_epoch(s)) && all.iter().any(|s| !is_epoch(s)) {
                            add(2);
                        }
                    }
                    if base.starts_with("Numeric")
                        && pvals
                            .iter()
                            .chain(cvals.iter().flatten())
                            .any(|s| !strict_number(s))
                    {
                        add(3);
                    }
                    for v in &pvals {
                        for (k, has_default) in v2012_vars(v) {
                            if empty_valued(req, &k) {
                                add(13);
                            }
                            if base.starts_with("Arn") && !has_default && unresolvable(req, &k) {
                                add(12);
                            }
                        }
                        if v2012
                            && matches!(
                                base,
                                "StringEquals"
                                    | "StringNotEquals"
                                    | "StringEqualsIgnoreCase"
                                    | "StringNotEqualsIgnoreCase"
                            )
                            && (v.contains("${*}") || v.contains("${?}") || v.contains("${$}"))
                        {
                            add(14);
                        }
                    }
                    if base == "NotIpAddress" {
                        let v6 = |s: &str| s.contains(':');
                        let ctx_fams: Vec<bool> = cvals.iter().flatten().map(|s| v6(s)).collect();
                        if pvals
                            .iter()
                            .any(|p| !p.contains('/') && ctx_fams.iter().any(|&c| c != v6(p)))
                        {
                            add(16);
                        }
                    }
                    if base.contains("IpAddress")
                        && pvals.iter().any(|s| s.contains('.') && s.ends_with("/0"))
                    {
                        add(11);
                    }
                    if base == "Bool" && pvals.iter().any(|s| s.contains("${")) {
                        add(7);
                    }
                    if op.starts_with("ForAnyValue:") && op.ends_with("IfExists") && cvals.is_none()
                    {
                        add(9);
                    }
                }
            }
        }
    }
    out
}
