//! DCAT-AP 3 descriptions of what a node publishes: the open-data catalogue (each package a
//! `dcat:Dataset`, each file of its latest release a `dcat:Distribution`) and the strategy's
//! lists of original, master, open and shared data. One RDF graph is built and serialised as
//! Turtle (`oxttl`) or JSON-LD (`oxjsonld`), so that both forms always say the same. Subjects
//! are IRIs under the node's address; values use the EU Publications Office authorities
//! (data themes, frequencies, file types, languages, access rights) that DCAT-AP names.

use chrono::{DateTime, NaiveDate, Utc};
use ndx_types::dictionary::{DatasetSchema, Openness};
use ndx_types::open::{Package, Release};
use ndx_types::quality::UpdateFrequency;
use ndx_types::registry::Member;
use oxrdf::{Literal, NamedNode, NamedOrBlankNode, Term, Triple};

use crate::error::{Error, Result};

/// Namespaces, with the prefixes the serialisations use.
pub const PREFIXES: [(&str, &str); 9] = [
    ("dcat", DCAT),
    ("dct", DCT),
    ("foaf", FOAF),
    ("vcard", VCARD),
    ("spdx", SPDX),
    ("dcatap", DCATAP),
    ("xsd", XSD),
    ("rdf", RDF),
    ("skos", SKOS),
];

const DCAT: &str = "http://www.w3.org/ns/dcat#";
const DCT: &str = "http://purl.org/dc/terms/";
const FOAF: &str = "http://xmlns.com/foaf/0.1/";
const VCARD: &str = "http://www.w3.org/2006/vcard/ns#";
const SPDX: &str = "http://spdx.org/rdf/terms#";
const DCATAP: &str = "http://data.europa.eu/r5r/";
const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
const AUTHORITY: &str = "http://publications.europa.eu/resource/authority/";
const IANA: &str = "http://www.iana.org/assignments/media-types/";
const PUBLISHER_TYPE: &str = "http://purl.org/adms/publishertype/NationalAuthority";

/// An RDF graph, in the order its triples were added (grouped by subject).
#[derive(Debug, Default)]
pub struct Graph {
    triples: Vec<Triple>,
}

fn iri(s: &str) -> Result<NamedNode> {
    NamedNode::new(s).map_err(|e| Error::internal(format!("not an IRI: {s:?}: {e}")))
}

fn term(namespace: &str, local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{namespace}{local}"))
}

impl Graph {
    fn add(&mut self, subject: &NamedNode, predicate: NamedNode, object: impl Into<Term>) {
        self.triples.push(Triple::new(
            NamedOrBlankNode::NamedNode(subject.clone()),
            predicate,
            object,
        ));
    }

    fn a(&mut self, subject: &NamedNode, namespace: &str, class: &str) {
        self.add(subject, term(RDF, "type"), term(namespace, class));
    }

    /// A text in a language; nothing when empty.
    fn text(&mut self, subject: &NamedNode, predicate: NamedNode, text: &str, lang: &str) {
        if !text.is_empty() {
            self.add(
                subject,
                predicate,
                Literal::new_language_tagged_literal_unchecked(text, lang),
            );
        }
    }

    fn plain(&mut self, subject: &NamedNode, predicate: NamedNode, text: &str) {
        self.add(subject, predicate, Literal::new_simple_literal(text));
    }

    fn typed(&mut self, subject: &NamedNode, predicate: NamedNode, value: String, datatype: &str) {
        self.add(
            subject,
            predicate,
            Literal::new_typed_literal(value, term(XSD, datatype)),
        );
    }

    fn date_time(&mut self, subject: &NamedNode, predicate: NamedNode, t: DateTime<Utc>) {
        self.typed(
            subject,
            predicate,
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "dateTime",
        );
    }

    fn date(&mut self, subject: &NamedNode, predicate: NamedNode, d: NaiveDate) {
        self.typed(subject, predicate, d.to_string(), "date");
    }

    /// The triples, for tests and other serialisations.
    pub fn triples(&self) -> &[Triple] {
        &self.triples
    }

    /// The graph in Turtle.
    pub fn turtle(&self) -> Result<Vec<u8>> {
        let mut serializer = oxttl::TurtleSerializer::new();
        for (prefix, namespace) in PREFIXES {
            serializer = serializer
                .with_prefix(prefix, namespace)
                .map_err(|e| Error::internal(format!("prefix {prefix}: {e}")))?;
        }
        let mut writer = serializer.for_writer(Vec::new());
        for t in &self.triples {
            writer
                .serialize_triple(t)
                .map_err(|e| Error::internal(format!("writing Turtle: {e}")))?;
        }
        writer
            .finish()
            .map_err(|e| Error::internal(format!("writing Turtle: {e}")))
    }

    /// The graph in JSON-LD.
    pub fn json_ld(&self) -> Result<Vec<u8>> {
        let mut serializer = oxjsonld::JsonLdSerializer::new();
        for (prefix, namespace) in PREFIXES {
            serializer = serializer
                .with_prefix(prefix, namespace)
                .map_err(|e| Error::internal(format!("prefix {prefix}: {e}")))?;
        }
        let mut writer = serializer.for_writer(Vec::new());
        for t in &self.triples {
            writer
                .serialize_quad(t.as_ref().in_graph(oxrdf::GraphNameRef::DefaultGraph))
                .map_err(|e| Error::internal(format!("writing JSON-LD: {e}")))?;
        }
        writer
            .finish()
            .map_err(|e| Error::internal(format!("writing JSON-LD: {e}")))
    }
}

/// The canonical address of a licence of the code list `licence`.
fn licence_iri(code: &str, base: &str) -> String {
    match code {
        "cc-by-4.0" => "http://creativecommons.org/licenses/by/4.0/".into(),
        "cc0-1.0" => "http://creativecommons.org/publicdomain/zero/1.0/".into(),
        "odc-by-1.0" => "http://opendatacommons.org/licenses/by/1-0/".into(),
        "odbl-1.0" => "http://opendatacommons.org/licenses/odbl/1-0/".into(),
        other => format!("{base}/api/v1/code-lists/licence#{other}"),
    }
}

fn frequency_iri(f: UpdateFrequency) -> NamedNode {
    term(
        &format!("{AUTHORITY}frequency/"),
        match f {
            UpdateFrequency::Daily => "DAILY",
            UpdateFrequency::Weekly => "WEEKLY",
            UpdateFrequency::Monthly => "MONTHLY",
            UpdateFrequency::Quarterly => "QUARTERLY",
            UpdateFrequency::Yearly => "ANNUAL",
        },
    )
}

/// What the catalogue is about: the node, at the address its clients use.
pub struct CatalogInfo<'a> {
    /// `https://data.example.gov.vn` (no trailing slash).
    pub base: &'a str,
    /// Title in Vietnamese and English.
    pub title: (&'a str, &'a str),
    /// Description in Vietnamese and English.
    pub description: (&'a str, &'a str),
    /// The catalogue's publisher: a member (an agency's list), or the node itself.
    pub publisher: Option<&'a Member>,
    /// The address of the catalogue itself.
    pub about: String,
}

/// Builds DCAT graphs for one node address.
pub struct DcatBuilder<'a> {
    base: &'a str,
    graph: Graph,
    agents: Vec<String>,
}

impl<'a> DcatBuilder<'a> {
    /// A graph whose subjects are under `base`.
    pub fn new(base: &'a str) -> Self {
        DcatBuilder {
            base,
            graph: Graph::default(),
            agents: Vec::new(),
        }
    }

    /// The catalogue; its datasets are added with [`DcatBuilder::package`] or
    /// [`DcatBuilder::registered`].
    pub fn catalog(
        &mut self,
        info: &CatalogInfo<'_>,
        datasets: &[NamedNode],
        issued: DateTime<Utc>,
        modified: DateTime<Utc>,
    ) -> Result<NamedNode> {
        let c = iri(&info.about)?;
        let g = &mut self.graph;
        g.a(&c, DCAT, "Catalog");
        g.text(&c, term(DCT, "title"), info.title.0, "vi");
        g.text(&c, term(DCT, "title"), info.title.1, "en");
        g.text(&c, term(DCT, "description"), info.description.0, "vi");
        g.text(&c, term(DCT, "description"), info.description.1, "en");
        g.add(&c, term(FOAF, "homepage"), iri(&format!("{}/", self.base))?);
        for lang in ["VIE", "ENG"] {
            g.add(
                &c,
                term(DCT, "language"),
                term(&format!("{AUTHORITY}language/"), lang),
            );
        }
        g.add(
            &c,
            term(DCT, "spatial"),
            term(&format!("{AUTHORITY}country/"), "VNM"),
        );
        g.add(
            &c,
            term(DCAT, "themeTaxonomy"),
            term(AUTHORITY, "data-theme"),
        );
        g.date_time(&c, term(DCT, "issued"), issued);
        g.date_time(&c, term(DCT, "modified"), modified);
        for d in datasets {
            g.add(&c, term(DCAT, "dataset"), d.clone());
        }
        let publisher = match info.publisher {
            Some(m) => self.agent(m)?,
            None => self.node_agent()?,
        };
        self.graph.add(&c, term(DCT, "publisher"), publisher);
        Ok(c)
    }

    /// A member as a `foaf:Agent` (once per graph).
    fn agent(&mut self, m: &Member) -> Result<NamedNode> {
        let a = iri(&format!(
            "{}/api/v1/members/{}",
            self.base,
            m.code.to_lowercase()
        ))?;
        if !self.agents.contains(&m.code) {
            self.agents.push(m.code.clone());
            let g = &mut self.graph;
            g.a(&a, FOAF, "Agent");
            g.text(&a, term(FOAF, "name"), &m.name_vi, "vi");
            g.text(&a, term(FOAF, "name"), &m.name_en, "en");
            g.add(&a, term(DCT, "type"), iri(PUBLISHER_TYPE)?);
            g.plain(&a, term(DCT, "identifier"), &m.code);
        }
        Ok(a)
    }

    /// The node as a `foaf:Agent`, named by its address.
    fn node_agent(&mut self) -> Result<NamedNode> {
        let a = iri(&format!("{}/#node", self.base))?;
        let host = self
            .base
            .split_once("://")
            .map_or(self.base, |(_, host)| host);
        let g = &mut self.graph;
        g.a(&a, FOAF, "Agent");
        g.text(&a, term(FOAF, "name"), &format!("Nút ndx {host}"), "vi");
        g.text(&a, term(FOAF, "name"), &format!("ndx node {host}"), "en");
        g.add(&a, term(DCT, "type"), iri(PUBLISHER_TYPE)?);
        Ok(a)
    }

    /// A package as a `dcat:Dataset`, with its latest release's files as distributions.
    pub fn package(
        &mut self,
        p: &Package,
        release: Option<&Release>,
        publisher: &Member,
    ) -> Result<NamedNode> {
        let base = self.base;
        let d = iri(&format!("{base}/api/v1/packages/{}", p.name))?;
        let agent = self.agent(publisher)?;
        let g = &mut self.graph;
        g.a(&d, DCAT, "Dataset");
        g.plain(&d, term(DCT, "identifier"), &p.name);
        g.text(&d, term(DCT, "title"), &p.title_vi, "vi");
        g.text(&d, term(DCT, "title"), &p.title_en, "en");
        // DCAT-AP requires a description: the title stands in when none was written.
        let (desc_vi, desc_en) = match (p.description_vi.as_str(), p.description_en.as_str()) {
            ("", "") => (p.title_vi.as_str(), p.title_en.as_str()),
            pair => pair,
        };
        g.text(&d, term(DCT, "description"), desc_vi, "vi");
        g.text(&d, term(DCT, "description"), desc_en, "en");
        for k in &p.keywords {
            g.text(&d, term(DCAT, "keyword"), k, "vi");
        }
        g.add(
            &d,
            term(DCAT, "theme"),
            term(&format!("{AUTHORITY}data-theme/"), &p.theme),
        );
        g.add(&d, term(DCT, "publisher"), agent);
        g.add(
            &d,
            term(DCT, "accessRights"),
            term(&format!("{AUTHORITY}access-right/"), "PUBLIC"),
        );
        let contact = iri(&format!("{base}/api/v1/packages/{}#contact", p.name))?;
        g.add(&d, term(DCAT, "contactPoint"), contact.clone());
        if p.spatial.is_empty() {
            g.add(
                &d,
                term(DCT, "spatial"),
                term(&format!("{AUTHORITY}country/"), "VNM"),
            );
        }
        for province in &p.spatial {
            g.add(
                &d,
                term(DCT, "spatial"),
                iri(&format!(
                    "{base}/api/v1/code-lists/admin-province-2025#{province}"
                ))?,
            );
        }
        if let Some(f) = p.frequency {
            g.add(&d, term(DCT, "accrualPeriodicity"), frequency_iri(f));
        }
        g.date_time(&d, term(DCT, "issued"), p.created_at);
        g.date_time(
            &d,
            term(DCT, "modified"),
            release.map_or(p.created_at, |r| r.created_at),
        );
        let temporal = p
            .temporal
            .map(|_| iri(&format!("{base}/api/v1/packages/{}#temporal", p.name)))
            .transpose()?;
        if let Some(t) = &temporal {
            g.add(&d, term(DCT, "temporal"), t.clone());
        }
        let licence = iri(&licence_iri(&p.licence, base))?;
        let mut distributions = Vec::new();
        if let Some(r) = release {
            g.plain(&d, term(DCAT, "version"), &r.number.to_string());
            for f in &r.files {
                let dist = iri(&format!(
                    "{base}/api/v1/packages/{}/releases/{}#{}",
                    p.name, r.number, f.format
                ))?;
                g.add(&d, term(DCAT, "distribution"), dist.clone());
                distributions.push((dist, f));
            }
        }
        // The nodes the dataset points to, each described once.
        g.a(&contact, VCARD, "Kind");
        g.plain(&contact, term(VCARD, "fn"), &p.contact.name);
        g.add(
            &contact,
            term(VCARD, "hasEmail"),
            iri(&format!("mailto:{}", p.contact.email))?,
        );
        if let (Some(t), Some(period)) = (&temporal, p.temporal) {
            g.a(t, DCT, "PeriodOfTime");
            g.date(t, term(DCAT, "startDate"), period.start);
            if let Some(end) = period.end {
                g.date(t, term(DCAT, "endDate"), end);
            }
        }
        if let Some(r) = release {
            for (dist, f) in distributions {
                let url = iri(&format!(
                    "{base}/download/{}/{}/{}",
                    p.name, r.number, f.name
                ))?;
                g.a(&dist, DCAT, "Distribution");
                g.add(&dist, term(DCAT, "accessURL"), url.clone());
                g.add(&dist, term(DCAT, "downloadURL"), url);
                g.text(&dist, term(DCT, "title"), &f.name, "vi");
                g.text(
                    &dist,
                    term(DCT, "description"),
                    &format!(
                        "Bản phát hành {}: {} dòng, {}",
                        r.number,
                        r.rows,
                        f.format.to_uppercase()
                    ),
                    "vi",
                );
                g.text(
                    &dist,
                    term(DCT, "description"),
                    &format!(
                        "Release {}: {} rows, {}",
                        r.number,
                        r.rows,
                        f.format.to_uppercase()
                    ),
                    "en",
                );
                g.add(
                    &dist,
                    term(DCT, "format"),
                    term(&format!("{AUTHORITY}file-type/"), &f.format.to_uppercase()),
                );
                g.add(
                    &dist,
                    term(DCAT, "mediaType"),
                    iri(&format!("{IANA}{}", f.media_type))?,
                );
                g.add(&dist, term(DCT, "license"), licence.clone());
                g.add(
                    &dist,
                    term(DCATAP, "availability"),
                    term(&format!("{AUTHORITY}planned-availability/"), "STABLE"),
                );
                g.typed(
                    &dist,
                    term(DCAT, "byteSize"),
                    f.bytes.to_string(),
                    "nonNegativeInteger",
                );
                g.date_time(&dist, term(DCT, "issued"), r.created_at);
                let checksum = iri(&format!(
                    "{base}/api/v1/packages/{}/releases/{}#{}-sha256",
                    p.name, r.number, f.format
                ))?;
                g.add(&dist, term(SPDX, "checksum"), checksum.clone());
                g.a(&checksum, SPDX, "Checksum");
                g.add(
                    &checksum,
                    term(SPDX, "algorithm"),
                    term(SPDX, "checksumAlgorithm_sha256"),
                );
                g.typed(
                    &checksum,
                    term(SPDX, "checksumValue"),
                    f.sha256.clone(),
                    "hexBinary",
                );
            }
        }
        g.add(&licence, term(RDF, "type"), term(DCT, "LicenseDocument"));
        Ok(d)
    }

    /// A dataset registered in the dictionary (for the strategy's lists), with the packages
    /// published from it.
    pub fn registered(
        &mut self,
        schema: &DatasetSchema,
        owner: &Member,
        packages: &[String],
    ) -> Result<NamedNode> {
        let base = self.base;
        let d = iri(&format!(
            "{base}/api/v1/exchange/datasets/{}",
            schema.dataset
        ))?;
        let agent = self.agent(owner)?;
        let g = &mut self.graph;
        g.a(&d, DCAT, "Dataset");
        g.plain(&d, term(DCT, "identifier"), &schema.dataset);
        g.text(&d, term(DCT, "title"), &schema.title_vi, "vi");
        g.text(&d, term(DCT, "title"), &schema.title_en, "en");
        let description = if schema.description.is_empty() {
            &schema.title_en
        } else {
            &schema.description
        };
        g.text(&d, term(DCT, "description"), description, "en");
        g.add(&d, term(DCT, "publisher"), agent);
        g.add(
            &d,
            term(DCT, "accessRights"),
            term(
                &format!("{AUTHORITY}access-right/"),
                match schema.openness {
                    Openness::Open => "PUBLIC",
                    Openness::Shared => "RESTRICTED",
                    Openness::Restricted => "NON_PUBLIC",
                },
            ),
        );
        g.add(
            &d,
            term(DCT, "conformsTo"),
            iri(&format!(
                "{base}/api/v1/datasets/{}/schema?version={}",
                schema.dataset, schema.version
            ))?,
        );
        g.plain(&d, term(DCAT, "version"), &schema.version.to_string());
        if let Some(f) = schema.update_frequency {
            g.add(&d, term(DCT, "accrualPeriodicity"), frequency_iri(f));
        }
        for p in packages {
            g.add(
                &d,
                term(DCT, "hasPart"),
                iri(&format!("{base}/api/v1/packages/{p}"))?,
            );
        }
        Ok(d)
    }

    /// The graph built.
    pub fn finish(self) -> Graph {
        self.graph
    }
}
