//! Vectors from aws-sdk-rust's signer (`aws-sigv4`), copied from
//! `smithy-lang/smithy-rs`, `aws/rust-runtime/aws-sigv4/aws-signing-test-suite/v4/get-query-plus`
//! (Apache-2.0). They pin down how current aws-sdk-rust canonicalizes a
//! literal `+` in the query (`%2B`, smithy-rs#4227), which differs from
//! botocore's `+`-as-space; the verifier must accept both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use rolecall_sigv4::{Request, SigningKey, parse, verify};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn key() -> SigningKey {
    SigningKey::derive(SECRET, "20150830", "us-east-1", "service")
}

#[test]
fn get_query_plus_header_signed() {
    // header-signed-request.txt
    let headers = [
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=ae684ce3aadc299e3ac7d9216fcc039c7edf40dea57cf5b3005821dd2f176654",
        ),
    ];
    let req = Request {
        method: "GET",
        path: "/",
        query: "c+d",
        headers: &headers,
        body: b"",
    };
    let auth = parse(&req).unwrap();
    let now = Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap();
    verify(&req, &auth, &key(), now).unwrap();
    // header-canonical-request.txt is reproduced on the second attempt.
    let canonical = rolecall_sigv4::canonical::canonical_query_with(
        "c+d",
        |_| false,
        rolecall_sigv4::canonical::PlusMode::Literal,
    );
    assert_eq!(canonical, "c%2Bd=");
}

#[test]
fn get_query_plus_query_signed() {
    // query-signed-request.txt
    let headers = [("Host", "example.amazonaws.com")];
    let req = Request {
        method: "GET",
        path: "/",
        query: "c+d=&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=0eab864b028f58edbf5290cbe84acc5db34e5f92786a96fe01434e515f9342b8",
        headers: &headers,
        body: b"",
    };
    let auth = parse(&req).unwrap();
    assert!(auth.is_presigned());
    let now = Utc.with_ymd_and_hms(2015, 8, 30, 13, 0, 0).unwrap();
    verify(&req, &auth, &key(), now).unwrap();
}
