//! The crate against vectors computed independently by `vectors.py` from the RFC definitions
//! and Python's `json.dumps`.

use ndx_audit::AuditEvent;
use ndx_audit::merkle::{
    Frontier, Hash, MemoryTree, consistency_proof, inclusion_proof, leaf_hash, root_at,
    verify_consistency, verify_inclusion,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors.json")).expect("vectors.json is JSON")
}

fn hash(value: &Value) -> Hash {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(value.as_str().expect("hex string"), &mut hash).expect("32 hex bytes");
    hash
}

fn hashes(value: &Value) -> Vec<Hash> {
    value.as_array().expect("array").iter().map(hash).collect()
}

fn number(value: &Value) -> u64 {
    value.as_u64().expect("unsigned integer")
}

/// The Merkle part of the vectors, with the tree built from its leaves.
struct MerkleVectors {
    all: Value,
    tree: MemoryTree,
}

fn merkle_vectors() -> MerkleVectors {
    let all = vectors()["merkle"].take();
    let leaves: Vec<Vec<u8>> = all["leaves"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|leaf| hex::decode(leaf.as_str().expect("hex")).expect("hex"))
        .collect();
    let tree = leaves.iter().map(|leaf| leaf_hash(leaf)).collect();
    MerkleVectors { all, tree }
}

#[test]
fn leaf_hashes_and_roots_match_python() {
    let MerkleVectors { all, tree } = merkle_vectors();
    let leaf_hashes = hashes(&all["leaf_hashes"]);
    assert_eq!(leaf_hashes.len() as u64, tree.size());
    let roots = hashes(&all["roots"]);
    assert_eq!(roots.len(), leaf_hashes.len() + 1);

    let mut frontier = Frontier::new();
    for (size, expected) in roots.iter().enumerate() {
        assert_eq!(
            root_at(&tree, size as u64).unwrap(),
            *expected,
            "root of {size}"
        );
        assert_eq!(frontier.root(), *expected, "frontier root of {size}");
        if let Some(leaf) = leaf_hashes.get(size) {
            frontier.push(*leaf);
        }
    }
}

#[test]
fn inclusion_proofs_match_python_and_verify() {
    let MerkleVectors { all, tree } = merkle_vectors();
    let roots = hashes(&all["roots"]);
    let leaf_hashes = hashes(&all["leaf_hashes"]);
    let cases = all["inclusion"].as_array().expect("inclusion");
    assert_eq!(cases.len(), 20 * 21 / 2);
    for case in cases {
        let (index, size) = (number(&case["index"]), number(&case["size"]));
        let expected = hashes(&case["proof"]);
        let proof = inclusion_proof(&tree, index, size).unwrap();
        assert_eq!(proof, expected, "inclusion proof of {index} in {size}");
        verify_inclusion(
            &leaf_hashes[index as usize],
            index,
            size,
            &expected,
            &roots[size as usize],
        )
        .unwrap_or_else(|e| panic!("python's proof of {index} in {size} rejected: {e}"));
    }
}

#[test]
fn consistency_proofs_match_python_and_verify() {
    let MerkleVectors { all, tree } = merkle_vectors();
    let roots = hashes(&all["roots"]);
    let cases = all["consistency"].as_array().expect("consistency");
    assert_eq!(cases.len(), 20 * 21 / 2);
    for case in cases {
        let (first, second) = (number(&case["first"]), number(&case["second"]));
        let expected = hashes(&case["proof"]);
        let proof = consistency_proof(&tree, first, second).unwrap();
        assert_eq!(
            proof, expected,
            "consistency proof from {first} to {second}"
        );
        verify_consistency(
            first,
            second,
            &roots[first as usize],
            &roots[second as usize],
            &expected,
        )
        .unwrap_or_else(|e| panic!("python's proof from {first} to {second} rejected: {e}"));
    }
}

#[test]
fn canonical_events_match_python() {
    let all = vectors();
    let events = all["events"].as_array().expect("events");
    assert!(!events.is_empty());
    for case in events {
        let python = case["canonical"].as_str().expect("canonical").as_bytes();
        let event: AuditEvent = serde_json::from_value(case["event"].clone()).expect("event");
        assert_eq!(
            String::from_utf8_lossy(&event.canonical_bytes()),
            String::from_utf8_lossy(python),
        );
        assert_eq!(event.leaf_hash(), hash(&case["leaf_hash"]));
        assert_eq!(AuditEvent::from_canonical(python).unwrap(), event);
    }
}
