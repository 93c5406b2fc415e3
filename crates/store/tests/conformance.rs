//! The embedded store passes the storage conformance suite (`vigil_model::conformance`),
//! the same one every other backend must pass.

use std::path::PathBuf;
use vigil_model::conformance::{Harness, run_all};
use vigil_store::{Store, StoreConfig};

struct Embedded {
    dirs: Vec<tempfile::TempDir>,
    current: Option<PathBuf>,
}

impl Harness for Embedded {
    type Store = Store;

    fn fresh(&mut self) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        self.dirs.push(dir);
        self.current = Some(path.clone());
        // Small flushes, so the suite's data spans Parquet segments and memory.
        let config = StoreConfig {
            flush_rows: 20,
            ..StoreConfig::default()
        };
        Store::open(&path, config).unwrap()
    }

    fn reopen(&mut self, store: Store) -> Store {
        drop(store);
        let path = self.current.clone().unwrap();
        Store::open(&path, StoreConfig::default()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_passes_the_conformance_suite() {
    run_all(&mut Embedded {
        dirs: Vec::new(),
        current: None,
    })
    .await;
}
