//! Evaluation rules, from the IAM documentation ("Policy evaluation logic",
//! "Condition operators", "Policy variables", "Single-valued vs.
//! multivalued context keys", "Principal", "Permissions boundaries",
//! "Session policies").

mod common;

use common::{identity_doc, parse_ok};
use rolecall_policy::*;

const I_01: &str = "arn:aws:ec2:us-east-1:123456789012:instance/i-01";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

fn id_policy(stmts: &str) -> Policy {
    parse_ok(&identity_doc(stmts), PolicyKind::Identity)
}

fn req(action: &str, resource: &str) -> RequestContext {
    RequestContext::new(Principal::user(ALICE), action, resource)
}

fn decide(p: &Policy, r: &RequestContext) -> Decision {
    let refs = [PolicyRef::new("p", p)];
    evaluate_identity(&refs, r).decision
}

/// The decision of `p` alone on `action` on `resource`, by alice.
fn decides(p: &Policy, action: &str, resource: &str) -> Decision {
    decide(p, &req(action, resource))
}

/// Allow `*` on `*` under one condition block.
fn cond(c: &str) -> Policy {
    id_policy(&format!(
        r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{c}}}"#
    ))
}

fn check(c: &str, keys: &[(&str, &[&str])]) -> bool {
    let p = cond(c);
    let mut r = req("s3:GetObject", "arn:aws:s3:::b/k");
    for (k, v) in keys {
        if v.len() == 1 {
            r.keys.insert(k, v[0]);
        } else {
            r.keys.insert_values(k, v.iter().copied());
        }
    }
    decide(&p, &r) == Decision::Allow
}

use Decision::*;

#[test]
fn default_deny_allow_and_explicit_deny() {
    let p =
        id_policy(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#);
    assert_eq!(decides(&p, "s3:GetObject", "arn:aws:s3:::b/x"), Allow);
    assert_eq!(
        decides(&p, "s3:PutObject", "arn:aws:s3:::b/x"),
        ImplicitDeny
    );
    let p = id_policy(
        r#"[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"NoSecret","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret/*"}]"#,
    );
    let refs = [PolicyRef::new("p", &p)];
    let e = evaluate_identity(&refs, &req("s3:GetObject", "arn:aws:s3:::b/secret/x"));
    assert_eq!(e.decision, ExplicitDeny);
    assert_eq!(e.reason, Reason::ExplicitDeny(PolicyType::Identity));
    assert_eq!(e.statement.unwrap().statement, 1);
    let e = evaluate_identity(&refs, &req("s3:GetObject", "arn:aws:s3:::b/public"));
    assert_eq!(e.decision, Allow);
    assert_eq!(e.reason, Reason::AllowedByIdentity);
    // No policies at all.
    assert_eq!(
        evaluate_identity(&[], &req("s3:GetObject", "*")).reason,
        Reason::NoIdentityAllow
    );
}

#[test]
fn actions_case_insensitive_with_wildcards() {
    let p = id_policy(
        r#"{"Effect":"Allow","Action":["S3:get*","ec2:Describe?nstances"],"Resource":"*"}"#,
    );
    assert_eq!(decides(&p, "s3:GetObject", "*"), Allow);
    assert_eq!(decides(&p, "S3:GETOBJECT", "*"), Allow);
    assert_eq!(decides(&p, "ec2:DescribeInstances", "*"), Allow);
    assert_eq!(decides(&p, "ec2:DescribeXXnstances", "*"), ImplicitDeny);
    assert_eq!(decides(&p, "s3:PutObject", "*"), ImplicitDeny);
    assert_eq!(decides(&p, "s3x:GetObject", "*"), ImplicitDeny);
}

#[test]
fn not_action_and_not_resource() {
    let p = id_policy(r#"{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}"#);
    assert_eq!(decides(&p, "ec2:RunInstances", "*"), Allow);
    assert_eq!(decides(&p, "IAM:PassRole", "*"), ImplicitDeny);
    let p = id_policy(
        r#"[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::ok","arn:aws:s3:::ok/*"]}]"#,
    );
    assert_eq!(decides(&p, "s3:GetObject", "arn:aws:s3:::ok/x"), Allow);
    assert_eq!(
        decides(&p, "s3:GetObject", "arn:aws:s3:::other/x"),
        ExplicitDeny
    );
}

#[test]
fn resources_case_sensitive_by_segment() {
    let p = id_policy(
        r#"{"Effect":"Allow","Action":"*","Resource":["arn:aws:ec2:*:123456789012:instance/i-??","arn:aws:s3:::Bucket/*"]}"#,
    );
    assert_eq!(decides(&p, "ec2:StartInstances", I_01), Allow);
    assert_eq!(
        decides(
            &p,
            "ec2:StartInstances",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-012"
        ),
        ImplicitDeny
    );
    assert_eq!(
        decides(
            &p,
            "ec2:StartInstances",
            "arn:aws:ec2:us-east-1:111111111111:instance/i-01"
        ),
        ImplicitDeny
    );
    assert_eq!(decides(&p, "s3:GetObject", "arn:aws:s3:::Bucket/a"), Allow);
    assert_eq!(
        decides(&p, "s3:GetObject", "arn:aws:s3:::bucket/a"),
        ImplicitDeny
    );
    assert_eq!(
        decides(&p, "s3:GetObject", "arn:aws:S3:::Bucket/a"),
        ImplicitDeny
    );
    // `*` in the region does not swallow the account.
    let p = id_policy(r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:ec2:*:instance/*:*"}"#);
    assert_eq!(decides(&p, "ec2:StartInstances", I_01), ImplicitDeny);
}

/// One condition case of `condition_cases.json`: a condition block, the request's context
/// (a string: a single-valued key; an array: a multivalued key, even with zero or one value;
/// absent: the key is missing), and whether the block holds.
#[derive(serde::Deserialize)]
struct ConditionCase {
    condition: serde_json::Value,
    context: serde_json::Map<String, serde_json::Value>,
    holds: bool,
    #[serde(default)]
    why: String,
}

/// String, numeric, date, bool, binary, null, IP, ARN and set operators, case by case.
#[test]
fn condition_operators() {
    let cases: Vec<ConditionCase> =
        serde_json::from_str(include_str!("condition_cases.json")).unwrap();
    for case in &cases {
        let mut r = req("s3:GetObject", "arn:aws:s3:::b/k");
        for (key, value) in &case.context {
            match value {
                serde_json::Value::Array(values) => {
                    let values = values.iter().map(|v| v.as_str().unwrap().to_owned());
                    r.keys.insert_values(key, values);
                }
                value => {
                    r.keys.insert(key, value.as_str().unwrap());
                }
            }
        }
        let allowed = decide(&cond(&case.condition.to_string()), &r) == Allow;
        assert_eq!(
            allowed, case.holds,
            "{} with {:?} ({})",
            case.condition, case.context, case.why
        );
    }
    assert_eq!(cases.len(), 92, "every case of the file was read");
}

#[test]
fn if_exists_everywhere() {
    for op in Operator::ALL {
        if op == Operator::Null {
            continue;
        }
        let v = match op.name() {
            n if n.starts_with("Numeric") => "1",
            n if n.starts_with("Date") => "2020-01-01T00:00:00Z",
            n if n.contains("Ip") => "10.0.0.0/8",
            n if n.starts_with("Arn") => "arn:aws:s3:::b",
            _ => "true",
        };
        let c = format!(r#"{{"{}IfExists":{{"k:missing":"{v}"}}}}"#, op.name());
        assert!(check(&c, &[]), "{c}");
    }
}

#[test]
fn policy_variables() {
    let p = id_policy(
        r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/home/${aws:username}/*"}"#,
    );
    let r = req("s3:GetObject", "arn:aws:s3:::b/home/alice/x").with_key("aws:username", "alice");
    assert_eq!(decide(&p, &r), Allow);
    let r = req("s3:GetObject", "arn:aws:s3:::b/home/bob/x").with_key("aws:username", "alice");
    assert_eq!(decide(&p, &r), ImplicitDeny);
    // Unresolvable variable: the resource does not match.
    let r = req("s3:GetObject", "arn:aws:s3:::b/home//x");
    assert_eq!(decide(&p, &r), ImplicitDeny);
    // Defaults.
    let p = id_policy(
        r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/*"}"#,
    );
    assert_eq!(
        decides(&p, "s3:GetObject", "arn:aws:s3:::b/shared/x"),
        Allow
    );
    let r = req("s3:GetObject", "arn:aws:s3:::b/red/x").with_key("aws:PrincipalTag/team", "red");
    assert_eq!(decide(&p, &r), Allow);
    // Escapes.
    let p =
        id_policy(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${*}${?}${$}"}"#);
    assert_eq!(decides(&p, "s3:GetObject", "arn:aws:s3:::b/*?$"), Allow);
    assert_eq!(
        decides(&p, "s3:GetObject", "arn:aws:s3:::b/xy$"),
        ImplicitDeny
    );
    // In conditions, with a variable value containing no wildcard meaning.
    let p = cond(r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#);
    let r = req("s3:ListBucket", "*")
        .with_key("aws:username", "alice")
        .with_key("s3:prefix", "home/alice/docs");
    assert_eq!(decide(&p, &r), Allow);
    let r = req("s3:ListBucket", "*")
        .with_key("aws:username", "a*")
        .with_key("s3:prefix", "home/alice/docs");
    assert_eq!(decide(&p, &r), ImplicitDeny);
    // An unresolvable variable never satisfies an operator, negated or not.
    let p = cond(r#"{"StringNotEquals":{"s3:prefix":"${aws:PrincipalTag/dept}"}}"#);
    let r = req("s3:ListBucket", "*").with_key("s3:prefix", "x");
    assert_eq!(decide(&p, &r), ImplicitDeny);
    let r = r.with_key("aws:PrincipalTag/dept", "y");
    assert_eq!(decide(&p, &r), Allow);
    let p = cond(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:*:${aws:username}"}}"#);
    let r = req("s3:ListBucket", "*").with_key("aws:SourceArn", "arn:aws:sns:us-east-1:1:t");
    assert_eq!(decide(&p, &r), ImplicitDeny);
    assert_eq!(decide(&p, &r.with_key("aws:username", "alice")), Allow);
    let p = cond(r#"{"StringEquals":{"s3:prefix":["${aws:PrincipalTag/dept}","x"]}}"#);
    let r = req("s3:ListBucket", "*").with_key("s3:prefix", "x");
    assert_eq!(decide(&p, &r), Allow);
    let p = cond(r#"{"StringEquals":{"aws:PrincipalTag/project":"${aws:ResourceTag/project}"}}"#);
    let r = req("ec2:StartInstances", "*")
        .with_key("aws:PrincipalTag/project", "x")
        .with_key("aws:ResourceTag/project", "x");
    assert_eq!(decide(&p, &r), Allow);
    // Only under 2012-10-17: under 2008-10-17 or no Version, literal text.
    for version in [r#""Version":"2008-10-17","#, ""] {
        let p = parse_ok(
            &format!(
                r#"{{{version}"Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${{aws:username}}"}}}}"#
            ),
            PolicyKind::Identity,
        );
        let r = req("s3:GetObject", "arn:aws:s3:::b/alice").with_key("aws:username", "alice");
        assert_eq!(decide(&p, &r), ImplicitDeny);
        let r = req("s3:GetObject", "arn:aws:s3:::b/${aws:username}");
        assert_eq!(decide(&p, &r), Allow);
    }
}

// ---- combining policy types ----

fn trust(principal: &str) -> Policy {
    parse_ok(
        &format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"}}}}"#
        ),
        PolicyKind::Trust,
    )
}

const ROLE: &str = "arn:aws:iam::123456789012:role/app";

fn assume(principal: Principal) -> RequestContext {
    RequestContext::new(principal, "sts:AssumeRole", ROLE)
}

/// A set of `identity` policies and the resource (for AssumeRole: trust) policy `resource`.
fn with_resource<'a>(identity: &'a [PolicyRef<'a>], resource: &'a Policy) -> PolicySet<'a> {
    PolicySet {
        identity,
        resource: Some(PolicyRef::new("resource", resource)),
        ..Default::default()
    }
}

/// A set of `identity` policies capped by the permissions boundary `boundary`, with the resource
/// policy `resource` if any.
fn bounded<'a>(
    identity: &'a [PolicyRef<'a>],
    boundary: &'a Policy,
    resource: Option<&'a Policy>,
) -> PolicySet<'a> {
    PolicySet {
        identity,
        boundary: Some(PolicyRef::new("boundary", boundary)),
        resource: resource.map(|p| PolicyRef::new("resource", p)),
        ..Default::default()
    }
}

/// The decision and its reason for `ctx` under `set`.
fn outcome(set: &PolicySet, ctx: &RequestContext) -> (Decision, Reason) {
    let e = set.evaluate(ctx);
    (e.decision, e.reason)
}

#[test]
fn trust_policies() {
    let allow_assume = id_policy(r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#);
    let ids = [PolicyRef::new("id", &allow_assume)];
    // Service principal: trust alone.
    let t = trust(r#"{"Service":"ec2.amazonaws.com"}"#);
    let set = with_resource(&[], &t);
    let e = set.evaluate(&assume(Principal::service("ec2.amazonaws.com")));
    assert_eq!((e.decision, e.reason), (Allow, Reason::AllowedByResource));
    assert_eq!(
        outcome(&set, &assume(Principal::service("lambda.amazonaws.com"))),
        (ImplicitDeny, Reason::NoResourceAllow)
    );
    // The trust policy must allow even if identity policies do.
    let set = with_resource(&ids, &t);
    assert_eq!(
        outcome(&set, &assume(Principal::user(ALICE))),
        (ImplicitDeny, Reason::NoResourceAllow)
    );
    // Trust names the user: no identity permission needed (same account).
    let t = trust(&format!(r#"{{"AWS":"{ALICE}"}}"#));
    let set = with_resource(&[], &t);
    assert_eq!(
        set.evaluate(&assume(Principal::user(ALICE))).decision,
        Allow
    );
    // Trust names the account: identity permission needed.
    let t = trust(r#"{"AWS":"arn:aws:iam::123456789012:root"}"#);
    let set = with_resource(&[], &t);
    assert_eq!(
        outcome(&set, &assume(Principal::user(ALICE))),
        (ImplicitDeny, Reason::NoIdentityAllow)
    );
    let set = with_resource(&ids, &t);
    assert_eq!(
        set.evaluate(&assume(Principal::user(ALICE))).decision,
        Allow
    );
    // Cross-account: trust names the account and identity allows.
    let bob = Principal::user("arn:aws:iam::111122223333:user/bob");
    let t = trust(r#"{"AWS":"111122223333"}"#);
    let set = with_resource(&ids, &t);
    assert_eq!(set.evaluate(&assume(bob.clone())).decision, Allow);
    // Cross-account: trust names bob directly but bob's account grants nothing.
    let t = trust(r#"{"AWS":"arn:aws:iam::111122223333:user/bob"}"#);
    let set = with_resource(&[], &t);
    assert_eq!(
        outcome(&set, &assume(bob)),
        (ImplicitDeny, Reason::NoIdentityAllow)
    );
    // Explicit deny in the trust policy.
    let t = parse_ok(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"sts:*"}]}"#,
        PolicyKind::Trust,
    );
    let set = with_resource(&ids, &t);
    let e = set.evaluate(&assume(Principal::user(ALICE)));
    assert_eq!(e.reason, Reason::ExplicitDeny(PolicyType::Resource));
    // NotPrincipal is not allowed in trust policies; in resource policies it
    // goes with Deny.
    assert!(
        Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/mallory"},"Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
        )
        .is_err()
    );
    let rp = parse_ok(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::123456789012:user/alice","123456789012"]},"Action":"s3:*","Resource":"*"}]}"#,
        PolicyKind::Resource,
    );
    let set = with_resource(&[], &rp);
    let get = |p: Principal| RequestContext::new(p, "s3:GetObject", "arn:aws:s3:::b/k");
    assert_eq!(set.evaluate(&get(Principal::user(ALICE))).decision, Allow);
    assert_eq!(
        set.evaluate(&get(Principal::user(
            "arn:aws:iam::111122223333:user/mallory"
        )))
        .decision,
        ExplicitDeny
    );
    // NotPrincipal + Deny always applies to a principal with a boundary.
    let all = id_policy(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#);
    let set = PolicySet {
        boundary: Some(PolicyRef::new("pb", &all)),
        resource: Some(PolicyRef::new("rp", &rp)),
        ..Default::default()
    };
    assert_eq!(
        set.evaluate(&get(Principal::user(ALICE))).decision,
        ExplicitDeny
    );
    // Trust conditions.
    let t = parse_ok(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}"#,
        PolicyKind::Trust,
    );
    let set = with_resource(&[], &t);
    assert_eq!(
        set.evaluate(&assume(Principal::user(ALICE))).decision,
        ImplicitDeny
    );
    assert_eq!(
        set.evaluate(
            &assume(Principal::user(ALICE)).with_key("aws:MultiFactorAuthPresent", "true")
        )
        .decision,
        Allow
    );
}

#[test]
fn boundaries_and_session_policies_cap() {
    let all = id_policy(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#);
    let s3 = id_policy(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#);
    let ec2 = id_policy(r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#);
    let ids = [PolicyRef::new("all", &all)];
    let set = bounded(&ids, &s3, None);
    assert_eq!(set.evaluate(&req("s3:GetObject", "*")).decision, Allow);
    assert_eq!(
        outcome(&set, &req("ec2:RunInstances", "*")),
        (ImplicitDeny, Reason::NoBoundaryAllow)
    );
    // A boundary alone grants nothing.
    let set = PolicySet {
        boundary: Some(PolicyRef::new("pb", &s3)),
        ..Default::default()
    };
    assert_eq!(
        set.evaluate(&req("s3:GetObject", "*")).reason,
        Reason::NoIdentityAllow
    );
    // Session policies: intersection; several session policies are a union.
    let sessions = [PolicyRef::new("s1", &s3), PolicyRef::new("s2", &ec2)];
    let session_principal =
        Principal::assumed_role("arn:aws:sts::123456789012:assumed-role/app/s", ROLE);
    let set = PolicySet {
        identity: &ids,
        session: &sessions[..1],
        ..Default::default()
    };
    let r = |a: &str| RequestContext::new(session_principal.clone(), a, "*");
    assert_eq!(set.evaluate(&r("s3:GetObject")).decision, Allow);
    assert_eq!(
        outcome(&set, &r("ec2:RunInstances")),
        (ImplicitDeny, Reason::NoSessionAllow)
    );
    let set = PolicySet {
        identity: &ids,
        session: &sessions,
        ..Default::default()
    };
    assert_eq!(set.evaluate(&r("ec2:RunInstances")).decision, Allow);
    assert_eq!(set.evaluate(&r("iam:GetRole")).decision, ImplicitDeny);
    // Explicit deny in a boundary.
    let deny = id_policy(
        r#"[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iam:*","Resource":"*"}]"#,
    );
    let set = bounded(&ids, &deny, None);
    assert_eq!(
        set.evaluate(&req("iam:GetRole", "*")).reason,
        Reason::ExplicitDeny(PolicyType::PermissionsBoundary)
    );
}

#[test]
fn resource_policies_same_account() {
    let rp = |principal: &str| {
        parse_ok(
            &format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}}}"#
            ),
            PolicyKind::Resource,
        )
    };
    let none = id_policy(r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#);
    let ids = [PolicyRef::new("none", &none)];
    let mut r = req("s3:GetObject", "arn:aws:s3:::b/k");
    r.resource_account = Some("123456789012".into());
    // Naming the user: allowed without identity permission, boundary does not cap.
    let by_user = rp(&format!(r#"{{"AWS":"{ALICE}"}}"#));
    let set = bounded(&ids, &none, Some(&by_user));
    assert_eq!(set.evaluate(&r).reason, Reason::AllowedByResource);
    // Naming the account: identity permission needed.
    let by_account = rp(r#"{"AWS":"123456789012"}"#);
    let set = with_resource(&ids, &by_account);
    assert_eq!(set.evaluate(&r).reason, Reason::NoIdentityAllow);
    // Role session, resource policy names the role ARN: boundary caps.
    let session = Principal::assumed_role("arn:aws:sts::123456789012:assumed-role/app/s", ROLE);
    let mut rs = r.clone();
    rs.principal = session;
    let by_role = rp(&format!(r#"{{"AWS":"{ROLE}"}}"#));
    let set = bounded(&ids, &none, Some(&by_role));
    assert_eq!(set.evaluate(&rs).reason, Reason::NoBoundaryAllow);
    let set = with_resource(&ids, &by_role);
    assert_eq!(set.evaluate(&rs).decision, Allow);
    // Names the session ARN: boundary does not cap.
    let by_session = rp(r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/app/s"}"#);
    let set = bounded(&ids, &none, Some(&by_session));
    assert_eq!(set.evaluate(&rs).decision, Allow);
    // Cross-account: resource policy alone is not enough.
    let mut x = r.clone();
    x.resource_account = Some("999999999999".into());
    let set = with_resource(&ids, &by_user);
    assert_eq!(set.evaluate(&x).reason, Reason::NoIdentityAllow);
    // Cross-account, no resource policy at all.
    let all = id_policy(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#);
    let ids = [PolicyRef::new("all", &all)];
    let set = PolicySet {
        identity: &ids,
        ..Default::default()
    };
    assert_eq!(set.evaluate(&x).reason, Reason::NoResourceAllow);
}

#[test]
fn explain_lists_statements_and_missing_keys() {
    let p = id_policy(
        r#"[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"B","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"s3:prefix":"x"},"Bool":{"aws:SecureTransport":"true"}}},{"Sid":"C","Effect":"Deny","Action":"ec2:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]"#,
    );
    let ids = [PolicyRef::new("arn:aws:iam::123456789012:policy/p", &p)];
    let set = PolicySet {
        identity: &ids,
        ..Default::default()
    };
    let r = req("s3:GetObject", "*").with_key("aws:SecureTransport", "true");
    let x = set.explain(&r);
    assert_eq!(x.evaluation.decision, Allow);
    assert_eq!(x.matched.len(), 1);
    assert_eq!(x.matched[0].sid.as_deref(), Some("A"));
    assert_eq!(x.matched[0].policy_id, "arn:aws:iam::123456789012:policy/p");
    assert_eq!(x.missing_context_keys, vec!["s3:prefix".to_string()]);
    let p2 = id_policy(
        r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}"#,
    );
    let ids2 = [PolicyRef::new("p", &p2)];
    let set2 = PolicySet {
        identity: &ids2,
        ..Default::default()
    };
    let x = set2.explain(&req("s3:GetObject", "arn:aws:s3:::b/alice/x"));
    assert_eq!(x.evaluation.decision, ImplicitDeny);
    assert_eq!(x.missing_context_keys, vec!["aws:username".to_string()]);
    let e =
        set.evaluate(&req("ec2:RunInstances", "*").with_key("aws:MultiFactorAuthPresent", "false"));
    assert_eq!(e.decision, ExplicitDeny);
    let st = set.statement(e.statement.unwrap()).unwrap();
    assert_eq!(st.sid(), Some("C"));
    assert_eq!(
        e.reason.access_denied_phrase("ec2:RunInstances"),
        "with an explicit deny in an identity-based policy"
    );
}
