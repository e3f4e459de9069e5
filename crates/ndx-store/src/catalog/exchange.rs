//! The catalogue kinds of governed exchange: sharing agreements, approval policies, consents
//! and transfer assessments, each with the attributes the exchange path finds them by.

use ndx_types::exchange::{
    Agreement, ApprovalPolicy, Consent, QuotaUsage, RefusalCount, TransferAssessment,
};
use ndx_types::registry::{Member, System};

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The consumer system of an agreement.
    pub const CONSUMER: &str = "consumer";
    /// The member owning the dataset of an agreement.
    pub const PROVIDER: &str = "provider";
    /// The dataset of an agreement or a transfer assessment.
    pub const DATASET: &str = "dataset";
    /// The data subject of a consent (a citizen ID).
    pub const SUBJECT: &str = "subject";
    /// The agreement of a consent.
    pub const AGREEMENT: &str = "agreement";
    /// The foreign member a transfer assessment lets receive data.
    pub const RECIPIENT: &str = "recipient";
    /// The member whose datasets' refusals are counted.
    pub const MEMBER: &str = "member";
}

impl Kind for Agreement {
    const KIND: &'static str = "agreement";
    const NOUN: &'static str = "agreement";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::reference::<System>(attr::CONSUMER, &self.consumer),
            Attribute::reference::<Member>(attr::PROVIDER, &self.provider),
            Attribute::plain(attr::DATASET, &self.dataset),
        ]
    }
}

impl Kind for Consent {
    const KIND: &'static str = "consent";
    const NOUN: &'static str = "consent";
    // Granted and withdrawn by citizens, read per record: never cached.
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::plain(attr::SUBJECT, &self.subject),
            Attribute::reference::<Agreement>(attr::AGREEMENT, &self.agreement),
        ]
    }
}

impl Kind for TransferAssessment {
    const KIND: &'static str = "transfer-assessment";
    const NOUN: &'static str = "transfer assessment";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::plain(attr::DATASET, &self.dataset),
            Attribute::reference::<Member>(attr::RECIPIENT, &self.recipient),
        ]
    }
}

impl Kind for ApprovalPolicy {
    const KIND: &'static str = "approval-policy";
    const NOUN: &'static str = "approval policy";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::plain(attr::DATASET, &self.dataset)]
    }
}

impl Kind for RefusalCount {
    const KIND: &'static str = "exchange-refusals";
    const NOUN: &'static str = "exchange refusal count";
    // Written with the quota counts; counted in memory, never cached from the store.
    const WATCHED: bool = false;
    fn id(&self) -> String {
        RefusalCount::id_of(&self.member, self.day)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::plain(attr::MEMBER, &self.member)]
    }
}

impl Kind for QuotaUsage {
    const KIND: &'static str = "quota-usage";
    const NOUN: &'static str = "quota usage";
    // Written every second under load; counted in memory, never cached from the store.
    const WATCHED: bool = false;
    fn id(&self) -> String {
        QuotaUsage::id_of(&self.agreement, self.day)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::reference::<Agreement>(
            attr::AGREEMENT,
            &self.agreement,
        )]
    }
}
