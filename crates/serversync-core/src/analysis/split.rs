//! The analysis' key index in two halves by key hash, built on two threads.
//!
//! Building one table of two million keys is serial and bound by memory latency (a cache
//! miss per insert); it was the largest serial phase of a two-thread analysis. A key's half
//! is one bit of its hash, so each half is a complete [`KeyIndex`] of its own keys: each
//! thread reads every key record (sequentially) and inserts only its own, accounts first,
//! then services in input order — so within a key, services chain in input order exactly
//! as in one table, and the result does not depend on the number of threads.

use super::index::{touch, HKey, KeyIndex, Keyed, Slot, BATCH, NONE};
use crate::normalize::strip_www;

/// The slot-id bit naming the half (slot ids stay below 2^31: inputs are counted in `u32`).
const PART_BIT: u32 = 1 << 31;

/// The half of a key: a hash bit that neither hashbrown's bucket (the low bits, for tables
/// up to 2^32 buckets) nor its tag (the top seven) uses.
#[inline]
fn part_of(hash: u64) -> usize {
    ((hash >> 40) & 1) as usize
}

/// The identifier keys of both sides, in two halves by hash; slot ids carry their half in
/// [`PART_BIT`].
pub(super) struct SplitIndex<'a> {
    parts: [KeyIndex<'a>; 2],
}

/// What [`SplitIndex::build`] produces besides the index.
pub(super) struct Built<'a> {
    pub index: SplitIndex<'a>,
    /// Per account: its key's slot id (`NONE` without a key).
    pub remote_slot: Vec<u32>,
    /// The services (ascending) whose key starts with a `www.` label that a fallback match
    /// may strip (see [`strip_www`]) and that no account carries exactly: the candidates of
    /// the `www.` fallback. Found while each key's text is in cache for its insert.
    pub www: Vec<u32>,
}

/// One half: its index, its accounts' slots (`NONE` for the other half's) and its `www.`
/// candidates.
type Part<'a> = (KeyIndex<'a>, Vec<u32>, Vec<u32>);

impl<'a> SplitIndex<'a> {
    /// Indexes `remote` (account keys) and `services` (service keys), on two threads when
    /// `threads` ≥ 2; `www` asks for the `www.` candidates (domain identifiers only).
    pub fn build(
        remote: &'a [Keyed<'a>],
        services: &'a [Keyed<'a>],
        threads: usize,
        www: bool,
    ) -> Built<'a> {
        let (p0, p1) = if threads >= 2 && remote.len() + services.len() >= 2 {
            std::thread::scope(|sc| {
                let h = sc.spawn(|| build_part(1, remote, services, www));
                let p0 = build_part(0, remote, services, www);
                (
                    p0,
                    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                )
            })
        } else {
            (
                build_part(0, remote, services, www),
                build_part(1, remote, services, www),
            )
        };
        let (i0, s0, w0) = p0;
        let (i1, s1, w1) = p1;
        let remote_slot = s0
            .iter()
            .zip(&s1)
            .map(|(&a, &b)| {
                if a != NONE {
                    a
                } else if b != NONE {
                    b | PART_BIT
                } else {
                    NONE
                }
            })
            .collect();
        Built {
            index: SplitIndex { parts: [i0, i1] },
            remote_slot,
            www: merge_ascending(&w0, &w1),
        }
    }

    /// The slot of slot id `id` (from [`Built::remote_slot`]).
    pub fn slot(&self, id: u32) -> Slot {
        self.parts[(id >> 31) as usize].slots[(id & !PART_BIT) as usize]
    }

    /// The services of slot id `id` in input order, into `out` (cleared first); returns the
    /// slot's remote count.
    pub fn services(&self, id: u32, out: &mut Vec<usize>) -> u32 {
        self.parts[(id >> 31) as usize].services(id & !PART_BIT, out)
    }

    /// How many remote accounts carry `key`.
    pub fn remote_count(&self, key: HKey<'_>) -> u32 {
        self.parts[part_of(key.hash)].remote_count(key)
    }
}

/// The half `part` of the index: its accounts' keys, then its services' keys in input order.
fn build_part<'a>(
    part: usize,
    remote: &'a [Keyed<'a>],
    services: &'a [Keyed<'a>],
    www: bool,
) -> Part<'a> {
    let mine = |k: &'a Keyed<'a>| k.get().filter(|h| part_of(h.hash) == part);
    // Sized for half of the larger side plus a margin for the keys the other side lacks.
    let (na, ns) = (remote.len(), services.len());
    let mut index = KeyIndex::new(ns, (na.max(ns) + na.min(ns) / 8) / 2 + 16);
    // Accounts first, so that slot numbers follow account order and the per-account pass
    // reads the slots front to back; each account keeps its slot: no second lookup.
    let slots: Vec<u32> = remote
        .iter()
        .map(|k| mine(k).map_or(NONE, |h| index.add_remote(h)))
        .collect();
    let mut www_candidates = Vec::new();
    // A service's key usually matches an account's, and the table then compares the texts:
    // touch each batch's own key texts ahead (see `touch`).
    for (c, chunk) in services.chunks(BATCH).enumerate() {
        let warm = chunk
            .iter()
            .fold(0u8, |acc, k| acc ^ mine(k).map_or(0, |h| touch(h.s)));
        std::hint::black_box(warm);
        for (j, k) in chunk.iter().enumerate() {
            let Some(h) = mine(k) else { continue };
            let i = c * BATCH + j;
            let id = index.add_service(h, i);
            // Every account is in already: the remote count is final. The `www.` fallback
            // may only pick a service no remote account matches exactly.
            if www && index.slots[id as usize].remote == 0 && strip_www(h.s).is_some() {
                www_candidates.push(i as u32);
            }
        }
    }
    (index, slots, www_candidates)
}

/// Two ascending lists as one.
fn merge_ascending(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j] < a[i] {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{merge_ascending, SplitIndex};
    use crate::analysis::index::{HKey, Keyed, NONE};

    fn keyed<'a>(keys: &[&'a str]) -> Vec<Keyed<'a>> {
        keys.iter()
            .map(|k| Keyed::new((!k.is_empty()).then_some(Cow::Borrowed(*k))))
            .collect()
    }

    /// Both halves together answer like one table, on one thread and on two: each account's
    /// slot lists its key's services in input order with the key's remote count.
    #[test]
    fn split_index_answers_like_one_table() {
        let words: Vec<String> = (0..300).map(|i| format!("k{}.test", i % 97)).collect();
        let remote: Vec<&str> = words
            .iter()
            .step_by(2)
            .map(String::as_str)
            .chain(["", "www.k1.test"])
            .collect();
        let services: Vec<&str> = words
            .iter()
            .skip(1)
            .step_by(3)
            .map(String::as_str)
            .chain(["www.k3.test", "www.alone.test", "www.k1.test", ""])
            .collect();
        let (rk, sk) = (keyed(&remote), keyed(&services));
        for threads in [1, 2] {
            let built = SplitIndex::build(&rk, &sk, threads, true);
            let mut out = Vec::new();
            for (ai, key) in remote.iter().enumerate() {
                let slot = built.remote_slot[ai];
                if key.is_empty() {
                    assert_eq!(slot, NONE);
                    continue;
                }
                let count = built.index.services(slot, &mut out);
                let want: Vec<usize> = (0..services.len())
                    .filter(|&i| services[i] == *key)
                    .collect();
                assert_eq!(out, want, "{key}");
                let want_count = remote.iter().filter(|k| *k == key).count() as u32;
                assert_eq!(count, want_count, "{key}");
                assert_eq!(built.index.remote_count(HKey::of(key)), want_count);
                assert_eq!(built.index.slot(slot).remote, want_count);
            }
            assert_eq!(built.index.remote_count(HKey::of("absent.test")), 0);
            // `www.k1.test` is an account's key; `www.k3.test` and `www.alone.test` are not.
            let n = services.len() as u32;
            assert_eq!(built.www, vec![n - 4, n - 3]);
        }
    }

    #[test]
    fn merge_ascending_keeps_order() {
        assert_eq!(
            merge_ascending(&[1, 4, 9], &[0, 5, 10, 11]),
            vec![0, 1, 4, 5, 9, 10, 11]
        );
        assert_eq!(merge_ascending(&[], &[2]), vec![2]);
    }
}
