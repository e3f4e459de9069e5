//! Serving a request without blocking the thread that serves it. Within [`in_place`], the two
//! things a request's core work would otherwise wait for on its own thread — a refusal's audit
//! event becoming durable, and the quota counts being written to the catalogue — are not
//! waited for but left in [`Deferred`] for the caller: it awaits the refusals' receipts before
//! it answers (audit before answer holds) and writes the quota counts on a blocking thread.
//! The HTTP edge runs an exchange lookup this way on the async worker itself, so that no
//! worker is held through a group's fsync or the catalogue's writer.
//!
//! Outside `in_place` (the CLI, tests, other services) both are done in place, as before.

use std::cell::RefCell;

use crate::audit::PendingReceipt;
use crate::error::Result;

thread_local! {
    /// What the innermost [`in_place`] on this thread has collected so far.
    static COLLECTED: RefCell<Option<Deferred>> = const { RefCell::new(None) };
}

/// What core work run [`in_place`] left for its caller to finish.
#[derive(Debug, Default)]
#[must_use = "refusals recorded in place are durable only once awaited"]
pub struct Deferred {
    refusals: Vec<PendingReceipt>,
    quotas_due: bool,
}

impl Deferred {
    /// Whether the quota counts are due to be written (`Core::save_quotas`).
    pub fn quotas_due(&self) -> bool {
        self.quotas_due
    }

    /// Waits, without blocking the thread, until every refusal recorded in place is durable;
    /// the first that could not be written is the error.
    pub async fn refusals_recorded(self) -> Result<()> {
        for refusal in self.refusals {
            refusal.await?;
        }
        Ok(())
    }
}

/// Runs `f` on this thread, collecting the waits it would make (see the module doc).
pub fn in_place<T>(f: impl FnOnce() -> T) -> (T, Deferred) {
    /// Puts back the enclosing scope's collection even if `f` unwinds.
    struct Scope(Option<Deferred>);
    impl Drop for Scope {
        fn drop(&mut self) {
            let outer = self.0.take();
            COLLECTED.with(|c| *c.borrow_mut() = outer);
        }
    }
    let outer = COLLECTED.with(|c| c.borrow_mut().replace(Deferred::default()));
    let scope = Scope(outer);
    let value = f();
    let collected = COLLECTED
        .with(|c| c.borrow_mut().take())
        .unwrap_or_default();
    drop(scope);
    (value, collected)
}

/// Settles a submitted refusal: leaves its pending receipt to the caller of [`in_place`], or,
/// outside one, waits here until it is durable.
pub(crate) fn refusal(pending: PendingReceipt) -> Result<()> {
    let outside = COLLECTED.with(|c| match c.borrow_mut().as_mut() {
        Some(d) => {
            d.refusals.push(pending);
            None
        }
        None => Some(pending),
    });
    match outside {
        Some(pending) => pending.wait().map(drop),
        None => Ok(()),
    }
}

/// Leaves the quota counts' write to the caller of [`in_place`]; `false` outside one (write
/// them here).
pub(crate) fn quota_save() -> bool {
    COLLECTED.with(|c| match c.borrow_mut().as_mut() {
        Some(d) => {
            d.quotas_due = true;
            true
        }
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_scope_nothing_is_deferred() {
        assert!(!quota_save());
    }

    #[test]
    fn a_scope_collects_and_the_enclosing_one_is_restored() {
        let ((inner, outer_before), outer) = in_place(|| {
            let (_, inner) = in_place(|| assert!(quota_save()));
            // The inner scope took its own; the outer one has collected nothing yet.
            let outer_before = COLLECTED.with(|c| c.borrow().as_ref().map(|d| d.quotas_due));
            (inner, outer_before)
        });
        assert!(inner.quotas_due());
        assert_eq!(outer_before, Some(false));
        assert!(!outer.quotas_due());
        assert!(!quota_save(), "no scope is left behind");
    }

    #[test]
    fn a_panic_leaves_no_scope_behind() {
        let unwound = std::panic::catch_unwind(|| in_place(|| panic!("inside")));
        assert!(unwound.is_err());
        assert!(!quota_save());
    }
}
