//! `vigil sourcemaps`: upload a build folder's bundles and maps for a release, list and
//! delete uploads. Works on a data folder directly (`--data`, next to a running server
//! too: meta.db takes writers in turn and files are written whole before they are
//! indexed), or on a server over HTTP (`--server` with an API token).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_errors::{SourceMapStore, UploadLimits};
use vigil_meta::BundleFile;

#[derive(Subcommand)]
pub enum SourcemapsCommand {
    /// Upload every `*.js` with its source map (and every lone `*.map`) under a folder.
    Upload(UploadArgs),
    /// List a project's uploads.
    List(Target),
    /// Delete an upload by id.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The upload's id (see `list`).
        id: i64,
    },
}

/// Where the uploads go: a data folder, or a server.
#[derive(Args)]
pub struct Target {
    /// Project name (with --data).
    #[arg(long)]
    project: Option<String>,
    /// Data folder.
    #[arg(
        long,
        env = "VIGIL_DATA",
        default_value = "data",
        conflicts_with = "server"
    )]
    data: PathBuf,
    /// A running server's base URL, e.g. https://vigil.example.com; the token's project
    /// is used.
    #[arg(long, env = "VIGIL_SERVER", requires = "token")]
    server: Option<String>,
    /// API token with the ingest-admin or admin scope (with --server).
    #[arg(long, env = "VIGIL_TOKEN")]
    token: Option<String>,
}

#[derive(Args)]
pub struct UploadArgs {
    #[command(flatten)]
    target: Target,
    /// The release the bundles belong to, as the agent reports it (`release` option).
    #[arg(long)]
    release: String,
    /// URL of the folder the bundles are served from: `~/static/js` for any host, or
    /// `https://cdn.example.com/static/js`.
    #[arg(long, default_value = "~")]
    url_prefix: String,
    /// The build folder.
    dir: PathBuf,
}

/// One bundle found in the folder.
#[derive(Debug, PartialEq, Eq)]
struct Found {
    url: String,
    script: Option<PathBuf>,
    map: Option<PathBuf>,
}

/// Pairs each script with its map: the file its `//# sourceMappingURL=` names when that is
/// a file beside it, else `<script>.map`. A map no script claims is uploaded under its own
/// name without `.map`.
fn find_bundles(dir: &Path, url_prefix: &str) -> anyhow::Result<Vec<Found>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let prefix = url_prefix.trim_end_matches('/');
    let url_of = |path: &Path| -> String {
        let rel = path.strip_prefix(dir).unwrap_or(path);
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        format!("{prefix}/{}", rel.join("/"))
    };
    let mut claimed = std::collections::HashSet::new();
    let mut found = Vec::new();
    for script in files.iter().filter(|f| has_ext(f, ".js")) {
        let text = std::fs::read_to_string(script).unwrap_or_default();
        let named = text
            .lines()
            .rev()
            .take(5)
            .find_map(|l| l.trim().strip_prefix("//# sourceMappingURL="))
            .filter(|u| !u.contains(':') && !u.starts_with('/'))
            .map(|u| script.with_file_name(u.trim()));
        let map = named.filter(|m| m.is_file()).or_else(|| {
            Some(PathBuf::from(format!("{}.map", script.display()))).filter(|m| m.is_file())
        });
        if let Some(m) = &map {
            claimed.insert(m.clone());
        }
        found.push(Found {
            url: url_of(script),
            script: Some(script.clone()),
            map,
        });
    }
    for map in files
        .iter()
        .filter(|f| has_ext(f, ".map") && !claimed.contains(*f))
    {
        let url = url_of(map);
        found.push(Found {
            url: url.trim_end_matches(".map").to_owned(),
            script: None,
            map: Some(map.clone()),
        });
    }
    Ok(found)
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.to_string_lossy().ends_with(ext)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Uploads over HTTP or into a data folder.
enum Uploader {
    Local(SourceMapStore, u32),
    Remote { server: String, token: String },
}

impl Uploader {
    fn open(target: &Target) -> anyhow::Result<Self> {
        if let Some(server) = &target.server {
            return Ok(Uploader::Remote {
                server: server.trim_end_matches('/').to_owned(),
                token: target.token.clone().context("--server needs --token")?,
            });
        }
        let name = target
            .project
            .as_deref()
            .context("name the project with --project")?;
        let meta = Arc::new(crate::open_meta(&target.data)?);
        let project = meta
            .project_by_name(name)?
            .with_context(|| format!("no project named {name:?}"))?;
        let store = SourceMapStore::new(
            meta,
            target.data.join("sourcemaps"),
            UploadLimits::default(),
        );
        Ok(Uploader::Local(store, project.id))
    }

    fn upload(
        &self,
        release: &str,
        url: &str,
        kind: BundleFile,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        match self {
            Uploader::Local(store, project) => {
                store.upload(*project, release, url, kind, bytes)?;
            }
            Uploader::Remote { server, token } => {
                let kind = match kind {
                    BundleFile::Map => "map",
                    BundleFile::Source => "script",
                };
                let response = ureq::post(&format!("{server}/api/v1/sourcemaps"))
                    .query("release", release)
                    .query("url", url)
                    .query("kind", kind)
                    .header("Authorization", &format!("Bearer {token}"))
                    .config()
                    .http_status_as_error(false)
                    .build()
                    .send(bytes)?;
                if !response.status().is_success() {
                    let status = response.status();
                    let body = response.into_body().read_to_string().unwrap_or_default();
                    bail!("{url}: {status} {body}");
                }
            }
        }
        Ok(())
    }

    fn list(&self) -> anyhow::Result<serde_json::Value> {
        match self {
            Uploader::Local(store, project) => {
                Ok(serde_json::json!({ "sourcemaps": store.list(*project)? }))
            }
            Uploader::Remote { server, token } => {
                let text = ureq::get(&format!("{server}/api/v1/sourcemaps"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .call()?
                    .into_body()
                    .read_to_string()?;
                Ok(serde_json::from_str(&text)?)
            }
        }
    }

    fn delete(&self, id: i64) -> anyhow::Result<bool> {
        match self {
            Uploader::Local(store, project) => Ok(store.delete(*project, id)?.is_some()),
            Uploader::Remote { server, token } => {
                let response = ureq::delete(&format!("{server}/api/v1/sourcemaps/{id}"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .config()
                    .http_status_as_error(false)
                    .build()
                    .call()?;
                Ok(response.status().is_success())
            }
        }
    }
}

pub fn run(cmd: SourcemapsCommand) -> anyhow::Result<()> {
    match cmd {
        SourcemapsCommand::Upload(args) => {
            let uploader = Uploader::open(&args.target)?;
            let bundles = find_bundles(&args.dir, &args.url_prefix)?;
            if bundles.is_empty() {
                bail!("no *.js or *.map files under {}", args.dir.display());
            }
            let (mut maps, mut scripts, mut bytes) = (0, 0, 0);
            for b in &bundles {
                for (path, kind) in [(&b.map, BundleFile::Map), (&b.script, BundleFile::Source)] {
                    let Some(path) = path else { continue };
                    let data = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    uploader
                        .upload(&args.release, &b.url, kind, &data)
                        .with_context(|| format!("uploading {}", path.display()))?;
                    bytes += data.len();
                    match kind {
                        BundleFile::Map => maps += 1,
                        BundleFile::Source => scripts += 1,
                    }
                }
                println!(
                    "{}\t{}",
                    b.url,
                    match (&b.script, &b.map) {
                        (Some(_), Some(_)) => "script + map",
                        (Some(_), None) => "script only (no map found)",
                        _ => "map only",
                    }
                );
            }
            println!(
                "uploaded {} bundles ({maps} maps, {scripts} scripts, {:.1} KiB) for release {}",
                bundles.len(),
                bytes as f64 / 1024.0,
                args.release
            );
        }
        SourcemapsCommand::List(target) => {
            let listed = Uploader::open(&target)?.list()?;
            for e in listed["sourcemaps"].as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    e["id"],
                    e["release"].as_str().unwrap_or_default(),
                    e["url"].as_str().unwrap_or_default(),
                    e["debug_id"].as_str().unwrap_or("-"),
                    match (e["map_file"].is_string(), e["source_file"].is_string()) {
                        (true, true) => "map + script",
                        (true, false) => "map",
                        _ => "script",
                    }
                );
            }
        }
        SourcemapsCommand::Delete { target, id } => {
            if !Uploader::open(&target)?.delete(id)? {
                bail!("no upload {id} in this project");
            }
            println!("deleted upload {id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_pair_with_their_maps_and_lone_maps_keep_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let js = dir.path().join("static/js");
        std::fs::create_dir_all(&js).unwrap();
        std::fs::write(js.join("app.js"), "x()\n//# sourceMappingURL=app.js.map\n").unwrap();
        std::fs::write(js.join("app.js.map"), "{}").unwrap();
        std::fs::write(
            js.join("named.js"),
            "y()\n//# sourceMappingURL=other-name.map\n",
        )
        .unwrap();
        std::fs::write(js.join("other-name.map"), "{}").unwrap();
        std::fs::write(js.join("lone.js.map"), "{}").unwrap();
        std::fs::write(js.join("plain.js"), "z()").unwrap();
        let found = find_bundles(dir.path(), "~/").unwrap();
        let summary: Vec<(String, bool, Option<String>)> = found
            .iter()
            .map(|f| {
                (
                    f.url.clone(),
                    f.script.is_some(),
                    f.map
                        .as_ref()
                        .map(|m| m.file_name().unwrap().to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("~/static/js/app.js".into(), true, Some("app.js.map".into())),
                (
                    "~/static/js/named.js".into(),
                    true,
                    Some("other-name.map".into())
                ),
                ("~/static/js/plain.js".into(), true, None),
                (
                    "~/static/js/lone.js".into(),
                    false,
                    Some("lone.js.map".into())
                ),
            ]
        );
    }
}
