//! Uploaded source maps in a blob store: on S3 (a real moto server, `make moto`) a map is
//! stored, read back through `MapSource`, used to symbolicate, replaced and deleted; and a
//! data folder's files of earlier releases read unchanged through either constructor.

use std::path::Path;
use std::sync::Arc;
use vigil_blobs::testing::MotoServer;
use vigil_blobs::{BlobStore, LocalBlobs};
use vigil_errors::{FrameLocation, MapSource, SourceMapStore, Symbolicator, UploadLimits};
use vigil_meta::{BundleFile, Meta};

/// A map of `app.js` (one line) to `src/cart.ts`: generated column 0 is its line 1, column
/// 10 its line 2.
fn map(source: &str) -> Vec<u8> {
    serde_json::json!({
        "version": 3,
        "file": "app.js",
        "sources": ["src/cart.ts"],
        "sourcesContent": [source],
        "names": [],
        "mappings": "AAAA,UACA",
    })
    .to_string()
    .into_bytes()
}

fn meta_with_project(dir: &Path) -> (Arc<Meta>, u32) {
    let meta = Arc::new(Meta::open(&dir.join("meta.db")).unwrap());
    let (project, _token) = meta.create_project("shop", &[], 30).unwrap();
    (meta, project.id)
}

fn keys(blobs: &dyn BlobStore, prefix: &str) -> Vec<String> {
    blobs
        .list(prefix)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[test]
fn maps_on_s3_are_stored_read_back_used_replaced_and_deleted() {
    let moto = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (meta, project) = meta_with_project(dir.path());
    let blobs: Arc<dyn BlobStore> = Arc::new(moto.blobs("deployment"));
    let store = Arc::new(SourceMapStore::with_blobs(
        meta.clone(),
        blobs.clone(),
        UploadLimits::default(),
    ));

    let first = map("let total = 0;\ntotal += price;\n");
    let entry = store
        .upload(project, "1.0", "~/static/app.js", BundleFile::Map, &first)
        .unwrap();
    let map_file = entry.map_file.clone().unwrap();
    assert_eq!(
        keys(&*blobs, ""),
        [format!("sourcemaps/p{project}/{map_file}")]
    );
    let script = b"var t=0;t+=p;\n//# sourceMappingURL=app.js.map\n";
    let with_script = store
        .upload(
            project,
            "1.0",
            "~/static/app.js",
            BundleFile::Source,
            script,
        )
        .unwrap();
    assert_eq!(with_script.id, entry.id, "one bundle");

    // read back through the index, as the symbolicator does
    let bundle = store
        .by_url(project, "1.0", &["~/static/app.js"])
        .unwrap()
        .unwrap();
    assert_eq!(bundle.map_file.as_deref(), Some(map_file.as_str()));
    assert_eq!(store.read(project, &map_file).unwrap(), first);
    assert_eq!(
        store
            .read(project, bundle.source_file.as_deref().unwrap())
            .unwrap(),
        script
    );
    assert!(store.read(project, "../p2/x.map").is_err());
    assert!(
        store.read(project + 1, &map_file).is_err(),
        "another project's"
    );

    let symbolicator = Symbolicator::new(store.clone(), 1 << 20);
    let frame = |column| FrameLocation {
        file: "https://shop.example/static/app.js",
        line: Some(1),
        column: Some(column),
        function: None,
    };
    let mapped = symbolicator
        .symbolicate(project, "1.0", None, frame(11), None)
        .unwrap();
    assert_eq!((mapped.file.as_str(), mapped.line), ("src/cart.ts", 2));

    // a new map for the bundle replaces the old one, whose object goes
    let second = map("let total = 1;\ntotal += price * 2;\n");
    let replaced = store
        .upload(project, "1.0", "~/static/app.js", BundleFile::Map, &second)
        .unwrap();
    let second_file = replaced.map_file.clone().unwrap();
    assert_ne!(second_file, map_file);
    assert_eq!(store.read(project, &second_file).unwrap(), second);
    let err = store.read(project, &map_file).unwrap_err();
    assert!(err.contains("missing"), "{err}");
    assert_eq!(
        keys(&*blobs, "sourcemaps").len(),
        2,
        "the new map and the script"
    );

    // the same bytes uploaded again are one object
    store
        .upload(project, "1.1", "~/static/app.js", BundleFile::Map, &second)
        .unwrap();
    assert_eq!(keys(&*blobs, "sourcemaps").len(), 2);

    // another server on the same bucket and database reads what this one stored
    let other_server = SourceMapStore::with_blobs(
        meta.clone(),
        Arc::new(moto.blobs("deployment")),
        UploadLimits::default(),
    );
    assert_eq!(other_server.read(project, &second_file).unwrap(), second);

    for e in store.list(project).unwrap() {
        store.delete(project, e.id).unwrap();
    }
    assert!(
        keys(&*blobs, "").is_empty(),
        "deleting the uploads deletes their objects"
    );
}

#[test]
fn a_data_folder_of_an_earlier_release_reads_unchanged() {
    // the files where earlier releases wrote them, indexed as they indexed them
    let data = tempfile::tempdir().unwrap();
    let (meta, project) = meta_with_project(data.path());
    let writer = SourceMapStore::new(
        meta.clone(),
        data.path().join("sourcemaps"),
        UploadLimits::default(),
    );
    let bytes = map("old();\n");
    let entry = writer
        .upload(project, "0.9", "~/app.js", BundleFile::Map, &bytes)
        .unwrap();
    let file = entry.map_file.unwrap();
    let path = data.path().join(format!("sourcemaps/p{project}/{file}"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the layout is unchanged"
    );

    // a file that an earlier release put there by itself reads too
    let legacy = "0".repeat(64) + ".map";
    std::fs::write(
        data.path().join(format!("sourcemaps/p{project}/{legacy}")),
        b"legacy",
    )
    .unwrap();
    let by_folder = SourceMapStore::new(
        meta.clone(),
        data.path().join("sourcemaps"),
        UploadLimits::default(),
    );
    let by_blobs = SourceMapStore::with_blobs(
        meta,
        Arc::new(LocalBlobs::new(data.path())),
        UploadLimits::default(),
    );
    for store in [&by_folder, &by_blobs] {
        assert_eq!(store.read(project, &file).unwrap(), bytes);
        assert_eq!(store.read(project, &legacy).unwrap(), b"legacy");
    }
    // deleting through the blob store removes the file; the legacy one stays
    by_blobs.delete(project, entry.id).unwrap();
    assert!(!path.exists());
    assert_eq!(by_folder.read(project, &legacy).unwrap(), b"legacy");
}
