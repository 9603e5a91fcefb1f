//! End to end against the stand-in: a chain of backups with every kind of change between
//! them restores, for every backup of the chain, exactly the database as it was at that
//! backup's cut, compared row by row through the connector.

use tdibt_backup::maintain::{merge, prune};
use tdibt_backup::{run_restore, run_verify, Against, NoProgress, RestoreOptions, VerifyOptions};
use tdibt_repository::BackupKind;

use crate::support::{snapshot, Setup, Workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_backup_of_a_chain_restores_exactly() {
    let s = Setup::new(12).await;
    let mut work = Workload::new(7, 12);
    work.fill(&s.taos, 40).await;

    let mut backups = Vec::new();
    let mut snapshots = Vec::new();
    let first = s.backup(false).await; // no backup yet: becomes a full one
    assert_eq!(first.kind, BackupKind::Full);
    assert!(first.stats.rows > 0);
    backups.push(first.backup.clone());
    snapshots.push(snapshot(&s.taos, "db").await);
    for round in 1..=5 {
        work.round(&s.taos).await;
        let report = s.backup(false).await;
        assert_eq!(report.kind, BackupKind::Incremental, "round {round}");
        assert_eq!(report.parent.as_ref(), backups.last());
        // Incrementals read what changed, not everything.
        assert!(
            report.stats.rows < first.stats.rows,
            "round {round}: {report:?}"
        );
        backups.push(report.backup.clone());
        snapshots.push(snapshot(&s.taos, "db").await);
    }
    assert_ne!(snapshots[0], snapshots[5], "the workload changed nothing");

    for (k, id) in backups.iter().enumerate() {
        let target = format!("r{k}");
        let report = run_restore(
            &s.repo,
            &s.settings(),
            &RestoreOptions {
                backup: id.clone(),
                target_db: Some(target.clone()),
                jobs: 3,
            },
            &NoProgress,
        )
        .await
        .unwrap();
        assert!(report.is_ok(), "backup {k}: {:?}", report.differences);
        assert_eq!(report.chain.len(), k + 1);
        assert_eq!(snapshot(&s.taos, &target).await, snapshots[k], "backup {k}");
    }

    // The live database and the newest restore both equal the newest backup.
    for db in ["db", "r5"] {
        let verify = run_verify(
            &s.repo,
            &VerifyOptions {
                read_data: true,
                against: Some(Against {
                    settings: s.settings(),
                    backup: backups[5].clone(),
                    database: Some(db.into()),
                    jobs: 2,
                }),
            },
            &NoProgress,
        )
        .await
        .unwrap();
        let against = verify.against.as_ref().unwrap();
        assert!(verify.ok, "{db}: {:?}", against.differences);
        assert!(against.windows_compared > 0);
    }
    // An older backup differs from the live database, window by window.
    let verify = run_verify(
        &s.repo,
        &VerifyOptions {
            read_data: false,
            against: Some(Against {
                settings: s.settings(),
                backup: backups[0].clone(),
                database: None,
                jobs: 2,
            }),
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(!verify.ok);
    assert!(!verify.against.unwrap().differences.is_empty());

    // Restoring an older backup over the live database brings its tables back as they were;
    // tables the backup does not have are left and reported.
    let report = run_restore(
        &s.repo,
        &s.settings(),
        &RestoreOptions {
            backup: backups[1].clone(),
            target_db: None,
            jobs: 2,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(report.is_ok());
    let now = snapshot(&s.taos, "db").await;
    for (table, rows) in &snapshots[1] {
        assert_eq!(now.get(table), Some(rows), "{table}");
    }
    let extra: Vec<String> = now
        .keys()
        .filter(|t| !snapshots[1].contains_key(*t))
        .cloned()
        .collect();
    assert_eq!(report.tables_not_in_backup, extra);

    // A synthetic full of the chain restores the same database, and lets the chain go.
    let merged = merge(&s.repo, &backups[5]).unwrap();
    let pruned = prune(&s.repo, 1, false).unwrap();
    assert_eq!(pruned.deleted.len(), 6);
    assert_eq!(pruned.kept, vec![merged.backup.clone()]);
    let report = run_restore(
        &s.repo,
        &s.settings(),
        &RestoreOptions {
            backup: merged.backup.clone(),
            target_db: Some("merged".into()),
            jobs: 2,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(report.is_ok());
    assert_eq!(snapshot(&s.taos, "merged").await, snapshots[5]);
    let check = s.repo.check(true).unwrap();
    assert!(check.is_ok(), "{:?}", check.problems);

    // And the next incremental builds on the synthetic full.
    work.round(&s.taos).await;
    let next = s.backup(false).await;
    assert_eq!(next.parent.as_ref(), Some(&merged.backup));
    run_restore(
        &s.repo,
        &s.settings(),
        &RestoreOptions {
            backup: next.backup.clone(),
            target_db: Some("after_merge".into()),
            jobs: 2,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(
        snapshot(&s.taos, "after_merge").await,
        snapshot(&s.taos, "db").await
    );
}
