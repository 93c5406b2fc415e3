//! A real PostgreSQL server for tests (feature `test-server`): Debian's `postgresql` package
//! (`make test` installs it), started on a free loopback port with a data folder of its own
//! and stopped when dropped.
//!
//! `initdb` runs once per test process into a template folder that each server copies,
//! so a server costs a copy and a start (≈ half a second) rather than an `initdb`. As root,
//! the server runs as the `postgres` user, since PostgreSQL refuses to run as root.
#![allow(clippy::missing_panics_doc)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A PostgreSQL server for one test, with a `vigil` superuser that needs no password.
pub struct Postgres {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The folder holding `initdb`, `postgres`: `$PG_BIN`, else the newest under
/// /usr/lib/postgresql (Debian's layout).
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("postgres").exists());
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL under /usr/lib/postgresql: install Debian's postgresql (make test does)"
        )
    })
}

/// The user and group the server runs as: `postgres` when this process is root.
fn run_as() -> Option<(u32, u32)> {
    let me = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    let field = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the postgres user exists (Debian's package creates it)")
    };
    Some((field("-u"), field("-g")))
}

fn command(program: PathBuf, owner: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn chown_all(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        let status = Command::new("chown")
            .args(["-R", &format!("{uid}:{gid}")])
            .arg(path)
            .status()
            .expect("chown runs");
        assert!(status.success(), "chown {}", path.display());
    }
}

/// The initialised template folder, made once per process.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &TEMPLATE
        .get_or_init(|| {
            let owner = run_as();
            let dir = tempfile::tempdir().unwrap();
            chown_all(dir.path(), owner);
            let data = dir.path().join("data");
            let out = command(bin_dir().join("initdb"), owner)
                .args([
                    "--auth=trust",
                    "--username=vigil",
                    "--encoding=UTF8",
                    "--no-sync",
                ])
                .arg("-D")
                .arg(&data)
                .output()
                .expect("initdb runs");
            assert!(
                out.status.success(),
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            (dir, data)
        })
        .1
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> Postgres {
        let owner = run_as();
        let template = template();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(&data)
            .status()
            .expect("cp runs");
        assert!(copied.success(), "copying the template");
        chown_all(dir.path(), owner);
        let port = free_port();
        let child = command(bin_dir().join("postgres"), owner)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            // A test server: durability is not what is tested here.
            .args(["-c", "fsync=off", "-c", "shared_buffers=16MB"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        let server = Postgres {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if postgres::Client::connect(&server.url(), postgres::NoTls).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("PostgreSQL did not answer on port {port} within 30 s");
    }

    /// A URL of its `postgres` database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// A URL of one of its databases.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://vigil@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database and returns its URL. Its collation is ICU's `en-US`, as a
    /// database made on a server installed in English orders text (the server's own
    /// databases are initdb's `C`), so the tests see what ordering a language brings.
    pub fn create_database(&self, name: &str) -> String {
        let mut client = postgres::Client::connect(&self.url(), postgres::NoTls).unwrap();
        client
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            ))
            .unwrap();
        self.url_of(name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A fast shutdown (SIGINT) so the server removes its shared memory and socket.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
