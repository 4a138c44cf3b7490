//! The analysis' key index: every normalised identifier key of both sides in one hash table,
//! each key hashed once (in the pass that normalises it, while its text is in cache) and
//! looked up once per record.
//!
//! Keys come from our own panels and billing, so the hash is FxHash (rustc's) with a
//! splitmix64 finaliser instead of SipHash: flooding resistance buys nothing here and SipHash
//! cost most of the index time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// "No index" in the `u32` links below.
pub(super) const NONE: u32 = u32::MAX;

/// FxHash of a key's bytes, finalised so that the low bits (which pick hashbrown's bucket)
/// and the top seven (its tag) are both well mixed.
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

/// The first 16 bytes of a key, big-endian and zero-padded, as two integers: they order like
/// the key itself up to ties (keys sharing those 16 bytes, or differing only in trailing
/// zero bytes), so that sorting by key rarely reads a key's text.
pub(super) type Rank = (u64, u64);

/// The [`Rank`] of a key's bytes.
#[inline]
pub(super) fn rank_of(k: &[u8]) -> Rank {
    let mut b = [0u8; 16];
    let n = k.len().min(16);
    b[..n].copy_from_slice(&k[..n]);
    let (mut hi, mut lo) = ([0u8; 8], [0u8; 8]);
    hi.copy_from_slice(&b[..8]);
    lo.copy_from_slice(&b[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
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

impl Hash for HKey<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

impl PartialEq for HKey<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.hash == o.hash && self.s == o.s
    }
}

impl Eq for HKey<'_> {}

/// Passes [`HKey`]'s precomputed hash through.
#[derive(Default)]
pub(super) struct PassHasher(u64);

impl Hasher for PassHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached by keys other than `HKey` (none today): hash them properly anyway.
        self.0 ^= std::str::from_utf8(bytes).map_or(bytes.len() as u64, hash_key);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map on precomputed hashes.
pub(super) type HMap<'a, V> = HashMap<HKey<'a>, V, BuildHasherDefault<PassHasher>>;

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
pub(super) struct KeyIndex<'a> {
    map: HMap<'a, u32>,
    pub slots: Vec<Slot>,
    /// Per service: the next service (in input order) with the same key.
    next: Vec<u32>,
}

impl<'a> KeyIndex<'a> {
    /// Sized from the local record counts (`services` links, about `keys` distinct keys).
    pub fn new(services: usize, keys: usize) -> Self {
        KeyIndex {
            map: HashMap::with_capacity_and_hasher(keys, Default::default()),
            slots: Vec::with_capacity(keys),
            next: vec![NONE; services],
        }
    }

    fn slot(&mut self, key: HKey<'a>) -> u32 {
        let slots = &mut self.slots;
        *self.map.entry(key).or_insert_with(|| {
            slots.push(Slot {
                first: NONE,
                last: NONE,
                remote: 0,
                first_id: NONE,
            });
            (slots.len() - 1) as u32
        })
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
        self.map.get(&key).copied()
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

/// Maps `f` over `items` (touching ahead with `warm`, see [`touch`]), on two threads when
/// `threads` ≥ 2 (the halves are joined in order, so the result does not depend on the
/// split). The first half is written straight into the result; only the second is copied.
pub(super) fn map_split<'a, T: Sync, R: Send>(
    items: &'a [T],
    threads: usize,
    warm: impl Fn(&'a T) -> u8 + Sync,
    f: impl Fn(&'a T) -> R + Sync,
) -> Vec<R> {
    let mut out: Vec<R> = Vec::with_capacity(items.len());
    if threads < 2 || items.len() < 2 {
        map_warm(items, &warm, &f, &mut out);
        return out;
    }
    let mid = items.len() / 2;
    let (a, b) = items.split_at(mid);
    std::thread::scope(|sc| {
        let h = sc.spawn(|| {
            let mut part = Vec::with_capacity(b.len());
            map_warm(b, &warm, &f, &mut part);
            part
        });
        map_warm(a, &warm, &f, &mut out);
        out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
    });
    out
}
