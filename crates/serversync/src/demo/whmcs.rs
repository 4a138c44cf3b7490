//! The demo's server run by a WHMCS-style PHP module: `whmcs1` (server 16), module
//! `demopanel` (`modules/demopanel/demopanel.php`, written into the demo's modules folder),
//! which lists a WHM-style simulator on loopback through serversync's PHP shim.
//!
//! Its accounts give several drift categories (accounts are matched by username): `wa` in
//! sync, `wb` suspended on the panel, `wc` on another package, `wterm` live but terminated
//! in billing, `wnew` not in billing, and the service of `wgone` not on the server.

use futures::future::BoxFuture;
use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig};
use serde_json::{json, Value};
use serversync_modules::ModuleError;

use super::extra::{skip_notice, write_module, DemoEnv, ExtraServer};

/// The module, shipped inside the binary.
const DEMOPANEL_PHP: &str = include_str!("modules/demopanel/demopanel.php");
const SERVER_ID: i64 = 16;
const IP: &str = "192.0.2.16";
/// 2024-01-31 13:15:00 UTC.
const CREATED: i64 = 1_706_706_900;

/// PHP's check of the libraries the module uses (exit 3 when one is missing).
const CHECK: &str = "exit(stream_resolve_include_path('GuzzleHttp/autoload.php') \
    && stream_resolve_include_path('Carbon/autoload.php') \
    && stream_resolve_include_path('Illuminate/Database/autoload.php') \
    && extension_loaded('pdo_sqlite') ? 0 : 3);";

fn acct(user: &str, plan: &str, email: &str) -> CpanelAccount {
    let mut a = CpanelAccount::new(user, &format!("{user}.test")).created(CREATED);
    a.plan = plan.into();
    a.ip = IP.into();
    a.email = email.into();
    a
}

fn accounts() -> Vec<Value> {
    vec![
        acct("wa", "basic", "ann@mail.test"),
        acct("wb", "basic", "ann@mail.test").suspended("Suspended for nonpayment.", 1_730_000_000),
        acct("wc", "gold", "carol@mail.test"),
        acct("wterm", "basic", "dave@mail.test"),
        acct("wnew", "gold", "new@mail.test"),
    ]
    .into_iter()
    .map(|a| a.to_value())
    .collect()
}

fn service(id: i64, client: i64, product: i64, user: &str, status: &str) -> Value {
    json!({"id": id, "client_id": client, "product_id": product, "server_id": SERVER_ID,
           "domain": format!("{user}.test"), "username": user, "dedicated_ip": "",
           "regdate": "2024-01-31", "status": status, "billing_cycle": "Monthly",
           "amount": "12.00", "next_due_date": "2026-12-31"})
}

fn records(port: u16) -> Value {
    let product = |id: i64, name: &str, pkg: &str| {
        json!({"id": id, "name": name, "module": "demopanel",
               "config_options": {"configoption1": pkg}})
    };
    json!({
        "products": [product(160, "Demo Panel Basic", "basic"), product(161, "Demo Panel Gold", "gold")],
        "servers": [{"id": SERVER_ID, "name": "whmcs1", "module": "demopanel",
                     "hostname": "127.0.0.1", "ip_address": IP, "port": port, "secure": false,
                     "tls_verify": true, "username": "root", "password": "",
                     "access_hash": "TOKEN"}],
        "services": [
            service(1600, 1, 160, "wa", "Active"),
            service(1601, 1, 160, "wb", "Active"),
            service(1602, 3, 160, "wc", "Active"),
            service(1603, 4, 160, "wterm", "Terminated"),
            service(1604, 1, 160, "wgone", "Active"),
        ],
    })
}

/// Starts `whmcs1`, or leaves it out with a notice when PHP (or a library the module uses)
/// is missing.
pub(crate) fn start<'a>(
    env: &'a DemoEnv<'a>,
) -> BoxFuture<'a, anyhow::Result<Option<ExtraServer>>> {
    Box::pin(async move {
        let Some(php) = env.php.to_str() else {
            skip_notice("whmcs1 left out: the PHP path is not valid UTF-8".into());
            return Ok(None);
        };
        let check = serversync_modules::process::run(
            php,
            &["-r".to_string(), CHECK.to_string()],
            env.modules_dir,
            Vec::new(),
            std::time::Duration::from_secs(30),
            4096,
            &[],
        )
        .await;
        match check {
            Ok(out) if out.status.success() => {}
            Ok(_) => {
                skip_notice(
                    "whmcs1 left out: PHP's Guzzle, Carbon, Illuminate Database or pdo_sqlite is \
                     missing (Debian: php-guzzlehttp-guzzle php-nesbot-carbon \
                     php-illuminate-database php-sqlite3)"
                        .into(),
                );
                return Ok(None);
            }
            Err(ModuleError::Process { .. }) => {
                skip_notice("whmcs1 left out: php is not installed".into());
                return Ok(None);
            }
            Err(e) => {
                skip_notice(format!("whmcs1 left out: php does not run ({e})"));
                return Ok(None);
            }
        }
        let dir = write_module(
            env.modules_dir,
            "demopanel",
            &[("demopanel.php", DEMOPANEL_PHP)],
        )?;
        let sim = spawn_cpanel(
            "127.0.0.1:0".parse()?,
            CpanelSimConfig::with_accounts(accounts()),
        )
        .await?;
        Ok(Some(ExtraServer {
            name: "whmcs1".into(),
            about: format!(
                "a WHMCS-style PHP module ({}) listing a WHM-style simulator on port {} through \
                 the PHP shim",
                dir.join("demopanel.php").display(),
                sim.addr.port()
            ),
            records: records(sim.addr.port()),
            sim: Some(sim),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_in_server_16s_id_ranges() {
        let r = records(2086);
        assert_eq!(r["servers"][0]["id"], 16);
        for p in r["products"].as_array().unwrap() {
            assert!((160..170).contains(&p["id"].as_i64().unwrap()));
        }
        for s in r["services"].as_array().unwrap() {
            assert!((1600..1700).contains(&s["id"].as_i64().unwrap()));
            assert_eq!(s["server_id"], 16);
        }
        assert_eq!(accounts().len(), 5);
    }
}
