//! The typical 3-statement identity policy and a request it allows, shared by the criterion
//! bench and the `eval_loop` example.

use rolecall_policy::{Principal, RequestContext};

pub const TYPICAL: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ListOwn", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::corp-data",
     "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}},
    {"Sid": "RwOwn", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": "arn:aws:s3:::corp-data/home/${aws:username}/*",
     "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}},
    {"Sid": "DenyInsecure", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
  ]
}"#;

pub fn request() -> RequestContext {
    RequestContext::new(
        Principal::user("arn:aws:iam::123456789012:user/alice"),
        "s3:GetObject",
        "arn:aws:s3:::corp-data/home/alice/report.csv",
    )
    .with_key("aws:username", "alice")
    .with_key("aws:SourceIp", "10.1.2.3")
    .with_key("aws:SecureTransport", "true")
    .with_key("aws:CurrentTime", "2026-11-28T00:00:00Z")
    .with_key("aws:PrincipalArn", "arn:aws:iam::123456789012:user/alice")
}
