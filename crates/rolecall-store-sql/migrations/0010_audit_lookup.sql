-- 10: the audit trail's lookup table (see 0010_audit_log.sql). The braced markers are the
-- dialect's (rolecall-store-sql's `MIGRATION_MARKERS`): SQLite's table is WITHOUT ROWID (the key is the only
-- b-tree, one insert per attribute).
CREATE TABLE audit_lookup (
  attr SMALLINT NOT NULL,
  value TEXT NOT NULL,
  event_time BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  PRIMARY KEY (attr, value, event_time, event_id)
){table_options};
