//! The registry and the dictionary on PostgreSQL: one table per kind (members, systems,
//! api_keys, elements, code_lists, schemas), each row a key and the JSON body.

use chrono::{DateTime, Utc};
use ndx_types::dictionary::{CodeList, DataElement, DatasetSchema, SchemaVersion};
use ndx_types::registry::{ApiKey, Member, System};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::PostgresBackend;
use super::conn::{col, on_code};
use crate::{CatalogBackend, KEY_HOLDER_SQL, KeyHolder, Result, StoreError};

pub(super) fn json_rows<T: serde::de::DeserializeOwned>(rows: Vec<Row>) -> Result<Vec<T>> {
    rows.iter()
        .map(|r| Ok(serde_json::from_str(col::<&str>(r, 0)?)?))
        .collect()
}

pub(super) fn json_row<T: serde::de::DeserializeOwned>(rows: Vec<Row>) -> Result<Option<T>> {
    Ok(json_rows(rows)?.into_iter().next())
}

impl CatalogBackend for PostgresBackend {
    fn insert_member(&self, m: &Member) -> Result<()> {
        let r = self.conn()?.execute(
            "INSERT INTO members(code, body) VALUES ($1, $2)",
            &[&m.code, &serde_json::to_string(m)?],
        );
        on_code(r, &SqlState::UNIQUE_VIOLATION, || {
            StoreError::Conflict(format!("member {:?} already exists", m.code))
        })?;
        Ok(())
    }

    fn member(&self, code: &str) -> Result<Option<Member>> {
        json_row(
            self.conn()?
                .query("SELECT body FROM members WHERE code = $1", &[&code])?,
        )
    }

    fn members(&self) -> Result<Vec<Member>> {
        json_rows(
            self.conn()?
                .query("SELECT body FROM members ORDER BY code", &[])?,
        )
    }

    fn insert_system(&self, s: &System) -> Result<()> {
        let mut c = self.conn()?;
        let exists = c.query_opt("SELECT 1 FROM members WHERE code = $1", &[&s.member])?;
        let missing = || StoreError::NotFound(format!("member {:?} does not exist", s.member));
        if exists.is_none() {
            return Err(missing());
        }
        let r = c.execute(
            "INSERT INTO systems(code, member, body) VALUES ($1, $2, $3)",
            &[&s.code, &s.member, &serde_json::to_string(s)?],
        );
        match r {
            Err(f) if f.is(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Conflict(format!(
                "system {:?} already exists",
                s.code
            ))),
            // The member was removed in between.
            Err(f) if f.is(&SqlState::FOREIGN_KEY_VIOLATION) => Err(missing()),
            r => r.map(drop).map_err(Into::into),
        }
    }

    fn system(&self, code: &str) -> Result<Option<System>> {
        json_row(
            self.conn()?
                .query("SELECT body FROM systems WHERE code = $1", &[&code])?,
        )
    }

    fn systems(&self) -> Result<Vec<System>> {
        json_rows(
            self.conn()?
                .query("SELECT body FROM systems ORDER BY code", &[])?,
        )
    }

    fn insert_api_key(&self, k: &ApiKey, key_hash: &str) -> Result<()> {
        let r = self.conn()?.execute(
            "INSERT INTO api_keys(id, system, key_hash, body) VALUES ($1, $2, $3, $4)",
            &[&k.id, &k.system, &key_hash, &serde_json::to_string(k)?],
        );
        match r {
            Err(f) if f.is(&SqlState::FOREIGN_KEY_VIOLATION) => Err(StoreError::NotFound(format!(
                "system {:?} does not exist",
                k.system
            ))),
            Err(f) if f.is(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Conflict(format!(
                "api key {:?} already exists",
                k.id
            ))),
            r => r.map(drop).map_err(Into::into),
        }
    }

    fn key_holder(&self, key_hash: &str) -> Result<Option<KeyHolder>> {
        let row = self.conn()?.query_opt(KEY_HOLDER_SQL, &[&key_hash])?;
        let Some(row) = row else {
            return Ok(None);
        };
        let body = |i: usize| col::<&str>(&row, i);
        KeyHolder::from_bodies(body(0)?, body(1)?, body(2)?).map(Some)
    }

    fn api_keys(&self, system: &str) -> Result<Vec<ApiKey>> {
        json_rows(self.conn()?.query(
            "SELECT body FROM api_keys WHERE system = $1 ORDER BY id",
            &[&system],
        )?)
    }

    fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<Option<ApiKey>> {
        self.transaction(|c| {
            let Some(mut key): Option<ApiKey> =
                json_row(c.query("SELECT body FROM api_keys WHERE id = $1 FOR UPDATE", &[&id])?)?
            else {
                return Ok(None);
            };
            if key.revoked_at.is_none() {
                key.revoked_at = Some(at);
                c.execute(
                    "UPDATE api_keys SET body = $2 WHERE id = $1",
                    &[&id, &serde_json::to_string(&key)?],
                )?;
            }
            Ok(Some(key))
        })
    }

    fn insert_element(&self, e: &DataElement, at: DateTime<Utc>) -> Result<()> {
        let r = self.conn()?.execute(
            "INSERT INTO elements(id, body, created_at) VALUES ($1, $2, $3)",
            &[&e.id, &serde_json::to_string(e)?, &at],
        );
        on_code(r, &SqlState::UNIQUE_VIOLATION, || {
            StoreError::Conflict(format!("data element {:?} already exists", e.id))
        })?;
        Ok(())
    }

    fn elements(&self) -> Result<Vec<DataElement>> {
        json_rows(
            self.conn()?
                .query("SELECT body FROM elements ORDER BY id", &[])?,
        )
    }

    fn insert_code_list(&self, l: &CodeList, at: DateTime<Utc>) -> Result<()> {
        let r = self.conn()?.execute(
            "INSERT INTO code_lists(id, version, body, created_at) VALUES ($1, $2, $3, $4)",
            &[
                &l.id,
                &i64::from(l.version),
                &serde_json::to_string(l)?,
                &at,
            ],
        );
        on_code(r, &SqlState::UNIQUE_VIOLATION, || {
            StoreError::Conflict(format!(
                "code list {:?} version {} already exists",
                l.id, l.version
            ))
        })?;
        Ok(())
    }

    fn code_list(&self, id: &str, version: Option<u32>) -> Result<Option<CodeList>> {
        let mut c = self.conn()?;
        json_row(match version {
            Some(v) => c.query(
                "SELECT body FROM code_lists WHERE id = $1 AND version = $2",
                &[&id, &i64::from(v)],
            )?,
            None => c.query(
                "SELECT body FROM code_lists WHERE id = $1 ORDER BY version DESC LIMIT 1",
                &[&id],
            )?,
        })
    }

    fn code_list_ids(&self) -> Result<Vec<(String, u32)>> {
        let rows = self.conn()?.query(
            "SELECT id, max(version) FROM code_lists GROUP BY id ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let v: i64 = col(r, 1)?;
                let v = u32::try_from(v).map_err(|_| {
                    StoreError::Backend(format!("code list version {v} out of range"))
                })?;
                Ok((col(r, 0)?, v))
            })
            .collect()
    }

    fn insert_schema(&self, s: &DatasetSchema, at: DateTime<Utc>) -> Result<()> {
        self.transaction(|c| {
            c.execute(
                "INSERT INTO datasets(name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[&s.dataset],
            )?;
            let r = c.execute(
                "INSERT INTO schemas(dataset, major, minor, body, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &s.dataset,
                    &i64::from(s.version.major),
                    &i64::from(s.version.minor),
                    &serde_json::to_string(s)?,
                    &at,
                ],
            );
            on_code(r, &SqlState::UNIQUE_VIOLATION, || {
                StoreError::Conflict(format!(
                    "schema {:?} version {} already exists",
                    s.dataset, s.version
                ))
            })?;
            Ok(())
        })
    }

    fn schema(
        &self,
        dataset: &str,
        version: Option<SchemaVersion>,
    ) -> Result<Option<DatasetSchema>> {
        let mut c = self.conn()?;
        json_row(match version {
            Some(v) => c.query(
                "SELECT body FROM schemas WHERE dataset = $1 AND major = $2 AND minor = $3",
                &[&dataset, &i64::from(v.major), &i64::from(v.minor)],
            )?,
            None => c.query(
                "SELECT body FROM schemas WHERE dataset = $1
                 ORDER BY major DESC, minor DESC LIMIT 1",
                &[&dataset],
            )?,
        })
    }

    fn schema_versions(&self, dataset: &str) -> Result<Vec<SchemaVersion>> {
        let rows = self.conn()?.query(
            "SELECT major, minor FROM schemas WHERE dataset = $1 ORDER BY major, minor",
            &[&dataset],
        )?;
        let part = |v: i64| {
            u32::try_from(v)
                .map_err(|_| StoreError::Backend(format!("schema version part {v} out of range")))
        };
        rows.iter()
            .map(|r| {
                Ok(SchemaVersion {
                    major: part(col(r, 0)?)?,
                    minor: part(col(r, 1)?)?,
                })
            })
            .collect()
    }

    fn datasets(&self) -> Result<Vec<DatasetSchema>> {
        json_rows(self.conn()?.query(
            "SELECT DISTINCT ON (dataset) body FROM schemas
             ORDER BY dataset, major DESC, minor DESC",
            &[],
        )?)
    }
}
