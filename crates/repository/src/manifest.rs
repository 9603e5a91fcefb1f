//! A backup's manifest: what it covers and where every block is. Pretty JSON followed by a
//! last line `blake3 <hex>` over everything before it (pg_verifybackup's lesson), and the
//! parent's id *and* that checksum, so a chain cannot be spliced silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{RepoError, RepoResult};
use crate::ids::BackupId;
use crate::pack::BlockRef;

/// The newest manifest format this build reads. Version 2 added `engine` and `files`: a
/// backup taosdump stored is written as version 2, so a build that knows only version 1
/// refuses it instead of restoring it as a backup with no blocks. Backups of tdibt's own
/// engine are still written as version 1 (every build reads them).
pub const MANIFEST_VERSION: u32 = 2;

/// What stored a backup's rows: tdibt's own range reads (raw blocks, restored by tdibt) or
/// taosdump (its output files, restored by `taosdump -i`). A chain never mixes the two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[default]
    Tdibt,
    Taosdump,
}

impl Engine {
    pub fn is_tdibt(&self) -> bool {
        *self == Engine::Tdibt
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Tdibt => "tdibt",
            Engine::Taosdump => "taosdump",
        }
    }

    /// The manifest format a backup of this engine is written in.
    pub fn manifest_version(&self) -> u32 {
        match self {
            Engine::Tdibt => 1,
            Engine::Taosdump => 2,
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tdibt" => Ok(Engine::Tdibt),
            "taosdump" => Ok(Engine::Taosdump),
            other => Err(format!("unknown engine {other:?}: tdibt or taosdump")),
        }
    }
}

/// A file another engine wrote (taosdump's output), stored in parts like blocks: `path` is
/// relative to the backup's output folder, with `/` between components.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub path: String,
    pub bytes: u64,
    pub parts: Vec<BlockRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    Full,
    Incremental,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DdlKind {
    Database,
    SuperTable,
    Table,
}

/// A statement that recreates something the backup covers (`SHOW CREATE ...`), and the
/// schema it had when this backup recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdlEntry {
    pub kind: DdlKind,
    pub name: String,
    pub sql: String,
    /// Columns and tags as `DESCRIBE` showed them (super tables and tables; manifests
    /// written before schemas were recorded have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<TableSchema>,
}

/// One column or tag as `DESCRIBE` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    /// The type's name (`VARCHAR`, `INT UNSIGNED`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    /// Declared length (characters for VARCHAR/NCHAR, the value size for fixed types).
    pub length: i32,
}

/// A table's or super table's columns and tags at the time of a backup; a child table
/// also names its super table (its columns are the super table's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub columns: Vec<ColumnDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<ColumnDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub super_table: Option<String>,
}

/// One stored block: a table's rows in one window, as TDengine's raw blocks. A window's
/// rows may arrive in several raw blocks from the server (TDengine caps a block's rows);
/// each is stored as it came, one part each, in time order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    pub table: String,
    pub window: i32,
    pub rows: u64,
    /// Column names of the raw blocks, in order.
    pub columns: Vec<String>,
    pub parts: Vec<BlockRef>,
}

/// Windows whose older blocks no longer hold: a range emptied (DELETE), a range read again
/// by this backup (what it read replaces everything the chain held there, so windows that
/// read back empty are emptied), or a whole table dropped (`windows: None`). Applied before
/// the same manifest's blocks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tombstone {
    pub table: String,
    /// First and last window, both included; `None` for the whole table.
    pub windows: Option<(i32, i32)>,
}

impl Tombstone {
    pub fn covers(&self, table: &str, window: i32) -> bool {
        self.table == table
            && self
                .windows
                .is_none_or(|(first, last)| first <= window && window <= last)
    }
}

/// Size figures of one backup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupStats {
    pub blocks: u64,
    pub rows: u64,
    pub raw_bytes: u64,
    /// Bytes this backup added to the repository (blocks already stored cost nothing).
    pub stored_bytes: u64,
    pub reused_blocks: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub id: BackupId,
    pub parent: Option<BackupId>,
    /// The parent manifest's `blake3` line.
    pub parent_manifest_blake3: Option<String>,
    pub kind: BackupKind,
    pub database: String,
    /// `ms`, `us` or `ns`.
    pub precision: String,
    /// Window length in the database's precision.
    pub block_span: i64,
    pub server_version: String,
    /// Per vgroup, the TMQ offset up to which changes are in this backup.
    pub cut: BTreeMap<i32, i64>,
    pub started_at_unix_ms: i64,
    pub finished_at_unix_ms: i64,
    pub ddl: Vec<DdlEntry>,
    pub blocks: Vec<BlockEntry>,
    pub tombstones: Vec<Tombstone>,
    pub stats: BackupStats,
    /// For a synthetic full made by `tdibt merge`: the backup whose chain it combines (it
    /// restores to exactly that backup's state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<BackupId>,
    /// What stored the rows (absent: tdibt).
    #[serde(default, skip_serializing_if = "Engine::is_tdibt")]
    pub engine: Engine,
    /// Another engine's output files (taosdump's); empty for tdibt's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<StoredFile>,
}

/// What a stored part belongs to (see [`Manifest::parts`]); shows as `table@window` or the
/// file's path.
#[derive(Clone, Copy, Debug)]
pub enum PartOf<'a> {
    Block(&'a BlockEntry),
    File(&'a StoredFile),
}

impl std::fmt::Display for PartOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartOf::Block(b) => write!(f, "{}@{}", b.table, b.window),
            PartOf::File(file) => f.write_str(&file.path),
        }
    }
}

impl Manifest {
    /// Every stored part the backup needs, blocks' and files' alike, each with what it
    /// belongs to: what pruning must keep and verification must read.
    pub fn parts(&self) -> impl Iterator<Item = (PartOf<'_>, &BlockRef)> {
        let blocks = self
            .blocks
            .iter()
            .flat_map(|b| b.parts.iter().map(move |r| (PartOf::Block(b), r)));
        let files = self
            .files
            .iter()
            .flat_map(|f| f.parts.iter().map(move |r| (PartOf::File(f), r)));
        blocks.chain(files)
    }

    /// The manifest file: JSON, then `blake3 <hex>` of the JSON on the last line.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with_sum().0
    }

    /// The manifest file and its checksum (what [`Manifest::decode`] would return).
    pub fn encode_with_sum(&self) -> (Vec<u8>, String) {
        // Serialising plain data into a Vec cannot fail.
        // Compact: a full backup's manifest lists every block (`jq .` shows it readably).
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        let sum = blake3::hash(&out).to_hex().to_string();
        out.extend_from_slice(format!("blake3 {sum}\n").as_bytes());
        (out, sum)
    }

    /// Reads a manifest file, checking its checksum line and version; returns it with that
    /// checksum (what a child records as `parent_manifest_blake3`).
    pub fn decode(bytes: &[u8], name: &str) -> RepoResult<(Manifest, String)> {
        let bad = |reason: &str| RepoError::corrupt(name, reason);
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .ok_or_else(|| bad("truncated: no checksum line"))?;
        let last = text[body_end..].trim_end_matches('\n');
        let sum = last
            .strip_prefix("blake3 ")
            .ok_or_else(|| bad("truncated: no checksum line"))?;
        if blake3::hash(&bytes[..body_end]).to_hex().as_str() != sum {
            return Err(bad("checksum mismatch"));
        }
        // The whole manifest in one pass; the version alone only when that fails, to tell a
        // newer format (which may not parse as this one) from damage.
        #[derive(Deserialize)]
        struct Version {
            #[serde(default)]
            format_version: u32,
        }
        let future = |found: u32| RepoError::FutureVersion {
            path: name.to_string(),
            found,
            supported: MANIFEST_VERSION,
        };
        let manifest: Manifest = match serde_json::from_slice(&bytes[..body_end]) {
            Ok(m) => m,
            Err(e) => {
                return Err(
                    match serde_json::from_slice::<Version>(&bytes[..body_end]) {
                        Ok(v) if v.format_version > MANIFEST_VERSION => future(v.format_version),
                        _ => bad(&e.to_string()),
                    },
                )
            }
        };
        if manifest.format_version > MANIFEST_VERSION {
            return Err(future(manifest.format_version));
        }
        Ok((manifest, sum.to_string()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids::{BlockHash, PackId};

    pub fn sample(id: BackupId, parent: Option<(BackupId, String)>) -> Manifest {
        let (parent, parent_manifest_blake3) = match parent {
            Some((p, s)) => (Some(p), Some(s)),
            None => (None, None),
        };
        Manifest {
            format_version: Engine::Tdibt.manifest_version(),
            id,
            kind: if parent.is_some() {
                BackupKind::Incremental
            } else {
                BackupKind::Full
            },
            parent,
            parent_manifest_blake3,
            database: "db".into(),
            precision: "ms".into(),
            block_span: 3_600_000,
            server_version: "3.3.6.0".into(),
            cut: BTreeMap::from([(2, 10), (3, 7)]),
            started_at_unix_ms: 1,
            finished_at_unix_ms: 2,
            ddl: vec![
                DdlEntry {
                    kind: DdlKind::Database,
                    name: "db".into(),
                    sql: "CREATE DATABASE `db`".into(),
                    schema: None,
                },
                DdlEntry {
                    kind: DdlKind::SuperTable,
                    name: "m".into(),
                    sql: "CREATE STABLE `m` (`ts` TIMESTAMP, `v` NCHAR(8)) TAGS (`g` INT)".into(),
                    schema: Some(TableSchema {
                        columns: vec![
                            ColumnDef {
                                name: "ts".into(),
                                ty: "TIMESTAMP".into(),
                                length: 8,
                            },
                            ColumnDef {
                                name: "v".into(),
                                ty: "NCHAR".into(),
                                length: 8,
                            },
                        ],
                        tags: vec![ColumnDef {
                            name: "g".into(),
                            ty: "INT".into(),
                            length: 4,
                        }],
                        super_table: None,
                    }),
                },
            ],
            blocks: vec![BlockEntry {
                table: "t1".into(),
                window: -3,
                rows: 5,
                columns: vec!["ts".into(), "v".into()],
                parts: vec![BlockRef {
                    hash: BlockHash::of(b"x"),
                    pack: PackId::of(b"p"),
                    offset: 0,
                    length: 1,
                    raw_length: 1,
                    compressed: false,
                }],
            }],
            tombstones: vec![Tombstone {
                table: "t2".into(),
                windows: None,
            }],
            stats: BackupStats::default(),
            merged_from: None,
            engine: Engine::Tdibt,
            files: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_every_kind_of_damage() {
        let m = sample(BackupId::new(0, b"a"), None);
        let bytes = m.encode();
        let (back, sum) = Manifest::decode(&bytes, "m").unwrap();
        assert_eq!(back, m);
        assert_eq!(sum.len(), 64);
        // Truncated anywhere: refused.
        for cut in [bytes.len() - 2, bytes.len() - 30, bytes.len() / 2, 0] {
            let err = Manifest::decode(&bytes[..cut], "m1.json")
                .unwrap_err()
                .to_string();
            assert!(err.contains("m1.json"), "{err}");
        }
        // A flipped byte in the body.
        let mut flipped = bytes.clone();
        flipped[10] ^= 0x20;
        assert!(Manifest::decode(&flipped, "m")
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        // A future version, properly checksummed, is refused as such.
        let mut future = m.clone();
        future.format_version = MANIFEST_VERSION + 1;
        let err = Manifest::decode(&future.encode(), "m").unwrap_err();
        assert!(matches!(err, RepoError::FutureVersion { .. }), "{err}");
    }

    #[test]
    fn a_taosdump_backup_is_version_2_and_lists_its_files_parts() {
        let tdibt = sample(BackupId::new(0, b"a"), None);
        // tdibt's own backups stay version 1, with neither new field written.
        let text = String::from_utf8(tdibt.encode()).unwrap();
        assert!(text.contains("\"format_version\":1"), "{text}");
        assert!(
            !text.contains("\"engine\"") && !text.contains("\"files\""),
            "{text}"
        );
        let part = tdibt.blocks[0].parts[0];
        let mut dumped = tdibt.clone();
        dumped.engine = Engine::Taosdump;
        dumped.format_version = Engine::Taosdump.manifest_version();
        dumped.files = vec![StoredFile {
            path: "dump-0001/data0/db.t1.avro".into(),
            bytes: 1,
            parts: vec![BlockRef {
                hash: BlockHash::of(b"y"),
                ..part
            }],
        }];
        let (back, _) = Manifest::decode(&dumped.encode(), "m").unwrap();
        assert_eq!(back, dumped);
        assert_eq!(back.format_version, 2);
        let parts: Vec<String> = back
            .parts()
            .map(|(of, r)| format!("{of} {}", r.hash.to_hex()))
            .collect();
        assert_eq!(
            parts,
            [
                format!("t1@-3 {}", BlockHash::of(b"x").to_hex()),
                format!(
                    "dump-0001/data0/db.t1.avro {}",
                    BlockHash::of(b"y").to_hex()
                )
            ]
        );
    }
}
