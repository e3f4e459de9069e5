//! Usage of the open data, per package and day — views (a package read through the API or
//! CKAN's `package_show`), downloads (a file from its first byte) and API calls
//! (`datastore_search`, `resource_show`) — for the strategy's indicators. Counted in memory,
//! added to the stored counts (kind `package-usage`) at most every few seconds by the request
//! that finds them due, and when the server stops; reads add what is not stored yet. A process
//! killed without stopping loses at most its last few seconds of counts.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use ndx_types::open::PackageUsage;

use crate::Core;
use crate::error::Result;

/// How often the counts are written to the catalogue.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(10);

/// One use of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Its description read.
    View,
    /// One of its files downloaded.
    Download,
    /// Its rows or resources read through the API.
    ApiCall,
}

/// The counts not stored yet.
#[derive(Default)]
pub(crate) struct UsageCounts {
    unsaved: Mutex<HashMap<(String, NaiveDate), [u64; 3]>>,
    last_flush: Mutex<Option<Instant>>,
}

impl UsageCounts {
    fn add(&self, package: &str, day: NaiveDate, what: Use) {
        let mut unsaved = self.unsaved.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = unsaved.entry((package.to_owned(), day)).or_default();
        counts[what as usize] += 1;
    }

    fn due(&self) -> bool {
        let mut last = self
            .last_flush
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < USAGE_FLUSH_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    fn take(&self) -> Vec<((String, NaiveDate), [u64; 3])> {
        let mut unsaved = self.unsaved.lock().unwrap_or_else(PoisonError::into_inner);
        unsaved.drain().collect()
    }

    fn put_back(&self, key: (String, NaiveDate), counts: [u64; 3]) {
        let mut unsaved = self.unsaved.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = unsaved.entry(key).or_default();
        for (e, c) in entry.iter_mut().zip(counts) {
            *e += c;
        }
    }

    fn of(&self, package: &str) -> Vec<(NaiveDate, [u64; 3])> {
        let unsaved = self.unsaved.lock().unwrap_or_else(PoisonError::into_inner);
        unsaved
            .iter()
            .filter(|((p, _), _)| p == package)
            .map(|((_, day), c)| (*day, *c))
            .collect()
    }
}

fn usage_of(package: &str, day: NaiveDate, c: [u64; 3]) -> PackageUsage {
    PackageUsage {
        package: package.to_owned(),
        day,
        views: c[Use::View as usize],
        downloads: c[Use::Download as usize],
        api_calls: c[Use::ApiCall as usize],
    }
}

impl Core {
    /// Counts one use of a package (today, UTC); writes the counts when they are due. Never
    /// fails the request it counts: a count that cannot be written stays in memory.
    pub fn count_use(&self, package: &str, what: Use) {
        self.usage.add(package, Utc::now().date_naive(), what);
        if self.usage.due()
            && let Err(e) = self.save_usage()
        {
            tracing::warn!("open-data usage not saved yet: {e}");
        }
    }

    /// Adds every unsaved count to the stored ones. Call it when the server stops.
    pub fn save_usage(&self) -> Result<()> {
        let mut first_error = None;
        for ((package, day), counts) in self.usage.take() {
            let saved = self.add_to_stored(
                &PackageUsage::id_of(&package, day),
                || usage_of(&package, day, [0; 3]),
                |u: &mut PackageUsage| {
                    u.views += counts[0];
                    u.downloads += counts[1];
                    u.api_calls += counts[2];
                },
            );
            if let Err(e) = saved {
                self.usage.put_back((package, day), counts);
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A package's use per day, oldest first (stored counts plus this process's unsaved ones).
    pub fn package_usage(&self, package: &str) -> Result<Vec<PackageUsage>> {
        self.package(package)?;
        let mut days: BTreeMap<NaiveDate, PackageUsage> = self
            .store
            .catalog()
            .find_values::<PackageUsage>(ndx_store::catalog::open::attr::PACKAGE, package)?
            .into_iter()
            .map(|u| (u.day, u))
            .collect();
        for (day, c) in self.usage.of(package) {
            let entry = days
                .entry(day)
                .or_insert_with(|| usage_of(package, day, [0; 3]));
            entry.views += c[0];
            entry.downloads += c[1];
            entry.api_calls += c[2];
        }
        Ok(days.into_values().collect())
    }
}
