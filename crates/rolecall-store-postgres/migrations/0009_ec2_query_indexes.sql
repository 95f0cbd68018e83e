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
-- Tag filters use migration 6's ec2_tags (and instances_state is migration 6's too).
