use serde_json::{Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

/// The shared IPv4 address of the simulated Virtualmin server (documentation range).
pub const VIRTUALMIN_SHARED_IP: &str = "192.0.2.20";

/// What kind of virtual server an entry is (list-domains' `Type:` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainKind {
    /// `Top-level server`: an account of its own.
    TopLevel,
    /// `Sub-server` of the named top-level server (`Parent domain:`).
    SubServer { parent: String },
    /// `Alias` of the named server (`Real domain:`; no `Parent domain:` line).
    Alias { real: String },
    /// `Alias with own email` of the named server.
    AliasWithOwnEmail { real: String },
}

impl DomainKind {
    /// The `Type:` text list-domains.pl prints.
    pub fn label(&self) -> &'static str {
        match self {
            DomainKind::TopLevel => "Top-level server",
            DomainKind::SubServer { .. } => "Sub-server",
            DomainKind::Alias { .. } => "Alias",
            DomainKind::AliasWithOwnEmail { .. } => "Alias with own email",
        }
    }
}

/// How a domain stores its password (list-domains prints `Password:` for plain-text storage
/// and `Hashed password:` for hashed storage, both only to the master admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainPassword {
    Plain(String),
    Hashed(String),
}

/// One virtual server as `list-domains --multiline` describes it, in typed form.
///
/// Source: virtualmin-gpl `list-domains.pl` (the multiline branch) and `json-lib.pl`
/// (`convert_remote_format`), see `/work/shared/reference/panel-apis-verified.md` §B.4.
/// [`VirtualminDomain::into_value`] gives the JSON object remote.cgi serves for it:
///
/// ```json
/// {"name": "ann.test",
///  "values": {"id": ["160000000000001"], "type": ["Top-level server"],
///             "username": ["ann"], "contact_email": ["ann@mail.test"],
///             "plan_id": ["1600000001"], "plan": ["Basic"],
///             "created_on": ["14/Nov/2023 22:13"], "created_unix_time": ["1700000000"],
///             "ip_address": ["192.0.2.20 (Shared)"], "password": ["…"], …}}
/// ```
///
/// Every value is an array of strings; `disabled` and `disabled_at` exist only when the
/// server is disabled; `plan_id`/`plan` only when a plan is set; `reseller` only when owned
/// by a reseller (several resellers are space-separated). The simulator serves raw
/// [`serde_json::Value`]s, so a test can serve what this type cannot express (a value that is
/// not an array, a missing `type`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualminDomain {
    /// The domain name (the object's `name`), IDN domains in their ASCII (`xn--`) form.
    pub name: String,
    /// The Unicode form of an IDN domain (`International domain name:`), if any.
    pub international_name: Option<String>,
    /// Virtualmin's domain ID (digits).
    pub id: String,
    pub kind: DomainKind,
    /// The Unix user; sub-servers and aliases carry their top-level server's.
    pub username: String,
    /// `Description:`.
    pub description: String,
    /// `(Plan ID, Plan)`, when a plan is set.
    pub plan: Option<(String, String)>,
    /// `Contact email:` (may be empty).
    pub contact_email: String,
    /// Creation time, epoch seconds.
    pub created: i64,
    /// Whether `Created Unix time:` is printed (Virtualmin before 2016 lacks it).
    pub created_unix_time: bool,
    /// `(Disabled:, disabled time)` when disabled: the reason text list-domains prints
    /// (`Manually (why)`, `For exceeding bandwidth limit`, …).
    pub disabled: Option<(String, i64)>,
    /// `IP address:` with its annotation, e.g. `192.0.2.20 (Shared)`, `198.51.100.7 (On eth0)`.
    pub ip_address: Option<String>,
    /// `IPv6 address:` (annotated only when the address is the domain's own).
    pub ipv6_address: Option<String>,
    /// `External IP address:` (the NAT address in DNS), if any.
    pub external_ip_address: Option<String>,
    /// `Reseller:` (one or more reseller names, space-separated).
    pub reseller: Option<String>,
    pub password: DomainPassword,
    /// `(Username for mysql, Password for mysql)` when the mysql feature is on.
    pub mysql: Option<(String, String)>,
    /// `Features:`.
    pub features: String,
}

impl VirtualminDomain {
    /// An enabled top-level server on the shared IP without a plan or reseller, e-mail
    /// `<user>@mail.test`, created 2023-11-14 22:13:20 UTC, with a plain-text password.
    pub fn new(name: &str, username: &str) -> Self {
        VirtualminDomain {
            name: name.to_string(),
            international_name: None,
            id: "160000000000001".to_string(),
            kind: DomainKind::TopLevel,
            username: username.to_string(),
            description: String::new(),
            plan: None,
            contact_email: format!("{username}@mail.test"),
            created: 1_700_000_000,
            created_unix_time: true,
            disabled: None,
            ip_address: Some(format!("{VIRTUALMIN_SHARED_IP} (Shared)")),
            ipv6_address: None,
            external_ip_address: None,
            reseller: None,
            password: DomainPassword::Plain(format!("pw-{username}")),
            mysql: None,
            features: "unix dir mail dns web".to_string(),
        }
    }

    /// Set the plan (`Plan ID`, `Plan`).
    pub fn plan(mut self, id: &str, name: &str) -> Self {
        self.plan = Some((id.to_string(), name.to_string()));
        self
    }

    /// Disable the server with list-domains' reason text, at `at` (epoch seconds).
    pub fn disabled(mut self, reason: &str, at: i64) -> Self {
        self.disabled = Some((reason.to_string(), at));
        self
    }

    /// Set the creation time (epoch seconds).
    pub fn created(mut self, unix: i64) -> Self {
        self.created = unix;
        self
    }

    /// The JSON object remote.cgi serves for this server.
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    /// [`VirtualminDomain::to_value`], moving the strings instead of copying them.
    pub fn into_value(self) -> Value {
        let mut v = Map::new();
        let mut put = |k: &str, s: String| {
            v.insert(k.to_string(), Value::Array(vec![Value::String(s)]));
        };
        put("id", self.id.clone());
        put(
            "file",
            format!("/etc/webmin/virtual-server/domains/{}", self.id),
        );
        put("type", self.kind.label().to_string());
        if let Some(idn) = self.international_name {
            put("international_domain_name", idn);
        }
        match self.kind {
            DomainKind::TopLevel => {}
            DomainKind::SubServer { parent } => put("parent_domain", parent),
            DomainKind::Alias { real } | DomainKind::AliasWithOwnEmail { real } => {
                put("real_domain", real)
            }
        }
        put("description", self.description);
        put("template_id", "0".into());
        put("template", "Default Settings".into());
        if let Some((id, name)) = self.plan {
            put("plan_id", id);
            put("plan", name);
        }
        put("username", self.username.clone());
        put("home_directory", format!("/home/{}", self.username));
        match self.password {
            DomainPassword::Plain(p) => {
                put("password_storage", "Plain text".into());
                put("password", p);
            }
            DomainPassword::Hashed(h) => {
                put("password_storage", "Hashed".into());
                put("hashed_password", h);
            }
        }
        if let Some((user, pass)) = self.mysql {
            put("username_for_mysql", user);
            put("password_for_mysql", pass);
        }
        put("contact_email", self.contact_email);
        put("created_on", make_date(self.created));
        if self.created_unix_time {
            put("created_unix_time", self.created.to_string());
        }
        if let Some((reason, at)) = self.disabled {
            put("disabled", reason);
            put("disabled_at", make_date(at));
        }
        if let Some(ip) = self.ip_address {
            put("ip_address", ip);
        }
        if let Some(ip6) = self.ipv6_address {
            put("ipv6_address", ip6);
        }
        if let Some(ext) = self.external_ip_address {
            put("external_ip_address", ext);
        }
        put("features", self.features);
        if let Some(r) = self.reseller {
            put("reseller", r);
        }
        let mut obj = Map::new();
        obj.insert("name".into(), Value::String(self.name));
        obj.insert("values".into(), Value::Object(v));
        Value::Object(obj)
    }
}

/// Webmin's `make_date` in its default form, `dd/Mon/yyyy HH:MM` (here in UTC), e.g.
/// 1631350537 → `11/Sep/2021 08:55`.
pub fn make_date(unix: i64) -> String {
    let fmt = format_description!("[day]/[month repr:short]/[year] [hour]:[minute]");
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_has_list_domains_keys_as_string_arrays() {
        let d = VirtualminDomain::new("ann.test", "ann")
            .plan("1600000001", "Basic")
            .disabled("Manually (non-payment)", 1_700_000_100);
        let v = d.to_value();
        assert_eq!(v["name"], "ann.test");
        let vals = &v["values"];
        assert_eq!(vals["type"], serde_json::json!(["Top-level server"]));
        assert_eq!(vals["username"], serde_json::json!(["ann"]));
        assert_eq!(vals["plan"], serde_json::json!(["Basic"]));
        assert_eq!(vals["created_unix_time"], serde_json::json!(["1700000000"]));
        assert_eq!(vals["created_on"], serde_json::json!(["14/Nov/2023 22:13"]));
        assert_eq!(
            vals["ip_address"],
            serde_json::json!(["192.0.2.20 (Shared)"])
        );
        assert_eq!(
            vals["disabled"],
            serde_json::json!(["Manually (non-payment)"])
        );
        assert_eq!(vals["password"], serde_json::json!(["pw-ann"]));
        assert!(vals.get("parent_domain").is_none());
        assert!(vals.as_object().is_some_and(|o| o.values().all(|x| x
            .as_array()
            .is_some_and(|a| a.len() == 1 && a[0].is_string()))));
    }

    #[test]
    fn sub_servers_and_aliases_name_their_parent() {
        let mut s = VirtualminDomain::new("blog.test", "ann");
        s.kind = DomainKind::SubServer {
            parent: "ann.test".into(),
        };
        let v = s.to_value();
        assert_eq!(v["values"]["type"], serde_json::json!(["Sub-server"]));
        assert_eq!(
            v["values"]["parent_domain"],
            serde_json::json!(["ann.test"])
        );
        let mut a = VirtualminDomain::new("ann.example", "ann");
        a.kind = DomainKind::Alias {
            real: "ann.test".into(),
        };
        let v = a.to_value();
        assert_eq!(v["values"]["real_domain"], serde_json::json!(["ann.test"]));
        assert!(v["values"].get("parent_domain").is_none());
        assert_eq!(make_date(1_631_350_537), "11/Sep/2021 08:55");
    }
}
