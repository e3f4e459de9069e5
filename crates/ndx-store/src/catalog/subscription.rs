//! The catalogue kinds of push subscriptions: the definitions (watched: the delivery workers of
//! every process read them), their delivery state (written per delivery, never cached) and
//! their dead letters.

use ndx_types::registry::System;
use ndx_types::subscription::{DeadLetter, Subscription, SubscriptionState};

use super::{Attribute, Kind};

/// Attribute names (stable once released).
pub mod attr {
    /// The dataset followed.
    pub const DATASET: &str = "dataset";
    /// The consumer system.
    pub const CONSUMER: &str = "consumer";
    /// The subscription of a state or a dead letter.
    pub const SUBSCRIPTION: &str = "subscription";
}

impl Kind for Subscription {
    const KIND: &'static str = "subscription";
    const NOUN: &'static str = "subscription";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![
            Attribute::plain(attr::DATASET, &self.dataset),
            Attribute::reference::<System>(attr::CONSUMER, &self.consumer),
        ]
    }
}

impl Kind for SubscriptionState {
    const KIND: &'static str = "subscription-state";
    const NOUN: &'static str = "subscription state";
    // Written at every delivery; read fresh by the workers.
    const WATCHED: bool = false;
    fn id(&self) -> String {
        self.subscription.clone()
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::reference::<Subscription>(
            attr::SUBSCRIPTION,
            &self.subscription,
        )]
    }
}

impl Kind for DeadLetter {
    const KIND: &'static str = "dead-letter";
    const NOUN: &'static str = "dead letter";
    const WATCHED: bool = false;
    fn id(&self) -> String {
        DeadLetter::id_of(&self.subscription, self.number)
    }
    fn attributes(&self) -> Vec<Attribute> {
        vec![Attribute::reference::<Subscription>(
            attr::SUBSCRIPTION,
            &self.subscription,
        )]
    }
}
