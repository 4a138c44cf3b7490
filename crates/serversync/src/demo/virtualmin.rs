//! The demo's Virtualmin server `vmin1` (server id 13): a simulated remote API with top-level
//! servers, a sub-server and an alias (no accounts of their own), and billing records with
//! drift of several categories.

use futures::future::BoxFuture;
use panel_sim::virtualmin::{DomainKind, DomainPassword};
use panel_sim::{spawn_virtualmin, VirtualminDomain, VirtualminSimConfig};
use serde_json::{json, Value};

use super::extra::{DemoEnv, ExtraServer};

/// 2024-01-31 13:15:00 UTC.
const CREATED: i64 = 1_706_706_900;
const SERVER_IP: &str = "192.0.2.13";

fn domain(name: &str, user: &str, plan: Option<&str>, email: &str) -> VirtualminDomain {
    let mut d = VirtualminDomain::new(name, user).created(CREATED);
    if let Some(p) = plan {
        d = d.plan(
            if p == "Basic" {
                "1600000001"
            } else {
                "1600000002"
            },
            p,
        );
    }
    d.contact_email = email.into();
    d.ip_address = Some(format!("{SERVER_IP} (Shared)"));
    d.password = DomainPassword::Hashed(format!("$6$demo${user}"));
    d
}

/// The domains `vmin1` lists: in sync (`vm-ann.test`, `vm-dave.test`), disabled on the server
/// (`vm-bob.test`), on another plan (`vm-carol.test`), not in billing (`vm-new.test`), plus
/// a sub-server and an alias of `vm-ann.test`.
fn domains() -> Vec<Value> {
    let mut sub = domain("blog.vm-ann.test", "vmann", Some("Basic"), "ann@mail.test");
    sub.kind = DomainKind::SubServer {
        parent: "vm-ann.test".into(),
    };
    let mut alias = domain("vm-ann.example", "vmann", None, "ann@mail.test");
    alias.kind = DomainKind::Alias {
        real: "vm-ann.test".into(),
    };
    let mut carol = domain(
        "vm-carol.test",
        "vmcarol",
        Some("Silver"),
        "carol@mail.test",
    );
    carol.reseller = Some("res1".into());
    vec![
        domain("vm-ann.test", "vmann", Some("Basic"), "ann@mail.test").to_value(),
        sub.to_value(),
        alias.to_value(),
        domain("vm-bob.test", "vmbob", Some("Basic"), "ann@mail.test")
            .disabled("Manually (non-payment)", CREATED + 86_400)
            .to_value(),
        carol.to_value(),
        domain("vm-dave.test", "vmdave", Some("Basic"), "dave@mail.test").to_value(),
        domain("vm-new.test", "vmnew", Some("Silver"), "new@mail.test").to_value(),
    ]
}

fn service(id: i64, client: i64, product: i64, domain: &str, user: &str, status: &str) -> Value {
    json!({"id": id, "client_id": client, "product_id": product, "server_id": 13,
           "domain": domain, "username": user, "dedicated_ip": "", "regdate": "2024-01-31",
           "status": status, "billing_cycle": "Monthly", "amount": "7.50",
           "next_due_date": "2026-12-31"})
}

/// Records of `vmin1` for a simulator on `port` (ids per `extra.rs`: products 130.., services
/// 1300..).
fn records(port: u16) -> Value {
    json!({
        "products": [
            {"id": 130, "name": "Virtualmin Basic", "module": "virtualmin",
             "config_options": {"configoption1": "Default Settings", "configoption2": "Basic"}},
            {"id": 131, "name": "Virtualmin Silver", "module": "virtualmin",
             "config_options": {"configoption1": "Default Settings", "configoption2": "Silver"}},
        ],
        "servers": [{"id": 13, "name": "vmin1", "module": "virtualmin", "hostname": "127.0.0.1",
                     "ip_address": SERVER_IP, "port": port, "secure": false, "tls_verify": true,
                     "username": "root", "password": "PASSWORD", "access_hash": ""}],
        "services": [
            service(1300, 1, 130, "vm-ann.test", "vmann", "Active"),
            service(1301, 1, 130, "vm-bob.test", "vmbob", "Active"),
            service(1302, 3, 130, "vm-carol.test", "vmcarol", "Active"),
            service(1303, 4, 130, "vm-dave.test", "vmdave", "Active"),
            service(1304, 1, 130, "vm-gone.test", "vmgone", "Active"),
            service(1305, 1, 131, "vm-later.test", "vmlater", "Pending"),
        ],
    })
}

/// Starts `vmin1`'s simulator and returns its records.
pub(crate) fn start<'a>(
    _env: &'a DemoEnv<'a>,
) -> BoxFuture<'a, anyhow::Result<Option<ExtraServer>>> {
    Box::pin(async move {
        let sim = spawn_virtualmin(
            "127.0.0.1:0".parse()?,
            VirtualminSimConfig::with_accounts(domains()),
        )
        .await?;
        let port = sim.addr.port();
        Ok(Some(ExtraServer {
            name: "vmin1".into(),
            about: format!(
                "simulated Virtualmin remote API on 127.0.0.1:{port} (user root, password \
                 PASSWORD)"
            ),
            records: records(port),
            sim: Some(sim),
        }))
    })
}
