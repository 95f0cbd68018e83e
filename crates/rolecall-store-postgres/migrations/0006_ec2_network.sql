-- 6: the EC2 network (VPCs, subnets, security groups as documents; `default_key` makes each
-- default exist once), EC2 tags as rows (DescribeTags filters them in the database; an
-- instance's tags are also in its document), the zone DescribeInstanceStatus filters on, and
-- RunInstances client tokens.
CREATE TABLE ec2_network (
  id TEXT COLLATE "C" PRIMARY KEY,
  kind TEXT NOT NULL,
  default_key TEXT UNIQUE,
  data TEXT NOT NULL
);
CREATE INDEX ec2_network_kind ON ec2_network(kind, id);

CREATE TABLE ec2_tags (
  resource_id TEXT COLLATE "C" NOT NULL,
  resource_type TEXT NOT NULL,
  tag_key TEXT COLLATE "C" NOT NULL,
  tag_value TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (resource_id, tag_key)
);
CREATE INDEX ec2_tags_key ON ec2_tags(tag_key, resource_id);
CREATE INDEX ec2_tags_type ON ec2_tags(resource_type, resource_id);

ALTER TABLE instances ADD COLUMN availability_zone TEXT NOT NULL DEFAULT '';
UPDATE instances SET availability_zone = (data::jsonb) ->> 'availability_zone';
CREATE INDEX instances_state ON instances(state, id);
INSERT INTO ec2_tags (resource_id, resource_type, tag_key, tag_value)
  SELECT i.id, 'instance', t ->> 'key', t ->> 'value'
  FROM instances i, jsonb_array_elements((i.data::jsonb) -> 'tags') t
  ON CONFLICT DO NOTHING;

CREATE TABLE ec2_client_tokens (
  token TEXT PRIMARY KEY,
  request TEXT NOT NULL,
  instance_ids TEXT NOT NULL
);
