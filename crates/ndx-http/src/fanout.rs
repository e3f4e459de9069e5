//! Fan-out across processes through NATS JetStream (`ndx-bus`), when the node is configured
//! with a broker: this process's commits are published as notices on each dataset's stream,
//! and every notice (of any process) wakes this process's change-feed streams and delivery
//! worker, as a commit of its own does.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ndx_bus::Bus;
use tokio::task::JoinHandle;

use crate::AppState;

/// How long a lost listener waits before it listens again.
const RELISTEN: Duration = Duration::from_secs(1);

/// Starts publishing this process's commits and listening to every process's; the tasks run
/// until aborted.
pub fn start(st: &AppState, bus: Arc<Bus>) -> Vec<JoinHandle<()>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    st.core.on_commit(move |dataset| {
        // The receiver lives as long as the publisher task; after it, nothing is published.
        let _ = tx.send(dataset.to_owned());
    });
    let publisher = {
        let (st, bus) = (st.clone(), bus.clone());
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Commits that came meanwhile are one notice per dataset, at its newest head.
                let mut datasets = BTreeSet::from([first]);
                while let Ok(more) = rx.try_recv() {
                    datasets.insert(more);
                }
                for dataset in datasets {
                    publish(&st, &bus, dataset).await;
                }
            }
        })
    };
    let listener = {
        let (signal, bus) = (st.commit_signal.clone(), bus);
        tokio::spawn(async move {
            loop {
                match bus.commits().await {
                    Ok(notices) => {
                        let mut notices = Box::pin(notices);
                        while notices.next().await.is_some() {
                            signal.send_modify(|n| *n = n.wrapping_add(1));
                        }
                        tracing::warn!("commit notices of other processes: listening again");
                    }
                    Err(e) => tracing::warn!("commit notices of other processes: {e}"),
                }
                tokio::time::sleep(RELISTEN).await;
            }
        })
    };
    vec![publisher, listener]
}

async fn publish(st: &AppState, bus: &Bus, dataset: String) {
    let core = st.core.clone();
    let read = dataset.clone();
    let head = match tokio::task::spawn_blocking(move || core.dataset_feed_head(&read)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            tracing::warn!(dataset, "feed head not read for its notice: {e}");
            return;
        }
        Err(e) => {
            tracing::error!(dataset, "notice worker: {e}");
            return;
        }
    };
    // Other processes still find the commit by their poll; the notice only makes it sooner.
    match bus.committed(&dataset, head).await {
        Ok(()) => st.metrics.bus_event("notice-published"),
        Err(e) => {
            st.metrics.bus_event("notice-failed");
            tracing::warn!(dataset, head, "commit notice not published: {e}");
        }
    }
}
