//! The demo's HestiaCP server `hestia1` (id 14): a HestiaCP simulator on loopback (access
//! key login) and billing records with drift of several categories.
//!
//! | account (Hestia user) | billing | category |
//! |---|---|---|
//! | `admin` (Hestia's own) | — | left out by the module |
//! | `hsann` `hsann.test` | service 1400, same values | `in_sync` |
//! | `hsdave` `hsdave.test` and `hsdave-shop.test` | service 1401, same values | `in_sync` (first web domain) |
//! | `hsbob` `hsbob.test`, suspended | service 1402, Active | `out_of_sync` (status) |
//! | `hscarol` `hscarol.test`, package `pro` | service 1403, product `basic` | `out_of_sync` (product) |
//! | `hsold` `hsold.test` | service 1404, Terminated | `terminated_in_billing` |
//! | `hsnew` `hsnew.test` | — | `not_in_billing` (import) |
//! | `hsmail` (no web domain) | — | `conflict` (no usable domain) |
//! | — | service 1405 `hsgone.test`, Active | `not_on_server` |

use futures::future::BoxFuture;
use panel_sim::{
    hestia_admin, hestia_date_time, hestia_user, hestia_web_domain, spawn_hestiacp,
    HestiaSimConfig, HESTIA_SHARED_IP, HESTIA_TEST_ACCESS_KEY,
};
use serde_json::{json, Value};

use super::extra::{DemoEnv, ExtraServer};

const SERVER_ID: i64 = 14;
/// 2024-01-31 13:15:00 UTC, the simulated server's local time.
const CREATED: i64 = 1_706_706_900;

/// The users of `hestia1`.
pub(crate) fn hestia1_users() -> Vec<Value> {
    let (date, time) = hestia_date_time(CREATED);
    let user = |name: &str, domain: &str, package: &str, email: &str| {
        let mut v = hestia_user(name, domain);
        v["PACKAGE"] = json!(package);
        v["CONTACT"] = json!(email);
        v["DATE"] = json!(date);
        v["TIME"] = json!(time);
        v
    };
    let mut dave = user("hsdave", "hsdave.test", "basic", "dave@mail.test");
    dave["_web_domains"] = json!([
        hestia_web_domain("hsdave.test", HESTIA_SHARED_IP),
        hestia_web_domain("hsdave-shop.test", HESTIA_SHARED_IP)
    ]);
    let mut bob = user("hsbob", "hsbob.test", "basic", "ann@mail.test");
    bob["SUSPENDED"] = json!("yes");
    let mut mail = user("hsmail", "", "basic", "carol@mail.test");
    mail["_web_domains"] = json!([]);
    vec![
        hestia_admin(),
        user("hsann", "hsann.test", "basic", "ann@mail.test"),
        dave,
        bob,
        user("hscarol", "hscarol.test", "pro", "carol@mail.test"),
        user("hsold", "hsold.test", "basic", "ann@mail.test"),
        user("hsnew", "hsnew.test", "basic", "new@mail.test"),
        mail,
    ]
}

/// The billing records of `hestia1` on a simulator listening on `port`.
pub(crate) fn hestia1_records(port: u16) -> Value {
    let service = |id: i64, client: i64, product: i64, domain: &str, user: &str, status: &str| {
        json!({"id": id, "client_id": client, "product_id": product, "server_id": SERVER_ID,
               "domain": domain, "username": user, "dedicated_ip": "", "regdate": "2024-01-31",
               "status": status, "billing_cycle": "Monthly", "amount": "6.50",
               "next_due_date": "2026-12-31"})
    };
    let product = |id: i64, name: &str, pkg: &str| {
        json!({"id": id, "name": name, "module": "hestiacp",
               "config_options": {"configoption1": pkg}})
    };
    json!({
        "products": [
            product(140, "Hestia Basic", "basic"),
            product(141, "Hestia Pro", "pro"),
        ],
        "servers": [{"id": SERVER_ID, "name": "hestia1", "module": "hestiacp",
                     "hostname": "127.0.0.1", "ip_address": HESTIA_SHARED_IP, "port": port,
                     "secure": false, "tls_verify": true, "username": "",
                     "password": "", "access_hash": HESTIA_TEST_ACCESS_KEY}],
        "services": [
            service(1400, 1, 140, "hsann.test", "hsann", "Active"),
            service(1401, 4, 140, "hsdave.test", "hsdave", "Active"),
            service(1402, 1, 140, "hsbob.test", "hsbob", "Active"),
            service(1403, 3, 140, "hscarol.test", "hscarol", "Active"),
            service(1404, 1, 140, "hsold.test", "hsold", "Terminated"),
            service(1405, 1, 140, "hsgone.test", "hsgone", "Active"),
        ],
    })
}

/// Starts `hestia1`'s simulator (access key [`HESTIA_TEST_ACCESS_KEY`]).
pub(crate) fn start<'a>(
    _env: &'a DemoEnv<'a>,
) -> BoxFuture<'a, anyhow::Result<Option<ExtraServer>>> {
    Box::pin(async move {
        let sim = spawn_hestiacp(
            "127.0.0.1:0".parse()?,
            HestiaSimConfig::with_accounts(hestia1_users()),
        )
        .await?;
        let port = sim.addr.port();
        Ok(Some(ExtraServer {
            name: "hestia1".into(),
            about: format!(
                "HestiaCP simulator on 127.0.0.1:{port} (API with an access key: \
                 v-list-users, then v-list-web-domains per user)"
            ),
            records: hestia1_records(port),
            sim: Some(sim),
        }))
    })
}
