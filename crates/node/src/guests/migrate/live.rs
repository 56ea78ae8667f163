//! The source side of a live migration: the stream through the tunnel, progress, and
//! the switch-over: the target confirms it holds the whole guest (paused), the config
//! is handed over, the target resumes, the source's paused copy dies. If the handover
//! did not happen, the target copy is aborted and the source resumes.

use std::sync::Arc;
use std::time::Instant;

use brigade_core::layout::GuestKind;
use brigade_core::poll_until;
use brigade_guest::qemu;
use brigade_net::tunnel::{self, TunnelHeader};
use serde_json::{json, Value};

use super::super::common::with_lock;
use super::super::locate::Located;
use super::handover::Handover;
use super::network::{migration_settings, relay_unix_to_tcp};
use super::{
    migration_bwlimit_kib, DOWNTIME_LIMIT_MAX_MS, DOWNTIME_LIMIT_START_MS, DOWNTIME_RAISE_INTERVAL,
    MIGRATION_COPY_BUFFER, MIGRATION_POLL_INTERVAL, MIGRATION_STATUS_POLL, TARGET_CONFIRM_POLL,
    TARGET_RESUME_TIMEOUT, TUNNEL_ACCEPT_TIMEOUT,
};
use crate::error::NodeError;
use crate::node::Node;
use crate::tasks::TaskHandle;
use brigade_api::guests::GuestRequest;
use brigade_api::tasks::MigrationResult;

use super::states::{live_result, progress_of, source_step, target_copy, SourceStep, TargetCopy};

/// QEMU's own migration bandwidth limit (bytes/s), used when datacenter.cfg sets none.
const QEMU_DEFAULT_MAX_BANDWIDTH: u64 = 128 << 20;
/// How long the source keeps trying to resume after a migration that did not hand over.
pub const SOURCE_RESUME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long one status, resume or abort request to the target may take during the
/// switch-over (the link may just have broken).
pub const SWITCH_OVER_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl Node {
    pub(super) async fn migrate_live(
        self: &Arc<Self>,
        l: &Located,
        locked_version: u64,
        target: &str,
        addr: std::net::SocketAddr,
        task: &TaskHandle,
        started: Instant,
    ) -> Result<MigrationResult, NodeError> {
        let rt = self.require_cluster()?.clone();
        let v = l.vmid.get();
        let settings = migration_settings(&rt);
        let insecure = settings.insecure;
        // Refused before anything starts when this node has no address in network=.
        let local = self.migration_address(&settings)?;
        let config = with_lock(&l.text, None)?;
        task.log(format!("preparing the incoming guest on {target}"));
        let prep = self
            .guest_on(
                target,
                GuestRequest::PrepareIncoming {
                    vmid: l.vmid,
                    config,
                    insecure,
                },
            )
            .await?;
        let streamed = self
            .stream_to_target(l, target, (addr, local), task, insecure, &prep)
            .await;
        let (mut result, completed_at) = match streamed {
            Ok(r) => r,
            Err(e) => {
                // The target never runs a guest whose config did not reach it; stop its
                // copy anyway. QEMU resumes the source itself when a migration fails.
                self.abort_target(l, target).await;
                self.resume_source(v).await;
                return Err(e);
            }
        };
        let confirmed_ms = completed_at.elapsed().as_millis();
        task.log(format!(
            "{target} holds the whole guest; handing the config over"
        ));
        match self.hand_over(l, locked_version, target).await {
            Handover::Moved => {}
            Handover::Stayed => {
                self.abort_target(l, target).await;
                self.resume_source(v).await;
                return Err(NodeError::Conflict(format!(
                    "the guest reached {target} but its config could not be handed over; it keeps running here"
                )));
            }
        }
        let handed_ms = completed_at.elapsed().as_millis();
        task.log(format!(
            "config handed over to {target}; resuming the guest there"
        ));
        // The guest is the target's now: run it there, and never here again.
        let skip_resume =
            crate::faults::at(&self.config.state_dir(), "migrate.resume-target").is_some();
        let resumed = if skip_resume {
            Err(NodeError::Upstream(
                "injected: the resume request was lost".into(),
            ))
        } else {
            self.guest_on_within(
                target,
                GuestRequest::ResumeIncoming { vmid: l.vmid },
                SWITCH_OVER_REQUEST_TIMEOUT,
            )
            .await
        };
        let resumed_ms = completed_at.elapsed().as_millis();
        task.log(format!(
            "switch-over after QEMU completed: {target} confirmed at {confirmed_ms} ms, config handed over at {handed_ms} ms, resume answered at {resumed_ms} ms"
        ));
        if let Err(e) = resumed {
            tracing::warn!(
                vmid = v,
                "resuming on {target} failed ({e}); it resumes once it sees its config"
            );
        }
        self.kill_guest(GuestKind::Qemu, l.vmid).await?;
        let runs_there = poll_until(
            Instant::now() + TARGET_RESUME_TIMEOUT,
            MIGRATION_POLL_INTERVAL / 4,
            || async {
                let s = self
                    .guest_on_within(
                        target,
                        GuestRequest::IncomingStatus { vmid: l.vmid },
                        SWITCH_OVER_REQUEST_TIMEOUT,
                    )
                    .await;
                s.ok().and_then(|s| s.get("status").cloned()) == Some(json!("running"))
            },
        )
        .await;
        if runs_there.is_err() {
            return Err(NodeError::Upstream(format!(
                "the guest was handed over to {target} but does not run there yet after {} s; {target} resumes it once it sees its config",
                TARGET_RESUME_TIMEOUT.as_secs()
            )));
        }
        task.log(format!("the guest runs on {target}"));
        result.handover_ms = Some(completed_at.elapsed().as_millis() as u64);
        result.total_time_ms = started.elapsed().as_millis() as u64;
        tracing::info!(vmid = v, target, downtime_ms = ?result.downtime_ms, handover_ms = ?result.handover_ms, "live migration done");
        Ok(result)
    }

    /// Best effort: the target stops its copy (it would never run it anyway: its config
    /// did not arrive; its reconciliation removes it later if this fails).
    async fn abort_target(self: &Arc<Self>, l: &Located, target: &str) {
        if let Err(e) = self
            .guest_on_within(
                target,
                GuestRequest::AbortIncoming { vmid: l.vmid },
                SWITCH_OVER_REQUEST_TIMEOUT,
            )
            .await
        {
            tracing::warn!(
                vmid = l.vmid.get(),
                "could not stop the copy on {target}: {e}"
            );
        }
    }

    /// The source's copy runs again (after a migration that did not hand it over).
    /// Retried a while: the disks may still be held by the target's copy.
    async fn resume_source(&self, vmid: u32) {
        let started = Instant::now();
        loop {
            match qemu::monitor(&self.guests.run, vmid).await {
                Ok(mut q) => match q.status().await {
                    Ok(s) if s == "running" => return,
                    Ok(_) => match q.execute("cont", None).await {
                        Ok(_) => return,
                        Err(e) => tracing::warn!(vmid, "cannot resume the source yet: {e}"),
                    },
                    Err(e) => tracing::warn!(vmid, "no QMP status of the source: {e}"),
                },
                // Gone (killed meanwhile): nothing to resume.
                Err(_) => return,
            }
            if started.elapsed() > SOURCE_RESUME_TIMEOUT {
                tracing::error!(
                    vmid,
                    "the source could not be resumed within {} s; it stays paused",
                    SOURCE_RESUME_TIMEOUT.as_secs()
                );
                return;
            }
            tokio::time::sleep(MIGRATION_POLL_INTERVAL).await;
        }
    }

    /// Streams the guest to the target until QEMU completes and the target confirms it
    /// holds the whole guest, paused. Returns QEMU's figures and when it completed.
    async fn stream_to_target(
        self: &Arc<Self>,
        l: &Located,
        target: &str,
        (addr, local): (std::net::SocketAddr, std::net::IpAddr),
        task: &TaskHandle,
        insecure: bool,
        prep: &Value,
    ) -> Result<(MigrationResult, Instant), NodeError> {
        let rt = self.require_cluster()?.clone();
        let v = l.vmid.get();
        let (uri, route) = if insecure {
            let target_uri = prep
                .get("uri")
                .and_then(Value::as_str)
                .ok_or_else(|| NodeError::Upstream("the target gave no migration address".into()))?
                .to_string();
            let route = format!("insecure, {local} -> {target_uri}");
            // A bridged VM's QEMU runs in the guest namespace: this daemon connects for it.
            if self.qemu_in_netns(&l.text) {
                let to: std::net::SocketAddr = target_uri
                    .strip_prefix("tcp:")
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| {
                        NodeError::Upstream(format!("the target gave a bad address {target_uri:?}"))
                    })?;
                let sock = self.guests.run.migrate_out(v);
                relay_unix_to_tcp(sock.clone(), local, to)?;
                (format!("unix:{}", sock.display()), route)
            } else {
                (target_uri, route)
            }
        } else {
            let addr = match prep.get("tunnel").and_then(Value::as_str) {
                Some(ip) => std::net::SocketAddr::new(
                    ip.parse().map_err(|_| {
                        NodeError::Upstream(format!("the target gave a bad tunnel address {ip:?}"))
                    })?,
                    addr.port(),
                ),
                None => addr,
            };
            let route = format!("through the tunnel, {local} -> {addr}");
            let sock = self.guests.run.migrate_out(v);
            let _ = std::fs::remove_file(&sock);
            let listener = tokio::net::UnixListener::bind(&sock).map_err(NodeError::failed(
                format!("cannot listen on {}", sock.display()),
            ))?;
            let tls = rt.client_tls.clone();
            let vmid = l.vmid;
            tokio::spawn(async move {
                let accepted = tokio::time::timeout(TUNNEL_ACCEPT_TIMEOUT, listener.accept()).await;
                let _ = std::fs::remove_file(&sock);
                let Ok(Ok((mut qemu_side, _))) = accepted else {
                    return;
                };
                let header = TunnelHeader::Migrate { vmid };
                match tunnel::connect(addr, Some(local), tls, &header).await {
                    Ok(mut remote) => {
                        let _ = tokio::io::copy_bidirectional_with_sizes(
                            &mut qemu_side,
                            &mut remote,
                            MIGRATION_COPY_BUFFER,
                            MIGRATION_COPY_BUFFER,
                        )
                        .await;
                    }
                    Err(e) => tracing::warn!(vmid = v, "migration tunnel to {addr} failed: {e}"),
                }
            });
            (
                format!("unix:{}", self.guests.run.migrate_out(v).display()),
                route,
            )
        };
        let mut mon = qemu::monitor(&self.guests.run, v).await?;
        let mut downtime_limit = DOWNTIME_LIMIT_START_MS;
        qemu::prepare_migration(&mut mon, Some(downtime_limit)).await?;
        // Set every time: QEMU keeps the last value for the next migration of this guest.
        let limit = migration_bwlimit_kib(&rt);
        mon.execute(
            "migrate-set-parameters",
            Some(json!({
                "max-bandwidth": limit.map_or(QEMU_DEFAULT_MAX_BANDWIDTH, |kib| kib.saturating_mul(1024))
            })),
        )
        .await?;
        if let Some(kib) = limit {
            task.log(format!(
                "bandwidth limit: {kib} KiB/s (datacenter.cfg bwlimit)"
            ));
        }
        mon.execute("migrate", Some(json!({ "uri": uri }))).await?;
        task.log(format!("migrating memory to {target} ({route})"));
        let mut raise_at = Instant::now() + DOWNTIME_RAISE_INTERVAL;
        let info = loop {
            tokio::time::sleep(MIGRATION_STATUS_POLL).await;
            let info = mon.execute("query-migrate", None).await?;
            // Not converging at this pause: allow a longer one (up to QEMU's default).
            if Instant::now() >= raise_at && downtime_limit < DOWNTIME_LIMIT_MAX_MS {
                downtime_limit = (downtime_limit * 2).min(DOWNTIME_LIMIT_MAX_MS);
                mon.execute(
                    "migrate-set-parameters",
                    Some(json!({ "downtime-limit": downtime_limit })),
                )
                .await?;
                task.log(format!("downtime limit raised to {downtime_limit} ms"));
                raise_at += DOWNTIME_RAISE_INTERVAL;
            }
            task.progress(progress_of(&info));
            if task.stop_requested() {
                let _ = mon.execute("migrate_cancel", None).await;
                return Err(NodeError::Conflict(format!(
                    "{}; the migration to {target} was cancelled and the guest keeps running here",
                    crate::tasks::STOPPED_MESSAGE
                )));
            }
            match source_step(&info) {
                SourceStep::Completed => break info,
                SourceStep::Failed(why) => {
                    return Err(NodeError::Upstream(format!(
                        "live migration to {target} failed: {why}; the guest keeps running here"
                    )));
                }
                SourceStep::Continue => {}
            }
        };
        let completed_at = Instant::now();
        crate::faults::pause_or(&self.config.state_dir(), "migrate.completed").await;
        // The target must confirm it holds the whole guest before the config moves.
        let confirmed = poll_until(
            completed_at + TARGET_RESUME_TIMEOUT,
            TARGET_CONFIRM_POLL,
            || async {
                let s = match self
                    .guest_on_within(
                        target,
                        GuestRequest::IncomingStatus { vmid: l.vmid },
                        SWITCH_OVER_REQUEST_TIMEOUT,
                    )
                    .await
                {
                    Ok(s) => s,
                    Err(e) => {
                        return Some(Err(NodeError::Upstream(format!(
                            "the target {target} could not confirm it holds the guest ({e}); the guest keeps running here"
                        ))))
                    }
                };
                match target_copy(&s) {
                    TargetCopy::Whole => Some(Ok(())),
                    TargetCopy::Arriving => None,
                    TargetCopy::Lost(copy) => Some(Err(NodeError::Upstream(format!(
                        "the target {target} did not receive the guest (its copy is {copy}); the guest keeps running here"
                    )))),
                }
            },
        )
        .await;
        match confirmed {
            Ok(answer) => answer?,
            Err(_) => {
                return Err(NodeError::Upstream(format!(
                    "the target {target} did not confirm the whole guest within {} s; the guest keeps running here",
                    TARGET_RESUME_TIMEOUT.as_secs()
                )))
            }
        }
        Ok((
            live_result(v, self.config.name.as_str(), target, &info),
            completed_at,
        ))
    }
}
