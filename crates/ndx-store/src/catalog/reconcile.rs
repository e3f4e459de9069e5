//! The catalogue kinds of reconciliation runs: the runs (written at start and end, never
//! cached), the parts of their reports, and the decisions on the corrections they propose.

use ndx_types::reconcile::{Correction, Reconciliation, ReportPart};
use ndx_types::registry::{Member, System};

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The member whose register a run checked.
    pub const MEMBER: &str = "member";
    /// The system that asked.
    pub const SYSTEM: &str = "system";
    /// The run of a report part or a correction.
    pub const RUN: &str = "run";
    /// The batch an accepted correction wrote.
    pub const BATCH: &str = "batch";
}

impl Kind for Reconciliation {
    const KIND: &'static str = "reconciliation";
    const NOUN: &'static str = "reconciliation";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::reference::<Member>(attr::MEMBER, &self.member),
            Attribute::reference::<System>(attr::SYSTEM, &self.system),
        ]
    }
}

impl Kind for ReportPart {
    const KIND: &'static str = "reconciliation-part";
    const NOUN: &'static str = "reconciliation report part";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        ReportPart::id_of(&self.run, self.number)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::reference::<Reconciliation>(attr::RUN, &self.run)]
    }
}

impl Kind for Correction {
    const KIND: &'static str = "correction";
    const NOUN: &'static str = "correction";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        let mut attrs = vec![Attribute::reference::<Reconciliation>(attr::RUN, &self.run)];
        if let Some(batch) = &self.batch_id {
            attrs.push(Attribute::unique(attr::BATCH, batch));
        }
        attrs
    }
}
