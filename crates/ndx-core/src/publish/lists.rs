//! What a node publishes about itself: the open-data catalogue (DCAT-AP 3) and the lists the
//! national data strategy requires each agency and the country to publish — original, master,
//! open and shared data — computed from the dictionary's current schemas whenever asked, so
//! that they are always current. The lists describe datasets, never their records: a
//! restricted dataset is on the original and master lists (which the strategy requires to be
//! public) and on the open list when a package is published from it, never on the shared one.

use chrono::{DateTime, Utc};
use ndx_types::dictionary::{DatasetSchema, Openness};
use ndx_types::open::Package;
use ndx_types::registry::Member;

use crate::Core;
use crate::dcat::{CatalogInfo, DcatBuilder, Graph};
use crate::error::{Code, Error, Result};

/// One of the strategy's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataList {
    /// The original (authoritative) copies.
    Original,
    /// Master data: the reference other datasets take their values from.
    Master,
    /// Open data: open datasets, and those with a published package.
    Open,
    /// Shared data: what agencies share with each other (shared or open datasets).
    Shared,
}

impl DataList {
    /// Every list.
    pub const ALL: [DataList; 4] = [
        DataList::Original,
        DataList::Master,
        DataList::Open,
        DataList::Shared,
    ];

    /// Its name in addresses.
    pub fn name(self) -> &'static str {
        match self {
            DataList::Original => "original",
            DataList::Master => "master",
            DataList::Open => "open",
            DataList::Shared => "shared",
        }
    }

    /// The list a name means.
    pub fn parse(name: &str) -> Result<DataList> {
        DataList::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| {
                Error::of(
                    Code::DataListNotFound,
                    format!("no list {name:?}: the lists are original, master, open and shared"),
                )
            })
    }

    fn titles(self) -> (&'static str, &'static str) {
        match self {
            DataList::Original => ("Danh mục dữ liệu gốc", "List of original data"),
            DataList::Master => ("Danh mục dữ liệu chủ", "List of master data"),
            DataList::Open => ("Danh mục dữ liệu mở", "List of open data"),
            DataList::Shared => ("Danh mục dữ liệu dùng chung", "List of shared data"),
        }
    }

    fn holds(self, schema: &DatasetSchema, packages: &[String]) -> bool {
        match self {
            DataList::Original => schema.original,
            DataList::Master => schema.master,
            DataList::Open => schema.openness == Openness::Open || !packages.is_empty(),
            DataList::Shared => schema.openness != Openness::Restricted,
        }
    }
}

/// A dataset on a list.
#[derive(Debug, Clone)]
pub struct ListedDataset {
    /// Its current schema.
    pub schema: DatasetSchema,
    /// Its owner.
    pub owner: Member,
    /// The packages published from it.
    pub packages: Vec<String>,
}

impl Core {
    /// A list, for the country or (`member`) one agency, ordered by dataset.
    pub fn data_list(&self, list: DataList, member: Option<&str>) -> Result<Vec<ListedDataset>> {
        if let Some(m) = member {
            self.member(m)?;
        }
        let packages = self.packages()?;
        let mut out = Vec::new();
        for schema in self.datasets()? {
            if member.is_some_and(|m| m != schema.owner) {
                continue;
            }
            let published: Vec<String> = packages
                .iter()
                .filter(|p| p.view.dataset == schema.dataset)
                .map(|p| p.name.clone())
                .collect();
            if !list.holds(&schema, &published) {
                continue;
            }
            let owner = self.member(&schema.owner)?;
            out.push(ListedDataset {
                schema,
                owner,
                packages: published,
            });
        }
        out.sort_by(|a, b| a.schema.dataset.cmp(&b.schema.dataset));
        Ok(out)
    }

    /// A list as a DCAT-AP catalogue whose address is `about`.
    pub fn data_list_graph(
        &self,
        base: &str,
        about: String,
        list: DataList,
        member: Option<&str>,
    ) -> Result<Graph> {
        let listed = self.data_list(list, member)?;
        let agency = member.map(|m| self.member(m)).transpose()?;
        let mut b = DcatBuilder::new(base);
        let mut datasets = Vec::new();
        for d in &listed {
            datasets.push(b.registered(&d.schema, &d.owner, &d.packages)?);
        }
        let (title_vi, title_en) = list.titles();
        let (scope_vi, scope_en) = match &agency {
            Some(m) => (m.name_vi.clone(), m.name_en.clone()),
            None => ("toàn quốc".to_owned(), "national".to_owned()),
        };
        let publisher = match agency {
            Some(m) => Some(m),
            None => self.operator_member()?,
        };
        let title = (
            format!("{title_vi} ({scope_vi})"),
            format!("{title_en} ({scope_en})"),
        );
        let description = (
            format!(
                "{title_vi} theo Chiến lược dữ liệu quốc gia, từ phân loại trong từ điển dữ liệu dùng chung"
            ),
            format!(
                "The {} of the national data strategy, from the classifications of the shared data dictionary",
                title_en.to_lowercase()
            ),
        );
        let now = Utc::now();
        b.catalog(
            &CatalogInfo {
                base,
                title: (&title.0, &title.1),
                description: (&description.0, &description.1),
                publisher: publisher.as_ref(),
                about,
            },
            &datasets,
            now,
            now,
        )?;
        Ok(b.finish())
    }

    /// The member that operates the node, when one is named and registered: the publisher of
    /// the national catalogues (a name the registry does not know leaves the node itself).
    fn operator_member(&self) -> Result<Option<Member>> {
        let Some(code) = &self.operator else {
            return Ok(None);
        };
        match self.member(code) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.code == Code::MemberNotFound => {
                tracing::warn!("the operator {code:?} is not a registered member");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The open-data catalogue as DCAT-AP 3: every package and the files of its latest release.
    pub fn open_catalog_graph(&self, base: &str, about: String) -> Result<Graph> {
        let packages: Vec<Package> = self.packages()?;
        let mut b = DcatBuilder::new(base);
        let mut datasets = Vec::new();
        let mut issued: Option<DateTime<Utc>> = None;
        let mut modified: Option<DateTime<Utc>> = None;
        for p in &packages {
            let release = self.latest_release(&p.name)?;
            let publisher = self.member(&p.publisher)?;
            datasets.push(b.package(p, release.as_ref(), &publisher)?);
            issued = Some(issued.map_or(p.created_at, |t| t.min(p.created_at)));
            let changed = release.as_ref().map_or(p.created_at, |r| r.created_at);
            modified = Some(modified.map_or(changed, |t| t.max(changed)));
        }
        let now = Utc::now();
        b.catalog(
            &CatalogInfo {
                base,
                title: ("Dữ liệu mở", "Open data"),
                description: (
                    "Các gói dữ liệu mở do các cơ quan công bố qua nền tảng tích hợp, chia sẻ dữ liệu",
                    "Open data packages published by agencies through the data integration and sharing platform",
                ),
                publisher: self.operator_member()?.as_ref(),
                about,
            },
            &datasets,
            issued.unwrap_or(now),
            modified.unwrap_or(now),
        )?;
        Ok(b.finish())
    }
}
