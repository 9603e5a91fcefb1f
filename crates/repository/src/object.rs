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

use crate::handle::{FileKind, Handle};
use crate::store::{handles_of, Store};

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
    fn read(&self, file: &Handle) -> io::Result<Vec<u8>> {
        let (store, path) = (Arc::clone(&self.store), self.path(&file.key()));
        self.wait(async move {
            let got = store.get(&path).await.map_err(io::Error::from)?;
            Ok(got.bytes().await.map_err(io::Error::from)?.to_vec())
        })
    }

    fn read_range(&self, file: &Handle, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let (store, path) = (Arc::clone(&self.store), self.path(&file.key()));
        self.wait(async move {
            // An empty range is refused by object stores (found by the conformance suite);
            // what a caller learns from it is whether the object is there.
            if len == 0 {
                store.head(&path).await.map_err(io::Error::from)?;
                return Ok(Vec::new());
            }
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

    fn write_atomic(&self, file: &Handle, bytes: &[u8]) -> io::Result<()> {
        let (store, path) = (Arc::clone(&self.store), self.path(&file.key()));
        let payload = PutPayload::from(bytes.to_vec());
        self.wait(async move {
            store.put(&path, payload).await.map_err(io::Error::from)?;
            Ok(())
        })
    }

    fn create_new(&self, file: &Handle, bytes: &[u8]) -> io::Result<bool> {
        let (store, path) = (Arc::clone(&self.store), self.path(&file.key()));
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

    fn exists(&self, file: &Handle) -> io::Result<bool> {
        let (store, path) = (Arc::clone(&self.store), self.path(&file.key()));
        self.wait(async move {
            match store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(io::Error::from(e)),
            }
        })
    }

    fn remove(&self, file: &Handle) -> io::Result<()> {
        let (store, path) = (Arc::clone(&self.store), self.path(&file.key()));
        self.wait(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(io::Error::from(e)),
            }
        })
    }

    fn list(&self, kind: FileKind) -> io::Result<Vec<Handle>> {
        Ok(handles_of(kind, self.keys_under(kind.folder())?))
    }

    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.keys_under("")?.is_empty())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

impl BucketStore {
    /// Every object's key under `prefix`, relative to the store's own prefix.
    fn keys_under(&self, prefix: &str) -> io::Result<Vec<String>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn usable_from_async_code_on_any_runtime() {
        let s = BucketStore::new(
            Arc::new(object_store::memory::InMemory::new()),
            "backups/prod",
            "memory://",
        )
        .unwrap();
        s.write_atomic(&Handle::lock(), b"v").unwrap();
        assert_eq!(s.read(&Handle::lock()).unwrap(), b"v");
        drop(s); // dropping inside async code must not panic
    }
}
