-- 9: DescribeInstances and DescribeIamInstanceProfileAssociations filter and page in the
-- database (crates/rolecall-store-sql/src/ec2_query.rs), through these indexes; the agent's
-- and IMDS's "instances of this profile" is an index lookup.
ALTER TABLE associations ADD COLUMN profile_arn TEXT COLLATE "C";
ALTER TABLE associations ADD COLUMN profile_id TEXT COLLATE "C";
UPDATE associations SET profile_arn = data::jsonb ->> 'profile_arn',
                        profile_id = data::jsonb ->> 'profile_id';
CREATE INDEX associations_instance ON associations(instance_id);
CREATE INDEX associations_active_profile_arn ON associations(profile_arn)
  WHERE state IN ('associating', 'associated');
CREATE INDEX associations_active_profile_id ON associations(profile_id)
  WHERE state IN ('associating', 'associated');
CREATE INDEX instances_state ON instances(state, id);

-- Instance tags, one row each, written with the instance's document.
CREATE TABLE instance_tags (
  instance_id TEXT COLLATE "C" NOT NULL REFERENCES instances(id),
  key TEXT COLLATE "C" NOT NULL,
  value TEXT COLLATE "C" NOT NULL
);
CREATE INDEX instance_tags_instance ON instance_tags(instance_id);
CREATE INDEX instance_tags_key_value ON instance_tags(key, value);
INSERT INTO instance_tags (instance_id, key, value)
  SELECT i.id, t ->> 'key', t ->> 'value'
  FROM instances i CROSS JOIN LATERAL jsonb_array_elements(i.data::jsonb -> 'tags') t;
