-- IAM users, groups and long-term access keys; inline and attached policies of users and groups.
-- The two-keys limit is enforced by the store under a row lock on the user; the trigger is only a
-- backstop for writers that bypass the store.

CREATE TABLE users (
  id TEXT COLLATE "C" PRIMARY KEY,
  name_key TEXT COLLATE "C" NOT NULL UNIQUE,
  path TEXT COLLATE "C" NOT NULL,
  data TEXT NOT NULL
);

CREATE TABLE groups (
  id TEXT COLLATE "C" PRIMARY KEY,
  name_key TEXT COLLATE "C" NOT NULL UNIQUE,
  path TEXT COLLATE "C" NOT NULL,
  data TEXT NOT NULL
);

CREATE TABLE group_members (
  group_id TEXT COLLATE "C" NOT NULL REFERENCES groups(id) ON DELETE RESTRICT,
  user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE access_keys (
  id TEXT COLLATE "C" PRIMARY KEY,
  user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  data TEXT NOT NULL
);
CREATE INDEX access_keys_user ON access_keys(user_id);

CREATE FUNCTION rolecall_access_keys_limit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT COUNT(*) FROM access_keys WHERE user_id = NEW.user_id) >= 2 THEN
    RAISE EXCEPTION 'rolecall: access key limit' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER access_keys_limit BEFORE INSERT ON access_keys
FOR EACH ROW EXECUTE FUNCTION rolecall_access_keys_limit();

-- owner_kind is 'user' or 'group' (no foreign key: the store locks the owner's row instead, and
-- the owner's delete checks these rows under its own row lock).
CREATE TABLE principal_policies (
  owner_kind TEXT COLLATE "C" NOT NULL,
  owner_id TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (owner_kind, owner_id, name)
);

CREATE TABLE principal_attached_policies (
  owner_kind TEXT COLLATE "C" NOT NULL,
  owner_id TEXT COLLATE "C" NOT NULL,
  policy_id TEXT COLLATE "C" NOT NULL REFERENCES policies(id) ON DELETE RESTRICT,
  PRIMARY KEY (owner_kind, owner_id, policy_id)
);
CREATE INDEX principal_attached_policies_policy ON principal_attached_policies(policy_id);
