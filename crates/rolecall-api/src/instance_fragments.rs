//! DescribeInstances' XML of each instance, kept between requests for as long as the instance's
//! stored document (and its active association's) stays the same: a page is then written by
//! concatenation, with no JSON parsed and no text escaped.
//!
//! An entry is used only if the documents the page query just read are byte for byte the ones
//! it was rendered from (and the region is the same). So any change (state, tags, association,
//! metadata options, on this node or another) shows in the next answer, with no invalidation to
//! miss and no write to race: the store's read is the version check.

use crate::ec2_xml::instance_xml;
use rolecall_core::InstanceDoc;
use rolecall_core::StoreError;
use rolecall_core::model::{Association, Instance};
use rolecall_wire::Xml;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Instances kept at most (about 3 KB each); past it the cache starts over, so paging through a
/// large fleet cannot grow it without bound.
const MAX_ENTRIES: usize = 10_000;

/// One instance's XML and what it was rendered from.
pub(crate) struct Fragment {
    instance: String,
    association: String,
    region: String,
    pub(crate) reservation_id: String,
    /// The content of the instance's `<item>` in `instancesSet`.
    pub(crate) xml: String,
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
static FRAGMENTS: LazyLock<Mutex<HashMap<String, Arc<Fragment>>>> = LazyLock::new(Default::default);

fn render(doc: &InstanceDoc, region: &str) -> Result<Fragment, StoreError> {
    let decode = |e: serde_json::Error| StoreError::Backend(format!("decode: {e}"));
    let instance: Instance = serde_json::from_str(&doc.instance).map_err(decode)?;
    let association: Option<Association> = if doc.association.is_empty() {
        None
    } else {
        Some(serde_json::from_str(&doc.association).map_err(decode)?)
    };
    let mut x = Xml::default();
    instance_xml(
        &mut x,
        &instance,
        association.as_ref(),
        region,
        instance.state,
    );
    Ok(Fragment {
        instance: doc.instance.clone(),
        association: doc.association.clone(),
        region: region.to_string(),
        reservation_id: instance.reservation_id,
        xml: x.finish(),
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
            .map(|d| kept.get(&d.id).filter(|f| f.renders(d, region)).cloned())
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
    if !rendered.is_empty()
        && let Ok(mut kept) = FRAGMENTS.lock()
    {
        if kept.len() + rendered.len() > MAX_ENTRIES {
            kept.clear();
        }
        kept.extend(rendered);
    }
    Ok(out.into_iter().flatten().collect())
}

/// The kept fragment of an instance, if any (for tests).
#[cfg(test)]
pub(crate) fn kept(id: &str) -> Option<Arc<Fragment>> {
    FRAGMENTS.lock().ok()?.get(id).cloned()
}

#[cfg(test)]
mod tests {
    use super::kept;
    use crate::generated::Operation;
    use crate::units::testing::{api, call, create_role, launch};
    use std::sync::Arc;

    async fn describe(api: &crate::context::Api, id: &str) -> String {
        call(api, Operation::DescribeInstances, &[("InstanceId.1", id)])
            .await
            .expect("unit")
            .expect("answer")
    }

    async fn change(api: &crate::context::Api, op: Operation, params: &[(&str, &str)]) {
        call(api, op, params).await.expect("unit").expect("changed");
    }

    /// Describes `id`, expecting `shows` in the answer and a fragment rendered anew (not the one
    /// kept before the change); then again, expecting the same answer from the kept fragment.
    async fn shows_change(api: &crate::context::Api, id: &str, shows: &str) {
        let before = kept(id).expect("kept before the change");
        let body = describe(api, id).await;
        assert!(body.contains(shows), "{shows} not in {body}");
        let after = kept(id).expect("kept after the change");
        assert!(
            !Arc::ptr_eq(&before, &after),
            "{shows}: the old fragment was used"
        );
        assert_eq!(describe(api, id).await, body);
        assert!(
            Arc::ptr_eq(&after, &kept(id).expect("kept")),
            "{shows}: not reused"
        );
    }

    #[tokio::test]
    async fn a_kept_instance_is_rendered_anew_after_each_kind_of_change() {
        let api = api().await;
        create_role(&api, "r", None).await;
        api.iam
            .create_instance_profile("p", None, vec![])
            .await
            .expect("profile");
        api.iam
            .add_role_to_instance_profile("p", "r")
            .await
            .expect("added");
        let id = launch(&api).await;
        let first = describe(&api, &id).await;
        assert!(
            first.contains(&format!("<instanceId>{id}</instanceId>")),
            "{first}"
        );
        let kept_first = kept(&id).expect("kept");
        assert_eq!(describe(&api, &id).await, first);
        assert!(Arc::ptr_eq(&kept_first, &kept(&id).expect("kept")));

        let tag = [
            ("ResourceId.1", id.as_str()),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "blue"),
        ];
        change(&api, Operation::CreateTags, &tag).await;
        shows_change(&api, &id, "<key>team</key><value>blue</value>").await;

        let metadata = [("InstanceId", id.as_str()), ("HttpTokens", "required")];
        change(&api, Operation::ModifyInstanceMetadataOptions, &metadata).await;
        shows_change(&api, &id, "<httpTokens>required</httpTokens>").await;

        let associate = [
            ("InstanceId", id.as_str()),
            ("IamInstanceProfile.Name", "p"),
        ];
        change(&api, Operation::AssociateIamInstanceProfile, &associate).await;
        shows_change(&api, &id, ":instance-profile/p</arn>").await;

        change(
            &api,
            Operation::StopInstances,
            &[("InstanceId.1", id.as_str())],
        )
        .await;
        shows_change(&api, &id, "<name>stopped</name>").await;

        change(
            &api,
            Operation::TerminateInstances,
            &[("InstanceId.1", id.as_str())],
        )
        .await;
        shows_change(&api, &id, "<name>terminated</name>").await;
        let body = describe(&api, &id).await;
        assert!(!body.contains("iamInstanceProfile"), "{body}");
    }
}
