//! A damaged repository is caught and named; interrupted backups and restores, run again,
//! give a correct chain and a correct database.

use std::path::Path;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tdibt_backup::{
    run_restore, run_verify, BackupOptions, NoProgress, RestoreOptions, VerifyOptions,
};
use tdibt_repository::{BackupId, LocalStore, Repository};

use crate::support::{copy_tree, snapshot, Setup, Workload};

fn files_under(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p, ext));
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Damages a copy of the repository with `damage` and returns what verify says.
async fn verify_damaged(repo_dir: &Path, damage: impl FnOnce(&Path)) -> tdibt_backup::VerifyReport {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(repo_dir, copy.path());
    damage(copy.path());
    let repo = Repository::open(Box::new(LocalStore::new(copy.path()))).unwrap();
    let report = run_verify(
        &repo,
        &VerifyOptions {
            read_data: true,
            against: None,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(!report.ok, "damage went unnoticed");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_names_each_kind_of_damage() {
    let s = Setup::new(6).await;
    let mut work = Workload::new(11, 6);
    work.fill(&s.taos, 30).await;
    let full = s.backup(true).await.backup;
    work.round(&s.taos).await;
    let middle = s.backup(false).await.backup;
    work.round(&s.taos).await;
    let last = s.backup(false).await.backup;
    let dir = s.config.backup.output_path.clone();
    let clean = run_verify(
        &s.repo,
        &VerifyOptions {
            read_data: true,
            against: None,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(clean.ok, "{:?}", clean.repository.problems);
    assert!(clean.repository.blocks_read > 0);

    // A flipped byte in a pack: the block in it and its backup are named.
    let report = verify_damaged(&dir, |d| {
        let pack = &files_under(d, "pack")[0];
        let mut bytes = std::fs::read(pack).unwrap();
        bytes[10] ^= 0x40;
        std::fs::write(pack, bytes).unwrap();
    })
    .await;
    let p = &report.repository.problems[0];
    assert!(p.block.as_deref().is_some_and(|b| b.contains('@')), "{p:?}");
    assert!(p.backup.is_some() && p.pack.is_some(), "{p:?}");

    // A missing pack.
    let report = verify_damaged(&dir, |d| {
        std::fs::remove_file(&files_under(d, "pack")[0]).unwrap();
    })
    .await;
    assert!(report
        .repository
        .problems
        .iter()
        .all(|p| p.what.contains("missing")));
    assert!(report.repository.problems.iter().all(|p| p.block.is_some()));

    // A truncated manifest: that backup is named.
    let report = verify_damaged(&dir, |d| {
        let m = d.join("manifests").join(format!("{middle}.json"));
        let bytes = std::fs::read(&m).unwrap();
        std::fs::write(&m, &bytes[..bytes.len() / 2]).unwrap();
    })
    .await;
    let named: Vec<Option<BackupId>> = report
        .repository
        .problems
        .iter()
        .map(|p| p.backup.clone())
        .collect();
    assert!(
        named.contains(&Some(middle.clone())),
        "{:?}",
        report.repository.problems
    );

    // A broken chain (the middle backup gone): the backup whose parent is missing is named.
    let report = verify_damaged(&dir, |d| {
        std::fs::remove_file(d.join("manifests").join(format!("{middle}.json"))).unwrap();
    })
    .await;
    let p = &report.repository.problems[0];
    assert_eq!(p.backup.as_ref(), Some(&last), "{p:?}");
    assert!(p.what.contains("broken chain"), "{p:?}");
    let _ = full;
}

/// Backups cut off at random points (the future dropped mid-way, as a kill leaves it: some
/// packs and journal written, no manifest, or a manifest and no fold), each run again, give
/// a chain whose every backup restores exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interrupted_backups_and_restores_resume_correctly() {
    let s = Setup::new(10).await;
    let mut work = Workload::new(23, 10);
    work.fill(&s.taos, 60).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let options = BackupOptions {
        jobs: 2,
        pack_target_bytes: 2_000, // many packs, many journal entries to resume from
        // The change feed is drained uninterrupted before each round: capture's own crash
        // safety is tested in the CLI crate by killing `tdibt monitor`; dropping its future
        // here would leave its checkpoint writer running, which a killed process never does.
        drain: false,
        ..BackupOptions::default()
    };
    // How long an uninterrupted backup takes here, to cut the others inside it.
    s.drain().await;
    let t0 = std::time::Instant::now();
    s.backup_with(options.clone()).await;
    let full_time = t0.elapsed();
    // Every backup made in a round holds the database as it was after that round's changes.
    let mut expected = std::collections::BTreeMap::new();
    let record = |expected: &mut std::collections::BTreeMap<BackupId, _>, snap| {
        for id in s.repo.list_backups().unwrap() {
            expected
                .entry(id)
                .or_insert_with(|| std::sync::Arc::clone(&snap));
        }
    };
    record(
        &mut expected,
        std::sync::Arc::new(snapshot(&s.taos, "db").await),
    );
    let mut interrupted = 0;
    let mut skipped = 0;
    for _round in 0..4 {
        work.round(&s.taos).await;
        work.round(&s.taos).await;
        s.drain().await;
        for _ in 0..3 {
            let cut = full_time.mul_f64(rng.random_range(0.0..1.0));
            let run = tdibt_backup::run_backup(&s.config, &s.repo, &options, &NoProgress);
            if tokio::time::timeout(cut, run).await.is_err() {
                interrupted += 1;
            }
            // The writer lock of a dropped run is released with it; a killed process's
            // would be stale and need `tdibt repo unlock`.
        }
        let report = s.backup_with(options.clone()).await;
        skipped += report.reads_skipped;
        record(
            &mut expected,
            std::sync::Arc::new(snapshot(&s.taos, "db").await),
        );
    }
    assert!(interrupted > 0, "no run was interrupted");
    eprintln!("{interrupted} interrupted runs, {skipped} reads skipped on resume");

    let check = s.repo.check(true).unwrap();
    assert!(check.is_ok(), "{:?}", check.problems);
    // Every backup restores the database as of its cut; each restore is interrupted once
    // first and run again over what it left.
    for (k, (id, snap)) in expected.iter().enumerate() {
        let target = format!("r{k}");
        let options = RestoreOptions {
            backup: id.clone(),
            target_db: Some(target.clone()),
            jobs: 2,
        };
        let cut = Duration::from_millis(rng.random_range(0..40));
        let _ = tokio::time::timeout(
            cut,
            run_restore(&s.repo, &s.settings(), &options, &NoProgress),
        )
        .await;
        let report = run_restore(&s.repo, &s.settings(), &options, &NoProgress)
            .await
            .unwrap();
        assert!(report.is_ok(), "{k}: {:?}", report.differences);
        let got = snapshot(&s.taos, &target).await;
        if got != **snap {
            for (t, rows) in snap.iter() {
                if got.get(t) != Some(rows) {
                    let g = got.get(t).cloned().unwrap_or_default();
                    let extra: Vec<_> = g.iter().filter(|r| !rows.contains(r)).collect();
                    let missing: Vec<_> = rows.iter().filter(|r| !g.contains(r)).collect();
                    eprintln!("DIFF {t}: extra {extra:?} missing {missing:?}");
                }
            }
            for m in s.repo.chain(id).unwrap() {
                eprintln!(
                    "MANIFEST {} parent {:?} tomb {:?} blocks {:?}",
                    m.id,
                    m.parent,
                    m.tombstones,
                    m.blocks
                        .iter()
                        .map(|b| (b.table.clone(), b.window, b.rows))
                        .collect::<Vec<_>>()
                );
            }
        }
        assert_eq!(&got, &**snap, "backup {k} ({id})");
    }
}
