//! The web UI's two languages: every text of the interface is a field of [`Messages`], with
//! one constant per language, so that a text missing in either does not compile; numbers and
//! dates are written as each language writes them; the language is chosen by the `ndx_lang`
//! cookie, then `Accept-Language`, then Vietnamese.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The cookie that keeps the chosen language.
pub const LANG_COOKIE: &str = "ndx_lang";

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Tiếng Việt (the default).
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag (`vi`, `en`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The language of a tag (`vi`, `en`, `en-GB`…), if it is one of the two.
    pub fn of_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language (the switch offers it).
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// The texts in this language.
    pub fn messages(self) -> &'static Messages {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }

    /// One of two texts: the Vietnamese or the English (of a record that has both).
    pub fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::En if !en.is_empty() => en,
            _ => vi,
        }
    }

    /// An integer with the language's digit grouping: `1.234.567` or `1,234,567`.
    pub fn number(self, n: u64) -> String {
        let sep = match self {
            Lang::Vi => '.',
            Lang::En => ',',
        };
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(d);
        }
        out
    }

    /// A share as a percentage with one decimal: `87,5 %` or `87.5%`.
    pub fn percent(self, share: f64) -> String {
        let p = format!("{:.1}", share * 100.0);
        match self {
            Lang::Vi => format!("{} %", p.replace('.', ",")),
            Lang::En => format!("{p}%"),
        }
    }

    /// A byte size: `1,5 MB` or `1.5 MB`.
    pub fn bytes(self, n: u64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"];
        let mut value = n as f64;
        let mut unit = 0;
        while value >= 1000.0 && unit < units.len() - 1 {
            value /= 1000.0;
            unit += 1;
        }
        let text = if unit == 0 {
            n.to_string()
        } else {
            format!("{value:.1}")
        };
        let text = match self {
            Lang::Vi => text.replace('.', ","),
            Lang::En => text,
        };
        format!("{text} {}", units[unit])
    }

    /// A day: `07/12/2026` or `7 Dec 2026`.
    pub fn date(self, day: NaiveDate) -> String {
        match self {
            Lang::Vi => day.format("%d/%m/%Y").to_string(),
            Lang::En => format!(
                "{} {} {}",
                day.day(),
                MONTHS_EN[day.month0() as usize],
                day.year()
            ),
        }
    }

    /// A moment, in UTC: `07/12/2026 14:05 UTC` or `7 Dec 2026 14:05 UTC`.
    pub fn time(self, t: DateTime<Utc>) -> String {
        format!("{} {} UTC", self.date(t.date_naive()), t.format("%H:%M"))
    }
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The language of a request: the `ndx_lang` cookie, then the first of `Accept-Language`'s
/// languages ndx speaks, then Vietnamese.
impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(of_headers(&parts.headers))
    }
}

/// The language the headers ask for.
pub fn of_headers(headers: &axum::http::HeaderMap) -> Lang {
    if let Some(lang) = super::session::cookie(headers, LANG_COOKIE).and_then(|v| Lang::of_tag(&v))
    {
        return lang;
    }
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut ranked: Vec<(f32, Lang)> = accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let lang = Lang::of_tag(pieces.next()?.trim())?;
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, lang))
        })
        .collect();
    // A stable sort keeps the order of equal weights, as the header gave them.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map_or(Lang::Vi, |(_, lang)| *lang)
}

/// Every text of the interface, in one language.
#[derive(Debug)]
pub struct Messages {
    /// The product's name in the header.
    pub site_name: &'static str,
    /// What the platform is, under the name.
    pub site_tagline: &'static str,
    /// The skip link's text.
    pub skip_to_content: &'static str,
    /// The main navigation's label.
    pub nav_label: &'static str,
    /// Navigation: home.
    pub nav_home: &'static str,
    /// Navigation: open data.
    pub nav_open_data: &'static str,
    /// Navigation: the data dictionary.
    pub nav_dictionary: &'static str,
    /// Navigation: sign in.
    pub nav_sign_in: &'static str,
    /// Navigation: sign out.
    pub nav_sign_out: &'static str,
    /// The language switch, in the *other* language ("English" on a Vietnamese page).
    pub switch_to_other: &'static str,
    /// The footer's text.
    pub footer: &'static str,
    /// The link to the API's description.
    pub footer_api: &'static str,
    /// Home: the heading.
    pub home_title: &'static str,
    /// Home: the lead paragraph.
    pub home_lead: &'static str,
    /// Home: the figures' heading.
    pub home_figures: &'static str,
    /// Home: what each kind of user finds, heading.
    pub home_for_whom: &'static str,
    /// Home: the public's entry.
    pub home_public: &'static str,
    /// Home: the citizens' entry.
    pub home_citizen: &'static str,
    /// Home: the agencies' entry.
    pub home_agencies: &'static str,
    /// Figure: open-data packages.
    pub stat_packages: &'static str,
    /// Figure: datasets in the dictionary.
    pub stat_datasets: &'static str,
    /// Figure: member agencies.
    pub stat_members: &'static str,
    /// Figure: code lists.
    pub stat_code_lists: &'static str,
    /// The search field's label.
    pub search_label: &'static str,
    /// The search field's hint.
    pub search_hint: &'static str,
    /// The search button.
    pub search_button: &'static str,
    /// Open data: the heading.
    pub open_data_title: &'static str,
    /// Open data: the lead.
    pub open_data_lead: &'static str,
    /// Open data: "packages found" after the count.
    pub packages_found: &'static str,
    /// Open data: nothing found.
    pub no_results: &'static str,
    /// Open data: the facets' heading.
    pub refine: &'static str,
    /// Facet: publisher.
    pub facet_organization: &'static str,
    /// Facet: keyword.
    pub facet_tags: &'static str,
    /// Facet: theme.
    pub facet_groups: &'static str,
    /// Facet: file format.
    pub facet_res_format: &'static str,
    /// Facet: licence.
    pub facet_license_id: &'static str,
    /// Remove every filter.
    pub clear_filters: &'static str,
    /// A filter in force, before its value.
    pub filtered_by: &'static str,
    /// Paging: previous.
    pub previous_page: &'static str,
    /// Paging: next.
    pub next_page: &'static str,
    /// Paging: "page".
    pub page: &'static str,
    /// Package: publisher.
    pub publisher: &'static str,
    /// Package: licence.
    pub licence: &'static str,
    /// Package: theme.
    pub theme: &'static str,
    /// Package: update frequency.
    pub frequency: &'static str,
    /// Frequency: daily.
    pub freq_daily: &'static str,
    /// Frequency: weekly.
    pub freq_weekly: &'static str,
    /// Frequency: monthly.
    pub freq_monthly: &'static str,
    /// Frequency: quarterly.
    pub freq_quarterly: &'static str,
    /// Frequency: yearly.
    pub freq_yearly: &'static str,
    /// Package: temporal coverage.
    pub temporal: &'static str,
    /// Package: spatial coverage.
    pub spatial: &'static str,
    /// Package: the whole country.
    pub whole_country: &'static str,
    /// Package: contact point.
    pub contact: &'static str,
    /// Package: keywords.
    pub keywords: &'static str,
    /// Package: source dataset.
    pub source_dataset: &'static str,
    /// Package: last updated.
    pub updated: &'static str,
    /// Package: the metadata table's caption.
    pub metadata: &'static str,
    /// Package: downloads' heading.
    pub downloads: &'static str,
    /// Package: the download link's text.
    pub download: &'static str,
    /// Package: no release yet.
    pub no_release: &'static str,
    /// File: format.
    pub format: &'static str,
    /// File: size.
    pub size: &'static str,
    /// File: SHA-256.
    pub checksum: &'static str,
    /// Release: number.
    pub release: &'static str,
    /// Releases' heading.
    pub releases: &'static str,
    /// Release: rows.
    pub rows: &'static str,
    /// Release: published on.
    pub published: &'static str,
    /// Preview's heading.
    pub preview: &'static str,
    /// Preview's caption: the first rows of.
    pub preview_caption: &'static str,
    /// Privacy's heading.
    pub privacy: &'static str,
    /// Privacy: k reached.
    pub privacy_k: &'static str,
    /// Privacy: l reached.
    pub privacy_l: &'static str,
    /// Privacy: rows suppressed.
    pub privacy_suppressed: &'static str,
    /// Privacy: what was generalised.
    pub privacy_generalised: &'static str,
    /// Privacy: no personal data.
    pub privacy_none: &'static str,
    /// The API link of a package.
    pub api_access: &'static str,
    /// Dictionary: the heading.
    pub dictionary_title: &'static str,
    /// Dictionary: the lead.
    pub dictionary_lead: &'static str,
    /// Dictionary: data elements.
    pub elements: &'static str,
    /// Dictionary: code lists.
    pub code_lists: &'static str,
    /// Dictionary: dataset schemas.
    pub datasets: &'static str,
    /// Column: identifier.
    pub identifier: &'static str,
    /// Column: name.
    pub name: &'static str,
    /// Column: value type.
    pub value_type: &'static str,
    /// Column: code.
    pub code: &'static str,
    /// Column: label.
    pub label: &'static str,
    /// Column: parent code.
    pub parent: &'static str,
    /// Column: entries.
    pub entries: &'static str,
    /// Column: version.
    pub version: &'static str,
    /// Column: source of a list.
    pub source: &'static str,
    /// Column: owner.
    pub owner: &'static str,
    /// Column: openness.
    pub openness: &'static str,
    /// Column: field.
    pub field: &'static str,
    /// Column: element.
    pub element: &'static str,
    /// Column: required.
    pub required: &'static str,
    /// Column: sensitivity.
    pub sensitivity: &'static str,
    /// Column: key fields.
    pub key: &'static str,
    /// Column: records.
    pub records: &'static str,
    /// Dataset flags: original, master.
    pub original_master: &'static str,
    /// Yes.
    pub yes: &'static str,
    /// No.
    pub no: &'static str,
    /// Filter a code list.
    pub filter_entries: &'static str,
    /// Not found: heading.
    pub not_found_title: &'static str,
    /// Not found: text.
    pub not_found_text: &'static str,
    /// Navigation: the citizen's own data.
    pub nav_my_data: &'static str,
    /// Before the signed-in person's name.
    pub signed_in_as: &'static str,
    /// A form refused as cross-site or stale.
    pub csrf_refused: &'static str,
    /// Sign-in: a field left empty.
    pub sign_in_missing: &'static str,
    /// Sign-in: the pair did not match.
    pub sign_in_failed: &'static str,
    /// Sign-in: too many failures.
    pub sign_in_throttled: &'static str,
    /// Sign-in: the citizens' form.
    pub sign_in_citizen: &'static str,
    /// Sign-in: what citizens find.
    pub sign_in_citizen_lead: &'static str,
    /// Sign-in: the agencies' form.
    pub sign_in_account: &'static str,
    /// Sign-in: what staff find.
    pub sign_in_account_lead: &'static str,
    /// The citizen ID's label.
    pub citizen_id: &'static str,
    /// The password's label.
    pub password: &'static str,
    /// The login name's label.
    pub login: &'static str,
    /// My data: the heading.
    pub my_data: &'static str,
    /// My data: the lead.
    pub my_data_lead: &'static str,
    /// My data: the records' heading.
    pub data_held: &'static str,
    /// My data: no record.
    pub no_data_held: &'static str,
    /// Column: value.
    pub value: &'static str,
    /// My data: the accesses' heading.
    pub accesses: &'static str,
    /// My data: the accesses' lead.
    pub accesses_lead: &'static str,
    /// My data: no access yet.
    pub no_accesses: &'static str,
    /// Column: when.
    pub when: &'static str,
    /// Column: who.
    pub who: &'static str,
    /// Column: operation.
    pub what: &'static str,
    /// Column: fields.
    pub fields: &'static str,
    /// Column: purpose.
    pub purpose: &'static str,
    /// Column: legal basis.
    pub legal_basis: &'static str,
    /// Column: decision.
    pub decision: &'static str,
    /// An access that was allowed.
    pub allowed: &'static str,
    /// An access that was refused.
    pub refused: &'static str,
    /// The citizen themself, as the actor of an access.
    pub you: &'static str,
    /// An error: heading.
    pub error_title: &'static str,
    /// An error: text.
    pub error_text: &'static str,
    /// Records accepted.
    pub accepted: &'static str,
    /// Link from the provider's page to the agreements.
    pub agreements_to_decide: &'static str,
    /// Every schema version.
    pub all_versions: &'static str,
    /// Who did it.
    pub by: &'static str,
    /// New / updated / unchanged / deleted counts.
    pub created_updated: &'static str,
    /// A dataset (column heading).
    pub dataset: &'static str,
    /// An error's code.
    pub error_code: &'static str,
    /// When something ended.
    pub finished: &'static str,
    /// An import that was committed.
    pub import_committed: &'static str,
    /// An import that failed.
    pub import_failed: &'static str,
    /// An import refused as a whole.
    pub import_rejected: &'static str,
    /// An import being read.
    pub import_running: &'static str,
    /// An import's page heading.
    pub import_heading: &'static str,
    /// While an import runs.
    pub import_in_progress: &'static str,
    /// The imports of a dataset.
    pub imports: &'static str,
    /// A line of a file.
    pub line: &'static str,
    /// An error's message.
    pub message: &'static str,
    /// How invalid rows are handled.
    pub mode: &'static str,
    /// Atomic mode.
    pub mode_atomic: &'static str,
    /// Per-record mode.
    pub mode_per_record: &'static str,
    /// Navigation: agreements.
    pub nav_agreements: &'static str,
    /// Navigation: the consumer's catalogue.
    pub nav_catalogue: &'static str,
    /// Navigation: the provider's pages.
    pub nav_provider: &'static str,
    /// No datasets.
    pub no_datasets: &'static str,
    /// No imports.
    pub no_imports: &'static str,
    /// Openness: open.
    pub openness_open: &'static str,
    /// Openness: restricted.
    pub openness_restricted: &'static str,
    /// Openness: shared.
    pub openness_shared: &'static str,
    /// The provider's datasets (caption).
    pub own_datasets: &'static str,
    /// Quality (overall).
    pub quality: &'static str,
    /// Criterion: accurate.
    pub quality_accurate: &'static str,
    /// Criterion: clean.
    pub quality_clean: &'static str,
    /// Criterion: in common use.
    pub quality_common_use: &'static str,
    /// Criterion: complete.
    pub quality_complete: &'static str,
    /// The six quality criteria (caption).
    pub quality_criteria: &'static str,
    /// Criterion: live.
    pub quality_live: &'static str,
    /// Criterion: unified.
    pub quality_unified: &'static str,
    /// Records read.
    pub received: &'static str,
    /// Refresh the page.
    pub refresh: &'static str,
    /// Records rejected.
    pub rejected: &'static str,
    /// The rejected rows (caption).
    pub rejected_rows: &'static str,
    /// More rows rejected than listed.
    pub rejected_truncated: &'static str,
    /// A row of a file.
    pub row: &'static str,
    /// After a count of rows read.
    pub rows_read: &'static str,
    /// A dataset's schema.
    pub schema: &'static str,
    /// When something started.
    pub started: &'static str,
    /// A status.
    pub status: &'static str,
    /// Upload button.
    pub upload_button: &'static str,
    /// No file chosen.
    pub upload_choose_file: &'static str,
    /// An empty file.
    pub upload_empty: &'static str,
    /// The file field.
    pub upload_file: &'static str,
    /// A file of another format.
    pub upload_format: &'static str,
    /// The upload form's heading.
    pub upload_heading: &'static str,
    /// The file field's hint.
    pub upload_hint: &'static str,
    /// The upload form's lead.
    pub upload_lead: &'static str,
    /// Before the size limit.
    pub upload_limit: &'static str,
    /// A file over the limit ({mib} is replaced).
    pub upload_too_large: &'static str,
    /// An agreement (heading).
    pub agreement: &'static str,
    /// Approve an agreement.
    pub approve: &'static str,
    /// Reject a request.
    pub reject: &'static str,
    /// Suspend an agreement.
    pub suspend: &'static str,
    /// Revoke an agreement.
    pub revoke: &'static str,
    /// The catalogue's lead.
    pub catalogue_lead: &'static str,
    /// Link to the consumer's agreements.
    pub my_agreements: &'static str,
    /// Number of fields.
    pub field_count: &'static str,
    /// Ask for an agreement.
    pub request_agreement: &'static str,
    /// The request form's lead.
    pub request_lead: &'static str,
    /// A form with errors.
    pub form_has_errors: &'static str,
    /// The fields of an agreement.
    pub fields_wanted: &'static str,
    /// The operations of an agreement.
    pub operations_wanted: &'static str,
    /// Operation: lookup.
    pub op_lookup: &'static str,
    /// Operation: search.
    pub op_search: &'static str,
    /// Operation: extract.
    pub op_extract: &'static str,
    /// Operation: subscribe.
    pub op_subscribe: &'static str,
    /// A field that needs the subject's consent.
    pub consent_needed: &'static str,
    /// Hint of the legal basis.
    pub legal_text_hint: &'static str,
    /// The legal reference.
    pub legal_reference: &'static str,
    /// Hint of the legal reference.
    pub legal_reference_hint: &'static str,
    /// Until when.
    pub valid_until: &'static str,
    /// Hint of the end date.
    pub valid_until_hint: &'static str,
    /// The quota.
    pub quota: &'static str,
    /// Requests per day.
    pub requests_per_day: &'static str,
    /// Records per day.
    pub records_per_day: &'static str,
    /// Send the request.
    pub send_request: &'static str,
    /// No field chosen.
    pub choose_fields: &'static str,
    /// No operation chosen.
    pub choose_operations: &'static str,
    /// No purpose chosen.
    pub choose_purpose: &'static str,
    /// A value not offered by the form.
    pub unknown_choice: &'static str,
    /// No legal basis.
    pub legal_text_needed: &'static str,
    /// No legal reference.
    pub legal_reference_needed: &'static str,
    /// A text too long.
    pub too_long: &'static str,
    /// Not a date.
    pub date_invalid: &'static str,
    /// A date not in the future.
    pub date_in_future: &'static str,
    /// A quota that is not a positive whole number.
    pub quota_invalid: &'static str,
    /// Status: requested.
    pub status_requested: &'static str,
    /// Status: approved.
    pub status_approved: &'static str,
    /// Status: rejected.
    pub status_rejected: &'static str,
    /// Status: suspended.
    pub status_suspended: &'static str,
    /// Status: revoked.
    pub status_revoked: &'static str,
    /// Status: expired.
    pub status_expired: &'static str,
    /// After a count of requests.
    pub requests_word: &'static str,
    /// After a count of records.
    pub records_word: &'static str,
    /// Requests waiting for a decision.
    pub requests_waiting: &'static str,
    /// The consumer system.
    pub consumer: &'static str,
    /// The validity period.
    pub validity: &'static str,
    /// Use today against the quota.
    pub use_today: &'static str,
    /// No agreements.
    pub no_agreements: &'static str,
    /// When and by whom requested.
    pub requested: &'static str,
    /// The last change.
    pub last_change: &'static str,
    /// The decisions heading.
    pub decide: &'static str,
    /// A decision's reason.
    pub reason: &'static str,
    /// An optional field.
    pub optional: &'static str,
    /// A rejection without reason.
    pub reason_needed: &'static str,
    /// Navigation: reconciliation.
    pub nav_reconciliations: &'static str,
    /// The runs list's lead.
    pub reconciliations_lead: &'static str,
    /// The runs (caption).
    pub runs: &'static str,
    /// A finished run.
    pub run_done: &'static str,
    /// The register checked.
    pub target_register: &'static str,
    /// The reference register.
    pub reference_register: &'static str,
    /// The share matched.
    pub match_rate: &'static str,
    /// Proposed corrections.
    pub proposals: &'static str,
    /// No runs.
    pub no_runs: &'static str,
    /// A reconciliation (heading).
    pub reconciliation: &'static str,
    /// The statuses of target records.
    pub statuses: &'static str,
    /// Findings.
    pub findings: &'static str,
    /// A part of the report.
    pub report_part: &'static str,
    /// No proposals in this part.
    pub no_proposals: &'static str,
    /// The differences of a row.
    pub differences: &'static str,
    /// The kind of a difference.
    pub difference_kind: &'static str,
    /// The reference's value.
    pub proposed_value: &'static str,
    /// A note.
    pub note: &'static str,
    /// Accept a correction.
    pub accept_correction: &'static str,
    /// Reject a correction.
    pub reject_correction: &'static str,
    /// A correction accepted.
    pub accepted_decision: &'static str,
    /// A correction rejected.
    pub rejected_decision: &'static str,
    /// Navigation: indicators.
    pub nav_indicators: &'static str,
    /// The indicators page's lead.
    pub indicators_lead: &'static str,
    /// The overall row.
    pub all_agencies: &'static str,
    /// Datasets registered.
    pub ind_datasets: &'static str,
    /// Original datasets.
    pub ind_original: &'static str,
    /// Master datasets.
    pub ind_master: &'static str,
    /// Open datasets.
    pub ind_open: &'static str,
    /// Shared datasets.
    pub ind_shared: &'static str,
    /// Open-data packages published.
    pub ind_packages: &'static str,
    /// Freshness.
    pub ind_freshness: &'static str,
    /// Match rate with the population register.
    pub ind_match_rate: &'static str,
    /// Systems connected.
    pub ind_systems: &'static str,
    /// Agreements in force.
    pub ind_agreements: &'static str,
    /// Requests shared today.
    pub ind_requests_today: &'static str,
    /// Requests shared in 30 days.
    pub ind_requests_30: &'static str,
    /// The per-agency table.
    pub ind_per_agency: &'static str,
    /// Chart: datasets per agency.
    pub chart_datasets: &'static str,
    /// Its description.
    pub chart_datasets_desc: &'static str,
    /// Chart: quality per agency.
    pub chart_quality: &'static str,
    /// Its description.
    pub chart_quality_desc: &'static str,
    /// Chart: sharing per day.
    pub chart_sharing: &'static str,
    /// Its description.
    pub chart_sharing_desc: &'static str,
    /// Chart: match rate per agency.
    pub chart_match_rate: &'static str,
    /// Its description.
    pub chart_match_rate_desc: &'static str,
    /// Download the chart's data.
    pub download_csv: &'static str,
    /// A report waiting.
    pub report_open: &'static str,
    /// A report settled by a correction.
    pub report_corrected: &'static str,
    /// A report declined.
    pub report_declined: &'static str,
    /// Report an error.
    pub report_an_error: &'static str,
    /// The report form's lead.
    pub report_lead: &'static str,
    /// No field chosen.
    pub choose_field: &'static str,
    /// No description.
    pub describe_error: &'static str,
    /// What is wrong.
    pub what_is_wrong: &'static str,
    /// The right value.
    pub right_value: &'static str,
    /// Send the report.
    pub send_report: &'static str,
    /// The consents heading.
    pub consents: &'static str,
    /// Its lead.
    pub consents_lead: &'static str,
    /// None asked.
    pub no_consents: &'static str,
    /// Consent given on.
    pub consent_given: &'static str,
    /// Consent not given.
    pub consent_not_given: &'static str,
    /// Give consent.
    pub grant_consent: &'static str,
    /// Withdraw consent.
    pub withdraw_consent: &'static str,
    /// The citizen's reports.
    pub my_reports: &'static str,
    /// No reports.
    pub no_reports: &'static str,
    /// When reported.
    pub reported: &'static str,
    /// Citizens' reports (heading).
    pub citizen_reports: &'static str,
    /// Its lead.
    pub citizen_reports_lead: &'static str,
    /// The value when reported.
    pub current_value: &'static str,
    /// The agency's answer.
    pub answer: &'static str,
    /// Mark corrected.
    pub mark_corrected: &'static str,
    /// Decline.
    pub decline_report: &'static str,
    /// Declining without reason.
    pub reason_needed_decline: &'static str,
    /// Link to reports.
    pub reports_waiting: &'static str,
    /// Exchange requests refused today.
    pub ind_refused_today: &'static str,
    /// Refused in 30 days.
    pub ind_refused_30: &'static str,
    /// Chart: exchange errors per day.
    pub chart_errors: &'static str,
    /// Its description.
    pub chart_errors_desc: &'static str,
}

/// Tiếng Việt.
pub static VI: Messages = Messages {
    site_name: "ndx",
    site_tagline: "Nền tảng tích hợp, chia sẻ dữ liệu quốc gia",
    skip_to_content: "Chuyển đến nội dung chính",
    nav_label: "Điều hướng chính",
    nav_home: "Trang chủ",
    nav_open_data: "Dữ liệu mở",
    nav_dictionary: "Từ điển dữ liệu",
    nav_sign_in: "Đăng nhập",
    nav_sign_out: "Đăng xuất",
    switch_to_other: "English",
    footer: "Dữ liệu do các cơ quan nhà nước cung cấp qua nền tảng ndx. Mọi truy cập dữ liệu cá nhân đều được ghi nhật ký và công dân có thể tra cứu.",
    footer_api: "Tài liệu API (OpenAPI)",
    home_title: "Dữ liệu của Nhà nước, phục vụ người dân",
    home_lead: "Tìm và tải dữ liệu mở, tra cứu từ điển dữ liệu dùng chung, và xem ai đã truy cập dữ liệu của bạn.",
    home_figures: "Số liệu của nền tảng",
    home_for_whom: "Bạn cần gì?",
    home_public: "Người dân, doanh nghiệp, nhà nghiên cứu: tìm và tải dữ liệu mở theo giấy phép mở.",
    home_citizen: "Công dân: đăng nhập để xem dữ liệu về mình và mọi lần dữ liệu đó được truy cập.",
    home_agencies: "Cơ quan nhà nước: quản lý dữ liệu, thỏa thuận chia sẻ và chất lượng dữ liệu.",
    stat_packages: "gói dữ liệu mở",
    stat_datasets: "cơ sở dữ liệu trong từ điển",
    stat_members: "cơ quan thành viên",
    stat_code_lists: "danh mục dùng chung",
    search_label: "Tìm dữ liệu mở",
    search_hint: "Có thể gõ không dấu, ví dụ: dan so ha noi",
    search_button: "Tìm kiếm",
    open_data_title: "Dữ liệu mở",
    open_data_lead: "Các gói dữ liệu mở do các cơ quan công bố; dữ liệu cá nhân đã được ẩn danh trước khi công bố.",
    packages_found: "gói dữ liệu",
    no_results: "Không tìm thấy gói dữ liệu nào. Hãy thử từ khóa khác hoặc bỏ bớt bộ lọc.",
    refine: "Lọc kết quả",
    facet_organization: "Cơ quan công bố",
    facet_tags: "Từ khóa",
    facet_groups: "Chủ đề",
    facet_res_format: "Định dạng",
    facet_license_id: "Giấy phép",
    clear_filters: "Bỏ tất cả bộ lọc",
    filtered_by: "Đang lọc theo",
    previous_page: "Trang trước",
    next_page: "Trang sau",
    page: "Trang",
    publisher: "Cơ quan công bố",
    licence: "Giấy phép",
    theme: "Chủ đề",
    frequency: "Tần suất cập nhật",
    freq_daily: "Hằng ngày",
    freq_weekly: "Hằng tuần",
    freq_monthly: "Hằng tháng",
    freq_quarterly: "Hằng quý",
    freq_yearly: "Hằng năm",
    temporal: "Thời gian",
    spatial: "Phạm vi",
    whole_country: "Toàn quốc",
    contact: "Liên hệ",
    keywords: "Từ khóa",
    source_dataset: "Cơ sở dữ liệu nguồn",
    updated: "Cập nhật",
    metadata: "Thông tin về gói dữ liệu",
    downloads: "Tải về",
    download: "Tải",
    no_release: "Gói dữ liệu này chưa có bản công bố nào.",
    format: "Định dạng",
    size: "Dung lượng",
    checksum: "Mã kiểm tra SHA-256",
    release: "Bản",
    releases: "Các bản công bố",
    rows: "Số dòng",
    published: "Ngày công bố",
    preview: "Xem trước",
    preview_caption: "Các dòng đầu của bản công bố",
    privacy: "Bảo vệ dữ liệu cá nhân",
    privacy_k: "k-ẩn danh đạt được",
    privacy_l: "l-đa dạng đạt được",
    privacy_suppressed: "Số dòng bị loại bỏ",
    privacy_generalised: "Đã tổng quát hóa",
    privacy_none: "Gói dữ liệu không chứa dữ liệu cá nhân.",
    api_access: "Truy cập qua API CKAN",
    dictionary_title: "Từ điển dữ liệu dùng chung",
    dictionary_lead: "Các phần tử dữ liệu, danh mục dùng chung và cấu trúc các cơ sở dữ liệu mà mọi cơ quan cùng sử dụng.",
    elements: "Phần tử dữ liệu",
    code_lists: "Danh mục dùng chung",
    datasets: "Cơ sở dữ liệu",
    identifier: "Mã định danh",
    name: "Tên",
    value_type: "Kiểu giá trị",
    code: "Mã",
    label: "Tên gọi",
    parent: "Mã cấp trên",
    entries: "Số mục",
    version: "Phiên bản",
    source: "Nguồn",
    owner: "Cơ quan chủ quản",
    openness: "Mức độ mở",
    field: "Trường",
    element: "Phần tử",
    required: "Bắt buộc",
    sensitivity: "Mức độ nhạy cảm",
    key: "Khóa",
    records: "Số bản ghi",
    original_master: "Dữ liệu gốc / dữ liệu chủ",
    yes: "Có",
    no: "Không",
    filter_entries: "Lọc danh mục",
    not_found_title: "Không tìm thấy trang",
    not_found_text: "Trang bạn tìm không tồn tại hoặc đã được chuyển đi.",
    nav_my_data: "Dữ liệu của tôi",
    signed_in_as: "Đã đăng nhập:",
    csrf_refused: "Biểu mẫu bị từ chối vì lý do an toàn. Hãy tải lại trang và gửi lại.",
    sign_in_missing: "Hãy nhập đủ tên đăng nhập (hoặc số định danh) và mật khẩu.",
    sign_in_failed: "Thông tin đăng nhập không đúng.",
    sign_in_throttled: "Đăng nhập sai quá nhiều lần; hãy thử lại sau.",
    sign_in_citizen: "Công dân",
    sign_in_citizen_lead: "Xem dữ liệu về bạn và mọi lần dữ liệu đó được truy cập.",
    sign_in_account: "Cán bộ cơ quan nhà nước",
    sign_in_account_lead: "Quản lý dữ liệu, thỏa thuận chia sẻ và chất lượng dữ liệu của cơ quan.",
    citizen_id: "Số định danh cá nhân",
    password: "Mật khẩu",
    login: "Tên đăng nhập",
    my_data: "Dữ liệu của tôi",
    my_data_lead: "Dữ liệu các cơ quan nhà nước đang lưu về bạn, và mọi lần dữ liệu đó được truy cập. Mỗi lần bạn xem trang này cũng được ghi nhật ký.",
    data_held: "Dữ liệu đang được lưu về bạn",
    no_data_held: "Không có cơ sở dữ liệu nào lưu bản ghi về bạn.",
    value: "Giá trị",
    accesses: "Ai đã truy cập dữ liệu của bạn",
    accesses_lead: "Từ nhật ký kiểm toán: mới nhất trước.",
    no_accesses: "Chưa có lần truy cập nào.",
    when: "Thời gian",
    who: "Cơ quan (hệ thống)",
    what: "Thao tác",
    fields: "Các trường",
    purpose: "Mục đích",
    legal_basis: "Căn cứ pháp lý",
    decision: "Kết quả",
    allowed: "Được phép",
    refused: "Bị từ chối",
    you: "Bạn",
    error_title: "Đã có lỗi",
    error_text: "Máy chủ không trả lời được yêu cầu này. Vui lòng thử lại sau; nếu lỗi vẫn còn, hãy báo mã yêu cầu dưới đây.",
    accepted: "Hợp lệ",
    agreements_to_decide: "Thỏa thuận chia sẻ và yêu cầu chờ quyết định",
    all_versions: "mọi phiên bản",
    by: "Người thực hiện",
    created_updated: "Mới / cập nhật / không đổi / xóa",
    dataset: "Bộ dữ liệu",
    error_code: "Mã lỗi",
    finished: "Kết thúc",
    import_committed: "Đã ghi",
    import_failed: "Thất bại",
    import_rejected: "Bị từ chối toàn bộ",
    import_running: "Đang xử lý",
    import_heading: "Nhập dữ liệu",
    import_in_progress: "Đang đọc tệp:",
    imports: "Các lần nhập dữ liệu",
    line: "Dòng",
    message: "Nội dung lỗi",
    mode: "Cách xử lý dòng không hợp lệ",
    mode_atomic: "Từ chối cả tệp nếu có một dòng không hợp lệ",
    mode_per_record: "Ghi các dòng hợp lệ, báo cáo các dòng bị từ chối",
    nav_agreements: "Thỏa thuận",
    nav_catalogue: "Danh mục chia sẻ",
    nav_provider: "Dữ liệu cơ quan tôi",
    no_datasets: "Chưa có bộ dữ liệu nào.",
    no_imports: "Chưa có lần nhập nào.",
    openness_open: "Dữ liệu mở",
    openness_restricted: "Hạn chế",
    openness_shared: "Chia sẻ",
    own_datasets: "Bộ dữ liệu của cơ quan",
    quality: "Chất lượng",
    quality_accurate: "Đúng",
    quality_clean: "Sạch",
    quality_common_use: "Dùng chung",
    quality_complete: "Đủ",
    quality_criteria: "Chất lượng theo sáu tiêu chí",
    quality_live: "Sống",
    quality_unified: "Thống nhất",
    received: "Đã đọc",
    refresh: "Tải lại",
    rejected: "Bị từ chối",
    rejected_rows: "Các dòng bị từ chối",
    rejected_truncated: "Chỉ liệt kê 1.000 dòng bị từ chối đầu tiên.",
    row: "Dòng dữ liệu",
    rows_read: "dòng đã đọc",
    schema: "Lược đồ",
    started: "Bắt đầu",
    status: "Trạng thái",
    upload_button: "Tải lên và nhập",
    upload_choose_file: "Hãy chọn một tệp để tải lên.",
    upload_empty: "Tệp trống.",
    upload_file: "Tệp dữ liệu",
    upload_format: "Tệp phải là CSV (.csv), NDJSON (.ndjson, .jsonl) hoặc JSON (.json).",
    upload_heading: "Tải lên dữ liệu",
    upload_hint: "CSV có dòng tiêu đề là tên trường, hoặc NDJSON, JSON.",
    upload_lead: "Mỗi tệp được kiểm tra theo lược đồ, từng dòng một, và ghi thành một lô.",
    upload_limit: "Dung lượng tối đa",
    upload_too_large: "Tệp vượt quá giới hạn {mib} MiB.",
    agreement: "Thỏa thuận",
    approve: "Phê duyệt",
    reject: "Từ chối",
    suspend: "Tạm dừng",
    revoke: "Thu hồi",
    catalogue_lead: "Các bộ dữ liệu hệ thống của bạn có thể đề nghị được chia sẻ. Không có bản ghi nào ở đây: dữ liệu chỉ được trao đổi theo thỏa thuận đã phê duyệt.",
    my_agreements: "Thỏa thuận và yêu cầu của tôi",
    field_count: "Số trường",
    request_agreement: "Đề nghị chia sẻ",
    request_lead: "Chọn đúng những trường và thao tác cần cho mục đích đã nêu; cơ quan chủ quản sẽ xem xét và quyết định.",
    form_has_errors: "Biểu mẫu có lỗi: xem các thông báo bên cạnh từng trường.",
    fields_wanted: "Các trường dữ liệu",
    operations_wanted: "Các thao tác",
    op_lookup: "Tra cứu theo khóa",
    op_search: "Tìm kiếm theo điều kiện",
    op_extract: "Trích xuất toàn bộ",
    op_subscribe: "Theo dõi thay đổi",
    consent_needed: "cần sự đồng ý của công dân",
    legal_text_hint: "Nội dung quy định cho phép việc chia sẻ này.",
    legal_reference: "Số hiệu văn bản, điều khoản",
    legal_reference_hint: "Ví dụ: Nghị định 47/2024/NĐ-CP, Điều 12",
    valid_until: "Hiệu lực đến ngày",
    valid_until_hint: "Để trống nếu có hiệu lực đến khi bị thu hồi.",
    quota: "Hạn mức mỗi ngày (để trống: không giới hạn)",
    requests_per_day: "Số yêu cầu mỗi ngày",
    records_per_day: "Số bản ghi mỗi ngày",
    send_request: "Gửi đề nghị",
    choose_fields: "Hãy chọn ít nhất một trường.",
    choose_operations: "Hãy chọn ít nhất một thao tác.",
    choose_purpose: "Hãy chọn mục đích sử dụng.",
    unknown_choice: "Giá trị không có trong danh sách.",
    legal_text_needed: "Hãy nêu căn cứ pháp lý.",
    legal_reference_needed: "Hãy nêu số hiệu văn bản.",
    too_long: "Nội dung quá dài.",
    date_invalid: "Ngày không hợp lệ (dạng năm-tháng-ngày).",
    date_in_future: "Ngày phải sau hôm nay.",
    quota_invalid: "Hạn mức là số nguyên dương, hoặc để trống.",
    status_requested: "Chờ quyết định",
    status_approved: "Đã phê duyệt",
    status_rejected: "Bị từ chối",
    status_suspended: "Tạm dừng",
    status_revoked: "Đã thu hồi",
    status_expired: "Hết hiệu lực",
    requests_word: "yêu cầu",
    records_word: "bản ghi",
    requests_waiting: "Yêu cầu chờ quyết định",
    consumer: "Hệ thống sử dụng",
    validity: "Hiệu lực",
    use_today: "Đã dùng hôm nay / hạn mức",
    no_agreements: "Chưa có thỏa thuận nào.",
    requested: "Đề nghị lúc",
    last_change: "Thay đổi gần nhất",
    decide: "Quyết định",
    reason: "Lý do",
    optional: "không bắt buộc",
    reason_needed: "Từ chối phải nêu lý do.",
    nav_reconciliations: "Đối soát",
    reconciliations_lead: "Kết quả đối chiếu các cơ sở dữ liệu với cơ sở dữ liệu gốc, và các đề xuất sửa sai cần quyết định.",
    runs: "Các lần đối soát",
    run_done: "Hoàn tất",
    target_register: "Cơ sở dữ liệu được đối soát",
    reference_register: "Cơ sở dữ liệu gốc",
    match_rate: "Tỷ lệ khớp",
    proposals: "Đề xuất sửa sai",
    no_runs: "Chưa có lần đối soát nào.",
    reconciliation: "Đối soát",
    statuses: "Kết quả theo trạng thái",
    findings: "Phát hiện",
    report_part: "Phần báo cáo",
    no_proposals: "Không có đề xuất sửa sai trong phần này.",
    differences: "Khác biệt",
    difference_kind: "Loại khác biệt",
    proposed_value: "Giá trị đề xuất (theo cơ sở dữ liệu gốc)",
    note: "Ghi chú",
    accept_correction: "Chấp nhận sửa",
    reject_correction: "Giữ nguyên",
    accepted_decision: "Đã sửa theo đề xuất",
    rejected_decision: "Đã giữ nguyên",
    nav_indicators: "Chỉ tiêu",
    indicators_lead: "Các chỉ tiêu dữ liệu của Chiến lược, theo từng cơ quan và toàn quốc, đo tại thời điểm xem.",
    all_agencies: "Toàn quốc",
    ind_datasets: "bộ dữ liệu đã đăng ký",
    ind_original: "dữ liệu gốc",
    ind_master: "dữ liệu chủ",
    ind_open: "dữ liệu mở",
    ind_shared: "dữ liệu được chia sẻ",
    ind_packages: "gói dữ liệu mở đã công bố",
    ind_freshness: "độ cập nhật (sống)",
    ind_match_rate: "tỷ lệ khớp với CSDL dân cư",
    ind_systems: "hệ thống đã kết nối",
    ind_agreements: "thỏa thuận đang có hiệu lực",
    ind_requests_today: "lượt chia sẻ hôm nay",
    ind_requests_30: "Lượt chia sẻ (30 ngày)",
    ind_per_agency: "Chỉ tiêu theo cơ quan",
    chart_datasets: "Bộ dữ liệu đã đăng ký theo cơ quan",
    chart_datasets_desc: "Số bộ dữ liệu mỗi cơ quan đã đăng ký trên nền tảng.",
    chart_quality: "Chất lượng dữ liệu theo cơ quan",
    chart_quality_desc: "Điểm trung bình trên sáu tiêu chí đúng, đủ, sạch, sống, thống nhất, dùng chung.",
    chart_sharing: "Lượt chia sẻ dữ liệu mỗi ngày (30 ngày)",
    chart_sharing_desc: "Số yêu cầu được trả lời theo các thỏa thuận chia sẻ, mỗi ngày.",
    chart_match_rate: "Tỷ lệ khớp với CSDL quốc gia về dân cư",
    chart_match_rate_desc: "Tỷ lệ bản ghi khớp trong lần đối soát gần nhất của mỗi cơ sở dữ liệu.",
    download_csv: "Tải dữ liệu (CSV)",
    report_open: "Đang chờ xử lý",
    report_corrected: "Đã sửa",
    report_declined: "Không sửa",
    report_an_error: "Báo sai sót",
    report_lead: "Phản ánh của bạn được gửi đến cơ quan quản lý dữ liệu này; bạn theo dõi kết quả tại trang Dữ liệu của tôi.",
    choose_field: "Hãy chọn trường bị sai.",
    describe_error: "Hãy mô tả sai sót.",
    what_is_wrong: "Sai sót là gì",
    right_value: "Giá trị đúng",
    send_report: "Gửi phản ánh",
    consents: "Sự đồng ý của tôi",
    consents_lead: "Một số cơ quan chỉ được nhận những trường này khi bạn đồng ý; bạn có thể rút lại bất cứ lúc nào, có hiệu lực ngay.",
    no_consents: "Không có thỏa thuận nào cần sự đồng ý của bạn.",
    consent_given: "Đã đồng ý lúc",
    consent_not_given: "Chưa đồng ý",
    grant_consent: "Đồng ý",
    withdraw_consent: "Rút lại sự đồng ý",
    my_reports: "Phản ánh sai sót của tôi",
    no_reports: "Chưa có phản ánh nào.",
    reported: "Thời điểm phản ánh",
    citizen_reports: "Phản ánh sai sót của công dân",
    citizen_reports_lead: "Công dân phản ánh sai sót trong dữ liệu về chính họ; hãy kiểm tra, sửa trong cơ sở dữ liệu và trả lời.",
    current_value: "Giá trị khi phản ánh",
    answer: "Trả lời",
    mark_corrected: "Đã sửa",
    decline_report: "Không sửa (nêu lý do)",
    reason_needed_decline: "Không sửa phải nêu lý do.",
    reports_waiting: "Phản ánh sai sót của công dân",
    ind_refused_today: "yêu cầu trao đổi bị từ chối hôm nay",
    ind_refused_30: "Bị từ chối (30 ngày)",
    chart_errors: "Yêu cầu trao đổi bị từ chối mỗi ngày (30 ngày)",
    chart_errors_desc: "Số yêu cầu bị từ chối (không có thỏa thuận, sai mục đích, hết hạn mức, thiếu sự đồng ý…), mỗi ngày.",
};

/// English.
pub static EN: Messages = Messages {
    site_name: "ndx",
    site_tagline: "National data integration and sharing platform",
    skip_to_content: "Skip to main content",
    nav_label: "Main navigation",
    nav_home: "Home",
    nav_open_data: "Open data",
    nav_dictionary: "Data dictionary",
    nav_sign_in: "Sign in",
    nav_sign_out: "Sign out",
    switch_to_other: "Tiếng Việt",
    footer: "Data provided by state agencies through ndx. Every access to personal data is logged, and citizens can look it up.",
    footer_api: "API documentation (OpenAPI)",
    home_title: "The state's data, serving the people",
    home_lead: "Find and download open data, look up the shared data dictionary, and see who accessed your data.",
    home_figures: "The platform in figures",
    home_for_whom: "What do you need?",
    home_public: "Citizens, businesses, researchers: find and download open data under open licences.",
    home_citizen: "Citizens: sign in to see the data held about you and every access to it.",
    home_agencies: "State agencies: manage your data, sharing agreements and data quality.",
    stat_packages: "open-data packages",
    stat_datasets: "datasets in the dictionary",
    stat_members: "member agencies",
    stat_code_lists: "shared code lists",
    search_label: "Search open data",
    search_hint: "Diacritics are optional, e.g. dan so ha noi",
    search_button: "Search",
    open_data_title: "Open data",
    open_data_lead: "Open-data packages published by state agencies; personal data is anonymised before publication.",
    packages_found: "packages",
    no_results: "No package found. Try other words or fewer filters.",
    refine: "Refine results",
    facet_organization: "Publisher",
    facet_tags: "Keyword",
    facet_groups: "Theme",
    facet_res_format: "Format",
    facet_license_id: "Licence",
    clear_filters: "Clear all filters",
    filtered_by: "Filtered by",
    previous_page: "Previous page",
    next_page: "Next page",
    page: "Page",
    publisher: "Publisher",
    licence: "Licence",
    theme: "Theme",
    frequency: "Update frequency",
    freq_daily: "Daily",
    freq_weekly: "Weekly",
    freq_monthly: "Monthly",
    freq_quarterly: "Quarterly",
    freq_yearly: "Yearly",
    temporal: "Time period",
    spatial: "Coverage",
    whole_country: "Whole country",
    contact: "Contact",
    keywords: "Keywords",
    source_dataset: "Source dataset",
    updated: "Updated",
    metadata: "About this package",
    downloads: "Downloads",
    download: "Download",
    no_release: "This package has no release yet.",
    format: "Format",
    size: "Size",
    checksum: "SHA-256 checksum",
    release: "Release",
    releases: "Releases",
    rows: "Rows",
    published: "Published",
    preview: "Preview",
    preview_caption: "The first rows of release",
    privacy: "Personal data protection",
    privacy_k: "k-anonymity reached",
    privacy_l: "l-diversity reached",
    privacy_suppressed: "Rows suppressed",
    privacy_generalised: "Generalised",
    privacy_none: "This package holds no personal data.",
    api_access: "Access through the CKAN API",
    dictionary_title: "Shared data dictionary",
    dictionary_lead: "The data elements, shared code lists and dataset schemas every agency uses.",
    elements: "Data elements",
    code_lists: "Code lists",
    datasets: "Datasets",
    identifier: "Identifier",
    name: "Name",
    value_type: "Value type",
    code: "Code",
    label: "Label",
    parent: "Parent code",
    entries: "Entries",
    version: "Version",
    source: "Source",
    owner: "Owner",
    openness: "Openness",
    field: "Field",
    element: "Element",
    required: "Required",
    sensitivity: "Sensitivity",
    key: "Key",
    records: "Records",
    original_master: "Original / master data",
    yes: "Yes",
    no: "No",
    filter_entries: "Filter the list",
    not_found_title: "Page not found",
    not_found_text: "The page you asked for does not exist or has moved.",
    nav_my_data: "My data",
    signed_in_as: "Signed in as",
    csrf_refused: "The form was refused for your safety. Reload the page and send it again.",
    sign_in_missing: "Enter both the name (or citizen ID) and the password.",
    sign_in_failed: "The sign-in details do not match.",
    sign_in_throttled: "Too many failed sign-ins; try again later.",
    sign_in_citizen: "Citizens",
    sign_in_citizen_lead: "See the data held about you and every access to it.",
    sign_in_account: "Staff of state agencies",
    sign_in_account_lead: "Manage your agency's data, sharing agreements and data quality.",
    citizen_id: "Citizen ID",
    password: "Password",
    login: "Login name",
    my_data: "My data",
    my_data_lead: "The data state agencies hold about you, and every access to it. Each time you open this page is logged too.",
    data_held: "Data held about you",
    no_data_held: "No dataset holds a record about you.",
    value: "Value",
    accesses: "Who accessed your data",
    accesses_lead: "From the audit log: newest first.",
    no_accesses: "No access yet.",
    when: "When",
    who: "Agency (system)",
    what: "Operation",
    fields: "Fields",
    purpose: "Purpose",
    legal_basis: "Legal basis",
    decision: "Decision",
    allowed: "Allowed",
    refused: "Refused",
    you: "You",
    error_title: "Something went wrong",
    error_text: "The server could not answer this request. Please try again later; if it persists, quote the request id below.",
    accepted: "Accepted",
    agreements_to_decide: "Sharing agreements and requests to decide",
    all_versions: "all versions",
    by: "By",
    created_updated: "New / updated / unchanged / deleted",
    dataset: "Dataset",
    error_code: "Error code",
    finished: "Finished",
    import_committed: "Committed",
    import_failed: "Failed",
    import_rejected: "Rejected as a whole",
    import_running: "Running",
    import_heading: "Import",
    import_in_progress: "Reading the file:",
    imports: "Imports",
    line: "Line",
    message: "Message",
    mode: "How invalid rows are handled",
    mode_atomic: "Refuse the whole file if one row is invalid",
    mode_per_record: "Keep the valid rows, report the rejected ones",
    nav_agreements: "Agreements",
    nav_catalogue: "Catalogue",
    nav_provider: "My agency's data",
    no_datasets: "No datasets yet.",
    no_imports: "No imports yet.",
    openness_open: "Open",
    openness_restricted: "Restricted",
    openness_shared: "Shared",
    own_datasets: "The agency's datasets",
    quality: "Quality",
    quality_accurate: "Accurate",
    quality_clean: "Clean",
    quality_common_use: "In common use",
    quality_complete: "Complete",
    quality_criteria: "Quality on the six criteria",
    quality_live: "Live",
    quality_unified: "Unified",
    received: "Read",
    refresh: "Refresh",
    rejected: "Rejected",
    rejected_rows: "Rejected rows",
    rejected_truncated: "Only the first 1,000 rejected rows are listed.",
    row: "Row",
    rows_read: "rows read",
    schema: "Schema",
    started: "Started",
    status: "Status",
    upload_button: "Upload and import",
    upload_choose_file: "Choose a file to upload.",
    upload_empty: "The file is empty.",
    upload_file: "Data file",
    upload_format: "The file must be CSV (.csv), NDJSON (.ndjson, .jsonl) or JSON (.json).",
    upload_heading: "Upload data",
    upload_hint: "CSV with a header row of field names, or NDJSON, JSON.",
    upload_lead: "Each file is checked against the schema row by row and written as one batch.",
    upload_limit: "At most",
    upload_too_large: "The file exceeds the limit of {mib} MiB.",
    agreement: "Agreement",
    approve: "Approve",
    reject: "Reject",
    suspend: "Suspend",
    revoke: "Revoke",
    catalogue_lead: "The datasets your system may ask to be shared. No record is shown here: data is exchanged only under an approved agreement.",
    my_agreements: "My agreements and requests",
    field_count: "Fields",
    request_agreement: "Request sharing",
    request_lead: "Choose only the fields and operations the stated purpose needs; the owning agency reviews and decides.",
    form_has_errors: "The form has errors: see the messages next to each field.",
    fields_wanted: "Fields",
    operations_wanted: "Operations",
    op_lookup: "Look up by key",
    op_search: "Search by filter",
    op_extract: "Extract in bulk",
    op_subscribe: "Follow changes",
    consent_needed: "needs the citizen's consent",
    legal_text_hint: "What the law that allows this sharing says.",
    legal_reference: "Reference (instrument, article)",
    legal_reference_hint: "For example: Decree 47/2024/ND-CP, art. 12",
    valid_until: "Valid until",
    valid_until_hint: "Leave empty for \"until revoked\".",
    quota: "Daily quota (empty: no limit)",
    requests_per_day: "Requests per day",
    records_per_day: "Records per day",
    send_request: "Send the request",
    choose_fields: "Choose at least one field.",
    choose_operations: "Choose at least one operation.",
    choose_purpose: "Choose the purpose.",
    unknown_choice: "That value is not one of the choices.",
    legal_text_needed: "State the legal basis.",
    legal_reference_needed: "Give the legal reference.",
    too_long: "The text is too long.",
    date_invalid: "Not a valid date (year-month-day).",
    date_in_future: "The date must be after today.",
    quota_invalid: "A quota is a positive whole number, or empty.",
    status_requested: "Requested",
    status_approved: "Approved",
    status_rejected: "Rejected",
    status_suspended: "Suspended",
    status_revoked: "Revoked",
    status_expired: "Expired",
    requests_word: "requests",
    records_word: "records",
    requests_waiting: "Requests waiting for a decision",
    consumer: "Consumer system",
    validity: "Validity",
    use_today: "Used today / quota",
    no_agreements: "No agreements yet.",
    requested: "Requested",
    last_change: "Last change",
    decide: "Decide",
    reason: "Reason",
    optional: "optional",
    reason_needed: "A rejection gives its reason.",
    nav_reconciliations: "Reconciliation",
    reconciliations_lead: "Registers checked against the authoritative register, and the corrections they propose for a decision.",
    runs: "Runs",
    run_done: "Done",
    target_register: "Register checked",
    reference_register: "Reference register",
    match_rate: "Match rate",
    proposals: "Proposed corrections",
    no_runs: "No runs yet.",
    reconciliation: "Reconciliation",
    statuses: "Records by status",
    findings: "Findings",
    report_part: "Report part",
    no_proposals: "No proposed corrections in this part.",
    differences: "Differences",
    difference_kind: "Kind",
    proposed_value: "Proposed value (from the reference)",
    note: "Note",
    accept_correction: "Accept the correction",
    reject_correction: "Keep as it is",
    accepted_decision: "Corrected as proposed",
    rejected_decision: "Kept as it was",
    nav_indicators: "Indicators",
    indicators_lead: "The data indicators of the strategy, per agency and overall, measured as you look.",
    all_agencies: "Overall",
    ind_datasets: "datasets registered",
    ind_original: "original",
    ind_master: "master",
    ind_open: "open",
    ind_shared: "shared",
    ind_packages: "open-data packages published",
    ind_freshness: "freshness (live)",
    ind_match_rate: "match rate with the population register",
    ind_systems: "systems connected",
    ind_agreements: "agreements in force",
    ind_requests_today: "requests shared today",
    ind_requests_30: "Requests shared (30 days)",
    ind_per_agency: "Indicators per agency",
    chart_datasets: "Datasets registered per agency",
    chart_datasets_desc: "How many datasets each agency has registered on the platform.",
    chart_quality: "Data quality per agency",
    chart_quality_desc: "The mean score on the six criteria: accurate, complete, clean, live, unified, in common use.",
    chart_sharing: "Data shared per day (30 days)",
    chart_sharing_desc: "Requests answered under sharing agreements, per day.",
    chart_match_rate: "Match rate with the population register",
    chart_match_rate_desc: "The share of records matched in each register's latest reconciliation.",
    download_csv: "Download the data (CSV)",
    report_open: "Waiting",
    report_corrected: "Corrected",
    report_declined: "Declined",
    report_an_error: "Report an error",
    report_lead: "Your report goes to the agency that keeps this data; follow its answer on your My data page.",
    choose_field: "Choose the field that is wrong.",
    describe_error: "Describe what is wrong.",
    what_is_wrong: "What is wrong",
    right_value: "The right value",
    send_report: "Send the report",
    consents: "My consents",
    consents_lead: "Some agencies receive these fields only with your consent; you may withdraw it at any time, and it takes effect at once.",
    no_consents: "No agreement asks for your consent.",
    consent_given: "Given on",
    consent_not_given: "Not given",
    grant_consent: "Give my consent",
    withdraw_consent: "Withdraw my consent",
    my_reports: "My error reports",
    no_reports: "No reports yet.",
    reported: "Reported",
    citizen_reports: "Citizens' error reports",
    citizen_reports_lead: "Citizens report errors in the data about them: check, correct the register, and answer.",
    current_value: "Value when reported",
    answer: "Answer",
    mark_corrected: "Corrected",
    decline_report: "Decline (give the reason)",
    reason_needed_decline: "Declining gives the reason.",
    reports_waiting: "Citizens' error reports",
    ind_refused_today: "exchange requests refused today",
    ind_refused_30: "Refused (30 days)",
    chart_errors: "Exchange requests refused per day (30 days)",
    chart_errors_desc: "Requests refused (no agreement, wrong purpose, quota used up, consent missing…), per day.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates_are_written_as_each_language_writes_them() {
        assert_eq!(Lang::Vi.number(1_234_567), "1.234.567");
        assert_eq!(Lang::En.number(1_234_567), "1,234,567");
        assert_eq!(Lang::En.number(999), "999");
        assert_eq!(Lang::Vi.number(0), "0");
        assert_eq!(Lang::Vi.percent(0.875), "87,5 %");
        assert_eq!(Lang::En.percent(0.875), "87.5%");
        assert_eq!(Lang::Vi.bytes(1_534_000), "1,5 MB");
        assert_eq!(Lang::En.bytes(812), "812 B");
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).expect("day");
        assert_eq!(Lang::Vi.date(day), "07/12/2026");
        assert_eq!(Lang::En.date(day), "7 Dec 2026");
    }

    #[test]
    fn the_language_comes_from_the_cookie_then_accept_language_then_vietnamese() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = axum::http::HeaderMap::new();
            for (k, v) in pairs {
                h.append(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    v.parse().expect("value"),
                );
            }
            h
        };
        assert_eq!(of_headers(&headers(&[])), Lang::Vi);
        assert_eq!(
            of_headers(&headers(&[(
                "accept-language",
                "fr-FR, en-GB;q=0.8, vi;q=0.5"
            )])),
            Lang::En
        );
        assert_eq!(
            of_headers(&headers(&[("accept-language", "en;q=0.2, vi-VN")])),
            Lang::Vi
        );
        assert_eq!(
            of_headers(&headers(&[
                ("accept-language", "vi"),
                ("cookie", "a=b; ndx_lang=en")
            ])),
            Lang::En
        );
        assert_eq!(
            of_headers(&headers(&[("cookie", "ndx_lang=klingon")])),
            Lang::Vi
        );
    }
}
