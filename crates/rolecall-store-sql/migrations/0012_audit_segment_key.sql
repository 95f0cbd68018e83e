-- 12: the segments' key table, and migration 10's events as segments of one (see
-- 0012_audit_segments.sql). The braced markers are the dialect's (rolecall-store-sql's `MIGRATION_MARKERS`):
-- SQLite's table is WITHOUT ROWID (the key is the only b-tree); the JSON functions differ.
CREATE TABLE audit_segment_key (
  attr SMALLINT NOT NULL,
  value TEXT NOT NULL,
  seg_time BIGINT NOT NULL,
  seg_id TEXT NOT NULL,
  PRIMARY KEY (attr, value, seg_time, seg_id)
){table_options};
INSERT INTO audit_segment (seg_time, seg_id, first_time, body)
  SELECT event_time, event_id, event_time,
         {json_array}({json_object}('t', event_time, 'id', event_id, 'n', event_name,
           's', event_source, 'u', NULLIF(username, ''), 'k', NULLIF(access_key_id, ''),
           'ro', {read_only_json}, 'res', {resources_json}, 'r', record)){json_as_text}
  FROM audit_log;
