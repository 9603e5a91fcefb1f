//! The WAL watcher: per-vgroup write activity from a TDengine data folder's WAL files, when
//! tdibt runs on the server's machine (`monitoring.wal_path`).
//!
//! TDengine 3 keeps one WAL per vnode in `<dataDir>/vnode/vnode<vgId>/wal/`: segments named
//! by their first version (`%020d.log`, with a `.idx` beside each) and a JSON meta file
//! `meta-ver<N>` whose `meta.lastVer` is the last version written (TDengine's
//! `source/libs/wal/src/walMeta.c`). The watcher never reads the segments' contents: it
//! counts file-system events (inotify through `notify`) and, every `wal_check_interval_ms`,
//! measures how much the segments grew and reads `lastVer`. Capture never depends on it —
//! TMQ is the source of truth; this only tells an operator that writes are happening and
//! whether capture keeps up.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tdibt_core::clock::now_unix_ms;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::stats::WalActivity;

#[derive(Debug, thiserror::Error)]
pub enum WalWatchError {
    #[error(
        "monitoring.wal_path {0}: not a TDengine data folder (expected <dataDir> with vnode/, \
         the vnode/ folder itself, or one vnode's wal/ folder)"
    )]
    NotADataFolder(PathBuf),
}

/// A running watcher; stops when dropped.
pub struct WalWatcher {
    shared: Arc<Mutex<Shared>>,
    scanner: JoinHandle<()>,
}

impl Drop for WalWatcher {
    fn drop(&mut self) {
        self.scanner.abort();
    }
}

#[derive(Default)]
struct Shared {
    activity: BTreeMap<i32, WalActivity>,
    /// Last seen size of every segment, to turn sizes into bytes written.
    sizes: HashMap<PathBuf, u64>,
    watcher: Option<RecommendedWatcher>,
    watched: Vec<PathBuf>,
}

impl WalWatcher {
    /// Starts watching; `interval` is `monitoring.wal_check_interval_ms`.
    pub fn start(path: &Path, interval: Duration) -> Result<WalWatcher, WalWatchError> {
        let root = WalRoot::resolve(path)?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let events = Arc::clone(&shared);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if event.kind.is_access() {
                return;
            }
            let now = now_unix_ms();
            let mut s = lock(&events);
            for vg in event.paths.iter().filter_map(|p| vgroup_of_wal_file(p)) {
                let a = s.activity.entry(vg).or_default();
                a.events += 1;
                a.last_write_unix_ms = Some(now);
            }
        });
        match watcher {
            Ok(w) => lock(&shared).watcher = Some(w),
            // inotify limits or an exotic file system: the periodic scan still reports growth.
            Err(e) => warn!("WAL watcher: file events unavailable ({e}); measuring sizes only"),
        }
        // The first scan is the baseline: what was written before tdibt started is not
        // activity.
        scan(&root, &shared, true);
        let scanner_shared = Arc::clone(&shared);
        let scanner = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                scan(&root, &scanner_shared, false);
            }
        });
        Ok(WalWatcher { shared, scanner })
    }

    /// Activity per vgroup id since the watcher started.
    pub fn activity(&self) -> BTreeMap<i32, WalActivity> {
        lock(&self.shared).activity.clone()
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where the vnodes' WAL folders are.
#[derive(Clone, Debug)]
enum WalRoot {
    /// `<dataDir>/vnode`: every `vnode<N>/wal` below it, including vnodes created later.
    Vnodes(PathBuf),
    /// One vnode's `wal` folder.
    Single(PathBuf),
}

impl WalRoot {
    fn resolve(path: &Path) -> Result<WalRoot, WalWatchError> {
        if path.join("vnode").is_dir() {
            Ok(WalRoot::Vnodes(path.join("vnode")))
        } else if path.file_name().is_some_and(|n| n == "vnode") && path.is_dir() {
            Ok(WalRoot::Vnodes(path.to_path_buf()))
        } else if path.is_dir() && vgroup_of_wal_dir(path).is_some() {
            Ok(WalRoot::Single(path.to_path_buf()))
        } else {
            Err(WalWatchError::NotADataFolder(path.to_path_buf()))
        }
    }

    fn wal_dirs(&self) -> Vec<(i32, PathBuf)> {
        match self {
            WalRoot::Single(dir) => vgroup_of_wal_dir(dir)
                .map(|vg| vec![(vg, dir.clone())])
                .unwrap_or_default(),
            WalRoot::Vnodes(vnodes) => std::fs::read_dir(vnodes)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path().join("wal"))
                        .filter(|wal| wal.is_dir())
                        .filter_map(|wal| vgroup_of_wal_dir(&wal).map(|vg| (vg, wal)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// `.../vnode<N>/wal` → N.
fn vgroup_of_wal_dir(dir: &Path) -> Option<i32> {
    if dir.file_name()? != "wal" {
        return None;
    }
    dir.parent()?
        .file_name()?
        .to_str()?
        .strip_prefix("vnode")?
        .parse()
        .ok()
}

fn vgroup_of_wal_file(file: &Path) -> Option<i32> {
    vgroup_of_wal_dir(file.parent()?)
}

/// Measures segment growth and reads `lastVer` in every WAL folder; adds watches for WAL
/// folders not watched yet (vnodes created after the start).
fn scan(root: &WalRoot, shared: &Mutex<Shared>, baseline: bool) {
    let now = now_unix_ms();
    for (vg, dir) in root.wal_dirs() {
        let mut grown = 0u64;
        let mut seen = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "log") {
                    if let Ok(m) = e.metadata() {
                        seen.push((p, m.len()));
                    }
                }
            }
        }
        let last_version = read_last_version(&dir);
        let mut s = lock(shared);
        if !s.watched.contains(&dir) {
            let added = s
                .watcher
                .as_mut()
                .map(|w| w.watch(&dir, RecursiveMode::NonRecursive));
            if let Some(Err(e)) = added {
                warn!("WAL watcher: cannot watch {}: {e}", dir.display());
            }
            s.watched.push(dir.clone());
        }
        for (p, len) in seen {
            // A segment first seen after the baseline was written entirely since.
            let before = s
                .sizes
                .insert(p, len)
                .unwrap_or(if baseline { len } else { 0 });
            grown += len.saturating_sub(before);
        }
        let a = s.activity.entry(vg).or_default();
        if grown > 0 {
            a.bytes_written += grown;
            a.last_write_unix_ms = Some(now);
            debug!("vgroup {vg}: WAL grew by {grown} bytes");
        }
        if last_version.is_some() {
            a.last_version = last_version;
        }
    }
}

/// `meta.lastVer` of the newest `meta-ver<N>` file (versions are strings in TDengine's JSON).
fn read_last_version(dir: &Path) -> Option<i64> {
    let newest = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n: u64 = name.to_str()?.strip_prefix("meta-ver")?.parse().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n)?;
    let text = std::fs::read_to_string(newest.1).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    match &json["meta"]["lastVer"] {
        serde_json::Value::String(s) => s.parse().ok(),
        v => v.as_i64(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A data folder laid out as TDengine 3 lays it out (built by hand: no TDengine here).
    fn data_folder(vnodes: &[i32]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for vg in vnodes {
            let wal = dir.path().join(format!("vnode/vnode{vg}/wal"));
            std::fs::create_dir_all(&wal).unwrap();
            std::fs::write(wal.join("00000000000000000000.log"), vec![0u8; 100]).unwrap();
            std::fs::write(wal.join("00000000000000000000.idx"), vec![0u8; 16]).unwrap();
            write_meta(&wal, 0, 7);
        }
        dir
    }

    fn write_meta(wal: &Path, n: u32, last: i64) {
        let meta = format!(
            r#"{{"meta":{{"firstVer":"0","snapshotVer":"-1","commitVer":"{last}","lastVer":"{last}"}},"files":[]}}"#
        );
        std::fs::write(wal.join(format!("meta-ver{n}")), meta).unwrap();
    }

    fn append(path: &Path, n: usize) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(&vec![1u8; n]).unwrap();
        f.sync_all().unwrap();
    }

    async fn until(w: &WalWatcher, what: impl Fn(&BTreeMap<i32, WalActivity>) -> bool) -> bool {
        for _ in 0..200 {
            if what(&w.activity()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    #[tokio::test]
    async fn reports_growth_events_and_last_version_per_vgroup() {
        let data = data_folder(&[2, 3]);
        let w = WalWatcher::start(data.path(), Duration::from_millis(20)).unwrap();
        // The baseline: nothing written yet, lastVer read.
        assert!(until(&w, |a| a.get(&2).and_then(|x| x.last_version) == Some(7)).await);
        assert_eq!(w.activity()[&2].bytes_written, 0);

        let wal2 = data.path().join("vnode/vnode2/wal");
        append(&wal2.join("00000000000000000000.log"), 250);
        std::fs::write(wal2.join("00000000000000000040.log"), vec![0u8; 50]).unwrap();
        std::fs::remove_file(wal2.join("meta-ver0")).unwrap();
        write_meta(&wal2, 1, 42);
        assert!(
            until(&w, |a| a[&2].bytes_written == 300
                && a[&2].last_version == Some(42))
            .await,
            "{:?}",
            w.activity()
        );
        let a = w.activity();
        assert!(a[&2].events > 0, "inotify events counted: {a:?}");
        assert!(a[&2].last_write_unix_ms.is_some());
        assert_eq!(a[&3].bytes_written, 0, "vgroup 3 was not written");
        assert_eq!(a[&3].last_version, Some(7));
    }

    #[tokio::test]
    async fn finds_vnodes_created_after_the_start() {
        let data = data_folder(&[2]);
        let w = WalWatcher::start(data.path(), Duration::from_millis(20)).unwrap();
        let wal5 = data.path().join("vnode/vnode5/wal");
        std::fs::create_dir_all(&wal5).unwrap();
        append(&wal5.join("00000000000000000000.log"), 64);
        assert!(until(&w, |a| a.get(&5).is_some_and(|x| x.bytes_written == 64)).await);
    }

    #[tokio::test]
    async fn accepts_the_three_forms_and_refuses_others() {
        let data = data_folder(&[4]);
        let d = data.path();
        for p in [d.to_path_buf(), d.join("vnode"), d.join("vnode/vnode4/wal")] {
            let w = WalWatcher::start(&p, Duration::from_millis(20)).unwrap();
            assert!(until(&w, |a| a.contains_key(&4)).await, "{}", p.display());
        }
        for p in [d.join("missing"), d.join("vnode/vnode4")] {
            let err = WalWatcher::start(&p, Duration::from_millis(20))
                .err()
                .unwrap();
            assert!(err.to_string().contains("monitoring.wal_path"), "{err}");
        }
    }

    #[test]
    fn vgroup_ids_come_from_the_vnode_folder() {
        assert_eq!(
            vgroup_of_wal_dir(Path::new("/d/vnode/vnode12/wal")),
            Some(12)
        );
        assert_eq!(
            vgroup_of_wal_file(Path::new("/d/vnode/vnode3/wal/x.log")),
            Some(3)
        );
        assert_eq!(vgroup_of_wal_dir(Path::new("/d/vnode/vnodeX/wal")), None);
        assert_eq!(vgroup_of_wal_dir(Path::new("/d/vnode/vnode3/tsdb")), None);
    }
}
