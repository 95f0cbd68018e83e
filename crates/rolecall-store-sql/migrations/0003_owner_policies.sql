-- Portable SQL, applied by both dialects as their migration 3.
-- One owner-keyed model for the policies of roles, users and groups: roles' inline and attached
-- policies move into principal_policies / principal_attached_policies (owner_kind 'role'). Their
-- writers check the owner in the writing transaction (under a KEY SHARE lock on the owner's row
-- in PostgreSQL, under the writer lock in SQLite), and the owner's delete checks them under its
-- own lock, as for users and groups.

INSERT INTO principal_policies (owner_kind, owner_id, name, document)
  SELECT 'role', role_id, name, document FROM role_policies;
DROP TABLE role_policies;

INSERT INTO principal_attached_policies (owner_kind, owner_id, policy_id)
  SELECT 'role', role_id, policy_id FROM role_attached_policies;
DROP TABLE role_attached_policies;
