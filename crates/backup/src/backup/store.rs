//! Phase 3: read what the plan lists, split it per window, and store the raw blocks pack by
//! pack; after each pack the repository's journal lists the reads whose blocks are all
//! stored, so an interrupted run goes on from there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tdibt_core::clock::now_unix_ms;
use tdibt_core::BlockSpan;
use tdibt_repository::lock::RepoLock;
use tdibt_repository::{
    Added, BackupStats, BlockEntry, BlockHash, Compression, Repository, ResumeJournal as Journal,
};
use tdibt_tdengine::{read_tables_windows, read_windows, Connection, TablesRead, WindowRows};
use tracing::warn;

use super::Started;
use crate::error::{BackupError, BackupResult};
use crate::plan::Read;
use crate::pool::{ConnectionTask, Connections, Pool};
use crate::progress::{Progress, ProgressSink};

/// What the store phase left: every stored window (this run's and a resumed journal's).
pub struct Stored {
    pub journal: Journal,
    pub stats: BackupStats,
    /// Reads an earlier, interrupted run had already stored.
    pub reads_skipped: u64,
}

/// How the store phase runs.
pub struct StoreSettings<'a> {
    pub connections: &'a Connections,
    /// The database's super tables and their columns, in order (from the DDL just
    /// recorded): what lets the child tables of one read their windows in one query.
    pub super_tables: BTreeMap<String, Vec<String>>,
    pub compression: Compression,
    pub jobs: usize,
    pub pack_target_bytes: usize,
}

/// Reads and stores every planned read not already journaled.
pub async fn store_blocks(
    lock: &RepoLock,
    started: &mut Started,
    settings: &StoreSettings<'_>,
    progress: &dyn ProgressSink,
) -> BackupResult<Stored> {
    let repo = lock.repo();
    let mut journal = started.journal.take().unwrap_or(Journal {
        backup_id: started.id.clone(),
        parent: started.parent.clone(),
        started_at_unix_ms: now_unix_ms(),
        stored: Vec::new(),
        finished_reads: Vec::new(),
    });
    keep_what_the_plan_needs(repo, &mut journal, &started.plan.reads);
    let finished: BTreeSet<String> = journal.finished_reads.iter().cloned().collect();
    let todo: Vec<Read> = started
        .plan
        .reads
        .iter()
        .filter(|r| !finished.contains(&r.key()))
        .cloned()
        .collect();
    let reads_skipped = (started.plan.reads.len() - todo.len()) as u64;
    // Each reuse is checked by reading the block back (`BlockWriter::add`): a pack that was
    // deleted or damaged since is never deduplicated against.
    let known_clock = Instant::now();
    let known = repo.reusable_blocks();
    let known_took = known_clock.elapsed();
    let mut writer = lock.block_writer(known, settings.compression, usize::MAX);
    let mut batch = Batch::default();
    let mut stats = BackupStats::default();
    let mut seen = Progress {
        done: reads_skipped,
        total: started.plan.reads.len() as u64,
        ..Progress::default()
    };
    let reader = Arc::new(Reader {
        db: started.db.clone(),
        span: started.span,
    });
    let jobs = group_reads(todo, &started.catalog, &started.db, &settings.super_tables);
    let queries = jobs.len();
    let mut pool = Pool::start(reader, settings.connections, jobs, settings.jobs);
    let mut failure = None;
    // Where the phase's time goes (debug log): waiting for reads, packing what came.
    let (mut waited, mut packed) = (Duration::ZERO, Duration::ZERO);
    let mut clock = Instant::now();
    'results: while let Some(result) = pool.next().await {
        waited += clock.elapsed();
        clock = Instant::now();
        let reads = match result {
            Ok(x) => x,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        for (read, windows) in reads {
            for w in windows {
                if let Err(e) = add_window(&mut writer, &mut batch, &mut stats, &mut seen, &read, w)
                {
                    failure = Some(e);
                    break 'results;
                }
            }
            batch.reads.push(read.key());
            seen.done += 1;
        }
        progress.update("backup", seen);
        if writer.pending_bytes() >= settings.pack_target_bytes {
            commit_pack(
                lock,
                &mut writer,
                &mut batch,
                &mut journal,
                Journaled::Saved,
            )?;
            lock.heartbeat()?;
        }
        packed += clock.elapsed();
        clock = Instant::now();
    }
    pool.stop().await;
    // Journaled when a read failed: the next run goes on from what was stored. After the
    // last read the manifest comes next and makes the journal moot, so the last pack is
    // written (durably) but not journaled: a synced write fewer per backup. A crash in
    // between reads those windows again (their pack is written again, or left to a prune).
    let journaled = if failure.is_some() {
        Journaled::Saved
    } else {
        Journaled::InMemory
    };
    let committed = commit_pack(lock, &mut writer, &mut batch, &mut journal, journaled);
    tracing::debug!(
        "store: {:.1} ms listing the repository's blocks, {queries} queries, {:.1} ms waiting for reads, {:.1} ms hashing and compressing, {:.1} ms the last pack",
        known_took.as_secs_f64() * 1e3,
        waited.as_secs_f64() * 1e3,
        packed.as_secs_f64() * 1e3,
        clock.elapsed().as_secs_f64() * 1e3
    );
    if let Some(e) = failure {
        return Err(e);
    }
    committed?;
    progress.finish("backup");
    stats.stored_bytes = writer.stored_bytes();
    Ok(Stored {
        journal,
        stats,
        reads_skipped,
    })
}

/// Windows read but not yet in a written pack, and the reads they complete.
#[derive(Default)]
struct Batch {
    windows: Vec<(BlockEntry, Vec<BlockHash>)>,
    reads: Vec<String>,
}

/// Hands one window's parts to the pack writer (a part stored before is reused).
fn add_window(
    writer: &mut tdibt_repository::BlockWriter<'_>,
    batch: &mut Batch,
    stats: &mut BackupStats,
    seen: &mut Progress,
    read: &Read,
    w: WindowRows,
) -> BackupResult<()> {
    let mut hashes = Vec::with_capacity(w.parts.len());
    let columns = w
        .parts
        .first()
        .map(|p| p.columns.clone())
        .unwrap_or_default();
    for part in &w.parts {
        stats.raw_bytes += part.bytes.len() as u64;
        seen.bytes += part.bytes.len() as u64;
        let (added, _) = writer.add(&part.bytes)?;
        hashes.push(match added {
            Added::Reused(r) => {
                stats.reused_blocks += 1;
                r.hash
            }
            Added::Pending(h) => h,
        });
    }
    let rows = w.rows();
    seen.rows += rows;
    batch.windows.push((
        BlockEntry {
            table: read.table.clone(),
            window: w.window.0,
            rows,
            columns,
            parts: Vec::new(),
        },
        hashes,
    ));
    Ok(())
}

/// Whether [`commit_pack`] saves the journal to the repository or only updates it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Journaled {
    Saved,
    /// The manifest, written next from the journal, records the same.
    InMemory,
}

/// Writes the pack being filled and journals what it completes.
fn commit_pack(
    lock: &RepoLock,
    writer: &mut tdibt_repository::BlockWriter<'_>,
    batch: &mut Batch,
    journal: &mut Journal,
    journaled: Journaled,
) -> BackupResult<()> {
    writer.flush()?;
    for (mut entry, hashes) in batch.windows.drain(..) {
        for h in hashes {
            let r = writer.reference(&h).ok_or_else(|| {
                BackupError::Pipeline(format!("block {h} has no place after its pack"))
            })?;
            entry.parts.push(r);
        }
        journal.stored.push(entry);
    }
    journal.finished_reads.append(&mut batch.reads);
    if journaled == Journaled::Saved {
        lock.save_journal(journal)?;
    }
    Ok(())
}

/// What a resumed backup keeps of its journal: blocks of reads the plan still makes (a table
/// dropped meanwhile is not read, so its blocks would come without its statement), whose
/// every part reads back with its checksum (a pack deleted or damaged since is not trusted).
/// A read that lost a block is read again.
fn keep_what_the_plan_needs(repo: &Repository, journal: &mut Journal, reads: &[Read]) {
    let mut by_table: BTreeMap<&str, Vec<&Read>> = BTreeMap::new();
    for r in reads {
        by_table.entry(r.table.as_str()).or_default().push(r);
    }
    let covering = |table: &str, window: i32| -> Option<&Read> {
        by_table
            .get(table)?
            .iter()
            .copied()
            .find(|r| r.first.0 <= window && window <= r.last.0)
    };
    let mut read_again: BTreeSet<String> = BTreeSet::new();
    let before = journal.stored.len();
    journal.stored.retain(|b| {
        let Some(read) = covering(&b.table, b.window) else {
            return false;
        };
        let intact = b.parts.iter().all(|p| repo.read_block(p).is_ok());
        if !intact {
            read_again.insert(read.key());
        }
        intact
    });
    journal.finished_reads.retain(|k| !read_again.contains(k));
    let dropped = before - journal.stored.len();
    if dropped > 0 {
        warn!(
            "backup {}: {dropped} journaled block(s) not kept (table gone, or pack missing or damaged); {} read(s) run again",
            journal.backup_id,
            read_again.len()
        );
    }
}

/// Child tables read together in one query at most (the statement names each).
const TABLES_PER_QUERY: usize = 100;

/// What one query reads: one table's run of windows, or the same run of several child
/// tables of one super table.
enum ReadJob {
    One(Read),
    Together {
        super_table: String,
        columns: Vec<String>,
        reads: Vec<Read>,
    },
}

/// Groups the reads of child tables that share a super table and a run of windows (an
/// incremental's scattered changes: a late hour in many tables is one query, not one per
/// table). Whole-table reads (a full backup's) stay one per table, so a full backup streams
/// table by table as before.
fn group_reads(
    reads: Vec<Read>,
    catalog: &tdibt_core::Catalog,
    db: &str,
    super_tables: &BTreeMap<String, Vec<String>>,
) -> Vec<ReadJob> {
    let mut jobs = Vec::new();
    let mut groups: BTreeMap<(String, i32, i32), Vec<Read>> = BTreeMap::new();
    for read in reads {
        let super_table = catalog
            .id_of(db, &read.table)
            .and_then(|id| catalog.table(id))
            .and_then(|t| t.super_table.clone())
            .filter(|s| super_tables.contains_key(s));
        match super_table {
            Some(st) if read.first.0 != i32::MIN || read.last.0 != i32::MAX => {
                groups
                    .entry((st, read.first.0, read.last.0))
                    .or_default()
                    .push(read);
            }
            _ => jobs.push(ReadJob::One(read)),
        }
    }
    for ((super_table, _, _), reads) in groups {
        for chunk in reads.chunks(TABLES_PER_QUERY) {
            if let [one] = chunk {
                jobs.push(ReadJob::One(one.clone()));
            } else {
                jobs.push(ReadJob::Together {
                    columns: super_tables[&super_table].clone(),
                    super_table: super_table.clone(),
                    reads: chunk.to_vec(),
                });
            }
        }
    }
    jobs
}

/// Reads a table's run of windows, or several tables' in one query.
struct Reader {
    db: String,
    span: BlockSpan,
}

impl ConnectionTask for Reader {
    type Job = ReadJob;
    type Out = Vec<(Read, Vec<WindowRows>)>;

    async fn run(&self, conn: &Connection, job: ReadJob) -> BackupResult<Self::Out> {
        match job {
            ReadJob::One(read) => {
                let windows = read_windows(
                    conn,
                    &self.db,
                    &read.table,
                    self.span,
                    read.first,
                    read.last,
                )
                .await?;
                Ok(vec![(read, windows)])
            }
            ReadJob::Together {
                super_table,
                columns,
                reads,
            } => {
                let tables: Vec<String> = reads.iter().map(|r| r.table.clone()).collect();
                let (first, last) = (reads[0].first, reads[0].last);
                let together = TablesRead {
                    super_table: &super_table,
                    columns: &columns,
                    tables: &tables,
                    first,
                    last,
                };
                let read = read_tables_windows(conn, &self.db, self.span, &together).await?;
                Ok(reads
                    .into_iter()
                    .zip(read)
                    .map(|(r, (_, windows))| (r, windows))
                    .collect())
            }
        }
    }
}
