-- rolecall schema v1. Entities are JSON documents; the columns beside them are what the
-- invariants need: case-insensitive unique names, links with RESTRICT foreign keys, one role per
-- instance profile, one active association per instance, at most five policy versions.

CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE roles (
  id TEXT PRIMARY KEY,
  name_key TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  data TEXT NOT NULL
);

CREATE TABLE role_policies (
  role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE RESTRICT,
  name TEXT NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (role_id, name)
);

CREATE TABLE policies (
  id TEXT PRIMARY KEY,
  arn TEXT NOT NULL UNIQUE,
  name_key TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  next_version INTEGER NOT NULL DEFAULT 2,
  data TEXT NOT NULL
);

CREATE TABLE policy_versions (
  policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
  version_id TEXT NOT NULL,
  document TEXT NOT NULL,
  is_default INTEGER NOT NULL,
  create_date TEXT NOT NULL,
  PRIMARY KEY (policy_id, version_id)
);
CREATE UNIQUE INDEX policy_versions_one_default ON policy_versions(policy_id) WHERE is_default = 1;
CREATE TRIGGER policy_versions_limit BEFORE INSERT ON policy_versions
WHEN (SELECT COUNT(*) FROM policy_versions WHERE policy_id = NEW.policy_id) >= 5
BEGIN SELECT RAISE(ABORT, 'rolecall: policy version limit'); END;

CREATE TABLE role_attached_policies (
  role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE RESTRICT,
  policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE RESTRICT,
  PRIMARY KEY (role_id, policy_id)
);
CREATE INDEX role_attached_policies_policy ON role_attached_policies(policy_id);

CREATE TABLE instance_profiles (
  id TEXT PRIMARY KEY,
  name_key TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  data TEXT NOT NULL
);

-- The primary key on profile_id is the "one role per instance profile" rule.
CREATE TABLE instance_profile_roles (
  profile_id TEXT PRIMARY KEY REFERENCES instance_profiles(id) ON DELETE RESTRICT,
  role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE RESTRICT
);
CREATE INDEX instance_profile_roles_role ON instance_profile_roles(role_id);

CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  private_ip TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE UNIQUE INDEX instances_live_private_ip ON instances(private_ip) WHERE state <> 'terminated';

CREATE TABLE associations (
  id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL REFERENCES instances(id),
  state TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE UNIQUE INDEX associations_one_active ON associations(instance_id) WHERE state IN ('associating', 'associated');
