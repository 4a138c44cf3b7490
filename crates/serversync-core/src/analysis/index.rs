//! The analysis' key index: every normalised identifier key of both sides in one hash table,
//! each key hashed once (in the pass that normalises it, while its text is in cache) and
//! looked up once per record.
//!
//! Keys come from our own panels and billing, so the hash is FxHash (rustc's) with a
//! splitmix64 finaliser instead of SipHash: flooding resistance buys nothing here and SipHash
//! cost most of the index time.

use std::borrow::Cow;

/// "No index" in the `u32` links below.
pub(super) const NONE: u32 = u32::MAX;

/// FxHash of a key's bytes, finalised so that every bit is well mixed (the low bits pick a
/// [`KeyIndex`] bucket, bits 40 on a part of the split index).
#[inline]
pub(super) fn hash_key(s: &str) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let bytes = s.as_bytes();
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    if !chunks.remainder().is_empty() {
        h = (h.rotate_left(5) ^ tail_le(bytes)).wrapping_mul(K);
    }
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 8 bytes of `b` from `i`, little-endian (a fixed-size copy: one load).
#[inline]
fn le_at(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The last `b.len() % 8` bytes of `b`, little-endian and zero-padded:
/// the word ending at the end shifted when there is one (no variable-length copy, which is
/// a call to `memcpy`), else byte by byte.
#[inline]
fn tail_le(b: &[u8]) -> u64 {
    let r = b.len() % 8;
    if b.len() >= 8 {
        // No tail (`r` = 0) shifts every byte out.
        le_at(b, b.len() - 8)
            .checked_shr(8 * (8 - r as u32))
            .unwrap_or(0)
    } else {
        b.iter()
            .enumerate()
            .fold(0u64, |w, (k, &c)| w | (u64::from(c) << (8 * k)))
    }
}

/// The first 16 bytes of a key, big-endian and zero-padded, as two integers: they order like
/// the key itself up to ties (keys sharing those 16 bytes, or differing only in trailing
/// zero bytes), so that sorting by key rarely reads a key's text.
pub(super) type Rank = (u64, u64);

/// The [`Rank`] of a key's bytes.
#[inline]
pub(super) fn rank_of(k: &[u8]) -> Rank {
    // Big-endian words are the byte-swapped little-endian ones; the zero padding of a short
    // word is at its low end.
    let word = |from: usize| -> u64 {
        let part = &k[from.min(k.len())..];
        if part.len() >= 8 {
            le_at(part, 0).swap_bytes()
        } else if part.is_empty() {
            0
        } else {
            tail_le(part).swap_bytes()
        }
    };
    (word(0), word(8))
}

/// A record's normalised identifier key, its hash and its [`Rank`] (`None`: no usable
/// identifier; hash and rank 0).
pub(super) struct Keyed<'a> {
    pub key: Option<Cow<'a, str>>,
    pub hash: u64,
    pub rank: Rank,
}

impl<'a> Keyed<'a> {
    /// Hashes and ranks the key while its text is in cache.
    pub fn new(key: Option<Cow<'a, str>>) -> Self {
        let (hash, rank) = key
            .as_deref()
            .map_or((0, (0, 0)), |k| (hash_key(k), rank_of(k.as_bytes())));
        Keyed { key, hash, rank }
    }
    pub fn get(&self) -> Option<HKey<'_>> {
        self.key.as_deref().map(|s| HKey { hash: self.hash, s })
    }
}

/// A key with its precomputed hash: the table hashes nothing, and compares the text only
/// when the full 64-bit hashes agree.
#[derive(Clone, Copy)]
pub(super) struct HKey<'a> {
    pub hash: u64,
    pub s: &'a str,
}

impl<'a> HKey<'a> {
    pub fn of(s: &'a str) -> Self {
        HKey {
            hash: hash_key(s),
            s,
        }
    }
}

/// One distinct key: its services (a chain through [`KeyIndex::next`], in input order) and
/// how many remote accounts carry it.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    pub first: u32,
    pub last: u32,
    pub remote: u32,
    /// The caller's own id of the first service (a part of a split index numbers its
    /// services locally, and keeps the service index here: no second lookup for the common
    /// key with one service); `NONE` unless the caller sets it.
    pub first_id: u32,
}

/// Every key of one side or both, each once; a record refers to its key by slot number.
///
/// The table is open addressing with linear probing over the keys' precomputed hashes
/// (bucket: the hash's low bits; a key's text is compared only when the full 64-bit hashes
/// agree): a general map's entry API cost several times the instructions per insert.
pub(super) struct KeyIndex<'a> {
    /// Per bucket: a key's hash and slot, or `EMPTY`.
    table: Vec<(u64, u32)>,
    /// Per slot: its key.
    keys: Vec<&'a str>,
    pub slots: Vec<Slot>,
    /// Per service: the next service (in input order) with the same key.
    next: Vec<u32>,
}

/// An empty bucket of [`KeyIndex::table`].
const EMPTY: (u64, u32) = (0, NONE);

/// A table of at least 4/3 of `keys` buckets, a power of two (the load stays ≤ 3/4).
fn table_for(keys: usize) -> Vec<(u64, u32)> {
    vec![EMPTY; (keys + keys / 3 + 1).next_power_of_two().max(8)]
}

impl<'a> KeyIndex<'a> {
    /// Sized from the local record counts (`services` links, about `keys` distinct keys).
    pub fn new(services: usize, keys: usize) -> Self {
        KeyIndex {
            table: table_for(keys),
            keys: Vec::with_capacity(keys),
            slots: Vec::with_capacity(keys),
            next: vec![NONE; services],
        }
    }

    /// The bucket holding `key`, or the empty bucket where it would go.
    #[inline]
    fn bucket(&self, key: HKey<'_>) -> usize {
        let mask = self.table.len() - 1;
        let mut b = key.hash as usize & mask;
        loop {
            let (h, slot) = self.table[b];
            if slot == NONE || (h == key.hash && self.keys[slot as usize] == key.s) {
                return b;
            }
            b = (b + 1) & mask;
        }
    }

    /// [`touch`] of the text of the first key in the table with `key`'s hash (0 if none):
    /// its cache miss can then overlap with others before the real lookup compares it.
    #[inline]
    pub fn touch_match(&self, key: HKey<'_>) -> u8 {
        let mask = self.table.len() - 1;
        let mut b = key.hash as usize & mask;
        loop {
            let (h, slot) = self.table[b];
            if slot == NONE {
                return 0;
            }
            if h == key.hash {
                return touch(self.keys[slot as usize]);
            }
            b = (b + 1) & mask;
        }
    }

    fn slot(&mut self, key: HKey<'a>) -> u32 {
        let b = self.bucket(key);
        let (_, slot) = self.table[b];
        if slot != NONE {
            return slot;
        }
        let id = self.slots.len() as u32;
        self.table[b] = (key.hash, id);
        self.keys.push(key.s);
        self.slots.push(Slot {
            first: NONE,
            last: NONE,
            remote: 0,
            first_id: NONE,
        });
        if self.slots.len() * 4 > self.table.len() * 3 {
            self.grow();
        }
        id
    }

    /// Doubles the table (more keys than sized for), re-placing every key by its hash.
    fn grow(&mut self) {
        let size = self.table.len() * 2;
        let old = std::mem::replace(&mut self.table, vec![EMPTY; size]);
        let mask = self.table.len() - 1;
        for (h, slot) in old.into_iter().filter(|&(_, s)| s != NONE) {
            let mut b = h as usize & mask;
            while self.table[b].1 != NONE {
                b = (b + 1) & mask;
            }
            self.table[b] = (h, slot);
        }
    }

    /// Counts a remote account with `key`; returns the key's slot.
    pub fn add_remote(&mut self, key: HKey<'a>) -> u32 {
        let id = self.slot(key);
        self.slots[id as usize].remote += 1;
        id
    }

    /// Adds service `i` (services are added in input order); returns the key's slot.
    pub fn add_service(&mut self, key: HKey<'a>, i: usize) -> u32 {
        let id = self.slot(key);
        let slot = &mut self.slots[id as usize];
        if slot.last == NONE {
            slot.first = i as u32;
        } else {
            self.next[slot.last as usize] = i as u32;
        }
        slot.last = i as u32;
        id
    }

    /// The slot of `key`, if any record has it.
    pub fn find(&self, key: HKey<'_>) -> Option<u32> {
        let (_, slot) = self.table[self.bucket(key)];
        (slot != NONE).then_some(slot)
    }

    /// How many remote accounts carry `key`.
    pub fn remote_count(&self, key: HKey<'_>) -> u32 {
        self.find(key)
            .map_or(0, |id| self.slots[id as usize].remote)
    }

    /// The services of slot `id` in input order, into `out` (cleared first); returns the
    /// slot's remote count.
    pub fn services(&self, id: u32, out: &mut Vec<usize>) -> u32 {
        out.clear();
        let slot = self.slots[id as usize];
        if slot.first == slot.last {
            // None or one service (the common case): no read of `next`, a cache miss each.
            if slot.first != NONE {
                out.push(slot.first as usize);
            }
            return slot.remote;
        }
        let mut i = slot.first;
        while i != NONE {
            out.push(i as usize);
            i = self.next[i as usize];
        }
        slot.remote
    }

    /// [`KeyIndex::services`] by key; 0 and no services when no record has it.
    pub fn get(&self, key: HKey<'_>, out: &mut Vec<usize>) -> u32 {
        match self.find(key) {
            Some(id) => self.services(id, out),
            None => {
                out.clear();
                0
            }
        }
    }
}

/// How many records are touched ahead of their processing (see [`touch`]).
pub(super) const BATCH: usize = 32;

/// One byte of `s` (0 if empty), to be folded into a value given to
/// [`std::hint::black_box`]. The analysis is bound by memory latency: each record's strings
/// are separate heap blocks, first read at random. Reading one byte of each string of a
/// batch of records in a tight loop has all their cache misses in flight at once; the real
/// work on the batch then finds them in cache (safe code cannot issue prefetch instructions).
#[inline]
pub(super) fn touch(s: &str) -> u8 {
    s.as_bytes().first().copied().unwrap_or(0)
}

/// `items.map(f)` appended to `out`, touching each batch of records ahead (`warm` returns
/// the [`touch`]es of one record).
fn map_warm<'a, T, R>(
    items: &'a [T],
    warm: &(impl Fn(&'a T) -> u8 + Sync),
    f: &(impl Fn(&'a T) -> R + Sync),
    out: &mut Vec<R>,
) {
    for chunk in items.chunks(BATCH) {
        let mut acc = 0u8;
        for it in chunk {
            acc ^= warm(it);
        }
        std::hint::black_box(acc);
        out.extend(chunk.iter().map(f));
    }
}

/// What [`map_split`] produces: the results in input order, as the two halves the threads
/// wrote (joining them into one vector would copy the second half, serially).
pub(super) struct Halves<R> {
    first: Vec<R>,
    second: Vec<R>,
}

impl<R> Halves<R> {
    pub fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    /// Every result, in input order.
    pub fn iter(&self) -> impl Iterator<Item = &R> {
        self.first.iter().chain(&self.second)
    }
}

impl<R> From<Vec<R>> for Halves<R> {
    fn from(first: Vec<R>) -> Self {
        Halves {
            first,
            second: Vec::new(),
        }
    }
}

impl<R> std::ops::Index<usize> for Halves<R> {
    type Output = R;
    #[inline]
    fn index(&self, i: usize) -> &R {
        match i.checked_sub(self.first.len()) {
            None => &self.first[i],
            Some(j) => &self.second[j],
        }
    }
}

/// Maps `f` over `items` (touching ahead with `warm`, see [`touch`]), on two threads when
/// `threads` ≥ 2 (the halves are kept in order, so the result does not depend on the split).
pub(super) fn map_split<'a, T: Sync, R: Send>(
    items: &'a [T],
    threads: usize,
    warm: impl Fn(&'a T) -> u8 + Sync,
    f: impl Fn(&'a T) -> R + Sync,
) -> Halves<R> {
    let map = |part: &'a [T]| {
        let mut out = Vec::with_capacity(part.len());
        map_warm(part, &warm, &f, &mut out);
        out
    };
    if threads < 2 || items.len() < 2 {
        return Halves::from(map(items));
    }
    let (a, b) = items.split_at(items.len() / 2);
    std::thread::scope(|sc| {
        let h = sc.spawn(|| map(b));
        let first = map(a);
        Halves {
            first,
            second: h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{hash_key, rank_of, HKey, KeyIndex};

    /// The previous zero-padded copies, as the oracle of [`rank_of`] and the hash's tail.
    fn rank_reference(k: &[u8]) -> (u64, u64) {
        let mut b = [0u8; 16];
        let n = k.len().min(16);
        b[..n].copy_from_slice(&k[..n]);
        let (mut hi, mut lo) = ([0u8; 8], [0u8; 8]);
        hi.copy_from_slice(&b[..8]);
        lo.copy_from_slice(&b[8..]);
        (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
    }

    fn hash_reference(s: &str) -> u64 {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let bytes = s.as_bytes();
        let mut h = bytes.len() as u64;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut tail = [0u8; 8];
            tail[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
        }
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    proptest! {
        /// Rank and hash read words without variable-length copies, with the same values.
        #[test]
        fn rank_and_hash_equal_the_padded_copies(s in "[a-z\\x00ü]{0,40}") {
            prop_assert_eq!(rank_of(s.as_bytes()), rank_reference(s.as_bytes()));
            prop_assert_eq!(hash_key(&s), hash_reference(&s));
        }
    }

    /// A table sized for far fewer keys grows and still finds every key, with its services
    /// in input order and its remote count.
    #[test]
    fn undersized_table_grows_and_finds_every_key() {
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i}.test")).collect();
        let mut index = KeyIndex::new(2000, 2);
        for (i, k) in keys.iter().enumerate() {
            index.add_service(HKey::of(k), i);
        }
        for (i, k) in keys.iter().enumerate().step_by(3) {
            index.add_remote(HKey::of(k));
            index.add_service(HKey::of(k), 1000 + i);
        }
        assert_eq!(index.slots.len(), 1000);
        let mut out = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let remote = index.get(HKey::of(k), &mut out);
            if i % 3 == 0 {
                assert_eq!((remote, out.clone()), (1, vec![i, 1000 + i]));
            } else {
                assert_eq!((remote, out.clone()), (0, vec![i]));
            }
        }
        assert_eq!(index.find(HKey::of("absent.test")), None);
        assert_eq!(index.remote_count(HKey::of("absent.test")), 0);
    }
}
