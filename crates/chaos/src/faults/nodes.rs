//! The nemesis's node operations: power cuts, daemon kills, restarts, who leads, and a
//! damaged node's refusal, wipe and rejoin.

use std::time::{Duration, Instant};

use brigade_client::Client;

use super::{disk, Executor, API_TIMEOUT};
use crate::checkers::corruption::CorruptionOutcome;
use crate::schedule::Damage;

/// How long a node with damaged stores may take to refuse (or to start).
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long removing, wiping and joining a damaged node may take.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(90);
/// Pause between attempts of a step that waits for the cluster.
const RETRY: Duration = Duration::from_millis(500);

async fn bounded<T, E>(f: impl std::future::Future<Output = Result<T, E>>) -> Option<T> {
    tokio::time::timeout(API_TIMEOUT, f).await.ok()?.ok()
}

impl Executor {
    /// A power cut of node `i`: daemon, watchdog helper and guests.
    pub(super) fn power_cut(&mut self, i: usize) {
        self.expected_up[i] = false;
        self.cc.c.power_cut(i);
    }

    /// SIGKILL of node `i`'s daemon only (its guests and watchdog helper go on).
    pub(super) fn kill_daemon(&mut self, i: usize) {
        self.expected_up[i] = false;
        self.cc.c.kill(i);
    }

    /// Starts node `i` (it is expected to run from now on).
    pub(super) fn start(&mut self, i: usize) -> Option<String> {
        self.expected_up[i] = true;
        self.cc
            .c
            .start(i)
            .err()
            .map(|e| format!("n{} did not start: {e:#}", i + 1))
    }

    /// Waits for node `i`'s API; a note if it did not come.
    pub(super) async fn wait_api(&mut self, i: usize) -> Option<String> {
        self.cc
            .c
            .wait_api(i)
            .await
            .err()
            .map(|e| format!("n{} is slow to answer: {e:#}", i + 1))
    }

    pub(super) async fn restart(&mut self, i: usize) -> Option<String> {
        match self.start(i) {
            Some(note) => Some(note),
            None => self.wait_api(i).await,
        }
    }

    fn client(&self, i: usize) -> Option<Client> {
        self.cc.c.client(i).ok()
    }

    /// The index of the node that leads, as the first node that answers says.
    pub(super) async fn leader(&self) -> Option<usize> {
        for i in 0..self.nodes() {
            if !self.expected_up[i] {
                continue;
            }
            let Some(c) = self.client(i) else { continue };
            let Some(s) = bounded(c.status()).await else {
                continue;
            };
            let id = s.cfs.as_ref().and_then(|c| c.leader);
            let name = s.config.as_ref().and_then(|conf| {
                conf.nodes
                    .iter()
                    .find(|n| Some(n.nodeid) == id)
                    .map(|n| n.name.to_string())
            });
            if let Some(idx) = name.and_then(|n| self.cc.names.iter().position(|m| *m == n)) {
                return Some(idx);
            }
        }
        None
    }

    /// A running, quorate node other than `not`.
    async fn quorate_other(&self, not: usize) -> Option<usize> {
        for j in (0..self.nodes()).filter(|j| *j != not && self.expected_up[*j]) {
            let Some(c) = self.client(j) else { continue };
            if bounded(c.status()).await.is_some_and(|s| s.quorate) {
                return Some(j);
            }
        }
        None
    }

    /// Damages a stopped node's store and starts it: it must refuse, and it is wiped
    /// and joined again; or it starts (the damage hit nothing in use).
    pub(super) async fn corrupt(
        &mut self,
        i: usize,
        log: bool,
        damage: Damage,
        index: usize,
        hold: Duration,
    ) -> (String, Option<String>) {
        let name = self.cc.names[i].clone();
        self.power_cut(i);
        let file = disk::store_file(&self.cc.c.nodes[i].state_dir(), log);
        let what = match disk::damage(&file, damage, self.seed ^ ((index as u64) << 8)) {
            Ok(w) => w,
            Err(e) => format!("cannot damage {}: {e}", file.display()),
        };
        self.hold(hold).await;
        let before = self.log(i).len();
        let _ = self.cc.c.start(i);
        let deadline = Instant::now() + REFUSAL_TIMEOUT;
        let (refused, answered) = loop {
            if !self.cc.c.nodes[i].is_running() {
                break (true, false);
            }
            let answers = match self.cc.c.local_client(i) {
                Ok(c) => bounded(c.version()).await.is_some(),
                Err(_) => false,
            };
            if answers || Instant::now() > deadline {
                break (false, answers);
            }
            tokio::time::sleep(RETRY).await;
        };
        let said: String = self.log(i).get(before..).unwrap_or_default().to_string();
        let message = said
            .lines()
            .rev()
            .find(|l| l.contains("corrupted") || l.contains("error"))
            .unwrap_or("")
            .trim()
            .to_string();
        let mut outcome = CorruptionOutcome {
            node: name.clone(),
            damage: what.clone(),
            refused,
            answered,
            clear: refused
                && message.contains("corrupted")
                && message.contains(&format!("delnode {name} --force")),
            message: message.clone(),
            rejoined: false,
        };
        let note = if refused {
            let rejoin = self.rejoin(i).await;
            outcome.rejoined = rejoin.is_none();
            Some(format!(
                "refused to start; {}",
                rejoin.unwrap_or_else(|| "wiped and joined again".into())
            ))
        } else if answered {
            self.expected_up[i] = true;
            Some("it started: the damage hit nothing it uses".into())
        } else {
            self.expected_up[i] = true;
            Some(format!(
                "it neither refused nor answered within {REFUSAL_TIMEOUT:?}"
            ))
        };
        self.corruptions.push(outcome);
        (format!("{what}; then {name} started"), note)
    }

    /// `delnode --force` from a quorate member, wipe, start, `cluster join`: None once
    /// it is back, else why not.
    async fn rejoin(&mut self, i: usize) -> Option<String> {
        let name = self.cc.names[i].clone();
        let deadline = Instant::now() + REJOIN_TIMEOUT;
        let member = loop {
            if let Some(j) = self.quorate_other(i).await {
                if let Some(c) = self.client(j) {
                    if bounded(c.delnode(&name, true)).await.is_some() {
                        break j;
                    }
                }
            }
            if Instant::now() > deadline {
                return Some(format!("could not remove {name} within {REJOIN_TIMEOUT:?}"));
            }
            tokio::time::sleep(RETRY).await;
        };
        if let Err(e) = disk::wipe(&self.cc.c.nodes[i].state_dir()) {
            return Some(format!("cannot wipe {name}: {e}"));
        }
        if let Some(note) = self.restart(i).await {
            return Some(note);
        }
        let mut member = member;
        loop {
            let joined = match (self.client(member), self.cc.c.local_client(i)) {
                (Some(m), Ok(me)) => match bounded(m.join_token()).await {
                    Some(t) => {
                        let at = self.cc.c.nodes[member].config.api_addr().to_string();
                        me.cluster_join(&at, &t.token).await.is_ok()
                    }
                    None => false,
                },
                _ => false,
            };
            if joined {
                return None;
            }
            if Instant::now() > deadline {
                return Some(format!(
                    "{name} could not join again within {REJOIN_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(RETRY).await;
            if let Some(j) = self.quorate_other(i).await {
                member = j;
            }
        }
    }
}
