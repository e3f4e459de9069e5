//! The public pages: the home page, the open-data portal (search with facets, a package's
//! metadata, downloads and a preview of its rows) and the shared data dictionary. No key is
//! needed; a package page counts as a view in its usage statistics, as the API's does.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use ndx_core::open_search::{FACET_FIELDS, PackageQuery, SearchSort};
use ndx_core::publish::{DatastoreQuery, Use};
use ndx_types::dictionary::{CodeList, DatasetSchema};
use ndx_types::open::{Package, Release};

use super::i18n::Lang;
use super::session::Ctx;
use super::{Chrome, Page, urlencode};
use crate::{AppState, blocking};

/// Packages per page of results.
const PAGE_ROWS: usize = 20;
/// Rows in a package's preview.
const PREVIEW_ROWS: usize = 20;
/// Entries of a code list shown per page.
const LIST_ROWS: usize = 200;

/// The home page.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    c: Chrome,
    packages: String,
    datasets: String,
    members: String,
    code_lists: String,
}

/// `GET /`: what ndx is, a search box, the platform's figures.
pub async fn home(State(st): State<AppState>, ctx: Ctx) -> Response {
    let lang = ctx.lang;
    let core = st.core.clone();
    let counts = blocking(move || {
        Ok((
            core.packages()?.len() as u64,
            core.datasets()?.len() as u64,
            core.members()?.len() as u64,
            core.code_lists()?.len() as u64,
        ))
    })
    .await;
    match counts {
        Ok((packages, datasets, members, code_lists)) => Page::ok(
            &HomePage {
                c: ctx.chrome("home"),
                packages: lang.number(packages),
                datasets: lang.number(datasets),
                members: lang.number(members),
                code_lists: lang.number(code_lists),
            },
            lang,
        )
        .into_response(),
        Err(e) => ctx.error(e),
    }
}

/// One package in a list of results.
pub struct PackageItem {
    name: String,
    title: String,
    description: String,
    publisher: String,
    updated: String,
    formats: String,
    keywords: Vec<String>,
}

/// One value of a facet, with the link that filters by it.
pub struct FacetValue {
    label: String,
    count: String,
    href: String,
}

/// A facet and its values.
pub struct Facet {
    title: &'static str,
    values: Vec<FacetValue>,
}

/// A filter in force, with the link that removes it.
pub struct ActiveFilter {
    title: &'static str,
    label: String,
    remove_href: String,
}

/// The open-data search page.
#[derive(Template)]
#[template(path = "open_data.html")]
pub struct OpenDataPage {
    c: Chrome,
    q: String,
    count: String,
    found: bool,
    results: Vec<PackageItem>,
    facets: Vec<Facet>,
    filters: Vec<ActiveFilter>,
    clear_href: String,
    page: usize,
    pages: usize,
    previous_href: Option<String>,
    next_href: Option<String>,
}

/// The search a page address asks for.
struct Search {
    q: String,
    filters: Vec<(String, String)>,
    page: usize,
}

impl Search {
    fn parse(raw: Option<&str>) -> Search {
        let mut s = Search {
            q: String::new(),
            filters: Vec::new(),
            page: 1,
        };
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "q" => s.q = v.trim().chars().take(200).collect(),
                "page" => s.page = v.parse().unwrap_or(1).clamp(1, 10_000),
                field if FACET_FIELDS.contains(&field) && !v.is_empty() => {
                    let pair = (field.to_owned(), v.chars().take(200).collect());
                    if !s.filters.contains(&pair) && s.filters.len() < 10 {
                        s.filters.push(pair);
                    }
                }
                _ => {}
            }
        }
        s
    }

    /// The address of this search with `filters` and page `page`.
    fn href(&self, filters: &[(String, String)], page: usize) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", urlencode(&self.q)));
        }
        for (k, v) in filters {
            parts.push(format!("{k}={}", urlencode(v)));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/open-data".to_owned()
        } else {
            format!("/open-data?{}", parts.join("&"))
        }
    }
}

/// Labels of facet values: members' and themes' names, licences' titles.
struct Labels {
    members: BTreeMap<String, (String, String)>,
    themes: BTreeMap<String, (String, String)>,
    licences: BTreeMap<String, (String, String)>,
}

impl Labels {
    fn load(core: &ndx_core::Core) -> ndx_core::Result<Labels> {
        let list =
            |id: &str, lower: bool| -> ndx_core::Result<BTreeMap<String, (String, String)>> {
                Ok(core
                    .code_list(id, None)?
                    .entries
                    .into_iter()
                    .map(|e| {
                        let code = if lower { e.code.to_lowercase() } else { e.code };
                        (code, (e.label_vi, e.label_en))
                    })
                    .collect())
            };
        Ok(Labels {
            members: core
                .members()?
                .into_iter()
                .map(|m| (m.code.to_lowercase(), (m.name_vi, m.name_en)))
                .collect(),
            themes: list("data-theme", true)?,
            licences: list("licence", false)?,
        })
    }

    fn label(&self, lang: Lang, field: &str, value: &str) -> String {
        let table = match field {
            "organization" => &self.members,
            "groups" => &self.themes,
            "license_id" => &self.licences,
            _ => return value.to_owned(),
        };
        table
            .get(value)
            .map_or_else(|| value.to_owned(), |(vi, en)| lang.pick(vi, en).to_owned())
    }
}

fn facet_title(lang: Lang, field: &str) -> &'static str {
    let m = lang.messages();
    match field {
        "organization" => m.facet_organization,
        "tags" => m.facet_tags,
        "groups" => m.facet_groups,
        "res_format" => m.facet_res_format,
        _ => m.facet_license_id,
    }
}

/// `GET /open-data`: search the packages (diacritics folded, as `package_search` does),
/// refine by facets, page through the results.
pub async fn open_data(State(st): State<AppState>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    let lang = ctx.lang;
    let search = Search::parse(raw.as_deref());
    let core = st.core.clone();
    let query = PackageQuery {
        q: search.q.clone(),
        filters: search.filters.clone(),
        rows: PAGE_ROWS,
        start: (search.page - 1) * PAGE_ROWS,
        sort: if search.q.is_empty() {
            SearchSort::Title
        } else {
            SearchSort::Score
        },
        facets: FACET_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
        facet_limit: 10,
    };
    let found = blocking(move || {
        let hits = core.search_packages(&query)?;
        let labels = Labels::load(&core)?;
        let mut packages = Vec::with_capacity(hits.names.len());
        for name in &hits.names {
            let p = core.package(name)?;
            let release = core.latest_release(name)?;
            packages.push((p, release));
        }
        Ok((hits, labels, packages))
    })
    .await;
    let (hits, labels, packages) = match found {
        Ok(f) => f,
        Err(e) => return ctx.error(e),
    };
    let results = packages
        .into_iter()
        .map(|(p, release)| package_item(lang, &labels, p, release.as_ref()))
        .collect();
    let facets = FACET_FIELDS
        .iter()
        .filter_map(|field| {
            let values: Vec<FacetValue> = hits
                .facets
                .get(*field)?
                .iter()
                .filter(|(value, _)| !search.filters.iter().any(|(k, v)| k == field && v == value))
                .map(|(value, n)| {
                    let mut filters = search.filters.clone();
                    filters.push(((*field).to_owned(), value.clone()));
                    FacetValue {
                        label: labels.label(lang, field, value),
                        count: lang.number(*n as u64),
                        href: search.href(&filters, 1),
                    }
                })
                .collect();
            (!values.is_empty()).then(|| Facet {
                title: facet_title(lang, field),
                values,
            })
        })
        .collect();
    let filters = search
        .filters
        .iter()
        .map(|(k, v)| {
            let rest: Vec<(String, String)> = search
                .filters
                .iter()
                .filter(|f| !(f.0 == *k && f.1 == *v))
                .cloned()
                .collect();
            ActiveFilter {
                title: facet_title(lang, k),
                label: labels.label(lang, k, v),
                remove_href: search.href(&rest, 1),
            }
        })
        .collect();
    let pages = hits.count.div_ceil(PAGE_ROWS).max(1);
    let page = search.page.min(pages);
    Page::ok(
        &OpenDataPage {
            c: ctx.chrome("open-data"),
            q: search.q.clone(),
            count: lang.number(hits.count as u64),
            found: hits.count > 0,
            results,
            facets,
            filters,
            clear_href: search.href(&[], 1),
            page,
            pages,
            previous_href: (page > 1).then(|| search.href(&search.filters, page - 1)),
            next_href: (page < pages).then(|| search.href(&search.filters, page + 1)),
        },
        lang,
    )
    .into_response()
}

fn package_item(lang: Lang, labels: &Labels, p: Package, release: Option<&Release>) -> PackageItem {
    let updated = release.map_or(p.created_at, |r| r.created_at);
    PackageItem {
        title: lang.pick(&p.title_vi, &p.title_en).to_owned(),
        description: lang.pick(&p.description_vi, &p.description_en).to_owned(),
        publisher: labels.label(lang, "organization", &p.publisher.to_lowercase()),
        updated: lang.date(updated.date_naive()),
        formats: release
            .map(|r| {
                r.files
                    .iter()
                    .map(|f| f.format.to_uppercase())
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default(),
        keywords: p.keywords,
        name: p.name,
    }
}

/// One downloadable file.
pub struct FileItem {
    format: String,
    href: String,
    size: String,
    sha256: String,
}

/// One release in the package's history.
pub struct ReleaseItem {
    number: u32,
    published: String,
    rows: String,
}

/// The package page.
#[derive(Template)]
#[template(path = "package.html")]
pub struct PackagePage {
    c: Chrome,
    name: String,
    title: String,
    description: String,
    publisher: String,
    licence: String,
    theme: String,
    frequency: &'static str,
    temporal: String,
    spatial: String,
    contact_name: String,
    contact_email: String,
    keywords: Vec<String>,
    source: String,
    release: Option<u32>,
    updated: String,
    files: Vec<FileItem>,
    releases: Vec<ReleaseItem>,
    preview_columns: Vec<String>,
    preview_rows: Vec<Vec<String>>,
    personal: bool,
    achieved_k: String,
    achieved_l: String,
    suppressed: String,
    generalised: Vec<String>,
}

/// `GET /open-data/{package}`: the package's metadata, its latest release's files with their
/// digests, the release history, the privacy reached and the first rows.
pub async fn package_page(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Response {
    let lang = ctx.lang;
    let core = st.core.clone();
    let loaded = blocking(move || {
        let p = core.package(&name)?;
        let releases = core.releases(&name)?;
        let latest = releases.iter().max_by_key(|r| r.number).cloned();
        let preview = match &latest {
            Some(r) => Some(core.datastore_search(
                r,
                &DatastoreQuery {
                    q: None,
                    q_fields: Vec::new(),
                    filters: Vec::new(),
                    fields: None,
                    sort: Vec::new(),
                    limit: PREVIEW_ROWS,
                    offset: 0,
                },
            )?),
            None => None,
        };
        let labels = Labels::load(&core)?;
        core.count_use(&p.name, Use::View);
        Ok((p, releases, latest, preview, labels))
    })
    .await;
    let (p, mut releases, latest, preview, labels) = match loaded {
        Ok(l) => l,
        Err(e) => return ctx.error(e),
    };
    let m = lang.messages();
    releases.sort_by_key(|r| std::cmp::Reverse(r.number));
    let frequency = p.frequency.map_or("", |f| {
        use ndx_types::quality::UpdateFrequency as F;
        match f {
            F::Daily => m.freq_daily,
            F::Weekly => m.freq_weekly,
            F::Monthly => m.freq_monthly,
            F::Quarterly => m.freq_quarterly,
            F::Yearly => m.freq_yearly,
        }
    });
    let temporal = p.temporal.map_or_else(String::new, |t| {
        let start = lang.date(t.start);
        match t.end {
            Some(end) => format!("{start} – {}", lang.date(end)),
            None => format!("{start} –"),
        }
    });
    let spatial = if p.spatial.is_empty() {
        m.whole_country.to_owned()
    } else {
        p.spatial
            .iter()
            .map(|code| {
                ndx_types::reference::province_2025(code)
                    .map_or_else(|| code.clone(), |pr| pr.name.clone())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (preview_columns, preview_rows) = preview.map_or_else(
        || (Vec::new(), Vec::new()),
        |a| {
            (
                a.fields.into_iter().map(|(name, _)| name).collect(),
                a.records
                    .into_iter()
                    .map(|(_, cells)| cells.into_iter().map(Option::unwrap_or_default).collect())
                    .collect(),
            )
        },
    );
    let privacy = latest.as_ref().map(|r| &r.privacy);
    let personal = privacy.is_some_and(|pr| pr.k > 1 || !pr.generalised.is_empty());
    let page = PackagePage {
        c: ctx.chrome("open-data"),
        title: lang.pick(&p.title_vi, &p.title_en).to_owned(),
        description: lang.pick(&p.description_vi, &p.description_en).to_owned(),
        publisher: labels.label(lang, "organization", &p.publisher.to_lowercase()),
        licence: labels.label(lang, "license_id", &p.licence),
        theme: labels.label(lang, "groups", &p.theme.to_lowercase()),
        frequency,
        temporal,
        spatial,
        contact_name: p.contact.name.clone(),
        contact_email: p.contact.email.clone(),
        keywords: p.keywords.clone(),
        source: p.view.dataset.clone(),
        release: latest.as_ref().map(|r| r.number),
        updated: lang.date(
            latest
                .as_ref()
                .map_or(p.created_at, |r| r.created_at)
                .date_naive(),
        ),
        files: latest
            .as_ref()
            .map(|r| {
                r.files
                    .iter()
                    .map(|f| FileItem {
                        format: f.format.to_uppercase(),
                        href: format!("/download/{}/{}/{}", p.name, r.number, f.name),
                        size: lang.bytes(f.bytes),
                        sha256: f.sha256.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        releases: releases
            .iter()
            .map(|r| ReleaseItem {
                number: r.number,
                published: lang.time(r.created_at),
                rows: lang.number(r.rows),
            })
            .collect(),
        preview_columns,
        preview_rows,
        personal,
        achieved_k: privacy.map_or_else(String::new, |pr| lang.number(pr.achieved_k)),
        achieved_l: privacy.map_or_else(String::new, |pr| lang.number(pr.achieved_l)),
        suppressed: privacy.map_or_else(String::new, |pr| lang.number(pr.suppressed)),
        generalised: privacy
            .map(|pr| {
                pr.generalised
                    .iter()
                    .map(|g| format!("{} → {}", g.column, g.level))
                    .collect()
            })
            .unwrap_or_default(),
        name: p.name,
    };
    Page::ok(&page, lang).into_response()
}

/// A data element in the dictionary's list.
pub struct ElementItem {
    id: String,
    name: String,
    value_type: String,
    code_list: Option<String>,
}

/// A code list in the dictionary's list.
pub struct CodeListItem {
    id: String,
    name: String,
    version: u32,
    entries: String,
}

/// A dataset in the dictionary's list.
pub struct DatasetItem {
    id: String,
    title: String,
    owner: String,
    openness: String,
    original_master: String,
}

/// The dictionary page.
#[derive(Template)]
#[template(path = "dictionary.html")]
pub struct DictionaryPage {
    c: Chrome,
    elements: Vec<ElementItem>,
    code_lists: Vec<CodeListItem>,
    datasets: Vec<DatasetItem>,
}

fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn flags(lang: Lang, s: &DatasetSchema) -> String {
    let m = lang.messages();
    let yes_no = |b: bool| if b { m.yes } else { m.no };
    format!("{} / {}", yes_no(s.original), yes_no(s.master))
}

/// `GET /dictionary`: the shared data dictionary — elements, code lists, dataset schemas.
pub async fn dictionary(State(st): State<AppState>, ctx: Ctx) -> Response {
    let lang = ctx.lang;
    let core = st.core.clone();
    let loaded = blocking(move || {
        let elements = core.elements()?;
        let mut lists = Vec::new();
        for (id, version) in core.code_lists()? {
            lists.push(core.code_list(&id, Some(version))?);
        }
        let members: BTreeMap<String, (String, String)> = core
            .members()?
            .into_iter()
            .map(|m| (m.code, (m.name_vi, m.name_en)))
            .collect();
        Ok((elements, lists, core.datasets()?, members))
    })
    .await;
    let (elements, lists, datasets, members) = match loaded {
        Ok(l) => l,
        Err(e) => return ctx.error(e),
    };
    let page = DictionaryPage {
        c: ctx.chrome("dictionary"),
        elements: elements
            .into_iter()
            .map(|e| ElementItem {
                name: lang.pick(&e.name_vi, &e.name_en).to_owned(),
                value_type: kebab(&e.value_type),
                code_list: e.code_list,
                id: e.id,
            })
            .collect(),
        code_lists: lists
            .into_iter()
            .map(|l| CodeListItem {
                name: lang.pick(&l.name_vi, &l.name_en).to_owned(),
                version: l.version,
                entries: lang.number(l.entries.len() as u64),
                id: l.id,
            })
            .collect(),
        datasets: datasets
            .into_iter()
            .map(|s| DatasetItem {
                title: lang.pick(&s.title_vi, &s.title_en).to_owned(),
                owner: members
                    .get(&s.owner)
                    .map_or_else(|| s.owner.clone(), |(vi, en)| lang.pick(vi, en).to_owned()),
                openness: super::openness_label(ctx.lang, s.openness),
                original_master: flags(lang, &s),
                id: s.dataset,
            })
            .collect(),
    };
    Page::ok(&page, lang).into_response()
}

/// One entry of a code list.
pub struct EntryItem {
    code: String,
    label: String,
    parent: String,
}

/// A code list's page.
#[derive(Template)]
#[template(path = "code_list.html")]
pub struct CodeListPage {
    c: Chrome,
    id: String,
    name: String,
    version: u32,
    source: String,
    q: String,
    total: String,
    shown: String,
    entries: Vec<EntryItem>,
}

impl CodeListPage {
    /// Where the filter form goes.
    fn action(&self) -> String {
        format!("/dictionary/code-lists/{}", self.id)
    }
}

/// `GET /dictionary/code-lists/{id}?q=`: a code list's entries (the first 200 that match
/// the filter, diacritics folded: "ba dinh" finds "Phường Ba Đình").
pub async fn code_list_page(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let lang = ctx.lang;
    let q: String = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.trim().chars().take(100).collect())
        .unwrap_or_default();
    let core = st.core.clone();
    let list: CodeList = match blocking(move || core.code_list(&id, None)).await {
        Ok(l) => l,
        Err(e) => return ctx.error(e),
    };
    let needle = ndx_types::text::fold_lowercase(&q);
    let words: Vec<&str> = needle.split_whitespace().collect();
    let matching: Vec<EntryItem> = list
        .entries
        .iter()
        .filter(|e| {
            words.is_empty() || {
                let hay = ndx_types::text::fold_lowercase(&format!(
                    "{} {} {}",
                    e.code, e.label_vi, e.label_en
                ));
                words.iter().all(|w| hay.contains(w))
            }
        })
        .map(|e| EntryItem {
            code: e.code.clone(),
            label: lang.pick(&e.label_vi, &e.label_en).to_owned(),
            parent: e.parent.clone().unwrap_or_default(),
        })
        .collect();
    let total = matching.len();
    let entries: Vec<EntryItem> = matching.into_iter().take(LIST_ROWS).collect();
    let page = CodeListPage {
        c: ctx.chrome("dictionary"),
        name: lang.pick(&list.name_vi, &list.name_en).to_owned(),
        version: list.version,
        source: list.source.clone(),
        q,
        total: lang.number(total as u64),
        shown: lang.number(entries.len() as u64),
        entries,
        id: list.id,
    };
    Page::ok(&page, lang).into_response()
}

/// One field of a schema.
pub struct FieldItem {
    name: String,
    element: String,
    required: &'static str,
    sensitivity: String,
    code_list: Option<String>,
}

/// A dataset schema's page.
#[derive(Template)]
#[template(path = "dataset.html")]
pub struct DatasetPage {
    c: Chrome,
    id: String,
    title: String,
    description: String,
    owner: String,
    openness: String,
    original_master: String,
    version: String,
    key: String,
    fields: Vec<FieldItem>,
}

/// `GET /dictionary/datasets/{dataset}`: a dataset's current schema (never its records).
pub async fn dataset_page(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(dataset): Path<String>,
) -> Response {
    let lang = ctx.lang;
    let core = st.core.clone();
    let loaded = blocking(move || {
        let schema = core.schema(&dataset, None)?;
        let owner = core.member(&schema.owner)?;
        Ok((schema, owner))
    })
    .await;
    let (s, owner) = match loaded {
        Ok(l) => l,
        Err(e) => return ctx.error(e),
    };
    let m = lang.messages();
    let page = DatasetPage {
        c: ctx.chrome("dictionary"),
        title: lang.pick(&s.title_vi, &s.title_en).to_owned(),
        description: s.description.clone(),
        owner: lang.pick(&owner.name_vi, &owner.name_en).to_owned(),
        openness: super::openness_label(ctx.lang, s.openness),
        original_master: flags(lang, &s),
        version: s.version.to_string(),
        key: s.key.join(", "),
        fields: s
            .fields
            .iter()
            .map(|f| FieldItem {
                name: f.name.clone(),
                element: f.element.clone(),
                required: if f.required { m.yes } else { m.no },
                sensitivity: kebab(&f.sensitivity),
                code_list: f.code_list.as_ref().map(|l| l.id.clone()),
            })
            .collect(),
        id: s.dataset,
    };
    Page::ok(&page, lang).into_response()
}
