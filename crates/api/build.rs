//! Embeds the browser agent bundle (`agent/dist/vigil.js`) and the dashboard
//! (`web/dist/*`), built by `npm run build` in their folders, so the single binary serves
//! them. Without a build the binary still builds: the agent answers 404 with a hint and the
//! dashboard shows a page that says how to build it.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // The run-time variable, not `env!`: cargo reuses a compiled build script for the same
    // workspace at another path (a CI clone sharing the target folder), and `env!` would
    // keep the path it was compiled at, embedding another checkout's files or none.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest_dir).join("../..");
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    let out = Path::new(&out_dir);

    // The core agent and the session replay chunk it loads for sampled sessions.
    for name in ["vigil", "vigil-replay"] {
        let bundle = root.join(format!("agent/dist/{name}.js"));
        println!("cargo:rerun-if-changed={}", bundle.display());
        let js = std::fs::read(&bundle).unwrap_or_default();
        std::fs::write(out.join(format!("{name}.js")), &js).expect("write agent");
        let (gzip, brotli) = if js.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (gzip(&js), brotli(&js))
        };
        std::fs::write(out.join(format!("{name}.js.gz")), gzip).expect("write agent gzip");
        std::fs::write(out.join(format!("{name}.js.br")), brotli).expect("write agent brotli");
        let hash = if js.is_empty() {
            String::new()
        } else {
            content_hash(&js)
        };
        std::fs::write(out.join(format!("{name}_hash.txt")), hash).expect("write agent hash");
    }

    let web = root.join("web/dist");
    println!("cargo:rerun-if-changed={}", web.display());
    let mut code = String::from(
        "/// Dashboard files: (path, bytes).\npub static WEB_FILES: &[(&str, &[u8])] = &[\n",
    );
    let mut stack = vec![web.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            println!("cargo:rerun-if-changed={}", path.display());
            let rel = path
                .strip_prefix(&web)
                .expect("under web/dist")
                .to_string_lossy()
                .replace('\\', "/");
            let _ = writeln!(
                code,
                "    ({rel:?}, include_bytes!({:?})),",
                path.canonicalize().expect("path").display().to_string()
            );
        }
    }
    code.push_str("];\n");
    std::fs::write(out.join("web_files.rs"), code).expect("write web index");
}

/// The agent's content hash for its versioned URL: FNV-1a over the bytes, 16 hex digits.
fn content_hash(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).expect("brotli in memory");
    out
}
