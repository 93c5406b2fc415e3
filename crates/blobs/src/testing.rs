//! A real S3 server for tests (feature `test-server`): moto's server from PyPI, installed
//! by `make moto` in its own venv (`$HOME/.cache/vigil-moto-venv`), or `$VIGIL_MOTO_SERVER`,
//! started on a free loopback port with one bucket.
#![allow(clippy::missing_panics_doc)]

use crate::{S3Blobs, S3Config};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every server starts with.
pub const BUCKET: &str = "vigil-test";

/// A moto S3 server for one test, stopped when dropped.
pub struct MotoServer {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `moto_server` of the venv `make moto` makes, or `$VIGIL_MOTO_SERVER`.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("VIGIL_MOTO_SERVER") {
        return path.into();
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/vigil-moto-venv/bin/moto_server")
}

impl MotoServer {
    /// Starts one, waits until it answers and creates [`BUCKET`].
    pub fn start() -> MotoServer {
        let binary = server_binary();
        let port = free_port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} could not start ({e}): run `make moto` (make test does), which installs \
                     moto's S3 server from PyPI into $HOME/.cache/vigil-moto-venv",
                    binary.display()
                )
            });
        let mut server = MotoServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ureq::get(&server.endpoint()).call().is_ok() {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server on port {port} exited at start ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server.create_bucket(BUCKET);
        server
    }

    /// Creates another bucket (moto takes unsigned requests).
    pub fn create_bucket(&self, bucket: &str) {
        ureq::put(&format!("{}/{bucket}", self.endpoint()))
            .send_empty()
            .unwrap_or_else(|e| panic!("creating bucket {bucket} on moto: {e}"));
    }

    /// Its URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Settings for the [`BUCKET`] under `prefix` (`""`: the whole bucket).
    pub fn config(&self, prefix: &str) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint()),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            prefix: prefix.into(),
        }
    }

    /// A store on the [`BUCKET`] under `prefix`.
    pub fn blobs(&self, prefix: &str) -> S3Blobs {
        S3Blobs::open(&self.config(prefix)).unwrap()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
