-- 10: the audit trail's lookup table (see rolecall-store-sql's 0010_audit_log.sql). WITHOUT
-- ROWID: the key is the only b-tree, one insert per attribute.
CREATE TABLE audit_lookup (
  attr SMALLINT NOT NULL,
  value TEXT NOT NULL,
  event_time BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  PRIMARY KEY (attr, value, event_time, event_id)
) WITHOUT ROWID;
