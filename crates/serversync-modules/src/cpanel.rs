//! The cPanel & WHM module: lists accounts with WHM API 1 `listaccts`.
//!
//! Request (WHM API 1 `listaccts` and "Paginate Output" documentation):
//!
//! ```text
//! GET {scheme}://{host}:{port}/json-api/listaccts?api.version=1&want=user,domain,…
//!     &api.chunk.enable=1&api.chunk.verbose=1&api.chunk.size=N&api.chunk.start=K
//! Authorization: whm USER:TOKEN
//! ```
//!
//! `api.chunk.start` is the 1-indexed number of the first record of the page. Response:
//!
//! ```json
//! {"metadata": {"command": "listaccts", "result": 1, "reason": "OK", "version": 1,
//!               "chunk": {"start": 1, "size": 5000, "records": 12345, "chunks": 3, "current": 1}},
//!  "data": {"acct": [{"user": "ann", "domain": "ann.test", "owner": "root", "plan": "basic",
//!                     "email": "ann@mail.test", "ip": "192.0.2.10", "suspended": 0,
//!                     "suspendreason": "not suspended", "unix_startdate": 1529997060,
//!                     "startdate": "18 Jun 26 07:11"}]}}
//! ```
//!
//! `metadata.chunk.records` is the total number of records; the other chunk fields are
//! informational. (That shape is what cPanel's own JavaScript client, `cjt/io/whm-v1`, reads:
//! `records`, `start`, `chunks`, `current`, `size`.) A response without `metadata.chunk` on
//! the first page means the server ignored chunking: that one response is the whole list.
//!
//! HTTP 200 does not mean success: `metadata.result` 0 is a failure with `metadata.reason`.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serversync_core::module::{
    check_field_len, normalize_email, Listing, MetaData, RemoteAccount, RemoteStatus, ServerParams,
    SkippedRecord, UniqueIdField,
};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::http::{self, HttpClients};
use crate::lenient::Scalar;
use crate::{ListingProgress, Module, ModuleError, ModuleOptions, Shared, MAX_ACCOUNTS};

/// The keys requested with `want=` (payload kept small; `ipv6` is requested for future use).
const WANT: &str =
    "user,domain,owner,plan,email,ip,ipv6,suspended,suspendreason,unix_startdate,startdate";

/// How much of a skipped record's user or domain names it.
const IDENTIFIER_CHARS: usize = 60;

/// How much of a panel message or error body is shown.
const SNIPPET_CHARS: usize = 200;

/// The cPanel/WHM module (`cpanel`).
///
/// Meta data: display name `cPanel`; unique identifier `domain` (heading `Domain`); product
/// field `configoption1`; default ports 2087 (TLS) and 2086 (plain).
///
/// Authenticates with a WHM API token: `Authorization: whm <username>:<access hash>`; the
/// server's access hash holds the token, its username the WHM user (`root` or a reseller).
/// A reseller token sees only its own accounts; everything the login sees is listed (no
/// owner filtering; `owner` is kept on each account).
pub struct CpanelModule {
    meta: MetaData,
    opts: ModuleOptions,
    clients: Arc<HttpClients>,
}

impl CpanelModule {
    /// The module on the process's shared settings and HTTP clients.
    pub fn new(shared: &Shared) -> Self {
        CpanelModule {
            meta: Self::meta_data(),
            opts: shared.opts.clone(),
            clients: shared.http.clone(),
        }
    }

    /// The cPanel meta data.
    pub fn meta_data() -> MetaData {
        MetaData {
            display_name: "cPanel".into(),
            unique_identifier_display_name: "Domain".into(),
            unique_identifier_field: UniqueIdField::Domain,
            product_field: "configoption1".into(),
            default_secure_port: 2087,
            default_plain_port: 2086,
        }
    }
}

/// What one listing needs for each request.
struct Ctx<'a> {
    client: &'a reqwest::Client,
    base: String,
    target: String,
    auth: reqwest::header::HeaderValue,
    /// The token, only to redact it from panel-supplied text.
    token: &'a str,
}

/// One parsed page.
struct Page {
    /// `metadata.chunk.records`, when the response has chunk metadata.
    total: Option<u64>,
    records: PageRecords,
}

#[async_trait::async_trait]
impl Module for CpanelModule {
    fn name(&self) -> &str {
        "cpanel"
    }

    fn meta(&self) -> &MetaData {
        &self.meta
    }

    /// Lists with WHM API 1 `listaccts`, chunked: page 1 gives the total
    /// (`metadata.chunk.records`), the remaining pages are fetched with at most
    /// `max_concurrency` in flight and assembled in order. Any failed page fails the listing.
    ///
    /// Errors: [`ModuleError::Config`] without an access hash (API token);
    /// [`ModuleError::AuthRefused`] on 401/403; [`ModuleError::Http`] on other HTTP errors;
    /// [`ModuleError::Remote`] when `metadata.result` is 0; [`ModuleError::Malformed`] for
    /// invalid or truncated JSON; [`ModuleError::Incomplete`] when the pages do not add up;
    /// [`ModuleError::Connect`], [`ModuleError::Timeout`], [`ModuleError::Transport`] for
    /// network failures.
    async fn list_accounts(
        &self,
        params: &ServerParams,
        progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError> {
        let ctx = self.context(params)?;
        let size = self.opts.chunk_size.max(1) as u64;
        let first = self.fetch_page(&ctx, 1, size).await?;

        let Some(total) = first.total else {
            // No chunk metadata: the server ignored chunking and sent everything at once.
            tracing::debug!(target = %ctx.target, "listaccts answered without chunk metadata");
            let n = first.records.len() as u64;
            progress.total(n);
            progress.advanced(n);
            let mut listing = Listing::default();
            convert_page(first.records, 0, &mut listing);
            check_duplicates(&listing)?;
            return Ok(listing);
        };

        check_total(total, size, &self.opts, &ctx.target)?;
        progress.total(total);
        check_page_len(1, size, total, first.records.len())?;
        let mut received = first.records.len() as u64;
        progress.advanced(received);

        // Sized by what arrived, never by the panel's claimed total.
        let mut listing = Listing::default();
        convert_page(first.records, 0, &mut listing);

        // At most MAX_PAGES entries: `check_total` refused any larger total.
        let starts: Vec<u64> = (1..total.div_ceil(size)).map(|p| 1 + p * size).collect();
        let mut pages: Vec<Option<PageRecords>> = Vec::with_capacity(starts.len());
        pages.resize_with(starts.len(), || None);
        let ctx = &ctx;
        let mut in_flight = futures::stream::iter(starts.iter().copied().enumerate())
            .map(|(i, start)| async move { (i, start, self.fetch_page(ctx, start, size).await) })
            .buffer_unordered(self.opts.max_concurrency.max(1));
        while let Some((i, start, page)) = in_flight.next().await {
            // Returning here drops the other in-flight requests: one failed page fails all.
            let page = page?;
            match page.total {
                Some(t) if t == total => {}
                Some(t) => {
                    return Err(ModuleError::Incomplete(format!(
                        "the account total changed from {total} to {t} while paging \
                         (page starting at record {start})"
                    )))
                }
                None => {
                    return Err(ModuleError::Incomplete(format!(
                        "the page starting at record {start} has no chunk metadata"
                    )))
                }
            }
            check_page_len(start, size, total, page.records.len())?;
            received += page.records.len() as u64;
            progress.advanced(received);
            pages[i] = Some(page.records);
        }
        drop(in_flight);

        listing
            .accounts
            .reserve(pages.iter().flatten().map(|p| p.accounts.len()).sum());
        for (start, page) in starts.iter().zip(pages) {
            let Some(records) = page else {
                return Err(ModuleError::Incomplete(format!(
                    "the page starting at record {start} was not received"
                )));
            };
            convert_page(records, (*start - 1) as usize, &mut listing);
        }
        check_duplicates(&listing)?;
        Ok(listing)
    }
}

impl CpanelModule {
    fn context<'a>(&'a self, params: &'a ServerParams) -> Result<Ctx<'a>, ModuleError> {
        let token = params.access_hash.expose().trim();
        if token.is_empty() {
            return Err(ModuleError::Config(
                "no access hash set: the cPanel module authenticates with a WHM API token \
                 in the server's access hash"
                    .into(),
            ));
        }
        let user = params.username.trim();
        if user.is_empty() {
            return Err(ModuleError::Config(
                "no username set: the WHM API token belongs to a WHM user (e.g. root)".into(),
            ));
        }
        if params.host().is_empty() {
            return Err(ModuleError::Config("no hostname or IP address set".into()));
        }
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("whm {user}:{token}"))
            .map_err(|_| {
                ModuleError::Config(
                    "the username or access hash contains characters not allowed in an \
                     HTTP header"
                        .into(),
                )
            })?;
        auth.set_sensitive(true);
        let base = params.base_url(&self.meta);
        Ok(Ctx {
            client: self.clients.get(params.tls_verify)?,
            target: http::target_of(&base),
            base,
            auth,
            token,
        })
    }

    /// Fetches and parses the page starting at 1-indexed record `start`.
    async fn fetch_page(&self, ctx: &Ctx<'_>, start: u64, size: u64) -> Result<Page, ModuleError> {
        let url = format!(
            "{}/json-api/listaccts?api.version=1&want={WANT}&api.chunk.enable=1\
             &api.chunk.verbose=1&api.chunk.size={size}&api.chunk.start={start}",
            ctx.base
        );
        tracing::debug!(target = %ctx.target, start, size, "listaccts page");
        let limit = self.opts.request_timeout();
        let fetched = tokio::time::timeout(limit, async {
            let resp = http::answered(
                ctx.client
                    .get(&url)
                    .header(reqwest::header::AUTHORIZATION, ctx.auth.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .send(),
                &ctx.target,
                &self.opts,
            )
            .await?;
            let status = resp.status();
            let body = http::read_body(resp, &self.opts, &ctx.target).await?;
            Ok::<_, ModuleError>((status, body))
        })
        .await;
        let (status, body) = match fetched {
            Ok(r) => r?,
            Err(_) => return Err(http::total_timeout(&ctx.target, limit)),
        };
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ModuleError::AuthRefused {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            let snippet = http::one_line(&String::from_utf8_lossy(&body), SNIPPET_CHARS, ctx.token);
            return Err(ModuleError::Http {
                status: status.as_u16(),
                snippet: if snippet.is_empty() {
                    "(empty body)".into()
                } else {
                    snippet
                },
            });
        }
        // A page after the first must hold at most `size` records (the first may be the
        // whole list when the server ignores chunking): more is refused while parsing, so a
        // body of tiny records cannot make millions of parsed slots.
        let max_records = if start == 1 {
            (self.opts.max_listing_bytes / MIN_RECORD_BYTES).min(MAX_ACCOUNTS)
        } else {
            size
        };
        parse_page_limited(
            &body,
            ctx.token,
            usize::try_from(max_records).unwrap_or(usize::MAX),
        )
    }
}

/// [`parse_page_limited`] without a record limit (tests).
#[cfg(test)]
fn parse_page(body: &[u8], token: &str) -> Result<Page, ModuleError> {
    parse_page_limited(body, token, usize::MAX)
}

/// Parses one `listaccts` response body (HTTP status already checked) whose `data.acct`
/// may hold at most `max_records` records.
fn parse_page_limited(body: &[u8], token: &str, max_records: usize) -> Result<Page, ModuleError> {
    let (total, records) = parse_envelope(body, token, max_records)?;
    Ok(Page { total, records })
}

/// [`parse_page_limited`] with the records read into `L`: `metadata.chunk.records` (when the
/// response has chunk metadata) and the records; `Err` for an envelope that is not WHM API
/// 1's, a failed call (`metadata.result` 0, with its reason) or more than `max_records`
/// records.
fn parse_envelope<L>(
    body: &[u8],
    token: &str,
    max_records: usize,
) -> Result<(Option<u64>, L), ModuleError>
where
    L: for<'de> raw::Records<'de>,
{
    // The documented envelope is an object; serde would also read a struct from a JSON list
    // (by position), so anything else is refused here, by its first byte.
    match body.trim_ascii_start().first() {
        Some(b'{') => {}
        Some(b'[') => {
            return Err(ModuleError::Malformed(
                "the response is a JSON list, not the WHM API 1 envelope \
                 {\"metadata\": …, \"data\": {\"acct\": […]}}"
                    .into(),
            ))
        }
        None => return Err(ModuleError::Malformed("the response body is empty".into())),
        Some(_) => {}
    }
    let previous = MAX_RECORDS.with(|m| m.replace(max_records));
    // UTF-8 is checked once for the whole body, so strings are not checked one by one and
    // those without escapes are borrowed; a body that is not UTF-8 throughout (which may
    // still be valid where it matters: in a value that is skipped) takes serde's own path,
    // with its own errors.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str::<Envelope<L>>(text),
        Err(_) => serde_json::from_slice::<Envelope<L>>(body),
    };
    MAX_RECORDS.with(|m| m.set(previous));
    let env: Envelope<L> = parsed.map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Eof => ModuleError::Malformed(format!(
                "the response body is truncated (JSON ends early at line {} column {})",
                e.line(),
                e.column()
            )),
            Category::Syntax | Category::Io => ModuleError::Malformed(format!(
                "the response is not valid JSON ({}); it starts with: {}",
                http::one_line(&e.to_string(), SNIPPET_CHARS, token),
                http::one_line(
                    &String::from_utf8_lossy(&body[..body.len().min(400)]),
                    80,
                    token
                )
            )),
            // serde quotes the unexpected value, which the panel chose: cut it.
            Category::Data => ModuleError::Malformed(format!(
                "the response does not have the WHM API 1 shape: {}",
                http::one_line(&e.to_string(), SNIPPET_CHARS, token)
            )),
        }
    })?;
    let Some(meta) = env.metadata else {
        return Err(ModuleError::Malformed(
            "metadata is missing: not a WHM API 1 response (is api.version=1 honoured?)".into(),
        ));
    };
    match meta.result.as_u64() {
        Some(1) => {}
        Some(0) => {
            let reason = match meta.reason.into_text() {
                Ok(Some(r)) if !r.trim().is_empty() => http::one_line(&r, SNIPPET_CHARS, token),
                _ => "no reason given".into(),
            };
            return Err(ModuleError::Remote(reason));
        }
        _ => {
            return Err(ModuleError::Malformed(format!(
                "metadata.result is {}, expected 1 or 0",
                meta.result.describe()
            )))
        }
    }
    let total = match meta.chunk {
        None => None,
        Some(chunk) => match chunk.records.as_u64() {
            Some(n) => Some(n),
            None => {
                return Err(ModuleError::Malformed(format!(
                    "metadata.chunk.records is {}, expected a record count",
                    chunk.records.describe()
                )))
            }
        },
    };
    let records = match env.data {
        Some(DataSlot::Object(Some(AcctList::List(v)))) => v,
        Some(DataSlot::Object(Some(AcctList::Other(kind)))) => {
            return Err(ModuleError::Malformed(format!(
                "data.acct is {kind}, expected a list"
            )))
        }
        Some(DataSlot::Object(None)) => {
            return Err(ModuleError::Malformed("data.acct is missing".into()))
        }
        Some(DataSlot::Other(kind)) => {
            return Err(ModuleError::Malformed(format!(
                "data is {kind}, expected an object"
            )))
        }
        None => return Err(ModuleError::Malformed("data is missing".into())),
    };
    Ok((total, records))
}

/// Fewest bytes one `listaccts` record takes with the keys we require
/// (`{"user":"a","domain":"","suspended":0},` is 39): a total that could not fit in the
/// listing's byte budget at this size is a lie, refused before anything is sized by it.
const MIN_RECORD_BYTES: u64 = 32;

/// Most pages one listing asks for (100,000 accounts are 20 pages at the default size).
const MAX_PAGES: u64 = 100_000;

/// The panel's announced total (`metadata.chunk.records`) must be possible: its records must
/// fit in [`ModuleOptions::max_listing_bytes`], they must be at most [`MAX_ACCOUNTS`], and
/// their pages number at most [`MAX_PAGES`].
/// Otherwise the listing fails before the total sizes anything (the list of page starts).
fn check_total(
    total: u64,
    size: u64,
    opts: &ModuleOptions,
    target: &str,
) -> Result<(), ModuleError> {
    if total.saturating_mul(MIN_RECORD_BYTES) > opts.max_listing_bytes {
        return Err(ModuleError::TooLarge {
            what: format!(
                "the listing of {total} accounts announced by {target} (metadata.chunk.records)"
            ),
            limit: opts.max_listing_bytes,
        });
    }
    if total > MAX_ACCOUNTS {
        return Err(ModuleError::Malformed(format!(
            "{target} announced {total} accounts (metadata.chunk.records), more than the \
             {MAX_ACCOUNTS} one listing may hold"
        )));
    }
    let pages = total.div_ceil(size);
    if pages > MAX_PAGES {
        return Err(ModuleError::Incomplete(format!(
            "{target} announced {total} accounts, {pages} pages of {size}; at most \
             {MAX_PAGES} pages are asked for (raise the page size)"
        )));
    }
    Ok(())
}

/// A page must hold exactly `min(size, total - (start - 1))` records.
fn check_page_len(start: u64, size: u64, total: u64, got: usize) -> Result<(), ModuleError> {
    let expected = size.min(total.saturating_sub(start - 1));
    if got as u64 != expected {
        return Err(ModuleError::Incomplete(format!(
            "the page starting at record {start} has {got} accounts, expected {expected} \
             (page size {size}, {total} accounts announced)"
        )));
    }
    Ok(())
}

/// The same user twice means the list shifted between pages (or the panel is inconsistent).
fn check_duplicates(listing: &Listing) -> Result<(), ModuleError> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(listing.accounts.len());
    for (i, a) in listing.accounts.iter().enumerate() {
        if let Some(first) = seen.insert(a.username.as_str(), i) {
            return Err(ModuleError::Incomplete(format!(
                "user {:?} is listed twice (accounts {} and {}); the account list changed \
                 while it was read",
                a.username,
                first + 1,
                i + 1
            )));
        }
    }
    Ok(())
}

/// Appends the converted records of a page whose first record has 0-based position `offset`.
fn convert_page(records: PageRecords, offset: usize, listing: &mut Listing) {
    let PageRecords {
        mut accounts,
        skipped,
        ..
    } = records;
    if listing.accounts.is_empty() && listing.accounts.capacity() < accounts.len() {
        listing.accounts = accounts;
    } else {
        listing.accounts.append(&mut accounts);
    }
    listing
        .skipped
        .extend(skipped.into_iter().map(|s| SkippedRecord {
            index: offset + s.index,
            ..s
        }));
}

/// Converts one record of a page as it is read: an account, or a skipped record at the
/// record's position in the page.
fn convert_record(slot: Slot<'_>, page: &mut PageRecords) {
    let index = page.len();
    match slot {
        Slot::Other(kind) => page.skipped.push(SkippedRecord {
            index,
            identifier: None,
            reason: format!("record is {kind}, not an account object"),
        }),
        Slot::Record(raw) => match convert_account(&raw) {
            Ok(acc) => page.accounts.push(acc),
            Err(reason) => page.skipped.push(SkippedRecord {
                index,
                identifier: raw.identifier(),
                reason,
            }),
        },
    }
}

/// A required text field: trimmed, non-empty, else the reason (`user is missing`, `user is
/// empty`, `user is a list, not a string`), as [`crate::lenient::required`].
fn required(v: &Field<'_>, name: &str) -> Result<String, String> {
    crate::lenient::required_text(v.text_named(name)?.as_deref(), name)
}

/// One `listaccts` record → a remote account, or the reason it breaks the contract.
fn convert_account(raw: &RawAccount<'_>) -> Result<RemoteAccount, String> {
    let username = required(&raw.user, "user")?;
    // An empty domain is still an account on the server: it is passed on (the analysis makes
    // it a `conflict`, "no usable domain") rather than skipped, which would make the whole
    // listing incomplete. A missing `domain` key breaks the documented shape and is skipped.
    let domain = match raw.domain.text_named("domain")? {
        Some(d) => d.trim().to_string(),
        None => return Err("domain is missing".into()),
    };
    let owner = raw
        .owner
        .text_named("owner")?
        .filter(|o| !o.is_empty())
        .map(String::from);
    let product = raw
        .plan
        .text_named("plan")?
        .map(String::from)
        .unwrap_or_default();
    let email = match raw.email.text_named("email")? {
        Some(e) => {
            // Checked before normalising: an over-long address must skip the record, not be
            // dropped as implausible while the account is imported without it.
            check_field_len("email", e.trim())?;
            normalize_email(&e)
        }
        None => None,
    };
    let primary_ip = raw
        .ip
        .text_named("ip")?
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let status = match &raw.suspended {
        Field::Other(Scalar::Int(0) | Scalar::UInt(0)) => RemoteStatus::Active,
        Field::Other(Scalar::Int(1) | Scalar::UInt(1)) => RemoteStatus::Suspended,
        Field::Str(s) if s.trim() == "0" => RemoteStatus::Active,
        Field::Str(s) if s.trim() == "1" => RemoteStatus::Suspended,
        Field::Other(Scalar::Missing | Scalar::Null) => return Err("suspended is missing".into()),
        other => {
            return Err(format!(
                "suspended value {} is not 0 or 1",
                other.describe()
            ))
        }
    };
    let reason = raw.suspendreason.text_named("suspendreason")?;
    let status_detail = match status {
        RemoteStatus::Suspended => reason.filter(|r| !r.trim().is_empty()).map(String::from),
        RemoteStatus::Active => None,
    };
    let created = created(&raw.unix_startdate, &raw.startdate)?;
    Ok(RemoteAccount {
        email,
        unique_identifier: domain.clone(),
        username,
        domain,
        product,
        primary_ip,
        created,
        status,
        owner,
        status_detail,
        notes: Vec::new(),
    })
}

/// The creation time, from `unix_startdate` (epoch seconds, UTC; integer or numeric string).
///
/// `0`, `null` and `""` mean "not known" → `None` (never "today"). Only when
/// `unix_startdate` is absent altogether is `startdate` used as a fallback: `YY Mon DD HH:MM`
/// with the two-digit year first (`"18 Jun 26 15:11"` = 2018-06-26 15:11), in the server's
/// local time (the panel does not say which zone), years `70`–`99` read as 19xx.
fn created(unix: &Field<'_>, startdate: &Field<'_>) -> Result<Option<PrimitiveDateTime>, String> {
    let secs: i64 = match unix {
        Field::Other(Scalar::Missing) => return parse_startdate(startdate),
        Field::Other(Scalar::Null) => return Ok(None),
        Field::Other(Scalar::Int(n)) => *n,
        Field::Other(Scalar::UInt(n)) => {
            i64::try_from(*n).map_err(|_| format!("unix_startdate {n} is out of range"))?
        }
        Field::Str(s) if s.trim().is_empty() => return Ok(None),
        Field::Str(s) => s.trim().parse::<i64>().map_err(|_| {
            format!(
                "unix_startdate {} is not a time in epoch seconds",
                unix.describe()
            )
        })?,
        other => {
            return Err(format!(
                "unix_startdate {} is not a time in epoch seconds",
                other.describe()
            ))
        }
    };
    from_epoch(secs)
}

/// `unix_startdate` in epoch seconds as a UTC time: `0` is "not known" (`None`); before 1970
/// or past `time`'s range is an error naming the value.
fn from_epoch(secs: i64) -> Result<Option<PrimitiveDateTime>, String> {
    if secs == 0 {
        return Ok(None);
    }
    if secs < 0 {
        return Err(format!("unix_startdate {secs} is before 1970"));
    }
    let t = OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| format!("unix_startdate {secs} is out of range"))?;
    Ok(Some(PrimitiveDateTime::new(t.date(), t.time())))
}

/// Parses cPanel's `startdate` (`YY Mon DD HH:MM`), see [`created`].
fn parse_startdate(v: &Field<'_>) -> Result<Option<PrimitiveDateTime>, String> {
    match v.text_named("startdate")? {
        None => Ok(None),
        Some(s) => startdate_text(&s),
    }
}

/// The text of `startdate` (`YY Mon DD HH:MM`, see [`created`]); blank is "not known".
fn startdate_text(s: &str) -> Result<Option<PrimitiveDateTime>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let bad = || format!("startdate {s:?} is not \"YY Mon DD HH:MM\"");
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [yy, mon, dd, hm] = parts.as_slice() else {
        return Err(bad());
    };
    let yy: u8 = yy
        .parse()
        .ok()
        .filter(|y| *y < 100 && yy.len() == 2)
        .ok_or_else(bad)?;
    let year = if yy >= 70 { 1900 } else { 2000 } + i32::from(yy);
    let month = crate::lenient::month_abbrev(mon).ok_or_else(bad)?;
    let day: u8 = dd.parse().map_err(|_| bad())?;
    let (h, m) = hm.split_once(':').ok_or_else(bad)?;
    let (h, m): (u8, u8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let time = Time::from_hms(h, m, 0).map_err(|_| bad())?;
    Ok(Some(PrimitiveDateTime::new(date, time)))
}

/// Parses and converts `listaccts` response bodies as one listing does, pages in order, then
/// checks duplicates and the field limits: `(accounts, skipped records)`. For the
/// `cpanel_parse` benchmark only; not part of the module's interface.
#[doc(hidden)]
pub fn bench_parse_pages(pages: &[Vec<u8>]) -> Result<(usize, usize), ModuleError> {
    let mut listing = Listing::default();
    let mut offset = 0;
    for body in pages {
        let page = parse_page_limited(body, "bench-token", usize::MAX)?;
        let n = page.records.len();
        convert_page(page.records, offset, &mut listing);
        offset += n;
    }
    check_duplicates(&listing)?;
    listing.enforce_field_limits();
    Ok((listing.accounts.len(), listing.skipped.len()))
}

mod raw;
use raw::{AcctList, DataSlot, Envelope, Field, PageRecords, RawAccount, Slot, MAX_RECORDS};

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
