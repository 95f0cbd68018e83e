-- 13: when an instance last changed state (unix milliseconds; NULL: running since launch), so
-- revocation verifiers reload the instances stopped or started within one credential lifetime
-- through an index instead of reading the fleet. Backfilled conservatively: a running instance
-- from its launch time (a start sets it anew); one not running changed at the latest now.
ALTER TABLE instances ADD COLUMN state_changed_at BIGINT;
UPDATE instances
   SET state_changed_at = CASE state
     WHEN 'running' THEN ROUND(EXTRACT(EPOCH FROM (data::jsonb ->> 'launch_time')::timestamptz) * 1000)::bigint
     ELSE ROUND(EXTRACT(EPOCH FROM now()) * 1000)::bigint
   END
 WHERE state <> 'terminated';
CREATE INDEX instances_state_changed_at ON instances(state_changed_at)
  WHERE state_changed_at IS NOT NULL;
