//! What the states QEMU reports during a live migration mean for it, without I/O: the
//! source's `query-migrate` answer (go on, done, failed), the target's copy (whole,
//! still arriving, lost), and the figures a task shows.

use brigade_api::tasks::{MigrationProgress, MigrationResult};
use serde_json::Value;

/// QEMU's run state of a migrated guest that arrived whole and waits, paused (`-S`).
pub const INCOMING_COMPLETE: &str = "paused";

/// Where the source's migration stands after one `query-migrate`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SourceStep {
    /// Still under way (setup, active, device, ...).
    Continue,
    /// QEMU sent everything.
    Completed,
    /// QEMU gave up (failed or cancelled): why.
    Failed(String),
}

/// The migration status QEMU reported ("" if none).
pub(super) fn status_of(info: &Value) -> &str {
    info.get("status").and_then(Value::as_str).unwrap_or("")
}

/// What one `query-migrate` answer means for the source.
pub(super) fn source_step(info: &Value) -> SourceStep {
    match status_of(info) {
        "completed" => SourceStep::Completed,
        "failed" | "cancelled" => SourceStep::Failed(
            info.get("error-desc")
                .and_then(Value::as_str)
                .unwrap_or("QEMU reported failure")
                .to_string(),
        ),
        _ => SourceStep::Continue,
    }
}

/// Where the target's copy stands, from its QEMU status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TargetCopy {
    /// It holds the whole guest, paused.
    Whole,
    /// Still receiving (or not yet started).
    Arriving,
    /// It does not have the guest: its QEMU status, or "gone".
    Lost(String),
}

/// What the target's `IncomingStatus` answer says of its copy.
pub(super) fn target_copy(answer: &Value) -> TargetCopy {
    match answer.get("status").and_then(Value::as_str) {
        Some(INCOMING_COMPLETE) => TargetCopy::Whole,
        Some("inmigrate" | "prelaunch") => TargetCopy::Arriving,
        other => TargetCopy::Lost(other.unwrap_or("gone").to_string()),
    }
}

/// The progress figures of one `query-migrate` answer.
pub(super) fn progress_of(info: &Value) -> MigrationProgress {
    let ram = info.get("ram");
    let num = |k: &str| {
        ram.and_then(|r| r.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    MigrationProgress {
        status: status_of(info).to_string(),
        transferred_bytes: num("transferred"),
        remaining_bytes: num("remaining"),
        total_bytes: num("total"),
        mbps: ram
            .and_then(|r| r.get("mbps"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        expected_downtime_ms: info.get("expected-downtime").and_then(Value::as_u64),
    }
}

/// The result of a completed live migration, from QEMU's last `query-migrate`.
pub(super) fn live_result(vmid: u32, source: &str, target: &str, info: &Value) -> MigrationResult {
    MigrationResult {
        vmid,
        source: source.to_string(),
        target: target.to_string(),
        online: true,
        total_time_ms: 0,
        qemu_total_time_ms: info.get("total-time").and_then(Value::as_u64),
        downtime_ms: info.get("downtime").and_then(Value::as_u64),
        handover_ms: None,
        transferred_bytes: info
            .get("ram")
            .and_then(|r| r.get("transferred"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        copied_volumes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_source_goes_on_until_qemu_completes_or_gives_up() {
        for s in ["setup", "active", "device", "pre-switchover", ""] {
            assert_eq!(
                source_step(&json!({ "status": s })),
                SourceStep::Continue,
                "{s}"
            );
        }
        assert_eq!(source_step(&json!({})), SourceStep::Continue);
        assert_eq!(
            source_step(&json!({ "status": "completed" })),
            SourceStep::Completed
        );
        assert_eq!(
            source_step(&json!({ "status": "failed", "error-desc": "connection reset" })),
            SourceStep::Failed("connection reset".into())
        );
        assert_eq!(
            source_step(&json!({ "status": "cancelled" })),
            SourceStep::Failed("QEMU reported failure".into())
        );
    }

    #[test]
    fn the_target_copy_is_whole_only_when_paused() {
        assert_eq!(
            target_copy(&json!({ "status": "paused" })),
            TargetCopy::Whole
        );
        assert_eq!(
            target_copy(&json!({ "status": "inmigrate" })),
            TargetCopy::Arriving
        );
        assert_eq!(
            target_copy(&json!({ "status": "prelaunch" })),
            TargetCopy::Arriving
        );
        assert_eq!(
            target_copy(&json!({ "status": "running" })),
            TargetCopy::Lost("running".into())
        );
        assert_eq!(target_copy(&json!({})), TargetCopy::Lost("gone".into()));
    }

    #[test]
    fn progress_and_result_read_qemus_figures() {
        let info = json!({
            "status": "active",
            "expected-downtime": 30,
            "total-time": 1200,
            "downtime": 12,
            "ram": { "transferred": 1000, "remaining": 24, "total": 1024, "mbps": 8.5 },
        });
        let p = progress_of(&info);
        assert_eq!(p.status, "active");
        assert_eq!(
            (p.transferred_bytes, p.remaining_bytes, p.total_bytes),
            (1000, 24, 1024)
        );
        assert_eq!(p.expected_downtime_ms, Some(30));
        let r = live_result(100, "n1", "n2", &info);
        assert_eq!(
            (r.qemu_total_time_ms, r.downtime_ms),
            (Some(1200), Some(12))
        );
        assert_eq!(r.transferred_bytes, 1000);
        assert!(r.online);
        let empty = progress_of(&json!({}));
        assert_eq!((empty.status.as_str(), empty.total_bytes), ("", 0));
    }
}
