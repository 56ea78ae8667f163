//! Joining two histories of one subject: a guest's history from the node it left, under
//! the one its new node has begun since it arrived.

use crate::archive::{Archive, Slot};
use crate::store::Rrd;

/// Why two histories cannot be joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("the histories have different fields ({ours:?} and {theirs:?})")]
    Fields {
        ours: Vec<String>,
        theirs: Vec<String>,
    },
    #[error("the histories have different archives")]
    Archives,
}

impl Archive {
    /// The slots of bucket `b` if this ring still holds it with a sample.
    fn bucket(&self, b: u64) -> Option<&[Slot]> {
        let last = self.last_bucket?;
        let first = (last + 1).saturating_sub(self.spec.rows as u64);
        if b < first || b > last {
            return None;
        }
        let start = (b % self.spec.rows as u64) as usize * self.fields;
        let slots = &self.slots[start..start + self.fields];
        slots.iter().any(|s| s.count > 0).then_some(slots)
    }

    /// Fills the buckets where this archive has no sample with `older`'s (this one wins
    /// where both have one); the ring ends at the newer of the two newest buckets.
    pub fn merge_older(&mut self, older: &Archive) {
        let newest = match (self.last_bucket, older.last_bucket) {
            (Some(a), Some(b)) => a.max(b),
            (Some(_), None) => return,
            (None, Some(b)) => b,
            (None, None) => return,
        };
        let mut out = Archive::new(self.spec, self.fields);
        out.last_bucket = Some(newest);
        let first = (newest + 1).saturating_sub(self.spec.rows as u64);
        for b in first..=newest {
            if let Some(slots) = self.bucket(b).or_else(|| older.bucket(b)) {
                let start = (b % self.spec.rows as u64) as usize * self.fields;
                out.slots[start..start + self.fields].copy_from_slice(slots);
            }
        }
        *self = out;
    }
}

impl Rrd {
    /// Joins `older` (the same subject's history kept elsewhere) under this one.
    pub fn merge_older(&mut self, older: &Rrd) -> Result<(), MergeError> {
        if self.fields != older.fields {
            return Err(MergeError::Fields {
                ours: self.fields.clone(),
                theirs: older.fields.clone(),
            });
        }
        if self.archives.len() != older.archives.len()
            || self
                .archives
                .iter()
                .zip(&older.archives)
                .any(|(a, b)| a.spec != b.spec || a.fields != b.fields)
        {
            return Err(MergeError::Archives);
        }
        for (a, b) in self.archives.iter_mut().zip(&older.archives) {
            a.merge_older(b);
        }
        self.last_update = self.last_update.max(older.last_update);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Cf, Rrd, Timeframe};

    const FIELDS: [&str; 2] = ["cpu", "mem"];

    fn history(times: impl IntoIterator<Item = u64>, value: f64) -> Rrd {
        let mut r = Rrd::new(&FIELDS);
        for t in times {
            r.update(t, &[value, value * 2.0]).ok();
        }
        r
    }

    fn cpu_at(r: &Rrd, now: u64) -> Vec<(u64, f64)> {
        r.query(Timeframe::Hour, Cf::Average, now)
            .into_iter()
            .filter_map(|(t, v)| v[0].map(|c| (t, c)))
            .collect()
    }

    #[test]
    fn the_older_history_fills_in_before_the_newer_one() {
        // The source sampled 0..600 s, the target from 620 s on.
        let older = history((0..60).map(|i| 1_000_000 + i * 10), 1.0);
        let mut newer = history((62..70).map(|i| 1_000_000 + i * 10), 5.0);
        newer.merge_older(&older).expect("same shape");
        let rows = cpu_at(&newer, 1_000_700);
        assert_eq!(rows.len(), 68, "60 old buckets and 8 new ones");
        assert!(rows[..60].iter().all(|(_, c)| *c == 1.0));
        assert!(rows[60..].iter().all(|(_, c)| *c == 5.0));
        assert_eq!(newer.last_update, Some(1_000_690));
        // The next sample is taken as before.
        assert!(newer.update(1_000_700, &[5.0, 10.0]).is_ok());
    }

    #[test]
    fn where_both_have_a_bucket_the_newer_node_wins() {
        let older = history([1_000_000, 1_000_010, 1_000_020], 1.0);
        let mut newer = history([1_000_015, 1_000_030], 7.0);
        newer.merge_older(&older).expect("same shape");
        let rows = cpu_at(&newer, 1_000_030);
        assert_eq!(
            rows,
            vec![
                (1_000_000, 1.0),
                (1_000_010, 7.0),
                (1_000_020, 1.0),
                (1_000_030, 7.0)
            ]
        );
    }

    #[test]
    fn an_empty_side_changes_nothing_or_takes_the_other() {
        let older = history([1_000_000, 1_000_010], 3.0);
        let mut empty = Rrd::new(&FIELDS);
        empty.merge_older(&older).expect("same shape");
        assert_eq!(empty, older);
        let mut kept = older.clone();
        kept.merge_older(&Rrd::new(&FIELDS)).expect("same shape");
        assert_eq!(kept, older);
    }

    #[test]
    fn a_history_of_other_fields_is_refused_and_changes_nothing() {
        let mut ours = history([1_000_000], 1.0);
        let before = ours.clone();
        let theirs = Rrd::new(&["cpu"]);
        assert!(ours.merge_older(&theirs).is_err());
        assert_eq!(ours, before);
    }

    #[test]
    fn an_older_history_past_the_ring_leaves_only_what_the_ring_holds() {
        // Day-old samples fall out of the hour archive but stay in the longer ones.
        let older = history([1_000_000], 2.0);
        let mut newer = history([1_000_000 + 86_400], 4.0);
        newer.merge_older(&older).expect("same shape");
        assert_eq!(cpu_at(&newer, 1_000_000 + 86_400).len(), 1);
        let week: Vec<_> = newer
            .query(Timeframe::Week, Cf::Average, 1_000_000 + 86_400)
            .into_iter()
            .filter(|(_, v)| v[0].is_some())
            .collect();
        assert_eq!(week.len(), 2, "both days in the week archive");
    }
}
