//! A history: named fields, one archive per timeframe, updated by samples, read per timeframe.

use crate::archive::{Archive, Slot};
use crate::ARCHIVES;

/// The span of a query, each answered by one archive (Proxmox's `timeframe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeframe {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Timeframe {
    /// Every timeframe, shortest first.
    pub const ALL: [Timeframe; 5] = [
        Timeframe::Hour,
        Timeframe::Day,
        Timeframe::Week,
        Timeframe::Month,
        Timeframe::Year,
    ];

    /// The index of its archive in [`ARCHIVES`].
    pub fn archive(self) -> usize {
        self as usize
    }

    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::Hour => "hour",
            Timeframe::Day => "day",
            Timeframe::Week => "week",
            Timeframe::Month => "month",
            Timeframe::Year => "year",
        }
    }
}

impl std::str::FromStr for Timeframe {
    type Err = UpdateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UpdateError::Timeframe(s.to_string()))
    }
}

/// Which consolidation a query reads (Proxmox's `cf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cf {
    #[default]
    Average,
    Max,
}

impl std::str::FromStr for Cf {
    type Err = UpdateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "AVERAGE" => Ok(Cf::Average),
            "MAX" => Ok(Cf::Max),
            other => Err(UpdateError::Cf(other.to_string())),
        }
    }
}

/// What an update or a query's parameters got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("a sample of {got} values for a history of {want} fields")]
    Width { got: usize, want: usize },
    #[error("a sample at {time} is older than the newest one ({last})")]
    Stale { time: u64, last: u64 },
    #[error("unknown timeframe {0:?} (hour, day, week, month or year)")]
    Timeframe(String),
    #[error("unknown consolidation {0:?} (AVERAGE or MAX)")]
    Cf(String),
}

/// One history: its fields and its archives.
#[derive(Debug, Clone, PartialEq)]
pub struct Rrd {
    pub fields: Vec<String>,
    pub archives: Vec<Archive>,
    /// Time of the newest sample.
    pub last_update: Option<u64>,
}

impl Rrd {
    /// An empty history of `fields` with the standard archives.
    pub fn new(fields: &[&str]) -> Rrd {
        Rrd {
            fields: fields.iter().map(|f| (*f).to_string()).collect(),
            archives: ARCHIVES
                .iter()
                .map(|s| Archive::new(*s, fields.len()))
                .collect(),
            last_update: None,
        }
    }

    /// Does this history have exactly these fields and the standard archives?
    pub fn has_shape(&self, fields: &[&str]) -> bool {
        self.fields
            .iter()
            .map(String::as_str)
            .eq(fields.iter().copied())
            && self
                .archives
                .iter()
                .map(|a| a.spec)
                .eq(ARCHIVES.iter().copied())
    }

    /// Adds a sample taken at `time`; a NaN value is unknown.
    pub fn update(&mut self, time: u64, values: &[f64]) -> Result<(), UpdateError> {
        if values.len() != self.fields.len() {
            return Err(UpdateError::Width {
                got: values.len(),
                want: self.fields.len(),
            });
        }
        if let Some(last) = self.last_update {
            if time <= last {
                return Err(UpdateError::Stale { time, last });
            }
        }
        for a in &mut self.archives {
            a.add(time, values);
        }
        self.last_update = Some(time);
        Ok(())
    }

    /// The rows of a timeframe up to `now`, oldest first: each bucket's start time and
    /// per field its average or maximum (`None` where no sample fell).
    pub fn query(&self, tf: Timeframe, cf: Cf, now: u64) -> Vec<(u64, Vec<Option<f64>>)> {
        let Some(a) = self.archives.get(tf.archive()) else {
            return Vec::new();
        };
        let step = a.spec.step_secs;
        let rows = a.spec.rows as u64;
        let now_bucket = now / step;
        let first = (now_bucket + 1).saturating_sub(rows);
        let kept: std::collections::HashMap<u64, &[Slot]> =
            a.rows().into_iter().map(|(t, s)| (t / step, s)).collect();
        (first..=now_bucket)
            .map(|b| {
                let values = match kept.get(&b) {
                    Some(slots) => slots
                        .iter()
                        .map(|s| {
                            (s.count > 0).then(|| match cf {
                                Cf::Average => f64::from(s.avg),
                                Cf::Max => f64::from(s.max),
                            })
                        })
                        .collect(),
                    None => vec![None; self.fields.len()],
                };
                (b * step, values)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minute's start.
    const T0: u64 = 1_699_999_980;

    #[test]
    fn one_minute_is_the_mean_and_max_of_its_six_samples() {
        let mut r = Rrd::new(&["cpu"]);
        for (i, v) in [0.1, 0.2, 0.3, 0.4, 0.5, 0.9].iter().enumerate() {
            r.update(T0 + 10 * i as u64, &[*v]).expect("a newer sample");
        }
        let day = r.query(Timeframe::Day, Cf::Average, T0 + 59);
        let last = day.last().cloned().expect("a row");
        assert_eq!(last.0, T0);
        assert!((last.1[0].unwrap_or(0.0) - 0.4).abs() < 1e-6);
        let max = r.query(Timeframe::Day, Cf::Max, T0 + 59);
        assert!((max.last().and_then(|l| l.1[0]).unwrap_or(0.0) - 0.9).abs() < 1e-6);
        let hour = r.query(Timeframe::Hour, Cf::Average, T0 + 59);
        assert_eq!(hour.len(), 360);
        assert_eq!(hour.iter().filter(|r| r.1[0].is_some()).count(), 6);
    }

    #[test]
    fn every_timeframe_answers_its_rows_up_to_now() {
        let mut r = Rrd::new(&["a", "b"]);
        r.update(1_999_000_000, &[1.0, f64::NAN])
            .expect("a newer sample");
        for tf in Timeframe::ALL {
            let rows = r.query(tf, Cf::Average, 2_000_000_000);
            let spec = ARCHIVES[tf.archive()];
            assert_eq!(rows.len(), spec.rows, "{tf:?}");
            let last = rows.last().map(|r| r.0).expect("a row");
            assert_eq!(last, 2_000_000_000 / spec.step_secs * spec.step_secs);
            for w in rows.windows(2) {
                assert_eq!(w[1].0 - w[0].0, spec.step_secs);
            }
            assert!(rows.iter().all(|r| r.1[1].is_none()));
        }
        // A year still shows the sample of 11 days ago, an hour does not.
        let year = r.query(Timeframe::Year, Cf::Average, 2_000_000_000);
        assert_eq!(year.iter().filter(|r| r.1[0].is_some()).count(), 1);
        let hour = r.query(Timeframe::Hour, Cf::Average, 2_000_000_000);
        assert!(hour.iter().all(|r| r.1[0].is_none()));
    }

    #[test]
    fn stale_and_misshapen_samples_are_refused() {
        let mut r = Rrd::new(&["a"]);
        assert_eq!(r.update(100, &[1.0]), Ok(()));
        assert_eq!(
            r.update(100, &[1.0]),
            Err(UpdateError::Stale {
                time: 100,
                last: 100
            })
        );
        assert_eq!(
            r.update(200, &[1.0, 2.0]),
            Err(UpdateError::Width { got: 2, want: 1 })
        );
    }

    #[test]
    fn timeframes_and_cfs_parse_their_api_names() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>(), Ok(tf));
        }
        assert!("decade".parse::<Timeframe>().is_err());
        assert_eq!("MAX".parse::<Cf>(), Ok(Cf::Max));
        assert_eq!("AVERAGE".parse::<Cf>(), Ok(Cf::Average));
        assert!("min".parse::<Cf>().is_err());
    }

    #[test]
    fn shape_is_checked() {
        let r = Rrd::new(&["a", "b"]);
        assert!(r.has_shape(&["a", "b"]));
        assert!(!r.has_shape(&["a"]));
    }
}
