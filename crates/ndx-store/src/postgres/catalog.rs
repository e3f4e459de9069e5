//! The catalogue on PostgreSQL: the transactions and statements `catalog::SqlConn` asks for.
//! The SQL itself is the catalogue's, shared with every engine (`catalog/sql.rs`).

use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::PostgresBackend;
use super::conn::{Conn, Fail};
use crate::catalog::sql::{CatalogEngine, Cell, Dialect, Param, SqlConn};
use crate::{Result, StoreError};

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Param::Int(i) => i.to_sql(ty, out),
            Param::Text(s) => s.to_sql(ty, out),
            Param::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::INT4 | Type::TEXT | Type::VARCHAR)
    }

    to_sql_checked!();
}

struct Sql<'a>(&'a mut Conn);

fn refs<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl SqlConn for Sql<'_> {
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Vec<Cell>>> {
        let rows = self.0.query(sql, &refs(params))?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let ty = row.columns()[i].type_();
                        let cell = if *ty == Type::INT8 {
                            row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int))
                        } else if *ty == Type::INT4 {
                            row.try_get::<_, Option<i32>>(i)
                                .map(|v| v.map(|v| Cell::Int(v.into())))
                        } else {
                            row.try_get::<_, Option<String>>(i)
                                .map(|v| v.map(Cell::Text))
                        };
                        Ok(cell.map_err(Fail::Pg)?.unwrap_or(Cell::Null))
                    })
                    .collect()
            })
            .collect()
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        match self.0.execute(sql, &refs(params)) {
            Err(f) if f.is(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::Conflict("unique violation".into()))
            }
            r => Ok(r?),
        }
    }
}

impl CatalogEngine for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect {
            lock_shared: " FOR KEY SHARE",
            lock_rows: " FOR UPDATE OF c, a",
            lock_exclusive: " FOR UPDATE",
        }
    }

    fn read(&self, f: &mut dyn FnMut(&mut dyn SqlConn) -> Result<()>) -> Result<()> {
        let mut c = self.conn()?;
        f(&mut Sql(&mut c))
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn SqlConn) -> Result<()>) -> Result<()> {
        self.transaction(|c| f(&mut Sql(c)))
    }
}
