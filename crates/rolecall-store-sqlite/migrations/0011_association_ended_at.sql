-- 11: when an association ended (unix milliseconds; NULL while active), so verifiers reload the
-- associations ended within one credential lifetime through an index instead of reading every
-- association. Backfilled from the document's timestamp (an ended association's end).
ALTER TABLE associations ADD COLUMN ended_at BIGINT;
UPDATE associations
   SET ended_at = CAST(ROUND((julianday(json_extract(data, '$.timestamp')) - 2440587.5) * 86400000) AS INTEGER)
 WHERE state NOT IN ('associating', 'associated');
CREATE INDEX associations_ended_at ON associations(ended_at) WHERE ended_at IS NOT NULL;
