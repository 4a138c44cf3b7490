//! The records document of CONTRACT.md: strict parsing with the path of the first bad value,
//! and serialisation (secrets left out).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use serversync_core::model::{
    format_date, parse_date, Client, Product, Secret, Server, Service, ServiceStatus,
};
use serversync_store::Records;

use crate::AppError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDoc {
    #[serde(default)]
    clients: Vec<RawClient>,
    #[serde(default)]
    products: Vec<RawProduct>,
    #[serde(default)]
    servers: Vec<RawServer>,
    #[serde(default)]
    services: Vec<RawService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    id: i64,
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    id: i64,
    name: String,
    module: String,
    #[serde(default)]
    config_options: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    id: i64,
    name: String,
    module: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    ip_address: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    secure: Option<bool>,
    #[serde(default)]
    tls_verify: Option<bool>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    access_hash: String,
    #[serde(default)]
    disabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    id: i64,
    client_id: i64,
    product_id: i64,
    #[serde(default)]
    server_id: Option<i64>,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    dedicated_ip: String,
    #[serde(default)]
    regdate: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    billing_cycle: String,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    next_due_date: Option<String>,
    #[serde(default)]
    termination_date: Option<String>,
    #[serde(default)]
    custom_fields: BTreeMap<String, String>,
    /// Written by `records export`; ignored on import (the store keeps its own versions).
    #[serde(default, rename = "version")]
    _version: Option<i64>,
}

fn bad(path: String, msg: impl std::fmt::Display) -> AppError {
    AppError::Records(format!(
        "{}: {}",
        bounded(&path, MAX_PATH_CHARS),
        bounded(&msg.to_string(), MAX_MESSAGE_CHARS)
    ))
}

/// Longest path (`services[3].status`; a `config_options` key is the document's text) and
/// message shown in an error, in characters: a document's values reach the message (serde
/// quotes the wrong value), and a 10 MB value must not make a 10 MB error line.
const MAX_PATH_CHARS: usize = 120;
const MAX_MESSAGE_CHARS: usize = 300;

/// `s` cut to `max` characters (`…` marks the cut), control characters shown as spaces.
fn bounded(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Earliest year of a date in a records document: `0000-00-00` is WHMCS's "no date", any
/// other year that early is a typo or a damaged export.
const MIN_YEAR: i32 = 1900;

fn opt_date(path: String, v: &Option<String>) -> Result<Option<time::Date>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") | Some("0000-00-00") => Ok(None),
        Some(s) => {
            let d = parse_date(s).map_err(|e| bad(path.clone(), e))?;
            if d.year() < MIN_YEAR {
                return Err(bad(path, format!("{s:?} is before the year {MIN_YEAR}")));
            }
            Ok(Some(d))
        }
    }
}

/// Refuses a text holding control characters (shown escaped, as `\u{1b}`), which would
/// reach terminals and panels' APIs.
fn no_control(path: impl FnOnce() -> String, v: &str) -> Result<(), AppError> {
    control_problem(v).map_or(Ok(()), |m| Err(bad(path(), m)))
}

/// Why `v` is refused for holding control characters, if it does.
pub(crate) fn control_problem(v: &str) -> Option<String> {
    v.chars().any(char::is_control).then(|| {
        format!(
            "{:?} holds control characters",
            v.escape_debug().to_string()
        )
    })
}

/// Checks a server's host name ([`hostname_problem`]).
fn check_hostname(path: String, h: &str) -> Result<(), AppError> {
    hostname_problem(h).map_or(Ok(()), |m| Err(bad(path, m)))
}

/// Why `h` is refused as a server's host name, if it is. A host name is an IP address, or
/// a DNS name (letters, digits, `-`, `.`, `_`, any non-ASCII letter of an internationalised
/// name) of at most 253 bytes. A scheme, user, port or path is refused: they have fields of
/// their own (`secure`, `username`, `port`).
pub(crate) fn hostname_problem(h: &str) -> Option<String> {
    if h.is_empty() || h.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let ok = h.len() <= 253
        && h.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'));
    (!ok).then(|| {
        format!(
            "{:?} is not a host name (give the name alone: the scheme goes in secure, \
             the port in port, and no path)",
            h.escape_debug().to_string()
        )
    })
}

/// Parses a records document. `known_modules` are the module names a server may use.
///
/// Errors: [`AppError::Records`] with the path of the first bad value, e.g.
/// `services[3].status: unknown status "active "`.
pub fn parse_records(bytes: &[u8], known_modules: &[&str]) -> Result<Records, AppError> {
    // A document is an object; `[]` or `null` would otherwise pass as "no sections".
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(AppError::Records("the document is empty".into())),
        Some(_) => return Err(AppError::Records("not a records document: expected a JSON object with clients, products, servers and services".into())),
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let raw: RawDoc = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            AppError::Records(format!(
                "not a records document: {}",
                bounded(&inner.to_string(), MAX_MESSAGE_CHARS)
            ))
        } else {
            bad(path, inner)
        }
    })?;
    let mut out = Records::default();
    let mut ids = std::collections::HashSet::new();
    for (i, c) in raw.clients.into_iter().enumerate() {
        if !ids.insert(c.id) {
            return Err(bad(
                format!("clients[{i}].id"),
                format!("duplicate id {}", c.id),
            ));
        }
        if c.id <= 0 {
            return Err(bad(
                format!("clients[{i}].id"),
                format!("id {} is not a positive number", c.id),
            ));
        }
        no_control(|| format!("clients[{i}].email"), &c.email)?;
        for (field, v) in [
            ("first_name", &c.first_name),
            ("last_name", &c.last_name),
            ("company", &c.company),
        ] {
            no_control(|| format!("clients[{i}].{field}"), v)?;
        }
        if serversync_core::module::normalize_email(&c.email).is_none() {
            return Err(bad(
                format!("clients[{i}].email"),
                format!("{:?} is not an e-mail address", c.email),
            ));
        }
        out.clients.push(Client {
            id: c.id,
            email: c.email.trim().to_string(),
            first_name: c.first_name,
            last_name: c.last_name,
            company: c.company,
            status: c.status.unwrap_or_else(|| "Active".into()),
        });
    }
    ids.clear();
    for (i, p) in raw.products.into_iter().enumerate() {
        if !ids.insert(p.id) {
            return Err(bad(
                format!("products[{i}].id"),
                format!("duplicate id {}", p.id),
            ));
        }
        if p.id <= 0 {
            return Err(bad(
                format!("products[{i}].id"),
                format!("id {} is not a positive number", p.id),
            ));
        }
        no_control(|| format!("products[{i}].name"), &p.name)?;
        for k in p.config_options.keys() {
            let ok = k
                .strip_prefix("configoption")
                .and_then(|n| n.parse::<u8>().ok())
                .is_some_and(|n| (1..=24).contains(&n));
            if !ok {
                return Err(bad(
                    format!("products[{i}].config_options.{k}"),
                    "not configoption1..configoption24",
                ));
            }
        }
        out.products.push(Product {
            id: p.id,
            name: p.name,
            module: p.module,
            config_options: p.config_options,
        });
    }
    ids.clear();
    // Names are told apart as a person reads them: `web1` and `WEB1 ` are one name.
    let mut names: std::collections::HashMap<String, (usize, String)> = Default::default();
    for (i, s) in raw.servers.into_iter().enumerate() {
        if !ids.insert(s.id) {
            return Err(bad(
                format!("servers[{i}].id"),
                format!("duplicate id {}", s.id),
            ));
        }
        if s.id <= 0 {
            return Err(bad(
                format!("servers[{i}].id"),
                format!("id {} is not a positive number", s.id),
            ));
        }
        if s.name.trim().is_empty() {
            return Err(bad(format!("servers[{i}].name"), "empty name"));
        }
        no_control(|| format!("servers[{i}].name"), &s.name)?;
        if let Some((j, first)) = names.insert(s.name.trim().to_lowercase(), (i, s.name.clone())) {
            let how = if first == s.name {
                String::new()
            } else {
                " (names differing only in case or surrounding spaces are one name)".into()
            };
            return Err(bad(
                format!("servers[{i}].name"),
                format!(
                    "duplicate name {:?}: servers[{j}] is {first:?}{how}",
                    s.name
                ),
            ));
        }
        if !known_modules.contains(&s.module.as_str()) {
            return Err(bad(
                format!("servers[{i}].module"),
                format!(
                    "unknown module {:?} (known: {})",
                    s.module,
                    known_modules.join(", ")
                ),
            ));
        }
        check_hostname(format!("servers[{i}].hostname"), &s.hostname)?;
        if !s.ip_address.is_empty() && s.ip_address.parse::<std::net::IpAddr>().is_err() {
            return Err(bad(
                format!("servers[{i}].ip_address"),
                format!(
                    "{:?} is not an IP address",
                    s.ip_address.escape_debug().to_string()
                ),
            ));
        }
        if s.port == Some(0) {
            return Err(bad(
                format!("servers[{i}].port"),
                "0 is not a port number (1 to 65535; leave it out for the module's default)",
            ));
        }
        no_control(|| format!("servers[{i}].username"), &s.username)?;
        if s.hostname.trim().is_empty() && s.ip_address.trim().is_empty() {
            return Err(bad(
                format!("servers[{i}]"),
                "needs a hostname or an ip_address",
            ));
        }
        out.servers.push(Server {
            id: s.id,
            name: s.name,
            module: s.module,
            hostname: s.hostname,
            ip_address: s.ip_address,
            port: s.port,
            secure: s.secure.unwrap_or(true),
            tls_verify: s.tls_verify.unwrap_or(true),
            username: s.username,
            password: Secret::new(s.password),
            access_hash: Secret::new(s.access_hash),
            disabled: s.disabled,
        });
    }
    ids.clear();
    for (i, s) in raw.services.into_iter().enumerate() {
        if !ids.insert(s.id) {
            return Err(bad(
                format!("services[{i}].id"),
                format!("duplicate id {}", s.id),
            ));
        }
        if s.id <= 0 {
            return Err(bad(
                format!("services[{i}].id"),
                format!("id {} is not a positive number", s.id),
            ));
        }
        let status = match s.status.as_deref() {
            None => ServiceStatus::Pending,
            Some(st) => st
                .parse::<ServiceStatus>()
                .map_err(|e| bad(format!("services[{i}].status"), e))?,
        };
        let amount = s.amount.unwrap_or_else(|| "0.00".into());
        if !amount.trim().is_empty() && !serversync_core::plan::is_amount(amount.trim()) {
            return Err(bad(
                format!("services[{i}].amount"),
                format!(
                    "{:?} is not an amount like 9.99 (digits, up to {} before the point and 2 \
                     after; no sign or exponent)",
                    amount.escape_debug().to_string(),
                    serversync_core::plan::MAX_AMOUNT_DIGITS
                ),
            ));
        }
        let amount = amount.trim().to_string();
        if !s.billing_cycle.is_empty()
            && !serversync_core::plan::BILLING_CYCLES.contains(&s.billing_cycle.as_str())
        {
            return Err(bad(
                format!("services[{i}].billing_cycle"),
                format!(
                    "unknown billing cycle {:?} (one of {})",
                    s.billing_cycle.escape_debug().to_string(),
                    serversync_core::plan::BILLING_CYCLES.join(", ")
                ),
            ));
        }
        for (field, v) in [
            ("domain", &s.domain),
            ("username", &s.username),
            ("dedicated_ip", &s.dedicated_ip),
        ] {
            no_control(|| format!("services[{i}].{field}"), v)?;
        }
        for (k, v) in &s.custom_fields {
            no_control(|| format!("services[{i}].custom_fields"), k)?;
            no_control(|| format!("services[{i}].custom_fields.{k}"), v)?;
        }
        out.services.push(Service {
            id: s.id,
            client_id: s.client_id,
            product_id: s.product_id,
            server_id: s.server_id,
            domain: s.domain,
            username: s.username,
            dedicated_ip: s.dedicated_ip,
            regdate: opt_date(format!("services[{i}].regdate"), &s.regdate)?,
            status,
            billing_cycle: s.billing_cycle,
            amount,
            next_due_date: opt_date(format!("services[{i}].next_due_date"), &s.next_due_date)?,
            termination_date: opt_date(
                format!("services[{i}].termination_date"),
                &s.termination_date,
            )?,
            custom_fields: s.custom_fields,
            version: 1,
        });
    }
    Ok(out)
}

fn date_json(d: Option<time::Date>) -> Value {
    d.map(|d| Value::String(format_date(d)))
        .unwrap_or(Value::Null)
}

/// A client as a records-document entry.
pub fn client_json(c: &Client) -> Value {
    json!({"id": c.id, "email": c.email, "first_name": c.first_name, "last_name": c.last_name,
           "company": c.company, "status": c.status})
}

/// A product as a records-document entry.
pub fn product_json(p: &Product) -> Value {
    json!({"id": p.id, "name": p.name, "module": p.module, "config_options": p.config_options})
}

/// A server as a records-document entry, secrets left out.
pub fn server_json(s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "module": s.module, "hostname": s.hostname,
           "ip_address": s.ip_address, "port": s.port, "secure": s.secure,
           "tls_verify": s.tls_verify, "username": s.username, "disabled": s.disabled})
}

/// A service as a records-document entry (plus `version` and `termination_date`).
pub fn service_json(s: &Service) -> Value {
    json!({"id": s.id, "client_id": s.client_id, "product_id": s.product_id,
           "server_id": s.server_id, "domain": s.domain, "username": s.username,
           "dedicated_ip": s.dedicated_ip, "regdate": date_json(s.regdate),
           "status": s.status.as_str(), "billing_cycle": s.billing_cycle, "amount": s.amount,
           "next_due_date": date_json(s.next_due_date),
           "termination_date": date_json(s.termination_date),
           "custom_fields": s.custom_fields, "version": s.version})
}

/// The whole store as a records document, secrets left out.
pub fn records_json(r: &Records) -> Value {
    json!({
        "clients": r.clients.iter().map(client_json).collect::<Vec<_>>(),
        "products": r.products.iter().map(product_json).collect::<Vec<_>>(),
        "servers": r.servers.iter().map(server_json).collect::<Vec<_>>(),
        "services": r.services.iter().map(service_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
#[path = "records_bad_values.rs"]
mod bad_values;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_status_names_its_path() {
        let doc = br#"{"services":[
            {"id":1,"client_id":1,"product_id":1,"status":"Active"},
            {"id":2,"client_id":1,"product_id":1,"status":"Active"},
            {"id":3,"client_id":1,"product_id":1,"status":"Active"},
            {"id":4,"client_id":1,"product_id":1,"status":"active "}]}"#;
        let e = parse_records(doc, &["cpanel"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid records document: services[3].status: unknown status \"active \""
        );
    }

    #[test]
    fn type_errors_and_unknown_fields_name_their_path() {
        let e = parse_records(
            br#"{"clients":[{"id":"x","email":"a@b.test"}]}"#,
            &["cpanel"],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid records document: clients[0].id: invalid type"),
            "{e}"
        );
        let e = parse_records(
            br#"{"servers":[{"id":1,"name":"w","module":"cpanel","hostname":"h","pasword":"x"}]}"#,
            &["cpanel"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("servers[0]"), "{e}");
        assert!(e.to_string().contains("pasword"), "{e}");
        let e = parse_records(
            br#"{"servers":[{"id":1,"name":"w","module":"cpnael","hostname":"h"}]}"#,
            &["cpanel"],
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "invalid records document: servers[0].module: unknown module \"cpnael\" (known: cpanel)");
        let e = parse_records(
            br#"{"services":[{"id":1,"client_id":1,"product_id":1,"regdate":"2024-02-30"}]}"#,
            &["cpanel"],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("services[0].regdate: invalid date \"2024-02-30\""),
            "{e}"
        );
    }

    #[test]
    fn contract_example_parses_and_exports_without_secrets() {
        let doc = br#"{
          "clients":  [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee", "company": "", "status": "Active"}],
          "products": [{"id": 10, "name": "Basic Hosting", "module": "cpanel", "config_options": {"configoption1": "basic"}}],
          "servers":  [{"id": 100, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1", "ip_address": "192.0.2.10", "port": 2087, "secure": false, "tls_verify": true, "username": "root", "password": "", "access_hash": "TOKEN"}],
          "services": [{"id": 1000, "client_id": 1, "product_id": 10, "server_id": 100, "domain": "ann.test", "username": "ann", "dedicated_ip": "", "regdate": "2024-01-31", "status": "Active", "billing_cycle": "Monthly", "amount": "9.99", "next_due_date": "2024-12-31", "custom_fields": {"Instance ID": "i-123"}}]
        }"#;
        let r = parse_records(doc, &["cpanel"]).unwrap();
        assert_eq!(r.servers[0].access_hash.expose(), "TOKEN");
        assert_eq!(
            r.services[0].regdate.map(format_date).as_deref(),
            Some("2024-01-31")
        );
        let out = records_json(&r).to_string();
        assert!(!out.contains("TOKEN"));
        assert!(!out.contains("access_hash"));
        assert!(!out.contains("password"));
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn export_round_trips_through_import() {
        let doc = br#"{"clients":[{"id":1,"email":"a@b.test"}],"products":[{"id":2,"name":"P","module":"cpanel"}],
            "services":[{"id":3,"client_id":1,"product_id":2,"status":"Active","regdate":"2024-01-31"}]}"#;
        let r = parse_records(doc, &["cpanel"]).unwrap();
        let exported = serde_json::to_vec(&records_json(&r)).unwrap();
        let again = parse_records(&exported, &["cpanel"]).unwrap();
        assert_eq!(again.services, r.services);
        assert_eq!(again.clients, r.clients);
    }

    #[test]
    fn non_objects_bad_ids_and_emails_are_refused() {
        let e = |d: &[u8]| parse_records(d, &["cpanel"]).unwrap_err().to_string();
        assert_eq!(e(b"[]"), "invalid records document: not a records document: expected a JSON object with clients, products, servers and services");
        assert_eq!(e(b"  "), "invalid records document: the document is empty");
        assert_eq!(
            e(br#"{"clients":[{"id":-5,"email":"a@b.test"}]}"#),
            "invalid records document: clients[0].id: id -5 is not a positive number"
        );
        assert_eq!(
            e(br#"{"clients":[{"id":1,"email":"not-an-email"}]}"#),
            "invalid records document: clients[0].email: \"not-an-email\" is not an e-mail address"
        );
    }
}
