//! What a repository file is, and where it lives: the repository's layout in one place.
//!
//! Everything above the [`crate::Store`] names a file by a [`Handle`] (its kind and name,
//! as restic's `Handle{Type, Name}`); only [`Handle::key`] turns one into a storage key, and
//! only [`Handle::from_key`] reads one back from a listing, so no code path can write a
//! pack under the manifests' folder or list journals as packs.
//!
//! ```text
//! tdibt-repository.json          FileKind::Config    format, version, id, creation time
//! lock.json                      FileKind::Lock      present while a writer holds the repository
//! manifests/<backup-id>.json     FileKind::Manifest  one per finished backup
//! progress/<backup-id>.json      FileKind::Journal   resume journal of a backup in progress
//! packs/<2 hex>/<64 hex>.pack    FileKind::Pack      content-addressed packs
//! ```

use std::fmt;

use crate::ids::{BackupId, PackId};

/// The kinds of file a repository holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    Config,
    Lock,
    Manifest,
    Journal,
    Pack,
}

impl FileKind {
    /// Every kind, for listings and the conformance suite.
    pub const ALL: [FileKind; 5] = [
        FileKind::Config,
        FileKind::Lock,
        FileKind::Manifest,
        FileKind::Journal,
        FileKind::Pack,
    ];

    /// The folder a kind's files live under (`""`: the repository's top level).
    pub fn folder(self) -> &'static str {
        match self {
            FileKind::Config | FileKind::Lock => "",
            FileKind::Manifest => "manifests",
            FileKind::Journal => "progress",
            FileKind::Pack => "packs",
        }
    }

    /// The one file of a kind that has a fixed name.
    fn fixed_name(self) -> Option<&'static str> {
        match self {
            FileKind::Config => Some("tdibt-repository.json"),
            FileKind::Lock => Some("lock.json"),
            _ => None,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Config => "config",
            FileKind::Lock => "lock",
            FileKind::Manifest => "manifest",
            FileKind::Journal => "journal",
            FileKind::Pack => "pack",
        })
    }
}

/// One repository file: its kind and its name within the kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    kind: FileKind,
    name: String,
}

impl Handle {
    pub fn config() -> Handle {
        Handle::fixed(FileKind::Config)
    }

    pub fn lock() -> Handle {
        Handle::fixed(FileKind::Lock)
    }

    pub fn manifest(id: &BackupId) -> Handle {
        Handle {
            kind: FileKind::Manifest,
            name: id.to_string(),
        }
    }

    pub fn journal(id: &BackupId) -> Handle {
        Handle {
            kind: FileKind::Journal,
            name: id.to_string(),
        }
    }

    pub fn pack(id: &PackId) -> Handle {
        Handle {
            kind: FileKind::Pack,
            name: id.to_hex(),
        }
    }

    fn fixed(kind: FileKind) -> Handle {
        Handle {
            kind,
            name: kind.fixed_name().unwrap_or_default().to_string(),
        }
    }

    pub fn kind(&self) -> FileKind {
        self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The backup a manifest or journal belongs to.
    pub fn backup_id(&self) -> Option<BackupId> {
        matches!(self.kind, FileKind::Manifest | FileKind::Journal)
            .then(|| self.name.parse().ok())
            .flatten()
    }

    /// The pack a pack file holds.
    pub fn pack_id(&self) -> Option<PackId> {
        (self.kind == FileKind::Pack)
            .then(|| self.name.parse().ok())
            .flatten()
    }

    /// The storage key: a `/`-separated path relative to the repository's root.
    pub fn key(&self) -> String {
        let name = &self.name;
        match self.kind {
            FileKind::Config | FileKind::Lock => name.clone(),
            FileKind::Manifest | FileKind::Journal => {
                format!("{}/{name}.json", self.kind.folder())
            }
            // Packs fan out over 256 folders by their first two hex digits.
            FileKind::Pack => format!("packs/{}/{name}.pack", name.get(..2).unwrap_or("00")),
        }
    }

    /// The handle of kind `kind` a storage key names; `None` for anything else found there
    /// (a stray file, a temporary file, another kind's file).
    pub fn from_key(kind: FileKind, key: &str) -> Option<Handle> {
        let name = match kind {
            FileKind::Config | FileKind::Lock => {
                return (Some(key) == kind.fixed_name()).then(|| Handle::fixed(kind))
            }
            FileKind::Manifest | FileKind::Journal => key
                .strip_prefix(kind.folder())?
                .strip_prefix('/')?
                .strip_suffix(".json")?,
            FileKind::Pack => {
                let (fan, file) = key.strip_prefix("packs/")?.split_once('/')?;
                let name = file.strip_suffix(".pack")?;
                if name.get(..2) != Some(fan) {
                    return None;
                }
                name
            }
        };
        if name.is_empty() || name.contains('/') {
            return None;
        }
        let handle = Handle {
            kind,
            name: name.to_string(),
        };
        (handle.key() == key).then_some(handle)
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout is the repository format: these keys are what existing repositories hold.
    #[test]
    fn keys_are_the_documented_layout_and_read_back() {
        let id: BackupId = "20261124T221500Z-3fa2c1".parse().unwrap();
        let pack = PackId::of(b"pack");
        let hex = pack.to_hex();
        let cases = [
            (Handle::config(), "tdibt-repository.json".to_string()),
            (Handle::lock(), "lock.json".to_string()),
            (
                Handle::manifest(&id),
                "manifests/20261124T221500Z-3fa2c1.json".to_string(),
            ),
            (
                Handle::journal(&id),
                "progress/20261124T221500Z-3fa2c1.json".to_string(),
            ),
            (
                Handle::pack(&pack),
                format!("packs/{}/{hex}.pack", &hex[..2]),
            ),
        ];
        for (handle, key) in cases {
            assert_eq!(handle.key(), key);
            assert_eq!(Handle::from_key(handle.kind(), &key), Some(handle.clone()));
            for other in FileKind::ALL.into_iter().filter(|k| *k != handle.kind()) {
                assert_eq!(Handle::from_key(other, &key), None, "{key} as {other}");
            }
        }
        assert_eq!(Handle::manifest(&id).backup_id(), Some(id.clone()));
        assert_eq!(Handle::pack(&pack).pack_id(), Some(pack));
        assert_eq!(Handle::pack(&pack).backup_id(), None);
    }

    #[test]
    fn stray_keys_are_not_handles() {
        for key in [
            "notes.txt",
            "manifests/x.json.tmp",
            "manifests/a/b.json",
            "manifests/.json",
            "packs/ab/cd.pack",
            "packs/abcdef.pack",
            "progress",
            "",
        ] {
            for kind in FileKind::ALL {
                assert_eq!(Handle::from_key(kind, key), None, "{key} as {kind}");
            }
        }
    }
}
