//! Entities as stored and served.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// What every IAM entity (role, user, group, instance profile, managed policy) has, as IAM's
/// answers show it; each entity reads these fields as its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamEntity {
    pub id: String,
    pub name: String,
    pub path: String,
    pub arn: String,
    pub create_date: DateTime<Utc>,
}

/// Declares an IAM entity: its [`IamEntity`] fields, stored flattened beside its own, read as
/// its own (`role.name`).
macro_rules! iam_entity {
    ($(#[$meta:meta])* pub struct $entity:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $entity {
            #[serde(flatten)]
            pub entity: IamEntity,
            $($fields)*
        }

        impl std::ops::Deref for $entity {
            type Target = IamEntity;
            fn deref(&self) -> &IamEntity {
                &self.entity
            }
        }

        impl std::ops::DerefMut for $entity {
            fn deref_mut(&mut self) -> &mut IamEntity {
                &mut self.entity
            }
        }
    };
}

iam_entity! {
    pub struct Role {
        /// The trust policy exactly as the client sent it.
        pub assume_role_policy_document: String,
        pub description: Option<String>,
        pub max_session_duration: u32,
        pub tags: Vec<Tag>,
        /// ARN of the managed policy used as permissions boundary.
        #[serde(default)]
        pub permissions_boundary: Option<String>,
    }
}

iam_entity! {
    pub struct User {
        pub tags: Vec<Tag>,
        #[serde(default)]
        pub permissions_boundary: Option<String>,
    }
}

iam_entity! {
    pub struct Group {}
}

/// A long-term access key. The secret is stored sealed and is only in clear right after
/// creation (CreateAccessKey's answer) and in the authenticator's memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub user_name: String,
    /// "Active" or "Inactive".
    pub status: String,
    pub create_date: DateTime<Utc>,
    /// The secret sealed under the deployment key (base64).
    pub secret_sealed: String,
    #[serde(default)]
    pub last_used: Option<AccessKeyLastUsed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyLastUsed {
    pub date: DateTime<Utc>,
    pub service: String,
    pub region: String,
}

iam_entity! {
    pub struct ManagedPolicy {
        pub default_version_id: String,
        pub attachment_count: u32,
        pub description: Option<String>,
        pub update_date: DateTime<Utc>,
        pub tags: Vec<Tag>,
    }
}

/// An entity IAM lists by name.
pub trait Named {
    fn name(&self) -> &str;
}

impl<T: std::ops::Deref<Target = IamEntity>> Named for T {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for AttachedPolicy {
    fn name(&self) -> &str {
        &self.name
    }
}

/// A role, user or group a managed policy is attached to (ListEntitiesForPolicy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntity {
    pub kind: crate::store_error::OwnerKind,
    pub name: String,
    pub id: String,
}

impl PolicyEntity {
    /// The listing's order: by kind, then by name (case-insensitively).
    pub fn sort_key(&self) -> String {
        format!("{}/{}", self.kind.name(), self.name.to_ascii_lowercase())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub version_id: String,
    pub document: String,
    pub is_default: bool,
    pub create_date: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

iam_entity! {
    pub struct InstanceProfile {
        pub tags: Vec<Tag>,
        /// Filled in on read from the role link; not part of the stored document.
        #[serde(skip)]
        pub roles: Vec<Role>,
    }
}

/// EC2 instance states with AWS's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopping,
    Stopped,
}

impl InstanceState {
    /// Every state, in the order of their codes.
    pub const ALL: [InstanceState; 6] = [
        InstanceState::Pending,
        InstanceState::Running,
        InstanceState::ShuttingDown,
        InstanceState::Terminated,
        InstanceState::Stopping,
        InstanceState::Stopped,
    ];

    /// Whether an instance in this state may have an active association: a terminated one does
    /// not (terminating ends the association, and nothing associates with it afterwards).
    pub fn holds_association(self) -> bool {
        self != InstanceState::Terminated
    }

    pub fn code(self) -> u8 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
        }
    }

    pub fn parse(name: &str) -> Option<InstanceState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataOptions {
    /// "optional" or "required".
    pub http_tokens: String,
    pub http_put_response_hop_limit: u32,
    /// "enabled" or "disabled".
    pub http_endpoint: String,
    /// "enabled" or "disabled".
    pub instance_metadata_tags: String,
    pub http_protocol_ipv6: String,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            http_tokens: "optional".into(),
            http_put_response_hop_limit: 1,
            http_endpoint: "enabled".into(),
            instance_metadata_tags: "disabled".into(),
            http_protocol_ipv6: "disabled".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupIdentifier {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub reservation_id: String,
    pub image_id: String,
    pub instance_type: String,
    pub key_name: Option<String>,
    pub state: InstanceState,
    /// Why the state last changed, as EC2's `stateTransitionReason`.
    pub state_reason: String,
    pub private_ip: String,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: String,
    pub security_groups: Vec<GroupIdentifier>,
    pub user_data: Option<String>,
    pub tags: Vec<Tag>,
    pub metadata_options: MetadataOptions,
    pub launch_time: DateTime<Utc>,
    pub ami_launch_index: u32,
    pub client_token: Option<String>,
    /// TerminateInstances refuses the instance while set (`disableApiTermination`).
    #[serde(default)]
    pub disable_api_termination: bool,
    /// StopInstances refuses the instance while set (`disableApiStop`).
    #[serde(default)]
    pub disable_api_stop: bool,
    /// `instanceInitiatedShutdownBehavior`: "stop" or "terminate".
    #[serde(default = "default_shutdown_behavior")]
    pub shutdown_behavior: String,
}

fn default_shutdown_behavior() -> String {
    "stop".into()
}

impl Instance {
    /// Instance `n` of a synthetic fleet (`i-` and `r-` then `n` in 17 hex digits), running with
    /// only its address and tags set: what `rolecall bench-seed` bulk-inserts and IMDS's memory
    /// test measures, so that both describe the same instances.
    pub fn fleet_member(
        n: u64,
        private_ip: String,
        tags: Vec<Tag>,
        launch_time: DateTime<Utc>,
    ) -> Instance {
        Instance {
            id: format!("i-{n:017x}"),
            reservation_id: format!("r-{n:017x}"),
            image_id: "ami-11aa22bb".into(),
            instance_type: "t3.micro".into(),
            key_name: None,
            state: InstanceState::Running,
            state_reason: String::new(),
            private_ip,
            subnet_id: None,
            vpc_id: None,
            availability_zone: "us-east-1a".into(),
            security_groups: vec![],
            user_data: None,
            tags,
            metadata_options: MetadataOptions::default(),
            launch_time,
            ami_launch_index: 0,
            client_token: None,
            disable_api_termination: false,
            disable_api_stop: false,
            shutdown_behavior: default_shutdown_behavior(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssociationState {
    Associating,
    Associated,
    Disassociating,
    Disassociated,
}

impl AssociationState {
    pub fn name(self) -> &'static str {
        match self {
            AssociationState::Associating => "associating",
            AssociationState::Associated => "associated",
            AssociationState::Disassociating => "disassociating",
            AssociationState::Disassociated => "disassociated",
        }
    }

    pub fn parse(name: &str) -> Option<AssociationState> {
        [
            AssociationState::Associating,
            AssociationState::Associated,
            AssociationState::Disassociating,
            AssociationState::Disassociated,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    /// An association in this state holds the instance's one profile slot.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AssociationState::Associating | AssociationState::Associated
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    pub id: String,
    pub instance_id: String,
    pub profile_arn: String,
    pub profile_id: String,
    pub state: AssociationState,
    pub timestamp: DateTime<Utc>,
}

/// A VPC (only the default VPC exists: rolecall has no CreateVpc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: String,
    pub cidr_block: String,
    pub is_default: bool,
    /// Filled from the tag rows when read.
    #[serde(default, skip_serializing)]
    pub tags: Vec<Tag>,
}

/// A subnet of a VPC, in one availability zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr_block: String,
    pub availability_zone: String,
    pub default_for_az: bool,
    pub map_public_ip_on_launch: bool,
    #[serde(default, skip_serializing)]
    pub tags: Vec<Tag>,
}

/// A VPC security group (rules are not modelled: rolecall moves no packets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub vpc_id: String,
    pub group_name: String,
    pub description: String,
    #[serde(default, skip_serializing)]
    pub tags: Vec<Tag>,
}

/// A machine image (AMI) registered in the account; the built-in public ones are not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub architecture: String,
    pub owner_id: String,
    /// `amazon` for the built-in images; none for the account's own.
    pub owner_alias: Option<String>,
    pub public: bool,
    pub creation_date: String,
    pub root_device_name: String,
    pub virtualization_type: String,
    pub ena_support: bool,
    #[serde(default, skip_serializing)]
    pub tags: Vec<Tag>,
}

/// One row of the EC2 network table (also home to the account's images).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NetworkResource {
    Vpc(Vpc),
    Subnet(Subnet),
    SecurityGroup(SecurityGroup),
    Image(Image),
}

/// One kind of [`NetworkResource`]: the type its variant holds.
pub trait NetworkItem: Sized {
    const KIND: NetworkKind;
    /// The item, when `r` is of this kind.
    fn from_resource(r: NetworkResource) -> Option<Self>;
    fn id(&self) -> &str;
    fn tags(&self) -> &[Tag];
}

/// Each variant of [`NetworkResource`] and [`NetworkKind`] is named after the type it holds.
macro_rules! network_items {
    ($($item:ident),*) => {$(
        impl NetworkItem for $item {
            const KIND: NetworkKind = NetworkKind::$item;
            fn from_resource(r: NetworkResource) -> Option<$item> {
                match r {
                    NetworkResource::$item(x) => Some(x),
                    _ => None,
                }
            }
            fn id(&self) -> &str {
                &self.id
            }
            fn tags(&self) -> &[Tag] {
                &self.tags
            }
        }
    )*};
}

network_items!(Vpc, Subnet, SecurityGroup, Image);

/// The kinds of [`NetworkResource`], named as EC2's `resource-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    Vpc,
    Subnet,
    SecurityGroup,
    Image,
}

impl NetworkKind {
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Vpc => "vpc",
            NetworkKind::Subnet => "subnet",
            NetworkKind::SecurityGroup => "security-group",
            NetworkKind::Image => "image",
        }
    }
}

impl NetworkResource {
    pub fn id(&self) -> &str {
        match self {
            NetworkResource::Vpc(v) => &v.id,
            NetworkResource::Subnet(s) => &s.id,
            NetworkResource::SecurityGroup(g) => &g.id,
            NetworkResource::Image(i) => &i.id,
        }
    }

    pub fn kind(&self) -> NetworkKind {
        match self {
            NetworkResource::Vpc(_) => NetworkKind::Vpc,
            NetworkResource::Subnet(_) => NetworkKind::Subnet,
            NetworkResource::SecurityGroup(_) => NetworkKind::SecurityGroup,
            NetworkResource::Image(_) => NetworkKind::Image,
        }
    }

    /// Unique among the defaults (one default VPC, one default subnet per zone, one `default`
    /// group per VPC), so concurrent first uses on several nodes create them once.
    pub fn default_key(&self) -> Option<String> {
        match self {
            NetworkResource::Vpc(v) if v.is_default => Some("vpc".into()),
            NetworkResource::Subnet(s) if s.default_for_az => {
                Some(format!("subnet:{}", s.availability_zone))
            }
            NetworkResource::SecurityGroup(g) if g.group_name == "default" => {
                Some(format!("security-group:{}", g.vpc_id))
            }
            // An image's name is unique in its account (InvalidAMIName.Duplicate).
            NetworkResource::Image(i) => Some(format!("image-name:{}", i.name)),
            _ => None,
        }
    }

    pub fn set_tags(&mut self, tags: Vec<Tag>) {
        match self {
            NetworkResource::Vpc(v) => v.tags = tags,
            NetworkResource::Subnet(s) => s.tags = tags,
            NetworkResource::SecurityGroup(g) => g.tags = tags,
            NetworkResource::Image(i) => i.tags = tags,
        }
    }
}

/// A tag as DescribeTags lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTag {
    pub resource_id: String,
    pub resource_type: String,
    pub key: String,
    pub value: String,
}

/// DescribeTags' filters, each a list of alternatives (empty: any); values are exact, or
/// patterns (`*`, `?`) the store matches with LIKE and the caller re-checks exactly.
#[derive(Debug, Clone, Default)]
pub struct TagQuery {
    pub resource_ids: Vec<String>,
    pub resource_types: Vec<String>,
    pub keys: Vec<String>,
    pub values: Vec<String>,
}

/// DescribeInstanceStatus' selection, done in the database: ids (empty: all), states and zones
/// (empty: any).
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    pub ids: Vec<String>,
    pub states: Vec<String>,
    pub availability_zones: Vec<String>,
}

/// DescribeIamInstanceProfileAssociations' selection, done in the database: ids (empty: all),
/// filters (`instance-id`, `state`), and whether ended associations are shown.
#[derive(Debug, Clone, Copy)]
pub struct AssociationQuery<'a> {
    pub ids: &'a [String],
    pub filters: &'a [crate::ec2::Filter],
    pub include_ended: bool,
}

/// A version to add to a managed policy (the store gives it the next id).
#[derive(Debug, Clone, Copy)]
pub struct NewPolicyVersion<'a> {
    pub document: &'a str,
    /// Whether it becomes the policy's default version.
    pub set_default: bool,
    pub create_date: DateTime<Utc>,
}

/// A RunInstances client token: the launch it was first used for (canonical request) and the
/// instances it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientToken {
    pub token: String,
    pub request: String,
    pub instance_ids: Vec<String>,
}
