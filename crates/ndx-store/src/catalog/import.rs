//! The catalogue kind of web imports: one per uploaded file, by dataset and owner, written when
//! it starts and when it ends.

use ndx_types::import::Import;

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The dataset loaded.
    pub const DATASET: &str = "dataset";
    /// The member owning it.
    pub const OWNER: &str = "owner";
}

impl Kind for Import {
    const KIND: &'static str = "import";
    const NOUN: &'static str = "import";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::plain(attr::DATASET, &self.dataset),
            Attribute::plain(attr::OWNER, &self.owner),
        ]
    }
}
