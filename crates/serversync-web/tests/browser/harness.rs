//! The browser test's harness: locating Chromium/chromedriver and the `serversync` binary,
//! child processes killed on drop, a WebDriver session, explicit waits and screenshots.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long an element may take to appear.
pub const WAIT: Duration = Duration::from_secs(15);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// A child process that is killed (and reaped) when dropped.
pub struct ChildGuard {
    pub child: Child,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium and chromedriver, found on this machine.
pub struct Browser {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

/// Finds Chromium and chromedriver (`CHROMIUM` / `CHROMEDRIVER` override the Debian paths
/// `/usr/bin/chromium` and `/usr/bin/chromedriver`).
pub fn find_browser() -> std::result::Result<Browser, String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    let chromedriver = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromedriver".into());
    let mut missing = Vec::new();
    if !chromium.is_file() {
        missing.push(format!("Chromium ({})", chromium.display()));
    }
    if !chromedriver.is_file() {
        missing.push(format!("chromedriver ({})", chromedriver.display()));
    }
    if missing.is_empty() {
        Ok(Browser {
            chromium,
            chromedriver,
        })
    } else {
        Err(format!(
            "{} not found; install them with `apt-get install chromium chromium-driver` (Debian) or set CHROMIUM / CHROMEDRIVER",
            missing.join(" and ")
        ))
    }
}

/// The cargo target directory (`…/target`), from this test executable's path
/// (`target/debug/deps/browser-…`).
pub fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("current_exe")?;
    // deps → debug (profile) → target
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("unexpected test executable path {}", exe.display()))?;
    let target = profile
        .parent()
        .ok_or_else(|| anyhow!("unexpected test executable path {}", exe.display()))?;
    Ok(target.to_path_buf())
}

fn newest_source_mtime(dir: &Path, newest: &mut SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_source_mtime(&p, newest);
        } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
            if m > *newest {
                *newest = m;
            }
        }
    }
}

/// The `serversync` binary of this build (`<target>/<profile>/serversync`, or
/// `SERVERSYNC_BIN`). Built with `cargo build -p serversync` when it is missing or older
/// than the workspace's sources (`crates/*/{src,templates,static}`), so that running only
/// this test never exercises a stale binary.
pub fn serversync_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SERVERSYNC_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("unexpected test executable path"))?;
    let bin = profile_dir.join(format!("serversync{}", std::env::consts::EXE_SUFFIX));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let stale = match std::fs::metadata(&bin).and_then(|m| m.modified()) {
        Err(_) => true,
        Ok(built) => {
            let mut newest = SystemTime::UNIX_EPOCH;
            if let Ok(crates) = std::fs::read_dir(workspace.join("crates")) {
                for c in crates.flatten() {
                    for sub in ["src", "templates", "static"] {
                        newest_source_mtime(&c.path().join(sub), &mut newest);
                    }
                }
            }
            newest > built
        }
    };
    if stale {
        let profile = profile_dir
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("debug");
        eprintln!("browser test: building the serversync binary ({} is missing or older than the sources)", bin.display());
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(&workspace)
            .args(["build", "-p", "serversync", "--bin", "serversync"]);
        if profile == "release" {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .context("cannot run cargo build -p serversync")?;
        if !status.success() {
            bail!("cargo build -p serversync failed ({status})");
        }
    }
    if !bin.is_file() {
        bail!("the serversync binary is not at {}", bin.display());
    }
    Ok(bin)
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts chromedriver on a free port; returns it once it accepts connections.
pub fn start_chromedriver(browser: &Browser, log: &Path) -> Result<(ChildGuard, u16)> {
    let port = free_port()?;
    let child = Command::new(&browser.chromedriver)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", browser.chromedriver.display()))?;
    let mut guard = ChildGuard { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((guard, port));
        }
        if let Some(status) = guard.child.try_wait()? {
            bail!(
                "chromedriver exited at start ({status}); see {}",
                log.display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "chromedriver did not listen on port {port} within 20 s; see {}",
                log.display()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// The running demo: its URL and admin password.
pub struct Demo {
    pub _guard: ChildGuard,
    pub url: String,
    pub password: String,
    pub workdir: PathBuf,
}

/// Starts `serversync demo --listen 127.0.0.1:0` in `workdir`; waits (up to 120 s) for the
/// `Web page:` and `Sign in as admin with password` lines of its standard output.
pub fn start_demo(bin: &Path, workdir: &Path) -> Result<Demo> {
    let stderr = std::fs::File::create(workdir.join("demo.stderr"))?;
    let mut child = Command::new(bin)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .current_dir(workdir)
        .env_remove("SERVERSYNC_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("cannot start {} demo", bin.display()))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let guard = ChildGuard { child };
    let (tx, rx) = mpsc::channel::<String>();
    // Reads every line (the pipe must keep draining while the demo runs).
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut url, mut password) = (None, None);
    let mut seen = String::new();
    while url.is_none() || password.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if let Some(u) = line.strip_prefix("Web page: ") {
                    url = Some(u.trim().trim_end_matches('/').to_string());
                }
                if let Some(p) = line.strip_prefix("Sign in as admin with password ") {
                    password = Some(p.trim().to_string());
                }
            }
            Err(_) => {
                let err = std::fs::read_to_string(workdir.join("demo.stderr")).unwrap_or_default();
                bail!("serversync demo did not print its URL and password within 120 s.\nstdout:\n{seen}\nstderr:\n{err}");
            }
        }
    }
    Ok(Demo {
        _guard: guard,
        url: url.unwrap_or_default(),
        password: password.unwrap_or_default(),
        workdir: workdir.to_path_buf(),
    })
}

/// Opens a WebDriver session with headless Chromium.
pub async fn connect(browser: &Browser, port: u16, profile: &Path) -> Result<Client> {
    let caps = json!({
        "goog:chromeOptions": {
            "binary": browser.chromium.to_string_lossy(),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
                "--window-size=1400,1000",
            ]
        }
    });
    let caps = match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    // Two rustls crypto providers are compiled in (fantoccini's and reqwest's): pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ClientBuilder::rustls()
        .context("rustls connector")?
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .context("cannot open a WebDriver session with Chromium")?;
    Ok(client)
}

/// The page: a WebDriver client, the base URL, and the artifacts directory.
pub struct Page {
    pub client: Client,
    pub base: String,
    pub artifacts: PathBuf,
    pub shot: u32,
}

impl Page {
    /// Navigates to `path` (relative to the base URL).
    pub async fn goto(&self, path: &str) -> Result<()> {
        self.client
            .goto(&format!("{}{}", self.base, path))
            .await
            .with_context(|| format!("goto {path}"))
    }

    /// Saves a screenshot as the next artifact `NN-<step>.png`.
    pub async fn screenshot(&mut self, step: &str) -> Result<PathBuf> {
        self.shot += 1;
        let png = self.client.screenshot().await.context("screenshot")?;
        let path = self.artifacts.join(format!("{:02}-{step}.png", self.shot));
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "browser test: step {:02} {step}: {}",
            self.shot,
            path.display()
        );
        Ok(path)
    }

    /// Sets the viewport (the page's layout width, `window.innerWidth`) to `width` × `height`
    /// CSS pixels: resizes the window, then corrects by the browser chrome it measured.
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        self.client
            .set_window_size(width, height)
            .await
            .context("set_window_size")?;
        let inner = self.viewport_width().await?;
        let extra = width.saturating_sub(inner as u32);
        if extra > 0 {
            self.client
                .set_window_size(width + extra, height)
                .await
                .context("set_window_size")?;
        }
        Ok(())
    }

    /// `window.innerWidth` of the page shown (through WebDriver, not a page script).
    pub async fn viewport_width(&self) -> Result<f64> {
        let v = self
            .client
            .execute("return window.innerWidth;", Vec::new())
            .await
            .context("window.innerWidth")?;
        v.as_f64()
            .ok_or_else(|| anyhow!("window.innerWidth is not a number: {v}"))
    }

    /// The page's full width (`document.documentElement.scrollWidth`) and the viewport's:
    /// the page scrolls sideways when the first is larger.
    pub async fn page_and_viewport_width(&self) -> Result<(f64, f64)> {
        let v = self
            .client
            .execute("return document.documentElement.scrollWidth;", Vec::new())
            .await
            .context("scrollWidth")?;
        let page = v
            .as_f64()
            .ok_or_else(|| anyhow!("scrollWidth is not a number: {v}"))?;
        Ok((page, self.viewport_width().await?))
    }

    /// Whether `el` lies wholly inside the viewport horizontally (its right edge at most
    /// `window.innerWidth`, its left edge at least 0); returns the edges and the width seen.
    pub async fn inside_viewport_x(&self, el: &Element) -> Result<(bool, f64, f64, f64)> {
        let (x, _y, w, _h) = el.rectangle().await.context("element rectangle")?;
        let vw = self.viewport_width().await?;
        Ok((x >= 0.0 && x + w <= vw, x, x + w, vw))
    }

    /// Saves the page as it is (screenshot and HTML) after a failure.
    pub async fn save_failure(&mut self) {
        let path = self.artifacts.join("failed.html");
        if let Ok(src) = self.client.source().await {
            let _ = std::fs::write(&path, src);
        }
        let _ = self.screenshot("failed").await;
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        match self.client.current_url().await {
            Ok(u) => match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            },
            Err(e) => format!("<no url: {e}>"),
        }
    }

    /// Waits up to `timeout` for an element matching the CSS selector.
    pub async fn wait_css_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return Ok(e);
            }
            if Instant::now() > deadline {
                bail!(
                    "no element `{css}` on {} after {:?}",
                    self.path().await,
                    timeout
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits up to [`WAIT`] for an element matching the CSS selector.
    pub async fn wait_css(&self, css: &str) -> Result<Element> {
        self.wait_css_for(css, WAIT).await
    }

    /// Every element matching the CSS selector (now).
    pub async fn all(&self, css: &str) -> Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::Css(css)).await?)
    }

    /// Waits until the current path starts with `prefix`.
    pub async fn wait_path(&self, prefix: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let p = self.path().await;
            if p.starts_with(prefix) {
                return Ok(p);
            }
            if Instant::now() > deadline {
                bail!("expected to be on {prefix}…, still on {p} after {timeout:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The visible text of the page's body.
    pub async fn body_text(&self) -> Result<String> {
        Ok(self.client.find(Locator::Css("body")).await?.text().await?)
    }
}

/// Runs `serversync --database sqlite://<dir>/serversync-demo.db ARGS…` and returns its
/// standard output (fails on a non-zero exit).
pub fn serversync_cli(bin: &Path, workdir: &Path, args: &[&str]) -> Result<String> {
    let db = format!("sqlite://{}", workdir.join("serversync-demo.db").display());
    let out = Command::new(bin)
        .arg("--database")
        .arg(&db)
        .args(args)
        .current_dir(workdir)
        .output()
        .with_context(|| format!("cannot run serversync {args:?}"))?;
    if !out.status.success() {
        bail!(
            "serversync {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
