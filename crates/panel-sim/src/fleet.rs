//! A fleet of simulated cPanel servers with the billing records of a hosting provider who
//! bills most of them (issue 11): for the fleet benchmark and `serversync demo --fleet`.
//!
//! Server `s` (1-based) is named `webNNN`, serves [`generate_cpanel_accounts`]`(accounts, s)`
//! with user names and domains made unique across the fleet (so no account of one server is
//! another's `moved`), and about 95 % of its accounts have a service in the records (every
//! 20th from the 8th on has none: `not_in_billing`). The records document is the one
//! `serversync records import` reads (CONTRACT.md "Records document").

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{generate_cpanel_accounts, spawn_cpanel, CpanelSimConfig, SimError, SimHandle};

/// The API token of every fleet simulator (user `root`).
pub const FLEET_TOKEN: &str = "TOKEN";
/// The shared IP of every fleet server (accounts on it have no dedicated IP in billing).
pub const FLEET_SHARED_IP: &str = "192.0.2.10";

/// Running fleet simulators and their records.
pub struct Fleet {
    /// One simulator per server, in server order (`web001` first).
    pub sims: Vec<SimHandle>,
    /// The records document: clients, products, servers (their ports), services.
    pub records: Value,
}

impl Fleet {
    /// Stops every simulator.
    pub async fn shutdown(self) {
        for s in self.sims {
            s.shutdown().await;
        }
    }
}

/// The name of fleet server `s` (1-based): `web001`, …, `web500`, `web1000`.
pub fn fleet_server_name(s: usize) -> String {
    format!("web{s:03}")
}

/// Server `s`'s accounts: the generator's (seed `s`), unique across the fleet.
pub fn fleet_accounts(s: usize, n: usize) -> Vec<Value> {
    let mut v = generate_cpanel_accounts(n, s as u64);
    for a in &mut v {
        let user = format!("s{s}x{}", text(a, "user"));
        let domain = format!("s{s}-{}", text(a, "domain"));
        a["user"] = json!(user);
        a["domain"] = json!(domain);
    }
    v
}

/// Starts `servers` simulators on 127.0.0.1 (free ports), each with `accounts` accounts and
/// `delay` before every answer, and builds their records.
///
/// Errors: [`SimError`] when a simulator cannot bind.
pub async fn spawn_cpanel_fleet(
    servers: usize,
    accounts: usize,
    delay: Duration,
) -> Result<Fleet, SimError> {
    let mut sims = Vec::with_capacity(servers);
    let mut rows = Vec::with_capacity(servers);
    let mut records = Builder::default();
    for s in 1..=servers {
        let list = fleet_accounts(s, accounts);
        records.services_for(&list, s);
        let cfg = CpanelSimConfig {
            delay,
            ..CpanelSimConfig::with_accounts(list)
        };
        let sim = spawn_cpanel(([127, 0, 0, 1], 0).into(), cfg).await?;
        rows.push(json!({
            "id": s, "name": fleet_server_name(s), "module": "cpanel",
            "hostname": "127.0.0.1", "ip_address": FLEET_SHARED_IP, "port": sim.addr.port(),
            "secure": false, "tls_verify": true, "username": "root", "password": "",
            "access_hash": FLEET_TOKEN}));
        sims.push(sim);
    }
    Ok(Fleet {
        sims,
        records: records.document(rows),
    })
}

fn text<'a>(a: &'a Value, k: &str) -> &'a str {
    a.get(k).and_then(Value::as_str).unwrap_or("")
}

#[derive(Default)]
struct Builder {
    next_service: i64,
    clients: Vec<Value>,
    services: Vec<Value>,
    /// Product id by plan (`configoption1`).
    products: BTreeMap<String, i64>,
}

impl Builder {
    /// Services for ~95 % of `accounts` of server `sid`, each with its own client (the
    /// account's e-mail) and regdate; products by plan.
    fn services_for(&mut self, accounts: &[Value], sid: usize) {
        for (i, a) in accounts.iter().enumerate() {
            if i % 20 == 7 {
                continue;
            }
            self.next_service += 1;
            let id = self.next_service;
            let n = self.products.len() as i64;
            let pid = *self
                .products
                .entry(text(a, "plan").to_string())
                .or_insert(100 + n);
            let suspended = a.get("suspended").and_then(Value::as_i64) == Some(1)
                || text(a, "suspended") == "1";
            let ip = text(a, "ip");
            // Placeholders (`*unknown*`) are no client address: the analysis skips them.
            let email = match text(a, "email") {
                e if e.contains('@') && !e.starts_with('*') => e.to_string(),
                _ => format!("client{id}@mail.test"),
            };
            self.clients.push(json!({"id": id, "email": email,
                "first_name": "F", "last_name": "L", "company": "", "status": "Active"}));
            let start = a
                .get("unix_startdate")
                .and_then(Value::as_i64)
                .unwrap_or_else(|| text(a, "unix_startdate").parse().unwrap_or(0));
            let regdate = time::OffsetDateTime::from_unix_timestamp(start)
                .ok()
                .filter(|_| start > 0)
                .map(|t| {
                    let d = t.date();
                    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
                });
            self.services.push(json!({
                "id": id, "client_id": id, "product_id": pid, "server_id": sid,
                "domain": text(a, "domain"), "username": text(a, "user"),
                "dedicated_ip": if ip == FLEET_SHARED_IP { "" } else { ip },
                "regdate": regdate, "status": if suspended { "Suspended" } else { "Active" },
                "billing_cycle": "Monthly", "amount": "9.99", "next_due_date": "2026-12-31"}));
        }
    }

    fn document(self, servers: Vec<Value>) -> Value {
        let products: Vec<Value> = self
            .products
            .iter()
            .map(|(p, id)| {
                json!({"id": id, "name": format!("Hosting {p}"), "module": "cpanel",
                       "config_options": {"configoption1": p}})
            })
            .collect();
        json!({"clients": self.clients, "products": products, "servers": servers,
               "services": self.services})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fleet_bills_most_accounts_of_every_server_once() {
        let fleet = spawn_cpanel_fleet(3, 40, Duration::ZERO).await.unwrap();
        let r = &fleet.records;
        let servers = r["servers"].as_array().unwrap();
        assert_eq!(servers.len(), 3);
        assert_eq!(servers[2]["name"], "web003");
        assert_eq!(servers[0]["port"], fleet.sims[0].addr.port());
        let services = r["services"].as_array().unwrap();
        // 40 accounts, every 20th from the 8th unbilled: 38 a server.
        assert_eq!(services.len(), 3 * 38);
        for s in 1..=3 {
            let on: Vec<&Value> = services.iter().filter(|v| v["server_id"] == s).collect();
            assert_eq!(on.len(), 38);
            let accounts = fleet.sims[s - 1].accounts();
            for v in on {
                assert!(accounts.iter().any(|a| a["user"] == v["username"]));
            }
        }
        let mut users: Vec<&str> = services.iter().map(|v| text(v, "username")).collect();
        users.sort_unstable();
        users.dedup();
        assert_eq!(
            users.len(),
            services.len(),
            "user names unique across the fleet"
        );
        assert_eq!(r["clients"].as_array().unwrap().len(), services.len());
        assert!(services
            .iter()
            .all(|v| v["regdate"].is_null() || text(v, "regdate").len() == 10));
        fleet.shutdown().await;
    }
}
