//! Record linkage as pure functions: cross-checking a register against a reference register
//! (civil servants against the population), the way `ndx-audit` is the audit log's pure part.
//! No I/O, no clock, no store.
//!
//! - [`address`]: free-text Vietnamese addresses → the 2025 administrative units (pre-2025
//!   addresses through the official conversion).
//! - [`person`]: a person record as agencies write it, prepared for comparison.
//! - [`compare`]: the comparison vector of a pair and the differences a steward corrects.
//! - [`model`]: Fellegi–Sunter weights, with parameters estimated from the data.
//! - [`link`]: the engine — the target indexed, the reference streamed once, one status per
//!   target record.
//!
//! The design and its invariants are in `ARCHITECTURE.md` ("Quality and reconciliation").

pub mod address;
pub mod compare;
pub mod link;
pub mod model;
pub mod person;

pub use link::{Config, DuplicateTargetId, Linker, Outcome, Status, Summary};
pub use person::{AddressInput, PersonRecord};
