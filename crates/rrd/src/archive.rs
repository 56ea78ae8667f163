//! One archive: a ring of buckets of a fixed step, each with per-field average, maximum, count.

/// An archive's shape: bucket width and how many buckets it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSpec {
    /// Seconds per bucket.
    pub step_secs: u64,
    /// Buckets kept (the oldest is overwritten).
    pub rows: usize,
}

/// One field of one bucket: the mean and maximum of the samples it got, and how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Mean of the samples (meaningless while `count` is 0).
    pub avg: f32,
    /// Maximum of the samples (meaningless while `count` is 0).
    pub max: f32,
    /// Samples consolidated into this bucket.
    pub count: u16,
}

impl Slot {
    /// A bucket with no sample.
    pub const EMPTY: Slot = Slot {
        avg: 0.0,
        max: 0.0,
        count: 0,
    };

    fn add(&mut self, v: f64) {
        if self.count == u16::MAX {
            return;
        }
        if self.count == 0 {
            self.avg = v as f32;
            self.max = v as f32;
        } else {
            let n = f64::from(self.count) + 1.0;
            let avg = f64::from(self.avg);
            self.avg = (avg + (v - avg) / n) as f32;
            if v as f32 > self.max {
                self.max = v as f32;
            }
        }
        self.count += 1;
    }
}

/// A ring of `rows` buckets × `fields` slots; bucket `b` covers `[b·step, (b+1)·step)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    pub spec: ArchiveSpec,
    pub fields: usize,
    /// The newest bucket written (`None` before the first sample).
    pub last_bucket: Option<u64>,
    /// `rows × fields` slots, bucket `b` at row `b % rows`.
    pub slots: Vec<Slot>,
}

impl Archive {
    /// An empty archive.
    pub fn new(spec: ArchiveSpec, fields: usize) -> Archive {
        Archive {
            spec,
            fields,
            last_bucket: None,
            slots: vec![Slot::EMPTY; spec.rows * fields],
        }
    }

    fn row(&self, bucket: u64) -> usize {
        (bucket % self.spec.rows as u64) as usize
    }

    fn clear_row(&mut self, bucket: u64) {
        let start = self.row(bucket) * self.fields;
        self.slots[start..start + self.fields].fill(Slot::EMPTY);
    }

    /// Adds a sample taken at `time` (seconds); NaN values are unknown and not counted.
    /// A sample older than the newest bucket is ignored (returns false).
    pub fn add(&mut self, time: u64, values: &[f64]) -> bool {
        let bucket = time / self.spec.step_secs;
        match self.last_bucket {
            Some(last) if bucket < last => return false,
            Some(last) if bucket == last => {}
            Some(last) => {
                // The buckets skipped (a gap) and the new one start empty; past a whole
                // ring, every row is cleared once.
                let gap = (bucket - last).min(self.spec.rows as u64);
                for b in (bucket + 1 - gap)..=bucket {
                    self.clear_row(b);
                }
            }
            None => {}
        }
        self.last_bucket = Some(bucket);
        let start = self.row(bucket) * self.fields;
        for (slot, v) in self.slots[start..start + self.fields]
            .iter_mut()
            .zip(values)
        {
            if v.is_finite() {
                slot.add(*v);
            }
        }
        true
    }

    /// The buckets of the ring, oldest first: each bucket's start time and its slots
    /// (the rows before the first sample are the buckets before it, empty).
    pub fn rows(&self) -> Vec<(u64, &[Slot])> {
        let Some(last) = self.last_bucket else {
            return Vec::new();
        };
        let n = self.spec.rows as u64;
        let first = (last + 1).saturating_sub(n);
        (first..=last)
            .map(|b| {
                let start = self.row(b) * self.fields;
                (
                    b * self.spec.step_secs,
                    &self.slots[start..start + self.fields],
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: ArchiveSpec = ArchiveSpec {
        step_secs: 60,
        rows: 4,
    };

    #[test]
    fn a_bucket_averages_and_maximises_its_samples() {
        let mut a = Archive::new(SPEC, 2);
        assert!(a.add(120, &[1.0, 10.0]));
        assert!(a.add(130, &[2.0, f64::NAN]));
        assert!(a.add(179, &[6.0, 4.0]));
        let rows = a.rows();
        let (t, s) = rows.last().copied().unwrap_or((0, &[]));
        assert_eq!(t, 120);
        assert_eq!(s[0].count, 3);
        assert!((s[0].avg - 3.0).abs() < 1e-6);
        assert_eq!(s[0].max, 6.0);
        assert_eq!(s[1].count, 2, "NaN is not counted");
        assert!((s[1].avg - 7.0).abs() < 1e-6);
        assert_eq!(s[1].max, 10.0);
    }

    #[test]
    fn the_ring_wraps_and_keeps_the_newest_rows() {
        let mut a = Archive::new(SPEC, 1);
        for i in 0..10u64 {
            a.add(i * 60, &[i as f64]);
        }
        let rows = a.rows();
        assert_eq!(rows.len(), 4);
        let times: Vec<u64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(times, vec![360, 420, 480, 540]);
        let vals: Vec<f32> = rows.iter().map(|r| r.1[0].avg).collect();
        assert_eq!(vals, vec![6.0, 7.0, 8.0, 9.0]);
    }

    #[test]
    fn a_gap_leaves_empty_buckets_and_a_long_gap_clears_the_ring() {
        let mut a = Archive::new(SPEC, 1);
        a.add(0, &[1.0]);
        a.add(60, &[2.0]);
        a.add(180, &[4.0]);
        let counts: Vec<u16> = a.rows().iter().map(|r| r.1[0].count).collect();
        assert_eq!(counts, vec![1, 1, 0, 1]);
        a.add(60 * 100, &[5.0]);
        let rows = a.rows();
        let counts: Vec<u16> = rows.iter().map(|r| r.1[0].count).collect();
        assert_eq!(counts, vec![0, 0, 0, 1]);
        assert_eq!(rows[3].0, 6000);
    }

    #[test]
    fn an_older_sample_is_ignored() {
        let mut a = Archive::new(SPEC, 1);
        a.add(600, &[1.0]);
        assert!(!a.add(500, &[100.0]));
        assert!(a.add(610, &[3.0]), "the same bucket takes more");
        let rows = a.rows();
        assert_eq!(rows[3].1[0].max, 3.0);
    }

    #[test]
    fn before_the_first_sample_there_are_no_rows() {
        let a = Archive::new(SPEC, 3);
        assert!(a.rows().is_empty());
    }

    #[test]
    fn the_first_rows_before_the_first_sample_are_empty() {
        let mut a = Archive::new(SPEC, 1);
        a.add(600, &[1.0]);
        let rows = a.rows();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].0, 420);
        assert_eq!(rows.iter().filter(|r| r.1[0].count > 0).count(), 1);
    }
}
