-- ndx PostgreSQL store, schema version 4: the catalogue. Never edit once released.
--
-- Members, systems, API keys, data elements, code lists and schemas leave their tables of
-- their own for three generic ones that every kind of governed object shares (see
-- src/catalog/mod.rs): the current revision of each object, every revision, and the indexed
-- attributes; each body carries the version of its shape (`format`, 1 for every kind so far).
-- Times are microseconds since the epoch (bigint, decoded as on SQLite). Existing
-- objects become revision 1.
CREATE TABLE catalog (
  kind       text COLLATE "C" NOT NULL,
  id         text COLLATE "C" NOT NULL,
  revision   bigint NOT NULL CHECK (revision > 0),
  body       text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  -- The version of the body's shape (catalog::Kind::FORMAT).
  format     bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (kind, id)
);
-- body IS NULL records a deletion.
CREATE TABLE catalog_history (
  kind     text COLLATE "C" NOT NULL,
  id       text COLLATE "C" NOT NULL,
  revision bigint NOT NULL CHECK (revision > 0),
  body     text,
  at       bigint NOT NULL,
  format   bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (kind, id, revision)
);
-- target names the kind whose object `value` refers to (NULL: not a reference).
CREATE TABLE catalog_attrs (
  kind   text COLLATE "C" NOT NULL,
  name   text COLLATE "C" NOT NULL,
  value  text COLLATE "C" NOT NULL,
  id     text COLLATE "C" NOT NULL,
  uniq   bigint NOT NULL,
  target text COLLATE "C",
  PRIMARY KEY (kind, name, value, id)
);
CREATE UNIQUE INDEX catalog_attrs_unique ON catalog_attrs(kind, name, value) WHERE uniq = 1;
CREATE INDEX catalog_attrs_of ON catalog_attrs(kind, id, name);
CREATE INDEX catalog_attrs_target ON catalog_attrs(target, value) WHERE target IS NOT NULL;

INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'member', code, 1, body, t, t FROM (
    SELECT code, body,
           round(extract(epoch FROM (body::jsonb ->> 'created_at')::timestamptz) * 1000000)::bigint AS t
    FROM members) m;
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'system', code, 1, body, t, t FROM (
    SELECT code, body,
           round(extract(epoch FROM (body::jsonb ->> 'created_at')::timestamptz) * 1000000)::bigint AS t
    FROM systems) s;
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'api-key', id, 1, (body::jsonb || jsonb_build_object('key_hash', key_hash))::text, t, t
  FROM (
    SELECT id, body, key_hash,
           round(extract(epoch FROM (body::jsonb ->> 'created_at')::timestamptz) * 1000000)::bigint AS t
    FROM api_keys) k;
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'data-element', id, 1, body, t, t FROM (
    SELECT id, body, round(extract(epoch FROM created_at) * 1000000)::bigint AS t FROM elements) e;
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'code-list', id || '@' || lpad(version::text, 10, '0'), 1, body, t, t FROM (
    SELECT id, version, body, round(extract(epoch FROM created_at) * 1000000)::bigint AS t
    FROM code_lists) l;
INSERT INTO catalog(kind, id, revision, body, created_at, updated_at)
  SELECT 'schema', dataset || '@' || lpad(major::text, 10, '0') || '.' || lpad(minor::text, 10, '0'),
         1, body, t, t FROM (
    SELECT dataset, major, minor, body, round(extract(epoch FROM created_at) * 1000000)::bigint AS t
    FROM schemas) s;
INSERT INTO catalog_history(kind, id, revision, body, at)
  SELECT kind, id, revision, body, created_at FROM catalog;

INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'system', 'member', member, code, 0, 'member' FROM systems;
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'api-key', 'system', system, id, 0, 'system' FROM api_keys;
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'api-key', 'key-hash', key_hash, id, 1, NULL FROM api_keys;
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT DISTINCT 'api-key', 'role', r.role, k.id, 0, NULL::text
  FROM api_keys k, jsonb_array_elements_text(k.body::jsonb -> 'roles') AS r(role);
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'code-list', 'list', id, id || '@' || lpad(version::text, 10, '0'), 0, NULL
  FROM code_lists;
INSERT INTO catalog_attrs(kind, name, value, id, uniq, target)
  SELECT 'schema', 'dataset', dataset,
         dataset || '@' || lpad(major::text, 10, '0') || '.' || lpad(minor::text, 10, '0'), 0, NULL
  FROM schemas;

DROP TABLE api_keys;
DROP TABLE systems;
DROP TABLE members;
DROP TABLE elements;
DROP TABLE code_lists;
DROP TABLE schemas;
