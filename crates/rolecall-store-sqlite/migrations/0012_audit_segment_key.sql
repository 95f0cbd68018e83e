-- 12: the segments' key table (WITHOUT ROWID: the key is the only b-tree), and migration 10's
-- events as segments of one (see rolecall-store-sql's 0012_audit_segments.sql).
CREATE TABLE audit_segment_key (
  attr SMALLINT NOT NULL,
  value TEXT NOT NULL,
  seg_time BIGINT NOT NULL,
  seg_id TEXT NOT NULL,
  PRIMARY KEY (attr, value, seg_time, seg_id)
) WITHOUT ROWID;
INSERT INTO audit_segment (seg_time, seg_id, first_time, body)
  SELECT event_time, event_id, event_time,
         json_array(json_object('t', event_time, 'id', event_id, 'n', event_name,
           's', event_source, 'u', NULLIF(username, ''), 'k', NULLIF(access_key_id, ''),
           'ro', CASE WHEN read_only THEN json('true') ELSE json('false') END,
           'res', json(resources), 'r', record))
  FROM audit_log;
