//! Domain types and pure rules of ndx: formats (citizen ID, tax code, …), the built-in
//! reference data (administrative units, ethnic groups), the shared data dictionary, the
//! registry types and the validation of a record against a dataset schema. No I/O, no clock:
//! time is passed in.
#![warn(missing_docs)]

pub mod account;
pub mod codes;
pub mod connector;
pub mod dictionary;
pub mod exchange;
pub mod formats;
pub mod import;
pub mod open;
pub mod quality;
pub mod reconcile;
pub mod reference;
pub mod registry;
pub mod report;
pub mod subscription;
pub mod text;
pub mod validate;
