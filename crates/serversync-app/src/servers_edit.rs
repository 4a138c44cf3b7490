//! The checks of a server an administrator enters (page form or API) beyond the records
//! document's rules: a valid IP address, and the credentials a built-in panel module needs.
//! Name uniqueness (trimmed, case-insensitive) is the store's rule (`save_server`).

use std::net::IpAddr;

use serversync_core::model::{Server, ServerId};

use crate::web_support::ServerInput;
use crate::{App, AppError, Result};

/// Built-in panel modules that sign in with a user name and a password or an access
/// hash/API key (external modules bring their own rules).
const NEEDS_CREDENTIALS: [&str; 5] = ["cpanel", "directadmin", "plesk", "virtualmin", "hestiacp"];

/// The first problem of `input`'s IP address and credentials, as `field: message`.
/// `stored_secret` says whether the stored server (on an edit) already has a password or
/// an access hash (secrets are write-only: an empty one keeps the stored one).
pub fn server_input_problem(input: &ServerInput, stored_secret: bool) -> Option<String> {
    let ip = input.ip_address.trim();
    if ip.is_empty() {
        return Some("ip_address: a server needs its IP address".into());
    }
    if ip.parse::<IpAddr>().is_err() {
        return Some(format!("ip_address: {ip:?} is not an IPv4 or IPv6 address"));
    }
    if NEEDS_CREDENTIALS.contains(&input.module.as_str()) {
        if input.username.trim().is_empty() {
            return Some(format!(
                "username: the {} module signs in with a user name",
                input.module
            ));
        }
        if !stored_secret && input.password.is_empty() && input.access_hash.is_empty() {
            return Some(format!(
                "password: the {} module needs a password or an access hash (API token)",
                input.module
            ));
        }
    }
    None
}

/// `name: …` when `name`, trimmed, is already used by another of `servers` ignoring case
/// (Unicode lower case; the store's own check, the race guard, is ASCII-only in SQLite).
/// Names the other server with its id.
pub fn name_problem(servers: &[Server], id: Option<ServerId>, name: &str) -> Option<String> {
    let key = name.trim().to_lowercase();
    servers
        .iter()
        .find(|s| Some(s.id) != id && s.name.trim().to_lowercase() == key)
        .map(|s| {
            format!(
                "name: {:?} is already used by {} (server {}); names are compared ignoring case and surrounding spaces",
                name.trim(),
                s.name,
                s.id
            )
        })
}

impl App {
    /// Checks `input` ([`server_input_problem`], then [`name_problem`] against the stored
    /// servers) and saves it
    /// ([`App::save_server_input`]: module known, records rules, unique name, audit event).
    /// Errors are [`AppError::Invalid`] naming the field, or the store's.
    pub async fn save_server_checked(&self, input: &ServerInput) -> Result<ServerId> {
        let stored_secret = match input.id {
            Some(id) => {
                let s = self.store.server_by_id(id).await?;
                !s.password.is_empty() || !s.access_hash.is_empty()
            }
            None => false,
        };
        if let Some(p) = server_input_problem(input, stored_secret) {
            return Err(AppError::Invalid(p));
        }
        let servers = self.store.servers().await?;
        if let Some(p) = name_problem(&servers, input.id, &input.name) {
            return Err(AppError::Invalid(p));
        }
        self.save_server_input(input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ServerInput {
        ServerInput {
            name: "web1".into(),
            module: "cpanel".into(),
            hostname: "web1.test".into(),
            ip_address: "192.0.2.10".into(),
            username: "root".into(),
            access_hash: "TOKEN".into(),
            ..Default::default()
        }
    }

    #[test]
    fn ip_and_credentials_are_checked() {
        assert_eq!(server_input_problem(&input(), false), None);
        let mut i = input();
        i.ip_address = "300.1.1.1".into();
        assert!(server_input_problem(&i, false)
            .unwrap()
            .starts_with("ip_address: \"300.1.1.1\""));
        i.ip_address = "2001:db8::1".into();
        assert_eq!(server_input_problem(&i, false), None);
        i.access_hash.clear();
        assert!(server_input_problem(&i, false)
            .unwrap()
            .starts_with("password: the cpanel module"));
        // An edit keeps the stored secret.
        assert_eq!(server_input_problem(&i, true), None);
        i.username = " ".into();
        assert!(server_input_problem(&i, true)
            .unwrap()
            .starts_with("username:"));
        i.module = "mymodule".into();
        assert_eq!(server_input_problem(&i, false), None);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let mut i = input();
        i.password = "hunter2".into();
        let shown = format!("{i:?}");
        assert!(
            !shown.contains("TOKEN") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("access_hash: \"(redacted)\""), "{shown}");
        i.password.clear();
        assert!(format!("{i:?}").contains("password: \"(keep)\""));
    }

    #[test]
    fn names_are_unique_ignoring_case_and_spaces() {
        let web1 = Server {
            id: 100,
            name: "Web1".into(),
            module: "cpanel".into(),
            hostname: "web1.test".into(),
            ip_address: "192.0.2.10".into(),
            port: None,
            secure: true,
            tls_verify: true,
            username: "root".into(),
            password: serversync_core::model::Secret::new(""),
            access_hash: serversync_core::model::Secret::new("TOKEN"),
            disabled: false,
        };
        let servers = [web1];
        assert_eq!(
            name_problem(&servers, None, "  wEB1 ").as_deref(),
            Some("name: \"wEB1\" is already used by Web1 (server 100); names are compared ignoring case and surrounding spaces")
        );
        // The server itself may keep its name; other names are free.
        assert_eq!(name_problem(&servers, Some(100), "web1"), None);
        assert_eq!(name_problem(&servers, None, "web2"), None);
    }
}
