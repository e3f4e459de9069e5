//! The services of ndx: the use cases behind the CLI and the HTTP API. Every service is a
//! method of [`Core`], synchronous (run it on a blocking thread), takes the time as an argument,
//! and takes a capability from [`access`] when it touches protected state.
#![warn(missing_docs)]

pub mod access;
pub mod account;
pub mod audit;
mod cache;
pub mod connector;
pub mod dcat;
pub mod deferred;
pub mod dictionary;
pub mod error;
pub mod exchange;
pub mod feed;
pub mod import;
pub mod indicators;
pub mod ingest;
pub mod open_search;
pub mod publish;
pub mod quality;
pub mod reconcile;
pub mod records;
pub mod registry;
pub mod subject;
pub mod subscription;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ndx_types::dictionary::SchemaVersion;
use ndx_types::validate::CompiledSchema;

pub use error::{Code, Error, Kind, Result};
pub use ndx_store::catalog::Versioned;
pub use ndx_store::{RecordVersion, Store};

/// Compiled validators by dataset and schema version.
type CompiledCache = HashMap<(String, SchemaVersion), Arc<CompiledSchema>>;

/// Crosswalk converters by (from, to) list version; `None` where no crosswalk joins them.
type ConverterCache = HashMap<
    (ndx_types::codes::CodeListRef, ndx_types::codes::CodeListRef),
    Option<Arc<ndx_types::codes::Converter>>,
>;

/// The services, over one store.
#[derive(Clone)]
pub struct Core {
    store: Store,
    compiled: Arc<Mutex<CompiledCache>>,
    converters: Arc<Mutex<ConverterCache>>,
    quality_locks: Arc<quality::QualityLocks>,
    package_index: Arc<open_search::PackageIndex>,
    release_tables: Arc<publish::ReleaseTables>,
    usage: Arc<publish::UsageCounts>,
    audit: audit::AuditLog,
    quotas: Arc<exchange::Quotas>,
    catalog_cache: Arc<cache::CatalogCache>,
    commits: Arc<feed::CommitListeners>,
    /// How long a connector run's lease lasts unless renewed.
    connector_lease: chrono::Duration,
    /// The folder under which every folder connector's folder must lie.
    drop_root: Option<std::path::PathBuf>,
    /// How push deliveries are retried and leased.
    push: subscription::PushPolicy,
    /// How long changes stay in each dataset's feed.
    feed_retention: chrono::Duration,
    feed_floors: Arc<feed::FeedFloors>,
    /// The member that operates the node: the publisher of its national catalogues.
    operator: Option<String>,
    /// Failed web sign-ins per client and name.
    sign_ins: Arc<account::SignInThrottle>,
    /// The web imports this process is reading.
    imports_running: Arc<import::RunningImports>,
    /// What checks a citizen's secret at sign-in.
    citizens: Arc<dyn account::CitizenVerifier>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("store", &self.store).finish()
    }
}

impl Core {
    /// Wraps a store and its audit log; call [`Core::ensure_builtins`] once at start.
    pub fn new(store: Store, audit: audit::AuditLog) -> Self {
        let citizens = account::stored_credentials(&store, &audit);
        Core {
            store,
            compiled: Arc::default(),
            converters: Arc::default(),
            quality_locks: Arc::default(),
            package_index: Arc::default(),
            release_tables: Arc::default(),
            usage: Arc::default(),
            audit,
            quotas: Arc::default(),
            catalog_cache: Arc::default(),
            commits: Arc::default(),
            connector_lease: connector::DEFAULT_LEASE,
            drop_root: None,
            push: subscription::PushPolicy::default(),
            feed_retention: feed::DEFAULT_FEED_RETENTION,
            feed_floors: Arc::default(),
            operator: None,
            sign_ins: Arc::default(),
            imports_running: Arc::default(),
            citizens,
        }
    }

    /// Checks citizens' secrets with `verifier` (a national identity provider) instead of the
    /// stored credentials.
    pub fn with_citizen_verifier(mut self, verifier: Arc<dyn account::CitizenVerifier>) -> Self {
        self.citizens = verifier;
        self
    }

    /// Names the member that operates the node (the national data centre's agency): the
    /// publisher of the national catalogues instead of the node itself.
    pub fn with_operator(mut self, member: Option<String>) -> Self {
        self.operator = member;
        self
    }

    /// Sets how long changes stay in each dataset's feed (at least a second).
    pub fn with_feed_retention(mut self, retention: std::time::Duration) -> Self {
        self.feed_retention = chrono::Duration::from_std(retention)
            .unwrap_or(feed::DEFAULT_FEED_RETENTION)
            .max(chrono::Duration::seconds(1));
        self
    }

    /// Sets the folder under which folder connectors' folders must lie (without it, no folder
    /// connector can be added): an API key must not make the server read and move files
    /// anywhere it can reach.
    pub fn with_drop_root(mut self, root: std::path::PathBuf) -> Self {
        self.drop_root = Some(root);
        self
    }

    /// Sets how long a connector run's lease lasts unless renewed (each chunk renews it): how
    /// long a connector whose process died stays blocked before another run may take it.
    pub fn with_connector_lease(mut self, lease: std::time::Duration) -> Self {
        self.connector_lease =
            chrono::Duration::from_std(lease).unwrap_or(connector::DEFAULT_LEASE);
        self
    }

    /// The audit log.
    pub fn audit(&self) -> &audit::AuditLog {
        &self.audit
    }

    /// Whether a request's reads are short enough to run on the async worker that serves it:
    /// on the embedded store a point read is a few page reads of a local file (a hand-off to a
    /// blocking thread costs more than that); on PostgreSQL every read is a round trip.
    pub fn reads_in_place(&self) -> bool {
        matches!(self.store.engine(), ndx_store::Engine::Sqlite)
    }

    /// The name of the storage engine (`sqlite`, `postgres`).
    pub fn engine_name(&self) -> &'static str {
        match self.store.engine() {
            ndx_store::Engine::Sqlite => "sqlite",
            ndx_store::Engine::Postgres => "postgres",
        }
    }

    /// The catalogue's generation now (see `cache`): read once per request and passed to the
    /// cached lookups it makes.
    pub(crate) fn generation(&self) -> Result<u64> {
        Ok(self.store.catalog().generation()?)
    }

    /// Adds to a stored counter: `add` applied to the stored value, or to `fresh()` when there
    /// is none yet; a write by another process in between is re-read and added to.
    pub(crate) fn add_to_stored<K: ndx_store::catalog::Kind + Clone>(
        &self,
        id: &str,
        fresh: impl Fn() -> K,
        add: impl Fn(&mut K),
    ) -> Result<()> {
        for _ in 0..5 {
            let catalog = self.store.catalog();
            let result = match catalog.get::<K>(id)? {
                Some(v) => {
                    let mut next = v.value.clone();
                    add(&mut next);
                    catalog
                        .update(&next, v.revision, chrono::Utc::now())
                        .map(|_| ())
                }
                None => {
                    let mut next = fresh();
                    add(&mut next);
                    catalog.insert(&next, chrono::Utc::now()).map(|_| ())
                }
            };
            match result {
                Ok(()) => return Ok(()),
                Err(ndx_store::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::of(
            Code::Conflict,
            format!("{} {id:?} kept changing", K::NOUN),
        ))
    }

    /// Whether the store answers (a cheap catalogue read).
    pub fn check_store(&self) -> Result<()> {
        self.store
            .catalog()
            .get::<ndx_types::registry::Member>("")?;
        Ok(())
    }
}
