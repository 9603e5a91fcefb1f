//! Unit tests of every transition, ranges, drops, generations and memory.

use super::*;
use crate::block::{BlockState::*, Precision};

const SPAN: i64 = 10;

fn span() -> BlockSpan {
    BlockSpan::from_units(SPAN).unwrap()
}

fn id(t: u32, w: i32) -> BlockId {
    BlockId::new(TableId(t), Window(w))
}

/// An engine whose chain holds `present` (via a successful backup).
fn with_present(present: &[BlockId]) -> Engine {
    let mut e = Engine::new();
    e.mark_writes(present.iter().copied());
    e.freeze().unwrap();
    e.fold_frozen().unwrap();
    assert_eq!(e.counts().new, 0);
    e
}

/// Puts block `b` in `state`, with `b` in the chain or not as that state needs.
fn engine_in(state: BlockState, in_chain: bool, b: BlockId) -> Engine {
    let mut e = if in_chain {
        with_present(&[b])
    } else {
        Engine::new()
    };
    match state {
        Clean => {}
        New | Dirty => e.mark_write(b),
        Deleted => e.mark_drop(b.table()),
    }
    assert_eq!(e.state(b), state);
    e
}

/// The whole window of block `b`, and a part of it.
fn whole(b: BlockId) -> TsRange {
    span().range_of(b.window())
}
fn part(b: BlockId) -> TsRange {
    let r = whole(b);
    TsRange::new(r.start + 1, r.end)
}

#[test]
fn every_event_from_every_state() {
    let b = id(1, 3);
    // (state, in chain) -> after write, after whole delete, after partial delete
    let cases = [
        (Clean, false, New, Clean, Clean),
        (New, false, New, Clean, New),
        (Clean, true, Dirty, Deleted, Dirty),
        (Dirty, true, Dirty, Deleted, Dirty),
        (Deleted, true, Dirty, Deleted, Deleted),
    ];
    for (state, in_chain, after_write, after_whole, after_part) in cases {
        let mut e = engine_in(state, in_chain, b);
        e.mark_write(b);
        assert_eq!(e.state(b), after_write, "write from {state}");
        e.mark_write(b);
        assert_eq!(e.state(b), after_write, "second write from {state}");

        let mut e = engine_in(state, in_chain, b);
        e.mark_delete(b.table(), whole(b), span());
        assert_eq!(e.state(b), after_whole, "whole delete from {state}");
        e.mark_delete(b.table(), whole(b), span());
        assert_eq!(e.state(b), after_whole, "second whole delete from {state}");

        let mut e = engine_in(state, in_chain, b);
        e.mark_drop(b.table());
        assert_eq!(e.state(b), after_whole, "drop from {state}");

        let mut e = engine_in(state, in_chain, b);
        e.mark_delete(b.table(), part(b), span());
        assert_eq!(e.state(b), after_part, "partial delete from {state}");
        e.mark_delete(b.table(), part(b), span());
        assert_eq!(e.state(b), after_part, "second partial delete from {state}");
    }
}

#[test]
fn delete_range_splits_whole_and_partial_windows() {
    // Chain holds windows -2..=4 of table 1.
    let present: Vec<_> = (-2..=4).map(|w| id(1, w)).collect();
    let mut e = with_present(&present);
    // Timestamps -15..=25: window -2 is [-20,-11] (partly), -1..=1 whole, 2 is [20,29] (partly).
    e.mark_delete(TableId(1), TsRange::new(-15, 25), span());
    assert_eq!(e.state(id(1, -2)), Dirty);
    for w in -1..=1 {
        assert_eq!(e.state(id(1, w)), Deleted, "window {w}");
    }
    assert_eq!(e.state(id(1, 2)), Dirty);
    assert_eq!(e.state(id(1, 3)), Clean);
    assert_eq!(e.state(id(1, -3)), Clean);
    assert_eq!(e.state(id(2, 0)), Clean);
}

#[test]
fn delete_inside_one_window_and_exact_edges() {
    let mut e = with_present(&[id(1, 0), id(1, 1)]);
    e.mark_delete(TableId(1), TsRange::new(3, 4), span());
    assert_eq!(e.state(id(1, 0)), Dirty);
    assert_eq!(e.state(id(1, 1)), Clean);
    e.mark_delete(TableId(1), TsRange::new(10, 19), span());
    assert_eq!(e.state(id(1, 1)), Deleted);
    // An empty range does nothing.
    let mut e = with_present(&[id(1, 0)]);
    e.mark_delete(TableId(1), TsRange::new(5, 4), span());
    assert_eq!(e.state(id(1, 0)), Clean);
}

#[test]
fn unbounded_delete_and_drop_are_range_operations() {
    let mut e = with_present(&[id(1, i32::MIN), id(1, 0), id(1, i32::MAX)]);
    e.mark_write(id(1, 5));
    e.mark_delete(TableId(1), TsRange::new(i64::MIN, i64::MAX), span());
    assert_eq!(e.state(id(1, i32::MIN)), Deleted);
    assert_eq!(e.state(id(1, 0)), Deleted);
    assert_eq!(e.state(id(1, i32::MAX)), Deleted);
    assert_eq!(e.state(id(1, 5)), Clean);
    assert_eq!(e.counts().deleted, 3);
    let mut e = Engine::new();
    e.mark_write(id(u32::MAX, i32::MAX));
    e.mark_drop(TableId(u32::MAX));
    assert_eq!(e.counts(), StateCounts::default());
}

#[test]
fn mark_table_written_covers_every_window() {
    let mut e = with_present(&[id(4, 7)]);
    e.mark_table_written(TableId(4));
    assert_eq!(e.state(id(4, 7)), Dirty);
    assert_eq!(e.state(id(4, i32::MIN)), New);
    assert_eq!(e.state(id(4, i32::MAX)), New);
    assert_eq!(e.counts().new + e.counts().dirty, 1u64 << 32);
    let runs: Vec<_> = e.runs(ChangeKind::New).collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].first, Window::MIN);
    assert_eq!(runs[0].last, Window(6));
    assert_eq!(runs[1].first, Window(8));
}

#[test]
fn batch_marks_equal_single_marks() {
    let ids: Vec<_> = [(3, 5), (1, -1), (3, 5), (1, 0), (2, 9), (1, -1)]
        .iter()
        .map(|&(t, w)| id(t, w))
        .collect();
    let mut single = with_present(&[id(1, 0)]);
    for &b in &ids {
        single.mark_write(b);
    }
    let mut batch = with_present(&[id(1, 0)]);
    batch.mark_writes(ids.iter().copied());
    assert_eq!(single.current(), batch.current());
    assert_eq!(batch.state(id(1, 0)), Dirty);
    assert_eq!(batch.state(id(1, -1)), New);
}

#[test]
fn queries_by_table_range_and_runs() {
    let mut e = Engine::new();
    e.mark_writes([id(1, -3), id(1, -2), id(1, 0), id(2, 5), id(2, 6), id(2, 7)]);
    let all: Vec<_> = e.blocks(ChangeKind::New).collect();
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|p| p[0] < p[1]));
    assert_eq!(e.blocks_of_table(ChangeKind::New, TableId(2)).count(), 3);
    assert_eq!(
        e.blocks_in_windows(ChangeKind::New, TableId(1), Window(-2), Window(0)),
        vec![id(1, -2), id(1, 0)]
    );
    assert!(e
        .blocks_in_windows(ChangeKind::New, TableId(1), Window(1), Window(0))
        .is_empty());
    let runs: Vec<_> = e.runs(ChangeKind::New).collect();
    assert_eq!(
        runs,
        vec![
            WindowRun {
                table: TableId(1),
                first: Window(-3),
                last: Window(-2)
            },
            WindowRun {
                table: TableId(1),
                first: Window(0),
                last: Window(0)
            },
            WindowRun {
                table: TableId(2),
                first: Window(5),
                last: Window(7)
            },
        ]
    );
    assert_eq!(runs[2].len(), 3);
    let c = e.counts();
    assert_eq!(
        (c.new, c.dirty, c.deleted, c.tables_with_changes),
        (6, 0, 0, 2)
    );
}

#[test]
fn runs_cross_container_boundaries() {
    let mut e = Engine::new();
    // Codes 65535 and 65536 sit in different Roaring containers.
    let a = Window::from_code(65_535);
    let b = Window::from_code(65_536);
    e.mark_writes([BlockId::new(TableId(0), a), BlockId::new(TableId(0), b)]);
    let runs: Vec<_> = e.runs(ChangeKind::New).collect();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].first, runs[0].last), (a, b));
}

#[test]
fn counts_of_present_and_clean() {
    let mut e = with_present(&[id(1, 0), id(1, 1), id(1, 2)]);
    e.mark_write(id(1, 0));
    e.mark_drop(TableId(1));
    e.mark_write(id(1, 2));
    let c = e.counts();
    assert_eq!(c.present, 3);
    assert_eq!(c.deleted, 2);
    assert_eq!(c.dirty, 1);
    assert_eq!(c.present_clean, 0);
}

#[test]
fn freeze_then_fold_moves_changes_into_present() {
    let mut e = with_present(&[id(1, 0), id(1, 1)]);
    e.mark_write(id(1, 0)); // DIRTY
    e.mark_write(id(1, 5)); // NEW
    e.mark_drop(TableId(1)); // 0,1 DELETED, 5 CLEAN
    e.mark_write(id(2, 0)); // NEW
    e.freeze().unwrap();
    assert!(matches!(e.freeze(), Err(GenerationError::AlreadyFrozen)));
    assert_eq!(e.counts().new, 0);
    let frozen = e.frozen_generation().unwrap();
    assert_eq!(frozen.deleted_blocks().len(), 2);
    assert_eq!(frozen.new_blocks().len(), 1);
    e.fold_frozen().unwrap();
    assert!(matches!(e.fold_frozen(), Err(GenerationError::NotFrozen)));
    assert!(e.present().contains(id(2, 0)));
    assert!(!e.present().contains(id(1, 0)));
    assert_eq!(e.present().len(), 1);
}

#[test]
fn events_while_frozen_are_judged_against_the_future_chain() {
    // Frozen NEW block, then a whole delete while the backup runs: after fold the block is
    // in the chain, so it must be DELETED, not CLEAN.
    let b = id(1, 0);
    let mut e = Engine::new();
    e.mark_write(b);
    e.freeze().unwrap();
    e.mark_delete(TableId(1), whole(b), span());
    assert_eq!(e.state(b), Deleted);
    e.fold_frozen().unwrap();
    assert_eq!(e.state(b), Deleted);
    // Frozen DELETED block written again: NEW against the future chain.
    let mut e = with_present(&[b]);
    e.mark_drop(TableId(1));
    e.freeze().unwrap();
    e.mark_write(b);
    assert_eq!(e.state(b), New);
    e.fold_frozen().unwrap();
    assert!(!e.present().contains(b));
    assert_eq!(e.state(b), New);
}

/// Every (frozen state, current event) pair: restoring gives what one generation would have.
#[test]
fn restore_frozen_equals_an_uninterrupted_generation() {
    let b = id(1, 0);
    #[derive(Clone, Copy, Debug)]
    enum Ev {
        Write,
        Whole,
        Part,
    }
    let apply = |e: &mut Engine, ev: Ev| match ev {
        Ev::Write => e.mark_write(b),
        Ev::Whole => e.mark_delete(b.table(), whole(b), span()),
        Ev::Part => e.mark_delete(b.table(), part(b), span()),
    };
    let seqs: Vec<Vec<Ev>> = {
        let evs = [Ev::Write, Ev::Whole, Ev::Part];
        let mut out = vec![vec![]];
        for a in evs {
            out.push(vec![a]);
            for c in evs {
                out.push(vec![a, c]);
            }
        }
        out
    };
    for in_chain in [false, true] {
        for before in &seqs {
            for after in &seqs {
                let base = if in_chain {
                    with_present(&[b])
                } else {
                    Engine::new()
                };
                let mut straight = base.clone();
                for &ev in before.iter().chain(after) {
                    apply(&mut straight, ev);
                }
                let mut split = base.clone();
                for &ev in before {
                    apply(&mut split, ev);
                }
                split.freeze().unwrap();
                for &ev in after {
                    apply(&mut split, ev);
                }
                split.restore_frozen().unwrap();
                assert_eq!(
                    split.state(b),
                    straight.state(b),
                    "chain={in_chain} before={before:?} after={after:?}"
                );
                assert_eq!(split.current(), straight.current());
            }
        }
    }
}

#[test]
fn memory_limit_coarsens_and_never_loses_a_mark() {
    let mut e = Engine::with_memory_limit(4 * 1024);
    // Scattered windows: every third window of 8 tables, 70k marks (past the check interval).
    let ids: Vec<_> = (0..8u32)
        .flat_map(|t| (0..9_000).map(move |w| id(t, w * 3)))
        .collect();
    e.mark_writes(ids.iter().copied());
    assert!(
        e.counters().coarsened_tables > 0,
        "limit should have been hit"
    );
    assert!(e.heap_bytes() <= 4 * 1024, "heap {}", e.heap_bytes());
    for b in &ids {
        assert_ne!(e.state(*b), Clean, "{b} lost");
    }
}

#[test]
fn coarsening_turns_deleted_into_dirty_and_keeps_the_span() {
    let mut e = with_present(&[id(1, 0), id(1, 4)]);
    e.mark_drop(TableId(1));
    e.mark_write(id(1, 9));
    assert!(e.coarsen_table(TableId(1)));
    assert_eq!(e.state(id(1, 0)), Dirty);
    assert_eq!(e.state(id(1, 4)), Dirty);
    assert_eq!(e.state(id(1, 2)), New);
    assert_eq!(e.state(id(1, 9)), New);
    assert_eq!(e.state(id(1, 10)), Clean);
    assert!(!e.coarsen_table(TableId(1)), "already one run");
    assert!(!e.coarsen_table(TableId(2)), "nothing to coarsen");
}

#[test]
fn one_hour_windows_in_each_precision() {
    for p in [Precision::Millis, Precision::Micros, Precision::Nanos] {
        let span = BlockSpan::one_hour(p);
        let ts = 1_700_000_000 * p.units_per_second();
        let mut e = Engine::new();
        e.mark_write(BlockId::new(TableId(0), span.window_of(ts)));
        assert_eq!(
            e.state(BlockId::new(TableId(0), Window(472_222))),
            New,
            "{p}"
        );
    }
}

/// Issue 16.1: windows the first full reads may be in no mark (rows older than the change
/// feed). A delete of such a window while the full runs must survive the full's fold.
#[test]
fn a_delete_during_a_full_backup_survives_its_fold() {
    let mut e = Engine::new();
    e.freeze_full().unwrap();
    // The full read windows 0..=3 of table 1; then parts of them are deleted.
    e.mark_delete(TableId(1), TsRange::new(0, 2 * SPAN - 1), span());
    e.mark_delete(TableId(1), TsRange::new(3 * SPAN + 1, 3 * SPAN + 2), span());
    e.fold_frozen_as_full((0..4).map(|w| id(1, w)).collect())
        .unwrap();
    assert_eq!(e.state(id(1, 0)), Deleted);
    assert_eq!(e.state(id(1, 1)), Deleted);
    assert_eq!(e.state(id(1, 2)), Clean);
    assert_eq!(e.state(id(1, 3)), Dirty);
}
