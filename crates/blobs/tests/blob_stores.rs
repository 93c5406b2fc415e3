//! Both blob stores against the same expectations: a local folder, and S3 on a real moto
//! server (`make moto`), with and without a bucket prefix.

use std::sync::{Arc, Barrier};
use vigil_blobs::testing::MotoServer;
use vigil_blobs::{BlobEntry, BlobError, BlobStore, LocalBlobs};

fn keys(entries: &[BlobEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.key.as_str()).collect()
}

/// What every store does, from empty.
fn behaves_as_a_blob_store(store: &dyn BlobStore) {
    assert_eq!(store.get("a/b/1").unwrap(), None);
    assert!(store.list("").unwrap().is_empty());
    assert!(store.folders("").unwrap().is_empty());

    store.put("a/b/1", b"one").unwrap();
    assert_eq!(store.get("a/b/1").unwrap().as_deref(), Some(&b"one"[..]));
    store.put("a/b/1", b"uno").unwrap();
    assert_eq!(store.get("a/b/1").unwrap().as_deref(), Some(&b"uno"[..]));

    assert!(store.put_if_absent("a/b/2", b"two").unwrap());
    assert!(!store.put_if_absent("a/b/2", b"deux").unwrap());
    assert_eq!(store.get("a/b/2").unwrap().as_deref(), Some(&b"two"[..]));
    assert!(!store.put_if_absent("a/b/1", b"x").unwrap());

    store.put("a/c/3", b"three").unwrap();
    store.put("ab/4", b"").unwrap();
    store.put("x.map", b"five!").unwrap();
    assert_eq!(store.get("ab/4").unwrap().as_deref(), Some(&b""[..]));

    let all = store.list("").unwrap();
    assert_eq!(keys(&all), ["a/b/1", "a/b/2", "a/c/3", "ab/4", "x.map"]);
    let sizes: Vec<u64> = all.iter().map(|e| e.size).collect();
    assert_eq!(sizes, [3, 3, 5, 0, 5]);
    // a prefix is a folder: `a` holds neither `ab/4` nor itself
    assert_eq!(keys(&store.list("a").unwrap()), ["a/b/1", "a/b/2", "a/c/3"]);
    assert_eq!(keys(&store.list("a/b").unwrap()), ["a/b/1", "a/b/2"]);
    assert!(store.list("a/b/1").unwrap().is_empty());
    assert!(store.list("nothing/here").unwrap().is_empty());
    let each = store
        .list_each(&["a/b".into(), "nothing".into(), "a".into()])
        .unwrap();
    assert_eq!(
        each,
        [store.list("a/b").unwrap(), vec![], store.list("a").unwrap()]
    );
    assert_eq!(store.folders("").unwrap(), ["a", "ab"]);
    assert_eq!(store.folders("a").unwrap(), ["b", "c"]);
    assert!(store.folders("a/b").unwrap().is_empty());
    // a key is not a folder
    assert_eq!(store.get("a/b").unwrap(), None);

    store.delete("a/b/1").unwrap();
    store.delete("a/b/1").unwrap();
    store.delete("never/was").unwrap();
    assert_eq!(store.get("a/b/1").unwrap(), None);
    store.delete("a/c/3").unwrap();
    // a folder left empty is no folder
    assert_eq!(store.folders("a").unwrap(), ["b"]);

    assert_eq!(store.delete_prefix("a").unwrap(), 1);
    assert_eq!(store.delete_prefix("a").unwrap(), 0);
    assert_eq!(keys(&store.list("").unwrap()), ["ab/4", "x.map"]);
    assert_eq!(store.folders("").unwrap(), ["ab"]);
    assert!(matches!(
        store.delete_prefix(""),
        Err(BlobError::InvalidKey { .. })
    ));
    assert_eq!(store.list("").unwrap().len(), 2, "nothing deleted");

    for bad in [
        "../x", "/abs", "a//b", "a/", ".tmp", "a/.tmp", "a b", "a\\b", "",
    ] {
        let refused = |r: Result<(), BlobError>| {
            assert!(
                matches!(r, Err(BlobError::InvalidKey { .. })),
                "{bad:?}: {r:?}"
            );
        };
        refused(store.put(bad, b"x"));
        refused(store.put_if_absent(bad, b"x").map(|_| ()));
        refused(store.get(bad).map(|_| ()));
        refused(store.delete(bad));
        if !bad.is_empty() {
            refused(store.list(bad).map(|_| ()));
            refused(store.list_each(&["a".into(), bad.into()]).map(|_| ()));
            refused(store.folders(bad).map(|_| ()));
            refused(store.delete_prefix(bad).map(|_| ()));
        }
    }
    assert_eq!(keys(&store.list("").unwrap()), ["ab/4", "x.map"]);
}

/// Of writers racing to create one key, exactly one succeeds and its bytes stay.
fn one_racing_put_if_absent_wins(store: Arc<dyn BlobStore>) {
    const WRITERS: usize = 6;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let won = store
                    .put_if_absent("race/key", format!("writer {i}").as_bytes())
                    .unwrap();
                won.then_some(i)
            })
        })
        .collect();
    let winners: Vec<usize> = handles
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        store.get("race/key").unwrap().unwrap(),
        format!("writer {}", winners[0]).into_bytes()
    );
    assert_eq!(keys(&store.list("race").unwrap()), ["race/key"]);
}

#[test]
fn a_local_folder_is_a_blob_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobs::new(dir.path().join("blobs"));
    behaves_as_a_blob_store(&store);
    one_racing_put_if_absent_wins(Arc::new(store.clone()));
    // a key is the file's path under the folder, and no temporary file is left behind
    assert_eq!(
        std::fs::read(dir.path().join("blobs/ab/4")).unwrap(),
        b"".to_vec()
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ab", "race", "x.map"]);
    // a temporary file left by a crash is not a blob
    std::fs::write(dir.path().join("blobs/ab/.4.123.0.tmp"), b"partial").unwrap();
    assert_eq!(keys(&store.list("ab").unwrap()), ["ab/4"]);
}

#[test]
fn an_s3_bucket_is_a_blob_store() {
    let moto = MotoServer::start();
    let store = moto.blobs("");
    behaves_as_a_blob_store(&store);
    one_racing_put_if_absent_wins(Arc::new(store));
}

#[test]
fn a_bucket_prefix_keeps_deployments_apart() {
    let moto = MotoServer::start();
    let tenant = moto.blobs("deployments/one");
    behaves_as_a_blob_store(&tenant);
    let other = moto.blobs("deployments/two");
    other.put("x.map", b"theirs").unwrap();
    assert_eq!(tenant.get("x.map").unwrap().as_deref(), Some(&b"five!"[..]));
    assert_eq!(keys(&tenant.list("").unwrap()), ["ab/4", "x.map"]);
    // the whole bucket shows where each one's keys are
    let bucket = moto.blobs("");
    assert_eq!(
        keys(&bucket.list("").unwrap()),
        [
            "deployments/one/ab/4",
            "deployments/one/x.map",
            "deployments/two/x.map"
        ]
    );
    assert_eq!(bucket.folders("deployments").unwrap(), ["one", "two"]);
    assert_eq!(tenant.delete_prefix("ab").unwrap(), 1);
    assert_eq!(bucket.list("deployments/two").unwrap().len(), 1);
}

#[test]
fn a_missing_bucket_is_an_error_not_an_absence() {
    let moto = MotoServer::start();
    let mut config = moto.config("");
    config.bucket = "no-such-bucket".into();
    let missing = vigil_blobs::S3Blobs::open(&config).unwrap();
    assert!(matches!(missing.get("a"), Err(BlobError::Store(_))));
    assert!(matches!(missing.delete("a"), Err(BlobError::Store(_))));
    assert!(matches!(missing.put("a", b"x"), Err(BlobError::Store(_))));
    assert!(matches!(missing.list(""), Err(BlobError::Store(_))));
}

#[test]
fn an_unreachable_store_is_an_error_soon() {
    // a port nothing listens on, over TLS as for AWS itself
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = vigil_blobs::S3Config {
        endpoint: Some(format!("https://127.0.0.1:{port}")),
        bucket: "b".into(),
        region: "us-east-1".into(),
        access_key_id: Some("id".into()),
        secret_access_key: Some("secret".into()),
        prefix: String::new(),
    };
    let store = vigil_blobs::S3Blobs::open(&config).unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(store.get("a"), Err(BlobError::Store(_))));
    assert!(matches!(store.put("a", b"x"), Err(BlobError::Store(_))));
    assert!(started.elapsed() < std::time::Duration::from_secs(50));
}

#[test]
fn configs_are_checked_and_never_print_the_secret() {
    let config: vigil_blobs::S3Config = serde_json::from_str(
        r#"{"endpoint":"http://127.0.0.1:9000","bucket":"b","access_key_id":"id","secret_access_key":"hunter2"}"#,
    )
    .unwrap();
    assert_eq!(config.region, "us-east-1");
    assert_eq!(config.prefix, "");
    config.validate().unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
    let broken = [
        r#"{"bucket":""}"#,
        r#"{"bucket":"b","access_key_id":"id"}"#,
        r#"{"bucket":"b","endpoint":"minio:9000"}"#,
        r#"{"bucket":"b","prefix":"../up"}"#,
    ];
    for json in broken {
        let config: vigil_blobs::S3Config = serde_json::from_str(json).unwrap();
        assert!(
            matches!(
                config.validate(),
                Err(BlobError::Config(_) | BlobError::InvalidKey { .. })
            ),
            "{json}"
        );
    }
    assert!(
        serde_json::from_str::<vigil_blobs::S3Config>(r#"{"bucket":"b","bukket":"c"}"#).is_err()
    );
}
