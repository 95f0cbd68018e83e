//! Validation rules for policy documents, from the IAM documentation
//! (policy grammar, quotas, element references).

mod common;

use common::{identity_doc, parse_ok};
use rolecall_policy::{ErrorCode, Policy, PolicyKind, Version, policy_size};

#[allow(
    clippy::panic,
    reason = "test helper: an accepted document fails the test"
)]
fn err(doc: &str, kind: PolicyKind) -> String {
    match Policy::parse(doc, kind) {
        Ok(_) => panic!("expected {doc} to be rejected"),
        Err(e) => {
            assert_eq!(e.code(), "MalformedPolicyDocument", "{e}");
            e.to_string()
        }
    }
}

const ID: PolicyKind = PolicyKind::Identity;
const TRUST: PolicyKind = PolicyKind::Trust;

#[test]
fn minimal_policies() {
    let p = parse_ok(
        &identity_doc(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
        ID,
    );
    assert_eq!(p.version(), Some(Version::V2012_10_17));
    assert_eq!(p.statements().len(), 1);
    parse_ok(
        &identity_doc(
            r#"[{"Effect":"Allow","Action":["s3:Get*","ec2:Describe*"],"Resource":["*"]}]"#,
        ),
        ID,
    );
    parse_ok(
        r#"{"Version":"2008-10-17","Statement":[{"Effect":"Deny","NotAction":"iam:*","NotResource":"arn:aws:s3:::b"}]}"#,
        ID,
    );
    // Version may be omitted.
    let p = parse_ok(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        ID,
    );
    assert_eq!(p.version(), None);
    parse_ok(
        r#"{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"A1","Effect":"Allow","Action":"*","Resource":"*"}}"#,
        PolicyKind::Managed,
    );
}

#[test]
fn syntax_errors() {
    for doc in ["", "   ", "{", "[]", "\"x\"", "{} {}", "null"] {
        assert_eq!(err(doc, ID), "Syntax errors in policy.");
    }
    err(
        r#"{"Version":"2012-10-17","Statement":"Allow everything"}"#,
        ID,
    );
    err(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Extra":1}}"#,
        ID,
    );
    err(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"},"Condition":{}}"#,
        ID,
    );
    err(r#"{"Version":"2012-10-17"}"#, ID);
    err(
        &identity_doc(r#"{"Effect":"Allow","Action":5,"Resource":"*"}"#),
        ID,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#),
        ID,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Action":["s3:*",1],"Resource":"*"}"#),
        ID,
    );
}

#[test]
fn duplicate_keys_rejected() {
    err(
        r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        ID,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}"#),
        ID,
    );
    err(
        &identity_doc(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"},"Bool":{"aws:MultiFactorAuthPresent":"true"}}}"#,
        ),
        ID,
    );
}

#[test]
fn version() {
    let m = err(
        r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        ID,
    );
    assert_eq!(m, "Syntax errors in policy.");
    err(
        r#"{"Version":20121017,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        ID,
    );
}

#[test]
fn effect() {
    // Wrong case: IAM's legacy parser; anything else: a syntax error.
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"allow","Action":"*","Resource":"*"}"#),
            ID
        ),
        "The policy failed legacy parsing"
    );
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"Alow","Action":"*","Resource":"*"}"#),
            ID
        ),
        "Syntax errors in policy."
    );
    assert_eq!(
        err(&identity_doc(r#"{"Action":"*","Resource":"*"}"#), ID),
        "Syntax errors in policy."
    );
}

#[test]
fn sid_rules() {
    assert_eq!(
        err(
            &identity_doc(
                r#"[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}]"#
            ),
            ID
        ),
        "Statement IDs (SID) in a single policy must be unique."
    );
    assert!(
        err(
            &identity_doc(r#"{"Sid":"no spaces","Effect":"Allow","Action":"*","Resource":"*"}"#),
            ID
        )
        .starts_with("Statement IDs (SID) must be alpha-numeric")
    );
    parse_ok(
        &identity_doc(r#"{"Sid":"","Effect":"Allow","Action":"*","Resource":"*"}"#),
        ID,
    );
}

#[test]
fn principal_rules() {
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#),
            ID
        ),
        "Policy document should not specify a principal."
    );
    assert_eq!(
        err(
            &identity_doc(
                r#"{"Effect":"Allow","NotPrincipal":{"AWS":"123456789012"},"Action":"*","Resource":"*"}"#
            ),
            PolicyKind::Managed
        ),
        "Policy document should not specify a principal."
    );
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"Allow","Action":"sts:AssumeRole"}"#),
            TRUST
        ),
        "Missing required field Principal"
    );
    assert_eq!(
        err(
            &identity_doc(
                r#"{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}"#
            ),
            TRUST
        ),
        "Has prohibited field Resource"
    );
    parse_ok(
        &identity_doc(
            r#"{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"],"AWS":["arn:aws:iam::123456789012:root","111122223333","arn:aws:iam::123456789012:role/path/R"]},"Action":["sts:AssumeRole","sts:TagSession"]}"#,
        ),
        TRUST,
    );
    parse_ok(
        &identity_doc(r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}"#),
        TRUST,
    );
    parse_ok(
        &identity_doc(
            r#"{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:saml-provider/idp"},"Action":"sts:AssumeRoleWithSAML"}"#,
        ),
        TRUST,
    );
    assert_eq!(
        err(
            &identity_doc(
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/*"},"Action":"sts:AssumeRole"}"#
            ),
            TRUST
        ),
        "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:user/*\""
    );
    err(
        &identity_doc(
            r#"{"Effect":"Allow","Principal":"ec2.amazonaws.com","Action":"sts:AssumeRole"}"#,
        ),
        TRUST,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"sts:AssumeRole"}"#),
        TRUST,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Principal":{},"Action":"sts:AssumeRole"}"#),
        TRUST,
    );
    err(
        &identity_doc(
            r#"{"Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"1"},"Action":"sts:AssumeRole"}"#,
        ),
        TRUST,
    );
    // Resource-based policies need both.
    parse_ok(
        &identity_doc(
            r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#,
        ),
        PolicyKind::Resource,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject"}"#),
        PolicyKind::Resource,
    );
}

#[test]
fn action_rules() {
    assert_eq!(
        err(&identity_doc(r#"{"Effect":"Allow","Resource":"*"}"#), ID),
        "Policy statement must contain actions."
    );
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"Allow","Action":"GetObject","Resource":"*"}"#),
            ID
        ),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"Allow","Action":"s3:Get:Object","Resource":"*"}"#),
            ID
        ),
        "Actions/Condition can contain only one colon."
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Action":"s*:GetObject","Resource":"*"}"#),
        ID,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Action":"*:GetObject","Resource":"*"}"#),
        ID,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Action":"s3:${aws:username}","Resource":"*"}"#),
        ID,
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Action":"*","NotAction":"s3:*","Resource":"*"}"#),
        ID,
    );
    parse_ok(
        &identity_doc(r#"{"Effect":"Allow","Action":"s3:*Object?","Resource":"*"}"#),
        ID,
    );
}

#[test]
fn resource_rules() {
    assert_eq!(
        err(&identity_doc(r#"{"Effect":"Allow","Action":"*"}"#), ID),
        "Policy statement must contain resources."
    );
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"Allow","Action":"*","Resource":"bucket"}"#),
            ID
        ),
        "Resource bucket must be in ARN format or \"*\"."
    );
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:*:::b"}"#),
            ID
        ),
        "Resource vendor must be fully qualified and cannot contain regexes."
    );
    assert!(
        err(
            &identity_doc(r#"{"Effect":"Allow","Action":"*","Resource":"arn:foo:s3:::b"}"#),
            ID
        )
        .starts_with("Partition \"foo\" is not valid")
    );
    err(
        &identity_doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}"#),
        ID,
    );
    // Found by fuzzing: the only colon is inside a policy variable.
    assert_eq!(
        err(
            &identity_doc(r#"{"Effect":"Allow","Action":"*","Resource":"${aws:username}"}"#),
            ID
        ),
        "Resource ${aws:username} must be in ARN format or \"*\"."
    );
    parse_ok(
        &identity_doc(
            r#"{"Effect":"Allow","Action":"*","Resource":["arn:aws:s3:::b/${aws:username}/*","arn:aws:ec2:*:*:instance/*","arn:aws:logs:us-east-1:123456789012:log-group:g:*"]}"#,
        ),
        ID,
    );
}

#[test]
fn condition_rules() {
    let cond = |c: &str| {
        identity_doc(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{c}}}"#
        ))
    };
    assert_eq!(
        err(&cond(r#"{"StringEqualz":{"aws:username":"a"}}"#), ID),
        "Syntax errors in policy."
    );
    // An unknown operator with no keys is accepted (and does nothing).
    parse_ok(&cond(r#"{"StringEqualz":{}}"#), ID);
    err(&cond(r#"{"NullIfExists":{"aws:username":"true"}}"#), ID);
    parse_ok(&cond(r#"{"StringEquals":{"username":"a"}}"#), ID);
    err(&cond(r#"{"NumericLessThan":{"s3:max-keys":"12abc"}}"#), ID);
    err(
        &cond(r#"{"DateLessThan":{"aws:CurrentTime":"2020-02-30T00:00:00Z"}}"#),
        ID,
    );
    err(&cond(r#"{"IpAddress":{"aws:SourceIp":"300.1.2.3/8"}}"#), ID);
    err(
        &cond(r#"{"NotIpAddress":{"aws:SourceIp":"2001:db8::/129"}}"#),
        ID,
    );
    err(
        &cond(r#"{"Bool":{"aws:SecureTransport":"${aws:username}"}}"#),
        ID,
    );
    err(
        &cond(r#"{"NumericEquals":{"s3:max-keys":"${aws:username}"}}"#),
        ID,
    );
    err(&cond(r#"{"StringEquals":{"aws:username":null}}"#), ID);
    err(&cond(r#"{"StringEquals":[]}"#), ID);
    err(&cond(r#""x""#), ID);
    parse_ok(
        &cond(
            r#"{"StringLike":{"s3:prefix":["home/${aws:username}/*",""]},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32","192.0.2.1"]},"Bool":{"aws:SecureTransport":true},"NumericLessThanEquals":{"s3:max-keys":10},"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z","aws:EpochTime":1577836800},"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]},"ForAnyValue:StringLikeIfExists":{"aws:PrincipalTag/team":"x*"},"Null":{"aws:TokenIssueTime":"true"},"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:123456789012:${aws:username}"},"BinaryEquals":{"k:b":"QmluYXJ5"}}"#,
        ),
        ID,
    );
    // Under 2008-10-17, ${...} is literal text, so it is accepted in Bool.
    parse_ok(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"${x}"}}}}"#,
        ID,
    );
}

#[test]
fn character_set() {
    err(
        &identity_doc(
            "{\"Sid\":\"\u{4e2d}\",\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}",
        ),
        ID,
    );
    err("{\"Version\":\"2012-10-17\",\u{0001}\"Statement\":[]}", ID);
    // Latin-1 is fine in values.
    parse_ok(
        &identity_doc(
            "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"arn:aws:s3:::b/caf\u{e9}\"}",
        ),
        ID,
    );
}

#[test]
fn size_limits_ignore_white_space() {
    assert_eq!(policy_size(" { \"a\" :\n\t1 } "), 7);
    let stmt = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/PAD"}"#;
    let build = |pad: usize, ws: usize| {
        let s = stmt.replace("PAD", &"x".repeat(pad));
        format!(
            "{{\"Version\":\"2012-10-17\",{}\"Statement\":{s}}}",
            " \n".repeat(ws)
        )
    };
    let base = policy_size(&build(0, 0));
    for (kind, limit) in [
        (PolicyKind::Trust, 2048),
        (PolicyKind::Managed, 6144),
        (PolicyKind::Identity, 10240),
    ] {
        assert_eq!(kind.size_limit(), limit);
        if kind == PolicyKind::Trust {
            continue;
        }
        let exact = build(limit - base, 5000);
        assert_eq!(policy_size(&exact), limit);
        parse_ok(&exact, kind);
        let e = Policy::parse(&build(limit - base + 1, 0), kind).unwrap_err();
        assert_eq!(e.code(), "LimitExceeded");
        assert_eq!(e.kind(), ErrorCode::LimitExceeded);
    }
    let trust = |pad: usize| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"Service":"{}.amazonaws.com"}},"Action":"sts:AssumeRole"}}}}"#,
            "x".repeat(pad)
        )
    };
    let base = policy_size(&trust(0));
    parse_ok(&trust(2048 - base), TRUST);
    let e = Policy::parse(&trust(2049 - base), TRUST).unwrap_err();
    assert_eq!(e.code(), "LimitExceeded");
    assert_eq!(
        e.to_string(),
        "Cannot exceed quota for ACLSizePerRole: 2048"
    );
}

/// (document, kind, IAM's message) for documents IAM rejects, covering the
/// order in which IAM reports problems.
#[test]
fn iam_messages() {
    let st = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":{body}}}"#);
    let cases: Vec<(String, PolicyKind, &str)> = vec![
        ("This is not a json document".into(), ID, "Syntax errors in policy."),
        (r#"{"Version":"2013-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#.into(), ID, "Syntax errors in policy."),
        (r#"{"Version":"2012-10-17","Statement":[]}"#.into(), ID, "Syntax errors in policy."),
        (r#"{"Version":"2012-10-17","Statement":["afd"]}"#.into(), ID, "Syntax errors in policy."),
        (r#"{"Version":"2012-10-17","Id":["x"],"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#.into(), ID, "Syntax errors in policy."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":{"a":"b"}}"#), ID, "Syntax errors in policy."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":[]}"#), ID, "Syntax errors in policy."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateGreaterThan":"b"}}"#), ID, "Syntax errors in policy."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateGreaterThan":{"a":{}}}}"#), ID, "Syntax errors in policy."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"ForAnyValue::StringEqualsIfExists":{"a":"asf"}}}"#), ID, "Syntax errors in policy."),
        (st(r#"{"Sid":{},"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}"#), ID, "Syntax errors in policy."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","NotResource":"*"}"#), ID, "Syntax errors in policy."),
        (r#"{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#.into(), PolicyKind::Managed, "Policy document must be version 2012-10-17 or greater."),
        (r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#.into(), PolicyKind::Managed, "Policy document must be version 2012-10-17 or greater."),
        (r#"{"Statement":{"Effect":"denY","Action":"s3:ListBucket","Resource":"*"}}"#.into(), PolicyKind::Managed, "Policy document must be version 2012-10-17 or greater."),
        (st(r#"{"Effect":"denY","Action":"s3:ListBucket","Resource":"*"}"#), ID, "The policy failed legacy parsing"),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateGreaterThan":{"a":"sdfdsf"}}}"#), ID, "The policy failed legacy parsing"),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateLessThanEquals":{"a":"234-13"}}}"#), ID, "The policy failed legacy parsing"),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateLessThan":{"a":"9223372036854775808"}}}"#), ID, "The policy failed legacy parsing"),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3::example_bucket"}"#), ID, "The policy failed legacy parsing"),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws::fdsasf"}"#), ID, "The policy failed legacy parsing"),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:error:s3:::b","Condition":{"DateGreaterThan":{"a":"sdfdsf"}}}"#), ID, "The policy failed legacy parsing"),
        (st(r#"[{"Sid":"sdf","Effect":"Allow","Action":"s3:ListBucket","Resource":"*"},{"Sid":"sdf","Effect":"Allow"}]"#), ID, "Statement IDs (SID) in a single policy must be unique."),
        (st(r#"{"Effect":"Allow","Resource":"*"}"#), ID, "Policy statement must contain actions."),
        (st(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#), ID, "Policy statement must contain actions."),
        (st(r#"[{"Effect":"Deny"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]"#), ID, "Policy statement must contain actions."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket"}"#), ID, "Policy statement must contain resources."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":[]}"#), ID, "Policy statement must contain resources."),
        // The vendor check comes before the missing-Resource check (moto's AWS-verified cases).
        (st(r#"{"Effect":"Allow","Action":"invalid"}"#), ID, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (st(r#"{"Effect":"Allow","Action":"invalid","Resource":"*"}"#), ID, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (st(r#"{"Effect":"Allow","NotAction":"","Resource":"*"}"#), ID, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (st(r#"{"Effect":"Allow","Action":"a a:ListBucket","Resource":"*"}"#), ID, "Vendor a a is not valid"),
        (st(r#"{"Effect":"Allow","Action":"s3:List:Bucket","Resource":"*"}"#), ID, "Actions/Condition can contain only one colon."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"invalid resource"}"#), ID, "Resource invalid resource must be in ARN format or \"*\"."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":""}"#), ID, "Resource  must be in ARN format or \"*\"."),
        (st(r#"{"Effect":"Allow","Action":"s:3:ListBucket","Resource":"sdfsadf"}"#), ID, "Resource sdfsadf must be in ARN format or \"*\"."),
        (st(r#"{"Effect":"Allow","NotAction":"s3s:ListBucket","Resource":"a:bsdfdsafsad"}"#), ID, "Partition \"bsdfdsafsad\" is not valid for resource \"arn:bsdfdsafsad:*:*:*:*\"."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws"}"#), ID, "Resource vendor must be fully qualified and cannot contain regexes."),
        (st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:iam:::example_bucket"}"#), ID, "IAM resource path must either be \"*\" or start with user/, federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/."),
    ];
    for (doc, kind, want) in cases {
        match Policy::parse(&doc, kind) {
            Ok(_) => panic!("accepted: {doc}"),
            Err(e) => assert_eq!(e.message(), want, "{doc}"),
        }
    }
    // A trust policy that is not JSON has its own message; other kinds say "Syntax errors".
    for (doc, kind, want) in [
        ("not json", TRUST, "This policy contains invalid Json"),
        ("{\"Version\": ", TRUST, "This policy contains invalid Json"),
        ("not json", ID, "Syntax errors in policy."),
    ] {
        assert_eq!(
            Policy::parse(doc, kind)
                .err()
                .map(|e| e.message().to_string())
                .as_deref(),
            Some(want),
            "{doc}"
        );
    }
    // Accepted by IAM.
    for doc in [
        st(
            r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"-292275054"}}}"#,
        ),
        st(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap/object/*"}"#,
        ),
        st(r#"{"Effect":"Allow","Action":"iam: asdf safdsf af ","Resource":"*"}"#),
        st(
            r#"{"Effect":"Allow","Action":"service-prefix:action-name","Resource":"arn:aws:s33:::example_bucket"}"#,
        ),
        st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:fdsasf"}"#),
        st(
            r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:ec2:us-east-1::example_bucket"}"#,
        ),
        st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{}}"#),
        st(
            r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateGreaterThan":{}}}"#,
        ),
        st(
            r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateGreaterThan":{"a":[]}}}"#,
        ),
        st(r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"a":{}}}"#),
        st(
            r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2017-07-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2017-12-31T23:59:59Z"}}}"#,
        ),
        r#"{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#.to_string(),
    ] {
        parse_ok(&doc, ID);
    }
}
