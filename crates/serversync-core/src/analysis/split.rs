//! The analysis' key index, partitioned by key hash into parts whose tables fit in cache,
//! built on two threads.
//!
//! One table of two million keys costs a cache miss per insert and per lookup (it was the
//! largest serial phase). Here the keys of both sides are first scattered into parts by a few
//! bits of their hash (sequential writes), then each part's table — about 16,000 keys — is
//! built from its part alone while it sits in cache; the parts are independent, so two
//! threads build half of them each. Within a part, accounts come first in account order and
//! then services in input order, so a key's services chain in input order exactly as in one
//! table, and the result depends neither on the number of parts nor on the threads.

use super::index::{touch, HKey, Halves, KeyIndex, Keyed, Rank, BATCH, NONE};
use crate::normalize::strip_www;

/// About this many keys per part (a table of at most 32,768 buckets of 16 bytes: 512 KB).
const PART_KEYS: usize = 16_384;
/// At most 2^8 parts: a slot id keeps 24 bits for a part's own slot number.
const MAX_PART_BITS: u32 = 8;

/// The part of a key: `bits` hash bits that a part's [`KeyIndex`] bucket (the low bits,
/// for tables up to 2^40 buckets) does not use.
#[inline]
fn part_of(hash: u64, bits: u32) -> usize {
    ((hash >> 40) & ((1u64 << bits) - 1)) as usize
}

/// The number of part bits for `keys` keys of both sides: 1 to [`MAX_PART_BITS`].
fn part_bits(keys: usize) -> u32 {
    let mut bits = 1;
    while bits < MAX_PART_BITS && (keys >> bits) > PART_KEYS {
        bits += 1;
    }
    bits
}

/// One part: its table over its keys, and per local service number the service's index.
struct Part<'a> {
    index: KeyIndex<'a>,
    services: Vec<u32>,
}

/// The identifier keys of both sides in parts by hash; a slot id is the part's own slot
/// number shifted left by `bits`, or-ed with the part.
pub(super) struct SplitIndex<'a> {
    parts: Vec<Part<'a>>,
    bits: u32,
}

/// An account in key order's terms: its key's [`Rank`], its index, and its key's slot id
/// in the [`SplitIndex`] (`NONE` without a key; rank 0 then).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Entry {
    pub rank: Rank,
    pub ai: u32,
    pub slot: u32,
}

/// What [`SplitIndex::build`] produces besides the index.
pub(super) struct Built<'a> {
    pub index: SplitIndex<'a>,
    /// Every account as an [`Entry`], unsorted, in two groups: the ranks below `pivot`
    /// and the rest (one pair of lists per building thread). Sorted, the groups follow each
    /// other in key order, so two threads can each produce the items of one group.
    pub groups: Vec<[Vec<Entry>; 2]>,
    /// The services (ascending) whose key starts with a `www.` label that a fallback match
    /// may strip (see [`strip_www`]) and that no account carries exactly: the candidates of
    /// the `www.` fallback. Found while each key's text is in cache for its insert.
    pub www: Vec<u32>,
}

/// An account's key in a part, with its index and rank.
type RemoteRec<'a> = (HKey<'a>, u32, Rank);

/// The records of one side in parts, in input order per part.
type Buckets<T> = Vec<Vec<T>>;

/// Scatters the records with a key into `1 << bits` parts (`rec` makes a part's element);
/// returns the parts and the records without a key.
fn scatter<'a, T>(
    keys: &'a Halves<Keyed<'a>>,
    bits: u32,
    rec: impl Fn(HKey<'a>, u32, &Keyed<'a>) -> T,
) -> (Buckets<T>, Vec<u32>) {
    let n = 1usize << bits;
    let mut out: Buckets<T> = (0..n)
        .map(|_| Vec::with_capacity(keys.len() / n + keys.len() / n / 8 + 8))
        .collect();
    let mut keyless = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match k.get() {
            Some(h) => out[part_of(h.hash, bits)].push(rec(h, i as u32, k)),
            None => keyless.push(i as u32),
        }
    }
    (out, keyless)
}

/// The median rank of an evenly spaced sample of the accounts' keys: the boundary between
/// the two groups of [`Built::groups`] (any value gives the same result; the median gives
/// two threads equal shares).
fn pivot(remote: &Halves<Keyed<'_>>) -> Rank {
    const SAMPLES: usize = 1023;
    if remote.len() == 0 {
        return (0, 0);
    }
    let mut sample: Vec<Rank> = (0..SAMPLES)
        .map(|i| remote[i * remote.len() / SAMPLES].rank)
        .collect();
    sample.sort_unstable();
    sample[SAMPLES / 2]
}

/// One built part range: its parts, its accounts' entries by group, its `www.` candidates.
type BuiltRange<'a> = (Vec<Part<'a>>, [Vec<Entry>; 2], Vec<u32>);

impl<'a> SplitIndex<'a> {
    /// Indexes `remote` (account keys) and `services` (service keys), on two threads when
    /// `threads` ≥ 2; `www` asks for the `www.` candidates (domain identifiers only).
    pub fn build(
        remote: &'a Halves<Keyed<'a>>,
        services: &'a Halves<Keyed<'a>>,
        threads: usize,
        www: bool,
    ) -> Built<'a> {
        let bits = part_bits(remote.len() + services.len());
        let pivot = pivot(remote);
        let parallel = threads >= 2 && remote.len() + services.len() >= 2 * PART_KEYS;
        let scatter_remote = || scatter(remote, bits, |h, i, k| (h, i, k.rank));
        let scatter_services = || scatter(services, bits, |h, i, _| (h, i));
        let ((rb, keyless), (sb, _)) = if parallel {
            std::thread::scope(|sc| {
                let h = sc.spawn(scatter_services);
                let r = scatter_remote();
                (r, h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            })
        } else {
            (scatter_remote(), scatter_services())
        };
        let n = 1usize << bits;
        let build_range = |r: std::ops::Range<usize>| -> BuiltRange<'a> {
            let mut parts = Vec::with_capacity(r.len());
            let mut groups: [Vec<Entry>; 2] = Default::default();
            let mut www_all = Vec::new();
            for p in r {
                let part = build_part(&rb[p], &sb[p], www, p, bits, pivot, &mut groups);
                www_all.extend(part.1);
                parts.push(part.0);
            }
            (parts, groups, www_all)
        };
        let mut built: Vec<BuiltRange<'a>> = if parallel {
            std::thread::scope(|sc| {
                let h = sc.spawn(|| build_range(n / 2..n));
                let first = build_range(0..n / 2);
                vec![
                    first,
                    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                ]
            })
        } else {
            vec![build_range(0..n)]
        };
        // The accounts without a key: rank 0, in the first group unless the pivot is 0.
        if let Some((_, groups, _)) = built.first_mut() {
            let g = usize::from((0, 0) >= pivot);
            groups[g].extend(keyless.into_iter().map(|ai| Entry {
                rank: (0, 0),
                ai,
                slot: NONE,
            }));
        }
        let mut parts = Vec::with_capacity(n);
        let mut groups = Vec::with_capacity(built.len());
        let mut www_all = Vec::new();
        for (p, g, w) in built {
            parts.extend(p);
            groups.push(g);
            www_all.extend(w);
        }
        www_all.sort_unstable();
        Built {
            index: SplitIndex { parts, bits },
            groups,
            www: www_all,
        }
    }

    fn part(&self, id: u32) -> (&Part<'a>, u32) {
        let mask = (1u32 << self.bits) - 1;
        (&self.parts[(id & mask) as usize], id >> self.bits)
    }

    /// The first service (in input order) of slot id `id`, if any.
    pub fn first_service(&self, id: u32) -> Option<usize> {
        let (part, local) = self.part(id);
        let first = part.index.slots[local as usize].first_id;
        (first != NONE).then_some(first as usize)
    }

    /// The services of slot id `id` in input order, into `out` (cleared first); returns the
    /// slot's remote count.
    pub fn services(&self, id: u32, out: &mut Vec<usize>) -> u32 {
        let (part, local) = self.part(id);
        let slot = part.index.slots[local as usize];
        if slot.first == slot.last {
            // None or one service (the common case): its index is in the slot.
            out.clear();
            if slot.first_id != NONE {
                out.push(slot.first_id as usize);
            }
            return slot.remote;
        }
        let remote = part.index.services(local, out);
        for s in out.iter_mut() {
            *s = part.services[*s] as usize;
        }
        remote
    }

    /// How many remote accounts carry `key`.
    pub fn remote_count(&self, key: HKey<'_>) -> u32 {
        self.parts[part_of(key.hash, self.bits)]
            .index
            .remote_count(key)
    }
}

/// One part (number `p` of `1 << bits`): its accounts' keys (each account's [`Entry`] goes
/// to `groups`, by its rank against `pivot`), then its services' keys in input order;
/// returns the part and its `www.` candidates.
fn build_part<'a>(
    remote: &[RemoteRec<'a>],
    services: &[(HKey<'a>, u32)],
    www: bool,
    p: usize,
    bits: u32,
    pivot: Rank,
    groups: &mut [Vec<Entry>; 2],
) -> (Part<'a>, Vec<u32>) {
    let (na, ns) = (remote.len(), services.len());
    // Sized for the larger side plus a margin for the keys the other side lacks.
    let mut index = KeyIndex::new(ns, na.max(ns) + na.min(ns) / 8 + 8);
    // Accounts first; each account's entry keeps its slot id: no second lookup.
    for &(h, ai, rank) in remote {
        let local = index.add_remote(h);
        groups[usize::from(rank >= pivot)].push(Entry {
            rank,
            ai,
            slot: (local << bits) | p as u32,
        });
    }
    let mut www_candidates = Vec::new();
    // A service's key usually matches an account's, and the table then compares the texts:
    // touch each batch's own key texts ahead (see `touch`), and the texts of the keys already
    // in the table that they will be compared with (the table itself is in cache).
    for (c, chunk) in services.chunks(BATCH).enumerate() {
        let warm = chunk
            .iter()
            .fold(0u8, |acc, (h, _)| acc ^ touch(h.s) ^ index.touch_match(*h));
        std::hint::black_box(warm);
        for (j, &(h, si)) in chunk.iter().enumerate() {
            let id = index.add_service(h, c * BATCH + j);
            let slot = &mut index.slots[id as usize];
            if slot.first_id == NONE {
                slot.first_id = si;
            }
            // Every account is in already: the remote count is final. The `www.` fallback
            // may only pick a service no remote account matches exactly.
            if www && index.slots[id as usize].remote == 0 && strip_www(h.s).is_some() {
                www_candidates.push(si);
            }
        }
    }
    let part = Part {
        index,
        services: services.iter().map(|&(_, si)| si).collect(),
    };
    (part, www_candidates)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{part_bits, SplitIndex};
    use crate::analysis::index::{HKey, Halves, Keyed, NONE};

    fn keyed<'a>(keys: &[&'a str]) -> Halves<Keyed<'a>> {
        let all: Vec<Keyed<'a>> = keys
            .iter()
            .map(|k| Keyed::new((!k.is_empty()).then_some(Cow::Borrowed(*k))))
            .collect();
        all.into()
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
            // Every account is in exactly one entry, the first group's ranks below the
            // second's.
            let mut remote_slot = vec![None; rk.len()];
            for groups in &built.groups {
                for e in groups.iter().flatten() {
                    assert_eq!(remote_slot[e.ai as usize].replace(e.slot), None);
                    assert_eq!(e.rank, rk[e.ai as usize].rank);
                }
            }
            let lo = built
                .groups
                .iter()
                .flat_map(|g| &g[0])
                .map(|e| e.rank)
                .max();
            let hi = built
                .groups
                .iter()
                .flat_map(|g| &g[1])
                .map(|e| e.rank)
                .min();
            if let (Some(lo), Some(hi)) = (lo, hi) {
                assert!(lo < hi);
            }
            let mut out = Vec::new();
            for (ai, key) in remote.iter().enumerate() {
                let slot = remote_slot[ai].expect("every account has an entry");
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
                assert_eq!(built.index.first_service(slot), want.first().copied());
            }
            assert_eq!(built.index.remote_count(HKey::of("absent.test")), 0);
            // `www.k1.test` is an account's key; `www.k3.test` and `www.alone.test` are not.
            let n = services.len() as u32;
            assert_eq!(built.www, vec![n - 4, n - 3]);
        }
    }

    #[test]
    fn part_bits_grow_with_the_keys() {
        assert_eq!(part_bits(0), 1);
        assert_eq!(part_bits(40_000), 2);
        assert_eq!(part_bits(2_000_000), 7);
        assert_eq!(part_bits(usize::MAX), 8);
    }
}
