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

    let bundle = root.join("agent/dist/vigil.js");
    println!("cargo:rerun-if-changed={}", bundle.display());
    std::fs::write(
        out.join("vigil.js"),
        std::fs::read(&bundle).unwrap_or_default(),
    )
    .expect("write agent");

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
