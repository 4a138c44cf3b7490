//! `serversync config check`: the merged configuration, one `key = value  # source` line per
//! setting, secrets redacted (the database URL's password, the SMTP password, webhook
//! secrets, and the path and query of webhook URLs, where chat services put their token).

use serde_json::Value;

use super::Loaded;
use crate::output;

/// The lines of `config check` (without the header), in key order.
pub fn lines(loaded: &Loaded) -> anyhow::Result<Vec<String>> {
    let mut value = serde_json::to_value(&loaded.config)?;
    redact(&mut value);
    let mut leaves = Vec::new();
    walk("", &value, &mut leaves);
    let width = leaves
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .max()
        .unwrap_or(0)
        + 3;
    Ok(leaves
        .into_iter()
        .map(|(key, shown)| {
            let origin = loaded.origin(&key);
            let pad = width.saturating_sub(key.len() + shown.len());
            format!(
                "{} = {shown}{:pad$}# {origin}",
                output::clean(&key),
                "",
                pad = pad
            )
        })
        .collect())
}

/// Prints the header (which file was read) and the lines.
pub fn print(loaded: &Loaded) -> anyhow::Result<()> {
    match &loaded.file {
        Some(f) => outln!(
            "# configuration file: {}",
            output::clean(&f.display().to_string())
        ),
        None => outln!(
            "# no configuration file (none given, no {} here)",
            crate::config::DEFAULT_FILE
        ),
    }
    for l in lines(loaded)? {
        outln!("{l}");
    }
    Ok(())
}

/// Secrets out of the shown value; `Secret` already serialises as `(redacted)`.
fn redact(v: &mut Value) {
    if let Some(url) = v.get_mut("database_url") {
        match url.as_str() {
            Some(u) => *url = Value::String(serversync_store::redact_url(u)),
            // No URL given: the commands' default.
            None => *url = Value::String("sqlite://serversync.db".into()),
        }
    }
    if let Some(hooks) = v
        .pointer_mut("/notify/webhooks")
        .and_then(Value::as_array_mut)
    {
        for h in hooks {
            if let Some(url) = h.get_mut("url") {
                if let Some(u) = url.as_str() {
                    *url = Value::String(origin_only(u));
                }
            }
        }
    }
}

/// `https://hooks.example/services/T0/B0/XYZ?x=1` → `https://hooks.example/…`: the scheme and
/// host, which say where alerts go, without the path that may be the credential.
fn origin_only(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(redacted)".into();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // user:password@host: keep the host only.
    let host = rest[..end].rsplit('@').next().unwrap_or("");
    if end == rest.len() || &rest[end..] == "/" {
        format!("{scheme}://{host}{}", &rest[end..])
    } else {
        format!("{scheme}://{host}/…")
    }
}

/// Leaves as (dotted key, shown value); an array or an empty table is one leaf.
fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&key, child, out);
            }
        }
        Value::Object(_) => out.push((prefix.to_string(), "{}".into())),
        Value::Null => out.push((prefix.to_string(), "(not set)".into())),
        other => out.push((
            prefix.to_string(),
            output::clean(&other.to_string()).into_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::origin_only;

    #[test]
    fn webhook_urls_keep_scheme_and_host_only() {
        assert_eq!(
            origin_only("https://hooks.example/services/T0/B0/XYZ?x=1"),
            "https://hooks.example/…"
        );
        assert_eq!(
            origin_only("https://u:pw@alerts.example/"),
            "https://alerts.example/"
        );
        assert_eq!(origin_only("http://h.example"), "http://h.example");
        assert_eq!(origin_only("no-scheme"), "(redacted)");
    }
}
