//! Exhaustive and property tests of the Merkle tree: everything generated verifies, everything
//! tampered with does not, and the frontier agrees with the full tree.

use std::cell::Cell;

use ndx_audit::merkle::{
    EMPTY_ROOT, Frontier, Hash, MemoryTree, MissingNode, NodeReader, ProofError, TreeError,
    consistency_proof, inclusion_proof, leaf_hash, node_hash, root_at, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// Largest tree size the exhaustive tests cover.
const MAX_SIZE: u64 = 300;
/// Largest tree size for the tests that also flip every byte of every proof.
const MAX_TAMPER_SIZE: u64 = 40;

fn leaf(i: u64) -> Hash {
    leaf_hash(format!("entry {i}").as_bytes())
}

fn tree(size: u64) -> MemoryTree {
    (0..size).map(leaf).collect()
}

/// Flips one bit of byte `byte` of `hash`.
fn flipped(hash: &Hash, byte: usize) -> Hash {
    let mut hash = *hash;
    hash[byte] ^= 0x01;
    hash
}

#[test]
fn hashing_follows_rfc_9162() {
    assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    assert_eq!(
        leaf_hash(b"abc"),
        <[u8; 32]>::from(Sha256::digest(b"\x00abc"))
    );
    let (a, b) = ([1u8; 32], [2u8; 32]);
    let mut joined = vec![0x01];
    joined.extend_from_slice(&a);
    joined.extend_from_slice(&b);
    assert_eq!(node_hash(&a, &b), <[u8; 32]>::from(Sha256::digest(&joined)));
    assert_eq!(MemoryTree::new().root(), EMPTY_ROOT);
    assert_eq!(Frontier::new().root(), EMPTY_ROOT);
}

#[test]
fn every_inclusion_proof_verifies() {
    let tree = tree(MAX_SIZE);
    for size in 1..=MAX_SIZE {
        let root = root_at(&tree, size).unwrap();
        for index in 0..size {
            let proof = inclusion_proof(&tree, index, size).unwrap();
            verify_inclusion(&leaf(index), index, size, &proof, &root)
                .unwrap_or_else(|e| panic!("proof of {index} in {size}: {e}"));
        }
    }
}

#[test]
fn every_consistency_proof_verifies() {
    let tree = tree(MAX_SIZE);
    let roots: Vec<Hash> = (0..=MAX_SIZE).map(|s| root_at(&tree, s).unwrap()).collect();
    for second in 0..=MAX_SIZE {
        for first in 0..=second {
            let proof = consistency_proof(&tree, first, second).unwrap();
            verify_consistency(
                first,
                second,
                &roots[first as usize],
                &roots[second as usize],
                &proof,
            )
            .unwrap_or_else(|e| panic!("proof from {first} to {second}: {e}"));
        }
    }
}

#[test]
fn frontier_agrees_with_the_full_tree_and_reports_every_complete_node() {
    let full = tree(MAX_SIZE);
    let mut frontier = Frontier::new();
    let mut reported = MemoryTree::new();
    let mut reported_count = 0u64;
    for size in 0..MAX_SIZE {
        assert_eq!(frontier.size(), size);
        assert_eq!(
            frontier.root(),
            root_at(&full, size).unwrap(),
            "root of {size}"
        );
        assert_eq!(
            Frontier::restore(size, &full).unwrap(),
            frontier,
            "restore {size}"
        );
        let completed = frontier.push(leaf(size));
        assert_eq!(completed[0].level, 0);
        assert_eq!(completed[0].index, size);
        assert_eq!(completed[0].hash, leaf(size));
        for node in &completed {
            assert_eq!(
                full.node(node.level, node.index).unwrap(),
                node.hash,
                "node {node:?}"
            );
        }
        reported_count += completed.len() as u64;
        reported.push(leaf(size));
    }
    // A tree of n leaves has 2n - popcount(n) complete nodes; each is reported exactly once.
    assert_eq!(
        reported_count,
        2 * MAX_SIZE - u64::from(MAX_SIZE.count_ones())
    );
    assert_eq!(frontier.root(), full.root());
    assert_eq!(reported.root(), full.root());
}

#[test]
fn tampered_inclusion_proofs_fail() {
    let tree = tree(MAX_TAMPER_SIZE + 2);
    for size in 1..=MAX_TAMPER_SIZE {
        let root = root_at(&tree, size).unwrap();
        for index in 0..size {
            let leaf = leaf(index);
            let proof = inclusion_proof(&tree, index, size).unwrap();
            let rejects = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
                assert!(
                    verify_inclusion(leaf, index, size, proof, root).is_err(),
                    "accepted a tampered proof of {index} in {size}"
                );
            };
            for byte in 0..32 {
                rejects(&flipped(&leaf, byte), index, size, &proof, &root);
                rejects(&leaf, index, size, &proof, &flipped(&root, byte));
                for at in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[at] = flipped(&bad[at], byte);
                    rejects(&leaf, index, size, &bad, &root);
                }
            }
            for other in (0..size).filter(|&other| other != index) {
                rejects(&leaf, other, size, &proof, &root);
            }
            for other_size in (1..=MAX_TAMPER_SIZE + 2).filter(|&s| s != size) {
                let other_root = root_at(&tree, other_size).unwrap();
                rejects(&leaf, index, other_size, &proof, &other_root);
            }
            let mut longer = proof.clone();
            longer.push(root);
            rejects(&leaf, index, size, &longer, &root);
            if !proof.is_empty() {
                rejects(&leaf, index, size, &proof[1..], &root);
                rejects(&leaf, index, size, &proof[..proof.len() - 1], &root);
            }
        }
    }
}

#[test]
fn tampered_consistency_proofs_fail() {
    let tree = tree(MAX_TAMPER_SIZE);
    let roots: Vec<Hash> = (0..=MAX_TAMPER_SIZE)
        .map(|s| root_at(&tree, s).unwrap())
        .collect();
    let rejects =
        |first: u64, second: u64, proof: &[Hash], first_root: &Hash, second_root: &Hash| {
            assert!(
                verify_consistency(first, second, first_root, second_root, proof).is_err(),
                "accepted a tampered proof from {first} to {second}"
            );
        };
    for second in 1..=MAX_TAMPER_SIZE {
        for first in 0..=second {
            let proof = consistency_proof(&tree, first, second).unwrap();
            let (r1, r2) = (roots[first as usize], roots[second as usize]);
            for byte in 0..32 {
                rejects(first, second, &proof, &flipped(&r1, byte), &r2);
                if first != 0 {
                    // From size 0 any tree is consistent; the second root is not checked.
                    rejects(first, second, &proof, &r1, &flipped(&r2, byte));
                }
                for at in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[at] = flipped(&bad[at], byte);
                    rejects(first, second, &bad, &r1, &r2);
                }
            }
            // Other sizes, with their own roots; skipping the claims that are true with this
            // proof too (from size 0 or between equal sizes the proof is empty).
            for other in (0..=second).filter(|&other| other != first) {
                if consistency_proof(&tree, other, second).unwrap() != proof {
                    rejects(other, second, &proof, &roots[other as usize], &r2);
                }
            }
            for other in (first..=MAX_TAMPER_SIZE).filter(|&other| other != second) {
                if consistency_proof(&tree, first, other).unwrap() != proof {
                    rejects(first, other, &proof, &r1, &roots[other as usize]);
                }
            }
            let mut longer = proof.clone();
            longer.push(r2);
            rejects(first, second, &longer, &r1, &r2);
            if !proof.is_empty() {
                rejects(first, second, &proof[1..], &r1, &r2);
                rejects(first, second, &proof[..proof.len() - 1], &r1, &r2);
            }
        }
    }
}

#[test]
fn verification_errors_are_precise() {
    let tree = tree(8);
    let root = tree.root();
    let proof = inclusion_proof(&tree, 3, 8).unwrap();
    assert_eq!(
        verify_inclusion(&leaf(3), 8, 8, &proof, &root),
        Err(ProofError::IndexOutOfRange {
            index: 8,
            tree_size: 8
        })
    );
    assert_eq!(
        verify_inclusion(&leaf(0), 0, 0, &[], &EMPTY_ROOT),
        Err(ProofError::IndexOutOfRange {
            index: 0,
            tree_size: 0
        })
    );
    assert_eq!(
        verify_inclusion(&leaf(3), 3, 8, &proof[..2], &root),
        Err(ProofError::WrongLength {
            expected: 3,
            actual: 2
        })
    );
    assert_eq!(
        verify_inclusion(&leaf(4), 3, 8, &proof, &root),
        Err(ProofError::RootMismatch)
    );

    let r3 = root_at(&tree, 3).unwrap();
    let proof = consistency_proof(&tree, 3, 8).unwrap();
    assert_eq!(verify_consistency(3, 8, &r3, &root, &proof), Ok(()));
    assert_eq!(
        verify_consistency(8, 3, &root, &r3, &proof),
        Err(ProofError::FirstAfterSecond {
            first: 8,
            second: 3
        })
    );
    assert_eq!(
        verify_consistency(3, 8, &root, &root, &proof),
        Err(ProofError::FirstRootMismatch)
    );
    assert_eq!(
        verify_consistency(3, 8, &r3, &r3, &proof),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(3, 8, &r3, &root, &[]),
        Err(ProofError::WrongLength {
            expected: proof.len(),
            actual: 0
        })
    );
    // Equal sizes: empty proof, equal roots.
    assert_eq!(verify_consistency(8, 8, &root, &root, &[]), Ok(()));
    assert_eq!(
        verify_consistency(8, 8, &root, &r3, &[]),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(8, 8, &root, &root, &[root]),
        Err(ProofError::WrongLength {
            expected: 0,
            actual: 1
        })
    );
    // From the empty tree: empty proof, and the first root must be the empty root.
    assert_eq!(verify_consistency(0, 8, &EMPTY_ROOT, &root, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Ok(())
    );
    assert_eq!(
        verify_consistency(0, 8, &r3, &root, &[]),
        Err(ProofError::FirstRootMismatch)
    );
}

#[test]
fn bad_arguments_give_typed_errors() {
    let tree = tree(5);
    assert!(matches!(
        inclusion_proof(&tree, 5, 5),
        Err(TreeError::IndexOutOfRange {
            index: 5,
            tree_size: 5
        })
    ));
    assert!(matches!(
        inclusion_proof(&tree, 0, 0),
        Err(TreeError::IndexOutOfRange {
            index: 0,
            tree_size: 0
        })
    ));
    assert!(matches!(
        inclusion_proof(&tree, 2, 6),
        Err(TreeError::BeyondStored {
            requested: 6,
            stored: 5
        })
    ));
    assert!(matches!(
        consistency_proof(&tree, 4, 3),
        Err(TreeError::FirstAfterSecond {
            first: 4,
            second: 3
        })
    ));
    assert!(matches!(
        consistency_proof(&tree, 3, 6),
        Err(TreeError::BeyondStored {
            requested: 6,
            stored: 5
        })
    ));
    assert!(matches!(
        root_at(&tree, 6),
        Err(TreeError::BeyondStored {
            requested: 6,
            stored: 5
        })
    ));
    assert!(matches!(
        Frontier::restore(u64::MAX, &tree),
        Err(TreeError::BeyondStored {
            requested: u64::MAX,
            stored: 5
        })
    ));
    assert!(inclusion_proof(&tree, u64::MAX, u64::MAX).is_err());
    assert_eq!(consistency_proof(&tree, 0, 5).unwrap(), Vec::<Hash>::new());
    assert_eq!(consistency_proof(&tree, 5, 5).unwrap(), Vec::<Hash>::new());
}

/// A reader that claims more leaves than it holds nodes for, like a damaged store.
struct Damaged(MemoryTree);

impl NodeReader for Damaged {
    type Error = MissingNode;
    fn leaf_count(&self) -> Result<u64, MissingNode> {
        Ok(self.0.size() + 1)
    }
    fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.0.node(level, index)
    }
}

#[test]
fn reader_failures_are_passed_on() {
    let damaged = Damaged(tree(4));
    let missing = |result: Result<Hash, TreeError<MissingNode>>| match result {
        Err(TreeError::Read(node)) => node,
        other => panic!("expected a read error, got {other:?}"),
    };
    assert_eq!(
        missing(root_at(&damaged, 5)),
        MissingNode { level: 0, index: 4 }
    );
    assert!(matches!(
        inclusion_proof(&damaged, 0, 5),
        Err(TreeError::Read(MissingNode { level: 0, index: 4 }))
    ));
    assert!(matches!(
        Frontier::restore(5, &damaged),
        Err(TreeError::Read(MissingNode { level: 0, index: 4 }))
    ));
}

/// Counts node reads.
struct Counting<'a> {
    tree: &'a MemoryTree,
    reads: Cell<u64>,
}

impl NodeReader for Counting<'_> {
    type Error = MissingNode;
    fn leaf_count(&self) -> Result<u64, MissingNode> {
        self.tree.leaf_count()
    }
    fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.reads.set(self.reads.get() + 1);
        self.tree.node(level, index)
    }
}

#[test]
fn proofs_read_logarithmically_many_nodes() {
    let tree = tree(MAX_SIZE);
    let reader = Counting {
        tree: &tree,
        reads: Cell::new(0),
    };
    let reads = |f: &dyn Fn()| {
        reader.reads.set(0);
        f();
        reader.reads.get()
    };
    for size in 1..=MAX_SIZE {
        let bound = 2 * u64::from(u64::BITS - size.leading_zeros());
        assert!(
            reads(&|| {
                root_at(&reader, size).unwrap();
            }) <= bound
        );
        for index in 0..size {
            let n = reads(&|| {
                inclusion_proof(&reader, index, size).unwrap();
            });
            assert!(n <= bound, "{n} reads for proof of {index} in {size}");
        }
        for first in 0..=size {
            let n = reads(&|| {
                consistency_proof(&reader, first, size).unwrap();
            });
            assert!(n <= bound, "{n} reads for proof from {first} to {size}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Larger, random trees over random leaves: proofs verify and match a recomputation.
    #[test]
    fn random_trees_prove_and_verify(
        entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 1..2000),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 8),
    ) {
        let tree: MemoryTree = entries.iter().map(|e| leaf_hash(e)).collect();
        let size = tree.size();
        let mut frontier = Frontier::new();
        for entry in &entries {
            frontier.push(leaf_hash(entry));
        }
        prop_assert_eq!(frontier.root(), tree.root());
        for (a, b) in picks {
            let second = b.index(entries.len()) as u64 + 1;
            let index = a.index(second as usize) as u64;
            let root = root_at(&tree, second).unwrap();
            let proof = inclusion_proof(&tree, index, second).unwrap();
            prop_assert_eq!(
                verify_inclusion(&leaf_hash(&entries[index as usize]), index, second, &proof, &root),
                Ok(())
            );
            let first = index + 1;
            let proof = consistency_proof(&tree, first, second).unwrap();
            prop_assert_eq!(
                verify_consistency(first, second, &root_at(&tree, first).unwrap(), &root, &proof),
                Ok(())
            );
            prop_assert_eq!(
                verify_consistency(first, size, &root_at(&tree, first).unwrap(), &tree.root(),
                    &consistency_proof(&tree, first, size).unwrap()),
                Ok(())
            );
        }
    }
}
