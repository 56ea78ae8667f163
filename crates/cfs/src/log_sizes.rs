//! The encoded size of every entry in the Raft log, so the log is snapshotted by bytes too.

use std::collections::BTreeMap;
use std::ops::Bound;

/// Bytes per log index, for the entries the log holds (durable or not).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogSizes {
    sizes: BTreeMap<u64, u64>,
    total: u64,
}

impl LogSizes {
    /// Records the entry at `index` (replacing one of the same index).
    pub fn insert(&mut self, index: u64, bytes: u64) {
        if let Some(old) = self.sizes.insert(index, bytes) {
            self.total -= old;
        }
        self.total += bytes;
    }

    /// Forgets the entries at `from` and after (a truncated tail).
    pub fn truncate_from(&mut self, from: u64) {
        let tail = self.sizes.split_off(&from);
        self.total -= tail.values().sum::<u64>();
    }

    /// Forgets the entries at `upto` and before (purged after a snapshot).
    pub fn purge_upto(&mut self, upto: u64) {
        let keep = match upto.checked_add(1) {
            Some(next) => self.sizes.split_off(&next),
            None => BTreeMap::new(),
        };
        let purged = std::mem::replace(&mut self.sizes, keep);
        self.total -= purged.values().sum::<u64>();
    }

    /// Bytes of every entry held.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The highest index to purge so that the entries kept at or below `snapshot`
    /// hold at most `keep_bytes`; `None` when they already do.
    pub fn purge_point(&self, snapshot: u64, keep_bytes: u64) -> Option<u64> {
        let mut kept = 0;
        for (&index, &bytes) in self.sizes.range(..=snapshot).rev() {
            kept += bytes;
            if kept > keep_bytes {
                return Some(index);
            }
        }
        None
    }

    /// Bytes of the entries after `index` (all of them for `None`).
    pub fn bytes_after(&self, index: Option<u64>) -> u64 {
        match index {
            None => self.total,
            Some(i) => self
                .sizes
                .range((Bound::Excluded(i), Bound::Unbounded))
                .map(|(_, b)| b)
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn purge_truncate_and_replace_keep_the_total() {
        let mut s = LogSizes::default();
        for i in 1..=10 {
            s.insert(i, 100);
        }
        assert_eq!(s.total(), 1000);
        s.insert(10, 50);
        assert_eq!(s.total(), 950);
        s.purge_upto(3);
        assert_eq!(s.total(), 650);
        s.truncate_from(9);
        assert_eq!(s.total(), 500);
        assert_eq!(s.bytes_after(Some(6)), 200);
        assert_eq!(s.bytes_after(None), 500);
        s.purge_upto(u64::MAX);
        assert_eq!(s, LogSizes::default());
    }

    #[test]
    fn the_purge_point_keeps_at_most_the_bytes_asked() {
        let mut s = LogSizes::default();
        for i in 1..=10 {
            s.insert(i, 100);
        }
        // Keep at most 250 bytes at or below 8: entries 7 and 8 stay, 6 and before go.
        assert_eq!(s.purge_point(8, 250), Some(6));
        assert_eq!(s.purge_point(8, 800), None);
        assert_eq!(s.purge_point(8, 0), Some(8));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u64, u64),
        Truncate(u64),
        Purge(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..64, 0u64..10_000).prop_map(|(i, b)| Step::Insert(i, b)),
            (0u64..64).prop_map(Step::Truncate),
            (0u64..64).prop_map(Step::Purge),
        ]
    }

    proptest! {
        /// The running total always equals the sum of what is held.
        #[test]
        fn the_total_is_the_sum_of_the_entries(steps in proptest::collection::vec(step(), 0..200)) {
            let mut s = LogSizes::default();
            let mut model: BTreeMap<u64, u64> = BTreeMap::new();
            for st in steps {
                match st {
                    Step::Insert(i, b) => { s.insert(i, b); model.insert(i, b); }
                    Step::Truncate(f) => { s.truncate_from(f); model.retain(|k, _| *k < f); }
                    Step::Purge(u) => { s.purge_upto(u); model.retain(|k, _| *k > u); }
                }
                prop_assert_eq!(s.total(), model.values().sum::<u64>());
                prop_assert_eq!(s.bytes_after(Some(20)), model.range(21..).map(|(_, b)| b).sum::<u64>());
            }
        }
    }
}
