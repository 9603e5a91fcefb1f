//! A set of blocks: one Roaring bitmap of window codes per table.
//!
//! Why not `RoaringTreemap` over the u64 block ids: a treemap *is* a map from the high 32
//! bits (our table id) to a bitmap of the low 32 bits (our window code), but it does not let
//! us reach one table's bitmap mutably, and every range operation we need (a DELETE of a time
//! range, a DROP) is an operation on one table's bitmap. Keeping the map ourselves gives the
//! same memory layout with direct per-table access. On disk the set is written in the
//! portable 64-bit Roaring format (CRoaring's `roaring64` portable spec, which is also what
//! `RoaringTreemap::serialize_into` writes): a u64 count of tables, then for each table in
//! ascending order its u32 id and its bitmap in the portable 32-bit format.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::ops::RangeInclusive;

use roaring::RoaringBitmap;

use crate::block::{BlockId, TableId, Window};

/// Per-table bitmaps of window codes. Tables with an empty bitmap are never kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockSet {
    tables: BTreeMap<TableId, RoaringBitmap>,
}

/// An inclusive run of window codes.
pub type CodeRange = RangeInclusive<u32>;

/// Every window code.
pub const ALL_CODES: CodeRange = 0..=u32::MAX;

/// The window codes from `first` to `last`.
pub fn code_range(first: Window, last: Window) -> CodeRange {
    first.code()..=last.code()
}

impl BlockSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contains(&self, id: BlockId) -> bool {
        self.tables
            .get(&id.table())
            .is_some_and(|b| b.contains(id.window().code()))
    }

    pub fn insert(&mut self, id: BlockId) -> bool {
        self.tables
            .entry(id.table())
            .or_default()
            .insert(id.window().code())
    }

    pub fn remove(&mut self, id: BlockId) -> bool {
        let table = id.table();
        let Some(bitmap) = self.tables.get_mut(&table) else {
            return false;
        };
        let removed = bitmap.remove(id.window().code());
        if bitmap.is_empty() {
            self.tables.remove(&table);
        }
        removed
    }

    /// One table's bitmap, if it has any block.
    pub fn table(&self, table: TableId) -> Option<&RoaringBitmap> {
        self.tables.get(&table)
    }

    /// Replaces one table's bitmap (dropping it when empty).
    pub fn set_table(&mut self, table: TableId, bitmap: RoaringBitmap) {
        if bitmap.is_empty() {
            self.tables.remove(&table);
        } else {
            self.tables.insert(table, bitmap);
        }
    }

    /// Mutable access to a table's bitmap; call [`BlockSet::tidy`] after emptying it.
    pub fn table_mut(&mut self, table: TableId) -> &mut RoaringBitmap {
        self.tables.entry(table).or_default()
    }

    /// Drops the table's entry if its bitmap became empty.
    pub fn tidy(&mut self, table: TableId) {
        if self.tables.get(&table).is_some_and(|b| b.is_empty()) {
            self.tables.remove(&table);
        }
    }

    pub fn insert_range(&mut self, table: TableId, codes: CodeRange) {
        self.table_mut(table).insert_range(codes);
    }

    pub fn remove_range(&mut self, table: TableId, codes: CodeRange) {
        if let Some(b) = self.tables.get_mut(&table) {
            b.remove_range(codes);
        }
        self.tidy(table);
    }

    /// The table's codes inside `codes`.
    pub fn range_of(&self, table: TableId, codes: CodeRange) -> RoaringBitmap {
        match self.tables.get(&table) {
            None => RoaringBitmap::new(),
            Some(b) if codes == ALL_CODES => b.clone(),
            Some(b) => {
                let mut r = RoaringBitmap::new();
                r.insert_range(codes);
                r & b
            }
        }
    }

    /// Number of blocks, without materialising anything.
    pub fn len(&self) -> u64 {
        self.tables.values().map(|b| b.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Number of tables with at least one block.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// Tables with at least one block, ascending.
    pub fn table_ids(&self) -> impl Iterator<Item = TableId> + '_ {
        self.tables.keys().copied()
    }

    /// Per-table bitmaps, ascending by table.
    pub fn tables(&self) -> impl Iterator<Item = (TableId, &RoaringBitmap)> + '_ {
        self.tables.iter().map(|(t, b)| (*t, b))
    }

    /// Every block, in block-id order.
    pub fn iter(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.tables.iter().flat_map(|(t, b)| {
            b.iter()
                .map(move |c| BlockId::new(*t, Window::from_code(c)))
        })
    }

    /// `self ∪= other`.
    pub fn union_with(&mut self, other: &BlockSet) {
        for (t, b) in &other.tables {
            *self.tables.entry(*t).or_default() |= b;
        }
    }

    /// `self −= other`.
    pub fn subtract(&mut self, other: &BlockSet) {
        for (t, b) in &other.tables {
            if let Some(mine) = self.tables.get_mut(t) {
                *mine -= b;
            }
            self.tidy(*t);
        }
    }

    /// `|self ∩ other|` without materialising.
    pub fn intersection_len(&self, other: &BlockSet) -> u64 {
        self.tables
            .iter()
            .filter_map(|(t, b)| other.tables.get(t).map(|o| b.intersection_len(o)))
            .sum()
    }

    /// Converts to run containers where smaller (before serialising).
    pub fn optimize(&mut self) {
        for b in self.tables.values_mut() {
            b.optimize();
        }
    }

    /// Heap bytes, approximated by the bitmaps' serialized sizes plus the map's own nodes.
    pub fn heap_bytes(&self) -> u64 {
        const PER_TABLE_OVERHEAD: u64 = 64;
        self.tables
            .values()
            .map(|b| b.serialized_size() as u64 + PER_TABLE_OVERHEAD)
            .sum()
    }

    /// Writes the portable 64-bit Roaring format.
    pub fn serialize_into<W: Write>(&self, mut w: W) -> io::Result<()> {
        w.write_all(&(self.tables.len() as u64).to_le_bytes())?;
        for (t, b) in &self.tables {
            w.write_all(&t.0.to_le_bytes())?;
            b.serialize_into(&mut w)?;
        }
        Ok(())
    }

    /// Reads the portable 64-bit Roaring format; rejects unsorted or repeated table ids.
    pub fn deserialize_from<R: Read>(mut r: R) -> io::Result<BlockSet> {
        let mut count = [0u8; 8];
        r.read_exact(&mut count)?;
        let count = u64::from_le_bytes(count);
        let mut tables = BTreeMap::new();
        let mut previous: Option<u32> = None;
        for _ in 0..count {
            let mut key = [0u8; 4];
            r.read_exact(&mut key)?;
            let key = u32::from_le_bytes(key);
            if previous.is_some_and(|p| p >= key) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("table ids not ascending at table {key}"),
                ));
            }
            previous = Some(key);
            let bitmap = RoaringBitmap::deserialize_from(&mut r)?;
            if !bitmap.is_empty() {
                tables.insert(TableId(key), bitmap);
            }
        }
        Ok(BlockSet { tables })
    }
}

impl FromIterator<BlockId> for BlockSet {
    fn from_iter<I: IntoIterator<Item = BlockId>>(iter: I) -> Self {
        let mut set = BlockSet::new();
        for id in iter {
            set.insert(id);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roaring::RoaringTreemap;

    fn id(t: u32, w: i32) -> BlockId {
        BlockId::new(TableId(t), Window(w))
    }

    #[test]
    fn insert_remove_and_empty_tables_vanish() {
        let mut s = BlockSet::new();
        assert!(s.insert(id(1, -3)));
        assert!(!s.insert(id(1, -3)));
        assert!(s.contains(id(1, -3)));
        assert_eq!(s.table_count(), 1);
        assert!(s.remove(id(1, -3)));
        assert!(s.is_empty());
        assert_eq!(s.table_count(), 0);
    }

    #[test]
    fn iteration_is_in_block_id_order() {
        let s: BlockSet = [id(2, 0), id(1, 5), id(1, -5), id(0, i32::MAX)]
            .into_iter()
            .collect();
        let ids: Vec<_> = s.iter().collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(ids.len(), 4);
    }

    #[test]
    fn ranges_and_set_algebra() {
        let mut a = BlockSet::new();
        a.insert_range(TableId(7), code_range(Window(-2), Window(2)));
        assert_eq!(a.len(), 5);
        let b: BlockSet = [id(7, 0), id(7, 9), id(8, 0)].into_iter().collect();
        assert_eq!(a.intersection_len(&b), 1);
        a.subtract(&b);
        assert_eq!(a.len(), 4);
        a.union_with(&b);
        assert_eq!(a.len(), 7);
        assert_eq!(
            a.range_of(TableId(7), code_range(Window(0), Window(9)))
                .len(),
            4
        );
        a.remove_range(TableId(7), ALL_CODES);
        assert_eq!(a.table_ids().collect::<Vec<_>>(), vec![TableId(8)]);
        let mut all = BlockSet::new();
        all.insert_range(TableId(1), ALL_CODES);
        assert_eq!(all.len(), 1u64 << 32);
    }

    #[test]
    fn serialises_in_the_portable_treemap_format() {
        let s: BlockSet = [id(0, i32::MIN), id(3, 1), id(3, 2), id(u32::MAX, i32::MAX)]
            .into_iter()
            .collect();
        let mut bytes = Vec::new();
        s.serialize_into(&mut bytes).unwrap();
        // Another reader of the portable 64-bit format sees the same u64 ids.
        let treemap = RoaringTreemap::deserialize_from(&bytes[..]).unwrap();
        let expected: Vec<u64> = s.iter().map(|b| b.as_u64()).collect();
        assert_eq!(treemap.iter().collect::<Vec<_>>(), expected);
        assert_eq!(BlockSet::deserialize_from(&bytes[..]).unwrap(), s);
        // And what the treemap writes, we read.
        let mut tm_bytes = Vec::new();
        treemap.serialize_into(&mut tm_bytes).unwrap();
        assert_eq!(BlockSet::deserialize_from(&tm_bytes[..]).unwrap(), s);
    }

    #[test]
    fn deserialising_garbage_fails_cleanly() {
        assert!(BlockSet::deserialize_from(&[1u8, 0, 0][..]).is_err());
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&2u64.to_le_bytes());
        bytes.extend_from_slice(&5u32.to_le_bytes());
        RoaringBitmap::from_iter([1u32])
            .serialize_into(&mut bytes)
            .unwrap();
        bytes.extend_from_slice(&5u32.to_le_bytes());
        RoaringBitmap::from_iter([1u32])
            .serialize_into(&mut bytes)
            .unwrap();
        assert!(BlockSet::deserialize_from(&bytes[..]).is_err());
    }
}
