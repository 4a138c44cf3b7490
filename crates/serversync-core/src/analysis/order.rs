//! The deterministic order of the analysis' items: category, identifier key, service id,
//! then the remote account's own fields, whatever the input order.

use super::{AnalysisInput, BillingRef, Item};
use crate::model::ServiceId;
use crate::module::RemoteAccount;

/// Deterministic order whatever the input order: category, key, service id, then the remote
/// account's own fields. Sorts a compact array and moves each item once.
pub(super) fn sort_items(input: &AnalysisInput<'_>, items: &mut Vec<Item>) {
    let service_id = |it: &Item| -> Option<ServiceId> {
        it.billing.map(|b| match b {
            BillingRef::ThisServer(i) => input.services[i].service.id,
            BillingRef::OtherServer(i) => input.other_live[i].service.id,
        })
    };
    // One integer orders almost all items: the category in the top byte, then the key's
    // first 15 bytes, big-endian and zero-padded (which order like the key itself up to
    // ties). Only ties read the items again (full key, service id, account), so the sort
    // moves 32-byte entries and rarely touches a key's text.
    let rank = |it: &Item| -> u128 {
        let mut b = [0u8; 16];
        b[0] = it.category as u8;
        let k = it.key.as_bytes();
        let n = k.len().min(15);
        b[1..=n].copy_from_slice(&k[..n]);
        u128::from_be_bytes(b)
    };
    let mut order: Vec<(u128, u32)> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (rank(it), i as u32))
        .collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            let (x, y) = (&items[a.1 as usize], &items[b.1 as usize]);
            x.key
                .cmp(&y.key)
                .then_with(|| service_id(x).cmp(&service_id(y)))
                .then_with(|| {
                    remote_order(x.remote.map(|i| &input.accounts[i]))
                        .cmp(&remote_order(y.remote.map(|i| &input.accounts[i])))
                })
        })
    });
    let perm: Vec<u32> = order.into_iter().map(|o| o.1).collect();
    // A gather (independent random reads, sequential writes) rather than swaps along the
    // permutation's cycles (a chain of dependent random accesses).
    let mut slots: Vec<Option<Item>> = std::mem::take(items).into_iter().map(Some).collect();
    items.extend(perm.into_iter().filter_map(|i| slots[i as usize].take()));
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
            ),
        )
    })
}
