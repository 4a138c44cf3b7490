//! The demo's Plesk server `plesk1` (id 12): a Plesk simulator on loopback and billing
//! records with drift of several categories.
//!
//! | subscription (system user) | Plesk | billing | category |
//! |---|---|---|---|
//! | `plann.test` (`plann`) | plan Basic, status 0 | service 1200, same values | `in_sync` |
//! | `pldave.test` (`pldave`) | plan Basic + add-on, status 4 (backup: Active, noted) | service 1201, same values | `in_sync` |
//! | `plbob.test` (`plbob`) | status 272 (expired + disabled by admin) | service 1202, Active | `out_of_sync` (status) |
//! | `plcarol.test` (`plcarol`) | plan Silver | service 1203, product Basic | `out_of_sync` (product) |
//! | `plold.test` (`plold`) | active | service 1204, Terminated | `terminated_in_billing` |
//! | `plnew.test` (`plnew`) | reseller `plres`'s plan `Reseller Pro` | — | `not_in_billing` (import) |
//! | `plcustom.test` (`plcustom`) | no plan (custom), the administrator's own | — | `not_in_billing` |
//! | — | — | service 1205 `plgone.test`, Active | `not_on_server` |

use futures::future::BoxFuture;
use panel_sim::{plesk_subscription, spawn_plesk, PleskSimConfig};
use serde_json::{json, Value};

use super::extra::{DemoEnv, ExtraServer};

const SERVER_ID: i64 = 12;
const SERVER_IP: &str = panel_sim::plesk::PLESK_SHARED_IP;

/// The subscriptions of `plesk1`.
pub(crate) fn plesk1_subscriptions() -> Vec<Value> {
    let sub = |id: u64, user: &str, owner_id: u64, email: &str, plan: &str| {
        let mut v = plesk_subscription(id, &format!("{user}.test"), user);
        v["owner_id"] = json!(owner_id);
        v["owner_email"] = json!(email);
        v["plan"] = json!(plan);
        v["cr_date"] = json!("2024-01-31");
        v
    };
    let mut dave = sub(2, "pldave", 11, "dave@mail.test", "Basic");
    dave["status"] = json!(4);
    dave["addons"] = json!(["Extra Storage"]);
    dave["ips"] = json!([panel_sim::plesk::PLESK_SHARED_IPV6, SERVER_IP]);
    let mut bob = sub(3, "plbob", 12, "ann@mail.test", "Basic");
    bob["status"] = json!(272);
    let mut new = sub(6, "plnew", 15, "new@mail.test", "Reseller Pro");
    new["plan_owner"] = json!("plres");
    let mut custom = sub(7, "plcustom", 1, "", "");
    custom["plan"] = Value::Null;
    custom["owner_login"] = json!("admin");
    custom["owner_type"] = json!("admin");
    vec![
        sub(1, "plann", 10, "ann@mail.test", "Basic"),
        dave,
        bob,
        sub(4, "plcarol", 13, "carol@mail.test", "Silver"),
        sub(5, "plold", 14, "ann@mail.test", "Basic"),
        new,
        custom,
    ]
}

/// The billing records of `plesk1` on a simulator listening on `port`.
pub(crate) fn plesk1_records(port: u16) -> Value {
    let service = |id: i64, client: i64, product: i64, domain: &str, user: &str, status: &str| {
        json!({"id": id, "client_id": client, "product_id": product, "server_id": SERVER_ID,
               "domain": domain, "username": user, "dedicated_ip": "", "regdate": "2024-01-31",
               "status": status, "billing_cycle": "Monthly", "amount": "9.00",
               "next_due_date": "2026-12-31"})
    };
    let product = |id: i64, name: &str, plan: &str| {
        json!({"id": id, "name": name, "module": "plesk",
               "config_options": {"configoption1": plan}})
    };
    json!({
        "products": [
            product(120, "Plesk Basic", "Basic"),
            product(121, "Plesk Silver", "Silver"),
        ],
        "servers": [{"id": SERVER_ID, "name": "plesk1", "module": "plesk",
                     "hostname": "127.0.0.1", "ip_address": SERVER_IP, "port": port,
                     "secure": false, "tls_verify": true, "username": "admin",
                     "password": "", "access_hash": "TOKEN"}],
        "services": [
            service(1200, 1, 120, "plann.test", "plann", "Active"),
            service(1201, 4, 120, "pldave.test", "pldave", "Active"),
            service(1202, 1, 120, "plbob.test", "plbob", "Active"),
            service(1203, 3, 120, "plcarol.test", "plcarol", "Active"),
            service(1204, 1, 120, "plold.test", "plold", "Terminated"),
            service(1205, 1, 120, "plgone.test", "plgone", "Active"),
        ],
    })
}

/// Starts `plesk1`'s simulator (secret key `TOKEN`).
pub(crate) fn start<'a>(
    _env: &'a DemoEnv<'a>,
) -> BoxFuture<'a, anyhow::Result<Option<ExtraServer>>> {
    Box::pin(async move {
        let sim = spawn_plesk(
            "127.0.0.1:0".parse()?,
            PleskSimConfig::with_accounts(plesk1_subscriptions()),
        )
        .await?;
        let port = sim.addr.port();
        Ok(Some(ExtraServer {
            name: "plesk1".into(),
            about: format!(
                "Plesk simulator on 127.0.0.1:{port} (XML API agent.php: subscriptions, then \
                 owners and plans in batches)"
            ),
            records: plesk1_records(port),
            sim: Some(sim),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_in_the_servers_ranges() {
        let r = plesk1_records(8880);
        assert_eq!(r["servers"][0]["id"], SERVER_ID);
        for p in r["products"].as_array().unwrap() {
            assert!((120..130).contains(&p["id"].as_i64().unwrap()));
        }
        for s in r["services"].as_array().unwrap() {
            assert!((1200..1300).contains(&s["id"].as_i64().unwrap()));
        }
        // Every billed service but plgone.test has its subscription.
        let subs = plesk1_subscriptions();
        let names: Vec<&str> = subs.iter().filter_map(|s| s["name"].as_str()).collect();
        for s in r["services"].as_array().unwrap() {
            let d = s["domain"].as_str().unwrap();
            assert_eq!(names.contains(&d), d != "plgone.test", "{d}");
        }
    }
}
