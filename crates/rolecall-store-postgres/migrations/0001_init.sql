-- rolecall schema v1 (PostgreSQL). Entities are JSON documents (`data`, TEXT as serde wrote it);
-- the columns beside them are what the invariants need: case-insensitive unique names, links with
-- RESTRICT foreign keys, one role per instance profile, one active association per instance.
-- Keys and names use the "C" collation so ordering (and paging) is bytewise, as in SQLite.
-- The five-versions limit is enforced by the store under a row lock on the policy; the trigger is
-- only a backstop for writers that bypass the store.

CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE roles (
  id TEXT COLLATE "C" PRIMARY KEY,
  name_key TEXT COLLATE "C" NOT NULL UNIQUE,
  path TEXT COLLATE "C" NOT NULL,
  data TEXT NOT NULL
);

CREATE TABLE role_policies (
  role_id TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE RESTRICT,
  name TEXT COLLATE "C" NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (role_id, name)
);

CREATE TABLE policies (
  id TEXT COLLATE "C" PRIMARY KEY,
  arn TEXT COLLATE "C" NOT NULL UNIQUE,
  name_key TEXT COLLATE "C" NOT NULL UNIQUE,
  path TEXT COLLATE "C" NOT NULL,
  next_version BIGINT NOT NULL DEFAULT 2,
  data TEXT NOT NULL
);

CREATE TABLE policy_versions (
  policy_id TEXT COLLATE "C" NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
  version_id TEXT COLLATE "C" NOT NULL,
  document TEXT NOT NULL,
  is_default BOOLEAN NOT NULL,
  create_date TEXT NOT NULL,
  PRIMARY KEY (policy_id, version_id)
);
CREATE UNIQUE INDEX policy_versions_one_default ON policy_versions(policy_id) WHERE is_default;

CREATE FUNCTION rolecall_policy_versions_limit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT COUNT(*) FROM policy_versions WHERE policy_id = NEW.policy_id) >= 5 THEN
    RAISE EXCEPTION 'rolecall: policy version limit' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER policy_versions_limit BEFORE INSERT ON policy_versions
FOR EACH ROW EXECUTE FUNCTION rolecall_policy_versions_limit();

CREATE TABLE role_attached_policies (
  role_id TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE RESTRICT,
  policy_id TEXT COLLATE "C" NOT NULL REFERENCES policies(id) ON DELETE RESTRICT,
  PRIMARY KEY (role_id, policy_id)
);
CREATE INDEX role_attached_policies_policy ON role_attached_policies(policy_id);

CREATE TABLE instance_profiles (
  id TEXT COLLATE "C" PRIMARY KEY,
  name_key TEXT COLLATE "C" NOT NULL UNIQUE,
  path TEXT COLLATE "C" NOT NULL,
  data TEXT NOT NULL
);

-- The primary key on profile_id is the "one role per instance profile" rule.
CREATE TABLE instance_profile_roles (
  profile_id TEXT COLLATE "C" PRIMARY KEY REFERENCES instance_profiles(id) ON DELETE RESTRICT,
  role_id TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE RESTRICT
);
CREATE INDEX instance_profile_roles_role ON instance_profile_roles(role_id);

CREATE TABLE instances (
  id TEXT COLLATE "C" PRIMARY KEY,
  state TEXT NOT NULL,
  private_ip TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE UNIQUE INDEX instances_live_private_ip ON instances(private_ip) WHERE state <> 'terminated';

CREATE TABLE associations (
  id TEXT COLLATE "C" PRIMARY KEY,
  instance_id TEXT COLLATE "C" NOT NULL REFERENCES instances(id) ON DELETE RESTRICT,
  state TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE UNIQUE INDEX associations_one_active ON associations(instance_id) WHERE state IN ('associating', 'associated');
