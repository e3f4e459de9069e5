//! Open data: packages (a view of a dataset, described for the world) and their immutable
//! releases. A release reads the source dataset as its owner lists it, makes the view's
//! columns, passes the privacy gate (`ndx-types::open`: k-anonymity and l-diversity by
//! generalisation and suppression, or small counts suppressed) and streams its files into the
//! store's blob area with their SHA-256; a refused release leaves nothing behind.

use std::io::Write;

use chrono::{DateTime, Utc};
use ndx_store::catalog::Page;
use ndx_types::dictionary::DatasetSchema;
use ndx_types::open::{
    self, AppliedPrivacy, Ladder, Package, Release, ReleaseFile, Shape, Target, anonymise::Table,
};
use serde_json::{Map, Value};

use crate::Core;
use crate::access::Caller;

mod datastore;
mod files;
mod lists;
mod usage;
use crate::error::{Code, Error, Result};
pub(crate) use datastore::ReleaseTables;
pub use datastore::{DatastoreAnswer, DatastoreQuery, ReleaseTable};
pub use files::{Content, Format};
pub use lists::{DataList, ListedDataset};
pub(crate) use usage::UsageCounts;
pub use usage::Use;

#[cfg(test)]
mod tests;

/// Source records read per page.
const SOURCE_PAGE: usize = 1000;

use ndx_store::catalog::open::attr::PACKAGE as RELEASE_PACKAGE;

fn package_not_found(name: &str) -> Error {
    Error::of(
        Code::PackageNotFound,
        format!("package {name:?} does not exist"),
    )
}

/// A ward's province: the 2025 units, or the pre-2025 ones through the conversion table.
fn province_of(ward: &str) -> Option<String> {
    if let Some(w) = ndx_types::reference::ward_2025(ward) {
        return Some(w.province_code.clone());
    }
    ndx_types::reference::ward_conversions_from(ward)
        .first()
        .map(|c| c.old_province_code.clone())
}

impl Core {
    /// Registers a package, or a new definition of it (its releases keep what they were made
    /// with). The publisher is the source dataset's owner.
    pub fn put_package(
        &self,
        caller: &Caller,
        mut package: Package,
        now: DateTime<Utc>,
    ) -> Result<(Package, bool)> {
        let schema = self.schema(&package.view.dataset, None)?;
        caller.open_data_publisher(&schema.owner)?;
        self.check_package(&package, &schema)?;
        let existing = self.store.catalog().get::<Package>(&package.name)?;
        let created = match existing {
            None => {
                package.created_at = now;
                self.store.catalog().insert(&package, now)?;
                true
            }
            Some(prev) => {
                if prev.value.publisher != package.publisher {
                    return Err(Error::of(
                        Code::NotOwner,
                        format!("package {:?} is {:?}'s", package.name, prev.value.publisher),
                    ));
                }
                package.created_at = prev.value.created_at;
                if prev.value == package {
                    return Ok((package, false));
                }
                self.store.catalog().update(&package, prev.revision, now)?;
                false
            }
        };
        self.audit
            .event(caller, "package.put")
            .dataset(Some(&package.view.dataset))
            .keys(vec![package.name.clone()])
            .record()?;
        Ok((package, created))
    }

    /// Checks a package against its source dataset's schema and the stored dictionary.
    fn check_package(&self, package: &Package, schema: &DatasetSchema) -> Result<()> {
        let lookup = crate::dictionary::StoreDictionary::load(&self.store)?;
        let checked = package.check(schema, &lookup);
        lookup.finish()?;
        Ok(checked?)
    }

    /// Every package, by name.
    pub fn packages(&self) -> Result<Vec<Package>> {
        Ok(self.store.catalog().values::<Package>()?)
    }

    /// One package.
    pub fn package(&self, name: &str) -> Result<Package> {
        if !open::is_package_name(name) {
            return Err(package_not_found(name));
        }
        self.store
            .catalog()
            .value::<Package>(name)?
            .ok_or_else(|| package_not_found(name))
    }

    /// A package's releases, oldest first.
    pub fn releases(&self, name: &str) -> Result<Vec<Release>> {
        self.package(name)?;
        let mut all = self
            .store
            .catalog()
            .find_values::<Release>(RELEASE_PACKAGE, name)?;
        all.sort_by_key(|r| r.number);
        Ok(all)
    }

    /// A package's latest release, if it has one.
    pub fn latest_release(&self, name: &str) -> Result<Option<Release>> {
        Ok(self
            .store
            .catalog()
            .find::<Release>(RELEASE_PACKAGE, name, Page::LAST)?
            .pop()
            .map(|v| v.value))
    }

    /// One release.
    pub fn package_release(&self, name: &str, number: u32) -> Result<Release> {
        self.package(name)?;
        self.store
            .catalog()
            .value::<Release>(&Release::id_of(name, number))?
            .ok_or_else(|| {
                Error::of(
                    Code::ReleaseNotFound,
                    format!("package {name:?} has no release {number}"),
                )
            })
    }

    /// Makes the next release of a package: reads its source, applies the view and the
    /// privacy gate, writes the files, stores the release. Refused (and nothing kept) when the
    /// declared privacy cannot be reached.
    pub fn publish_release(
        &self,
        caller: &Caller,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Release> {
        self.make_release(caller, name, now, &caller.system().code)
    }

    /// Makes the releases that are due ([`Package::release_due`]), each as the system that
    /// made the package's releases by hand, recorded as made by `schedule`. A package whose
    /// release fails (its privacy no longer reachable, its publisher's system gone) is
    /// skipped with a warning; the others go on.
    pub fn publish_due(&self, now: DateTime<Utc>) -> Result<Vec<Release>> {
        let mut made = Vec::new();
        for package in self.packages()?.into_iter().filter(|p| p.scheduled) {
            let last = self.latest_release(&package.name)?;
            let head = self.store.records().feed_head(&package.view.dataset)?;
            if !package.release_due(last.as_ref(), head, now) {
                continue;
            }
            let made_by_hand = self
                .releases(&package.name)?
                .into_iter()
                .rev()
                .find(|r| r.made_by != Release::SCHEDULE)
                .map(|r| r.made_by);
            let Some(system) = made_by_hand else { continue };
            let result = self
                .local_caller(&system, vec![ndx_types::registry::Role::Provider])
                .and_then(|caller| {
                    self.make_release(&caller, &package.name, now, Release::SCHEDULE)
                });
            match result {
                Ok(release) => made.push(release),
                Err(e) => tracing::warn!("scheduled release of {:?} not made: {e}", package.name),
            }
        }
        Ok(made)
    }

    fn make_release(
        &self,
        caller: &Caller,
        name: &str,
        now: DateTime<Utc>,
        made_by: &str,
    ) -> Result<Release> {
        let package = self.package(name)?;
        let schema = self.schema(&package.view.dataset, None)?;
        caller.open_data_publisher(&schema.owner)?;
        // The definition is checked again: the schema may have changed since.
        self.check_package(&package, &schema)?;
        let number = self.latest_release(name)?.map_or(1, |r| r.number + 1);
        let position = self.store.records().feed_head(&schema.dataset)?;
        let rows = self.view_rows(&package, &schema, now)?;
        let (columns, rows, privacy) = gate(&package, rows)?;
        let content = Content {
            columns: &columns,
            rows: &rows,
            counted: package.view.shape == Shape::Counts,
        };
        let mut files = Vec::new();
        for format in Format::ALL {
            files.push(self.write_file(&package, number, format, &content)?);
        }
        let release = Release {
            package: package.name.clone(),
            number,
            created_at: now,
            made_by: made_by.to_owned(),
            source_position: position,
            rows: rows.len() as u64,
            shape: package.view.shape,
            columns,
            privacy,
            files,
        };
        self.store.catalog().insert(&release, now)?;
        self.audit
            .event(caller, "release.publish")
            .dataset(Some(&schema.dataset))
            .keys(vec![Release::id_of(name, number)])
            .query(Some(format!("rows={}", release.rows)))
            .record()?;
        Ok(release)
    }

    /// The view's columns of every current record that passes its filters (and is in its
    /// sample, if it has one).
    fn view_rows(
        &self,
        package: &Package,
        schema: &DatasetSchema,
        now: DateTime<Utc>,
    ) -> Result<Vec<Vec<String>>> {
        let filters: Vec<(String, String)> = package
            .view
            .filters
            .iter()
            .map(|f| (f.field.clone(), f.value.clone()))
            .collect();
        let typed = self.typed_filters(&schema.dataset, &filters)?;
        let day = now.date_naive();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.records().list(
                &schema.dataset,
                &typed,
                after.as_deref(),
                SOURCE_PAGE,
            )?;
            let Some(last) = page.last() else { break };
            after = Some(last.key.clone());
            let full = page.len() == SOURCE_PAGE;
            for v in page {
                if let Some(fraction) = package.view.sample
                    && !open::in_sample(&schema.dataset, &v.key, fraction)
                {
                    continue;
                }
                let Some(body) = v.body else { continue };
                let record: Map<String, Value> = serde_json::from_str(&body)
                    .map_err(|e| Error::internal(format!("a stored record is not JSON: {e}")))?;
                out.push(
                    package
                        .view
                        .columns
                        .iter()
                        .map(|c| open::column_value(c, &record, day, &province_of))
                        .collect(),
                );
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Streams one file of a release into the blob area, computing its digest on the way.
    fn write_file(
        &self,
        package: &Package,
        number: u32,
        format: Format,
        content: &Content<'_>,
    ) -> Result<ReleaseFile> {
        let file = format!("{}-r{number}.{}", package.name, format.extension());
        let blob = format!("open/{}/r{number}/{file}", package.name);
        let (reader, mut writer) =
            std::io::pipe().map_err(|e| Error::internal(format!("cannot open a pipe: {e}")))?;
        let info = std::thread::scope(|scope| {
            let writing = scope.spawn(move || {
                let mut out = std::io::BufWriter::with_capacity(256 * 1024, &mut writer);
                content.write(format, &mut out)?;
                out.flush()
            });
            let mut reader = reader;
            let stored = self.store.blobs().put(&blob, &mut reader);
            let written = writing
                .join()
                .map_err(|_| Error::internal("the release writer panicked"))?;
            written.map_err(|e| Error::internal(format!("writing {file}: {e}")))?;
            Ok::<_, Error>(stored?)
        })?;
        Ok(ReleaseFile {
            format: format.extension().to_owned(),
            name: file,
            media_type: format.media_type().to_owned(),
            bytes: info.bytes,
            sha256: info.sha256,
            blob,
        })
    }

    /// Writes bytes `start..start + len` of a release file to `out`.
    pub fn read_release_file(
        &self,
        file: &ReleaseFile,
        start: u64,
        len: u64,
        out: &mut dyn Write,
    ) -> Result<()> {
        Ok(self.store.blobs().read(&file.blob, start, len, out)?)
    }
}

/// The privacy gate: counts with small cells suppressed, or rows anonymised to the declared
/// k and l (rows without personal columns pass as they are).
fn gate(
    package: &Package,
    rows: Vec<Vec<String>>,
) -> Result<(Vec<String>, Vec<Vec<String>>, AppliedPrivacy)> {
    let mut columns: Vec<String> = package
        .view
        .columns
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let p = &package.privacy;
    let index = |name: &str| columns.iter().position(|c| c == name).unwrap_or(0);
    match package.view.shape {
        Shape::Counts => {
            let (table, suppressed, smallest) = open::counts(rows, p.k);
            columns.push("count".into());
            Ok((
                columns,
                table,
                AppliedPrivacy {
                    k: p.k,
                    achieved_k: smallest,
                    l: 0,
                    achieved_l: 0,
                    generalised: Vec::new(),
                    suppressed,
                },
            ))
        }
        Shape::Rows => {
            let quasi: Vec<(usize, Ladder)> = p
                .quasi_identifiers
                .iter()
                .map(|q| (index(&q.column), q.ladder))
                .collect();
            let sensitive: Vec<usize> = p.sensitive.iter().map(|s| index(s)).collect();
            let n = rows.len();
            let mut table = Table {
                rows,
                quasi_identifiers: quasi,
                sensitive,
            };
            if table.quasi_identifiers.is_empty() && table.sensitive.is_empty() {
                return Ok((
                    columns,
                    table.rows,
                    AppliedPrivacy {
                        k: p.k,
                        achieved_k: 0,
                        l: 0,
                        achieved_l: 0,
                        generalised: Vec::new(),
                        suppressed: 0,
                    },
                ));
            }
            let l = if table.sensitive.is_empty() {
                1
            } else {
                p.l as usize
            };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let target = Target {
                k: p.k as usize,
                l,
                max_suppressed: (p.max_suppressed * n as f64).floor() as usize,
            };
            let outcome =
                open::anonymise::anonymise(&mut table, target, &province_of).map_err(|e| {
                    Error::of(
                        Code::AnonymisationUnreachable,
                        format!("package {:?}: {e}", package.name),
                    )
                })?;
            let generalised = p
                .quasi_identifiers
                .iter()
                .zip(&outcome.levels)
                .map(|(q, lv)| open::Generalised {
                    column: q.column.clone(),
                    level: q.ladder.level_name(*lv).to_owned(),
                })
                .collect();
            Ok((
                columns,
                table.rows,
                AppliedPrivacy {
                    k: p.k,
                    achieved_k: outcome.achieved_k as u64,
                    l: if p.sensitive.is_empty() { 0 } else { p.l },
                    achieved_l: outcome.achieved_l as u64,
                    generalised,
                    suppressed: outcome.suppressed as u64,
                },
            ))
        }
    }
}
