//! The deterministic order of the analysis' items: category, identifier key, service id,
//! then the remote account's own fields, whatever the input order.

use std::cmp::Ordering;

use super::{AnalysisInput, BillingRef, Item};
use crate::model::ServiceId;
use crate::module::RemoteAccount;

/// From this many items on, [`sort_items`] sorts on two threads when it may (below it the
/// thread costs more than it saves).
const PARALLEL_SORT_FROM: usize = 20_000;

/// Marks a position of the permutation that holds its final item.
const DONE: u32 = u32::MAX;

/// Deterministic order whatever the input order: category, key, service id, then the remote
/// account's own fields. Sorts a compact array (two halves on two threads when `threads` ≥ 2,
/// then merged) and moves each item once, in place.
pub(super) fn sort_items(input: &AnalysisInput<'_>, items: &mut [Item], threads: usize) {
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
    let items_ro: &[Item] = items;
    let cmp = |a: &(u128, u32), b: &(u128, u32)| -> Ordering {
        a.0.cmp(&b.0).then_with(|| {
            let (x, y) = (&items_ro[a.1 as usize], &items_ro[b.1 as usize]);
            x.key
                .cmp(&y.key)
                .then_with(|| service_id(x).cmp(&service_id(y)))
                .then_with(|| {
                    remote_order(x.remote.map(|i| &input.accounts[i]))
                        .cmp(&remote_order(y.remote.map(|i| &input.accounts[i])))
                })
        })
    };
    let mut order: Vec<(u128, u32)> = items_ro
        .iter()
        .enumerate()
        .map(|(i, it)| (rank(it), i as u32))
        .collect();
    // Sorted by the integer alone first (a primitive comparison the sort's branchless
    // partitioning handles well; the tie-aware closure cost several times more per
    // comparison), then each run of equal integers by the full order.
    let sort = |part: &mut [(u128, u32)]| {
        part.sort_unstable_by_key(|o| o.0);
        let mut start = 0;
        while start < part.len() {
            let r = part[start].0;
            let end = start + part[start..].iter().take_while(|o| o.0 == r).count();
            if end - start > 1 {
                part[start..end].sort_unstable_by(cmp);
            }
            start = end;
        }
    };
    let perm: Vec<u32> = if threads >= 2 && order.len() >= PARALLEL_SORT_FROM {
        let mid = order.len() / 2;
        let (a, b) = order.split_at_mut(mid);
        std::thread::scope(|sc| {
            let h = sc.spawn(|| sort(b));
            sort(a);
            h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
        merge(&order[..mid], &order[mid..], cmp)
    } else {
        sort(&mut order);
        order.into_iter().map(|o| o.1).collect()
    };
    permute(items, perm);
}

/// The item indexes of two sorted runs, merged in order.
fn merge(
    a: &[(u128, u32)],
    b: &[(u128, u32)],
    cmp: impl Fn(&(u128, u32), &(u128, u32)) -> Ordering,
) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if cmp(&b[j], &a[i]) == Ordering::Less {
            out.push(b[j].1);
            j += 1;
        } else {
            out.push(a[i].1);
            i += 1;
        }
    }
    out.extend(a[i..].iter().map(|o| o.1));
    out.extend(b[j..].iter().map(|o| o.1));
    out
}

/// Rearranges `items` so that position `k` holds the item that was at `perm[k]`, in place
/// along the permutation's cycles: no second array of items (a fresh one of a million items
/// cost more in page faults than the swaps' random accesses), each item moved once.
fn permute<T>(items: &mut [T], mut perm: Vec<u32>) {
    for start in 0..perm.len() {
        let mut j = start;
        let mut src = perm[j];
        if src == DONE {
            continue;
        }
        // Position `j` still needs the item at `src`, which has not moved yet: every item of
        // a cycle moves only when its own position is reached.
        while src as usize != start {
            items.swap(j, src as usize);
            perm[j] = DONE;
            j = src as usize;
            src = perm[j];
        }
        perm[j] = DONE;
    }
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
    use proptest::prelude::*;

    use super::{merge, permute};

    proptest! {
        /// The in-place permutation equals the plain gather `perm.map(|i| items[i])`.
        #[test]
        fn permute_equals_the_gather(perm in (0usize..200).prop_flat_map(|n| {
            Just((0..n as u32).collect::<Vec<u32>>()).prop_shuffle()
        })) {
            let items: Vec<String> = (0..perm.len()).map(|i| format!("item{i}")).collect();
            let want: Vec<String> = perm.iter().map(|&i| items[i as usize].clone()).collect();
            let mut got = items;
            permute(&mut got, perm);
            prop_assert_eq!(got, want);
        }

        /// Merging two sorted runs gives the indexes of the sorted whole.
        #[test]
        fn merge_of_sorted_halves_is_sorted(
            mut a in prop::collection::vec(0u128..50, 0..60),
            mut b in prop::collection::vec(0u128..50, 0..60),
        ) {
            a.sort_unstable();
            b.sort_unstable();
            let a: Vec<(u128, u32)> = a.into_iter().enumerate().map(|(i, r)| (r, i as u32)).collect();
            let b: Vec<(u128, u32)> = b
                .into_iter()
                .enumerate()
                .map(|(i, r)| (r, (a.len() + i) as u32))
                .collect();
            let all: Vec<(u128, u32)> = a.iter().chain(&b).copied().collect();
            let merged = merge(&a, &b, |x, y| x.0.cmp(&y.0));
            let ranks: Vec<u128> = merged.iter().map(|&i| all[i as usize].0).collect();
            let mut want: Vec<u128> = all.iter().map(|o| o.0).collect();
            want.sort_unstable();
            prop_assert_eq!(ranks, want);
            let mut seen = merged.clone();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..all.len() as u32).collect::<Vec<u32>>());
        }
    }
}
