//! `vigil-fuzz`: runs mutation fuzzing of the input parsers for a set time or number of
//! inputs and prints how many inputs each target took. `cargo fuzz` needs a nightly
//! compiler, which this project does not use; this driver gives the same kind of run
//! (seeded mutations of real inputs, a dictionary, panics as findings) on stable Rust.
//! A finding is written to `fuzz-findings/<target>-<n>.bin` and the run fails.

mod mutate;
mod targets;

use anyhow::bail;
use clap::Parser;
use std::time::{Duration, Instant};
use targets::{Context, TARGETS};
use vigil_demo::Rng;

#[derive(Parser)]
#[command(
    name = "vigil-fuzz",
    about = "Mutation fuzzing of Vigil's input parsers"
)]
struct Args {
    /// Targets to run (batch, gzip, query, wal, otlp, rows); all when none are named.
    targets: Vec<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Stop a target after this many inputs, if that comes first.
    #[arg(long)]
    inputs: Option<u64>,
    /// Random seed; the same seed gives the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Longest input, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_len: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ctx = Context::new();
    for name in &args.targets {
        if !TARGETS.iter().any(|t| t.name == name) {
            bail!("unknown target {name:?}: use batch, gzip, query, wal, otlp or rows");
        }
    }
    // Findings are reported by the driver; the default hook's message for each caught
    // panic would only repeat it.
    std::panic::set_hook(Box::new(|_| {}));
    let mut findings = 0;
    for target in TARGETS
        .iter()
        .filter(|t| args.targets.is_empty() || args.targets.iter().any(|n| n == t.name))
    {
        let seeds = (target.seeds)();
        let mut rng = Rng::new(args.seed);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.seconds);
        let mut count = 0u64;
        while Instant::now() < deadline && args.inputs.is_none_or(|n| count < n) {
            for _ in 0..64 {
                let mut input = seeds[rng.below(seeds.len())].clone();
                if count > 0 {
                    mutate::mutate(&mut rng, &mut input, &seeds, args.max_len);
                }
                count += 1;
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    (target.run)(&input, &ctx)
                }));
                if let Err(panic) = outcome {
                    findings += 1;
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    std::fs::create_dir_all("fuzz-findings")?;
                    let path = format!("fuzz-findings/{}-{count}.bin", target.name);
                    std::fs::write(&path, &input)?;
                    println!(
                        "{}: FINDING at input {count}: {message} (input in {path})",
                        target.name
                    );
                }
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{:6} {count} inputs in {secs:.1} s ({:.0}/s), seed {}, {} seeds",
            target.name,
            count as f64 / secs,
            args.seed,
            seeds.len()
        );
    }
    if findings > 0 {
        bail!("{findings} findings");
    }
    Ok(())
}
