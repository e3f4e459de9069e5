//! The registry and the dictionary on SQLite: one table per kind (members, systems, api_keys,
//! elements, code_lists, schemas), each row a key and the JSON body.

use chrono::{DateTime, Utc};
use ndx_types::dictionary::{CodeList, DataElement, DatasetSchema, SchemaVersion};
use ndx_types::registry::{ApiKey, Member, System};
use rusqlite::{Connection, params};

use super::SqliteBackend;
use super::conn::{conflict_or, micros};
use crate::{CatalogBackend, KEY_HOLDER_SQL, KeyHolder, Result, StoreError};

pub(super) fn json_rows<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::from_str(&row?)?);
    }
    Ok(out)
}

pub(super) fn json_row<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>> {
    Ok(json_rows(conn, sql, params)?.into_iter().next())
}

impl CatalogBackend for SqliteBackend {
    fn insert_member(&self, m: &Member) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO members(code, body) VALUES (?1, ?2)",
                params![m.code, serde_json::to_string(m)?],
            )
            .map_err(|e| conflict_or(e, || format!("member {:?} already exists", m.code)))?;
            Ok(())
        })
    }

    fn member(&self, code: &str) -> Result<Option<Member>> {
        self.read(|c| json_row(c, "SELECT body FROM members WHERE code = ?1", [code]))
    }

    fn members(&self) -> Result<Vec<Member>> {
        self.read(|c| json_rows(c, "SELECT body FROM members ORDER BY code", []))
    }

    fn insert_system(&self, s: &System) -> Result<()> {
        self.write(|c| {
            let exists: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM members WHERE code = ?1)",
                [&s.member],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StoreError::NotFound(format!(
                    "member {:?} does not exist",
                    s.member
                )));
            }
            c.execute(
                "INSERT INTO systems(code, member, body) VALUES (?1, ?2, ?3)",
                params![s.code, s.member, serde_json::to_string(s)?],
            )
            .map_err(|e| conflict_or(e, || format!("system {:?} already exists", s.code)))?;
            Ok(())
        })
    }

    fn system(&self, code: &str) -> Result<Option<System>> {
        self.read(|c| json_row(c, "SELECT body FROM systems WHERE code = ?1", [code]))
    }

    fn systems(&self) -> Result<Vec<System>> {
        self.read(|c| json_rows(c, "SELECT body FROM systems ORDER BY code", []))
    }

    fn insert_api_key(&self, k: &ApiKey, key_hash: &str) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO api_keys(id, system, key_hash, body) VALUES (?1, ?2, ?3, ?4)",
                params![k.id, k.system, key_hash, serde_json::to_string(k)?],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, ref m)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation
                        && m.as_deref().unwrap_or("").contains("FOREIGN") =>
                {
                    StoreError::NotFound(format!("system {:?} does not exist", k.system))
                }
                e => conflict_or(e, || format!("api key {:?} already exists", k.id)),
            })?;
            Ok(())
        })
    }

    fn key_holder(&self, key_hash: &str) -> Result<Option<KeyHolder>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(KEY_HOLDER_SQL)?;
            let mut rows = stmt.query([key_hash])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let body = |i: usize| row.get::<_, String>(i);
            KeyHolder::from_bodies(&body(0)?, &body(1)?, &body(2)?).map(Some)
        })
    }

    fn api_keys(&self, system: &str) -> Result<Vec<ApiKey>> {
        self.read(|c| {
            json_rows(
                c,
                "SELECT body FROM api_keys WHERE system = ?1 ORDER BY id",
                [system],
            )
        })
    }

    fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<Option<ApiKey>> {
        self.write(|c| {
            let Some(mut key): Option<ApiKey> =
                json_row(c, "SELECT body FROM api_keys WHERE id = ?1", [id])?
            else {
                return Ok(None);
            };
            if key.revoked_at.is_none() {
                key.revoked_at = Some(at);
                c.execute(
                    "UPDATE api_keys SET body = ?2 WHERE id = ?1",
                    params![id, serde_json::to_string(&key)?],
                )?;
            }
            Ok(Some(key))
        })
    }

    fn insert_element(&self, e: &DataElement, at: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO elements(id, body, created_at) VALUES (?1, ?2, ?3)",
                params![e.id, serde_json::to_string(e)?, micros(at)],
            )
            .map_err(|err| {
                conflict_or(err, || format!("data element {:?} already exists", e.id))
            })?;
            Ok(())
        })
    }

    fn elements(&self) -> Result<Vec<DataElement>> {
        self.read(|c| json_rows(c, "SELECT body FROM elements ORDER BY id", []))
    }

    fn insert_code_list(&self, l: &CodeList, at: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO code_lists(id, version, body, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![l.id, l.version, serde_json::to_string(l)?, micros(at)],
            )
            .map_err(|e| {
                conflict_or(e, || {
                    format!("code list {:?} version {} already exists", l.id, l.version)
                })
            })?;
            Ok(())
        })
    }

    fn code_list(&self, id: &str, version: Option<u32>) -> Result<Option<CodeList>> {
        self.read(|c| match version {
            Some(v) => json_row(
                c,
                "SELECT body FROM code_lists WHERE id = ?1 AND version = ?2",
                params![id, v],
            ),
            None => json_row(
                c,
                "SELECT body FROM code_lists WHERE id = ?1 ORDER BY version DESC LIMIT 1",
                [id],
            ),
        })
    }

    fn code_list_ids(&self) -> Result<Vec<(String, u32)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, max(version) FROM code_lists GROUP BY id ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn insert_schema(&self, s: &DatasetSchema, at: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT OR IGNORE INTO datasets(name) VALUES (?1)",
                [&s.dataset],
            )?;
            c.execute(
                "INSERT INTO schemas(dataset, major, minor, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    s.dataset,
                    s.version.major,
                    s.version.minor,
                    serde_json::to_string(s)?,
                    micros(at)
                ],
            )
            .map_err(|e| {
                conflict_or(e, || {
                    format!(
                        "schema {:?} version {} already exists",
                        s.dataset, s.version
                    )
                })
            })?;
            Ok(())
        })
    }

    fn schema(
        &self,
        dataset: &str,
        version: Option<SchemaVersion>,
    ) -> Result<Option<DatasetSchema>> {
        self.read(|c| match version {
            Some(v) => json_row(
                c,
                "SELECT body FROM schemas WHERE dataset = ?1 AND major = ?2 AND minor = ?3",
                params![dataset, v.major, v.minor],
            ),
            None => json_row(
                c,
                "SELECT body FROM schemas WHERE dataset = ?1
                 ORDER BY major DESC, minor DESC LIMIT 1",
                [dataset],
            ),
        })
    }

    fn schema_versions(&self, dataset: &str) -> Result<Vec<SchemaVersion>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT major, minor FROM schemas WHERE dataset = ?1 ORDER BY major, minor",
            )?;
            let rows = stmt.query_map([dataset], |r| {
                Ok(SchemaVersion {
                    major: r.get(0)?,
                    minor: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn datasets(&self) -> Result<Vec<DatasetSchema>> {
        self.read(|c| {
            json_rows(
                c,
                "SELECT body FROM schemas s WHERE NOT EXISTS (
                   SELECT 1 FROM schemas t WHERE t.dataset = s.dataset
                   AND (t.major > s.major OR (t.major = s.major AND t.minor > s.minor)))
                 ORDER BY dataset",
                [],
            )
        })
    }
}
