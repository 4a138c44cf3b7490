//! The analysis document of CONTRACT.md as JSON text: the one `analyse --json` and the API
//! print (every item, written on two threads for big servers) and the one a run stores.

use crate::{misses, run_doc, AppError, Result};
use serde::Serialize;
use serde_json::{json, Value};
use serversync_core::analysis::{Analysis, AnalysisInput, Counts, ItemView};
use serversync_core::model::{RunId, Server};
use serversync_core::module::Listing;

/// The analysis document of CONTRACT.md.
pub fn analysis_document(
    run_id: Option<RunId>,
    server: &Server,
    listing: &Listing,
    analysis: &Analysis,
    input: &AnalysisInput<'_>,
) -> Value {
    serde_json::to_value(document(
        run_id,
        server,
        &listing.skipped,
        analysis,
        input,
        None,
    ))
    .unwrap_or(Value::Null)
}

/// [`analysis_document`] as compact JSON text, serialised straight from the analysis (no
/// intermediate `Value` tree: for 100,000 items that tree costs more than the analysis).
pub fn analysis_document_json(
    run_id: Option<RunId>,
    server: &Server,
    listing: &Listing,
    analysis: &Analysis,
    input: &AnalysisInput<'_>,
) -> Result<String> {
    let doc = document(run_id, server, &listing.skipped, analysis, input, None);
    doc_text(server, &doc)
}

/// A document as compact JSON text.
pub(crate) fn doc_text(server: &Server, doc: &Doc<'_>) -> Result<String> {
    doc_text_split(doc, SPLIT_ITEMS).map_err(|e| {
        AppError::Invalid(format!(
            "server {}: the analysis document could not be written: {e}",
            server.name
        ))
    })
}

/// Items from which a document's items are written on two threads ([`doc_text_split`]).
const SPLIT_ITEMS: usize = 5_000;

/// `doc` as compact JSON text; with `split_from` items or more, the second half of the
/// items is written on another thread and joined to the first: the same text as in one go
/// (serde_json's compact form separates array elements by a bare comma), in about half the
/// time (100,000 items are ~0.15 s of serialising).
pub(crate) fn doc_text_split(doc: &Doc<'_>, split_from: usize) -> serde_json::Result<String> {
    if doc.items.len() < split_from.max(2) || doc.in_sync_rows.is_some() {
        return serde_json::to_string(doc);
    }
    let (first, second) = doc.items.split_at(doc.items.len() / 2);
    let write = |items: &[ItemView<'_>], out: &mut Vec<u8>, lead: bool| {
        for (i, it) in items.iter().enumerate() {
            if lead || i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, it)?;
        }
        Ok::<_, serde_json::Error>(())
    };
    let (mut out, rest) = std::thread::scope(|sc| {
        let rest = sc.spawn(|| {
            let mut out = Vec::new();
            write(second, &mut out, true).map(|()| out)
        });
        // The head: the document without items ends in `"items":[]}`.
        let head = Doc {
            run_id: doc.run_id,
            server: doc.server.clone(),
            listing: doc.listing.clone(),
            unique_identifier: doc.unique_identifier.clone(),
            counts: doc.counts,
            live_services: doc.live_services,
            warnings: doc.warnings,
            items: Vec::new(),
            in_sync_rows: None,
        };
        let mut out = serde_json::to_vec(&head)?;
        debug_assert!(out.ends_with(b"[]}"));
        out.truncate(out.len().saturating_sub(2));
        write(first, &mut out, false)?;
        let rest = rest.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        Ok::<_, serde_json::Error>((out, rest?))
    })?;
    out.extend_from_slice(&rest);
    out.extend_from_slice(b"]}");
    String::from_utf8(out).map_err(serde::ser::Error::custom)
}

#[derive(Serialize)]
pub(crate) struct Doc<'a> {
    // `run_id` must stay the first field: `set_run_id` relies on it.
    run_id: Option<RunId>,
    server: Value,
    listing: Value,
    unique_identifier: Value,
    counts: &'a Counts,
    live_services: usize,
    warnings: &'a [String],
    items: Vec<ItemView<'a>>,
    /// Only in the stored form ([`stored_document_json`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    in_sync_rows: Option<Vec<run_doc::RowOut<'a>>>,
}

/// The document of `analysis` of the listing `input.accounts` + `skipped`.
pub(crate) fn document<'a>(
    run_id: Option<RunId>,
    server: &Server,
    skipped: &[serversync_core::module::SkippedRecord],
    analysis: &'a Analysis,
    input: &'a AnalysisInput<'a>,
    misses: Option<&misses::DocMisses>,
) -> Doc<'a> {
    let items = analysis
        .items
        .iter()
        .map(|item| ItemView {
            item,
            input,
            misses: misses.and_then(|m| m.of(item, input)),
        })
        .collect();
    document_with(run_id, server, skipped, analysis, input, items)
}

/// The document's head around `items` (all of them, or the stored form's drift items).
pub(crate) fn document_with<'a>(
    run_id: Option<RunId>,
    server: &Server,
    skipped: &[serversync_core::module::SkippedRecord],
    analysis: &'a Analysis,
    input: &'a AnalysisInput<'a>,
    items: Vec<ItemView<'a>>,
) -> Doc<'a> {
    Doc {
        run_id,
        server: json!({"id": server.id, "name": server.name, "module": server.module}),
        listing: json!({
            "complete": skipped.is_empty(),
            "accounts": input.accounts.len(),
            "error": Value::Null,
            "skipped": skipped,
        }),
        unique_identifier: json!({
            "field": input.meta.unique_identifier_field.as_meta(),
            "display_name": input.meta.unique_identifier_display_name,
        }),
        counts: &analysis.counts,
        live_services: analysis.live_services,
        warnings: &analysis.warnings,
        items,
        in_sync_rows: None,
    }
}

/// The analysis document in the form a run stores it (`run_doc`): the head as in
/// [`analysis_document_json`], the items with drift whole and plain `in_sync` items as
/// compact rows (`not_on_server` items with their miss counts); `run_id` null.
pub fn stored_document_json<'a>(
    server: &Server,
    listing: &Listing,
    analysis: &'a Analysis,
    input: &'a AnalysisInput<'a>,
    misses: &misses::DocMisses,
) -> Result<String> {
    let split = run_doc::stored_items(analysis, input, misses);
    // The head only: building every item's view for `document` would be thrown away here.
    let doc = Doc {
        in_sync_rows: Some(split.in_sync_rows),
        ..document_with(None, server, &listing.skipped, analysis, input, split.items)
    };
    serde_json::to_string(&doc).map_err(|e| {
        AppError::Invalid(format!(
            "server {}: the stored analysis could not be written: {e}",
            server.name
        ))
    })
}

/// Sets `run_id` in a document made by [`analysis_document_json`] with `run_id` null, in
/// place (the document of a big server is tens of megabytes: no second copy).
pub(crate) fn set_run_id(doc: &mut String, run_id: RunId) {
    const NULL_ID: &str = "{\"run_id\":null";
    if doc.starts_with(NULL_ID) {
        doc.replace_range(..NULL_ID.len(), &format!("{{\"run_id\":{run_id}"));
    }
}

/// Drops `value` on a thread of its own: freeing a big analysis is work nobody waits for.
/// (Dropped here when no thread can be started.)
pub(crate) fn drop_aside<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serversync_core::analysis::analyse;
    use serversync_core::module::RemoteAccount;
    use serversync_modules::{ModuleOptions, ModuleRegistry};

    fn account(user: &str) -> RemoteAccount {
        serde_json::from_value(json!({"email": format!("{user}@mail.test"),
            "username": user, "domain": format!("{user}.test"),
            "uniqueIdentifier": format!("{user}.test"), "product": "basic",
            "primaryip": "192.0.2.1", "created": "2024-01-31 10:00:00", "status": "Active"}))
        .unwrap()
    }

    #[test]
    fn a_document_written_on_two_threads_is_the_one_written_at_once() {
        let module = ModuleRegistry::builtin(ModuleOptions::default())
            .get("cpanel")
            .unwrap();
        let meta = module.meta().clone();
        for n in [0, 1, 2, 3, 8] {
            let accounts: Vec<RemoteAccount> =
                (0..n).map(|i| account(&format!("user{i}"))).collect();
            let input = AnalysisInput {
                meta: &meta,
                server_ip: "192.0.2.1",
                accounts: &accounts,
                listing_complete: true,
                services: &[],
                other_live: &[],
            };
            let analysis = analyse(&input);
            let warnings = vec!["a warning".to_string()];
            let doc = Doc {
                run_id: None,
                server: json!({"id": 1, "name": "web1"}),
                listing: json!({"complete": true}),
                unique_identifier: json!({"field": "domain"}),
                counts: &analysis.counts,
                live_services: 0,
                warnings: &warnings,
                items: analysis
                    .items
                    .iter()
                    .map(|item| ItemView {
                        item,
                        input: &input,
                        misses: None,
                    })
                    .collect(),
                in_sync_rows: None,
            };
            let whole = serde_json::to_string(&doc).unwrap();
            assert_eq!(doc_text_split(&doc, 1).unwrap(), whole, "{n} items");
            let v: Value = serde_json::from_str(&whole).unwrap();
            assert_eq!(v["items"].as_array().map(Vec::len), Some(n));
            let mut text = whole.clone();
            set_run_id(&mut text, 42);
            assert_eq!(
                text,
                whole.replacen("{\"run_id\":null", "{\"run_id\":42", 1)
            );
        }
    }
}
