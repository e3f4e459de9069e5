//! The data indicators of the strategy, per agency and overall, for the operator and the
//! steering committee: datasets registered and the shares that are original, master, open
//! and shared; open-data packages published; quality on the six criteria (freshness is the
//! criterion "live"); the match rate of each register with the population register; the
//! sharing volume per day and its trend; the exchange requests refused; the systems
//! connected. Each figure is read from the
//! services that own it, at the time asked: nothing here is stored.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use ndx_store::catalog::exchange::attr as exchange_attr;
use ndx_types::dictionary::Openness;
use ndx_types::exchange::{Agreement, AgreementStatus, QuotaUsage, RefusalCount};
use ndx_types::quality::Criteria;
use ndx_types::reconcile::{Reconciliation, RunStatus};
use ndx_types::registry::Role;

use crate::Core;
use crate::access::Caller;
use crate::error::{Code, Error, Result};

/// The register every other is reconciled against.
const POPULATION: &str = "population";
/// Days of sharing shown.
pub const TREND_DAYS: i64 = 30;

/// One agency's indicators (or, for [`Indicators::overall`], the node's).
#[derive(Debug, Clone, Default)]
pub struct AgencyIndicators {
    /// The member code (empty for the overall figures).
    pub member: String,
    /// Its name in Vietnamese.
    pub name_vi: String,
    /// Its name in English.
    pub name_en: String,
    /// Datasets registered.
    pub datasets: u64,
    /// Of which original copies.
    pub original: u64,
    /// Of which master data.
    pub master: u64,
    /// Of which open.
    pub open: u64,
    /// Of which shared with other agencies (open, or under an agreement in force).
    pub shared: u64,
    /// Open-data packages published.
    pub packages: u64,
    /// Systems connected.
    pub systems: u64,
    /// Mean quality of its datasets on the six criteria.
    pub quality: Criteria,
    /// The mean match rate of its registers' latest reconciliation with the population
    /// register.
    pub match_rate: Option<f64>,
    /// Requests answered under its agreements (as provider) in the last [`TREND_DAYS`].
    pub requests: u64,
    /// Records released under them.
    pub records: u64,
    /// Exchange requests on its datasets refused in the last [`TREND_DAYS`].
    pub refused: u64,
}

/// One day of sharing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharingDay {
    /// The UTC day.
    pub day: NaiveDate,
    /// Requests answered.
    pub requests: u64,
    /// Records released.
    pub records: u64,
    /// Exchange requests refused.
    pub refused: u64,
}

/// The indicators at a time.
#[derive(Debug, Clone)]
pub struct Indicators {
    /// When they were read.
    pub measured_at: DateTime<Utc>,
    /// Per agency, by code.
    pub agencies: Vec<AgencyIndicators>,
    /// The node's.
    pub overall: AgencyIndicators,
    /// Sharing per day, the last [`TREND_DAYS`] days, oldest first.
    pub sharing: Vec<SharingDay>,
    /// Agreements in force.
    pub agreements_in_force: u64,
    /// Requests waiting for a decision.
    pub agreements_requested: u64,
}

impl Core {
    /// The indicators, for operators, stewards and auditors (the steering committee's view).
    pub fn indicators(&self, caller: &Caller, now: DateTime<Utc>) -> Result<Indicators> {
        if !(caller.has(Role::Operator) || caller.has(Role::Steward) || caller.has(Role::Auditor)) {
            return Err(Error::of(
                Code::RoleRequired,
                "the indicators are for operators, stewards and auditors",
            ));
        }
        let mut agencies: BTreeMap<String, AgencyIndicators> = self
            .members()?
            .into_iter()
            .map(|m| {
                (
                    m.code.clone(),
                    AgencyIndicators {
                        member: m.code,
                        name_vi: m.name_vi,
                        name_en: m.name_en,
                        ..AgencyIndicators::default()
                    },
                )
            })
            .collect();
        for system in self.systems()? {
            if let Some(a) = agencies.get_mut(&system.member) {
                a.systems += 1;
            }
        }
        let agreements: Vec<Agreement> = self.store.catalog().values::<Agreement>()?;
        let in_force = |a: &Agreement| a.status_at(now) == AgreementStatus::Approved;
        let quality = self.quality_overview(None, now)?;
        for d in &quality.datasets {
            let schema = self.schema(&d.dataset, None)?;
            let Some(a) = agencies.get_mut(&schema.owner) else {
                continue;
            };
            a.datasets += 1;
            a.original += u64::from(schema.original);
            a.master += u64::from(schema.master);
            a.open += u64::from(schema.openness == Openness::Open);
            a.shared += u64::from(
                schema.openness == Openness::Open
                    || agreements
                        .iter()
                        .any(|g| g.dataset == schema.dataset && in_force(g)),
            );
        }
        for (member, criteria) in &quality.rollup.members {
            if let Some(a) = agencies.get_mut(member) {
                a.quality = *criteria;
            }
        }
        for p in self.packages()? {
            if let Some(a) = agencies.get_mut(&p.publisher) {
                a.packages += 1;
            }
        }
        // The latest finished run of each register against the population register.
        let mut latest: BTreeMap<String, Reconciliation> = BTreeMap::new();
        for run in self.store.catalog().values::<Reconciliation>()? {
            if run.reference != POPULATION || run.status != RunStatus::Done {
                continue;
            }
            match latest.get(&run.target) {
                Some(l) if l.started_at >= run.started_at => {}
                _ => {
                    latest.insert(run.target.clone(), run);
                }
            }
        }
        let mut rates: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for run in latest.values() {
            if let Some(rate) = run.match_rate() {
                rates.entry(run.member.clone()).or_default().push(rate);
            }
        }
        for (member, r) in &rates {
            if let Some(a) = agencies.get_mut(member) {
                a.match_rate = Some(r.iter().sum::<f64>() / r.len() as f64);
            }
        }
        // Sharing: every agreement's daily use, the days the catalogue has and today's count
        // of this process.
        let first = now.date_naive() - Duration::days(TREND_DAYS - 1);
        let mut days: BTreeMap<NaiveDate, SharingDay> = (0..TREND_DAYS)
            .map(|i| {
                let day = first + Duration::days(i);
                (
                    day,
                    SharingDay {
                        day,
                        requests: 0,
                        records: 0,
                        refused: 0,
                    },
                )
            })
            .collect();
        for agreement in &agreements {
            let mut used: BTreeMap<NaiveDate, (u64, u64)> = self
                .store
                .catalog()
                .find_values::<QuotaUsage>(exchange_attr::AGREEMENT, &agreement.id)?
                .into_iter()
                .filter(|u| u.day >= first)
                .map(|u| (u.day, (u.requests, u.records)))
                .collect();
            used.insert(now.date_naive(), self.quota_used(agreement, now)?);
            for (day, (requests, records)) in used {
                if let Some(d) = days.get_mut(&day) {
                    d.requests += requests;
                    d.records += records;
                }
                if let Some(a) = agencies.get_mut(&agreement.provider) {
                    a.requests += requests;
                    a.records += records;
                }
            }
        }
        // Exchange errors: the refusals the catalogue has, and today's not written yet.
        let today = now.date_naive();
        let mut refusals: Vec<(String, NaiveDate, u64)> = self
            .store
            .catalog()
            .values::<RefusalCount>()?
            .into_iter()
            .filter(|r| r.day >= first)
            .map(|r| (r.member, r.day, r.refused))
            .collect();
        refusals.extend(
            self.quotas
                .unsaved_refusals(today)
                .into_iter()
                .map(|(m, n)| (m, today, n)),
        );
        for (member, day, n) in refusals {
            if let Some(d) = days.get_mut(&day) {
                d.refused += n;
            }
            if let Some(a) = agencies.get_mut(&member) {
                a.refused += n;
            }
        }
        let agencies: Vec<AgencyIndicators> = agencies.into_values().collect();
        let mut overall = AgencyIndicators {
            quality: quality.rollup.overall,
            ..AgencyIndicators::default()
        };
        for a in &agencies {
            overall.datasets += a.datasets;
            overall.original += a.original;
            overall.master += a.master;
            overall.open += a.open;
            overall.shared += a.shared;
            overall.packages += a.packages;
            overall.systems += a.systems;
            overall.requests += a.requests;
            overall.records += a.records;
        }
        overall.refused = days.values().map(|d| d.refused).sum();
        let all_rates: Vec<f64> = latest
            .values()
            .filter_map(Reconciliation::match_rate)
            .collect();
        overall.match_rate =
            (!all_rates.is_empty()).then(|| all_rates.iter().sum::<f64>() / all_rates.len() as f64);
        Ok(Indicators {
            measured_at: now,
            agencies,
            overall,
            sharing: days.into_values().collect(),
            agreements_in_force: agreements.iter().filter(|a| in_force(a)).count() as u64,
            agreements_requested: agreements
                .iter()
                .filter(|a| a.status == AgreementStatus::Requested)
                .count() as u64,
        })
    }
}
