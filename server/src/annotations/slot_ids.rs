//! Which slot holds each annotation id, kept as slot numbers alone: the id itself is
//! already in the slot. A table of `u32`s takes 5 bytes per bucket where a map of
//! `(Uuid, u32)` took 21 (about 10 instead of 44 bytes per annotation at a million), and
//! every byte of it is memory an import or a load first touches.
//!
//! Every method takes the slots the numbers point into; a number in the table must keep
//! its slot's id unchanged (remove it first, change the id, insert it again).

use super::index::Slot;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use uuid::Uuid;

/// Annotation id → slot number, for the slots of one index.
#[derive(Debug, Default)]
pub struct SlotIds {
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl SlotIds {
    fn hash(&self, id: &Uuid) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Files slot `n` under its id; returns the slot that had that id, which it replaces.
    pub fn insert(&mut self, slots: &[Slot], n: u32) -> Option<u32> {
        let id = slots[n as usize].id;
        let hasher = &self.hasher;
        let rehash = |&m: &u32| hasher.hash_one(slots[m as usize].id);
        match self
            .table
            .entry(hasher.hash_one(id), |&m| slots[m as usize].id == id, rehash)
        {
            hashbrown::hash_table::Entry::Occupied(mut held) => {
                Some(std::mem::replace(held.get_mut(), n))
            }
            hashbrown::hash_table::Entry::Vacant(free) => {
                free.insert(n);
                None
            }
        }
    }

    /// The slot filed under `id`.
    #[must_use]
    pub fn get(&self, slots: &[Slot], id: &Uuid) -> Option<u32> {
        self.table
            .find(self.hash(id), |&m| slots[m as usize].id == *id)
            .copied()
    }

    /// Takes `id` out; returns the slot it was filed under.
    pub fn remove(&mut self, slots: &[Slot], id: &Uuid) -> Option<u32> {
        let hash = self.hash(id);
        let held = self
            .table
            .find_entry(hash, |&m| slots[m as usize].id == *id)
            .ok()?;
        Some(held.remove().0)
    }

    /// Files every slot under its new number, `new_of[old]` (the ids, hence the
    /// buckets, stay as they are).
    pub fn renumber(&mut self, new_of: &[u32]) {
        for m in &mut self.table {
            *m = new_of[*m as usize];
        }
    }

    /// Room for `n` more ids without growing.
    pub fn reserve(&mut self, slots: &[Slot], n: usize) {
        let hasher = &self.hasher;
        self.table
            .reserve(n, |&m| hasher.hash_one(slots[m as usize].id));
    }

    /// Heap bytes held: a slot number and a control byte per bucket (a table holds
    /// 7 entries per 8 buckets).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.table.capacity() * 8 / 7 * (std::mem::size_of::<u32>() + 1)
    }
}
