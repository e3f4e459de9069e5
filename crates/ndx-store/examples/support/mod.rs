//! What the storage examples share: run a measurement on a temporary SQLite store and, when
//! `NDX_TEST_POSTGRES_URL` is set, on a PostgreSQL schema of its own that is dropped afterwards.

use ndx_store::Store;

/// Runs `measure(backend name, store)` on every backend available; `tag` names the schema.
pub fn on_every_backend(tag: &str, mut measure: impl FnMut(&str, &Store)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open_sqlite(dir.path().join("ndx.db")).expect("sqlite");
    measure("sqlite", &sqlite);
    match std::env::var("NDX_TEST_POSTGRES_URL") {
        Ok(base) if !base.is_empty() => {
            let schema = format!("ndx_{tag}_{}", std::process::id());
            let sep = if base.contains('?') { '&' } else { '?' };
            let store = Store::open(&format!("{base}{sep}schema={schema}")).expect("postgres");
            measure("postgres", &store);
            drop(store);
            admin(&base, &format!("DROP SCHEMA {schema} CASCADE"));
        }
        _ => println!("  postgres: skipped (NDX_TEST_POSTGRES_URL is not set)"),
    }
}

fn admin(url: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("admin connection");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client.batch_execute(sql).await.expect("admin sql");
    });
}
