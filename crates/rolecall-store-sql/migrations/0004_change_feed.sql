-- 4: the change feed. Every write transaction that changes state takes the next sequence from
-- the one `change_feed` row (an UPDATE, the transaction's last statement before it commits) and
-- records the entities it touched under it in `changes`. The row lock on `change_feed` is held
-- until commit, so sequences are gap-free and commit in order: once a reader sees `last_seq`,
-- every change up to it is visible. `pruned_through`: changes up to it were deleted.
CREATE TABLE change_feed (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq BIGINT NOT NULL,
  pruned_through BIGINT NOT NULL
);
INSERT INTO change_feed (id, last_seq, pruned_through) VALUES (1, 0, 0);

CREATE TABLE changes (
  seq BIGINT NOT NULL,
  n BIGINT NOT NULL,
  kind TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  PRIMARY KEY (seq, n)
);
