//! One load of the web UI in headless Chromium: a probe installed before the page's
//! scripts notes when the tree and the Datacenter summary are complete, then the
//! navigation and resource timing entries are read back.

use std::time::{Duration, Instant};

use brigade_webdriver::Browser;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How long one load may take to become usable.
pub const USABLE_TIMEOUT: Duration = Duration::from_secs(180);
/// How often the page is asked whether the probe has fired.
const PROBE_POLL: Duration = Duration::from_millis(50);
/// How often the probe looks at the page's DOM (in the page, ms).
const PROBE_EVERY_MS: u32 = 10;
/// Where the probe keeps `performance.now()` of the usable page.
const PROBE_KEY: &str = "__brigadeBenchUsable";

/// The probe: from the document's start, every few milliseconds, whether the tree lists
/// every node and guest and the Datacenter summary shows quorum and every node.
fn probe_script(nodes: usize, guests: usize) -> String {
    format!(
        r"(() => {{
  const done = () => {{
    const n = document.querySelectorAll('[data-role=tree] li[data-tree=node]').length;
    const g = document.querySelectorAll('[data-role=tree] li[data-tree=guest]').length;
    const q = document.querySelector('[data-role=panel] [data-fact=quorate] td');
    const c = document.querySelector('[data-role=panel] [data-fact=nodes] td');
    return n >= {nodes} && g >= {guests} && q && q.innerText.includes('Yes') && c && c.innerText.trim() === '{nodes}';
  }};
  const check = () => {{
    if (done()) {{ window.{PROBE_KEY} = performance.now(); return; }}
    setTimeout(check, {PROBE_EVERY_MS});
  }};
  check();
}})();"
    )
}

/// What the page reports once usable.
const TIMINGS_SCRIPT: &str = r"
const nav = performance.getEntriesByType('navigation')[0] || {};
return {
  usable_ms: window.__brigadeBenchUsable,
  response_end_ms: nav.responseEnd,
  dom_content_loaded_ms: nav.domContentLoadedEventEnd,
  load_ms: nav.loadEventEnd,
  entries: [{ name: nav.name, kind: 'navigation', transfer: nav.transferSize, body: nav.encodedBodySize, decoded: nav.decodedBodySize }]
    .concat(performance.getEntriesByType('resource').map((r) => ({
      name: r.name, kind: r.initiatorType, transfer: r.transferSize, body: r.encodedBodySize, decoded: r.decodedBodySize,
    }))),
};";

/// One resource timing entry (the document's navigation entry among them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub kind: String,
    /// Bytes on the wire, headers included (0 when served from the cache).
    pub transfer: u64,
    /// The body as sent (compressed when it was).
    pub body: u64,
    /// The body decompressed.
    pub decoded: u64,
}

/// One load of the page, times in milliseconds from navigation start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageLoad {
    /// The tree with every node and guest and the Datacenter summary drawn.
    pub usable_ms: f64,
    pub response_end_ms: f64,
    pub dom_content_loaded_ms: f64,
    pub load_ms: f64,
    /// Every request that had finished when the page became usable.
    pub entries: Vec<Entry>,
}

impl PageLoad {
    /// Bytes on the wire and bodies of the entries whose URL contains `part`.
    pub fn bytes(&self, part: &str) -> (u64, u64) {
        self.entries
            .iter()
            .filter(|e| e.name.contains(part))
            .fold((0, 0), |(t, b), e| (t + e.transfer, b + e.body))
    }
}

/// Installs the probe for every document this browser opens from now on.
pub async fn install_probe(b: &Browser, nodes: usize, guests: usize) -> anyhow::Result<()> {
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": probe_script(nodes, guests) }),
    )
    .await?;
    Ok(())
}

/// Signs the tab in with an API token (`user@realm!name=secret`), as the login form
/// does, so the loads measured start at the main screen.
pub async fn sign_in(b: &Browser, url: &str, token: &str) -> anyhow::Result<()> {
    let user = token
        .split_once('=')
        .map(|(id, _)| id)
        .ok_or_else(|| anyhow::anyhow!("the API token has no '='"))?;
    b.goto(url).await?;
    b.eval(
        "sessionStorage.setItem('brigade.session', JSON.stringify(arguments[0]));",
        json!({ "type": "token", "token": token, "user": user }),
    )
    .await?;
    Ok(())
}

/// Loads `url` with an empty cache and waits until the probe fires; the page's timings.
pub async fn load(b: &Browser, url: &str) -> anyhow::Result<PageLoad> {
    b.goto("about:blank").await?;
    b.cdp("Network.clearBrowserCache", json!({})).await?;
    b.goto(url).await?;
    let deadline = Instant::now() + USABLE_TIMEOUT;
    let usable = brigade_core::poll_until(deadline, PROBE_POLL, || async {
        let v = b
            .eval(&format!("return window.{PROBE_KEY} ?? null;"), Value::Null)
            .await
            .ok()?;
        v.as_f64()
    })
    .await;
    if usable.is_err() {
        anyhow::bail!(
            "the page did not show the whole tree and the Datacenter summary within {USABLE_TIMEOUT:?}"
        );
    }
    let v = b.eval(TIMINGS_SCRIPT, Value::Null).await?;
    Ok(serde_json::from_value(v)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_add_up_the_entries_that_match() {
        let e = |name: &str, transfer, body| Entry {
            name: name.into(),
            kind: "fetch".into(),
            transfer,
            body,
            decoded: body,
        };
        let l = PageLoad {
            usable_ms: 1.0,
            response_end_ms: 0.5,
            dom_content_loaded_ms: 0.7,
            load_ms: 0.8,
            entries: vec![
                e("https://n1:8006/ui/app.js", 300, 200),
                e("https://n1:8006/api2/json/cluster/status", 1000, 900),
                e("https://n1:8006/api2/json/cluster/resources", 5000, 4900),
            ],
        };
        assert_eq!(l.bytes("/api2/"), (6000, 5800));
        assert_eq!(l.bytes("/ui/"), (300, 200));
        assert_eq!(l.bytes(""), (6300, 6000));
    }
}
