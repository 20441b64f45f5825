//! The S3-compatible server for tests: the shared one `scripts/s3.sh` starts (moto's server
//! mode, `DPUKIT_S3_URL`; it accepts any credentials). Without the variable the tests that
//! need it are skipped with a printed reason, so a plain `cargo test` works, or fail under
//! `DPUKIT_REQUIRE_TOOLS=1` (see `tools.rs`); `scripts/test.sh` always sets it.
#![allow(dead_code)]

#[path = "tools.rs"]
pub mod tools;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shared server's endpoint, or `None` (and a skip notice) when unset.
pub fn shared_url(test: &str) -> Option<String> {
    let url = std::env::var("DPUKIT_S3_URL").ok().filter(|u| !u.is_empty());
    tools::available(test, "an S3 server (DPUKIT_S3_URL)", url.is_some()).then_some(url).flatten()
}

/// The `moto_server` binary, or `None` (and a skip notice) when unset.
pub fn bin(test: &str) -> Option<PathBuf> {
    let bin = std::env::var("DPUKIT_S3_BIN").ok().filter(|b| !b.is_empty()).map(PathBuf::from);
    tools::available(test, "moto_server (DPUKIT_S3_BIN)", bin.is_some()).then_some(bin).flatten()
}

/// A private moto server on a free port, killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts and waits until it accepts connections (at most 60 s).
    pub fn start(bin: &Path) -> Moto {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server exited during start: {status}");
            }
            assert!(Instant::now() < deadline, "moto_server did not listen on {port} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        signal(self.child.id(), "CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `SIG{name}` to `pid` with kill(1).
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
    assert!(ok.is_ok_and(|s| s.success()), "kill -{name} {pid}");
}

/// Creates a bucket with the server's own Python and boto3 (beside `moto_server` in
/// tools/moto/.venv): object_store has no bucket API.
pub fn create_bucket(url: &str, bucket: &str) {
    let bin = std::env::var("DPUKIT_S3_BIN").map(PathBuf::from).expect("DPUKIT_S3_BIN (scripts/s3.sh)");
    let python = bin.with_file_name("python");
    let script = "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
                  aws_access_key_id='dpukit', aws_secret_access_key='dpukit').create_bucket(Bucket=sys.argv[2])";
    let out = Command::new(python).args(["-c", script, url, bucket]).output().expect("run python");
    assert!(out.status.success(), "create bucket {bucket}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A unique bucket name for one test (3..=63 of a-z 0-9 -).
pub fn bucket_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let mut name = format!("{}-{}-{nanos}", test.replace('_', "-"), std::process::id());
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}
