//! The deterministic order of the analysis' items: category, identifier key, service id,
//! then the remote account's own fields, whatever the input order.
//!
//! Nothing sorts the items themselves: the accounts are sorted by key first (compact
//! [`Entry`]s), and their items are produced in that order, into one list per category
//! (see `analysis::Out`); the lists are then joined in category order. Within a category
//! two items of different accounts never share a key (a key shared by accounts makes them
//! all `conflict`s, which have no service), so key order, then the account's content,
//! is the full order; an account's `duplicate` items are put in service id order.

use std::cmp::Ordering;

use super::index::{Halves, Keyed};
use super::split::Entry;
use crate::module::RemoteAccount;

/// The full order of two account entries: rank, key, the account's content, its index.
fn entry_cmp(
    a: &Entry,
    b: &Entry,
    keys: &Halves<Keyed<'_>>,
    accounts: &[RemoteAccount],
) -> Ordering {
    a.rank.cmp(&b.rank).then_with(|| {
        let (x, y) = (a.ai as usize, b.ai as usize);
        let key = |i: usize| keys[i].key.as_deref().unwrap_or("");
        key(x)
            .cmp(key(y))
            .then_with(|| remote_order(Some(&accounts[x])).cmp(&remote_order(Some(&accounts[y]))))
            .then(x.cmp(&y))
    })
}

/// The entries of `sources` in key order (see [`entry_cmp`]): scattered by their key's
/// first byte into buckets (one sequential pass), then each bucket — small enough to stay
/// in cache — sorted by rank, and runs of equal rank (rare) by the full order.
pub(super) fn sort_entries(
    sources: &[&[Entry]],
    keys: &Halves<Keyed<'_>>,
    accounts: &[RemoteAccount],
) -> Vec<Entry> {
    let bucket = |e: &Entry| (e.rank.0 >> 56) as usize;
    let mut starts = [0usize; 257];
    for e in sources.iter().flat_map(|s| s.iter()) {
        starts[bucket(e) + 1] += 1;
    }
    for b in 0..256 {
        starts[b + 1] += starts[b];
    }
    let mut out = vec![Entry::default(); starts[256]];
    let mut next = starts;
    for e in sources.iter().flat_map(|s| s.iter()) {
        let b = bucket(e);
        out[next[b]] = *e;
        next[b] += 1;
    }
    for b in 0..256 {
        let part = &mut out[starts[b]..starts[b + 1]];
        if part.len() < 2 {
            continue;
        }
        // One integer: a primitive comparison that the sort's partitioning does without
        // branches (comparing the pair cost several times more).
        part.sort_unstable_by_key(|e| (u128::from(e.rank.0) << 64) | u128::from(e.rank.1));
        let mut start = 0;
        while start < part.len() {
            let r = part[start].rank;
            let end = start + part[start..].iter().take_while(|e| e.rank == r).count();
            if end - start > 1 {
                part[start..end].sort_unstable_by(|a, b| entry_cmp(a, b, keys, accounts));
            }
            start = end;
        }
    }
    out
}

/// A total order on remote accounts by content, so that ties sort the same whatever the
/// input order.
pub(super) fn remote_order(a: Option<&RemoteAccount>) -> impl Ord + '_ {
    a.map(|a| {
        (
            (
                a.unique_identifier.as_str(),
                a.username.as_str(),
                a.domain.as_str(),
                a.product.as_str(),
            ),
            (
                a.primary_ip.as_str(),
                a.status.as_str(),
                a.created,
                a.email.as_deref(),
                a.owner.as_deref(),
                a.status_detail.as_deref(),
                // Last: two accounts may differ in nothing but how leniently they were read.
                a.notes.as_slice(),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::sort_entries;
    use crate::analysis::index::{Halves, Keyed};
    use crate::analysis::split::Entry;
    use crate::analysis::tests::acct;

    proptest! {
        /// The bucketed sort of entries from two sources equals a plain sort by key, then
        /// account content, then index.
        #[test]
        fn sorted_entries_are_in_key_order(
            raw in prop::collection::vec(("[a-c\\x00]{0,20}", 0u8..3), 0..80),
            split in 0usize..80,
        ) {
            let keys: Halves<Keyed<'_>> = raw
                .iter()
                .map(|(k, _)| Keyed::new((!k.is_empty()).then_some(Cow::Borrowed(k.as_str()))))
                .collect::<Vec<_>>()
                .into();
            let accounts: Vec<_> = raw
                .iter()
                .map(|(k, u)| acct(k, &format!("u{u}"), "basic"))
                .collect();
            let entries: Vec<Entry> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| Entry { rank: k.rank, ai: i as u32, slot: 0 })
                .collect();
            let (a, b) = entries.split_at(split.min(entries.len()));
            let got: Vec<u32> = sort_entries(&[a, b], &keys, &accounts)
                .iter()
                .map(|e| e.ai)
                .collect();
            let mut want: Vec<u32> = (0..raw.len() as u32).collect();
            want.sort_by(|&x, &y| {
                let (x, y) = (x as usize, y as usize);
                let key = |i: usize| keys[i].key.as_deref().unwrap_or("");
                key(x)
                    .cmp(key(y))
                    .then(raw[x].1.cmp(&raw[y].1))
                    .then(x.cmp(&y))
            });
            prop_assert_eq!(got, want);
        }
    }
}
