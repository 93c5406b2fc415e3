//! Symbolication throughput: frames per second with the parsed map cached, and the first
//! use of a 5 MB map (read, parse, first lookup). The bundle and map are generated: 520
//! original files of 60 functions each, minified into one line per file (a 5.1 MB map).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sourcemap::SourceMapBuilder;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use vigil_errors::{Bundle, FrameLocation, MapSource, Symbolicator};

struct InMemory {
    files: HashMap<String, Vec<u8>>,
}

impl MapSource for InMemory {
    fn by_debug_id(&self, _: u32, _: &str) -> Result<Option<Bundle>, String> {
        Ok(None)
    }
    fn by_url(&self, _: u32, _: &str, _: &[&str]) -> Result<Option<Bundle>, String> {
        Ok(Some(Bundle {
            url: "~/app.js".into(),
            map_file: Some("app.map".into()),
            source_file: Some("app.js".into()),
        }))
    }
    fn release_has_maps(&self, _: u32, _: &str) -> Result<bool, String> {
        Ok(true)
    }
    fn read(&self, _: u32, file: &str) -> Result<Vec<u8>, String> {
        self.files
            .get(file)
            .cloned()
            .ok_or_else(|| "missing".into())
    }
}

/// A bundle, its map, and the (line, column, minified name) of every function's body.
fn generate() -> (String, Vec<u8>, Vec<(u32, u32, String)>) {
    let mut builder = SourceMapBuilder::new(Some("app.js"));
    let mut script = String::new();
    let mut positions = Vec::new();
    for file in 0..520u32 {
        let source = format!("src/module{file}.ts");
        let id = builder.add_source(&source);
        let mut original = String::new();
        let mut line = String::new();
        for f in 0..60u32 {
            let name = format!("handleModule{file}Event{f}");
            let minified = format!("f{f}");
            let src_line = f * 3;
            original.push_str(&format!(
                "export function {name}(event: Event, state: State) {{\n  return state.apply(event.detail, {f});\n}}\n"
            ));
            let col = line.len() as u32;
            line.push_str(&format!(
                "function {minified}(e,t){{return t.apply(e.detail,{f})}}"
            ));
            builder.add(file, col, src_line, 0, Some(&source), None, false);
            builder.add(
                file,
                col + 9,
                src_line,
                16,
                Some(&source),
                Some(&name),
                false,
            );
            let body = col + 9 + minified.len() as u32 + 16;
            builder.add(
                file,
                body,
                src_line + 1,
                9,
                Some(&source),
                Some("apply"),
                false,
            );
            positions.push((file + 1, body + 1, minified));
        }
        builder.set_source_contents(id, Some(&original));
        script.push_str(&line);
        script.push('\n');
    }
    let mut map = Vec::new();
    builder.into_sourcemap().to_writer(&mut map).unwrap();
    (script, map, positions)
}

fn bench(c: &mut Criterion) {
    let (script, map, positions) = generate();
    println!(
        "generated map: {:.2} MB, script {:.2} MB, {} functions",
        map.len() as f64 / 1e6,
        script.len() as f64 / 1e6,
        positions.len()
    );
    let source = Arc::new(InMemory {
        files: HashMap::from([
            ("app.map".to_owned(), map),
            ("app.js".to_owned(), script.into_bytes()),
        ]),
    });
    let frame = |i: usize| {
        let (line, column, name) = &positions[i % positions.len()];
        FrameLocation {
            file: "https://shop.example.com/app.js",
            line: Some(*line),
            column: Some(*column),
            function: Some(name.as_str()),
        }
    };
    let mut group = c.benchmark_group("symbolicate");
    group.sample_size(10);
    group.bench_function("first use of a 5 MB map", |b| {
        b.iter(|| {
            let s = Symbolicator::new(source.clone(), 512 << 20);
            black_box(s.symbolicate(1, "1.0", None, frame(7), None).unwrap())
        })
    });
    let warm = Symbolicator::new(source.clone(), 512 << 20);
    let first = warm.symbolicate(1, "1.0", None, frame(0), None).unwrap();
    assert_eq!(first.function.as_deref(), Some("handleModule0Event0"));
    assert_eq!(first.file, "src/module0.ts");
    println!(
        "parsed map held in cache: {:.1} MB (estimate)",
        warm.cached_bytes() as f64 / 1e6
    );
    const FRAMES: usize = 1000;
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.sample_size(20);
    group.bench_function("warm cache, 1000 frames", |b| {
        let mut at = 0;
        b.iter(|| {
            for _ in 0..FRAMES {
                at += 7919;
                black_box(warm.symbolicate(1, "1.0", None, frame(at), None).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
