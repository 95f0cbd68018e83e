-- 12 (portable tail): migration 10's lookup rows become their segment's key rows.
INSERT INTO audit_segment_key (attr, value, seg_time, seg_id)
  SELECT attr, value, event_time, event_id FROM audit_lookup;
DROP TABLE audit_lookup;
DROP TABLE audit_log;
