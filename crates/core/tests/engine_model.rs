#![allow(clippy::unwrap_used)] // test code: a panic is a failed test
//! Property test: the engine against a simple model over random event sequences, including
//! backups that freeze, then succeed (fold) or fail (restore).
//!
//! The model keeps a state per block and the chain's blocks as a plain set, applies events
//! one by one, and treats a backup as: snapshot at freeze; on success the chain becomes the
//! snapshot's outcome and the events since the freeze are replayed against it; on failure,
//! nothing happened (the events simply continue the one generation).

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use tdibt_core::block::BlockState::{self, *};
use tdibt_core::checkpoint::Checkpoint;
use tdibt_core::{BlockId, BlockSpan, Catalog, ChangeKind, Cut, Engine, TableId, TsRange, Window};

const SPAN: i64 = 10;
const TABLES: u32 = 3;
const WINDOWS: i32 = 6; // windows -3..3

#[derive(Clone, Debug)]
enum Event {
    Write(u32, i32),
    Delete(u32, i64, i64),
    Drop(u32),
    Freeze,
    Fold,
    Restore,
}

fn event() -> impl Strategy<Value = Event> {
    let ts = -(WINDOWS as i64 / 2) * SPAN - 3..(WINDOWS as i64 / 2) * SPAN + 3;
    prop_oneof![
        6 => (0..TABLES, -WINDOWS / 2..WINDOWS / 2).prop_map(|(t, w)| Event::Write(t, w)),
        3 => (0..TABLES, ts.clone(), ts).prop_map(|(t, a, b)| Event::Delete(t, a.min(b), a.max(b))),
        1 => (0..TABLES).prop_map(Event::Drop),
        1 => Just(Event::Freeze),
        1 => Just(Event::Fold),
        1 => Just(Event::Restore),
    ]
}

#[derive(Clone, Debug, Default)]
struct Model {
    present: HashSet<BlockId>,
    states: HashMap<BlockId, BlockState>,
    /// At freeze: the states then, and the events since.
    frozen: Option<(HashMap<BlockId, BlockState>, Vec<Event>)>,
}

fn all_blocks_of(t: u32) -> impl Iterator<Item = BlockId> {
    (-WINDOWS / 2..WINDOWS / 2).map(move |w| BlockId::new(TableId(t), Window(w)))
}

impl Model {
    fn state(&self, b: BlockId) -> BlockState {
        self.states.get(&b).copied().unwrap_or(Clean)
    }

    fn set(&mut self, b: BlockId, s: BlockState) {
        if s == Clean {
            self.states.remove(&b);
        } else {
            self.states.insert(b, s);
        }
    }

    /// Applies a data event relative to `present`.
    fn apply_data(&mut self, e: &Event) {
        let span = BlockSpan::from_units(SPAN).unwrap();
        match *e {
            Event::Write(t, w) => {
                let b = BlockId::new(TableId(t), Window(w));
                let s = if self.present.contains(&b) {
                    Dirty
                } else {
                    New
                };
                self.set(b, s);
            }
            Event::Delete(t, a, z) => {
                let range = TsRange::new(a, z);
                for b in all_blocks_of(t) {
                    let r = span.range_of(b.window());
                    if r.end < a || r.start > z {
                        continue;
                    }
                    let in_chain = self.present.contains(&b);
                    if span.covers_window(range, b.window()) {
                        self.set(b, if in_chain { Deleted } else { Clean });
                    } else if in_chain && self.state(b) != Deleted {
                        self.set(b, Dirty);
                    }
                }
            }
            Event::Drop(t) => {
                for b in all_blocks_of(t) {
                    let s = if self.present.contains(&b) {
                        Deleted
                    } else {
                        Clean
                    };
                    self.set(b, s);
                }
            }
            _ => {}
        }
    }

    /// The engine's current generation as the model sees it: while frozen, the events since
    /// the freeze replayed against the chain the backup will leave; else the states.
    fn current_generation(&self) -> (HashSet<BlockId>, HashMap<BlockId, BlockState>) {
        let Some((snapshot, since)) = &self.frozen else {
            return (self.present.clone(), self.states.clone());
        };
        let mut future = Model {
            present: self.present.clone(),
            ..Model::default()
        };
        for (b, s) in snapshot {
            match s {
                New | Dirty => {
                    future.present.insert(*b);
                }
                Deleted => {
                    future.present.remove(b);
                }
                Clean => {}
            }
        }
        for ev in since {
            future.apply_data(ev);
        }
        (future.present, future.states)
    }

    fn apply(&mut self, e: &Event) {
        match e {
            Event::Freeze => {
                if self.frozen.is_none() {
                    self.frozen = Some((self.states.clone(), Vec::new()));
                }
            }
            Event::Fold => {
                if self.frozen.is_some() {
                    let (present, states) = self.current_generation();
                    self.present = present;
                    self.states = states;
                    self.frozen = None;
                }
            }
            Event::Restore => {
                self.frozen = None;
            }
            data => {
                self.apply_data(data);
                if let Some((_, since)) = &mut self.frozen {
                    since.push(data.clone());
                }
            }
        }
    }
}

fn apply_engine(engine: &mut Engine, e: &Event) {
    let span = BlockSpan::from_units(SPAN).unwrap();
    match *e {
        Event::Write(t, w) => engine.mark_write(BlockId::new(TableId(t), Window(w))),
        Event::Delete(t, a, z) => engine.mark_delete(TableId(t), TsRange::new(a, z), span),
        Event::Drop(t) => engine.mark_drop(TableId(t)),
        Event::Freeze => {
            let _ = engine.freeze();
        }
        Event::Fold => {
            let _ = engine.fold_frozen();
        }
        Event::Restore => {
            let _ = engine.restore_frozen();
        }
    }
}

fn assert_same(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    let (_, current) = model.current_generation();
    let state = |b: BlockId| current.get(&b).copied().unwrap_or(Clean);
    for t in 0..TABLES {
        for b in all_blocks_of(t) {
            prop_assert_eq!(engine.state(b), state(b), "block {}", b);
            prop_assert_eq!(engine.present().contains(b), model.present.contains(&b));
            if let Some(frozen) = engine.frozen_generation() {
                let snapshot = &model.frozen.as_ref().unwrap().0;
                prop_assert_eq!(frozen.state(b), snapshot.get(&b).copied().unwrap_or(Clean));
            }
        }
    }
    let counts = engine.counts();
    let count = |s| current.values().filter(|v| **v == s).count() as u64;
    prop_assert_eq!(counts.new, count(New));
    prop_assert_eq!(counts.dirty, count(Dirty));
    prop_assert_eq!(counts.deleted, count(Deleted));
    prop_assert_eq!(engine.blocks(ChangeKind::New).count() as u64, count(New));
    prop_assert_eq!(engine.is_frozen(), model.frozen.is_some());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model(events in prop::collection::vec(event(), 1..80)) {
        let mut engine = Engine::new();
        let mut model = Model::default();
        for e in &events {
            apply_engine(&mut engine, e);
            model.apply(e);
            assert_same(&engine, &model)?;
        }
    }

    #[test]
    fn batch_marks_match_single_marks(ids in prop::collection::vec((0..50u32, -100..100i32), 0..300)) {
        let ids: Vec<BlockId> = ids.into_iter().map(|(t, w)| BlockId::new(TableId(t), Window(w))).collect();
        let mut single = Engine::new();
        let mut batch = Engine::new();
        // Half the tables in the chain, so both write paths are taken.
        let seed: Vec<BlockId> = ids.iter().copied().filter(|b| b.table().0 % 2 == 0).collect();
        for e in [&mut single, &mut batch] {
            e.mark_writes(seed.iter().copied());
            e.freeze().unwrap();
            e.fold_frozen().unwrap();
        }
        for b in &ids {
            single.mark_write(*b);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        batch.mark_writes(sorted);
        prop_assert_eq!(single.current(), batch.current());
    }

    #[test]
    fn checkpoint_round_trips(events in prop::collection::vec(event(), 0..60), offsets in prop::collection::btree_map(0..8i32, 0..1_000_000i64, 0..4)) {
        let mut engine = Engine::new();
        for e in &events {
            apply_engine(&mut engine, e);
        }
        let mut catalog = Catalog::new();
        catalog.add_database("db", tdibt_core::Precision::Millis, BlockSpan::from_units(SPAN).unwrap()).unwrap();
        for t in 0..TABLES {
            catalog.add_table("db", &format!("t{t}"), None, Some(t as i32)).unwrap();
        }
        let cut = Cut { topic: Some("tdibt_db".into()), vgroups: offsets };
        let mut cp = Checkpoint { engine, catalog, cut, written_at_unix_ms: 0, backups: Default::default() };
        let bytes = cp.encode(42);
        let back = Checkpoint::decode(&bytes, std::path::Path::new("cp")).unwrap();
        prop_assert_eq!(back.engine.current(), cp.engine.current());
        prop_assert_eq!(back.engine.present(), cp.engine.present());
        prop_assert_eq!(back.engine.frozen(), cp.engine.frozen());
        prop_assert_eq!(back.catalog, cp.catalog);
        prop_assert_eq!(back.cut, cp.cut);
    }
}
