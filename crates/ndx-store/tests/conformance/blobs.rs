//! The blob area, on every engine: written once with its size and digest, read by any range
//! (across chunk boundaries on PostgreSQL), refused past its end, never overwritten.

use super::*;

pub(super) const SUITE: &[SuiteTest] = &[("blobs_are_written_once_and_read_by_range", run)];

fn read(store: &Store, name: &str, start: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .blobs()
        .read(name, start, len, &mut out)
        .expect("read");
    out
}

fn run(store: Store) {
    // Larger than a PostgreSQL chunk (1 MiB), with a pattern that shows any misplaced byte.
    let content: Vec<u8> = (0..(1 << 20) + 123_457u32)
        .map(|i| (i % 251) as u8)
        .collect();
    let info = store
        .blobs()
        .put("open/pkg/r1/data.csv", &mut content.as_slice())
        .expect("put");
    assert_eq!(info.bytes, content.len() as u64);
    assert_eq!(info.sha256, hex::encode(Sha256::digest(&content)));
    assert_eq!(
        store.blobs().info("open/pkg/r1/data.csv").expect("info"),
        Some(info)
    );
    assert_eq!(
        store.blobs().info("open/pkg/r1/none.csv").expect("info"),
        None
    );
    let whole = read(&store, "open/pkg/r1/data.csv", 0, content.len() as u64);
    assert!(whole == content, "the whole blob reads back");
    let start = (1 << 20) - 10;
    assert_eq!(
        read(&store, "open/pkg/r1/data.csv", start, 30),
        content[start as usize..start as usize + 30]
    );
    assert_eq!(read(&store, "open/pkg/r1/data.csv", 5, 0), Vec::<u8>::new());
    let mut sink = Vec::new();
    assert!(matches!(
        store.blobs().read(
            "open/pkg/r1/data.csv",
            content.len() as u64 - 1,
            2,
            &mut sink
        ),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .blobs()
            .put("open/pkg/r1/data.csv", &mut &b"other"[..]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        read(&store, "open/pkg/r1/data.csv", 0, 3),
        content[..3],
        "unchanged"
    );
    let empty = store
        .blobs()
        .put("open/pkg/r1/empty.json", &mut &b""[..])
        .expect("empty");
    assert_eq!(empty.bytes, 0);
    assert!(matches!(
        store.blobs().put("../escape", &mut &b"x"[..]),
        Err(StoreError::KeyInvalid(_))
    ));
}
