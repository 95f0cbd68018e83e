-- 9: DescribeInstances and DescribeIamInstanceProfileAssociations filter and page in the
-- database (crates/rolecall-store-sql/src/ec2_query.rs), through these indexes; the agent's
-- and IMDS's "instances of this profile" is an index lookup.
ALTER TABLE associations ADD COLUMN profile_arn TEXT;
ALTER TABLE associations ADD COLUMN profile_id TEXT;
UPDATE associations SET profile_arn = json_extract(data, '$.profile_arn'),
                        profile_id = json_extract(data, '$.profile_id');
CREATE INDEX associations_instance ON associations(instance_id);
CREATE INDEX associations_active_profile_arn ON associations(profile_arn)
  WHERE state IN ('associating', 'associated');
CREATE INDEX associations_active_profile_id ON associations(profile_id)
  WHERE state IN ('associating', 'associated');
CREATE INDEX instances_state ON instances(state, id);

-- Instance tags, one row each, written with the instance's document.
CREATE TABLE instance_tags (
  instance_id TEXT NOT NULL REFERENCES instances(id),
  key TEXT NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX instance_tags_instance ON instance_tags(instance_id);
CREATE INDEX instance_tags_key_value ON instance_tags(key, value);
INSERT INTO instance_tags (instance_id, key, value)
  SELECT i.id, json_extract(t.value, '$.key'), json_extract(t.value, '$.value')
  FROM instances i, json_each(i.data, '$.tags') t;
