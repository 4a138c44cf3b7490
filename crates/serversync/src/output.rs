//! Tables for people (comfy-table) and JSON for scripts.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
use serde_json::Value;
use serversync_app::records::{client_json, product_json, server_json, service_json};
use serversync_app::{App, ApplyReport, ItemOutcome};
use serversync_core::analysis::{Action, Category};
use serversync_core::model::{format_date, Client, Product, Service};

/// Most drift items shown per category in a table (all are in `--json`).
const MAX_ROWS_PER_CATEGORY: usize = 50;

/// Text from a panel, a module or a file made safe for a terminal: control characters
/// (ESC, BEL, CR, …, and the C1 range) are shown escaped (`\u{1b}`) so they can never
/// retitle a window or clear the screen.
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `modules list`: a table (name, kind, display name, unique identifier, product field,
/// status) or the JSON array of [`ModuleInfo`](serversync_modules::ModuleInfo).
pub fn print_modules(modules: &[serversync_modules::ModuleInfo], json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(modules)?);
        return Ok(());
    }
    let mut t = table(&[
        "module",
        "kind",
        "display name",
        "unique identifier",
        "product field",
        "status",
    ]);
    for m in modules {
        let (display, uid, pf) = match &m.meta_data {
            Some(md) => (
                clean(&md.display_name).into_owned(),
                format!(
                    "{} ({})",
                    md.unique_identifier_field.as_meta(),
                    clean(&md.unique_identifier_display_name)
                ),
                md.product_field.clone(),
            ),
            None => Default::default(),
        };
        let status = match &m.error {
            None => "usable".to_string(),
            Some(e) => format!("unusable: {}", clean(e)),
        };
        t.add_row(vec![
            clean(&m.name).into_owned(),
            m.kind.to_string(),
            display,
            uid,
            pf,
            status,
        ]);
    }
    outln!("{t}");
    Ok(())
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new));
    t
}

/// A value of an analysis document (panel and records text) for a table cell or a line:
/// control characters escaped ([`clean`]).
fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => clean(s).into_owned(),
        other => other.to_string(),
    }
}

/// Text of a record for a table cell, control characters escaped. The JSON output keeps
/// the exact value.
fn c(text: &str) -> String {
    clean(text).into_owned()
}

/// A document value as a quoted string, control characters escaped by `Debug` itself.
fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "\"\"".into(),
        other => format!("{:?}", other.to_string()),
    }
}

/// Prints an analysis document as a summary, counts and the drift items.
pub fn print_analysis(doc: &Value) {
    let server = &doc["server"];
    let listing = &doc["listing"];
    outln!(
        "{} ({}): {} accounts listed, listing {}; {} live services in billing; run {}",
        s(&server["name"]),
        s(&server["module"]),
        s(&listing["accounts"]),
        if listing["complete"] == Value::Bool(true) {
            "complete"
        } else {
            "INCOMPLETE"
        },
        s(&doc["live_services"]),
        s(&doc["run_id"]),
    );
    if let Some(skipped) = listing["skipped"].as_array() {
        for sk in skipped {
            outln!(
                "  skipped record #{} ({}): {}",
                s(&sk["index"]),
                s(&sk["identifier"]),
                s(&sk["reason"])
            );
        }
    }
    for w in doc["warnings"].as_array().into_iter().flatten() {
        outln!("  warning: {}", s(w));
    }
    let mut counts = table(&["category", "items"]);
    for c in Category::ALL {
        let n = doc["counts"][c.as_str()].as_u64().unwrap_or(0);
        let mut cell = Cell::new(n);
        if n > 0 && c.is_drift() {
            cell = cell.fg(Color::Yellow);
        }
        counts.add_row(vec![Cell::new(c.as_str()), cell]);
    }
    outln!("{counts}");
    let uid_name = s(&doc["unique_identifier"]["display_name"]);
    let items = doc["items"].as_array().cloned().unwrap_or_default();
    let drift: Vec<&Value> = items
        .iter()
        .filter(|i| i["category"] != "in_sync")
        .collect();
    if drift.is_empty() {
        outln!("No drift.");
        return;
    }
    let mut t = table(&[
        "category",
        &uid_name,
        "service",
        "differences / notes",
        "actions",
    ]);
    let mut shown: std::collections::HashMap<String, usize> = Default::default();
    let mut hidden: std::collections::BTreeMap<String, usize> = Default::default();
    for it in drift {
        let cat = s(&it["category"]);
        let n = shown.entry(cat.clone()).or_default();
        if *n >= MAX_ROWS_PER_CATEGORY {
            *hidden.entry(cat).or_default() += 1;
            continue;
        }
        *n += 1;
        let mut lines: Vec<String> = it["diffs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                format!(
                    "{}: {} on server, {} in billing",
                    s(&d["field"]),
                    quoted(&d["remote"]),
                    quoted(&d["billing"])
                )
            })
            .collect();
        lines.extend(it["notes"].as_array().into_iter().flatten().map(s));
        // The miss counter of a `not_on_server` item (issue 11).
        if let (Some(m), Some(n)) = (it["misses"].as_u64(), it["gone_after"].as_u64()) {
            lines.push(format!("missing in {m} of {n} listings"));
        }
        let actions: Vec<String> = it["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        let mut uid = s(&it["unique_identifier"]);
        if uid.is_empty() {
            // No identifier (a conflict): name the account by its username instead.
            uid = format!("(none; user {})", s(&it["remote"]["username"]));
        }
        t.add_row(vec![
            cat,
            uid,
            s(&it["service_id"]),
            lines.join("\n"),
            actions.join(", "),
        ]);
    }
    outln!("{t}");
    for (cat, n) in hidden {
        outln!("… and {n} more {cat} items (see --json)");
    }
}

/// Prints an apply report.
pub fn print_apply(r: &ApplyReport) {
    outln!(
        "run {} of server {}{}",
        r.run_id,
        clean(&r.server),
        if r.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    for f in &r.forced {
        outln!("  forced: {}", clean(f));
    }
    if r.results.is_empty() {
        outln!("Nothing selected matched an item.");
        return;
    }
    let mut t = table(&["action", "target", "service", "result", "changes", "notes"]);
    for it in &r.results {
        let outcome = match it.outcome {
            ItemOutcome::Applied => Cell::new("applied").fg(Color::Green),
            ItemOutcome::WouldApply => Cell::new("would apply").fg(Color::Cyan),
            ItemOutcome::Refused => Cell::new("refused").fg(Color::Red),
        };
        t.add_row(vec![
            Cell::new(it.action.as_str()),
            // Terminate and move select by service id: named with the service's domain.
            Cell::new(match (it.action, it.service_id, &it.service_domain) {
                (Action::Terminate | Action::Move, Some(id), Some(d)) => {
                    format!("service #{id} {}", c(d))
                }
                _ => c(&it.target),
            }),
            Cell::new(it.service_id.map(|i| i.to_string()).unwrap_or_default()),
            outcome,
            Cell::new(change_lines(it).join("\n")),
            Cell::new(it.notes.iter().map(|n| c(n)).collect::<Vec<_>>().join("\n")),
        ]);
    }
    outln!("{t}");
    outln!(
        "{} {}, {} refused",
        r.count(if r.dry_run {
            ItemOutcome::WouldApply
        } else {
            ItemOutcome::Applied
        }),
        if r.dry_run { "would apply" } else { "applied" },
        r.count(ItemOutcome::Refused)
    );
}

/// An item's client and product (imports) and `field: before → after` lines, cleaned for the
/// terminal.
fn change_lines(it: &serversync_app::ItemResult) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(cl) = &it.client {
        lines.push(format!("client: {}", c(&cl.to_string())));
    }
    if let Some(p) = &it.product {
        lines.push(format!("product: {}", c(&p.to_string())));
    }
    lines.extend(it.changes.iter().map(|ch| c(&ch.to_string())));
    lines
}

fn print_json(v: Vec<Value>) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

pub fn print_services(services: &[Service], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(services.iter().map(service_json).collect());
    }
    let mut t = table(&[
        "id",
        "client",
        "product",
        "server",
        "domain",
        "username",
        "dedicated ip",
        "regdate",
        "status",
    ]);
    for x in services {
        t.add_row(vec![
            x.id.to_string(),
            x.client_id.to_string(),
            x.product_id.to_string(),
            x.server_id.map(|i| i.to_string()).unwrap_or_default(),
            c(&x.domain),
            c(&x.username),
            c(&x.dedicated_ip),
            x.regdate.map(format_date).unwrap_or_default(),
            x.status.to_string(),
        ]);
    }
    outln!("{t}");
    Ok(())
}

pub fn print_clients(clients: &[Client], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(clients.iter().map(client_json).collect());
    }
    let mut t = table(&["id", "email", "name", "company", "status"]);
    for cl in clients {
        t.add_row(vec![
            cl.id.to_string(),
            c(&cl.email),
            c(format!("{} {}", cl.first_name, cl.last_name).trim()),
            c(&cl.company),
            c(&cl.status),
        ]);
    }
    outln!("{t}");
    Ok(())
}

pub fn print_products(products: &[Product], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(products.iter().map(product_json).collect());
    }
    let mut t = table(&["id", "name", "module", "module settings"]);
    for p in products {
        let opts: Vec<String> = p
            .config_options
            .iter()
            .map(|(k, v)| format!("{k}={}", clean(v)))
            .collect();
        t.add_row(vec![
            p.id.to_string(),
            c(&p.name),
            c(&p.module),
            opts.join(" "),
        ]);
    }
    outln!("{t}");
    Ok(())
}

pub async fn print_servers(app: &App, json: bool) -> anyhow::Result<()> {
    let servers = app.servers().await?;
    if json {
        return print_json(servers.iter().map(server_json).collect());
    }
    let mut t = table(&[
        "id", "name", "module", "hostname", "ip", "port", "tls", "last run",
    ]);
    for x in &servers {
        let last = app.server_runs(x.id, 1).await?;
        let last = last
            .first()
            .map(|r| format!("#{} {}", r.id, r.listing_status.as_str()))
            .unwrap_or_else(|| "never".into());
        t.add_row(vec![
            x.id.to_string(),
            c(&x.name),
            c(&x.module),
            c(&x.hostname),
            c(&x.ip_address),
            x.port
                .map(|p| p.to_string())
                .unwrap_or_else(|| "default".into()),
            if !x.secure {
                "off".into()
            } else if x.tls_verify {
                "verified".into()
            } else {
                "UNVERIFIED".into()
            },
            last,
        ]);
    }
    outln!("{t}");
    Ok(())
}
