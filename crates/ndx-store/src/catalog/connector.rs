//! The catalogue kinds of connectors: the definitions (watched: the scheduler of every process
//! reads them), their state between runs and their runs (written per chunk, never cached).

use ndx_types::connector::{Connector, ConnectorRun, ConnectorState};
use ndx_types::registry::{Member, System};

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The dataset a connector writes.
    pub const DATASET: &str = "dataset";
    /// The member owning it.
    pub const OWNER: &str = "owner";
    /// The system recorded as the source of its batches.
    pub const SYSTEM: &str = "system";
    /// The connector of a state or a run.
    pub const CONNECTOR: &str = "connector";
}

impl Kind for Connector {
    const KIND: &'static str = "connector";
    const NOUN: &'static str = "connector";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::plain(attr::DATASET, &self.dataset),
            Attribute::reference::<Member>(attr::OWNER, &self.owner),
            Attribute::reference::<System>(attr::SYSTEM, &self.system),
        ]
    }
}

impl Kind for ConnectorState {
    const KIND: &'static str = "connector-state";
    const NOUN: &'static str = "connector state";
    // Written at every chunk of a run; read fresh by the run.
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.connector.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::reference::<Connector>(
            attr::CONNECTOR,
            &self.connector,
        )]
    }
}

impl Kind for ConnectorRun {
    const KIND: &'static str = "connector-run";
    const NOUN: &'static str = "connector run";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        ConnectorRun::id_of(&self.connector, self.number)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::reference::<Connector>(
            attr::CONNECTOR,
            &self.connector,
        )]
    }
}
