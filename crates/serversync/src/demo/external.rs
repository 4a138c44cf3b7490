//! The demo's server run by an external command module: `extpanel`, a short Python script
//! (`modules/extpanel/`, embedded in the binary) written to the demo's modules folder. Its
//! server `ext1` (id 15) has drift of several categories and records read leniently.
//! Left out with a notice when `python3` is not on the PATH.

use futures::future::BoxFuture;
use serde_json::json;

use super::extra::{self, DemoEnv, ExtraServer};

const MODULE: &str = "extpanel";
const MANIFEST: &str = include_str!("modules/extpanel/module.toml");
const SCRIPT: &str = include_str!("modules/extpanel/list_accounts.py");

/// Writes the module and returns server `ext1`'s records (ids per `extra`'s ranges: server
/// 15, products 150.., services 1500..).
pub(crate) fn start<'a>(
    env: &'a DemoEnv<'a>,
) -> BoxFuture<'a, anyhow::Result<Option<ExtraServer>>> {
    Box::pin(async move {
        if !on_path("python3") {
            extra::skip_notice(format!(
                "ext1 (external command module {MODULE}) left out: python3 is not on the PATH"
            ));
            return Ok(None);
        }
        let dir = extra::write_module(
            env.modules_dir,
            MODULE,
            &[("module.toml", MANIFEST), ("list_accounts.py", SCRIPT)],
        )?;
        Ok(Some(ExtraServer {
            name: "ext1".into(),
            about: format!(
                "external command module {MODULE} (Python, {}/list_accounts.py)",
                dir.display()
            ),
            records: records(),
            sim: None,
        }))
    })
}

fn records() -> serde_json::Value {
    let service = |id: i64, product: i64, domain: &str, user: &str, status: &str, regdate: &str| {
        json!({"id": id, "client_id": 1, "product_id": product, "server_id": 15,
               "domain": domain, "username": user, "dedicated_ip": "", "regdate": regdate,
               "status": status, "billing_cycle": "Monthly", "amount": "4.99",
               "next_due_date": "2026-12-31"})
    };
    json!({
        "products": [
            {"id": 150, "name": "Ext Basic", "module": MODULE, "config_options": {"configoption1": "basic"}},
            {"id": 151, "name": "Ext Plan #2", "module": MODULE, "config_options": {"configoption1": "2"}},
        ],
        "servers": [
            {"id": 15, "name": "ext1", "module": MODULE, "hostname": "127.0.0.1",
             "ip_address": "192.0.2.15", "secure": false, "tls_verify": true,
             "username": "demo", "password": "", "access_hash": "EXT-DEMO-TOKEN"},
        ],
        "services": [
            service(1500, 150, "shop15.test", "shop15", "Active", "2024-01-31"),
            service(1501, 150, "blog15.test", "blog15", "Active", "2024-01-31"),
            service(1502, 150, "old15.test", "old15", "Terminated", "2024-01-31"),
            service(1503, 150, "gone15.test", "gone15", "Active", "2024-01-31"),
            service(1504, 151, "plan15.test", "plan15", "Active", "2024-03-01"),
        ],
    })
}

/// Whether `program` is an executable file in a folder of the PATH.
fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| {
        let p = d.join(program);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        p.is_file()
    })
}
