-- 10 (portable part; each dialect first creates `audit_lookup` its own way): the audit trail as
-- an append log. Migration 7's random-text key and six indexes on every event (plus a resources
-- table with four) made recording cost ~40% of a read's throughput; now an event is one row in
-- `audit_log` keyed by (event_time, event_id), which also orders it (newest first, ties by id),
-- plus one row per lookup attribute in `audit_lookup (attr, value, event_time, event_id)`:
--   1 EventName, 2 EventSource, 3 Username, 4 AccessKeyId, 5 ReadOnly ('true'/'false'),
--   6 ResourceType, 7 ResourceName (a resource's name and its ARN), 8 EventId (only for ids
--   that do not carry their own time: events recorded before this migration).
-- Existing events are carried over with their lookup rows.
CREATE TABLE audit_log (
  event_time BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  event_name TEXT NOT NULL,
  event_source TEXT NOT NULL,
  username TEXT NOT NULL,
  access_key_id TEXT NOT NULL,
  read_only BOOLEAN NOT NULL,
  resources TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (event_time, event_id)
);
INSERT INTO audit_log (event_time, event_id, event_name, event_source, username, access_key_id,
                       read_only, resources, record)
  SELECT event_time, event_id, event_name, event_source, username, access_key_id, read_only,
         resources, record
  FROM audit_events;
INSERT INTO audit_lookup (attr, value, event_time, event_id)
  SELECT 1, event_name, event_time, event_id FROM audit_events
  UNION SELECT 2, event_source, event_time, event_id FROM audit_events
  UNION SELECT 3, username, event_time, event_id FROM audit_events WHERE username <> ''
  UNION SELECT 4, access_key_id, event_time, event_id FROM audit_events WHERE access_key_id <> ''
  UNION SELECT 5, CASE WHEN read_only THEN 'true' ELSE 'false' END, event_time, event_id
        FROM audit_events
  UNION SELECT 6, r.resource_type, e.event_time, e.event_id
        FROM audit_event_resources r JOIN audit_events e ON e.event_id = r.event_id
  UNION SELECT 7, r.resource_name, e.event_time, e.event_id
        FROM audit_event_resources r JOIN audit_events e ON e.event_id = r.event_id
  UNION SELECT 7, r.resource_arn, e.event_time, e.event_id
        FROM audit_event_resources r JOIN audit_events e ON e.event_id = r.event_id
  UNION SELECT 8, event_id, event_time, event_id FROM audit_events;
DROP TABLE audit_event_resources;
DROP TABLE audit_events;
