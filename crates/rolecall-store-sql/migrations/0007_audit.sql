-- 7: the audit trail (CloudTrail records). Append-only: rows are inserted (a write's event in the
-- write's own transaction, reads and refusals in batches), completed once with their response,
-- and deleted only by retention. The lookup attributes are columns; `record` is the CloudTrail
-- record (JSON), `resources` its resources (JSON) as LookupEvents returns them.
-- `event_time` is milliseconds since the epoch: newest first is (event_time, event_id) descending.
CREATE TABLE audit_events (
  event_id TEXT PRIMARY KEY,
  event_time BIGINT NOT NULL,
  event_name TEXT NOT NULL,
  event_source TEXT NOT NULL,
  username TEXT NOT NULL,
  access_key_id TEXT NOT NULL,
  read_only BOOLEAN NOT NULL,
  resources TEXT NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time, event_id);
CREATE INDEX audit_events_name ON audit_events (event_name, event_time);
CREATE INDEX audit_events_source ON audit_events (event_source, event_time);
CREATE INDEX audit_events_username ON audit_events (username, event_time);
CREATE INDEX audit_events_access_key ON audit_events (access_key_id, event_time);
CREATE INDEX audit_events_read_only ON audit_events (read_only, event_time);

-- The resources each event names, for lookups by ResourceName (name or ARN) and ResourceType.
CREATE TABLE audit_event_resources (
  event_id TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_name TEXT NOT NULL,
  resource_arn TEXT NOT NULL
);
CREATE INDEX audit_event_resources_event ON audit_event_resources (event_id);
CREATE INDEX audit_event_resources_name ON audit_event_resources (resource_name);
CREATE INDEX audit_event_resources_arn ON audit_event_resources (resource_arn);
CREATE INDEX audit_event_resources_type ON audit_event_resources (resource_type);
