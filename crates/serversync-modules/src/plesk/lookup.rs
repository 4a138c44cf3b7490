//! Owner and plan lookups in batches: `customer get` (then `reseller get` for owners that are
//! no customer), `service-plan get` (then `service-plan-addon get` for GUIDs that are no
//! service plan), each with [`PleskModule::BATCH`] values per filter.
//!
//! Plesk answers one `<result>` per filter value; each names the value it answers in
//! `<filter-id>` (or `<id>`/`<guid>`). A value without an answer is taken as not found,
//! like error 1013 ("does not exist"). Any other per-result error is kept as the reason for
//! the subscriptions it concerns; a `<system>` error fails the listing.

use std::collections::HashMap;

use futures::StreamExt;

use super::xml::{self, escape, ResultFields};
use super::{Ctx, PleskModule};
use crate::http::one_line;
use crate::ModuleError;

/// Plesk's "object does not exist" error code.
pub(crate) const NOT_FOUND: &str = "1013";

/// What an owner id resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnerLookup {
    /// A customer or a reseller (`kind`), with its `gen_info` login and e-mail.
    Found {
        kind: &'static str,
        login: String,
        email: Option<String>,
    },
    /// Neither a customer nor a reseller (1013 or no answer for both).
    NotFound,
    /// A lookup error other than 1013: the reason.
    Failed(String),
}

/// What a plan GUID resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlanLookup {
    /// A service plan's name.
    Plan(String),
    /// An add-on plan's name.
    Addon(String),
    NotFound,
    Failed(String),
}

/// One looked-up value: found (its fields), not found, or failed with a reason.
#[derive(Debug)]
pub(super) enum Answer {
    Found(ResultFields),
    NotFound,
    Failed(String),
}

/// Owners of `ids` (owner-ids of subscriptions): customers first, then resellers.
pub(crate) async fn owners(
    m: &PleskModule,
    ctx: &Ctx<'_>,
    ids: Vec<String>,
) -> Result<HashMap<String, OwnerLookup>, ModuleError> {
    let mut out = HashMap::with_capacity(ids.len());
    // Only decimal ids go into a filter; anything else cannot be an owner id.
    let (ids, bad): (Vec<String>, Vec<String>) = ids
        .into_iter()
        .partition(|id| !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()));
    for id in bad {
        let reason = format!("owner-id {:?} is not a number", one_line(&id, 40, ""));
        out.insert(id, OwnerLookup::Failed(reason));
    }
    let customers = batched(
        m,
        ctx,
        "customer",
        "id",
        "<dataset><gen_info/></dataset>",
        &ids,
    )
    .await?;
    let mut pending = Vec::new();
    for (id, answer) in ids.into_iter().zip(customers) {
        match answer {
            Answer::Found(r) => {
                out.insert(id, found("customer", &r, "data/gen_info"));
            }
            Answer::NotFound => pending.push(id),
            Answer::Failed(why) => {
                out.insert(id, OwnerLookup::Failed(format!("customer get: {why}")));
            }
        }
    }
    // A reseller's own subscriptions: its id is no customer's (WHMCS retries the same way).
    let resellers = batched(
        m,
        ctx,
        "reseller",
        "id",
        "<dataset><gen-info/></dataset>",
        &pending,
    )
    .await?;
    for (id, answer) in pending.into_iter().zip(resellers) {
        let v = match answer {
            Answer::Found(r) => found("reseller", &r, "data/gen-info"),
            Answer::NotFound => OwnerLookup::NotFound,
            Answer::Failed(why) => OwnerLookup::Failed(format!("reseller get: {why}")),
        };
        out.insert(id, v);
    }
    Ok(out)
}

fn found(kind: &'static str, r: &ResultFields, base: &str) -> OwnerLookup {
    let get = |f: &str| {
        r.get(&format!("{base}/{f}"))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match get("login") {
        Some(login) => OwnerLookup::Found {
            kind,
            login,
            email: get("email"),
        },
        None => OwnerLookup::Failed(format!("{kind} get answered without a login")),
    }
}

/// Names of the plans `guids`: service plans (every owner's), then add-ons.
pub(crate) async fn plans(
    m: &PleskModule,
    ctx: &Ctx<'_>,
    guids: Vec<String>,
) -> Result<HashMap<String, PlanLookup>, ModuleError> {
    let mut out = HashMap::with_capacity(guids.len());
    let name_of = |r: &ResultFields| {
        r.get("name")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let answers = batched(m, ctx, "service-plan", "guid", "<owner-all/>", &guids).await?;
    let mut pending = Vec::new();
    for (g, answer) in guids.into_iter().zip(answers) {
        match answer {
            Answer::Found(r) => {
                let v = match name_of(&r) {
                    Some(n) => PlanLookup::Plan(n),
                    None => PlanLookup::Failed("service-plan get answered without a name".into()),
                };
                out.insert(g, v);
            }
            Answer::NotFound => pending.push(g),
            Answer::Failed(why) => {
                out.insert(g, PlanLookup::Failed(format!("service-plan get: {why}")));
            }
        }
    }
    let answers = batched(
        m,
        ctx,
        "service-plan-addon",
        "guid",
        "<owner-all/>",
        &pending,
    )
    .await?;
    for (g, answer) in pending.into_iter().zip(answers) {
        let v = match answer {
            Answer::Found(r) => match name_of(&r) {
                Some(n) => PlanLookup::Addon(n),
                None => PlanLookup::Failed("service-plan-addon get answered without a name".into()),
            },
            Answer::NotFound => PlanLookup::NotFound,
            Answer::Failed(why) => PlanLookup::Failed(format!("service-plan-addon get: {why}")),
        };
        out.insert(g, v);
    }
    Ok(out)
}

/// Looks `values` up with `<OPERATOR><get><filter><KIND>v</KIND>…</filter>EXTRA</get>`, in
/// batches, at most `m.concurrency()` in flight; one answer per value, in order.
async fn batched(
    m: &PleskModule,
    ctx: &Ctx<'_>,
    operator: &'static str,
    kind: &'static str,
    extra: &'static str,
    values: &[String],
) -> Result<Vec<Answer>, ModuleError> {
    // Owned batches: a borrowed one in the closure's argument trips async_trait's `Send`
    // check (a higher-ranked lifetime).
    let batches: Vec<Vec<String>> = values
        .chunks(PleskModule::BATCH)
        .map(<[String]>::to_vec)
        .collect();
    let mut results: Vec<Option<Vec<Answer>>> = Vec::new();
    results.resize_with(batches.len(), || None);
    let mut in_flight = futures::stream::iter(batches.into_iter().enumerate())
        .map(|(i, batch)| async move {
            let packet = request(operator, kind, extra, &batch);
            let body = m.post(ctx, &packet, &m.lookup_opts).await?;
            let answers = read_batch(&body, operator, kind, &batch, ctx.secret)?;
            Ok::<_, ModuleError>((i, answers))
        })
        .buffer_unordered(m.concurrency().max(1));
    while let Some(r) = in_flight.next().await {
        // Returning drops the requests still in flight.
        let (i, answers) = r?;
        results[i] = Some(answers);
    }
    drop(in_flight);
    Ok(results.into_iter().flatten().flatten().collect())
}

/// The request packet of one batch.
pub(crate) fn request(operator: &str, kind: &str, extra: &str, values: &[String]) -> String {
    let mut p = String::with_capacity(128 + values.iter().map(|v| v.len() + 16).sum::<usize>());
    p.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<packet><");
    p.push_str(operator);
    p.push_str("><get><filter>");
    for v in values {
        p.push_str(&format!("<{kind}>{}</{kind}>", escape(v)));
    }
    p.push_str("</filter>");
    p.push_str(extra);
    p.push_str("</get></");
    p.push_str(operator);
    p.push_str("></packet>");
    p
}

/// The answers of one batch, one per value of `batch`, in its order.
pub(super) fn read_batch(
    body: &[u8],
    operator: &str,
    kind: &str,
    batch: &[String],
    secret: &str,
) -> Result<Vec<Answer>, ModuleError> {
    let mut by_value: HashMap<&str, Answer> = HashMap::with_capacity(batch.len());
    // An error naming no value concerns every value left unanswered.
    let mut unattributed: Option<String> = None;
    xml::read_results(body, operator, |r| {
        let key = r
            .key()
            .or_else(|| r.get(kind))
            .map(str::trim)
            .and_then(|k| batch.iter().find(|v| v.as_str() == k))
            .map(String::as_str);
        let answer = match r.error() {
            None => Answer::Found(r),
            Some((code, _)) if code.trim() == NOT_FOUND => Answer::NotFound,
            Some((code, text)) => Answer::Failed(format!(
                "error {}: {}",
                one_line(code, 20, secret),
                if text.is_empty() {
                    "no reason given".into()
                } else {
                    one_line(text, 200, secret)
                }
            )),
        };
        match key {
            // A value answered twice keeps its first answer.
            Some(k) => {
                by_value.entry(k).or_insert(answer);
            }
            None => {
                if let Answer::Failed(why) = answer {
                    unattributed.get_or_insert(why);
                }
            }
        }
        Ok::<(), ModuleError>(())
    })
    .map_err(|e| super::redact(e, secret))?;
    Ok(batch
        .iter()
        .map(|v| match by_value.remove(v.as_str()) {
            Some(a) => a,
            None => match &unattributed {
                Some(why) => Answer::Failed(why.clone()),
                None => Answer::NotFound,
            },
        })
        .collect())
}
