//! The demo's DirectAdmin server `da1` (id 11): a DirectAdmin simulator on loopback and
//! billing records with drift of several categories.
//!
//! | account (DirectAdmin user) | billing | category |
//! |---|---|---|
//! | `daann` `daann.test` | service 1100, same values | `in_sync` |
//! | `dadave` `dadave.test` (e-mail as `dave&#64;mail.test`) | service 1101, same values | `in_sync` |
//! | `dabob` `dabob.test`, suspended | service 1102, Active | `out_of_sync` (status) |
//! | `dacarol` `dacarol.test`, package `silver` | service 1103, product `basic` | `out_of_sync` (product) |
//! | `daold` `daold.test` | service 1104, Terminated | `terminated_in_billing` |
//! | `danew` `danew.test` | — | `not_in_billing` (import) |
//! | `dashop` `dashop.test`, created by reseller `dares` | — | `not_in_billing` |
//! | `dares` (reseller, no domain) | — | `conflict` (no usable domain) |
//! | — | service 1105 `dagone.test`, Active | `not_on_server` |

use futures::future::BoxFuture;
use panel_sim::{da_date_created, directadmin_user, spawn_directadmin, DirectAdminSimConfig};
use serde_json::{json, Value};

use super::extra::{DemoEnv, ExtraServer};

const SERVER_ID: i64 = 11;
const SERVER_IP: &str = panel_sim::directadmin::DA_SHARED_IP;
/// 2024-01-31 13:15:00 UTC, the simulated server's local time.
const CREATED: i64 = 1_706_706_900;

/// The users of `da1`.
pub(crate) fn da1_users() -> Vec<Value> {
    let user = |name: &str, domain: &str, package: &str, email: &str| {
        let mut v = directadmin_user(name, domain);
        v["package"] = json!(package);
        v["email"] = json!(email);
        v["date_created"] = json!(da_date_created(CREATED));
        v
    };
    let mut dave = user("dadave", "dadave.test", "basic", "dave@mail.test");
    dave["_entities"] = json!("semicolon");
    let mut bob = user("dabob", "dabob.test", "basic", "ann@mail.test");
    bob["suspended"] = json!("yes");
    let mut res = user("dares", "", "gold", "carol@mail.test");
    res["usertype"] = json!("reseller");
    let mut shop = user("dashop", "dashop.test", "starter", "carol@mail.test");
    shop["creator"] = json!("dares");
    vec![
        user("daann", "daann.test", "basic", "ann@mail.test"),
        dave,
        bob,
        user("dacarol", "dacarol.test", "silver", "carol@mail.test"),
        user("daold", "daold.test", "basic", "ann@mail.test"),
        user("danew", "danew.test", "basic", "new@mail.test"),
        res,
        shop,
    ]
}

/// The billing records of `da1` on a simulator listening on `port`.
pub(crate) fn da1_records(port: u16) -> Value {
    let service = |id: i64, client: i64, product: i64, domain: &str, user: &str, status: &str| {
        json!({"id": id, "client_id": client, "product_id": product, "server_id": SERVER_ID,
               "domain": domain, "username": user, "dedicated_ip": "", "regdate": "2024-01-31",
               "status": status, "billing_cycle": "Monthly", "amount": "7.50",
               "next_due_date": "2026-12-31"})
    };
    let product = |id: i64, name: &str, pkg: &str| {
        json!({"id": id, "name": name, "module": "directadmin",
               "config_options": {"configoption1": pkg}})
    };
    json!({
        "products": [
            product(110, "DA Basic", "basic"),
            product(111, "DA Silver", "silver"),
        ],
        "servers": [{"id": SERVER_ID, "name": "da1", "module": "directadmin",
                     "hostname": "127.0.0.1", "ip_address": SERVER_IP, "port": port,
                     "secure": false, "tls_verify": true, "username": "admin",
                     "password": "PASSWORD", "access_hash": ""}],
        "services": [
            service(1100, 1, 110, "daann.test", "daann", "Active"),
            service(1101, 4, 110, "dadave.test", "dadave", "Active"),
            service(1102, 1, 110, "dabob.test", "dabob", "Active"),
            service(1103, 3, 110, "dacarol.test", "dacarol", "Active"),
            service(1104, 1, 110, "daold.test", "daold", "Terminated"),
            service(1105, 1, 110, "dagone.test", "dagone", "Active"),
        ],
    })
}

/// Starts `da1`'s simulator (login `admin` / `PASSWORD`).
pub(crate) fn start<'a>(
    _env: &'a DemoEnv<'a>,
) -> BoxFuture<'a, anyhow::Result<Option<ExtraServer>>> {
    Box::pin(async move {
        let sim = spawn_directadmin(
            "127.0.0.1:0".parse()?,
            DirectAdminSimConfig::with_accounts(da1_users()),
        )
        .await?;
        let port = sim.addr.port();
        Ok(Some(ExtraServer {
            name: "da1".into(),
            about: format!(
                "DirectAdmin simulator on 127.0.0.1:{port} (legacy API: the user list, then \
                 one config call per user)"
            ),
            records: da1_records(port),
            sim: Some(sim),
        }))
    })
}
