//! A list client: appends unique elements to shared list files by compare-and-swap (read
//! the list, write it back with one more line on the version read), moving on to the
//! next list once one is long enough, so no file grows without bound.

use std::sync::Arc;

use brigade_client::WriteRequest;

use super::{bounded, Ctx};
use crate::history::{Observed, OpKind, Outcome};

/// Where the lists live: `chaos/list/l0`, `l1`, ...
pub const PREFIX: &str = "chaos/list/l";
/// Elements after which the clients move to the next list.
pub const LIST_MAX: usize = 60;
/// Pause between two appends (ms).
const PAUSE_MS: (u64, u64) = (100, 300);

pub fn key(k: usize) -> String {
    format!("{PREFIX}{k}")
}

/// A list file's elements.
pub fn elements(content: &str) -> Vec<String> {
    content
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn run(ctx: Arc<Ctx>, id: usize, node: usize) {
    let mut rng = ctx.rng(id);
    let client = ctx.clients[node].clone();
    let name = ctx.names[node].clone();
    let mut list = 0usize;
    let mut seq = 0u64;
    // An element whose append was refused or whose outcome is unknown: tried again
    // (once a read shows it, it happened).
    let mut pending: Option<String> = None;
    while !ctx.stopped() {
        let k = key(list);
        let p = ctx
            .history
            .begin(id, &name, OpKind::ListRead { key: k.clone() });
        let (current, version) = match bounded(client.fs_read(&k, true)).await {
            Ok(f) => (elements(&f.content.unwrap_or_default()), f.version),
            Err((_, _, Some(404))) => (Vec::new(), 0),
            Err((o, e, _)) => {
                ctx.history.end(p, o, None, e);
                ctx.pause(&mut rng, PAUSE_MS.0, PAUSE_MS.1).await;
                continue;
            }
        };
        ctx.history
            .end(p, Outcome::Ok, Some(Observed::List(current.clone())), None);
        if pending.as_ref().is_some_and(|e| current.contains(e)) {
            pending = None;
        }
        if current.len() >= LIST_MAX {
            list += 1;
            pending = None;
            continue;
        }
        let element = pending.take().unwrap_or_else(|| {
            seq += 1;
            format!("a{id}.{seq}")
        });
        let mut content = current.join("\n");
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str(&element);
        let p = ctx.history.begin(
            id,
            &name,
            OpKind::Append {
                key: k.clone(),
                element: element.clone(),
            },
        );
        let req = WriteRequest {
            path: k,
            content: Some(content),
            data: None,
            expect_version: Some(version),
            create_exclusive: false,
        };
        match bounded(client.fs_write(&req)).await {
            Ok(_) => ctx.history.end(p, Outcome::Ok, None, None),
            Err((o, e, _)) => {
                pending = Some(element);
                ctx.history.end(p, o, None, e);
            }
        }
        ctx.pause(&mut rng, PAUSE_MS.0, PAUSE_MS.1).await;
    }
}
