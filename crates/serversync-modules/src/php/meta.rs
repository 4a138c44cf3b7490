//! The meta data of a WHMCS module, read from what `NAME_MetaData()` returned.
//!
//! Keys follow the WHMCS developer documentation ("Module Meta Data" and "Server Sync"):
//! `DisplayName`, `ListAccountsUniqueIdentifierDisplayName`,
//! `ListAccountsUniqueIdentifierField`, `ListAccountsProductField`, `DefaultSSLPort`,
//! `DefaultNonSSLPort`. Other keys (`APIVersion`, `RequiresServer`, …) are ignored. A key
//! that is absent, null or an empty string takes the default of DESIGN.md §2.

use serde_json::Value;
use serversync_core::module::{MetaData, UniqueIdField};

/// Port shown for a secure connection when `DefaultSSLPort` is absent (HTTPS).
pub const DEFAULT_SECURE_PORT: u16 = 443;
/// Port shown for a plain connection when `DefaultNonSSLPort` is absent (HTTP).
pub const DEFAULT_PLAIN_PORT: u16 = 80;
/// Longest display name or heading accepted (characters).
const MAX_LABEL: usize = 100;

/// Builds the meta data of module `name` from the JSON encoding of `NAME_MetaData()`'s
/// return value (`None` when the module defines no `NAME_MetaData`).
///
/// Defaults: display name = the module name, heading `Domain`, field `domain`, product field
/// `configoption1`, ports 443 / 80. Errors name the key and the value that is wrong.
pub fn from_php(name: &str, meta: Option<&Value>) -> Result<MetaData, String> {
    let empty = serde_json::Map::new();
    let obj = match meta {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        // PHP encodes an empty array as `[]`.
        Some(Value::Array(a)) if a.is_empty() => &empty,
        Some(other) => {
            return Err(format!(
                "{name}_MetaData() returned {}, not an array of settings",
                kind(other)
            ))
        }
    };
    let display_name = label(obj, "DisplayName")?.unwrap_or_else(|| name.to_string());
    let unique_identifier_display_name =
        label(obj, "ListAccountsUniqueIdentifierDisplayName")?.unwrap_or_else(|| "Domain".into());
    let unique_identifier_field = match text(obj, "ListAccountsUniqueIdentifierField")? {
        None => UniqueIdField::Domain,
        Some(f) => f.parse::<UniqueIdField>().map_err(|e| e.to_string())?,
    };
    let product_field =
        text(obj, "ListAccountsProductField")?.unwrap_or_else(|| "configoption1".into());
    let meta = MetaData {
        display_name,
        unique_identifier_display_name,
        unique_identifier_field,
        product_field,
        default_secure_port: port(obj, "DefaultSSLPort")?.unwrap_or(DEFAULT_SECURE_PORT),
        default_plain_port: port(obj, "DefaultNonSSLPort")?.unwrap_or(DEFAULT_PLAIN_PORT),
    };
    meta.validate().map_err(|e| e.to_string())?;
    Ok(meta)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A text setting: strings trimmed (empty → absent), integers in decimal.
fn text(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(format!("{key} is {}, not a string", kind(other))),
    }
}

/// A label shown on the page: one line, at most [`MAX_LABEL`] characters.
fn label(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    let Some(s) = text(obj, key)? else {
        return Ok(None);
    };
    if s.chars().any(char::is_control) {
        return Err(format!("{key} contains control characters"));
    }
    if s.chars().count() > MAX_LABEL {
        return Err(format!("{key} is longer than {MAX_LABEL} characters"));
    }
    Ok(Some(s))
}

/// A port: 1..=65535, as a number or a string of digits (WHMCS modules use both).
fn port(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u16>, String> {
    let Some(s) = text(obj, key)? else {
        return Ok(None);
    };
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(Some(p)),
        _ => Err(format!(
            "{key} {:?} is not a port (1..65535)",
            crate::http::one_line(&s, 40, "")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_when_absent() {
        let m = from_php("mypanel", None).unwrap();
        assert_eq!(m.display_name, "mypanel");
        assert_eq!(m.unique_identifier_display_name, "Domain");
        assert_eq!(m.unique_identifier_field, UniqueIdField::Domain);
        assert_eq!(m.product_field, "configoption1");
        assert_eq!((m.default_secure_port, m.default_plain_port), (443, 80));
        assert_eq!(from_php("mypanel", Some(&json!([]))).unwrap(), m);
        assert_eq!(
            from_php(
                "mypanel",
                Some(&json!({"DisplayName": " ", "APIVersion": "1.1"}))
            )
            .unwrap(),
            m
        );
    }

    #[test]
    fn documented_keys_are_read() {
        let m = from_php(
            "p",
            Some(&json!({"DisplayName": "Demo Provisioning Module",
                "ListAccountsUniqueIdentifierDisplayName": "Instance",
                "ListAccountsUniqueIdentifierField": "customfield.Instance ID",
                "ListAccountsProductField": "configoption3",
                "DefaultSSLPort": "1112", "DefaultNonSSLPort": 1111})),
        )
        .unwrap();
        assert_eq!(m.display_name, "Demo Provisioning Module");
        assert_eq!(m.unique_identifier_display_name, "Instance");
        assert_eq!(
            m.unique_identifier_field,
            UniqueIdField::CustomField("Instance ID".into())
        );
        assert_eq!(m.product_field, "configoption3");
        assert_eq!((m.default_secure_port, m.default_plain_port), (1112, 1111));
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let e = |v: Value| from_php("p", Some(&v)).unwrap_err();
        assert_eq!(
            e(json!({"ListAccountsUniqueIdentifierField": "email"})),
            "ListAccountsUniqueIdentifierField \"email\" is not domain, username or customfield.<Name>"
        );
        assert_eq!(
            e(json!({"ListAccountsProductField": "configoption25"})),
            "ListAccountsProductField \"configoption25\" is not configoption1..configoption24"
        );
        assert_eq!(
            e(json!({"DefaultSSLPort": "70000"})),
            "DefaultSSLPort \"70000\" is not a port (1..65535)"
        );
        assert_eq!(
            e(json!({"DisplayName": ["x"]})),
            "DisplayName is a list, not a string"
        );
        assert_eq!(
            e(json!({"DisplayName": "a\nb"})),
            "DisplayName contains control characters"
        );
        assert_eq!(
            e(json!("cPanel")),
            "p_MetaData() returned a string, not an array of settings"
        );
    }
}
