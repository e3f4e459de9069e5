//! The pure parts of ndx's tamper-evident audit log: no I/O, no clock, no database.
//!
//! - [`entry`]: the [`AuditEvent`] and its canonical byte encoding (RFC 8785 JSON), which is
//!   what each leaf of the log commits to;
//! - [`merkle`]: RFC 9162 Merkle tree hashing over those entries, the [`Frontier`] that tells
//!   storage which nodes to keep, roots and inclusion/consistency proofs from stored nodes, and
//!   their verification;
//! - [`head`]: signed tree heads, an Ed25519 signature over a tree size, root and time.
//!
//! # Verifying a log from outside
//!
//! Everything needed to check the log without this crate, in any language:
//!
//! 1. Leaf `i` of the log is the canonical encoding of the `i`-th event (see [`entry`]); reject
//!    any entry whose bytes are not canonical.
//! 2. Its leaf hash is `SHA-256(0x00 ‖ bytes)`; the root of `n` leaves is RFC 9162's `MTH` with
//!    inner nodes `SHA-256(0x01 ‖ left ‖ right)` and `SHA-256("")` for the empty log (see
//!    [`merkle`]).
//! 3. A signed tree head is valid when its Ed25519 signature over the 64-byte message of
//!    [`head`] verifies under the published public key and its root equals the root recomputed
//!    from the first `tree_size` entries, or is linked to an entry by an RFC 9162 inclusion proof.
//! 4. Two heads of the same log are consistent when an RFC 9162 consistency proof between their
//!    sizes verifies; two valid heads that are not consistent prove the log was rewritten.
#![warn(missing_docs)]

pub mod entry;
pub mod head;
pub mod merkle;
mod pem;

pub use entry::{Actor, AuditEvent, EntryError, Outcome};
pub use head::{HeadError, HeadSigner, SignedTreeHead, verify_head};
pub use merkle::{Frontier, Hash, MemoryTree, Node, NodeReader, ProofError, TreeError};
