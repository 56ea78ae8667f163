//! A register client: consistent reads, blind writes and compare-and-swaps (on the
//! version its last read returned) of a few keys, every value unique.

use std::collections::HashMap;
use std::sync::Arc;

use brigade_client::WriteRequest;
use rand::Rng;

use super::{bounded, Ctx};
use crate::history::{Observed, OpKind, Outcome};

/// The registers (paths in the tree).
pub const KEYS: [&str; 3] = ["chaos/reg/r0", "chaos/reg/r1", "chaos/reg/r2"];
/// Pause between two requests (ms).
const PAUSE_MS: (u64, u64) = (50, 250);

pub async fn run(ctx: Arc<Ctx>, id: usize, node: usize) {
    let mut rng = ctx.rng(id);
    let client = ctx.clients[node].clone();
    let name = ctx.names[node].clone();
    // What this client last read of each key: (value, version).
    let mut known: HashMap<&str, (Option<String>, u64)> = HashMap::new();
    let mut seq = 0u64;
    while !ctx.stopped() {
        let key = KEYS[rng.gen_range(0..KEYS.len())];
        let roll = rng.gen_range(0..100);
        if roll < 40 || !known.contains_key(key) {
            let p = ctx
                .history
                .begin(id, &name, OpKind::Read { key: key.into() });
            match bounded(client.fs_read(key, true)).await {
                Ok(f) => {
                    let v = f.content.clone();
                    known.insert(key, (v.clone(), f.version));
                    ctx.history
                        .end(p, Outcome::Ok, Some(Observed::Register(v)), None);
                }
                Err((_, _, Some(404))) => {
                    known.insert(key, (None, 0));
                    ctx.history
                        .end(p, Outcome::Ok, Some(Observed::Register(None)), None);
                }
                Err((o, e, _)) => ctx.history.end(p, o, None, e),
            }
        } else {
            seq += 1;
            let value = format!("c{id}.{seq}");
            let cas = roll >= 65;
            let (kind, expect) = match known.get(key) {
                Some((from, version)) if cas => (
                    OpKind::Cas {
                        key: key.into(),
                        from: from.clone(),
                        to: value.clone(),
                    },
                    Some(*version),
                ),
                _ => (
                    OpKind::Write {
                        key: key.into(),
                        value: value.clone(),
                    },
                    None,
                ),
            };
            let p = ctx.history.begin(id, &name, kind);
            let req = WriteRequest {
                path: key.into(),
                content: Some(value.clone()),
                data: None,
                expect_version: expect,
                create_exclusive: false,
            };
            match bounded(client.fs_write(&req)).await {
                Ok(a) => {
                    known.insert(key, (Some(value), a.version));
                    ctx.history.end(p, Outcome::Ok, None, None);
                }
                Err((o, e, _)) => {
                    known.remove(key);
                    ctx.history.end(p, o, None, e);
                }
            }
        }
        ctx.pause(&mut rng, PAUSE_MS.0, PAUSE_MS.1).await;
    }
}
