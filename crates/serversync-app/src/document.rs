//! The analysis document of CONTRACT.md as JSON text: the one `analyse --json` and the API
//! print (every item, written on two threads for big servers) and the one a run stores.

use crate::{misses, run_doc, AppError, Result};
use serde::Serialize;
use serde_json::{json, Value};
use serversync_core::analysis::{Analysis, AnalysisInput, Counts, ItemView};
use serversync_core::json_text;
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

/// [`analysis_document`] as compact JSON text (in pieces: [`DocumentText`]), serialised
/// straight from the analysis (no intermediate `Value` tree: for 100,000 items that tree
/// costs more than the analysis).
///
/// Errors: [`AppError::Invalid`] ("server web1: the analysis document could not be
/// written: …") when serde_json fails on the document's head.
pub fn analysis_document_json(
    run_id: Option<RunId>,
    server: &Server,
    listing: &Listing,
    analysis: &Analysis,
    input: &AnalysisInput<'_>,
) -> Result<DocumentText> {
    let doc = document(run_id, server, &listing.skipped, analysis, input, None);
    doc_text(server, &doc)
}

/// A document as compact JSON text, in pieces ([`DocumentText`]).
pub(crate) fn doc_text(server: &Server, doc: &Doc<'_>) -> Result<DocumentText> {
    doc_text_split(doc, SPLIT_ITEMS).map_err(|e| {
        AppError::Invalid(format!(
            "server {}: the analysis document could not be written: {e}",
            server.name
        ))
    })
}

/// Items from which a document's items are written on two threads ([`doc_text_split`]).
const SPLIT_ITEMS: usize = 5_000;

/// An analysis document as compact JSON text, held in pieces: the text is their
/// concatenation, in order (each piece is itself valid UTF-8, cut between JSON values).
///
/// Why pieces: the document of a 100,000-account server is ~60 MB, written on two threads
/// each into a buffer of its own. Joining the buffers and then setting the run's id at the
/// front (which shifts everything after it) each moved the whole of it again; in pieces the
/// run id is set in the small head and the pieces are written out as they are.
/// [`std::fmt::Display`] writes the text, [`DocumentText::into_string`] joins it. Two texts
/// are equal when their texts are, however they are cut.
#[derive(Debug, Clone, Default)]
pub struct DocumentText {
    /// The head (up to and including `"items":[`, or the whole text of a small document)
    /// first.
    parts: Vec<String>,
}

impl DocumentText {
    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(String::len).sum()
    }

    /// Whether the text is empty (a document never is).
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(String::is_empty)
    }

    /// The pieces, in order.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().map(String::as_str)
    }

    /// Writes the text to `w`, a piece at a time (no joined copy).
    ///
    /// Errors: `w`'s.
    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        self.parts
            .iter()
            .try_for_each(|p| w.write_all(p.as_bytes()))
    }

    /// The whole text as one `String` (the pieces joined; a one-piece text is moved).
    pub fn into_string(mut self) -> String {
        if self.parts.len() == 1 {
            return self.parts.pop().unwrap_or_default();
        }
        self.joined()
    }

    /// The pieces joined into a new `String`.
    fn joined(&self) -> String {
        let mut out = String::with_capacity(self.len());
        self.parts.iter().for_each(|p| out.push_str(p));
        out
    }

    /// The document read as `T` (its pieces are joined into one text first when there are
    /// several).
    ///
    /// Errors: serde_json's, when the text is not a `T`.
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        match self.parts.as_slice() {
            [one] => serde_json::from_str(one),
            _ => serde_json::from_str(&self.joined()),
        }
    }
}

impl PartialEq for DocumentText {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .parts()
                .flat_map(str::bytes)
                .eq(other.parts().flat_map(str::bytes))
    }
}

impl Eq for DocumentText {}

impl std::fmt::Display for DocumentText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.parts.iter().try_for_each(|p| f.write_str(p))
    }
}

impl From<String> for DocumentText {
    fn from(text: String) -> Self {
        DocumentText { parts: vec![text] }
    }
}

/// `doc` as compact JSON text, the text `serde_json::to_string(doc)` gives: the head by
/// serde, the items ([`ItemView::write_json`]) and the stored form's rows
/// ([`run_doc::Row::write_json`]) by hand. With `split_from` items or more, the text is in
/// three pieces: the head (to `"items":[`), the first half of the items, and the second
/// half (written on another thread) with the rest of the document; otherwise it is one
/// piece. serde_json's compact form separates array elements by a bare comma, so the pieces
/// join as one text.
pub(crate) fn doc_text_split(doc: &Doc<'_>, split_from: usize) -> serde_json::Result<DocumentText> {
    let write = |items: &[ItemView<'_>], out: &mut Vec<u8>, lead: bool| {
        for (i, it) in items.iter().enumerate() {
            if lead || i > 0 {
                out.push(b',');
            }
            json_text::touch_ahead(items, i + json_text::TOUCH_AHEAD);
            it.write_json(out);
        }
    };
    // The tail: the items' end, the stored form's rows and the document's end.
    let tail = |out: &mut Vec<u8>| {
        out.push(b']');
        if let Some(rows) = &doc.in_sync_rows {
            out.extend_from_slice(b",\"in_sync_rows\":[");
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                r.write_json(out);
            }
            out.push(b']');
        }
        out.push(b'}');
    };
    // The head: the document without items (and rows) ends in `"items":[]}`.
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
    let rows = doc.in_sync_rows.as_deref().unwrap_or_default();
    if doc.items.len() < split_from.max(2) {
        // ~600 bytes an item, ~100 a row: one allocation for most documents.
        out.reserve(doc.items.len() * 640 + rows.len() * 112 + 32);
        write(&doc.items, &mut out, false);
        tail(&mut out);
        return Ok(DocumentText {
            parts: vec![text(out)?],
        });
    }
    let (first, second) = doc.items.split_at(doc.items.len() / 2);
    let (one, two) = std::thread::scope(|sc| {
        let two = sc.spawn(|| {
            let mut out = Vec::with_capacity(second.len() * 640 + rows.len() * 112 + 32);
            write(second, &mut out, true);
            tail(&mut out);
            text(out)
        });
        let mut one = Vec::with_capacity(first.len() * 640);
        write(first, &mut one, false);
        (
            text(one),
            two.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
        )
    });
    Ok(DocumentText {
        parts: vec![text(out)?, one?, two?],
    })
}

/// Written text as a `String` (made only of `&str` pieces and ASCII: checked anyway, so
/// that a bug in a writer is an error, never invalid text).
fn text(out: Vec<u8>) -> serde_json::Result<String> {
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
///
/// Errors: [`AppError::Invalid`] ("server web1: the stored analysis could not be written:
/// …") when serde_json fails on the document's head.
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
    doc_text_split(&doc, usize::MAX)
        .map(DocumentText::into_string)
        .map_err(|e| {
            AppError::Invalid(format!(
                "server {}: the stored analysis could not be written: {e}",
                server.name
            ))
        })
}

/// Sets `run_id` in a document made with `run_id` null, in its head (the document of a big
/// server is tens of megabytes: its items stay where they are).
pub(crate) fn set_run_id(doc: &mut DocumentText, run_id: RunId) {
    const NULL_ID: &str = "{\"run_id\":null";
    if let Some(head) = doc.parts.first_mut().filter(|h| h.starts_with(NULL_ID)) {
        head.replace_range(..NULL_ID.len(), &format!("{{\"run_id\":{run_id}"));
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
    use serversync_core::analysis::{analyse, BillingRecord};
    use serversync_core::module::RemoteAccount;
    use serversync_modules::{ModuleOptions, ModuleRegistry};

    fn account(user: &str) -> RemoteAccount {
        serde_json::from_value(json!({"email": format!("{user}@mail.test"),
            "username": user, "domain": format!("{user}.test"),
            "uniqueIdentifier": format!("{user}.test"), "product": "basic",
            "primaryip": "192.0.2.1", "created": "2024-01-31 10:00:00", "status": "Active"}))
        .unwrap()
    }

    fn service(id: i64, user: &str) -> BillingRecord {
        BillingRecord {
            service: serversync_core::model::Service {
                id,
                client_id: id,
                product_id: 1,
                server_id: Some(1),
                domain: format!("{user}.test"),
                username: if id == 3 {
                    "other\"name".into()
                } else {
                    user.into()
                },
                dedicated_ip: String::new(),
                regdate: time::Date::from_calendar_date(2024, time::Month::January, 31).ok(),
                status: serversync_core::model::ServiceStatus::Active,
                billing_cycle: "Monthly".into(),
                amount: "9.99".into(),
                next_due_date: None,
                termination_date: None,
                custom_fields: Default::default(),
                version: 1,
            },
            package: Some("basic".into()),
            client_email: Some(format!("{user}@mail.test")),
        }
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
            // Every other account billed (plain in_sync rows in the stored form), one of
            // them with another username and a billing record of a gone account.
            // n = 0: no account and no service, a document without items.
            let services: Vec<BillingRecord> = (0..n)
                .step_by(2)
                .map(|i| service(i as i64 + 1, &format!("user{i}")))
                .chain((n > 0).then(|| service(99, "gone")))
                .collect();
            let input = AnalysisInput {
                meta: &meta,
                server_ip: "192.0.2.1",
                accounts: &accounts,
                listing_complete: true,
                services: &services,
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
            let split = doc_text_split(&doc, 1).unwrap();
            assert_eq!(split.to_string(), whole, "{n} items");
            let items = if n == 0 { 0 } else { n + 1 };
            // Two items or more: the head, then each half of the items in its own piece.
            assert_eq!(
                split.parts().count(),
                if items >= 2 { 3 } else { 1 },
                "{n} items"
            );
            // Equal however it is cut, and read whole.
            assert_eq!(split, DocumentText::from(whole.clone()), "{n} items");
            assert_ne!(split, DocumentText::from(format!("{whole} ")), "{n} items");
            assert_eq!(
                split.read::<Value>().unwrap(),
                serde_json::from_str::<Value>(&whole).unwrap()
            );
            assert_eq!(split.len(), whole.len(), "{n} items");
            assert_eq!(split.clone().into_string(), whole, "{n} items");
            let mut written = Vec::new();
            split.write_to(&mut written).unwrap();
            assert_eq!(written, whole.as_bytes(), "{n} items");
            let at_once = doc_text_split(&doc, usize::MAX).unwrap();
            assert_eq!(at_once.parts().count(), 1, "{n} items");
            assert_eq!(at_once.into_string(), whole, "{n} items");
            // The stored form: its items and its in_sync rows.
            let misses = misses::DocMisses::default();
            let stored = crate::run_doc::stored_items(&analysis, &input, &misses);
            // user0, user2, … billed alike (service 3, user2, has another username).
            let plain = (0..n).step_by(2).filter(|i| *i != 2).count();
            assert_eq!(stored.in_sync_rows.len(), plain, "{n} items");
            let stored_doc = Doc {
                run_id: None,
                server: json!({"id": 1, "name": "web1"}),
                listing: json!({"complete": true}),
                unique_identifier: json!({"field": "domain"}),
                counts: &analysis.counts,
                live_services: 0,
                warnings: &warnings,
                items: stored.items,
                in_sync_rows: Some(stored.in_sync_rows),
            };
            assert_eq!(
                doc_text_split(&stored_doc, 1).unwrap().to_string(),
                serde_json::to_string(&stored_doc).unwrap(),
                "{n} items, stored form"
            );
            let v: Value = serde_json::from_str(&whole).unwrap();
            // Every account's item and the gone service's.
            assert_eq!(v["items"].as_array().map(Vec::len), Some(items));
            let mut text = split;
            set_run_id(&mut text, 42);
            let want = whole.replacen("{\"run_id\":null", "{\"run_id\":42", 1);
            assert_eq!(text.to_string(), want, "{n} items");
            assert_eq!(text.read::<Value>().unwrap()["run_id"], 42, "{n} items");
        }
    }
}
