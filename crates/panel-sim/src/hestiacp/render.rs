//! How the HestiaCP simulator writes `v-list-users json` and `v-list-web-domains USER json`:
//! Hestia's shell templates (`bin/v-list-users`, `bin/v-list-web-domains`), values unescaped.

use axum::body::Bytes;
use serde_json::Value;

use super::api::Output;

/// The keys of `v-list-users json`, in the template's order (a subset of Hestia HEAD's 57;
/// every key serversync reads and the secret `RKEY` are there), with the value the
/// simulator starts from when the first user lacks one (see [`render_users`]).
const USER_TEMPLATE: &[(&str, &str)] = &[
    ("NAME", ""),
    ("PACKAGE", "default"),
    ("WEB_TEMPLATE", "default"),
    ("BACKEND_TEMPLATE", "default"),
    ("PROXY_TEMPLATE", "default"),
    ("DNS_TEMPLATE", "default"),
    ("WEB_DOMAINS", "100"),
    ("DNS_DOMAINS", "100"),
    ("MAIL_DOMAINS", "100"),
    ("DATABASES", "100"),
    ("DISK_QUOTA", "unlimited"),
    ("BANDWIDTH", "unlimited"),
    ("NS", "ns1.hestia.test,ns2.hestia.test"),
    ("SHELL", "nologin"),
    ("BACKUPS", "1"),
    ("CONTACT", ""),
    ("CRON_REPORTS", "yes"),
    ("RKEY", ""),
    ("ROLE", "user"),
    ("SUSPENDED", "no"),
    ("SUSPENDED_WEB", "0"),
    ("IP_AVAIL", "1"),
    ("IP_OWNED", "0"),
    ("U_DISK", "0"),
    ("U_BANDWIDTH", "0"),
    ("U_WEB_DOMAINS", "1"),
    ("LANGUAGE", "en"),
    ("TIME", ""),
    ("DATE", ""),
];

/// The keys of one domain in `v-list-web-domains json`, in the template's order.
const DOMAIN_TEMPLATE: &[&str] = &[
    "IP",
    "IP6",
    "DOCUMENT_ROOT",
    "U_DISK",
    "U_BANDWIDTH",
    "TPL",
    "ALIAS",
    "STATS",
    "STATS_USER",
    "SSL",
    "SSL_HOME",
    "LETSENCRYPT",
    "FTP_USER",
    "FTP_PATH",
    "AUTH_USER",
    "BACKEND",
    "PROXY",
    "PROXY_EXT",
    "SUSPENDED",
    "TIME",
    "DATE",
];

/// A value as `echo '…'$VAR'…'` writes it: unquoted, so white space runs collapse to one
/// space and the ends are trimmed; nothing is escaped.
fn shell_word_split(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// `v-list-users json` as Hestia's template writes it (panel-apis-verified.md: unescaped
/// values, white space collapsed, a key missing from a user repeating the previous user's
/// value because `source` keeps variables, the document ending `        }}`). Accounts
/// without a string `USER` are not listed. A user's `_quirk` `quote` or `backslash` puts a
/// `"` or `\` into its `NAME` (old or restored data that breaks the JSON).
pub(crate) fn render_users(accounts: &[Value]) -> Bytes {
    let listed: Vec<&Value> = accounts
        .iter()
        .filter(|a| a.get("USER").and_then(Value::as_str).is_some())
        .collect();
    let mut prev: Vec<String> = USER_TEMPLATE.iter().map(|(_, d)| d.to_string()).collect();
    let mut out = String::with_capacity(listed.len() * 900 + 4);
    out.push_str("{\n");
    for (n, a) in listed.iter().enumerate() {
        let user = a.get("USER").and_then(Value::as_str).unwrap_or_default();
        out.push_str("    \"");
        out.push_str(user);
        out.push_str("\": {\n");
        for (i, (key, _)) in USER_TEMPLATE.iter().enumerate() {
            if let Some(v) = a.get(*key).and_then(text_of) {
                prev[i] = shell_word_split(&v);
            }
            let mut value = prev[i].clone();
            if *key == "NAME" {
                match a.get("_quirk").and_then(Value::as_str) {
                    Some("quote") => value = format!("{value} \"The\" Quoted"),
                    Some("backslash") => value = format!("{value}\\Back"),
                    _ => {}
                }
            }
            out.push_str("        \"");
            out.push_str(key);
            out.push_str("\": \"");
            out.push_str(&value);
            out.push('"');
            if i + 1 < USER_TEMPLATE.len() {
                out.push(',');
            }
            out.push('\n');
        }
        out.push_str("        }");
        if n + 1 < listed.len() {
            out.push_str(",\n");
        }
    }
    out.push('}');
    Bytes::from(out)
}

/// `v-list-web-domains USER json` for one account: its `_web_domains` in order (`{` `}`
/// without any), or its `_web_domains_error` (`{"exit": N, "text": "Error: …"}`, or a bare
/// text with exit code 1) as a failing command.
pub(crate) fn web_domains(account: &Value) -> Output {
    if let Some(e) = account.get("_web_domains_error") {
        let (exit, text) = match e {
            Value::String(s) => (1, s.clone()),
            other => (
                other
                    .get("exit")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(1),
                other
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("Error: panel-sim")
                    .to_string(),
            ),
        };
        return Output {
            exit,
            text: Bytes::from(text),
        };
    }
    let domains: Vec<&Value> = account
        .get("_web_domains")
        .and_then(Value::as_array)
        .map(|d| d.iter().collect())
        .unwrap_or_default();
    let user = account.get("USER").and_then(Value::as_str).unwrap_or("");
    let mut out = String::from("{\n");
    for (n, d) in domains.iter().enumerate() {
        let domain = d.get("DOMAIN").and_then(Value::as_str).unwrap_or("");
        out.push_str("    \"");
        out.push_str(domain);
        out.push_str("\": {\n");
        for (i, key) in DOMAIN_TEMPLATE.iter().enumerate() {
            let value = match d.get(*key).and_then(text_of) {
                Some(v) => v,
                None if *key == "DOCUMENT_ROOT" => {
                    format!("/home/{user}/web/{domain}/public_html/")
                }
                None => String::new(),
            };
            out.push_str("        \"");
            out.push_str(key);
            out.push_str("\": \"");
            out.push_str(&value);
            out.push('"');
            if i + 1 < DOMAIN_TEMPLATE.len() {
                out.push(',');
            }
            out.push('\n');
        }
        out.push_str("    }");
        out.push_str(if n + 1 < domains.len() { ",\n" } else { "\n" });
    }
    out.push('}');
    Output {
        exit: 0,
        text: Bytes::from(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hestiacp::{hestia_user, hestia_web_domain};
    use serde_json::json;

    #[test]
    fn users_render_as_hestias_template() {
        let mut a = hestia_user("ann", "ann.test");
        a["NAME"] = json!("Ann   O'Lee\tX");
        let mut b = hestia_user("bob", "bob.test");
        b.as_object_mut().map(|m| m.remove("SUSPENDED"));
        a["SUSPENDED"] = json!("yes");
        let doc = String::from_utf8(render_users(&[a.clone(), b.clone()]).to_vec()).unwrap();
        assert!(doc.starts_with("{\n    \"ann\": {\n        \"NAME\": \"Ann O'Lee X\",\n"));
        assert!(
            doc.ends_with("        \"DATE\": \"2023-11-14\"\n        }}"),
            "{doc}"
        );
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["ann"]["RKEY"], a["RKEY"]);
        // A key missing from bob's user.conf repeats ann's value (`source` keeps variables).
        assert_eq!(v["bob"]["SUSPENDED"], "yes");
        assert_eq!(v["bob"]["CONTACT"], "bob@mail.test");

        b["_quirk"] = json!("quote");
        let doc = render_users(&[a, b]);
        assert!(serde_json::from_slice::<Value>(&doc).is_err());
        assert!(String::from_utf8_lossy(&doc).contains("\"NAME\": \"Bob Example \"The\" Quoted\","));
        assert_eq!(render_users(&[]), "{\n}");
    }

    #[test]
    fn web_domains_in_creation_order_and_errors() {
        let mut a = hestia_user("ann", "ann.test");
        a["_web_domains"] = json!([
            hestia_web_domain("zz.test", "192.0.2.14"),
            hestia_web_domain("aa.test", "198.51.100.1")
        ]);
        let out = web_domains(&a);
        let doc = String::from_utf8(out.text.to_vec()).unwrap();
        assert!(doc.find("zz.test").unwrap() < doc.find("aa.test").unwrap());
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["aa.test"]["IP"], "198.51.100.1");
        assert_eq!(
            v["zz.test"]["DOCUMENT_ROOT"],
            "/home/ann/web/zz.test/public_html/"
        );
        a["_web_domains"] = json!([]);
        assert_eq!(web_domains(&a).text, "{\n}");
        a["_web_domains_error"] = json!({"exit": 3, "text": "Error: gone"});
        let out = web_domains(&a);
        assert_eq!((out.exit, &out.text[..]), (3, &b"Error: gone"[..]));
    }
}
