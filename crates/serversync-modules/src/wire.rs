//! What every non-built-in module (command, URL, WHMCS PHP) shares: the server parameters
//! it is given, in WHMCS' names and types (CONTRACT.md "Modules"), and the reading of its
//! wire-form answer into a listing or a [`ModuleError`].

use serversync_core::module::{parse_wire, ServerParams, WireError};

use crate::{http, Listing, ModuleError};

/// How much of a module's own error message is shown (characters, one line).
const MESSAGE_CHARS: usize = 300;
/// How much of a non-JSON answer is quoted.
const SNIPPET_CHARS: usize = 80;

/// The server parameters as one JSON object, the way WHMCS passes them to a module:
///
/// ```json
/// {"serverid": 100, "serverip": "192.0.2.10", "serverhostname": "web1.test",
///  "serverusername": "root", "serverpassword": "…", "serveraccesshash": "…",
///  "serversecure": true, "serverhttpprefix": "https", "serverport": "2087"}
/// ```
///
/// `serverport` is the server's own port as a string, empty when it sets none (the module
/// picks its default, as in WHMCS). Server fields only: never service or product fields.
/// The bytes carry the password and access hash: they go to a module's stdin or request
/// body only, never to argv, the environment or a log.
pub fn params_json(params: &ServerParams) -> Vec<u8> {
    let doc = serde_json::json!({
        "serverid": params.server_id,
        "serverip": params.ip,
        "serverhostname": params.hostname,
        "serverusername": params.username,
        "serverpassword": params.password.expose(),
        "serveraccesshash": params.access_hash.expose(),
        "serversecure": params.secure,
        "serverhttpprefix": params.http_prefix(),
        "serverport": params.port.map(|p| p.to_string()).unwrap_or_default(),
    });
    // Serialising a `Value` of strings, numbers and booleans cannot fail.
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The forms in which a module may echo the server's secrets (as given, and JSON-escaped as
/// `json.dumps`/`json_encode` print them), for redaction from anything it says.
pub fn secret_forms(params: &ServerParams) -> Vec<String> {
    let mut out = Vec::new();
    for s in [params.password.expose(), params.access_hash.expose()] {
        if s.is_empty() {
            continue;
        }
        out.push(s.to_string());
        let escaped = serde_json::to_string(s).unwrap_or_default();
        let escaped = escaped
            .strip_prefix('"')
            .and_then(|e| e.strip_suffix('"'))
            .unwrap_or("");
        if escaped != s && !escaped.is_empty() {
            out.push(escaped.to_string());
        }
    }
    out
}

/// Reads a module's answer (stdout or response body) as the wire form.
///
/// Errors: `{"success": false, "error": …}` → [`ModuleError::Remote`] with the module's own
/// message (one line, at most 300 characters, `secrets` redacted); anything that is not the
/// wire form (empty, not JSON, a bare list, `{"success": true}` without accounts) →
/// [`ModuleError::Protocol`] saying what was wrong (a non-JSON answer quoted by its first
/// 80 characters, redacted). Records that break the contract are in [`Listing::skipped`].
pub fn listing_from_wire(body: &[u8], secrets: &[&str]) -> Result<Listing, ModuleError> {
    parse_wire(body).map_err(|e| match e {
        WireError::Failure(msg) => ModuleError::Remote(shown(&msg, MESSAGE_CHARS, secrets)),
        WireError::NotJson(cause) => {
            let start = String::from_utf8_lossy(&body[..body.len().min(4 * SNIPPET_CHARS)]);
            ModuleError::Protocol(format!(
                "the answer is not JSON ({cause}); it starts with: {}",
                shown(&start, SNIPPET_CHARS, secrets)
            ))
        }
        other => ModuleError::Protocol(other.to_string()),
    })
}

impl From<WireError> for ModuleError {
    /// The mapping of [`listing_from_wire`], without redaction or quoting (for callers that
    /// know the text carries no secret).
    fn from(e: WireError) -> Self {
        match e {
            WireError::Failure(msg) => ModuleError::Remote(http::one_line(&msg, MESSAGE_CHARS, "")),
            other => ModuleError::Protocol(other.to_string()),
        }
    }
}

/// Module-supplied text made safe to show: secrets redacted, then one line of at most `max`
/// characters.
fn shown(text: &str, max: usize, secrets: &[&str]) -> String {
    http::one_line(&crate::process::redact(text, secrets), max, "")
}

#[cfg(test)]
mod tests {
    use serversync_core::model::Secret;

    use super::*;

    fn params() -> ServerParams {
        ServerParams {
            server_id: 100,
            ip: "192.0.2.10".into(),
            hostname: "web1.test".into(),
            username: "root".into(),
            password: Secret::new("pa\"ss\\word"),
            access_hash: Secret::new("HASH-1234"),
            secure: true,
            tls_verify: true,
            port: None,
        }
    }

    #[test]
    fn params_use_whmcs_names_and_types() {
        let v: serde_json::Value = serde_json::from_slice(&params_json(&params())).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"serverid": 100, "serverip": "192.0.2.10",
                "serverhostname": "web1.test", "serverusername": "root",
                "serverpassword": "pa\"ss\\word", "serveraccesshash": "HASH-1234",
                "serversecure": true, "serverhttpprefix": "https", "serverport": ""})
        );
        let mut p = params();
        p.port = Some(8443);
        p.secure = false;
        let v: serde_json::Value = serde_json::from_slice(&params_json(&p)).unwrap();
        assert_eq!(v["serverport"], "8443");
        assert_eq!(v["serversecure"], false);
        assert_eq!(v["serverhttpprefix"], "http");
    }

    #[test]
    fn secrets_are_redacted_in_every_form_a_module_prints() {
        let forms = secret_forms(&params());
        assert_eq!(forms, vec!["pa\"ss\\word", "pa\\\"ss\\\\word", "HASH-1234"]);
        let refs: Vec<&str> = forms.iter().map(String::as_str).collect();
        let e = listing_from_wire(
            br#"{"success":false,"error":"bad login root / pa\"ss\\word\nHASH-1234"}"#,
            &refs,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ModuleError::Remote("bad login root / [redacted] [redacted]".into())
        );
        let e = listing_from_wire(br#"{"params": {"serverpassword": "pa\"ss\\word"}"#, &refs)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the module's answer is not the ListAccounts wire form: the answer is not JSON \
             (EOF while parsing an object at line 1 column 45); it starts with: \
             {\"params\": {\"serverpassword\": \"[redacted]\"}"
        );
    }

    #[test]
    fn wire_errors_map_to_module_errors() {
        assert_eq!(
            listing_from_wire(br#"{"success":false,"error":"Invalid API key"}"#, &[]),
            Err(ModuleError::Remote("Invalid API key".into()))
        );
        assert_eq!(
            listing_from_wire(br#"{"success":true}"#, &[])
                .unwrap_err()
                .to_string(),
            "the module's answer is not the ListAccounts wire form: \"success\" is true but \
             \"accounts\" is missing (a server without accounts answers \"accounts\": [])"
        );
        assert_eq!(
            listing_from_wire(b"", &[]).unwrap_err().to_string(),
            "the module's answer is not the ListAccounts wire form: the answer is empty"
        );
        assert_eq!(
            ModuleError::from(WireError::Failure("a\nb".into())),
            ModuleError::Remote("a b".into())
        );
    }
}
