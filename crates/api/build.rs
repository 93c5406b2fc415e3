//! Embeds the browser agent bundle (`agent/dist/vigil.js`, built by `npm run build` in
//! `agent/`) so the single binary serves it. Without a built bundle the binary still builds
//! and `/agent/vigil.js` answers 404 with a hint.

use std::path::Path;

fn main() {
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../agent/dist/vigil.js");
    println!("cargo:rerun-if-changed={}", bundle.display());
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("vigil.js");
    let bytes = std::fs::read(&bundle).unwrap_or_default();
    std::fs::write(out, bytes).expect("write embedded agent");
}
