//! Marker pagination. Markers are opaque to clients; here they are the sort key of the next item.

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
