//! Search over the open-data packages (CKAN's `package_search`): a tantivy index in memory,
//! its text folded (lower case, no diacritics: "ha noi" finds "Hà Nội"), rebuilt from the
//! catalogue whenever the catalogue's generation moved (a package defined, a release made, in
//! any process), with filters and facets on the publisher, keywords, theme, file formats and
//! licence.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions, Value as _,
};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, SimpleTokenizer, TextAnalyzer};
use tantivy::{DocAddress, Index, IndexReader, Order, Term, doc};

use crate::Core;
use crate::error::{Code, Error, Result};

/// The analyser of every searchable text.
const FOLDED: &str = "folded";

/// The fields `fq` and facets may name.
pub const FACET_FIELDS: [&str; 5] = ["organization", "tags", "groups", "res_format", "license_id"];

/// Most results one page answers.
pub const MAX_ROWS: usize = 1000;

/// One built index, for one catalogue generation.
struct Built {
    generation: u64,
    reader: IndexReader,
    fields: Fields,
    text_parser: QueryParser,
}

#[derive(Clone, Copy)]
struct Fields {
    name: Field,
    text: Field,
    title: Field,
    modified: Field,
    organization: Field,
    tags: Field,
    groups: Field,
    res_format: Field,
    license_id: Field,
}

impl Fields {
    fn facet(&self, name: &str) -> Option<Field> {
        Some(match name {
            "organization" => self.organization,
            "tags" => self.tags,
            "groups" => self.groups,
            "res_format" => self.res_format,
            "license_id" => self.license_id,
            _ => return None,
        })
    }
}

/// The package index of a node.
#[derive(Default)]
pub(crate) struct PackageIndex(Mutex<Option<Arc<Built>>>);

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSort {
    /// Relevance, then name.
    Score,
    /// Newest release first.
    Modified,
    /// By name.
    Name,
    /// By title.
    Title,
}

/// A search as CKAN's `package_search` takes it.
#[derive(Debug, Clone)]
pub struct PackageQuery {
    /// Free text (`q`); empty or `*:*` for every package.
    pub q: String,
    /// `field:value` filters (`fq`), all of which must hold.
    pub filters: Vec<(String, String)>,
    /// Results per page (`rows`).
    pub rows: usize,
    /// Results skipped (`start`).
    pub start: usize,
    /// Order (`sort`).
    pub sort: SearchSort,
    /// Fields to count values of (`facet.field`).
    pub facets: Vec<String>,
    /// Values listed per facet (`facet.limit`).
    pub facet_limit: usize,
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct PackageHits {
    /// Matching packages in all.
    pub count: usize,
    /// The page's package names, in order.
    pub names: Vec<String>,
    /// Per facet field, each value with its count, most frequent first.
    pub facets: BTreeMap<String, Vec<(String, usize)>>,
}

fn text_options(stored: bool) -> TextOptions {
    let o = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(FOLDED)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    if stored { o.set_stored() } else { o }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("the package index: {e}"))
}

/// Parses CKAN's `fq`: `field:value` terms separated by spaces, a value quoted when it has
/// spaces (`tags:"dân số"`), optionally prefixed `+`.
pub fn parse_fq(fq: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = fq.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches('+');
        let Some((field, after)) = rest.split_once(':') else {
            return Err(Error::of(
                Code::FilterValueInvalid,
                format!("fq: {rest:?} is not field:value"),
            ));
        };
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, n)) => (v, n),
                None => {
                    return Err(Error::of(
                        Code::FilterValueInvalid,
                        format!("fq: unclosed quote in {after:?}"),
                    ));
                }
            }
        } else {
            after.split_once(' ').unwrap_or((after, ""))
        };
        if !FACET_FIELDS.contains(&field.trim()) {
            return Err(Error::of(
                Code::FilterUnknownField,
                format!("fq: {field:?} is not one of {FACET_FIELDS:?}"),
            ));
        }
        out.push((field.trim().to_owned(), value.to_owned()));
        rest = next.trim();
    }
    Ok(out)
}

impl Core {
    /// The index as of the catalogue's current generation (rebuilt if anything changed).
    fn package_index(&self) -> Result<Arc<Built>> {
        let generation = self.generation()?;
        let mut slot = self
            .package_index
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = slot.as_ref()
            && b.generation == generation
        {
            return Ok(b.clone());
        }
        let built = Arc::new(self.build_package_index(generation)?);
        *slot = Some(built.clone());
        Ok(built)
    }

    fn build_package_index(&self, generation: u64) -> Result<Built> {
        let mut sb = Schema::builder();
        let fields = Fields {
            name: sb.add_text_field("name", STRING | STORED),
            text: sb.add_text_field("text", text_options(false)),
            title: sb.add_text_field("title", STRING | FAST),
            modified: sb.add_i64_field("modified", FAST),
            organization: sb.add_text_field("organization", STRING | STORED),
            tags: sb.add_text_field("tags", STRING | STORED),
            groups: sb.add_text_field("groups", STRING | STORED),
            res_format: sb.add_text_field("res_format", STRING | STORED),
            license_id: sb.add_text_field("license_id", STRING | STORED),
        };
        let index = Index::create_in_ram(sb.build());
        index.tokenizers().register(
            FOLDED,
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .build(),
        );
        let mut writer = index
            .writer_with_num_threads(1, 15_000_000)
            .map_err(internal)?;
        let members: BTreeMap<String, String> = self
            .members()?
            .into_iter()
            .map(|m| (m.code.clone(), format!("{} {}", m.name_vi, m.name_en)))
            .collect();
        for p in self.packages()? {
            let release = self.latest_release(&p.name)?;
            let modified = release.as_ref().map_or(p.created_at, |r| r.created_at);
            let mut d = doc!(
                fields.name => p.name.clone(),
                fields.title => ndx_types::text::fold_lowercase(&p.title_vi),
                fields.modified => modified.timestamp_micros(),
                fields.organization => p.publisher.to_lowercase(),
                fields.groups => p.theme.to_lowercase(),
                fields.license_id => p.licence.clone(),
            );
            let text = [
                p.name.as_str(),
                &p.title_vi,
                &p.title_en,
                &p.description_vi,
                &p.description_en,
                &p.keywords.join(" "),
                members.get(&p.publisher).map_or("", String::as_str),
            ]
            .join(" ");
            d.add_text(fields.text, &text);
            for k in &p.keywords {
                d.add_text(fields.tags, k);
            }
            for f in release.iter().flat_map(|r| &r.files) {
                d.add_text(fields.res_format, f.format.to_uppercase());
            }
            writer.add_document(d).map_err(internal)?;
        }
        writer.commit().map_err(internal)?;
        let reader = index.reader().map_err(internal)?;
        let mut text_parser = QueryParser::for_index(&index, vec![fields.text]);
        text_parser.set_conjunction_by_default();
        Ok(Built {
            generation,
            reader,
            fields,
            text_parser,
        })
    }

    /// CKAN's `package_search` over every package.
    pub fn search_packages(&self, query: &PackageQuery) -> Result<PackageHits> {
        let built = self.package_index()?;
        let f = built.fields;
        let searcher = built.reader.searcher();
        let q = query.q.trim();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if q.is_empty() || q == "*:*" || q == "*" {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        } else {
            // Free text is words, not query syntax: quote each so that no character of the
            // query language applies.
            let words: Vec<String> = q
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| format!("\"{w}\""))
                .collect();
            if words.is_empty() {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            } else {
                let parsed = built
                    .text_parser
                    .parse_query(&words.join(" "))
                    .map_err(|e| Error::of(Code::FilterValueInvalid, format!("q: {e}")))?;
                clauses.push((Occur::Must, parsed));
            }
        }
        for (field, value) in &query.filters {
            let Some(fi) = f.facet(field) else { continue };
            let value = match field.as_str() {
                "organization" | "groups" => value.to_lowercase(),
                "res_format" => value.to_uppercase(),
                _ => value.clone(),
            };
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(fi, &value),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        let all = BooleanQuery::new(clauses);
        let count = searcher.search(&all, &Count).map_err(internal)?;
        let want = query.start + query.rows;
        let addresses: Vec<DocAddress> = match query.sort {
            SearchSort::Score => searcher
                .search(&all, &TopDocs::with_limit(want.max(1)))
                .map_err(internal)?
                .into_iter()
                .map(|(_, a)| a)
                .collect(),
            SearchSort::Modified => searcher
                .search(
                    &all,
                    &TopDocs::with_limit(want.max(1))
                        .order_by_fast_field::<i64>("modified", Order::Desc),
                )
                .map_err(internal)?
                .into_iter()
                .map(|(_, a)| a)
                .collect(),
            SearchSort::Name | SearchSort::Title => {
                let mut every: Vec<(String, DocAddress)> = Vec::new();
                for a in searcher.search(&all, &DocSetCollector).map_err(internal)? {
                    let d: TantivyDocument = searcher.doc(a).map_err(internal)?;
                    let name = d
                        .get_first(f.name)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned();
                    every.push((name, a));
                }
                every.sort();
                every.into_iter().map(|(_, a)| a).collect()
            }
        };
        let mut names = Vec::new();
        for a in addresses.into_iter().skip(query.start).take(query.rows) {
            let d: TantivyDocument = searcher.doc(a).map_err(internal)?;
            if let Some(n) = d.get_first(f.name).and_then(|v| v.as_str()) {
                names.push(n.to_owned());
            }
        }
        let mut facets = BTreeMap::new();
        if !query.facets.is_empty() {
            let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
            for a in searcher.search(&all, &DocSetCollector).map_err(internal)? {
                let d: TantivyDocument = searcher.doc(a).map_err(internal)?;
                for name in &query.facets {
                    let Some(fi) = f.facet(name) else { continue };
                    let entry = counts.entry(name.clone()).or_default();
                    let mut seen = std::collections::BTreeSet::new();
                    for v in d.get_all(fi).filter_map(|v| v.as_str()) {
                        if seen.insert(v.to_owned()) {
                            *entry.entry(v.to_owned()).or_default() += 1;
                        }
                    }
                }
            }
            for name in &query.facets {
                let mut items: Vec<(String, usize)> = counts
                    .remove(name)
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                items.truncate(query.facet_limit);
                facets.insert(name.clone(), items);
            }
        }
        Ok(PackageHits {
            count,
            names,
            facets,
        })
    }
}
