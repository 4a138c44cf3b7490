//! The HTTP side of the Virtualmin simulator (see the module docs of [`super`]).

use crate::basic_auth::{base64_decode, eq_ct};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use serde_json::Value;

use crate::handle::Shared;
use crate::Fault;

/// miniserv's answer to missing or wrong HTTP Basic credentials (with
/// `WWW-authenticate: Basic realm="Webmin Server"`).
pub const UNAUTHORIZED_BODY: &str = "<html><head><title>401 Unauthorized</title></head>\
<body><h1>Error - 401 Unauthorized</h1>\n<pre>Unauthorized</pre></body></html>\n";

/// The `error` of the `error-in-200` fault (a failed list-domains run).
pub const FAULT_ERROR: &str =
    "Failed to lock file /etc/webmin/virtual-server/domains : Resource temporarily unavailable";

/// remote.cgi's refusal of a Webmin user who may not run remote commands (plain text, the
/// output format is not known yet when it is checked).
pub const NOT_ALLOWED: &str = "ERROR: You are not allowed to run remote commands\n";

const HTTP_500_BODY: &str = "<html><head><title>500 Perl execution failed</title></head><body>\
<h1>Error - Perl execution failed</h1>\n<pre>Can't call method \"list_domains\" on an \
undefined value at virtual-server-lib.pl line 1. (panel-sim fault http-500)</pre>\
</body></html>\n";

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";

/// How long the truncated fault waits after the first half before closing.
const TRUNCATE_PAUSE: Duration = Duration::from_millis(50);

/// The credentials and rights the simulator accepts.
pub(crate) struct Auth {
    pub(crate) username: String,
    pub(crate) password: String,
    /// false: the login is a Webmin user without the right to run remote commands.
    pub(crate) master_admin: bool,
}

impl Auth {
    fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, cred)) = value.trim().split_once(char::is_whitespace) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Some(decoded) = base64_decode(cred.trim()).and_then(|d| String::from_utf8(d).ok())
        else {
            return false;
        };
        match decoded.split_once(':') {
            Some((user, pass)) => user == self.username && eq_ct(pass, &self.password),
            None => false,
        }
    }
}

pub(crate) struct AppState {
    pub(crate) auth: Auth,
    pub(crate) shared: Arc<Shared>,
    pub(crate) delay: Duration,
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/virtual-server/remote.cgi", get(get_cgi).post(post_cgi))
        .with_state(Arc::new(state))
}

async fn get_cgi(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    remote_cgi(&st, &headers, params).await
}

/// POST as WHMCS's Virtualmin module sends it: the parameters as a form body (query
/// parameters count too, as Webmin's `ReadParse` reads both).
async fn post_cgi(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(mut params): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    // A body that is not a form is read as no parameters, as ReadParse would.
    let form: Vec<(String, String)> = url_pairs(&body);
    params.extend(form);
    remote_cgi(&st, &headers, params).await
}

/// `a=1&b=&c` → pairs, `+` and `%XX` decoded (invalid escapes are kept as they are).
fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &[u8]) -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => {
                    let hex = std::str::from_utf8(&s[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut kv = p.splitn(2, |b| *b == b'=');
            let k = kv.next().unwrap_or_default();
            let v = kv.next().unwrap_or_default();
            (decode(k), decode(v))
        })
        .collect()
}

/// Parameters in request order (remote.cgi keeps every occurrence: `domain=a&domain=b`).
struct Params(Vec<(String, String)>);

impl Params {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn remote_cgi(st: &AppState, headers: &HeaderMap, params: Vec<(String, String)>) -> Response {
    st.shared.count_request();
    if !st.delay.is_zero() {
        tokio::time::sleep(st.delay).await;
    }
    let (accounts, fault, cache) = st.shared.snapshot();
    if fault == Some(Fault::BadAuth) || !st.auth.accepts(headers) {
        return unauthorized();
    }
    let params = Params(params);
    match fault {
        Some(Fault::Slow(wait)) => {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = st.shared.shutdown_requested() => {
                    return respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        TEXT,
                        Bytes::from_static(b"panel-sim is shutting down\n"),
                    );
                }
            }
        }
        Some(Fault::Http500) => {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/html; Charset=utf-8",
                Bytes::from_static(HTTP_500_BODY.as_bytes()),
            );
        }
        _ => {}
    }
    // remote.cgi: can_remote() first, before the output format is known.
    if !st.auth.master_admin {
        return respond(
            StatusCode::OK,
            TEXT,
            Bytes::from_static(NOT_ALLOWED.as_bytes()),
        );
    }
    let Some(program) = params.get("program").filter(|p| !p.is_empty()) else {
        return respond(
            StatusCode::OK,
            TEXT,
            Bytes::from_static(
                b"This CGI is designed to be invoked by other programs wanting\n\
to perform some Virtualmin action programatically, such as\n\
creating or modifying domains and users.\n\n\
You must supply at least the CGI parameter 'program', which\n\
specifies which of the Virtualmin command-line scripts to\n\
run.\n",
            ),
        );
    };
    let format = if params.has("json") {
        Some("json")
    } else if params.has("xml") {
        Some("xml")
    } else if params.has("perl") {
        Some("perl")
    } else {
        None
    };
    if !program
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return api_error(format, "Invalid remote program name");
    }
    if program != "list-domains" {
        return api_error(format, &format!("Remote program {program} does not exist"));
    }
    if let Some(f) = format.filter(|f| *f != "json") {
        let missing = if f == "xml" {
            "XML::Simple"
        } else {
            "Data::Dumper"
        };
        return respond(
            StatusCode::OK,
            TEXT,
            Bytes::from(format!(
                "Invalid format {f} : Missing {missing} Perl module\n"
            )),
        );
    }
    if fault == Some(Fault::ErrorIn200) {
        let body = command_failure(FAULT_ERROR, &format!("{FAULT_ERROR}\n"), true);
        return if format.is_some() {
            respond(StatusCode::OK, JSON, body)
        } else {
            respond(
                StatusCode::OK,
                TEXT,
                Bytes::from(format!("{FAULT_ERROR}\n\nExit status: 256\n")),
            )
        };
    }

    // Every other parameter becomes a `--name` flag (an empty value: a bare flag). The flags
    // come from the raw parameter list; remote.cgi's forcing of `multiline` with a format
    // changes only %in, i.e. how convert_remote_format reads the output, not the flags.
    let args: Vec<(String, Option<String>)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "program" && Some(k.as_str()) != format)
        .map(|(k, v)| (k.clone(), (!v.is_empty()).then(|| v.clone())))
        .collect();
    let parse_multiline = params.has("multiline") || !params.has("simple-multiline");
    let pretty = params.get("json") != Some("minified");
    let plain_default = format == Some("json")
        && pretty
        && args.iter().all(|(k, v)| k == "multiline" && v.is_none())
        && !args.is_empty();
    let fault_truncated = fault == Some(Fault::Truncated);

    let body = if plain_default {
        let accounts = Arc::clone(&accounts);
        let cache = Arc::clone(&cache);
        let built = tokio::task::spawn_blocking(move || full_listing(&accounts, &cache)).await;
        match built {
            Ok(b) => Ok(b),
            Err(e) => Err(e.to_string()),
        }
    } else {
        let accounts = Arc::clone(&accounts);
        let built = tokio::task::spawn_blocking(move || {
            list_domains(
                &accounts,
                &args,
                format.is_some().then_some(parse_multiline),
                pretty,
            )
        })
        .await;
        match built {
            Ok(b) => Ok(b),
            Err(e) => Err(e.to_string()),
        }
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                Bytes::from(format!("panel-sim: {e}\n")),
            )
        }
    };
    let ctype = if format.is_some() { JSON } else { TEXT };
    let body = match crate::transport::apply(fault, ctype, body, &st.shared) {
        Ok(hostile) => return hostile,
        Err(body) => body,
    };
    if fault_truncated {
        truncated(body, ctype)
    } else {
        respond(StatusCode::OK, ctype, body)
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("MiniServ/2.105"));
    resp
}

fn unauthorized() -> Response {
    let mut resp = respond(
        StatusCode::UNAUTHORIZED,
        "text/html; Charset=utf-8",
        Bytes::from_static(UNAUTHORIZED_BODY.as_bytes()),
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Webmin Server\""),
    );
    resp
}

/// remote.cgi's `api_error`: `{"status":"error","error":…}` (Content-type text/plain) once
/// the format is known, else `ERROR: …`.
fn api_error(format: Option<&str>, msg: &str) -> Response {
    match format {
        Some(_) => {
            #[derive(Serialize)]
            struct E<'a> {
                status: &'a str,
                error: &'a str,
            }
            respond(
                StatusCode::OK,
                TEXT,
                perl_json(
                    &E {
                        status: "error",
                        error: msg,
                    },
                    true,
                ),
            )
        }
        None => respond(StatusCode::OK, TEXT, Bytes::from(format!("ERROR: {msg}\n"))),
    }
}

/// HTTP 200 announcing the full length, sending the first half, then ending the connection.
fn truncated(full: Bytes, content_type: &'static str) -> Response {
    let half = full.slice(..(full.len() / 2).max(1).min(full.len()));
    let first = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(half) });
    let cut = futures::stream::once(async {
        tokio::time::sleep(TRUNCATE_PAUSE).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "panel-sim fault: truncated",
        ))
    });
    let mut resp = Response::new(Body::from_stream(futures::StreamExt::chain(first, cut)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    resp
}

// ---------------------------------------------------------------------------------------
// list-domains.pl

/// The answer to the default request (`multiline`, pretty JSON, no filter), built once.
fn full_listing(accounts: &[Value], cache: &OnceLock<Bytes>) -> Bytes {
    cache
        .get_or_init(|| {
            let items: Vec<&Value> = accounts.iter().collect();
            success(&Data::Objects(&items), true)
        })
        .clone()
}

/// What list-domains prints: the domain objects, or just names / IDs.
enum Data<'a> {
    Objects(&'a [&'a Value]),
    Parsed(Vec<Value>),
    Lines(Vec<String>),
    Output(String),
}

impl Serialize for Data<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Data::Objects(items) => s.collect_seq(items.iter()),
            Data::Parsed(items) => s.collect_seq(items.iter()),
            Data::Lines(lines) => s.collect_seq(lines.iter()),
            Data::Output(o) => s.serialize_str(o),
        }
    }
}

/// `{"status":"success","data":…,"command":"list-domains"}` — the key order of a captured
/// answer (status first, command last).
fn success(data: &Data<'_>, pretty: bool) -> Bytes {
    #[derive(Serialize)]
    struct Ok<'a> {
        status: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a Data<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<&'a Data<'a>>,
        command: &'a str,
    }
    let (data, output) = match data {
        Data::Output(_) => (None, Some(data)),
        _ => (Some(data), None),
    };
    perl_json(
        &Ok {
            status: "success",
            data,
            output,
            command: "list-domains",
        },
        pretty,
    )
}

/// `{"command","status":"failure","error": first non-blank line,"full_error": output}`.
fn command_failure(error: &str, full: &str, pretty: bool) -> Bytes {
    #[derive(Serialize)]
    struct F<'a> {
        status: &'a str,
        error: &'a str,
        full_error: &'a str,
        command: &'a str,
    }
    perl_json(
        &F {
            status: "failure",
            error,
            full_error: full,
            command: "list-domains",
        },
        pretty,
    )
}

fn first_value<'a>(d: &'a Value, key: &str) -> Option<&'a str> {
    d.get("values")?.get(key)?.get(0)?.as_str()
}

fn type_of(d: &Value) -> &str {
    first_value(d, "type").unwrap_or("")
}

/// Runs list-domains with `args` over `accounts`; a usage error is a failed command.
/// `json` is `None` for text output, else whether convert_remote_format parses the output
/// as multiline (`multiline` in %in, which remote.cgi forces unless `simple-multiline`).
fn list_domains(
    accounts: &[Value],
    args: &[(String, Option<String>)],
    json: Option<bool>,
    pretty: bool,
) -> Bytes {
    let (items, mode) = match select(accounts, args) {
        Ok(r) => r,
        Err(usage) => {
            let full = format!("{usage}\n\nlist-domains.pl [--multiline | --name-only]\n");
            return match json {
                Some(_) => command_failure(&usage, &full, pretty),
                None => Bytes::from(format!("{full}\nExit status: 256\n")),
            };
        }
    };
    let names = |f: &dyn Fn(&Value) -> String| items.iter().map(|d| f(d)).collect::<Vec<_>>();
    let lines = match mode {
        Mode::NameOnly => Some(names(&|d| {
            d.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })),
        Mode::IdOnly => Some(names(&|d| first_value(d, "id").unwrap_or("").to_string())),
        _ => None,
    };
    let text = || match (&lines, mode) {
        (Some(l), _) => l.iter().map(|x| format!("{x}\n")).collect::<String>(),
        (None, Mode::Table) => table_text(&items),
        (None, _) => multiline_text(&items),
    };
    match json {
        None => Bytes::from(format!("{}\nExit status: 0\n", text())),
        // The real --multiline output parses back into the served objects.
        Some(true) if mode == Mode::Multiline => success(&Data::Objects(&items), pretty),
        // Any other output read as if it were multiline: each unindented line an object.
        Some(true) => success(&Data::Parsed(parse_as_multiline(&text())), pretty),
        Some(false) => match lines {
            Some(l) => success(&Data::Lines(l), pretty),
            None => success(&Data::Output(text()), pretty),
        },
    }
}

/// json-lib.pl's parse of multiline output: an unindented line starts an object (or, before
/// the first object, `Key: value` gives `{"name","value"}`); an indented `Label: value` line
/// appends `value` to `lc(label)` with white space as `_`.
fn parse_as_multiline(out: &str) -> Vec<Value> {
    let mut data: Vec<Value> = Vec::new();
    let mut in_obj = false;
    for l in out.lines() {
        let indented = l.starts_with(char::is_whitespace);
        let trimmed = l.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let key_value = trimmed
            .split_once(':')
            .filter(|(k, _)| k.chars().count() >= 2 && !k.starts_with(char::is_whitespace));
        if !indented {
            match key_value {
                Some((k, v)) if !in_obj => {
                    data.push(serde_json::json!({"name": k, "value": v.trim_start()}));
                }
                _ => {
                    in_obj = true;
                    data.push(serde_json::json!({"name": l, "values": {}}));
                }
            }
        } else if let (Some((k, v)), Some(obj)) = (
            key_value,
            data.last_mut()
                .filter(|_| in_obj)
                .and_then(|o| o.get_mut("values"))
                .and_then(Value::as_object_mut),
        ) {
            let key = k.to_lowercase().replace(char::is_whitespace, "_");
            if let Some(list) = obj
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
            {
                list.push(Value::String(v.trim_start().to_string()));
            }
        }
    }
    data
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Table,
    Multiline,
    SimpleMultiline,
    NameOnly,
    IdOnly,
}

/// The flags list-domains.pl takes that the simulator honours; anything else is its
/// `Unknown parameter` usage error.
fn select<'a>(
    accounts: &'a [Value],
    args: &[(String, Option<String>)],
) -> Result<(Vec<&'a Value>, Mode), String> {
    let mut mode = Mode::Table;
    let mut domains: Vec<&str> = Vec::new();
    let mut users: Vec<&str> = Vec::new();
    let (mut toplevel, mut subserver, mut alias, mut no_alias) = (false, false, false, false);
    let mut disabled: Option<bool> = None;
    for (k, v) in args {
        let needs = |v: &Option<String>| -> Result<(), String> {
            match v {
                Some(_) => Ok(()),
                None => Err(format!("Missing value for --{k}")),
            }
        };
        match k.as_str() {
            // list-domains.pl: `if ($multiline) … elsif ($nameonly) …`.
            "multiline" => mode = Mode::Multiline,
            "simple-multiline" if mode != Mode::Multiline => mode = Mode::SimpleMultiline,
            "simple-multiline" => {}
            "name-only" | "id-only" if matches!(mode, Mode::Multiline | Mode::SimpleMultiline) => {}
            "name-only" => mode = Mode::NameOnly,
            "id-only" => mode = Mode::IdOnly,
            "toplevel" => toplevel = true,
            "subserver" => subserver = true,
            "alias" => alias = true,
            "no-alias" => no_alias = true,
            "enabled" => disabled = Some(false),
            "disabled" => disabled = Some(true),
            "domain" => {
                needs(v)?;
                domains.extend(v.as_deref());
            }
            "user" => {
                needs(v)?;
                users.extend(v.as_deref());
            }
            other => return Err(format!("Unknown parameter --{other}")),
        }
    }
    for d in &domains {
        if !accounts
            .iter()
            .any(|a| a.get("name").and_then(Value::as_str) == Some(d))
        {
            return Err(format!("Virtual server {d} does not exist"));
        }
    }
    let items = accounts
        .iter()
        .filter(|a| {
            let t = type_of(a);
            let name = a.get("name").and_then(Value::as_str).unwrap_or("");
            let user = first_value(a, "username").unwrap_or("");
            let is_alias = t.starts_with("Alias");
            let has_parent = t == "Sub-server" || is_alias;
            (domains.is_empty() || domains.contains(&name))
                && (users.is_empty() || users.contains(&user))
                && (!toplevel || !has_parent)
                && (!subserver || t == "Sub-server")
                && (!alias || is_alias)
                && (!no_alias || !is_alias)
                && disabled.is_none_or(|want| {
                    a.get("values").and_then(|v| v.get("disabled")).is_some() == want
                })
        })
        .collect();
    Ok((items, mode))
}

/// The `--multiline` text: the name, then `    Label: value` lines.
fn multiline_text(items: &[&Value]) -> String {
    let mut out = String::new();
    for d in items {
        out.push_str(d.get("name").and_then(Value::as_str).unwrap_or(""));
        out.push('\n');
        if let Some(vals) = d.get("values").and_then(Value::as_object) {
            for (k, v) in vals {
                let list: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                for x in list {
                    let text = match x {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.push_str("    ");
                    out.push_str(&label_of(k));
                    out.push_str(": ");
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// The default reader-friendly table (name, username, description).
fn table_text(items: &[&Value]) -> String {
    let mut out = format!(
        "{:<30} {:<15} {}\n{} {} {}\n",
        "Domain",
        "Username",
        "Description",
        "-".repeat(30),
        "-".repeat(15),
        "-".repeat(30)
    );
    for d in items {
        out.push_str(&format!(
            "{:<30} {:<15} {}\n",
            d.get("name").and_then(Value::as_str).unwrap_or(""),
            first_value(d, "username").unwrap_or(""),
            first_value(d, "description").unwrap_or("")
        ));
    }
    out
}

/// The list-domains label a JSON key came from (json-lib.pl lower-cases the label and turns
/// white space into `_`).
fn label_of(key: &str) -> String {
    match key {
        "id" => "ID".into(),
        "url" => "URL".into(),
        "ip_address" => "IP address".into(),
        "ipv6_address" => "IPv6 address".into(),
        "external_ip_address" => "External IP address".into(),
        "plan_id" => "Plan ID".into(),
        "template_id" => "Template ID".into(),
        "user_id" => "User ID".into(),
        "group_id" => "Group ID".into(),
        "created_unix_time" => "Created Unix time".into(),
        other => {
            let spaced = other.replace('_', " ");
            let mut c = spaced.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON::PP->new->pretty: 3-space indent, `"key" : value`.

/// serde_json's pretty printer with JSON::PP's separators (`space_before` and `space_after`:
/// `" : "`), as remote.cgi's `create_json_format` prints; compact when `pretty` is false
/// (`json=minified`). A trailing newline follows either way.
fn perl_json<T: Serialize>(v: &T, pretty: bool) -> Bytes {
    let mut out = Vec::new();
    let ok = if pretty {
        let mut ser = serde_json::Serializer::with_formatter(&mut out, PerlPretty::new());
        v.serialize(&mut ser).is_ok()
    } else {
        serde_json::to_writer(&mut out, v).is_ok()
    };
    if !ok {
        // Serialising strings, arrays and serde_json values cannot fail.
        out.clear();
    }
    out.push(b'\n');
    Bytes::from(out)
}

struct PerlPretty<'a>(serde_json::ser::PrettyFormatter<'a>);

impl PerlPretty<'_> {
    fn new() -> Self {
        PerlPretty(serde_json::ser::PrettyFormatter::with_indent(b"   "))
    }
}

impl serde_json::ser::Formatter for PerlPretty<'_> {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b" : ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_pretty_separators() {
        let v = serde_json::json!({"status": "success", "data": [{"name": "a.test", "values": {"x": ["1"]}}]});
        let text = String::from_utf8(perl_json(&v, true).to_vec()).unwrap();
        assert!(text.contains("\"status\" : \"success\""), "{text}");
        assert!(text.contains("\n   \"data\" : [\n      {"), "{text}");
        assert!(text.ends_with("}\n"));
        let compact = String::from_utf8(perl_json(&v, false).to_vec()).unwrap();
        assert!(!compact.contains(' '), "{compact}");
    }

    #[test]
    fn form_pairs_and_base64() {
        assert_eq!(
            url_pairs(b"program=list-domains&multiline=&json=1&x&d=a%2Eb+c"),
            vec![
                ("program".to_string(), "list-domains".to_string()),
                ("multiline".into(), "".into()),
                ("json".into(), "1".into()),
                ("x".into(), "".into()),
                ("d".into(), "a.b c".into()),
            ]
        );
        assert_eq!(
            url_pairs(b"a=%zz&b=%4"),
            vec![("a".into(), "%zz".into()), ("b".into(), "%4".into())]
        );
        assert_eq!(
            base64_decode("cm9vdDpzZWNyZXQ=").as_deref(),
            Some(&b"root:secret"[..])
        );
        assert_eq!(base64_decode("!!"), None);
    }

    #[test]
    fn labels_round_trip_the_json_keys() {
        for (k, l) in [
            ("ip_address", "IP address"),
            ("created_unix_time", "Created Unix time"),
            ("contact_email", "Contact email"),
            ("parent_domain", "Parent domain"),
        ] {
            assert_eq!(label_of(k), l);
            assert_eq!(l.to_lowercase().replace(' ', "_"), k);
        }
    }
}
