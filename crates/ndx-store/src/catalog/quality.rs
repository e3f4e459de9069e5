//! The catalogue kinds of the quality model: each dataset's counts (written after every
//! batch, never cached) and the hourly snapshots of its scores that make its trend.

use ndx_types::quality::{QualitySnapshot, QualityState};

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The dataset a snapshot is of.
    pub const DATASET: &str = "dataset";
    /// The member owning it.
    pub const OWNER: &str = "owner";
}

impl Kind for QualityState {
    const KIND: &'static str = "quality-state";
    const NOUN: &'static str = "quality state";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.dataset.clone()
    }
}

impl Kind for QualitySnapshot {
    const KIND: &'static str = "quality-snapshot";
    const NOUN: &'static str = "quality snapshot";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        QualitySnapshot::id_of(&self.dataset, self.measured_at)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::plain(attr::DATASET, &self.dataset),
            Attribute::plain(attr::OWNER, &self.owner),
        ]
    }
}
