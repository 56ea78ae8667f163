//! A minimal W3C WebDriver client for a headless Chromium run by chromedriver.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use brigade_core::poll_until;
use serde_json::{json, Value};

/// Debian's browser and its WebDriver (scripts/install-deps installs both).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to answer its first `/status`.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often chromedriver's `/status` is asked while it starts.
const DRIVER_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// W3C's key for an element reference in a WebDriver answer.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What went wrong driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} is missing: run scripts/install-deps (chromium, chromium-driver)")]
    Missing(PathBuf),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("chromedriver did not become ready within {0:?}")]
    NotReady(Duration),
    #[error("webdriver request: {0}")]
    Http(#[from] reqwest::Error),
    /// The command failed: the WebDriver error code (`no such element`, ...) and message.
    #[error("{code}: {message}")]
    Command { code: String, message: String },
    #[error("unexpected webdriver answer: {0}")]
    Answer(String),
    #[error("screenshot is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// How the browser is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// Chromium's profile directory (created by Chromium).
    pub profile: PathBuf,
    /// The window size, width x height.
    pub window: (u32, u32),
}

impl Options {
    pub fn new(profile: &Path) -> Options {
        Options {
            profile: profile.to_path_buf(),
            window: (1400, 1000),
        }
    }
}

/// One browser session; chromedriver and its Chromium die with it.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    base: String,
    driver: Child,
    driver_ended: bool,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium that accepts
    /// the cluster's self-signed certificates (this session only).
    pub async fn start(opts: &Options) -> Result<Browser> {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(bin).exists() {
                return Err(Error::Missing(bin.into()));
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|source| Error::Io {
                what: "a free port",
                source,
            })?
            .port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: Drop ends chromedriver and the Chromium it started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd.spawn().map_err(|source| Error::Io {
            what: "start chromedriver",
            source,
        })?;
        let mut b = Browser {
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
            driver,
            driver_ended: false,
        };
        let status = format!("{}/status", b.base);
        poll_until(
            Instant::now() + DRIVER_START_TIMEOUT,
            DRIVER_POLL_INTERVAL,
            || async {
                let r = b.http.get(&status).send().await.ok()?;
                let v: Value = r.json().await.ok()?;
                v["value"]["ready"].as_bool().filter(|r| *r)
            },
        )
        .await
        .map_err(|_| Error::NotReady(DRIVER_START_TIMEOUT))?;
        let (w, h) = opts.window;
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", format!("--window-size={w},{h}"),
                         format!("--user-data-dir={}", opts.profile.display())],
            },
        }}});
        let v = b
            .raw("POST", &format!("{}/session", b.base), Some(caps))
            .await?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| Error::Answer(format!("no sessionId in {v}")))?
            .to_string();
        b.base = format!("{}/session/{id}", b.base);
        Ok(b)
    }

    async fn raw(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value> {
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let v: Value = req.send().await?.json().await?;
        if let Some(code) = v["value"]["error"].as_str() {
            return Err(Error::Command {
                code: code.to_string(),
                message: v["value"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        Ok(v["value"].clone())
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.raw(method, &format!("{}{path}", self.base), body)
            .await
    }

    /// Opens `url` (returns once the page has loaded).
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    /// Runs `script` in the page (`arguments[0]` is `arg`); its return value (a promise
    /// returned is awaited).
    pub async fn eval(&self, script: &str, arg: Value) -> Result<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [arg] })),
        )
        .await
    }

    /// The reference of the first element matching `css`.
    pub async fn element(&self, css: &str) -> Result<String> {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        v[ELEMENT_KEY]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Answer(format!("no element reference for {css}")))
    }

    /// Clicks element `id` as a user would (it must be visible and not covered).
    pub async fn click_element(&self, id: &str) -> Result<()> {
        self.cmd("POST", &format!("/element/{id}/click"), None)
            .await
            .map(drop)
    }

    /// Empties the field `id`.
    pub async fn clear_element(&self, id: &str) -> Result<()> {
        self.cmd("POST", &format!("/element/{id}/clear"), None)
            .await
            .map(drop)
    }

    /// Types `text` into element `id`.
    pub async fn send_keys(&self, id: &str, text: &str) -> Result<()> {
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    /// A PNG of the window.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>> {
        match self.cmd("GET", "/screenshot", None).await? {
            Value::String(b64) => Ok(base64::engine::general_purpose::STANDARD.decode(b64)?),
            v => Err(Error::Answer(format!("screenshot: {v}"))),
        }
    }

    /// A Chrome DevTools Protocol command (`Network.clearBrowserCache`, ...) through
    /// chromedriver; its result.
    pub async fn cdp(&self, command: &str, params: Value) -> Result<Value> {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": command, "params": params })),
        )
        .await
    }

    /// Ends the session (Chromium exits), then chromedriver.
    pub async fn quit(mut self) {
        let _ = self.cmd("DELETE", "", None).await;
        self.end_driver();
    }

    fn end_driver(&mut self) {
        if std::mem::replace(&mut self.driver_ended, true) {
            return;
        }
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.end_driver();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real Chromium: a page opened, a script run in it, an element found and
    /// clicked, a missing one refused with WebDriver's code, a screenshot taken.
    #[tokio::test]
    async fn drives_a_real_chromium() {
        let dir = std::env::temp_dir().join(format!("brigade-webdriver-{}", std::process::id()));
        let b = Browser::start(&Options::new(&dir.join("profile")))
            .await
            .expect("browser");
        b.goto("data:text/html,<button id=b onclick=\"this.innerText='clicked'\">go</button>")
            .await
            .expect("open");
        let id = b.element("#b").await.expect("the button");
        b.click_element(&id).await.expect("click");
        let text = b
            .eval(
                "return document.getElementById(arguments[0]).innerText;",
                json!("b"),
            )
            .await
            .expect("script");
        assert_eq!(text, json!("clicked"));
        match b.element("#missing").await {
            Err(Error::Command { code, .. }) => assert_eq!(code, "no such element"),
            other => panic!("a missing element answered {other:?}"),
        }
        let png = b.screenshot_png().await.expect("screenshot");
        assert_eq!(&png[1..4], b"PNG");
        b.cdp("Network.clearBrowserCache", json!({}))
            .await
            .expect("a CDP command");
        b.quit().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
