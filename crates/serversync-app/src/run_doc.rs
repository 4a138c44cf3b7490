//! The analysis document as a run stores it (issue 11, "Runs that fleets can keep").
//!
//! The document of CONTRACT.md repeats every remote account inside its item, and most items
//! of a big server are `in_sync`: stored whole, a 100,000-account run took ~74 MB. A run
//! stores instead the document's head (server, listing, counts, warnings, …), the items with
//! drift (and any `in_sync` item with notes or actions) whole, in their order, and every plain
//! `in_sync` item as one row of `in_sync_rows`: its index in the document, the index of its
//! account in the run's remote list (stored once, by the store, compressed), and the billing
//! side as it was at analysis time, leaving out the domain, username and e-mail when they
//! equal the account's. [`expand`] rebuilds the items exactly: the page, the API and
//! `runs show` read the same document as before. Nothing is recomputed from today's billing.
//! A document without `in_sync_rows` (every run stored before) reads as it is.

use serde::{Deserialize, Serialize};
use serversync_core::analysis::{Analysis, AnalysisInput, BillingRef, Category, Item, ItemView};
use serversync_core::model::{format_date, ServiceStatus};
use serversync_core::module::RemoteAccount;

use crate::items::{BillingSide, StoredItem};

/// `flags` bit: the billing domain is the account's.
const SAME_DOMAIN: u8 = 1;
/// `flags` bit: the billing username is the account's.
const SAME_USERNAME: u8 = 2;
/// `flags` bit: the client e-mail is the account's (both may be absent).
const SAME_EMAIL: u8 = 4;

/// One plain `in_sync` item, as a JSON array (no keys): `[item, account, service_id,
/// client_id, product_id, version, status, regdate, server_id, flags, domain, username,
/// client_email, dedicated_ip]`; `domain`, `username` and `client_email` are null when
/// `flags` says they are the account's.
/// (Deserialised from that array: serde's derive reads a struct from a sequence.) `S` is the
/// status, `T` a text and `D` the registration date: borrowed and typed as written
/// ([`RowOut`]), owned strings and a [`ServiceStatus`] as read back ([`RowIn`]).
#[derive(Deserialize)]
pub(crate) struct Row<S, T, D = String> {
    item: usize,
    account: usize,
    service_id: i64,
    client_id: i64,
    product_id: i64,
    version: i64,
    status: S,
    regdate: Option<D>,
    server_id: Option<i64>,
    flags: u8,
    domain: Option<T>,
    username: Option<T>,
    client_email: Option<T>,
    dedicated_ip: T,
}

impl<S: Serialize, T: Serialize, D: Serialize> Serialize for Row<S, T, D> {
    fn serialize<Z: serde::Serializer>(&self, z: Z) -> Result<Z::Ok, Z::Error> {
        (
            self.item,
            self.account,
            self.service_id,
            self.client_id,
            self.product_id,
            self.version,
            &self.status,
            &self.regdate,
            self.server_id,
            self.flags,
            &self.domain,
            &self.username,
            &self.client_email,
            &self.dedicated_ip,
        )
            .serialize(z)
    }
}

impl RowOut<'_> {
    /// Appends this row as compact JSON, the text its `Serialize` gives (by hand: a big
    /// server's run stores ~100,000 rows).
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        use serversync_core::json_text::{int, opt_date, opt_int, opt_string, string};
        out.push(b'[');
        for n in [self.item, self.account] {
            int(out, n);
            out.push(b',');
        }
        for n in [
            self.service_id,
            self.client_id,
            self.product_id,
            self.version,
        ] {
            int(out, n);
            out.push(b',');
        }
        string(out, self.status);
        out.push(b',');
        opt_date(out, self.regdate.map(|d| d.0));
        out.push(b',');
        opt_int(out, self.server_id);
        out.push(b',');
        int(out, self.flags);
        for t in [self.domain, self.username, self.client_email] {
            out.push(b',');
            opt_string(out, t);
        }
        out.push(b',');
        string(out, self.dedicated_ip);
        out.push(b']');
    }
}

/// What is stored of the document's items: the items kept whole, in order, and the rows.
pub(crate) struct StoredItems<'a> {
    pub items: Vec<ItemView<'a>>,
    pub in_sync_rows: Vec<RowOut<'a>>,
}

/// A [`Row`] as written: the status as core names it, the texts borrowed from the input.
pub(crate) type RowOut<'a> = Row<&'static str, &'a str, RegDate>;

/// A registration date written as `YYYY-MM-DD` ([`format_date`]) without a `String` of its
/// own (a big server's run writes ~100,000 of them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RegDate(pub time::Date);

impl Serialize for RegDate {
    fn serialize<Z: serde::Serializer>(&self, z: Z) -> Result<Z::Ok, Z::Error> {
        z.serialize_str(&format_date(self.0))
    }
}

/// A [`Row`] as read back.
pub(crate) type RowIn = Row<ServiceStatus, String>;

/// Whether `it` is a plain `in_sync` item: nothing but its account and its billing record.
fn plain_in_sync(it: &Item) -> Option<(usize, usize)> {
    match (it.category, it.remote, it.billing) {
        (Category::InSync, Some(a), Some(BillingRef::ThisServer(s)))
            if it.diffs.is_empty()
                && it.actions.is_empty()
                && it.notes.is_empty()
                && it.related_service_ids.is_empty() =>
        {
            Some((a, s))
        }
        _ => None,
    }
}

/// Splits the analysis' items into the ones kept whole and the rows of plain `in_sync` items.
pub(crate) fn stored_items<'a>(
    analysis: &'a Analysis,
    input: &'a AnalysisInput<'a>,
    misses: &crate::misses::DocMisses,
) -> StoredItems<'a> {
    // Most items of a big server are plain `in_sync` rows.
    let mut out = StoredItems {
        items: Vec::new(),
        in_sync_rows: Vec::with_capacity(analysis.counts.in_sync),
    };
    for (i, item) in analysis.items.iter().enumerate() {
        // The strings compared below, a few items ahead, are loaded meanwhile (`touch_item`).
        if let Some(next) = analysis
            .items
            .get(i + serversync_core::json_text::TOUCH_AHEAD)
        {
            std::hint::black_box(serversync_core::json_text::touch_item(next, input));
        }
        let Some((a, s)) = plain_in_sync(item) else {
            out.items.push(ItemView {
                item,
                input,
                misses: misses.of(item, input),
            });
            continue;
        };
        let (acc, rec) = (&input.accounts[a], &input.services[s]);
        let sv = &rec.service;
        let mut flags = 0;
        let mut keep = |same: bool, bit: u8, v: Option<&'a str>| {
            if same {
                flags |= bit;
                None
            } else {
                v
            }
        };
        let domain = keep(sv.domain == acc.domain, SAME_DOMAIN, Some(&sv.domain));
        let username = keep(
            sv.username == acc.username,
            SAME_USERNAME,
            Some(&sv.username),
        );
        let client_email = keep(
            rec.client_email == acc.email,
            SAME_EMAIL,
            rec.client_email.as_deref(),
        );
        out.in_sync_rows.push(Row {
            item: i,
            account: a,
            service_id: sv.id,
            client_id: sv.client_id,
            product_id: sv.product_id,
            version: sv.version,
            status: sv.status.as_str(),
            regdate: sv.regdate.map(RegDate),
            server_id: sv.server_id,
            flags,
            domain,
            username,
            client_email,
            dedicated_ip: &sv.dedicated_ip,
        });
    }
    out
}

/// The document's items rebuilt from what a run stored: `items` (kept whole, in order) with
/// the `rows` of plain `in_sync` items put back at their indexes, their accounts taken from
/// the run's remote list. `Err` says what does not fit (a damaged run).
pub(crate) fn expand(
    items: Vec<StoredItem>,
    rows: Vec<RowIn>,
    accounts: &[RemoteAccount],
) -> Result<Vec<StoredItem>, String> {
    if rows.is_empty() {
        return Ok(items);
    }
    let total = items.len() + rows.len();
    let mut slots: Vec<Option<StoredItem>> = Vec::with_capacity(total);
    slots.resize_with(total, || None);
    for r in rows {
        let acc = accounts
            .get(r.account)
            .ok_or_else(|| format!("in_sync row of item {} names account {}", r.item, r.account))?;
        let slot = slots
            .get_mut(r.item)
            .filter(|s| s.is_none())
            .ok_or_else(|| format!("in_sync row of item {} is out of place", r.item))?;
        let pick = |bit: u8, own: Option<String>, acc: &Option<String>| {
            if r.flags & bit != 0 {
                acc.clone()
            } else {
                own
            }
        };
        let domain = pick(SAME_DOMAIN, r.domain, &Some(acc.domain.clone())).unwrap_or_default();
        let username =
            pick(SAME_USERNAME, r.username, &Some(acc.username.clone())).unwrap_or_default();
        let client_email = pick(SAME_EMAIL, r.client_email, &acc.email);
        *slot = Some(StoredItem {
            category: Category::InSync,
            unique_identifier: Some(acc.unique_identifier.clone()),
            service_id: Some(r.service_id),
            remote: Some(acc.clone()),
            billing: Some(BillingSide {
                service_id: r.service_id,
                client_id: r.client_id,
                product_id: r.product_id,
                domain,
                username,
                dedicated_ip: r.dedicated_ip,
                regdate: r.regdate,
                status: r.status,
                server_id: r.server_id,
                version: r.version,
                client_email,
            }),
            diffs: Vec::new(),
            actions: Vec::new(),
            notes: Vec::new(),
            related_service_ids: Vec::new(),
            // Only not_on_server items have a miss count.
            misses: None,
            gone_after: None,
            gone: None,
        });
    }
    // Each row took its own slot of `total`, so the slots left are exactly `items.len()`.
    let mut whole = items.into_iter();
    slots
        .into_iter()
        .map(|s| match s {
            Some(it) => Ok(it),
            None => whole
                .next()
                .ok_or_else(|| "fewer items than the in_sync rows leave room for".to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(user: &str) -> RemoteAccount {
        serde_json::from_value(serde_json::json!({"email": format!("{user}@mail.test"),
            "username": user, "domain": format!("{user}.test"),
            "uniqueIdentifier": format!("{user}.test"), "product": "basic",
            "primaryip": "192.0.2.1", "created": null, "status": "Active"}))
        .unwrap()
    }

    fn drift(uid: &str) -> StoredItem {
        StoredItem {
            category: Category::NotOnServer,
            unique_identifier: Some(uid.into()),
            service_id: Some(9),
            remote: None,
            billing: None,
            diffs: Vec::new(),
            actions: Vec::new(),
            notes: Vec::new(),
            related_service_ids: Vec::new(),
            misses: Some(1),
            gone_after: Some(3),
            gone: Some(false),
        }
    }

    /// A row as a stored document holds it: `[item, account, service, client, product,
    /// version, status, regdate, server, flags, domain, username, email, ip]`.
    fn row(item: usize, account: usize, flags: u8, domain: Option<&str>) -> RowIn {
        serde_json::from_value(serde_json::json!([
            item,
            account,
            7,
            8,
            9,
            3,
            "Active",
            "2024-01-31",
            1,
            flags,
            domain,
            null,
            "billing@mail.test",
            ""
        ]))
        .unwrap()
    }

    #[test]
    fn a_row_is_written_as_its_serialize_writes_it() {
        let odd = "quote \" backslash \\ tab \t nul \u{0} é 😀";
        let rows: Vec<RowOut<'_>> = vec![
            Row {
                item: 0,
                account: 12,
                service_id: 7,
                client_id: -8,
                product_id: 9,
                version: i64::MAX,
                status: "Active",
                regdate: time::Date::from_calendar_date(2024, time::Month::January, 31)
                    .ok()
                    .map(RegDate),
                server_id: Some(1),
                flags: SAME_DOMAIN | SAME_EMAIL,
                domain: None,
                username: Some(odd),
                client_email: None,
                dedicated_ip: "",
            },
            Row {
                item: usize::MAX,
                account: 0,
                service_id: 0,
                client_id: 0,
                product_id: 0,
                version: 0,
                status: "Suspended",
                regdate: None,
                server_id: None,
                flags: 0,
                domain: Some(odd),
                username: Some(""),
                client_email: Some(odd),
                dedicated_ip: odd,
            },
        ];
        let mut first = Vec::new();
        rows[0].write_json(&mut first);
        let first = String::from_utf8(first).unwrap();
        assert!(first.contains(",\"2024-01-31\","), "{first}");
        for r in &rows {
            let mut out = Vec::new();
            r.write_json(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(r).unwrap()
            );
        }
    }

    #[test]
    fn rows_go_back_to_their_places_with_the_accounts_fields() {
        let accounts = vec![account("ann"), account("bob")];
        let items = expand(
            vec![drift("x.test")],
            vec![
                row(0, 1, SAME_DOMAIN | SAME_USERNAME, None),
                row(2, 0, SAME_USERNAME, Some("ANN.test")),
            ],
            &accounts,
        )
        .unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1], drift("x.test"));
        let (bob, ann) = (&items[0], &items[2]);
        assert_eq!(bob.remote.as_ref(), Some(&accounts[1]));
        assert_eq!(bob.unique_identifier.as_deref(), Some("bob.test"));
        let b = bob.billing.as_ref().unwrap();
        assert_eq!(
            (b.domain.as_str(), b.username.as_str()),
            ("bob.test", "bob")
        );
        assert_eq!(b.client_email.as_deref(), Some("billing@mail.test"));
        assert_eq!(
            (b.service_id, b.client_id, b.product_id, b.version),
            (7, 8, 9, 3)
        );
        assert_eq!(b.regdate.as_deref(), Some("2024-01-31"));
        assert_eq!(ann.billing.as_ref().unwrap().domain, "ANN.test");
        assert_eq!(ann.service_id, Some(7));
    }

    #[test]
    fn rows_that_do_not_fit_are_errors() {
        let accounts = vec![account("ann")];
        let bad =
            |items: Vec<StoredItem>, rows: Vec<RowIn>| expand(items, rows, &accounts).unwrap_err();
        assert!(bad(vec![], vec![row(0, 5, 0, None)]).contains("account 5"));
        assert!(bad(vec![], vec![row(3, 0, 0, None)]).contains("out of place"));
        assert!(bad(vec![], vec![row(0, 0, 0, None), row(0, 0, 0, None)]).contains("out of place"));
        assert!(bad(vec![], vec![row(1, 0, 0, None)]).contains("out of place"));
        // No rows: the items as stored (a run stored before compact runs).
        assert_eq!(
            expand(vec![drift("a")], vec![], &accounts).unwrap(),
            vec![drift("a")]
        );
    }
}
