//! Merkle tree hashing, proofs and verification exactly as RFC 9162 §2.1 (= RFC 6962 §2.1)
//! defines them, with SHA-256.
//!
//! # Hashes
//!
//! - the hash of a leaf whose entry is the byte string `e` is `SHA-256(0x00 ‖ e)` ([`leaf_hash`]);
//! - the hash of an inner node is `SHA-256(0x01 ‖ left ‖ right)` ([`node_hash`]);
//! - the root of the empty tree is `SHA-256("")` ([`EMPTY_ROOT`]);
//! - the root of `n > 1` leaves splits them at `k`, the largest power of two below `n`:
//!   `MTH(D[0:n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))`.
//!
//! # Stored nodes
//!
//! A node is addressed by its level `L` and index `i`: it is the root of the *complete* subtree
//! over the leaves `[i·2^L, (i+1)·2^L)`; level 0 holds the leaf hashes. Only complete nodes are
//! ever stored: they never change once the log has grown past them. [`Frontier::push`] returns
//! every node a new leaf completes, so storage can write them in the same transaction as the
//! entry, and [`NodeReader`] is how storage hands them back. Every root and proof is then
//! computed with O(log n) node reads; the roots of incomplete right edges are folded from the
//! complete nodes they consist of.
//!
//! # Proofs
//!
//! [`inclusion_proof`] is RFC 9162 `PATH(m, D[n])` (§2.1.3.1) and [`consistency_proof`] is
//! `PROOF(m, D[n])` (§2.1.4.1): lists of node hashes, deepest first, that any RFC 6962 / 9162
//! verifier accepts. [`verify_inclusion`] and [`verify_consistency`] are the RFC's verification
//! algorithms (§2.1.3.2, §2.1.4.2), with the edge cases the RFC leaves open decided as most
//! implementations do: a consistency proof between equal sizes, or from size 0, is empty.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, an inner node hash or a tree root.
pub type Hash = [u8; 32];

/// The root of the empty tree, `SHA-256("")`.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash of one log entry: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry);
    hasher.finalize().into()
}

/// The hash of an inner node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// A complete node of the tree: the root of the leaves `[index·2^level, (index+1)·2^level)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    /// Height above the leaves; 0 for a leaf hash.
    pub level: u32,
    /// Position among the nodes of the same level, from the left, starting at 0.
    pub index: u64,
    /// The node's hash.
    pub hash: Hash,
}

/// Read access to the complete nodes of a stored log. Storage implements this by looking up
/// the nodes [`Frontier::push`] returned; [`MemoryTree`] implements it in memory.
pub trait NodeReader {
    /// Why a read failed (I/O, or a node that is not stored).
    type Error: std::error::Error + 'static;

    /// How many leaves are stored. Roots and proofs are refused for larger sizes.
    fn leaf_count(&self) -> Result<u64, Self::Error>;

    /// The complete node at `level` and `index`. Only nodes inside the first
    /// [`leaf_count`](NodeReader::leaf_count) leaves are asked for.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

impl<R: NodeReader + ?Sized> NodeReader for &R {
    type Error = R::Error;

    fn leaf_count(&self) -> Result<u64, Self::Error> {
        (**self).leaf_count()
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        (**self).node(level, index)
    }
}

/// Why a root or proof could not be computed from a [`NodeReader`].
#[derive(Debug, thiserror::Error)]
pub enum TreeError<E> {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {tree_size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was requested in.
        tree_size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("first tree size {first} is greater than second tree size {second}")]
    FirstAfterSecond {
        /// The older tree size.
        first: u64,
        /// The newer tree size.
        second: u64,
    },
    /// The tree size is larger than the number of stored leaves.
    #[error("tree size {requested} is beyond the {stored} leaves stored")]
    BeyondStored {
        /// The requested tree size.
        requested: u64,
        /// How many leaves the reader holds.
        stored: u64,
    },
    /// The reader failed.
    #[error("reading the stored tree failed")]
    Read(#[source] E),
}

/// The largest power of two strictly below `n`, for `n >= 2`: where RFC 9162 splits `n` leaves.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Checks that `size` leaves are stored.
fn check_stored<R: NodeReader>(reader: &R, size: u64) -> Result<(), TreeError<R::Error>> {
    let stored = reader.leaf_count().map_err(TreeError::Read)?;
    if size > stored {
        return Err(TreeError::BeyondStored {
            requested: size,
            stored,
        });
    }
    Ok(())
}

/// `MTH(D[start:end])` for a non-empty range whose start is a multiple of a power of two at
/// least as large as the range, which is every range the RFC recursion produces. Such a range
/// is the complete subtrees of its length's binary digits, largest on the left, so it costs one
/// read per set bit; they are folded from the right as the RFC's split does.
fn range_root<R: NodeReader>(
    reader: &R,
    start: u64,
    end: u64,
) -> Result<Hash, TreeError<R::Error>> {
    let len = end - start;
    debug_assert!(len > 0 && start.is_multiple_of(len.next_power_of_two()));
    let mut right_edge = end;
    let mut folded: Option<Hash> = None;
    for level in 0..u64::BITS {
        if len >> level & 1 == 1 {
            let node_start = right_edge - (1 << level);
            let hash = reader
                .node(level, node_start >> level)
                .map_err(TreeError::Read)?;
            folded = Some(match folded {
                None => hash,
                Some(right) => node_hash(&hash, &right),
            });
            right_edge = node_start;
        }
    }
    Ok(folded.unwrap_or(EMPTY_ROOT))
}

/// The leaf ranges whose roots make up `PATH(index, D[0:size])`, deepest first.
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let (mut start, mut end) = (0, size);
    let mut ranges = Vec::new();
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            ranges.push((start + k, end));
            end = start + k;
        } else {
            ranges.push((start, start + k));
            start += k;
        }
    }
    ranges.reverse();
    ranges
}

/// The leaf ranges whose roots make up `PROOF(first, D[0:second])` = `SUBPROOF(first,
/// D[0:second], true)`, deepest first, for `0 < first <= second`.
fn consistency_ranges(first: u64, second: u64) -> Vec<(u64, u64)> {
    let (mut start, mut end) = (0, second);
    // `true` while the old tree's root is itself a node of the path, so the verifier knows it.
    let mut old_root_known = true;
    let mut ranges = Vec::new();
    loop {
        if first - start == end - start {
            if !old_root_known {
                ranges.push((start, end));
            }
            break;
        }
        let k = split_point(end - start);
        if first - start <= k {
            ranges.push((start + k, end));
            end = start + k;
        } else {
            ranges.push((start, start + k));
            start += k;
            old_root_known = false;
        }
    }
    ranges.reverse();
    ranges
}

/// The root of the first `tree_size` leaves. Size 0 gives [`EMPTY_ROOT`].
pub fn root_at<R: NodeReader>(reader: &R, tree_size: u64) -> Result<Hash, TreeError<R::Error>> {
    check_stored(reader, tree_size)?;
    if tree_size == 0 {
        return Ok(EMPTY_ROOT);
    }
    range_root(reader, 0, tree_size)
}

/// The inclusion proof (RFC 9162 `PATH`) of leaf `leaf_index` in the tree of the first
/// `tree_size` leaves, deepest sibling first.
pub fn inclusion_proof<R: NodeReader>(
    reader: &R,
    leaf_index: u64,
    tree_size: u64,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if leaf_index >= tree_size {
        return Err(TreeError::IndexOutOfRange {
            index: leaf_index,
            tree_size,
        });
    }
    check_stored(reader, tree_size)?;
    inclusion_ranges(leaf_index, tree_size)
        .into_iter()
        .map(|(start, end)| range_root(reader, start, end))
        .collect()
}

/// The consistency proof (RFC 9162 `PROOF`) that the tree of the first `first` leaves is a
/// prefix of the tree of the first `second` leaves. Empty when `first` is 0 or equals `second`.
pub fn consistency_proof<R: NodeReader>(
    reader: &R,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if first > second {
        return Err(TreeError::FirstAfterSecond { first, second });
    }
    check_stored(reader, second)?;
    if first == 0 {
        return Ok(Vec::new());
    }
    consistency_ranges(first, second)
        .into_iter()
        .map(|(start, end)| range_root(reader, start, end))
        .collect()
}

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {tree_size}")]
    IndexOutOfRange {
        /// The leaf index the proof claims.
        index: u64,
        /// The tree size the proof claims.
        tree_size: u64,
    },
    /// The older tree is larger than the newer one.
    #[error("first tree size {first} is greater than second tree size {second}")]
    FirstAfterSecond {
        /// The older tree size.
        first: u64,
        /// The newer tree size.
        second: u64,
    },
    /// The proof does not have the number of hashes its sizes call for.
    #[error("proof has {actual} hashes where {expected} are expected")]
    WrongLength {
        /// How many hashes the sizes call for.
        expected: usize,
        /// How many the proof has.
        actual: usize,
    },
    /// The root recomputed from an inclusion proof, or the root of the second tree recomputed
    /// from a consistency proof, differs from the one given.
    #[error("the proof leads to a different root")]
    RootMismatch,
    /// The root of the first tree recomputed from a consistency proof differs from the one given.
    #[error("the proof leads to a different root of the first tree")]
    FirstRootMismatch,
}

/// Verifies an inclusion proof with the algorithm of RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            index: leaf_index,
            tree_size,
        });
    }
    // The RFC algorithm also notices a wrong length, but only as a wrong root; checking first
    // gives a precise error.
    let expected = inclusion_ranges(leaf_index, tree_size).len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    let mut f_n = leaf_index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof with the algorithm of RFC 9162 §2.1.4.2. Between equal sizes
/// the proof must be empty and the roots equal; from size 0 the proof must be empty and
/// `first_root` must be [`EMPTY_ROOT`].
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::FirstAfterSecond { first, second });
    }
    let expected = if first == 0 {
        0
    } else {
        consistency_ranges(first, second).len()
    };
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if first == 0 {
        return if *first_root == EMPTY_ROOT {
            Ok(())
        } else {
            Err(ProofError::FirstRootMismatch)
        };
    }
    if first == second {
        return if first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }

    // From here on, the RFC algorithm step by step.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let mut f_n = first - 1;
    let mut s_n = second - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = path[0];
    let mut s_r = path[0];
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::WrongLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if f_r != *first_root {
        return Err(ProofError::FirstRootMismatch);
    }
    if s_n != 0 || s_r != *second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree (a "compact range"): the roots of the complete subtrees the
/// leaves so far decompose into, one per set bit of the size, largest first. It takes leaves one
/// at a time, reports the nodes each completes and gives the current root in O(log n), with
/// O(log n) memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Roots of the complete subtrees covering `[0, size)`, left to right (highest level first).
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the frontier of the first `size` leaves from stored complete nodes, reading one
    /// node per set bit of `size`.
    pub fn restore<R: NodeReader>(size: u64, reader: &R) -> Result<Self, TreeError<R::Error>> {
        check_stored(reader, size)?;
        let mut peaks = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..u64::BITS).rev() {
            if size >> level & 1 == 1 {
                peaks.push(
                    reader
                        .node(level, start >> level)
                        .map_err(TreeError::Read)?,
                );
                start += 1 << level;
            }
        }
        Ok(Self { size, peaks })
    }

    /// The number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash and returns every node it completes, lowest first: the leaf itself at
    /// level 0, then each inner node that now has both children. Storing these is all
    /// [`NodeReader`] needs.
    pub fn push(&mut self, leaf: Hash) -> Vec<Node> {
        let index = self.size;
        let mut completed = Vec::with_capacity(1 + index.trailing_ones() as usize);
        let mut hash = leaf;
        let mut level = 0u32;
        completed.push(Node { level, index, hash });
        // Each trailing one bit of the old size is a complete left sibling waiting on the edge.
        while index >> level & 1 == 1 {
            let left = self
                .peaks
                .pop()
                .expect("a frontier holds one peak per set bit of its size");
            hash = node_hash(&left, &hash);
            level += 1;
            completed.push(Node {
                level,
                index: index >> level,
                hash,
            });
        }
        self.peaks.push(hash);
        self.size += 1;
        completed
    }

    /// The root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(&last) = peaks.next() else {
            return EMPTY_ROOT;
        };
        peaks.fold(last, |right, left| node_hash(left, &right))
    }
}

/// An in-memory tree keeping every complete node (about 2·n hashes for n leaves), for tests and
/// for verifiers that recompute a whole log.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// `levels[l]` holds the complete nodes of level `l`, left to right.
    levels: Vec<Vec<Hash>>,
}

/// A [`MemoryTree`] was asked for a node it does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no complete node at level {level} index {index}")]
pub struct MissingNode {
    /// The requested level.
    pub level: u32,
    /// The requested index.
    pub index: u64,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tree with room for `leaves` leaves without reallocating.
    pub fn with_capacity(leaves: usize) -> Self {
        let mut levels = Vec::new();
        let mut width = leaves;
        while width > 0 {
            levels.push(Vec::with_capacity(width));
            width /= 2;
        }
        Self { levels }
    }

    /// Appends a leaf hash and every node it completes.
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            if nodes.len() % 2 == 1 {
                return;
            }
            hash = node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            level += 1;
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The root of all leaves.
    pub fn root(&self) -> Hash {
        match root_at(self, self.size()) {
            Ok(root) => root,
            // Every node of the tree's own size is held.
            Err(_) => unreachable!("a memory tree holds every complete node of its size"),
        }
    }
}

impl Extend<Hash> for MemoryTree {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, leaves: I) {
        for leaf in leaves {
            self.push(leaf);
        }
    }
}

impl FromIterator<Hash> for MemoryTree {
    fn from_iter<I: IntoIterator<Item = Hash>>(leaves: I) -> Self {
        let leaves = leaves.into_iter();
        let mut tree = Self::with_capacity(leaves.size_hint().0);
        tree.extend(leaves);
        tree
    }
}

impl NodeReader for MemoryTree {
    type Error = MissingNode;

    fn leaf_count(&self) -> Result<u64, MissingNode> {
        Ok(self.size())
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.levels
            .get(level as usize)
            .and_then(|nodes| nodes.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}
