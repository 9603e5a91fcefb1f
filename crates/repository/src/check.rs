//! The repository's self-check, in pg_verifybackup's stages: every manifest reads and its
//! checksum holds; every chain link holds; every pack a manifest needs is there; and with
//! `read_data`, every block is read back and re-hashed. Each problem names its backup and,
//! where there is one, its block.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::RepoError;
use crate::handle::Handle;
use crate::ids::{BackupId, PackId};
use crate::repo::Repository;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub backup: Option<BackupId>,
    /// `table@window` of the block concerned.
    pub block: Option<String>,
    pub pack: Option<PackId>,
    pub what: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    pub backups: usize,
    pub blocks_listed: u64,
    /// Blocks read back and re-hashed (with `read_data`).
    pub blocks_read: u64,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Repository {
    pub fn check(&self, read_data: bool) -> Result<CheckReport, RepoError> {
        let mut report = CheckReport::default();
        self.forget_manifests();
        let ids = self.list_backups()?;
        report.backups = ids.len();
        let mut manifests = BTreeMap::new();
        for id in &ids {
            match self.load_manifest(id) {
                Ok((m, _)) => {
                    manifests.insert(id.clone(), m);
                }
                Err(e) => report.problems.push(Problem {
                    backup: Some(id.clone()),
                    block: None,
                    pack: None,
                    what: e.to_string(),
                }),
            }
        }
        for id in manifests.keys() {
            if let Err(e) = self.chain(id) {
                // Only the link that breaks, not every descendant: those say so themselves.
                if let RepoError::BrokenChain { backup, .. } = &e {
                    if backup != id {
                        continue;
                    }
                }
                if matches!(e, RepoError::Corrupt { .. }) {
                    continue; // reported above, as the manifest's own problem
                }
                report.problems.push(Problem {
                    backup: Some(id.clone()),
                    block: None,
                    pack: None,
                    what: e.to_string(),
                });
            }
        }
        let packs: BTreeSet<PackId> = self.packs()?.into_iter().collect();
        for (id, m) in &manifests {
            // A stored file of another engine (taosdump's) counts as one listed block.
            report.blocks_listed += (m.blocks.len() + m.files.len()) as u64;
            for (of, part) in m.parts() {
                let name = Some(of.to_string());
                if !packs.contains(&part.pack) {
                    report.problems.push(Problem {
                        backup: Some(id.clone()),
                        block: name,
                        pack: Some(part.pack),
                        what: format!("pack {} is missing", Handle::pack(&part.pack)),
                    });
                    continue;
                }
                if read_data {
                    report.blocks_read += 1;
                    if let Err(e) = self.read_block(part) {
                        report.problems.push(Problem {
                            backup: Some(id.clone()),
                            block: name,
                            pack: Some(part.pack),
                            what: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(report)
    }
}
