//! A headless Chromium driven through chromedriver (W3C WebDriver over HTTP, a handful of
//! commands written out here on reqwest rather than a WebDriver crate), with screenshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use brigade_core::poll_until;
use serde_json::{json, Value};

/// Debian's browser and its WebDriver (scripts/install-deps installs both).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to answer its first `/status`.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a wait for the page asks it again.
const PAGE_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// W3C's key for an element reference in a WebDriver answer.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session; chromedriver and its Chromium die with it.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    driver: Child,
    driver_ended: bool,
    shots: PathBuf,
    shot_n: AtomicU32,
}

/// A WebDriver command that failed: its error code (`no such element`, ...) and message.
#[derive(Debug)]
pub struct WdError(pub String);

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that accepts the cluster's
    /// self-signed certificates (this test session only). Screenshots go to `dir/screenshots`.
    pub async fn start(dir: &Path) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "chromium and chromium-driver are missing: run scripts/install-deps"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: Drop ends chromedriver and the Chromium it started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd.spawn().expect("start chromedriver");
        let shots = dir.join("screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        eprintln!("browser screenshots: {}", shots.display());
        let mut b = Browser {
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
            driver,
            driver_ended: false,
            shots,
            shot_n: AtomicU32::new(0),
        };
        let status = format!("{}/status", b.base);
        let ready = poll_until(
            Instant::now() + DRIVER_START_TIMEOUT,
            PAGE_POLL_INTERVAL,
            || async {
                let r = b.http.get(&status).send().await.ok()?;
                let v: Value = r.json().await.ok()?;
                v["value"]["ready"].as_bool().filter(|r| *r)
            },
        )
        .await;
        assert!(ready.is_ok(), "chromedriver did not become ready");
        let profile = dir.join("chromium-profile");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let v = b
            .raw("POST", &format!("{}/session", b.base), Some(caps))
            .await
            .expect("a browser session");
        let id = v["sessionId"].as_str().expect("session id").to_string();
        b.base = format!("{}/session/{id}", b.base);
        b
    }

    async fn raw(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, WdError> {
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let r = req
            .send()
            .await
            .map_err(|e| WdError(format!("webdriver: {e}")))?;
        let v: Value = r
            .json()
            .await
            .map_err(|e| WdError(format!("webdriver answer: {e}")))?;
        if let Some(err) = v["value"]["error"].as_str() {
            return Err(WdError(format!(
                "{err}: {}",
                v["value"]["message"].as_str().unwrap_or_default()
            )));
        }
        Ok(v["value"].clone())
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        self.raw(method, &format!("{}{path}", self.base), body)
            .await
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs `script` in the page (`arguments[0]` is `arg`); its return value.
    pub async fn eval(&self, script: &str, arg: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [arg] })),
        )
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The visible text of the first element matching `css`, None when there is none.
    pub async fn text(&self, css: &str) -> Option<String> {
        let v = self
            .eval(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                json!(css),
            )
            .await;
        v.as_str().map(str::to_string)
    }

    async fn element(&self, css: &str) -> Result<String, WdError> {
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
            .ok_or_else(|| WdError(format!("no element reference for {css}")))
    }

    /// Clicks the element matching `css` as a user would (it must be visible and not
    /// covered), retrying while the page re-draws it; fails the test after `timeout`.
    pub async fn click(&self, css: &str, timeout: Duration) {
        let last = std::cell::RefCell::new(String::new());
        let done = poll_until(Instant::now() + timeout, PAGE_POLL_INTERVAL, || async {
            let r = async {
                let id = self.element(css).await?;
                self.cmd("POST", &format!("/element/{id}/click"), None)
                    .await
            }
            .await;
            match r {
                Ok(_) => Some(()),
                Err(e) => {
                    *last.borrow_mut() = e.0;
                    None
                }
            }
        })
        .await;
        if done.is_err() {
            self.screenshot("click-failed").await;
            panic!("could not click {css}: {}", last.borrow());
        }
    }

    /// Types `text` into the field matching `css`, after clearing it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self
            .element(css)
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        self.cmd("POST", &format!("/element/{id}/clear"), None)
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        if text.is_empty() {
            return;
        }
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Waits until `check(text of css)` holds; the text then. Fails the test with the
    /// last text seen (and a screenshot) after `timeout`.
    pub async fn wait_text(
        &self,
        what: &str,
        css: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        self.wait_value(
            what,
            timeout,
            || async {
                self.text(css)
                    .await
                    .map(Value::String)
                    .unwrap_or(Value::Null)
            },
            |v| v.as_str().is_some_and(&check),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until `check(value())` holds; that value. Fails the test with the last value
    /// seen (and a screenshot) after `timeout`.
    pub async fn wait_value<F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        value: F,
        check: impl Fn(&Value) -> bool,
    ) -> Value
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        let start = Instant::now();
        eprintln!("page: waiting for {what}");
        let last = std::cell::RefCell::new(Value::Null);
        let r = poll_until(start + timeout, PAGE_POLL_INTERVAL, || async {
            let v = value().await;
            let ok = check(&v);
            *last.borrow_mut() = v.clone();
            ok.then_some(v)
        })
        .await;
        if let Ok(v) = r {
            eprintln!("  page showed it after {:?}", start.elapsed());
            return v;
        }
        let shot = self.screenshot("timed-out").await;
        panic!(
            "the page did not show {what} within {timeout:?}; it showed: {}\n(screenshot {})",
            last.borrow(),
            shot.display()
        );
    }

    /// Saves a screenshot as `NN-name.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let n = self.shot_n.fetch_add(1, Ordering::Relaxed);
        let path = self.shots.join(format!("{n:02}-{name}.png"));
        if let Ok(Value::String(b64)) = self.cmd("GET", "/screenshot", None).await {
            if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(b64) {
                let _ = std::fs::write(&path, png);
            }
        }
        path
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
