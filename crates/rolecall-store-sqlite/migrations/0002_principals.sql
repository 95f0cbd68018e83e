-- IAM users, groups and long-term access keys; inline and attached policies of users and groups.

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  name_key TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  data TEXT NOT NULL
);

CREATE TABLE groups (
  id TEXT PRIMARY KEY,
  name_key TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  data TEXT NOT NULL
);

CREATE TABLE group_members (
  group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE RESTRICT,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE access_keys (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  data TEXT NOT NULL
);
CREATE INDEX access_keys_user ON access_keys(user_id);
-- IAM's quota: two access keys per user.
CREATE TRIGGER access_keys_limit BEFORE INSERT ON access_keys
WHEN (SELECT COUNT(*) FROM access_keys WHERE user_id = NEW.user_id) >= 2
BEGIN SELECT RAISE(ABORT, 'rolecall: access key limit'); END;

-- owner_kind is 'user' or 'group'; the owner's delete checks these rows in its transaction.
CREATE TABLE principal_policies (
  owner_kind TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  name TEXT NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (owner_kind, owner_id, name)
);

CREATE TABLE principal_attached_policies (
  owner_kind TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE RESTRICT,
  PRIMARY KEY (owner_kind, owner_id, policy_id)
);
CREATE INDEX principal_attached_policies_policy ON principal_attached_policies(policy_id);
