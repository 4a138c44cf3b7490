//! Text from a panel or a records document never reaches the terminal raw: control
//! characters are escaped in tables and error lines, JSON keeps the exact value; and a
//! records document breaking the rules is refused whole, with the path of the bad value.

mod common;

use common::{acct, base_doc, server, service, sim, Env};
use serde_json::{json, Value};

/// Retitles the window and clears the screen when printed raw.
const EVIL: &str = "evil.test\u{1b}]0;owned\u{7}\u{1b}[2J";
const EVIL_SHOWN: &str = "evil.test\\u{1b}]0;owned\\u{7}\\u{1b}[2J";

fn assert_no_control(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n'))
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: raw control characters {bad:?} in:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panel_text_is_escaped_in_tables_and_exact_in_json() {
    // bob's domain on the panel differs from billing; the evil account is not in billing.
    let sim = sim(vec![
        acct("bob", "bob.test\u{1b}[2J", "basic").to_value(),
        acct("evil", EVIL, "basic").to_value(),
    ])
    .await;
    let env = Env::new();
    env.import(&base_doc(
        sim.addr.port(),
        vec![service(1000, 1, 10, 100, "bob.test", "bob", "Active")],
    ))
    .await;

    let table = env.ok(&["analyse", "web1"]).await;
    assert_no_control("analyse table", &table.stdout);
    assert_no_control("analyse stderr", &table.stderr);
    assert!(table.stdout.contains(EVIL_SHOWN), "{}", table.stdout);
    assert!(
        table.stdout.contains("bob.test\\u{1b}[2J"),
        "the difference shows the panel's value escaped: {}",
        table.stdout
    );
    let doc = env.analyse("web1").await;
    let uids: Vec<&str> = common::items(&doc)
        .iter()
        .filter_map(|i| i["remote"]["domain"].as_str())
        .collect();
    assert!(uids.contains(&EVIL), "JSON keeps the exact value: {uids:?}");

    let applied = env
        .ok(&[
            "apply",
            "web1",
            "--import",
            "all",
            "--unassigned-client",
            "5",
        ])
        .await;
    assert_no_control("apply table", &applied.stdout);
    assert!(applied.stdout.contains(EVIL_SHOWN), "{}", applied.stdout);

    let list = env.ok(&["services", "list"]).await;
    assert_no_control("services list", &list.stdout);
    assert!(list.stdout.contains(EVIL_SHOWN), "{}", list.stdout);
    let services = env.services().await;
    assert!(
        services.iter().any(|s| s["domain"] == EVIL),
        "services list --json keeps the exact value: {services:#?}"
    );
    for args in [
        &["servers", "list"][..],
        &["clients", "list"],
        &["products", "list"],
    ] {
        let out = env.ok(args).await;
        assert_no_control(&format!("{args:?}"), &out.stdout);
    }
}

/// A valid document (web1 on a closed port, one service) to change one value of.
fn good() -> Value {
    let mut doc = base_doc(
        9,
        vec![service(1000, 1, 10, 100, "ann.test", "ann", "Active")],
    );
    doc["servers"]
        .as_array_mut()
        .unwrap()
        .push(server(101, "web2", 9, "192.0.2.15"));
    doc
}

#[tokio::test]
async fn a_document_breaking_the_rules_is_refused_whole_with_its_path() {
    let env = Env::new();
    env.import(&good()).await;
    let before = env.ok(&["records", "export"]).await.stdout;

    let cases: Vec<(&str, Value, &str)> = vec![
        ("/services/0/amount", json!("NaN"), "services[0].amount: \"NaN\" is not an amount"),
        ("/services/0/amount", json!("-1.00"), "services[0].amount: \"-1.00\" is not an amount"),
        ("/services/0/billing_cycle", json!("Montly"), "services[0].billing_cycle: unknown billing cycle \"Montly\""),
        ("/servers/0/port", json!(0), "servers[0].port: 0 is not a port number"),
        ("/servers/0/port", json!(70000), "servers[0].port: invalid value: integer `70000`"),
        ("/servers/0/hostname", json!("https://web1.test/whm"), "servers[0].hostname: \"https://web1.test/whm\" is not a host name"),
        ("/services/0/regdate", json!("0000-01-31"), "services[0].regdate: \"0000-01-31\" is before the year 1900"),
        ("/services/0/domain", json!(EVIL), "services[0].domain: \"evil.test\\\\u{1b}]0;owned\\\\u{7}\\\\u{1b}[2J\" holds control characters"),
        ("/servers/1/name", json!("WEB1 "), "servers[1].name: duplicate name \"WEB1 \""),
    ];
    for (pointer, value, expected) in cases {
        let mut doc = good();
        // Other changes in the same document are not written either.
        doc["clients"][0]["first_name"] = json!("Changed");
        *doc.pointer_mut(pointer).unwrap() = value;
        let f = env.write_json("bad.json", &doc);
        let out = env.run(&["records", "import", f.to_str().unwrap()]).await;
        assert_eq!(out.code, 2, "{pointer}: {out:#?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{pointer}: {out:#?}");
        assert!(
            lines[0].contains(&format!("invalid records document: {expected}")),
            "{pointer}: {}",
            lines[0]
        );
        assert_no_control(pointer, &out.stderr);
    }
    assert_eq!(
        env.ok(&["records", "export"]).await.stdout,
        before,
        "nothing written"
    );
}
