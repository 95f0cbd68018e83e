//! The borrowed, HTTP-library-agnostic request view.

/// A request as seen on the wire, borrowed from whatever HTTP stack is in use.
///
/// * `path` and `query` must be exactly what the client sent (still
///   percent-encoded; `query` without the leading `?`). With axum/hyper use
///   `uri.path()` and `uri.query().unwrap_or("")`; do not decode them.
/// * `headers` are `(name, value)` pairs in arrival order, repeated names
///   allowed, names in any case. Values that are not valid UTF-8 should be
///   left out (`std::str::from_utf8(v.as_bytes())`); if such a header is
///   signed, verification will then fail with `SignatureDoesNotMatch`.
///   `HeaderValue::to_str` is stricter (visible ASCII only) and also fine.
///   Include `host`: it must be signed.
/// * `body` is the complete body (the form for `POST` Query-protocol calls).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Raw path, e.g. `/`.
    pub path: &'a str,
    /// Raw query string without `?` (empty if none).
    pub query: &'a str,
    /// Header pairs.
    pub headers: &'a [(&'a str, &'a str)],
    /// Body bytes.
    pub body: &'a [u8],
}

/// First value of a header (case-insensitive name).
pub(crate) fn header_value<'a>(headers: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}
