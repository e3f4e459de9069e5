-- ndx embedded store, schema version 3: the catalogue. Never edit once released.
--
-- Members, systems, API keys, data elements, code lists and schemas leave their tables of
-- their own for three generic ones that every kind of governed object shares (see
-- src/catalog/mod.rs): the current revision of each object, every revision, and the indexed
-- attributes; each body carries the version of its shape (`format`, 1 for every kind so far).
-- Times are microseconds since the epoch (from the RFC 3339 `created_at` of the
-- registry's bodies, which chrono writes in UTC with a `Z`: whole seconds from unixepoch, the
-- fraction read digit for digit). Existing objects become revision 1.
CREATE TABLE catalog (
  kind       TEXT NOT NULL,
  id         TEXT NOT NULL,
  revision   INTEGER NOT NULL CHECK (revision > 0),
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  -- The version of the body's shape (catalog::Kind::FORMAT).
  format     INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (kind, id)
);
-- body IS NULL records a deletion.
CREATE TABLE catalog_history (
  kind     TEXT NOT NULL,
  id       TEXT NOT NULL,
  revision INTEGER NOT NULL CHECK (revision > 0),
  body     TEXT,
  at       INTEGER NOT NULL,
  format   INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (kind, id, revision)
);
-- target names the kind whose object `value` refers to (NULL: not a reference).
CREATE TABLE catalog_attrs (
  kind   TEXT NOT NULL,
  name   TEXT NOT NULL,
  value  TEXT NOT NULL,
  id     TEXT NOT NULL,
  uniq   INTEGER NOT NULL,
  target TEXT,
  PRIMARY KEY (kind, name, value, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX catalog_attrs_unique ON catalog_attrs(kind, name, value) WHERE uniq = 1;
CREATE INDEX catalog_attrs_of ON catalog_attrs(kind, id, name);
CREATE INDEX catalog_attrs_target ON catalog_attrs(target, value) WHERE target IS NOT NULL;

INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'member', code, 1, body, t, t FROM (
    SELECT code, body, unixepoch(x) * 1000000
             + CASE WHEN instr(x, '.') > 0
                    THEN CAST(substr(replace(substr(x, instr(x, '.') + 1), 'Z', '') || '000000', 1, 6)
                              AS INTEGER)
                    ELSE 0 END AS t FROM (
      SELECT code, body, json_extract(body, '$.created_at') AS x FROM members));
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'system', code, 1, body, t, t FROM (
    SELECT code, body, unixepoch(x) * 1000000
             + CASE WHEN instr(x, '.') > 0
                    THEN CAST(substr(replace(substr(x, instr(x, '.') + 1), 'Z', '') || '000000', 1, 6)
                              AS INTEGER)
                    ELSE 0 END AS t FROM (
      SELECT code, body, json_extract(body, '$.created_at') AS x FROM systems));
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'api-key', id, 1, json_set(body, '$.key_hash', key_hash), t, t FROM (
    SELECT id, body, key_hash, unixepoch(x) * 1000000
             + CASE WHEN instr(x, '.') > 0
                    THEN CAST(substr(replace(substr(x, instr(x, '.') + 1), 'Z', '') || '000000', 1, 6)
                              AS INTEGER)
                    ELSE 0 END AS t FROM (
      SELECT id, body, key_hash, json_extract(body, '$.created_at') AS x FROM api_keys));
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'data-element', id, 1, body, created_at, created_at FROM elements;
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'code-list', id || '@' || printf('%010d', version), 1, body, created_at, created_at
  FROM code_lists;
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'schema', dataset || '@' || printf('%010d.%010d', major, minor), 1, body, created_at,
         created_at
  FROM schemas;
INSERT INTO catalog_history(kind, id, revision, body, at)
  SELECT kind, id, revision, body, created_at FROM catalog;

INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'system', 'member', member, code, 0, 'member' FROM systems;
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'api-key', 'system', system, id, 0, 'system' FROM api_keys;
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'api-key', 'key-hash', key_hash, id, 1, NULL FROM api_keys;
INSERT OR IGNORE INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'api-key', 'role', r.value, k.id, 0, NULL
  FROM api_keys k, json_each(k.body, '$.roles') r;
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'code-list', 'list', id, id || '@' || printf('%010d', version), 0, NULL FROM code_lists;
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'schema', 'dataset', dataset, dataset || '@' || printf('%010d.%010d', major, minor), 0,
         NULL
  FROM schemas;

DROP TABLE api_keys;
DROP TABLE systems;
DROP TABLE members;
DROP TABLE elements;
DROP TABLE code_lists;
DROP TABLE schemas;
