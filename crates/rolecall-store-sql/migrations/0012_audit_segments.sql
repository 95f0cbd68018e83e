-- 12 (portable head; each dialect then creates `audit_segment_key` and converts the events, and
-- 0012_audit_segments_tail.sql moves the lookup rows and drops migration 10's tables): the audit
-- trail in segments. One row per event and per lookup attribute made recording cost more than a
-- read itself; now a segment holds a batch's events (up to a few hundred, oldest first, as one
-- JSON array: t, id, n(ame), s(ource), u(sername), k(ey), ro, res(ources), r(ecord)), keyed by its
-- newest event (seg_time, seg_id), with its oldest event's time; `audit_segment_key (attr, value,
-- seg_time, seg_id)` has one row per distinct lookup attribute of a segment (codes as 10's).
-- Existing events become segments of one, keeping their lookup rows.
CREATE TABLE audit_segment (
  seg_time BIGINT NOT NULL,
  seg_id TEXT NOT NULL,
  first_time BIGINT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (seg_time, seg_id)
);
CREATE INDEX audit_segment_first ON audit_segment (first_time, seg_time, seg_id);
