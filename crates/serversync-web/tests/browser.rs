//! End-to-end test of the admin page in a real headless Chromium, driven over WebDriver
//! (chromedriver + fantoccini), against the real `serversync demo` binary.
//!
//! Steps (a screenshot of each is saved to `target/browser-artifacts/NN-step.png`):
//! sign in → servers page lists web1..web4 → web1 → "Sync accounts" → job page → run page
//! with category tabs and counts → at 1280 px and 800 px the billing status and notes are
//! inside the viewport → select two `out_of_sync` syncs (carol.test, pend.test), change to
//! the `not_in_billing` tab and select one import (ed.test), back on "all" all three are
//! still ticked → Review lists all three, with `status: Pending → Active` for pend.test →
//! Apply → summary shows them `applied` → back on the run page the three rows are `applied`
//! and their boxes cannot be ticked → the billing records changed (`serversync services list
//! --json`: carol.test is Suspended, ed.test exists; the services page lists ed.test) → the
//! servers page's drift trend, web1's chart of accounts and drift, the run history in the top
//! menu.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`; `CHROMIUM` / `CHROMEDRIVER` override the paths). Without them the test
//! is skipped with a loud message, except when `CI` is set: then it fails.

#[path = "browser/harness.rs"]
mod harness;

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use fantoccini::Locator;
use harness::{Page, WAIT};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_syncs_a_server_in_a_real_browser() {
    let browser = match harness::find_browser() {
        Ok(b) => b,
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("browser test: {why}. CI must install them (see .ci/run).");
            }
            // Written past the test harness's output capture, so that it shows in `cargo test`.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n==================================================================\n\
                 SKIPPED browser test: {why}\n\
                 ==================================================================\n"
            );
            return;
        }
    };
    if let Err(e) = run(browser).await {
        panic!("browser test failed: {e:#}");
    }
}

async fn run(browser: harness::Browser) -> Result<()> {
    let artifacts = harness::target_dir()?.join("browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("cannot create {}", artifacts.display()))?;
    eprintln!("browser test: artifacts in {}", artifacts.display());

    let bin = harness::serversync_binary()?;
    let work = tempfile::tempdir()?;
    let profile = tempfile::tempdir()?;
    let demo = harness::start_demo(&bin, work.path())?;
    let (_driver, port) =
        harness::start_chromedriver(&browser, &artifacts.join("chromedriver.log"))?;
    let client = harness::connect(&browser, port, profile.path()).await?;
    let mut page = Page {
        client,
        base: demo.url.clone(),
        artifacts: artifacts.clone(),
        shot: 0,
    };

    let outcome =
        tokio::time::timeout(Duration::from_secs(240), steps(&mut page, &demo, &bin)).await;
    let outcome = match outcome {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("the browser steps took longer than 240 s")),
    };
    if outcome.is_err() {
        page.save_failure().await;
        let err = std::fs::read_to_string(work.path().join("demo.stderr")).unwrap_or_default();
        if !err.trim().is_empty() {
            eprintln!("serversync demo stderr:\n{err}");
        }
    }
    let _ = page.client.clone().close().await;
    outcome
}

async fn steps(page: &mut Page, demo: &harness::Demo, bin: &std::path::Path) -> Result<()> {
    // 1. Sign in.
    page.goto("/login").await?;
    page.wait_css("#username").await?.send_keys("admin").await?;
    page.wait_css("#password")
        .await?
        .send_keys(&demo.password)
        .await?;
    page.screenshot("login").await?;
    page.wait_css("#sign-in").await?.click().await?;

    // 2. The servers page lists web1..web4.
    page.wait_path("/servers", WAIT)
        .await
        .context("after signing in")?;
    page.wait_css("table#servers").await?;
    for name in ["web1", "web2", "web3", "web4"] {
        page.wait_css(&format!("#servers tr[data-server='{name}']"))
            .await
            .with_context(|| format!("server {name} is not listed"))?;
    }
    page.screenshot("servers").await?;

    // 3. Open web1 and click "Sync accounts".
    page.wait_css("#servers tr[data-server='web1'] a[href^='/servers/']")
        .await?
        .click()
        .await?;
    page.wait_path("/servers/", WAIT).await?;
    let sync = page
        .wait_css("#sync-web1")
        .await
        .context("the \"Sync accounts\" button of web1")?;
    page.screenshot("server-web1").await?;
    let label =
        sync.text().await.unwrap_or_default() + &sync.attr("value").await?.unwrap_or_default();
    ensure!(
        label.to_lowercase().contains("sync"),
        "#sync-web1 is labelled {label:?}, expected \"Sync accounts\""
    );
    sync.click().await?;

    // 4. The job page (may be too quick to catch), then the run page (up to 30 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut saw_job = false;
    loop {
        if page.client.find(Locator::Css("table#items")).await.is_ok() {
            break;
        }
        if !saw_job
            && page
                .client
                .find(Locator::Css("#job-progress"))
                .await
                .is_ok()
        {
            saw_job = true;
            page.screenshot("job-progress").await?;
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "the run page (table#items) did not show within 30 s of \"Sync accounts\"; on {}",
                page.path().await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let run_path = page
        .wait_path("/runs/", WAIT)
        .await
        .context("the run page's URL")?;
    eprintln!("browser test: run page {run_path} (job page seen: {saw_job})");
    page.screenshot("run").await?;

    // 5. Category tabs with counts.
    for (category, at_least) in [
        ("in_sync", 1),
        ("out_of_sync", 2),
        ("not_in_billing", 3),
        ("not_on_server", 1),
    ] {
        let tab = page
            .wait_css(&format!("#tab-{category}"))
            .await
            .with_context(|| format!("the {category} tab"))?;
        let text = tab.text().await?;
        let count = tab
            .attr("data-count")
            .await?
            .and_then(|c| c.parse().ok())
            .or_else(|| first_number(&text))
            .with_context(|| format!("the {category} tab {text:?} shows no count"))?;
        ensure!(
            count >= at_least,
            "the {category} tab shows {count} ({text:?}), expected at least {at_least}"
        );
    }

    // 5b. The run table fits the screen: at 1280 px the billing status and the notes of
    //     carol.test (out of sync) are inside the viewport; at 800 px too (one block per item).
    for (width, step) in [(1280, "run-1280px"), (800, "run-800px")] {
        page.set_viewport(width, 900).await?;
        page.goto(&run_path).await?;
        let row = "#items tr[data-uid='carol.test']";
        page.wait_css(row).await?;
        for (what, css) in [
            ("billing status", format!("{row} .b-status")),
            ("notes", format!("{row} td.notes")),
        ] {
            let el = page.wait_css(&css).await?;
            let (inside, left, right, vw) = page.inside_viewport_x(&el).await?;
            ensure!(
                inside,
                "at {width} px the {what} of carol.test is at x {left}..{right}, outside the viewport (width {vw})"
            );
        }
        let (page_w, view_w) = page.page_and_viewport_width().await?;
        ensure!(
            page_w <= view_w,
            "at {width} px the run page is {page_w} px wide (it scrolls sideways)"
        );
        page.screenshot(step).await?;
    }
    page.set_viewport(1400, 1000).await?;
    page.goto(&run_path).await?;

    // 6. Select two syncs on the "all" tab (carol.test: suspended on the server, Active in
    //    billing; pend.test: active on the server, Pending in billing), change to the "not in
    //    billing" tab and select one import there (ed.test: its e-mail is a new client's);
    //    back on "all", the three ticks are kept (server-side).
    let sync_box = find_choice(page, "out_of_sync", "carol.test", "sync").await?;
    tick(&sync_box).await?;
    let pend_box = find_choice(page, "out_of_sync", "pend.test", "sync").await?;
    tick(&pend_box).await?;
    page.screenshot("selected-sync").await?;
    page.wait_css("#tab-not_in_billing").await?.click().await?;
    page.wait_path("/runs/", WAIT).await?;
    wait_until_path_has(page, "category=not_in_billing").await?;
    let import_box = find_choice(page, "not_in_billing", "ed.test", "import").await?;
    tick(&import_box).await?;
    page.screenshot("selected-import-other-tab").await?;
    page.wait_css("#tab-all").await?.click().await?;
    wait_until_path_is(page, &run_path).await?;
    for (category, uid, action) in [
        ("out_of_sync", "carol.test", "sync"),
        ("out_of_sync", "pend.test", "sync"),
        ("not_in_billing", "ed.test", "import"),
    ] {
        let b = find_choice(page, category, uid, action).await?;
        ensure!(
            b.is_selected().await?,
            "the {action} tick of {uid} was lost by the tab change"
        );
    }
    let kept = page.wait_css("#kept-top").await?.text().await?;
    ensure!(
        kept.starts_with("3 ticked"),
        "the kept count reads {kept:?}"
    );
    page.screenshot("selected-kept-across-tabs").await?;

    // 7. Review (a dry run) lists the syncs and the import, all as would-apply.
    page.wait_css("#review").await?.click().await?;
    page.wait_css("#apply")
        .await
        .context("the review page's Apply button")?;
    let review = summary_rows(page).await?;
    page.screenshot("review").await?;
    ensure!(
        review.len() == 3,
        "the review has {} rows, expected 3: {review:?}",
        review.len()
    );
    // What will be written, field by field.
    for (target, change) in [
        ("pend.test", "status: Pending → Active"),
        ("carol.test", "status: Active → Suspended"),
        ("ed.test", "client: new: ed@"),
    ] {
        let row = review
            .iter()
            .find(|r| r.target == target)
            .with_context(|| format!("the review does not list {target}: {review:?}"))?;
        ensure!(
            row.text.contains(change),
            "the review of {target} does not say {change:?}: {row:?}"
        );
    }
    for (action, target) in [
        ("sync", "carol.test"),
        ("sync", "pend.test"),
        ("import", "ed.test"),
    ] {
        let row = review
            .iter()
            .find(|r| r.target == target)
            .with_context(|| format!("the review does not list {target}: {review:?}"))?;
        ensure!(
            row.action == action && row.outcome == "would_apply",
            "review of {target}: {row:?}, expected {action} would_apply"
        );
    }

    // 8. Apply: the summary shows the three items applied.
    page.wait_css("#apply").await?.click().await?;
    page.wait_css("#apply-result")
        .await
        .context("the apply summary")?;
    let summary = summary_rows(page).await?;
    page.screenshot("summary").await?;
    ensure!(
        summary.len() == 3,
        "the summary has {} rows, expected 3: {summary:?}",
        summary.len()
    );
    let pend = summary.iter().find(|r| r.target == "pend.test");
    ensure!(
        pend.is_some_and(|r| r.text.contains("status: Pending → Active")),
        "the summary does not show pend.test's change: {pend:?}"
    );
    for (action, target) in [
        ("sync", "carol.test"),
        ("sync", "pend.test"),
        ("import", "ed.test"),
    ] {
        let row = summary
            .iter()
            .find(|r| r.target == target)
            .with_context(|| format!("no summary row for {target}: {summary:?}"))?;
        ensure!(
            row.action == action && row.outcome == "applied",
            "{target}: {row:?}, expected {action} applied"
        );
    }

    // 9. Back on the run page the applied items say so and cannot be ticked again.
    page.goto(&run_path).await?;
    for (category, uid) in [
        ("out_of_sync", "carol.test"),
        ("out_of_sync", "pend.test"),
        ("not_in_billing", "ed.test"),
    ] {
        let row_css = format!("#items tr[data-category='{category}'][data-uid='{uid}']");
        let row = match page.client.find(Locator::Css(&row_css)).await {
            Ok(r) => r,
            Err(_) => {
                page.wait_css(&format!("#tab-{category}"))
                    .await?
                    .click()
                    .await?;
                page.wait_css(&row_css)
                    .await
                    .with_context(|| format!("the run page has no row for {uid}"))?
            }
        };
        let state = row.attr("data-state").await?.unwrap_or_default();
        ensure!(
            state == "applied",
            "{uid} shows state {state:?}, expected applied"
        );
        let cell = row.find(Locator::Css("td.state")).await?.text().await?;
        ensure!(
            cell.contains("applied"),
            "{uid}'s state cell reads {cell:?}"
        );
        for b in row.find_all(Locator::Css("input[type=checkbox]")).await? {
            ensure!(
                !b.is_enabled().await?,
                "{uid}'s checkbox can still be ticked after the apply"
            );
            let _ = b.click().await;
            ensure!(!b.is_selected().await?, "{uid}'s checkbox became ticked");
        }
    }
    page.screenshot("run-after-apply").await?;

    // 10. The billing records changed: through the CLI on the same database …
    let out = harness::serversync_cli(bin, &demo.workdir, &["services", "list", "--json"])?;
    let doc: Value = serde_json::from_str(&out)
        .with_context(|| format!("services list --json is not JSON:\n{out}"))?;
    let services = doc
        .get("services")
        .unwrap_or(&doc)
        .as_array()
        .cloned()
        .context("services list --json: no array")?;
    let by_domain = |d: &str| {
        services
            .iter()
            .filter(|s| s["domain"].as_str() == Some(d))
            .cloned()
            .collect::<Vec<_>>()
    };
    let carol = by_domain("carol.test");
    ensure!(
        carol.len() == 1 && carol[0]["status"] == "Suspended",
        "carol.test should now be Suspended: {carol:?}"
    );
    let ed = by_domain("ed.test");
    ensure!(ed.len() == 1, "ed.test should now be one service: {ed:?}");
    ensure!(
        ed[0]["server_id"] == 1 && ed[0]["username"] == "ed",
        "the imported ed.test service: {:?}",
        ed[0]
    );

    // … and on the services page.
    page.goto("/services").await?;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = page.body_text().await.unwrap_or_default();
        if text.contains("ed.test") {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "the services page ({}) does not list the imported ed.test",
                page.path().await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    page.screenshot("services").await?;

    // 10. The pictures: the drift trend of web1 on the servers page, the chart of accounts
    //     and drift on web1's page (SVG, with its numbers in a table), the fleet's runs.
    page.goto("/servers").await?;
    page.wait_css("#servers tr[data-server='web1'] td.trend svg rect")
        .await
        .context("the drift trend of web1")?;
    let (page_w, view_w) = page.page_and_viewport_width().await?;
    ensure!(
        page_w <= view_w,
        "the servers page is {page_w} px wide in a {view_w} px viewport (it scrolls sideways)"
    );
    page.screenshot("servers-drift-trend").await?;
    page.wait_css("#servers tr[data-server='web1'] a[href^='/servers/']")
        .await?
        .click()
        .await?;
    page.wait_css("#server-chart svg polyline.accounts")
        .await
        .context("the accounts chart of web1")?;
    let numbers = page.all("#chart-numbers tbody tr").await?;
    ensure!(
        !numbers.is_empty(),
        "the chart of web1 has no table of numbers"
    );
    page.screenshot("server-chart").await?;
    page.wait_css("#nav-runs").await?.click().await?;
    page.wait_css("table#all-runs tr[data-run]")
        .await
        .context("the run history in the top menu")?;
    page.screenshot("run-history").await?;
    Ok(())
}

/// Ticks a checkbox (if it is not) and checks that it is.
async fn tick(b: &fantoccini::elements::Element) -> Result<()> {
    if !b.is_selected().await? {
        b.click().await?;
    }
    ensure!(b.is_selected().await?, "a checkbox did not become checked");
    Ok(())
}

/// Waits until the current path and query contain `part`.
async fn wait_until_path_has(page: &Page, part: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let p = page.path().await;
        if p.contains(part) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("the page is {p}, expected one with {part:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the current path and query are exactly `path`.
async fn wait_until_path_is(page: &Page, path: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let p = page.path().await;
        if p == path {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("the page is {p}, expected {path}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One row of the review / apply summary table.
#[derive(Debug)]
struct SummaryRow {
    action: String,
    target: String,
    outcome: String,
    #[allow(dead_code)] // shown by {:?} in failure messages (notes, refusal reasons)
    text: String,
}

/// The rows of `#summary` (review and apply pages).
async fn summary_rows(page: &Page) -> Result<Vec<SummaryRow>> {
    page.wait_css("table#summary").await?;
    let mut out = Vec::new();
    for r in page.all("#summary tr[data-outcome]").await? {
        out.push(SummaryRow {
            action: r.attr("data-action").await?.unwrap_or_default(),
            target: r.attr("data-target").await?.unwrap_or_default(),
            outcome: r.attr("data-outcome").await?.unwrap_or_default(),
            text: r.text().await?,
        });
    }
    Ok(out)
}

/// The first whole number in `s` (a tab's "Out of sync (2)").
fn first_number(s: &str) -> Option<usize> {
    let digits: String = s
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The checkbox choosing `action` on the run-table row of `uid` in `category`; clicks the
/// category's tab when the row is not on the page shown.
async fn find_choice(
    page: &Page,
    category: &str,
    uid: &str,
    action: &str,
) -> Result<fantoccini::elements::Element> {
    let css = format!("#items tr[data-category='{category}'][data-uid='{uid}'] input[type=checkbox][name='c'][value$=':{action}']");
    if let Ok(e) = page.client.find(Locator::Css(&css)).await {
        return Ok(e);
    }
    page.wait_css(&format!("#tab-{category}"))
        .await?
        .click()
        .await?;
    page.wait_css(&css)
        .await
        .with_context(|| format!("no {action} checkbox for {uid} ({category})"))
}
