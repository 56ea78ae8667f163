//! The browser tests' side of `brigade_webdriver::Browser`: a failed command fails the
//! test, waits on the page with the last value seen, and numbered screenshots.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use brigade_core::poll_until;
use brigade_webdriver::Options;
use serde_json::{json, Value};

/// How often a wait for the page asks it again.
const PAGE_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// One browser session for a test; chromedriver and its Chromium die with it.
pub struct Browser {
    wd: brigade_webdriver::Browser,
    shots: PathBuf,
    /// Put before each screenshot's name (a second session's, `carol-`).
    shot_prefix: String,
    shot_n: AtomicU32,
}

impl Browser {
    /// Starts a headless Chromium (profile under `dir`); screenshots go to `dir/screenshots`.
    pub async fn start(dir: &Path) -> Browser {
        Browser::start_named(dir, "").await
    }

    /// Another session beside the first (its own Chromium profile `chromium-profile-NAME`,
    /// so its own cookies), its screenshots in the same folder named `NN-NAME-...`.
    pub async fn start_named(dir: &Path, name: &str) -> Browser {
        let shots = dir.join("screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        eprintln!("browser screenshots: {}", shots.display());
        let (profile, shot_prefix) = if name.is_empty() {
            ("chromium-profile".to_string(), String::new())
        } else {
            (format!("chromium-profile-{name}"), format!("{name}-"))
        };
        let wd = brigade_webdriver::Browser::start(&Options::new(&dir.join(profile)))
            .await
            .unwrap_or_else(|e| panic!("a browser session: {e}"));
        Browser {
            wd,
            shots,
            shot_prefix,
            shot_n: AtomicU32::new(0),
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.wd
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs `script` in the page (`arguments[0]` is `arg`); its return value.
    pub async fn eval(&self, script: &str, arg: Value) -> Value {
        self.wd
            .eval(script, arg)
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

    /// Clicks the element matching `css` as a user would (it must be visible and not
    /// covered), retrying while the page re-draws it; fails the test after `timeout`.
    pub async fn click(&self, css: &str, timeout: Duration) {
        let last = std::cell::RefCell::new(String::new());
        let done = poll_until(Instant::now() + timeout, PAGE_POLL_INTERVAL, || async {
            let r = async {
                let id = self.wd.element(css).await?;
                self.wd.click_element(&id).await
            }
            .await;
            match r {
                Ok(()) => Some(()),
                Err(e) => {
                    *last.borrow_mut() = e.to_string();
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
            .wd
            .element(css)
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        self.wd
            .clear_element(&id)
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        if text.is_empty() {
            return;
        }
        self.wd
            .send_keys(&id, text)
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
        let path = self
            .shots
            .join(format!("{n:02}-{}{name}.png", self.shot_prefix));
        if let Ok(png) = self.wd.screenshot_png().await {
            let _ = std::fs::write(&path, png);
        }
        path
    }

    /// Ends the session (Chromium exits), then chromedriver.
    pub async fn quit(self) {
        self.wd.quit().await;
    }
}
