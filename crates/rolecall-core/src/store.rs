//! The storage trait. Implementations enforce the invariants with database constraints and
//! transactions, and report violations as [`StoreError`](crate::StoreError)s (conflict, not found,
//! in use, limit), which core words as AWS does. Role, user and group policies are kept by owner
//! ([`PrincipalStore`]'s `*_owner_policy`).
//!
//! Names are looked up case-insensitively (IAM names are unique regardless of case). List methods
//! return up to `page.limit + 1` items ordered by their sort key (lower-cased name, or id for EC2)
//! starting at `page.from`, so the caller can tell whether there is more.

use crate::PageRequest;
use crate::audit::{AuditEvent, AuditQuery, AuditTail};
use crate::ec2::Filter;
use crate::model::*;
use crate::principal_store::PrincipalStore;
use crate::store_error::StoreResult as Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub type DynStore = Arc<dyn Store>;

/// A change applied to an entity inside the store's transaction, so concurrent read-modify-write
/// operations (tagging, updates) never lose each other's changes. An error aborts the change.
pub type Edit<T> = Box<dyn FnOnce(&mut T) -> crate::Result<()> + Send + 'static>;

#[async_trait]
pub trait Store: PrincipalStore + Send + Sync + 'static {
    // --- deployment metadata (account id, sealed root secret, ...) ---
    async fn get_meta(&self, key: &str) -> Result<Option<String>>;
    /// Inserts `value` unless the key exists; returns the value now stored.
    async fn init_meta(&self, key: &str, value: &str) -> Result<String>;
    /// Inserts or replaces.
    async fn set_meta(&self, key: &str, value: &str) -> Result<()>;
    /// Edits a metadata value ("" when absent) under its row lock and records `changed` in the
    /// change feed in the same transaction; returns the value stored.
    async fn modify_meta(
        &self,
        key: &str,
        edit: Edit<String>,
        changed: (EntityKind, String),
    ) -> Result<String>;
    /// As [`modify_meta`](Self::modify_meta), for a document that belongs to the user `user_id`
    /// (a login profile): the user's row is locked against deletion for the transaction, and
    /// NotFound(User) when the user is gone, so no such document outlives its user (DeleteUser
    /// counts them in its own transaction). Records the user in the change feed.
    async fn modify_user_meta(
        &self,
        user_id: &str,
        key: &str,
        edit: Edit<String>,
    ) -> Result<String>;

    // --- customer managed policies ---
    /// Conflict on a duplicate name (any case) in the account.
    async fn insert_policy(&self, policy: &ManagedPolicy, first: &PolicyVersion) -> Result<()>;
    async fn get_policy(&self, arn: &str) -> Result<Option<ManagedPolicy>>;
    async fn list_policies(
        &self,
        path_prefix: &str,
        only_attached: bool,
        page: &PageRequest,
    ) -> Result<Vec<ManagedPolicy>>;
    /// InUse while attached or holding non-default versions.
    async fn delete_policy(&self, arn: &str) -> Result<()>;
    /// Edits the policy's document (e.g. its tags) under its row lock; NotFound when absent.
    async fn modify_policy(&self, arn: &str, edit: Edit<ManagedPolicy>) -> Result<ManagedPolicy>;
    /// The roles, users and groups the policy is attached to (of `kind` only, when given)
    /// whose path starts with `path_prefix`, ordered by [`PolicyEntity::sort_key`].
    async fn list_policy_entities(
        &self,
        arn: &str,
        kind: Option<crate::store_error::OwnerKind>,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<PolicyEntity>>;
    /// Adds a version with the next id (v2, v3, ...); LimitExceeded past five versions.
    async fn insert_policy_version(
        &self,
        arn: &str,
        version: NewPolicyVersion<'_>,
    ) -> Result<PolicyVersion>;
    async fn get_policy_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<Option<PolicyVersion>>;
    async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>>;
    /// InUse(DefaultVersion) for the default version; NotFound for an unknown one.
    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()>;
    /// Makes the version the default; the policy's update date becomes `now`.
    async fn set_default_policy_version(
        &self,
        arn: &str,
        version_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
    // --- instance profiles (read with their role filled in) ---
    async fn insert_instance_profile(&self, profile: &InstanceProfile) -> Result<()>;
    async fn get_instance_profile(&self, name: &str) -> Result<Option<InstanceProfile>>;
    async fn list_instance_profiles(
        &self,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Vec<InstanceProfile>>;
    async fn list_instance_profiles_for_role(
        &self,
        role_id: &str,
        page: &PageRequest,
    ) -> Result<Vec<InstanceProfile>>;
    /// Applies `edit` to the profile's own fields (tags) in one transaction; the role link is separate.
    async fn modify_instance_profile(&self, name: &str, edit: Edit<InstanceProfile>) -> Result<()>;
    /// InUse while it holds a role.
    async fn delete_instance_profile(&self, name: &str) -> Result<()>;
    /// LimitExceeded when the profile already holds a role.
    async fn add_role_to_instance_profile(&self, profile_id: &str, role_id: &str) -> Result<()>;
    /// NotFound when that role is not in the profile.
    async fn remove_role_from_instance_profile(
        &self,
        profile_id: &str,
        role_id: &str,
    ) -> Result<()>;

    // --- instances ---
    /// Inserts instances and their initial associations in one transaction; a private IP in use by
    /// a live instance is Conflict(PrivateIp).
    async fn insert_instances(
        &self,
        instances: &[Instance],
        associations: &[Association],
    ) -> Result<()>;
    async fn get_instance(&self, id: &str) -> Result<Option<Instance>>;
    /// Instances ordered by id; `ids` empty means all.
    async fn list_instances(&self, ids: &[String], page: &PageRequest) -> Result<Vec<Instance>>;
    /// DescribeInstances in the database: the instances among `ids` (all when empty) matching
    /// every filter (names already checked by the caller; a filter matches when any of its
    /// values, with `*` and `?` wildcards, matches), each with its active association, ordered
    /// by id from `page.from`, up to `page.limit + 1`.
    async fn query_instances(
        &self,
        ids: &[String],
        filters: &[Filter],
        page: &PageRequest,
    ) -> Result<Vec<(Instance, Option<Association>)>>;
    /// [`query_instances`](Self::query_instances) as the stored documents, unparsed: for a
    /// caller that keeps what it derives from a document for as long as the document is the same
    /// (DescribeInstances' XML).
    async fn query_instance_docs(
        &self,
        ids: &[String],
        filters: &[Filter],
        page: &PageRequest,
    ) -> Result<Vec<InstanceDoc>>;
    /// Private IPs of instances that are not terminated.
    async fn live_private_ips(&self) -> Result<Vec<String>>;
    /// Applies `edit` to the instance in one transaction (no lost updates between concurrent
    /// state and metadata changes); a move to a state that holds no association
    /// ([`InstanceState::holds_association`]) also ends its active association (at `now`).
    /// NotFound if absent.
    async fn modify_instance(
        &self,
        id: &str,
        now: DateTime<Utc>,
        edit: Edit<Instance>,
    ) -> Result<Instance>;

    /// [`insert_instances`](Self::insert_instances) that also records the launch's client
    /// token in the same transaction: Conflict(ClientToken) when the token is taken.
    async fn insert_reservation(
        &self,
        instances: &[Instance],
        associations: &[Association],
        token: Option<&ClientToken>,
    ) -> Result<()>;
    /// The launch a client token was used for.
    async fn get_client_token(&self, token: &str) -> Result<Option<ClientToken>>;
    /// A page of instances chosen in the database (DescribeInstanceStatus), ordered by id.
    async fn status_instances(
        &self,
        q: &InstanceQuery,
        page: &PageRequest,
    ) -> Result<Vec<Instance>>;

    // --- the EC2 network (VPCs, subnets, security groups) and EC2 tags ---
    /// Inserts the resources in one transaction; Conflict(DefaultNetwork) when one of them is a
    /// default another writer made first.
    async fn insert_network(&self, items: &[NetworkResource]) -> Result<()>;
    /// Every network resource of a kind, with its tags (they are few: no paging).
    async fn list_network(&self, kind: NetworkKind) -> Result<Vec<NetworkResource>>;
    /// Network resources by id, with their tags.
    async fn get_network(&self, ids: &[String]) -> Result<Vec<NetworkResource>>;
    /// Deletes a network resource and its tag rows; false when there was none.
    async fn delete_network(&self, id: &str) -> Result<bool>;
    /// Adds or overwrites tags on resources, each `(id, resource type)`; an instance's document
    /// changes with its tag rows. LimitExceeded(Tags) past 50 tags on one resource; NotFound for
    /// an instance that does not exist.
    async fn put_tags(&self, resources: &[(String, String)], tags: &[Tag]) -> Result<()>;
    /// Removes tags (`(key, Some(value))` only when the value matches) from resources; no
    /// tags removes all of them.
    async fn remove_tags(
        &self,
        resources: &[(String, String)],
        tags: &[(String, Option<String>)],
    ) -> Result<()>;
    /// A page of tags chosen in the database, ordered by (resource id, key); `page.from` is
    /// `resource_id\tkey`.
    async fn query_tags(&self, q: &TagQuery, page: &PageRequest) -> Result<Vec<ResourceTag>>;

    // --- IAM instance profile associations ---
    /// Conflict when the instance already has an active association; CannotAssociate when it is
    /// terminated.
    async fn insert_association(&self, association: &Association) -> Result<()>;
    async fn get_association(&self, id: &str) -> Result<Option<Association>>;
    /// Associations ordered by id; `ids` empty means all.
    async fn list_associations(
        &self,
        ids: &[String],
        page: &PageRequest,
    ) -> Result<Vec<Association>>;
    /// The associations that ended after `since`, oldest end first (an index range on the
    /// `ended_at` column: what revocation verifiers reload, never the whole table).
    async fn associations_ended_since(&self, since: DateTime<Utc>) -> Result<Vec<Association>>;
    /// The instances whose state changed (stopped, started, terminated) after `since`, each with
    /// its active association, by change time (an index range on the `state_changed_at` column;
    /// a launch is no change: what revocation verifiers reload, never the whole fleet).
    async fn instances_changed_state_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Instance, Option<Association>)>>;
    /// DescribeIamInstanceProfileAssociations in the database: as
    /// [`query_instances`](Self::query_instances), over associations (filters `instance-id` and
    /// `state`); ended associations only when `q.include_ended`.
    async fn query_associations(
        &self,
        q: &AssociationQuery<'_>,
        page: &PageRequest,
    ) -> Result<Vec<Association>>;
    /// Running instances actively associated with one of `profile_arns`, or with a profile that
    /// holds one of `role_ids`, each with its association (index lookups: what a profile or
    /// role change touches, without reading the fleet).
    async fn running_instances_of(
        &self,
        profile_arns: &[String],
        role_ids: &[String],
    ) -> Result<Vec<(Instance, Association)>>;
    /// The active association of each of these instances that has one.
    async fn active_associations(&self, instance_ids: &[String]) -> Result<Vec<Association>>;
    /// Atomically ends `old_id` (must be active: else NotActive) at `new`'s timestamp and
    /// inserts `new`.
    async fn replace_association(&self, old_id: &str, new: &Association) -> Result<()>;
    /// Ends an active association at `now`; NotActive when it is not active.
    async fn end_association(&self, id: &str, now: DateTime<Utc>) -> Result<Association>;

    // --- the change feed: every write above records the entities it touched, in its own
    // transaction, under the next sequence ---
    /// The newest committed sequence (0 before any change); every change up to it is visible.
    async fn latest_change(&self) -> Result<i64>;
    /// The changes after `seq`, at most `limit` sequences of them, or [`ChangesSince::Pruned`].
    async fn changes_since(&self, seq: i64, limit: usize) -> Result<ChangesSince>;
    /// Drops all but the newest `keep` sequences; returns how many sequences are now pruned.
    async fn prune_changes(&self, keep: u64) -> Result<i64>;

    // --- the audit trail (append-only; a write's own event is recorded by its commit, see
    // `crate::audit`) ---
    /// Appends events in one transaction.
    async fn append_audit_events(&self, events: &[AuditEvent]) -> Result<()>;
    /// Replaces the detail (`AuditEvent::detail`) of an event already appended (a write's
    /// event, completed with its response once that is known), found by its key (event time,
    /// event id).
    async fn complete_audit_event(
        &self,
        event_time: DateTime<Utc>,
        event_id: &str,
        detail: &str,
    ) -> Result<()>;
    /// Newest first, up to `query.limit + 1`.
    async fn lookup_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>>;
    /// Oldest first after a position, up to `tail.limit`.
    async fn tail_audit_events(&self, tail: &AuditTail) -> Result<Vec<AuditEvent>>;
    /// Deletes up to `batch` events older than `before`; returns how many.
    async fn prune_audit_events(&self, before: DateTime<Utc>, batch: usize) -> Result<u64>;
}

/// What kind of entity a [`Change`] touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// An instance (its state, metadata, or its association: keyed by instance id).
    Instance,
    /// An IAM instance profile association (keyed by association id; the instance is recorded
    /// too).
    Association,
    /// An instance profile or its role link, keyed by the profile's ARN (what associations name).
    InstanceProfile,
    /// A role itself (trust policy, tags, ...), keyed by role id.
    Role,
    /// A role's inline or attached policies, keyed by role id.
    RolePolicy,
    /// A customer managed policy or its versions, keyed by policy id.
    Policy,
    /// A user, keyed by user id (incl. group membership and its policies).
    User,
    /// A group, keyed by group id (incl. membership and its policies).
    Group,
    /// An access key, keyed by access key id.
    AccessKey,
}

impl EntityKind {
    pub const ALL: [EntityKind; 9] = [
        EntityKind::Instance,
        EntityKind::Association,
        EntityKind::InstanceProfile,
        EntityKind::Role,
        EntityKind::RolePolicy,
        EntityKind::Policy,
        EntityKind::User,
        EntityKind::Group,
        EntityKind::AccessKey,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Instance => "instance",
            EntityKind::Association => "association",
            EntityKind::InstanceProfile => "instance_profile",
            EntityKind::Role => "role",
            EntityKind::RolePolicy => "role_policy",
            EntityKind::Policy => "policy",
            EntityKind::User => "user",
            EntityKind::Group => "group",
            EntityKind::AccessKey => "access_key",
        }
    }

    pub fn parse(s: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// An instance's stored document and its active association's (empty if none), as
/// [`Store::query_instance_docs`] returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDoc {
    pub id: String,
    /// The instance's JSON document.
    pub instance: String,
    /// The active association's JSON document, or empty.
    pub association: String,
}

/// One entity a committed write touched. Every entity of one transaction shares its `seq`;
/// sequences are gap-free and become visible in order (see the store's change feed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    pub seq: i64,
    pub kind: EntityKind,
    pub id: String,
}

/// An answer of [`Store::changes_since`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesSince {
    /// Every change after the sequence asked for, up to `latest` (inclusive, ascending). A
    /// consumer that applied them is at `latest`; more may follow past it.
    Changes { changes: Vec<Change>, latest: i64 },
    /// Changes after the sequence asked for were pruned: the consumer must reload fully (reading
    /// [`Store::latest_change`] before it reads the state).
    Pruned { latest: i64 },
}

/// Told after every successful change to IAM or EC2 state, before the change's response is sent,
/// so in-memory views (the IMDS directory) are current on the very next request.
#[async_trait]
pub trait ChangeListener: Send + Sync + 'static {
    async fn changed(&self);
}
