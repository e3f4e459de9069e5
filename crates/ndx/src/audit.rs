//! `ndx audit`: verify the tamper-evident audit log, from the store or from a running node, and
//! print its public key. A local verification opens the store read-only (it never creates or
//! changes a file), recomputes the tree, checks every head, rebuilds the data tracker's index
//! from the entries, and checks the log against the anchor the data store keeps.

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Subcommand;
use ndx_audit::merkle::{self, Hash, MemoryTree};
use ndx_audit::{AuditEvent, SignedTreeHead, verify_head};

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the tree from every entry, check every signed head, rebuild the data
    /// tracker's index and check the log against the signed head the data store anchors;
    /// names the first inconsistency. Opens the store read-only. Exit code 0 only if
    /// everything holds.
    Verify {
        /// Verify a running node over HTTP (needs an auditor or operator key) instead of the
        /// local store.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// API key for --url.
        #[arg(long, env = "NDX_API_KEY", hide_env_values = true)]
        key: Option<String>,
        /// The log's public key (64 hex digits) to trust, instead of the node's own key file
        /// (local) or the key the node publishes (--url).
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// Remember every signed head seen in this file (JSON) and check, on every later run,
        /// that the log still agrees with each: a log rewritten or cut short is caught even if
        /// its node also drops the old heads.
        #[arg(long, value_name = "FILE")]
        state: Option<std::path::PathBuf>,
    },
    /// Print the public key that verifies this node's signed tree heads.
    PublicKey,
}

pub fn run(cfg: &Config, what: AuditCommand) -> anyhow::Result<()> {
    match what {
        AuditCommand::PublicKey => {
            // Read, never created: a mistyped --data-dir is an error, not a new key.
            let keys =
                ndx_core::audit::AuditKeys::load(&cfg.data_dir, cfg.audit_key_file.as_deref())?;
            println!("{}", hex::encode(keys.public_key()));
            Ok(())
        }
        AuditCommand::Verify {
            url,
            key,
            public_key,
            state,
        } => {
            let trusted = public_key
                .map(|k| ndx_audit::head::public_key_from_hex(&k))
                .transpose()?;
            let checked = match url {
                Some(url) => verify_remote(&url, key.as_deref(), trusted)?,
                None => verify_local(cfg, trusted)?,
            };
            let mut summary = checked.summary.clone();
            if let Some(path) = state {
                let remembered = check_remembered(&path, &checked)?;
                summary.push_str(&format!(
                    "; {remembered} heads remembered in {} still hold",
                    path.display()
                ));
            }
            println!("{summary}");
            Ok(())
        }
    }
}

/// What a verification established.
struct Checked {
    summary: String,
    tree: Verifier,
    heads: Vec<SignedTreeHead>,
    public_key: [u8; 32],
}

/// Checks the heads remembered in `path` against the verified log, then remembers the heads of
/// this run too. Returns how many heads were checked.
fn check_remembered(path: &std::path::Path, checked: &Checked) -> anyhow::Result<usize> {
    let mut remembered: Vec<SignedTreeHead> = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a list of signed heads", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    for h in &remembered {
        checked
            .tree
            .head(&checked.public_key, h, 0)
            .with_context(|| format!("a head remembered in {} no longer holds", path.display()))?;
    }
    let count = remembered.len();
    for h in &checked.heads {
        if !remembered.iter().any(|r| r.tree_size == h.tree_size) {
            remembered.push(h.clone());
        }
    }
    remembered.sort_by_key(|h| h.tree_size);
    std::fs::write(path, serde_json::to_string_pretty(&remembered)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(count)
}

/// Entries read per page.
const PAGE: u64 = 1000;

/// Checks entries as they arrive and then the heads against the recomputed tree.
struct Verifier {
    tree: MemoryTree,
}

impl Verifier {
    fn new() -> Self {
        Verifier {
            tree: MemoryTree::new(),
        }
    }

    /// Adds entry `index`; it must be the next one and in canonical form. Returns its leaf
    /// hash and the event.
    fn entry(&mut self, index: u64, bytes: &[u8]) -> anyhow::Result<(Hash, AuditEvent)> {
        let expected = self.tree.size();
        if index != expected {
            if expected == 0 {
                bail!(
                    "entry 0 is missing: the log starts at entry {index} (its first entries \
                     were deleted or renumbered)"
                );
            }
            bail!(
                "entry {expected} is missing: the log jumps from entry {} to entry {index} \
                 (deleted or renumbered)",
                expected - 1
            );
        }
        let event = AuditEvent::from_canonical(bytes)
            .with_context(|| format!("entry {index} is invalid"))?;
        let leaf = merkle::leaf_hash(bytes);
        self.tree.push(leaf);
        Ok((leaf, event))
    }

    /// Checks one head: signature, size, root.
    fn head(
        &self,
        public_key: &[u8; 32],
        head: &SignedTreeHead,
        previous: u64,
    ) -> anyhow::Result<()> {
        let name = format!(
            "signed head of size {} ({})",
            head.tree_size,
            head.timestamp.to_rfc3339()
        );
        verify_head(public_key, head).with_context(|| {
            format!("{name}: the signature does not verify (forged or replaced head)")
        })?;
        let size = self.tree.size();
        if head.tree_size > size {
            bail!(
                "{name} covers {} entries but the log holds {size}: entries {size}..{} were \
                 deleted",
                head.tree_size,
                head.tree_size
            );
        }
        let root = merkle::root_at(&self.tree, head.tree_size).expect("size checked");
        if root != head.root_hash {
            bail!(
                "{name}: its root {} differs from the root {} recomputed from the entries: an \
                 entry below index {} was changed, dropped, reordered or inserted (the previous \
                 valid head covers the first {previous})",
                hex::encode(head.root_hash),
                hex::encode(root),
                head.tree_size
            );
        }
        Ok(())
    }
}

fn summary(
    size: u64,
    heads: usize,
    latest: Option<&SignedTreeHead>,
    public_key: &[u8; 32],
) -> String {
    let head = latest.map_or_else(
        || "no head".to_owned(),
        |h| {
            format!(
                "latest head: size {}, {}, root {}",
                h.tree_size,
                h.timestamp.to_rfc3339(),
                hex::encode(h.root_hash)
            )
        },
    );
    let covered = latest.map_or(0, |h| h.tree_size);
    let unsigned = if size > covered {
        format!("; the last {} entries await the next head", size - covered)
    } else {
        String::new()
    };
    format!(
        "audit log verified: {size} entries, {heads} signed heads all consistent ({head}{unsigned}); \
         public key {}",
        hex::encode(public_key)
    )
}

fn verify_local(cfg: &Config, trusted: Option<[u8; 32]>) -> anyhow::Result<Checked> {
    // Read-only: verification never creates or changes a file or a row, and a missing store
    // (or audit file) is an error, not an empty log.
    let store = crate::open_store(cfg, ndx_store::OpenMode::ReadOnly)?;
    let public_key = match trusted {
        Some(k) => k,
        None => ndx_core::audit::AuditKeys::load(&cfg.data_dir, cfg.audit_key_file.as_deref())?
            .public_key(),
    };
    let subject_key = ndx_core::audit::SubjectKey::load(&cfg.data_dir)
        .context("the subject index cannot be rebuilt without its key")?;
    // The anchor first, then the size: on a live node the log only grows, so whatever was
    // anchored is within `size`, and the check covers the first `size` entries, the heads up
    // to them and their index rows (committed with them), whatever is appended meanwhile.
    let started = chrono::Utc::now();
    let anchor = store.audit().anchor()?;
    let size = store.audit().size()?;
    // The subject index is rebuilt beside the main check, on two more threads: one hashes the
    // subjects the entries name (sent page by page), one reads the stored index.
    let (pages, received) = std::sync::mpsc::sync_channel::<Vec<(u64, Vec<String>)>>(8);
    std::thread::scope(|scope| {
        let rebuilt = scope.spawn(move || rebuild_subject_index(&subject_key, received));
        let stored_index = scope.spawn(|| read_subject_index(&store, size));
        let (v, all) = verify_entries_and_heads(&store, size, started, &public_key, pages)?;
        let expected = rebuilt
            .join()
            .map_err(|_| anyhow::anyhow!("the subject index rebuild failed"))?;
        let stored_index = stored_index
            .join()
            .map_err(|_| anyhow::anyhow!("reading the subject index failed"))??;
        let below = |n: u64| expected.iter().filter(|(_, i)| *i < n).count() as u64;
        let anchored = check_anchor(anchor, below, &v, &all, &public_key)?;
        check_subject_index(&expected, &stored_index)?;
        Ok(Checked {
            summary: format!(
                "{}; {anchored}",
                summary(size, all.len(), all.last(), &public_key)
            ),
            tree: v,
            heads: all,
            public_key,
        })
    })
}

/// Recomputes the tree from every entry (checking each against its stored leaf hash), the
/// stored inner nodes and every signed head; sends the subjects each entry names to `pages`.
fn verify_entries_and_heads(
    store: &ndx_core::Store,
    size: u64,
    started: chrono::DateTime<chrono::Utc>,
    public_key: &[u8; 32],
    pages: std::sync::mpsc::SyncSender<Vec<(u64, Vec<String>)>>,
) -> anyhow::Result<(Verifier, Vec<SignedTreeHead>)> {
    let mut v = Verifier::new();
    let mut start = 0;
    loop {
        let entries = store.audit().entries(start, (start + PAGE).min(size))?;
        if entries.is_empty() {
            break;
        }
        let addresses: Vec<(u32, u64)> = entries.iter().map(|e| (0, e.index)).collect();
        let stored = store.audit().nodes(&addresses)?;
        let mut named = Vec::with_capacity(entries.len());
        for (e, stored_leaf) in entries.iter().zip(stored) {
            let (leaf, event) = v.entry(e.index, &e.bytes)?;
            match stored_leaf {
                None => bail!(
                    "the stored leaf hash of entry {i} (tree node level 0, index {i}) is \
                     missing: tree nodes were deleted",
                    i = e.index
                ),
                Some(stored) if stored != leaf => bail!(
                    "entry {} does not match its stored leaf hash: the entry was changed after \
                     it was written",
                    e.index
                ),
                Some(_) => {}
            }
            if !event.subjects.is_empty() {
                named.push((e.index, event.subjects));
            }
        }
        // The rebuild thread only ends early by panicking; the join reports that.
        let _ = pages.send(named);
        start = v.tree.size();
    }
    drop(pages);
    if v.tree.size() != size {
        bail!(
            "the log says it holds {size} entries but {} were read",
            v.tree.size()
        );
    }
    check_stored_nodes(store, &v.tree)?;
    let mut all = Vec::new();
    let mut from = 0;
    let mut previous = 0;
    loop {
        let heads = store.audit().heads(from, 1000)?;
        let Some(last) = heads.last() else { break };
        from = last.tree_size + 1;
        for h in heads {
            let head = signed(h);
            if head.tree_size > size && head.timestamp > started {
                // Signed while this check ran, over entries appended after it began.
                break;
            }
            v.head(public_key, &head, previous)?;
            previous = head.tree_size;
            all.push(head);
        }
    }
    Ok((v, all))
}

/// Every (subject hash, entry) the entries name, sorted: what the subject index must hold.
fn rebuild_subject_index(
    key: &ndx_core::audit::SubjectKey,
    pages: std::sync::mpsc::Receiver<Vec<(u64, Vec<String>)>>,
) -> Vec<([u8; 32], u64)> {
    let mut expected = Vec::new();
    for page in pages {
        for (index, subjects) in page {
            let mut hashes: Vec<[u8; 32]> = subjects.iter().map(|s| key.subject_hash(s)).collect();
            hashes.sort_unstable();
            hashes.dedup();
            expected.extend(hashes.into_iter().map(|h| (h, index)));
        }
    }
    expected.sort_unstable();
    expected
}

/// The stored subject index of the first `size` entries, in (subject hash, entry) order.
fn read_subject_index(store: &ndx_core::Store, size: u64) -> anyhow::Result<Vec<([u8; 32], u64)>> {
    let mut rows = Vec::new();
    let mut after: Option<ndx_store::SubjectAccess> = None;
    loop {
        let page = store.audit().subject_rows(after.as_ref(), SUBJECT_PAGE)?;
        let Some(last) = page.last().copied() else {
            return Ok(rows);
        };
        rows.extend(
            page.into_iter()
                .filter(|r| r.index < size)
                .map(|r| (r.subject, r.index)),
        );
        after = Some(last);
    }
}

fn signed(h: ndx_store::StoredHead) -> SignedTreeHead {
    SignedTreeHead {
        tree_size: h.tree_size,
        timestamp: h.timestamp,
        root_hash: h.root_hash,
        signature: h.signature,
    }
}

/// The log against the anchor the data store keeps (the latest head it has seen): the log
/// must hold at least as many entries, the same root over them, and that head itself.
fn check_anchor(
    anchor: ndx_store::AuditAnchor,
    subject_rows_below: impl Fn(u64) -> u64,
    v: &Verifier,
    heads: &[SignedTreeHead],
    public_key: &[u8; 32],
) -> anyhow::Result<String> {
    let size = v.tree.size();
    let (anchor, subjects) = match anchor {
        ndx_store::AuditAnchor::Missing => bail!(
            "the data store's audit anchor is missing (its row in the data store was deleted): \
             the log cannot be checked against the data store"
        ),
        ndx_store::AuditAnchor::Unset => {
            return Ok("the data store anchors no head yet".into());
        }
        ndx_store::AuditAnchor::Head { head, subjects } => (signed(head), subjects),
    };
    let n = anchor.tree_size;
    verify_head(public_key, &anchor).with_context(|| {
        format!(
            "the signed head of size {n} anchored in the data store does not verify (forged \
             anchor, or another key)"
        )
    })?;
    if n > size {
        bail!(
            "the data store anchors a signed head of size {n} but the audit log holds {size} \
             entries: entries {size}..{n} were deleted (the log was truncated or replaced)"
        );
    }
    let root = merkle::root_at(&v.tree, n).expect("size checked");
    if root != anchor.root_hash {
        bail!(
            "the entries differ from the signed head of size {n} that the data store anchors \
             (root {} there, {} recomputed): an entry below index {n} was rewritten, dropped or \
             inserted, with the tree nodes recomputed",
            hex::encode(anchor.root_hash),
            hex::encode(root)
        );
    }
    let indexed = subject_rows_below(n);
    if indexed != subjects {
        bail!(
            "the entries below {n} name {indexed} (data subject, entry) pairs but the data store \
             anchors {subjects} rows of the subject index with its head of size {n}: rows of \
             the citizens' tracker were deleted or inserted"
        );
    }
    if !heads.contains(&anchor) {
        let latest = heads.last().map_or(0, |h| h.tree_size);
        bail!(
            "the signed head of size {n} that the data store anchors is missing from the log \
             (its latest head covers {latest}): signed heads were deleted"
        );
    }
    Ok(format!("the data store anchors the head of size {n}"))
}

/// Rows of the subject index read per page.
const SUBJECT_PAGE: usize = 10_000;

/// The subject index must hold exactly one row per (data subject, entry) the entries name:
/// `expected` rebuilt from the entries, `stored` read from the index, both sorted; the
/// difference at the lowest entry is named.
fn check_subject_index(
    expected: &[([u8; 32], u64)],
    stored: &[([u8; 32], u64)],
) -> anyhow::Result<()> {
    let mut missing: Option<u64> = None;
    let mut extra: Option<u64> = None;
    let note = |slot: &mut Option<u64>, index: u64| {
        *slot = Some(slot.map_or(index, |s| s.min(index)));
    };
    let (mut w, mut g) = (0, 0);
    while w < expected.len() || g < stored.len() {
        match (expected.get(w), stored.get(g)) {
            (Some(a), Some(b)) if a == b => {
                w += 1;
                g += 1;
            }
            (Some(a), Some(b)) if a < b => {
                note(&mut missing, a.1);
                w += 1;
            }
            (Some(a), None) => {
                note(&mut missing, a.1);
                w += 1;
            }
            (_, Some(b)) => {
                note(&mut extra, b.1);
                g += 1;
            }
            (None, None) => break,
        }
    }
    match (missing, extra) {
        (Some(m), e) if e.is_none_or(|e| m <= e) => bail!(
            "the data tracker's subject index lacks a row of entry {m}, which names a data \
             subject: rows of the citizens' tracker were deleted or changed"
        ),
        (_, Some(e)) => bail!(
            "the data tracker's subject index holds a row for entry {e} naming a data subject \
             the entry does not name: rows of the citizens' tracker were inserted or changed"
        ),
        _ => Ok(()),
    }
}

/// Every stored inner node must equal the recomputed one (proofs are served from them).
fn check_stored_nodes(store: &ndx_core::Store, tree: &MemoryTree) -> anyhow::Result<()> {
    let size = tree.size();
    let mut level = 1;
    while size >> level > 0 {
        let count = size >> level;
        let mut index = 0;
        while index < count {
            let end = (index + 10_000).min(count);
            let addresses: Vec<(u32, u64)> = (index..end).map(|i| (level, i)).collect();
            let stored = store.audit().nodes(&addresses)?;
            for ((l, i), s) in addresses.into_iter().zip(stored) {
                let expected = merkle::NodeReader::node(tree, l, i).expect("complete node");
                if s.is_none() {
                    bail!(
                        "stored tree node (level {l}, index {i}) over entries {}..{} is missing: \
                         tree nodes were deleted",
                        i << l,
                        (i + 1) << l
                    );
                }
                if s != Some(expected) {
                    bail!(
                        "stored tree node (level {l}, index {i}) over entries {}..{} differs from \
                         the entries: the node table was changed",
                        i << l,
                        (i + 1) << l
                    );
                }
            }
            index = end;
        }
        level += 1;
    }
    Ok(())
}

fn get_json(
    agent: &ureq::Agent,
    url: &str,
    key: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let mut req = agent.get(url);
    if let Some(k) = key {
        req = req.header("Authorization", &format!("Bearer {k}"));
    }
    let mut resp = req.call().with_context(|| format!("GET {url}"))?;
    Ok(resp.body_mut().read_json()?)
}

fn hash_of(v: &serde_json::Value, what: &str) -> anyhow::Result<Hash> {
    let text = v
        .as_str()
        .with_context(|| format!("{what} is not a string"))?;
    hex::decode(text)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} is not 32 bytes"))
}

fn verify_remote(
    base: &str,
    key: Option<&str>,
    trusted: Option<[u8; 32]>,
) -> anyhow::Result<Checked> {
    let base = base.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    let published = get_json(&agent, &format!("{base}/api/v1/audit/public-key"), None)?;
    let published = ndx_audit::head::public_key_from_hex(
        published["public_key"]
            .as_str()
            .context("public_key missing")?,
    )?;
    let public_key = match trusted {
        Some(k) if k != published => bail!(
            "the node publishes public key {} but {} is trusted",
            hex::encode(published),
            hex::encode(k)
        ),
        Some(k) => k,
        None => published,
    };
    let mut heads: Vec<SignedTreeHead> = Vec::new();
    let mut from = 0;
    loop {
        let page = get_json(
            &agent,
            &format!("{base}/api/v1/audit/heads?from={from}&limit=1000"),
            None,
        )?;
        let page = page.as_array().context("heads is not a list")?;
        if page.is_empty() {
            break;
        }
        for h in page {
            let ms = h["timestamp_ms"].as_i64().context("timestamp_ms missing")?;
            heads.push(SignedTreeHead {
                tree_size: h["tree_size"].as_u64().context("tree_size missing")?,
                timestamp: chrono::DateTime::from_timestamp_millis(ms).context("bad timestamp")?,
                root_hash: hash_of(&h["root_hash"], "root_hash")?,
                signature: hex::decode(h["signature"].as_str().context("signature missing")?)?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("signature is not 64 bytes"))?,
            });
        }
        from = heads.last().map_or(0, |h| h.tree_size + 1);
    }
    let Some(latest) = heads.last().cloned() else {
        return Ok(Checked {
            summary: format!(
                "audit log of {base} has no signed head yet; public key {}",
                hex::encode(public_key)
            ),
            tree: Verifier::new(),
            heads,
            public_key,
        });
    };
    let mut v = Verifier::new();
    while v.tree.size() < latest.tree_size {
        let start = v.tree.size();
        let page = get_json(
            &agent,
            &format!(
                "{base}/api/v1/audit/entries?start={start}&end={}",
                start + PAGE
            ),
            key,
        )?;
        let page = page.as_array().context("entries is not a list")?;
        if page.is_empty() {
            bail!(
                "the node returned no entries from {start} although a head covers {}",
                latest.tree_size
            );
        }
        for e in page {
            let index = e["index"].as_u64().context("index missing")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(e["canonical"].as_str().context("canonical missing")?)?;
            v.entry(index, &bytes)?;
        }
    }
    let mut previous = 0;
    for h in &heads {
        v.head(&public_key, h, previous)?;
        previous = h.tree_size;
    }
    // The node's proofs must agree with the recomputed tree too: every consecutive pair of
    // heads is linked by its consistency proof, and the last entry is in the latest head.
    for pair in heads.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let p = get_json(
            &agent,
            &format!(
                "{base}/api/v1/audit/proof/consistency?first={}&second={}",
                a.tree_size, b.tree_size
            ),
            None,
        )?;
        let proof: Vec<Hash> = p["proof"]
            .as_array()
            .context("proof missing")?
            .iter()
            .map(|h| hash_of(h, "proof hash"))
            .collect::<anyhow::Result<_>>()?;
        merkle::verify_consistency(a.tree_size, b.tree_size, &a.root_hash, &b.root_hash, &proof)
            .with_context(|| {
                format!(
                    "consistency proof {}..{} does not verify",
                    a.tree_size, b.tree_size
                )
            })?;
    }
    Ok(Checked {
        summary: summary(v.tree.size(), heads.len(), Some(&latest), &public_key),
        tree: v,
        heads,
        public_key,
    })
}
