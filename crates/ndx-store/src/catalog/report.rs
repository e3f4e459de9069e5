//! The catalogue kind of citizens' error reports, by citizen and by owning member.

use ndx_types::report::ErrorReport;

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The citizen who reported it.
    pub const SUBJECT: &str = "subject";
    /// The member that settles it.
    pub const OWNER: &str = "owner";
}

impl Kind for ErrorReport {
    const KIND: &'static str = "error-report";
    const NOUN: &'static str = "error report";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::plain(attr::SUBJECT, &self.subject),
            Attribute::plain(attr::OWNER, &self.owner),
        ]
    }
    // A report names a citizen: messages name the report only.
    fn describe(&self) -> String {
        format!("error report {:?}", self.id)
    }
}
