//! Canonicalization shared by the signer and the verifier.
//!
//! Everything here follows the SigV4 specification and, where the
//! specification is vague, botocore's `SigV4Auth` (`botocore/auth.py`,
//! botocore 1.43.11) and the AWS SigV4 test suite, since botocore (the
//! `aws` CLI, boto3) is the client rolecall must interoperate with first.

use sha2::{Digest, Sha256};

/// SHA-256 of the empty string, hex encoded.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Literal payload hash used by clients that do not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The only algorithm supported.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credential scope terminator.
pub const TERMINATOR: &str = "aws4_request";

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `true` for the RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`),
/// the only bytes SigV4 leaves unencoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encode every byte except unreserved characters (and `/` when
/// `keep_slash`), using uppercase hex, as SigV4's `UriEncode()` requires.
pub fn uri_encode(input: &[u8], keep_slash: bool, out: &mut String) {
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
}

/// Canonical URI for every service except S3.
///
/// Mirrors botocore's `SigV4Auth._normalize_url_path`:
/// `quote(remove_dot_segments(path), safe='/~')`. `path` is the path as sent
/// on the wire (already percent-encoded once), so a `%` in it is encoded again
/// to `%25` ("double encoding"). Dot segments are removed (RFC 3986 5.2.4) and
/// empty segments collapsed, as `botocore.utils.remove_dot_segments` does; an
/// empty path becomes `/`.
pub fn canonical_uri(path: &str) -> String {
    let normalized = remove_dot_segments(path);
    let mut out = String::with_capacity(normalized.len() + 8);
    uri_encode(normalized.as_bytes(), true, &mut out);
    out
}

/// Port of `botocore.utils.normalize_url_path` / `remove_dot_segments`.
fn remove_dot_segments(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut output: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                output.pop();
            }
            s => output.push(s),
        }
    }
    let first = if path.starts_with('/') { "/" } else { "" };
    let last = if path.ends_with('/') && !output.is_empty() {
        "/"
    } else {
        ""
    };
    let mut result = String::with_capacity(path.len());
    result.push_str(first);
    result.push_str(&output.join("/"));
    result.push_str(last);
    result
}

/// How a literal `+` in a raw query string is understood.
///
/// Clients disagree. botocore puts `+` on the wire for a space when it
/// serializes `params` itself (`AWSRequest.prepare`, see the
/// `ec2-describe-regions-get-query` fixture) while signing `%20`; aws-sdk-rust
/// before smithy-rs#4227 did the same via `form_urlencoded::parse`. Newer
/// aws-sdk-rust (the `get-query-plus` case of its signing test suite) and curl
/// treat `+` as a literal plus, `%2B`. AWS S3 is reported to accept both
/// (mhart/aws4fetch#83). The verifier therefore tries [`PlusMode::Space`]
/// first and, only if the query contains a `+` and the signature does not
/// match, [`PlusMode::Literal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlusMode {
    /// `+` means a space (`application/x-www-form-urlencoded`), canonical `%20`.
    Space,
    /// `+` is a literal plus, canonical `%2B`.
    Literal,
}

/// Decode one raw query component into bytes: `%XX` is a byte, a `%` not
/// followed by two hex digits is kept literally (it will be re-encoded as
/// `%25`), and `+` is handled per `plus`.
fn form_decode(input: &str, plus: PlusMode) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus == PlusMode::Space => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| char::from(*b).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|b| char::from(*b).to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        // hi, lo < 16, so the value fits in a byte.
                        out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Split a raw query string into `(raw_key, raw_value)` pairs, skipping empty
/// pieces (`a=1&&b=2`). A piece without `=` has an empty value.
pub fn split_query(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k, v)
    })
}

/// Decode a single raw query component to a (lossy) UTF-8 string, `+` as
/// space.
pub fn decode_component(raw: &str) -> String {
    String::from_utf8_lossy(&form_decode(raw, PlusMode::Space)).into_owned()
}

/// Canonical query string built from a raw (wire) query string.
///
/// Each key and value is decoded and re-encoded with SigV4's `UriEncode`
/// (encoding everything but unreserved characters, `/` included), then the
/// pairs are sorted by encoded key and, for repeated keys, by encoded value
/// (botocore `_canonical_query_string_params`). Keys for which `exclude`
/// returns `true` (on the decoded key) are dropped: the verifier uses it to
/// drop `X-Amz-Signature` from presigned URLs. `+` is read as a space.
pub fn canonical_query(query: &str, exclude: impl Fn(&str) -> bool) -> String {
    canonical_query_with(query, exclude, PlusMode::Space)
}

/// [`canonical_query`] with an explicit [`PlusMode`].
pub fn canonical_query_with(query: &str, exclude: impl Fn(&str) -> bool, plus: PlusMode) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (raw_k, raw_v) in split_query(query) {
        let k = form_decode(raw_k, plus);
        if exclude(&String::from_utf8_lossy(&k)) {
            continue;
        }
        let v = form_decode(raw_v, plus);
        let mut ek = String::with_capacity(k.len());
        uri_encode(&k, false, &mut ek);
        let mut ev = String::with_capacity(v.len());
        uri_encode(&v, false, &mut ev);
        pairs.push((ek, ev));
    }
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// SigV4 `Trimall`: strip leading/trailing whitespace and collapse runs of
/// whitespace into one space.
///
/// botocore does `' '.join(value.split())`, which treats tabs (and CR/LF from
/// folded headers) as whitespace too; the SigV4 docs only talk about spaces.
/// We follow botocore for space, tab, CR and LF, the only whitespace an HTTP
/// header value can carry.
pub fn trim_all(value: &str, out: &mut String) {
    let mut pending_space = false;
    let mut started = false;
    for c in value.chars() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            pending_space = started;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
            started = true;
        }
    }
}

/// Canonical headers block (each line terminated by `\n`) for the given
/// lowercase signed header names, in the given order.
///
/// Repeated headers are joined with `,` in the order they appear in the
/// request (botocore `canonical_headers`). A signed header that is absent
/// from the request yields `name:`; the signature then simply won't match.
pub fn canonical_headers(signed: &[String], headers: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for name in signed {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for (_, value) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if !first {
                out.push(',');
            }
            trim_all(value, &mut out);
            first = false;
        }
        out.push('\n');
    }
    out
}

/// Assemble the canonical request:
/// `METHOD \n URI \n QUERY \n HEADERS \n SIGNED_HEADERS \n PAYLOAD_HASH`
/// (the headers block already ends with `\n`, hence the blank line).
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let mut s = String::with_capacity(
        method.len()
            + canonical_uri.len()
            + canonical_query.len()
            + canonical_headers.len()
            + signed_headers.len()
            + payload_hash.len()
            + 8,
    );
    s.push_str(&method.to_ascii_uppercase());
    s.push('\n');
    s.push_str(canonical_uri);
    s.push('\n');
    s.push_str(canonical_query);
    s.push('\n');
    s.push_str(canonical_headers);
    s.push('\n');
    s.push_str(signed_headers);
    s.push('\n');
    s.push_str(payload_hash);
    s
}

/// `AWS4-HMAC-SHA256 \n TIMESTAMP \n SCOPE \n hex(sha256(canonical_request))`.
pub fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("//example//", "/example/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./", "/"),
            ("/a/./b/../c", "/a/c"),
            ("/../../a", "/a"),
        ] {
            assert_eq!(remove_dot_segments(input), want, "{input}");
        }
    }

    #[test]
    fn uri_double_encoding() {
        for (input, want) in [
            ("/", "/"),
            ("/a%20b", "/a%2520b"),
            ("/example space/", "/example%20space/"),
            ("/example/$delete", "/example/%24delete"),
            ("/\u{1234}", "/%E1%88%B4"),
        ] {
            assert_eq!(canonical_uri(input), want, "{input}");
        }
    }

    #[test]
    fn query() {
        assert_eq!(canonical_query("", |_| false), "");
        assert_eq!(
            canonical_query("b=2&a=1&a=0&c", |_| false),
            "a=0&a=1&b=2&c="
        );
        assert_eq!(
            canonical_query("Policy=%7B%22a%22%3A%20%2A%7D&x=a+b", |_| false),
            "Policy=%7B%22a%22%3A%20%2A%7D&x=a%20b"
        );
        assert_eq!(canonical_query("k=%zz&j=%", |_| false), "j=%25&k=%25zz");
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&A=1", |k| k == "X-Amz-Signature"),
            "A=1"
        );
        // lowercase hex on the wire is normalized to uppercase
        assert_eq!(canonical_query("a=%2f", |_| false), "a=%2F");
        assert_eq!(
            canonical_query_with("c+d", |_| false, PlusMode::Literal),
            "c%2Bd="
        );
        assert_eq!(canonical_query("c+d", |_| false), "c%20d=");
    }

    #[test]
    fn trimming() {
        let mut s = String::new();
        trim_all("  a   b \t c  ", &mut s);
        assert_eq!(s, "a b c");
        s.clear();
        trim_all("   ", &mut s);
        assert_eq!(s, "");
    }

    #[test]
    fn headers_block() {
        let h = [
            ("Host", "example.com"),
            ("My-Header1", "value2"),
            ("my-header1", " value1 "),
        ];
        let signed = vec!["host".to_owned(), "my-header1".to_owned(), "x".to_owned()];
        assert_eq!(
            canonical_headers(&signed, &h),
            "host:example.com\nmy-header1:value2,value1\nx:\n"
        );
    }
}
