//! The workload: clients, each bound to one node, running throughout the faults and
//! recording every request in the history with its start, end and outcome:
//! compare-and-swap registers, appends to lists, creation and removal of guest configs,
//! HA migrations, and live migrations of the plain VM.

pub mod guests;
pub mod lists;
pub mod registers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brigade_api::tasks::TaskStarted;
use brigade_api::ErrorKind;
use brigade_client::{Client, ClientError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::history::{History, Outcome, MISMATCH};

/// One request's bound: past it the answer is lost (unknown).
pub const OP_TIMEOUT: Duration = Duration::from_secs(8);
/// How long a migration task is followed.
pub const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a task's status is asked.
const TASK_POLL: Duration = Duration::from_millis(300);
/// How long the clients get to finish their requests when the workload stops.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Register clients and list clients per node.
const REGISTER_CLIENTS_PER_NODE: usize = 1;
const LIST_CLIENTS: usize = 3;
/// The sleep slices of a client waiting for its next request.
const SLICE: Duration = Duration::from_millis(100);

/// What every client shares.
pub struct Ctx {
    pub history: History,
    /// A client of each node, by index.
    pub clients: Vec<Client>,
    pub names: Vec<String>,
    /// HA services to migrate around.
    pub ha: Vec<String>,
    pub seed: u64,
    stop: AtomicBool,
}

impl Ctx {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Client `id`'s own random numbers.
    fn rng(&self, id: usize) -> StdRng {
        StdRng::seed_from_u64(self.seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(id as u64 + 1)))
    }

    /// Sleeps a drawn time in [lo, hi] ms, waking early when the workload stops.
    async fn pause(&self, rng: &mut StdRng, lo: u64, hi: u64) {
        let mut left = Duration::from_millis(rng.gen_range(lo..=hi));
        while !left.is_zero() && !self.stopped() {
            let step = left.min(SLICE);
            tokio::time::sleep(step).await;
            left -= step;
        }
    }
}

/// Whether an error says the request did not happen, or leaves it open.
pub fn classify(e: &ClientError) -> (Outcome, Option<String>) {
    let text = e.to_string();
    let outcome = match e {
        ClientError::Api {
            status,
            kind,
            message,
        } => {
            if *status == 409 && message.contains("version conflict") {
                return (Outcome::Failed, Some(format!("{MISMATCH}: {message}")));
            }
            if *kind == ErrorKind::NotQuorate
                || *kind == ErrorKind::StorageFailed
                || message.contains("no leader is known yet")
                || (400..500).contains(status)
            {
                Outcome::Failed
            } else {
                Outcome::Unknown
            }
        }
        ClientError::Setup(_) => Outcome::Failed,
        ClientError::Transport { .. } | ClientError::Decode { .. } => Outcome::Unknown,
    };
    (outcome, Some(text))
}

/// A request with the workload's bound: its value, or its outcome and error.
pub async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, (Outcome, Option<String>, Option<u16>)> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Err(_) => Err((
            Outcome::Unknown,
            Some(format!("no answer within {OP_TIMEOUT:?}")),
            None,
        )),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            let (o, t) = classify(&e);
            Err((o, t, e.status()))
        }
    }
}

/// Follows a task to its end: ok, failed with its error, or unknown.
pub async fn follow_task(client: &Client, task: &TaskStarted) -> (Outcome, Option<String>) {
    let deadline = tokio::time::Instant::now() + MIGRATION_TIMEOUT;
    let mut last_error = None;
    while tokio::time::Instant::now() < deadline {
        match bounded(client.task_status(&task.node, &task.upid)).await {
            Ok(s) if s.status == "ok" => return (Outcome::Ok, None),
            Ok(s) if s.status != "running" => return (Outcome::Failed, s.error),
            Ok(_) => {}
            Err((_, e, _)) => last_error = e,
        }
        tokio::time::sleep(TASK_POLL).await;
    }
    (
        Outcome::Unknown,
        Some(last_error.unwrap_or_else(|| format!("still running after {MIGRATION_TIMEOUT:?}"))),
    )
}

/// The running clients.
pub struct Workload {
    ctx: Arc<Ctx>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workload {
    /// Starts every client.
    pub fn start(
        history: History,
        clients: Vec<Client>,
        names: Vec<String>,
        ha: Vec<String>,
        seed: u64,
    ) -> Self {
        let n = clients.len();
        let ctx = Arc::new(Ctx {
            history,
            clients,
            names,
            ha,
            seed,
            stop: AtomicBool::new(false),
        });
        let mut tasks = Vec::new();
        let mut id = 0;
        for node in 0..n {
            for _ in 0..REGISTER_CLIENTS_PER_NODE {
                tasks.push(tokio::spawn(registers::run(ctx.clone(), id, node)));
                id += 1;
            }
        }
        for k in 0..LIST_CLIENTS {
            tasks.push(tokio::spawn(lists::run(ctx.clone(), id, k % n)));
            id += 1;
        }
        tasks.push(tokio::spawn(guests::configs(ctx.clone(), id, id % n)));
        id += 1;
        tasks.push(tokio::spawn(guests::ha_migrations(ctx.clone(), id, id % n)));
        id += 1;
        tasks.push(tokio::spawn(guests::live_migrations(
            ctx.clone(),
            id,
            id % n,
        )));
        Workload { ctx, tasks }
    }

    /// Stops the clients: each finishes its request (requests still running after a
    /// grace period stay in the history as unknown).
    pub async fn stop(self) {
        self.ctx.stop.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                abort.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, kind: ErrorKind, message: &str) -> ClientError {
        ClientError::Api {
            status,
            kind,
            message: message.into(),
        }
    }

    #[test]
    fn only_refusals_count_as_failed() {
        let not_quorate = api(
            503,
            ErrorKind::NotQuorate,
            "cluster not quorate: configuration is read-only",
        );
        assert_eq!(classify(&not_quorate).0, Outcome::Failed);
        let mismatch = api(
            409,
            ErrorKind::Cfs,
            "chaos/reg/r1: version conflict: expected 3, found 5",
        );
        let (o, e) = classify(&mismatch);
        assert_eq!(o, Outcome::Failed);
        assert!(e.is_some_and(|e| e.starts_with(MISMATCH)));
        let timeout = api(
            504,
            ErrorKind::Cfs,
            "write timed out after 10 s: the outcome is unknown",
        );
        assert_eq!(classify(&timeout).0, Outcome::Unknown);
        let broken = ClientError::Transport {
            url: "https://127.0.0.1:8006".into(),
            message: "connection reset".into(),
        };
        assert_eq!(classify(&broken).0, Outcome::Unknown);
    }
}
