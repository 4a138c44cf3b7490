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

use super::index::{touch, HKey, KeyIndex, Keyed, BATCH, NONE};
use crate::normalize::strip_www;

/// About this many keys per part (a table of 32,768 buckets of 32 bytes: 1 MB).
const PART_KEYS: usize = 16_384;
/// At most 2^8 parts: a slot id keeps 24 bits for a part's own slot number.
const MAX_PART_BITS: u32 = 8;

/// The part of a key: `bits` hash bits that neither hashbrown's bucket (the low bits, for
/// tables up to 2^40 buckets) nor its tag (the top seven) uses.
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

/// The records of one side in parts: each record's key and index, in input order per part.
type Buckets<'a> = Vec<Vec<(HKey<'a>, u32)>>;

/// Scatters the records with a key into `1 << bits` parts.
fn scatter<'a>(keys: &'a [Keyed<'a>], bits: u32) -> Buckets<'a> {
    let n = 1usize << bits;
    let mut out: Buckets<'a> = (0..n)
        .map(|_| Vec::with_capacity(keys.len() / n + keys.len() / n / 8 + 8))
        .collect();
    for (i, k) in keys.iter().enumerate() {
        if let Some(h) = k.get() {
            out[part_of(h.hash, bits)].push((h, i as u32));
        }
    }
    out
}

/// One built part, with its accounts' local slots (in bucket order) and `www.` candidates.
type BuiltPart<'a> = (Part<'a>, Vec<u32>, Vec<u32>);

impl<'a> SplitIndex<'a> {
    /// Indexes `remote` (account keys) and `services` (service keys), on two threads when
    /// `threads` ≥ 2; `www` asks for the `www.` candidates (domain identifiers only).
    pub fn build(
        remote: &'a [Keyed<'a>],
        services: &'a [Keyed<'a>],
        threads: usize,
        www: bool,
    ) -> Built<'a> {
        let bits = part_bits(remote.len() + services.len());
        let parallel = threads >= 2 && remote.len() + services.len() >= 2 * PART_KEYS;
        let (rb, sb) = if parallel {
            std::thread::scope(|sc| {
                let h = sc.spawn(|| scatter(services, bits));
                let rb = scatter(remote, bits);
                (
                    rb,
                    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                )
            })
        } else {
            (scatter(remote, bits), scatter(services, bits))
        };
        let n = 1usize << bits;
        let build_range = |r: std::ops::Range<usize>| -> Vec<BuiltPart<'a>> {
            r.map(|p| build_part(&rb[p], &sb[p], www)).collect()
        };
        let built: Vec<BuiltPart<'a>> = if parallel {
            std::thread::scope(|sc| {
                let h = sc.spawn(|| build_range(n / 2..n));
                let mut first = build_range(0..n / 2);
                first.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
                first
            })
        } else {
            build_range(0..n)
        };
        let mut remote_slot = vec![NONE; remote.len()];
        let mut www_all = Vec::new();
        let mut parts = Vec::with_capacity(n);
        for (p, ((part, local, w), bucket)) in built.into_iter().zip(&rb).enumerate() {
            for (&(_, ai), &slot) in bucket.iter().zip(&local) {
                remote_slot[ai as usize] = (slot << bits) | p as u32;
            }
            www_all.extend(w);
            parts.push(part);
        }
        www_all.sort_unstable();
        Built {
            index: SplitIndex { parts, bits },
            remote_slot,
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

/// One part: its accounts' keys, then its services' keys in input order.
fn build_part<'a>(
    remote: &[(HKey<'a>, u32)],
    services: &[(HKey<'a>, u32)],
    www: bool,
) -> BuiltPart<'a> {
    let (na, ns) = (remote.len(), services.len());
    // Sized for the larger side plus a margin for the keys the other side lacks.
    let mut index = KeyIndex::new(ns, na.max(ns) + na.min(ns) / 8 + 8);
    // Accounts first; each account keeps its slot: no second lookup.
    let local: Vec<u32> = remote.iter().map(|&(h, _)| index.add_remote(h)).collect();
    let mut www_candidates = Vec::new();
    // A service's key usually matches an account's, and the table then compares the texts:
    // touch each batch's own key texts ahead (see `touch`).
    for (c, chunk) in services.chunks(BATCH).enumerate() {
        let warm = chunk.iter().fold(0u8, |acc, (h, _)| acc ^ touch(h.s));
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
    (part, local, www_candidates)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{part_bits, SplitIndex};
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
