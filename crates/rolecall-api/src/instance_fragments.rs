//! DescribeInstances' XML of each instance, kept between requests for as long as the instance's
//! stored document (and its active association's) stays the same: a page is then written by
//! concatenation, with no JSON parsed and no text escaped.
//!
//! An entry is used only if the documents the page query just read are byte for byte the ones
//! it was rendered from (and the region is the same). So any change (state, tags, association,
//! metadata options, on this node or another) shows in the next answer, with no invalidation to
//! miss and no write to race: the store's read is the version check.

use crate::ec2_xml::instance;
use crate::generated::ec2_outputs as out;
use crate::output::Rendered;
use rolecall_core::InstanceDoc;
use rolecall_core::StoreError;
use rolecall_core::model::{Association, Instance};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Bytes kept at most (documents and XML; a typical instance is about 3 KB, one with large user
/// data and many tags can be 100 KB); past it the cache starts over, so paging through a large
/// fleet cannot grow it without bound.
const MAX_BYTES: usize = 32 << 20;

/// One instance's XML and what it was rendered from.
pub(crate) struct Fragment {
    instance: String,
    association: String,
    region: String,
    pub(crate) reservation_id: String,
    /// The instance as written in `instancesSet`.
    pub(crate) xml: Rendered<out::Instance>,
}

impl Fragment {
    /// The bytes this entry holds (its texts; the map's own overhead aside).
    fn size(&self) -> usize {
        self.instance.len()
            + self.association.len()
            + self.region.len()
            + self.reservation_id.len()
            + self.xml.xml().len()
    }
}

impl Fragment {
    fn renders(&self, doc: &InstanceDoc, region: &str) -> bool {
        self.instance == doc.instance
            && self.association == doc.association
            && self.region == region
    }
}

/// By instance id. One per process: entries are checked against the documents and the region,
/// so nodes sharing a process (tests) cannot see each other's.
static FRAGMENTS: LazyLock<Mutex<Kept>> = LazyLock::new(Default::default);

/// The kept fragments and the bytes they hold.
#[derive(Default)]
struct Kept {
    by_id: HashMap<String, Arc<Fragment>>,
    bytes: usize,
}

fn render(doc: &InstanceDoc, region: &str) -> Result<Fragment, StoreError> {
    let decode = |e: serde_json::Error| StoreError::Backend(format!("decode: {e}"));
    let instance: Instance = serde_json::from_str(&doc.instance).map_err(decode)?;
    let association: Option<Association> = if doc.association.is_empty() {
        None
    } else {
        Some(serde_json::from_str(&doc.association).map_err(decode)?)
    };
    let reported = instance.state;
    let xml = Rendered::new(&self::instance(
        &instance,
        association.as_ref(),
        region,
        reported,
    ));
    Ok(Fragment {
        instance: doc.instance.clone(),
        association: doc.association.clone(),
        region: region.to_string(),
        reservation_id: instance.reservation_id,
        xml,
    })
}

/// Each document's fragment, in order: kept ones where the documents are unchanged, the others
/// rendered now (and kept).
pub(crate) fn fragments(
    docs: &[InstanceDoc],
    region: &str,
) -> Result<Vec<Arc<Fragment>>, StoreError> {
    let mut out: Vec<Option<Arc<Fragment>>> = match FRAGMENTS.lock() {
        Ok(kept) => docs
            .iter()
            .map(|d| {
                kept.by_id
                    .get(&d.id)
                    .filter(|f| f.renders(d, region))
                    .cloned()
            })
            .collect(),
        Err(_) => vec![None; docs.len()],
    };
    let mut rendered = Vec::new();
    for (slot, doc) in out.iter_mut().zip(docs) {
        if slot.is_none() {
            let fragment = Arc::new(render(doc, region)?);
            rendered.push((doc.id.clone(), fragment.clone()));
            *slot = Some(fragment);
        }
    }
    if !rendered.is_empty() {
        let adding: usize = rendered.iter().map(|(id, f)| id.len() + f.size()).sum();
        // What a full cache held is freed after the lock is released.
        let mut dropped = Kept::default();
        if let Ok(mut kept) = FRAGMENTS.lock() {
            if kept.bytes + adding > MAX_BYTES {
                dropped = std::mem::take(&mut *kept);
            }
            for (id, fragment) in rendered {
                kept.bytes += id.len() + fragment.size();
                if let Some(old) = kept.by_id.insert(id.clone(), fragment) {
                    kept.bytes = kept.bytes.saturating_sub(id.len() + old.size());
                }
            }
        }
        drop(dropped);
    }
    Ok(out.into_iter().flatten().collect())
}

/// The kept fragment of an instance, if any (for tests).
#[cfg(test)]
pub(crate) fn kept(id: &str) -> Option<Arc<Fragment>> {
    FRAGMENTS.lock().ok()?.by_id.get(id).cloned()
}
