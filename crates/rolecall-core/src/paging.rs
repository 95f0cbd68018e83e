//! Marker pagination. Markers are opaque to clients: the sort key of the next item, encoded
//! ([`encode_token`]) so that a marker this server did not issue is refused
//! ([`decode_token`]) instead of silently starting a listing somewhere.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Tags every token this server issues (and versions the format).
const TOKEN_PREFIX: &[u8] = b"rc1:";

/// The marker or NextToken a client is given for the sort key `key`.
pub fn encode_token(key: &str) -> String {
    let mut raw = Vec::with_capacity(TOKEN_PREFIX.len() + key.len());
    raw.extend_from_slice(TOKEN_PREFIX);
    raw.extend_from_slice(key.as_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}

/// The sort key inside a token from [`encode_token`]; None for anything else.
pub fn decode_token(token: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let key = raw.strip_prefix(TOKEN_PREFIX)?;
    String::from_utf8(key.to_vec()).ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Return items whose sort key is >= this.
    pub from: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Sort key of the first item not returned, when there are more.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items fetched in order.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
        let next = if items.len() > limit {
            items.get(limit).map(&key)
        } else {
            None
        };
        items.truncate(limit);
        Page { items, next }
    }
}

impl<T: crate::model::Named> Page<T> {
    /// A page of IAM entities listed by name (the sort key: the name, case-insensitively).
    pub fn by_name(items: Vec<T>, page: &PageRequest) -> Page<T> {
        Page::from_overfetch(items, page.limit, |e| e.name().to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        for key in ["role-a", "i-0123456789abcdef0", "Ünïcode key/with spaces"] {
            assert_eq!(decode_token(&encode_token(key)).as_deref(), Some(key));
        }
        for bad in ["", "role-a", "!!!", "cmMxOg==", &encode_token("x")[1..]] {
            assert_eq!(decode_token(bad), None, "{bad}");
        }
        // The empty key is a valid token (it sorts first); a bare prefix is not an error.
        assert_eq!(decode_token(&encode_token("")).as_deref(), Some(""));
    }
}
