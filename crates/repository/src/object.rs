//! A repository in object storage (S3 and compatible services, through the `object_store`
//! crate), behind the same [`Store`] interface as a local folder.
//!
//! `object_store` is async and the repository logic is not (it runs on blocking threads and
//! in short sections of async code alike), so the store owns a small runtime and each call
//! waits for its future there: safe from any thread, inside or outside another runtime.
//!
//! Object stores write an object whole or not at all, so `write_atomic` is a plain put;
//! `create_new` (the writer lock) is a conditional put (`PutMode::Create`), which S3 honours
//! with `If-None-Match` (set `AWS_CONDITIONAL_PUT` for services that need another mode).

use std::future::Future;
use std::io;
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use crate::store::Store;

pub struct BucketStore {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    describe: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl BucketStore {
    /// A store under `prefix` of `store`; `describe` names it in messages.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        describe: impl Into<String>,
    ) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tdibt-object-store")
            .enable_all()
            .build()?;
        Ok(BucketStore {
            store,
            prefix: ObjectPath::from(prefix.trim_matches('/')),
            describe: describe.into(),
            runtime: Some(runtime),
        })
    }

    /// `s3://bucket/prefix`: credentials, region and endpoint from the `AWS_*` environment
    /// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT` for S3-compatible services, `AWS_ALLOW_HTTP` for plain http).
    pub fn s3(url: &str) -> io::Result<Self> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{url}: no bucket"),
            ));
        }
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(io::Error::other)?;
        Self::new(Arc::new(store), prefix, url)
    }

    fn path(&self, key: &str) -> ObjectPath {
        key.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |p, part| p.child(part))
    }

    /// Runs `fut` on the store's runtime and waits for it.
    fn wait<T: Send + 'static>(
        &self,
        fut: impl Future<Output = io::Result<T>> + Send + 'static,
    ) -> io::Result<T> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| io::Error::other("the object store is shut down"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| io::Error::other("the object store's task ended without an answer"))?
    }
}

impl Drop for BucketStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which async code forbids; this does not.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Store for BucketStore {
    fn read(&self, key: &str) -> io::Result<Vec<u8>> {
        let (store, path) = (Arc::clone(&self.store), self.path(key));
        self.wait(async move {
            let got = store.get(&path).await.map_err(io::Error::from)?;
            Ok(got.bytes().await.map_err(io::Error::from)?.to_vec())
        })
    }

    fn read_range(&self, key: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let (store, path) = (Arc::clone(&self.store), self.path(key));
        self.wait(async move {
            let bytes = store
                .get_range(&path, offset..offset + len as u64)
                .await
                .map_err(io::Error::from)?;
            if bytes.len() < len {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short object"));
            }
            Ok(bytes.to_vec())
        })
    }

    fn write_atomic(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let (store, path) = (Arc::clone(&self.store), self.path(key));
        let payload = PutPayload::from(bytes.to_vec());
        self.wait(async move {
            store.put(&path, payload).await.map_err(io::Error::from)?;
            Ok(())
        })
    }

    fn create_new(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        let (store, path) = (Arc::clone(&self.store), self.path(key));
        let payload = PutPayload::from(bytes.to_vec());
        self.wait(async move {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match store.put_opts(&path, payload, options).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                Err(e) => Err(io::Error::from(e)),
            }
        })
    }

    fn exists(&self, key: &str) -> io::Result<bool> {
        let (store, path) = (Arc::clone(&self.store), self.path(key));
        self.wait(async move {
            match store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(io::Error::from(e)),
            }
        })
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        let (store, path) = (Arc::clone(&self.store), self.path(key));
        self.wait(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(io::Error::from(e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let store = Arc::clone(&self.store);
        let base = self.prefix.clone();
        let under = self.path(prefix);
        self.wait(async move {
            let found: Vec<_> = store
                .list(Some(&under))
                .try_collect()
                .await
                .map_err(io::Error::from)?;
            let mut keys: Vec<String> = found
                .into_iter()
                .filter_map(|meta| {
                    let parts: Vec<String> = meta
                        .location
                        .prefix_match(&base)?
                        .map(|p| p.as_ref().to_string())
                        .collect();
                    Some(parts.join("/"))
                })
                .collect();
            keys.sort();
            Ok(keys)
        })
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> BucketStore {
        BucketStore::new(
            Arc::new(object_store::memory::InMemory::new()),
            "backups/prod",
            "memory://",
        )
        .unwrap()
    }

    #[test]
    fn objects_behave_as_the_repository_needs() {
        let s = memory();
        assert_eq!(s.read("a/b").unwrap_err().kind(), io::ErrorKind::NotFound);
        s.write_atomic("packs/ab/x.pack", b"hello world").unwrap();
        assert_eq!(s.read("packs/ab/x.pack").unwrap(), b"hello world");
        assert_eq!(s.read_range("packs/ab/x.pack", 6, 5).unwrap(), b"world");
        assert!(s.exists("packs/ab/x.pack").unwrap());
        assert!(s.create_new("lock.json", b"1").unwrap());
        assert!(!s.create_new("lock.json", b"2").unwrap());
        assert_eq!(s.read("lock.json").unwrap(), b"1");
        assert_eq!(s.list("packs").unwrap(), ["packs/ab/x.pack"]);
        assert!(s.list("manifests").unwrap().is_empty());
        s.remove("lock.json").unwrap();
        s.remove("lock.json").unwrap();
        assert!(!s.exists("lock.json").unwrap());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn usable_from_async_code_on_any_runtime() {
        let s = memory();
        s.write_atomic("k", b"v").unwrap();
        assert_eq!(s.read("k").unwrap(), b"v");
        drop(s); // dropping inside async code must not panic
    }
}
