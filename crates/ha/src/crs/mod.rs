//! The cluster resource scheduler (datacenter.cfg `crs:`), like Proxmox VE's: `basic`
//! counts HA services per node; `static` weighs each guest's configured CPUs and memory
//! against each node's capacity; `dynamic` also uses the live usage the nodes sample.
//! A candidate node is scored by the load the whole cluster would have with the guest
//! there (the highest and the average node load, memory weighted most); the same loads
//! measure the imbalance that automatic rebalancing reduces.

mod scheduler;
mod usage;

use serde::{Deserialize, Serialize};

use crate::HaError;

pub use scheduler::{Scheduler, Score};
pub use usage::{GuestStats, Live, NodeStats, Usage};
/// Default imbalance (percentage points between the most and least loaded node) above
/// which automatic rebalancing moves a guest.
pub const DEFAULT_REBALANCE_THRESHOLD_PCT: f64 = 30.0;
/// Default time the imbalance must last before a move (Proxmox: 3 rounds of ~10 s).
pub const DEFAULT_REBALANCE_HOLD_SECS: u64 = 30;
/// Default share of the imbalance a move must remove to be worth it.
pub const DEFAULT_REBALANCE_MARGIN_PCT: f64 = 10.0;

/// How placement weighs nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrsMode {
    #[default]
    Basic,
    Static,
    Dynamic,
}

impl CrsMode {
    pub fn parse(s: &str) -> Result<Self, HaError> {
        match s {
            "basic" => Ok(CrsMode::Basic),
            "static" => Ok(CrsMode::Static),
            "dynamic" => Ok(CrsMode::Dynamic),
            _ => Err(HaError::Invalid(format!(
                "crs: ha={s:?}: basic, static or dynamic"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CrsMode::Basic => "basic",
            CrsMode::Static => "static",
            CrsMode::Dynamic => "dynamic",
        }
    }
}

/// Automatic rebalancing: move a running guest live when the imbalance exceeds the
/// threshold for the hold time, and only if the move removes at least the margin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoRebalance {
    pub threshold_pct: f64,
    pub hold_secs: u64,
    pub margin_pct: f64,
}

impl Default for AutoRebalance {
    fn default() -> Self {
        AutoRebalance {
            threshold_pct: DEFAULT_REBALANCE_THRESHOLD_PCT,
            hold_secs: DEFAULT_REBALANCE_HOLD_SECS,
            margin_pct: DEFAULT_REBALANCE_MARGIN_PCT,
        }
    }
}

/// datacenter.cfg `crs:`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CrsSettings {
    pub mode: CrsMode,
    /// A stopped HA guest asked to start goes to the best node first.
    pub rebalance_on_start: bool,
    pub auto: Option<AutoRebalance>,
    /// Log why each node was chosen (the daemon always does; old simulator scenarios
    /// without a `crs` line keep their logs).
    #[serde(default)]
    pub explain: bool,
}

fn bool01(key: &str, v: &str) -> Result<bool, HaError> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(HaError::Invalid(format!(
            "crs: {key} must be 0 or 1, not {v:?}"
        ))),
    }
}

fn number(key: &str, v: &str, max: f64) -> Result<f64, HaError> {
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && (0.0..=max).contains(x))
        .ok_or_else(|| HaError::Invalid(format!("crs: {key} {v:?} must be a number 0..{max}")))
}

impl CrsSettings {
    /// Parses the value of `crs:` (`ha=static,ha-rebalance-on-start=1,...`).
    pub fn parse(value: &str) -> Result<Self, HaError> {
        let mut s = CrsSettings {
            explain: true,
            ..CrsSettings::default()
        };
        let mut auto = false;
        let mut a = AutoRebalance::default();
        let mut tuned = Vec::new();
        for (i, item) in value.split(',').map(str::trim).enumerate() {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) if !k.is_empty() && !v.is_empty() => (k, v),
                None if i == 0 && !item.is_empty() => ("ha", item),
                _ => return Err(HaError::Invalid(format!("crs: {item:?} is not key=value"))),
            };
            match k {
                "ha" => s.mode = CrsMode::parse(v)?,
                "ha-rebalance-on-start" => s.rebalance_on_start = bool01(k, v)?,
                "ha-auto-rebalance" => auto = bool01(k, v)?,
                "ha-auto-rebalance-threshold" => {
                    a.threshold_pct = number(k, v, 100.0)?;
                    tuned.push(k);
                }
                "ha-auto-rebalance-hold-duration" => {
                    a.hold_secs = number(k, v, 86_400.0)? as u64;
                    tuned.push(k);
                }
                "ha-auto-rebalance-margin" => {
                    a.margin_pct = number(k, v, 100.0)?;
                    tuned.push(k);
                }
                "ha-auto-rebalance-method" if v == "bruteforce" => tuned.push(k),
                "ha-auto-rebalance-method" => {
                    return Err(HaError::Invalid(format!(
                        "crs: ha-auto-rebalance-method {v:?}: brigade scores every single move (bruteforce)"
                    )))
                }
                _ => {
                    return Err(HaError::Invalid(format!(
                        "crs: unknown option {k:?} (known: ha, ha-rebalance-on-start, ha-auto-rebalance, ha-auto-rebalance-threshold, ha-auto-rebalance-hold-duration, ha-auto-rebalance-margin, ha-auto-rebalance-method)"
                    )))
                }
            }
        }
        if auto && s.mode == CrsMode::Basic {
            return Err(HaError::Invalid(
                "crs: ha-auto-rebalance needs ha=static or ha=dynamic (basic does not measure load)"
                    .into(),
            ));
        }
        if !auto {
            if let Some(k) = tuned.first() {
                return Err(HaError::Invalid(format!(
                    "crs: {k} has no effect without ha-auto-rebalance=1"
                )));
            }
        }
        s.auto = auto.then_some(a);
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crs_settings_parse_like_proxmox() {
        let s = CrsSettings::parse("ha=static,ha-rebalance-on-start=1").expect("parses");
        assert_eq!(
            (s.mode, s.rebalance_on_start, s.auto),
            (CrsMode::Static, true, None)
        );
        let s = CrsSettings::parse(
            "ha=dynamic,ha-auto-rebalance=1,ha-auto-rebalance-threshold=20,ha-auto-rebalance-hold-duration=10,ha-auto-rebalance-margin=5",
        )
        .expect("parses");
        assert_eq!(
            s.auto,
            Some(AutoRebalance {
                threshold_pct: 20.0,
                hold_secs: 10,
                margin_pct: 5.0
            })
        );
        assert_eq!(
            CrsSettings::parse("basic").expect("bare").mode,
            CrsMode::Basic
        );
        for (bad, needle) in [
            ("ha=fancy", "basic, static or dynamic"),
            (
                "ha=basic,ha-auto-rebalance=1",
                "needs ha=static or ha=dynamic",
            ),
            (
                "ha=static,ha-auto-rebalance-threshold=20",
                "no effect without",
            ),
            (
                "ha=static,ha-auto-rebalance=1,ha-auto-rebalance-threshold=200",
                "0..100",
            ),
            ("ha=static,weird=1", "unknown option \"weird\""),
            ("ha=static,ha-rebalance-on-start=yes", "0 or 1"),
            (
                "ha=static,ha-auto-rebalance=1,ha-auto-rebalance-method=topsis",
                "bruteforce",
            ),
        ] {
            let e = CrsSettings::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
