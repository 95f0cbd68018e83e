-- 13: when an instance last changed state (unix milliseconds; NULL: running since launch), so
-- revocation verifiers reload the instances stopped or started within one credential lifetime
-- through an index instead of reading the fleet. Backfilled conservatively: a running instance
-- from its launch time (a start sets it anew); one not running changed at the latest now.
ALTER TABLE instances ADD COLUMN state_changed_at BIGINT;
UPDATE instances
   SET state_changed_at = CASE state
     WHEN 'running' THEN CAST(ROUND((julianday(json_extract(data, '$.launch_time')) - 2440587.5) * 86400000) AS INTEGER)
     ELSE CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)
   END
 WHERE state <> 'terminated';
CREATE INDEX instances_state_changed_at ON instances(state_changed_at)
  WHERE state_changed_at IS NOT NULL;
