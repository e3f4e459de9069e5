//! Catalogue objects kept in memory for as long as the catalogue's generation says they are
//! current: the API key holders, the latest schemas, members, the consumers' agreements, the
//! transfer assessments and the purpose codes that every governed request reads.
//!
//! Every committed write of a watched kind raises the store's generation
//! ([`ndx_store::catalog::Catalog::generation`]), in this process or in any other sharing the
//! store. A request reads the generation once (one small read instead of several object
//! reads and their decoding) and is served from memory when nothing changed since the cache
//! was filled: a revoked key or agreement is refused on the very next request, whichever
//! process revoked it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ndx_store::catalog::KeyHolder;
use ndx_types::dictionary::DatasetSchema;
use ndx_types::exchange::{Agreement, TransferAssessment};
use ndx_types::registry::Member;

use crate::Result;

/// Most objects of one sort kept; a full map is emptied (names a caller made up are never
/// cached, so only the catalogue's own size fills it).
const MAX_ENTRIES: usize = 10_000;

/// The cached objects, all of the generation they were read at (or later).
#[derive(Default)]
pub(crate) struct CatalogCache {
    state: Mutex<State>,
}

/// One sort of cached object, by id.
type Objects<T> = HashMap<String, Arc<T>>;

#[derive(Default)]
pub(crate) struct State {
    /// The generation the objects are current for; `None` before the first read.
    generation: Option<u64>,
    pub(crate) key_holders: Objects<KeyHolder>,
    pub(crate) schemas: Objects<DatasetSchema>,
    pub(crate) members: Objects<Member>,
    /// The agreements of each consumer system (every dataset, every status).
    pub(crate) agreements: Objects<Vec<Agreement>>,
    /// The transfer assessments of each dataset.
    pub(crate) assessments: Objects<Vec<TransferAssessment>>,
    /// The codes of code lists, by list id (latest version).
    pub(crate) codes: Objects<BTreeSet<String>>,
}

impl State {
    fn clear(&mut self) {
        self.key_holders.clear();
        self.schemas.clear();
        self.members.clear();
        self.agreements.clear();
        self.assessments.clear();
        self.codes.clear();
    }
}

impl CatalogCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Maps of immutable values: a panic elsewhere cannot leave them inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The object `id` of the sort `sort` picks, as of `generation` (read from the store
    /// before this call) or later: from memory when the catalogue has not changed since it
    /// was cached, otherwise from `load` (`None`: no such object, not cached).
    pub(crate) fn get<T>(
        &self,
        generation: u64,
        sort: fn(&mut State) -> &mut Objects<T>,
        id: &str,
        load: impl FnOnce() -> Result<Option<T>>,
    ) -> Result<Option<Arc<T>>> {
        let seen = {
            let mut state = self.lock();
            match state.generation {
                Some(g) if g >= generation => {}
                _ => {
                    state.clear();
                    state.generation = Some(generation);
                }
            }
            if let Some(found) = sort(&mut state).get(id) {
                return Ok(Some(found.clone()));
            }
            state.generation
        };
        // Read after the generation `seen` was read from the store: at least as new.
        let Some(loaded) = load()?.map(Arc::new) else {
            return Ok(None);
        };
        let mut state = self.lock();
        // Kept only if the catalogue did not move on while it was read.
        if state.generation == seen {
            let objects = sort(&mut state);
            if objects.len() >= MAX_ENTRIES {
                objects.clear();
            }
            objects.insert(id.to_owned(), loaded.clone());
        }
        Ok(Some(loaded))
    }

    /// Empties the cache (a test that changed the store behind the catalogue's back).
    pub(crate) fn forget(&self) {
        let mut state = self.lock();
        state.clear();
        state.generation = None;
    }
}
