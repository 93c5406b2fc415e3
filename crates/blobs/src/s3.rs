//! Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph, R2, moto), through
//! `object_store`, behind the blocking interface.

use crate::{BlobEntry, BlobError, BlobStore, check_key, check_prefix};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};
use serde::Deserialize;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Most listings [`S3Blobs::list_each`] has in flight at once.
const LIST_CONCURRENCY: usize = 16;

/// Where the shared blobs are: an S3 bucket, or a folder of one. Embedded in the server's
/// configuration (e.g. a `[blobs.s3]` table).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The service's URL, e.g. `http://minio:9000`; absent for AWS itself. An `http://`
    /// URL allows plain HTTP (a store on a private network); anything else needs TLS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The bucket, which must exist.
    pub bucket: String,
    /// The bucket's region (`us-east-1` when absent; most other stores ignore it).
    #[serde(default = "default_region")]
    pub region: String,
    /// The access key; absent: the credentials the host provides (web identity, the
    /// container's or the instance's role).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret key, given with `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// A folder of the bucket that holds everything (`""`: the whole bucket), so one
    /// bucket can serve several deployments.
    #[serde(default)]
    pub prefix: String,
}

fn default_region() -> String {
    "us-east-1".into()
}

// The secret never reaches a log line.
impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl S3Config {
    /// Checks what can be checked without a request.
    pub fn validate(&self) -> Result<(), BlobError> {
        if self.bucket.is_empty() {
            return Err(BlobError::Config("the bucket is not named".into()));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(BlobError::Config(
                "give both access_key_id and secret_access_key, or neither".into(),
            ));
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(BlobError::Config(format!(
                "endpoint {endpoint:?} must be an http:// or https:// URL"
            )));
        }
        check_prefix(&self.prefix)
    }
}

/// Blobs in an S3 bucket. Each call blocks its thread on a runtime of its own (two
/// worker threads doing the requests), so it must be called from a blocking thread
/// (`spawn_blocking`, a plain thread), never from a task on an async worker: tokio panics
/// when a runtime is blocked on from inside another's worker.
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    /// Only `None` while being dropped.
    runtime: Option<Runtime>,
    describe: String,
}

impl fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe)
    }
}

impl S3Blobs {
    /// A store on the bucket `config` names. Sends no request: a wrong bucket or key shows
    /// on the first operation.
    pub fn open(config: &S3Config) -> Result<S3Blobs, BlobError> {
        config.validate()?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            // The callers hold a request or an upload open meanwhile: a store that is down
            // for longer is better reported (a 503 the agent retries) than waited for.
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(20),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        let s3 = builder.build()?;
        let store: Arc<dyn ObjectStore> = if config.prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, config.prefix.as_str()))
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vigil-s3")
            .enable_all()
            .build()?;
        Ok(S3Blobs {
            store,
            runtime: Some(runtime),
            describe: format!(
                "S3Blobs(s3://{}/{}, endpoint {})",
                config.bucket,
                config.prefix,
                config.endpoint.as_deref().unwrap_or("AWS")
            ),
        })
    }

    fn block_on<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .block_on(work)
    }
}

impl Drop for S3Blobs {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its threads stop, which tokio forbids inside an
        // async context, and the last owner may be dropped in one.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Whether an error says the object is absent, not the bucket: S3 answers 404 to both, and
/// a bucket that is not there is a misconfiguration to report, not an empty store.
fn is_absent_object(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. }) && !e.to_string().contains("NoSuchBucket")
}

fn key_path(key: &str) -> Result<Path, BlobError> {
    check_key(key)?;
    Ok(Path::parse(key).map_err(object_store::Error::from)?)
}

fn prefix_path(prefix: &str) -> Result<Option<Path>, BlobError> {
    check_prefix(prefix)?;
    Ok(if prefix.is_empty() {
        None
    } else {
        Some(Path::parse(prefix).map_err(object_store::Error::from)?)
    })
}

impl BlobStore for S3Blobs {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let path = key_path(key)?;
        let payload = PutPayload::from(bytes.to_vec());
        self.block_on(self.store.put(&path, payload))?;
        Ok(())
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, BlobError> {
        let path = key_path(key)?;
        let payload = PutPayload::from(bytes.to_vec());
        let options = PutOptions::from(PutMode::Create);
        match self.block_on(self.store.put_opts(&path, payload, options)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = key_path(key)?;
        self.block_on(async {
            match self.store.get(&path).await {
                Ok(found) => Ok(Some(found.bytes().await?.to_vec())),
                Err(e) if is_absent_object(&e) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>, BlobError> {
        let mut each = self.list_each(&[prefix.to_owned()])?;
        Ok(each.pop().unwrap_or_default())
    }

    fn list_each(&self, prefixes: &[String]) -> Result<Vec<Vec<BlobEntry>>, BlobError> {
        let paths = prefixes
            .iter()
            .map(|p| prefix_path(p))
            .collect::<Result<Vec<_>, _>>()?;
        let listings = paths.iter().map(|prefix| {
            self.store
                .list(prefix.as_ref())
                .map_ok(|meta| BlobEntry {
                    key: meta.location.to_string(),
                    size: meta.size,
                })
                .try_collect::<Vec<_>>()
        });
        let mut out = self.block_on(
            futures::stream::iter(listings)
                .buffered(LIST_CONCURRENCY)
                .try_collect::<Vec<_>>(),
        )?;
        for entries in &mut out {
            entries.sort_by(|a, b| a.key.cmp(&b.key));
        }
        Ok(out)
    }

    fn folders(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let prefix = prefix_path(prefix)?;
        let listed = self.block_on(self.store.list_with_delimiter(prefix.as_ref()))?;
        let mut out: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = key_path(key)?;
        match self.block_on(self.store.delete(&path)) {
            Ok(()) => Ok(()),
            Err(e) if is_absent_object(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        if prefix.is_empty() {
            return Err(BlobError::InvalidKey {
                key: String::new(),
                reason: "deleting everything is refused",
            });
        }
        let prefix = prefix_path(prefix)?;
        self.block_on(async {
            let listed = self
                .store
                .list(prefix.as_ref())
                .map_ok(|meta| meta.location);
            let deleted = self
                .store
                .delete_stream(listed.boxed())
                .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                .await?;
            Ok(deleted)
        })
    }
}
