//! Azurite for tests: the shared server `scripts/test.sh` starts (`DPUKIT_AZURITE_URL`), or a
//! private one a test starts, stops and restarts itself (`DPUKIT_AZURITE_BIN`, the
//! `azurite-blob` of `tools/azurite/node_modules`). Without the variables the tests that
//! need a server are skipped with a printed reason, so a plain `cargo test` works, or fail
//! under `DPUKIT_REQUIRE_TOOLS=1` (see `tools.rs`); `scripts/test.sh` always sets both.
#![allow(dead_code)]

#[path = "tools.rs"]
pub mod tools;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting Azurite may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The shared server's endpoint, or `None` (and a skip notice) when unset.
pub fn shared_url(test: &str) -> Option<String> {
    let url = std::env::var("DPUKIT_AZURITE_URL").ok().filter(|u| !u.is_empty());
    tools::available(test, "Azurite (DPUKIT_AZURITE_URL)", url.is_some()).then_some(url).flatten()
}

/// The `azurite-blob` binary, or `None` (and a skip notice) when unset.
pub fn bin(test: &str) -> Option<PathBuf> {
    let bin = std::env::var("DPUKIT_AZURITE_BIN").ok().filter(|b| !b.is_empty()).map(PathBuf::from);
    tools::available(test, "Azurite (DPUKIT_AZURITE_BIN)", bin.is_some()).then_some(bin).flatten()
}

/// Creates a container (an existing one is fine) with `tools/azurite/create-container.js`.
pub fn create_container(url: &str, container: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("tools/azurite/create-container.js"))
        .find(|p| p.exists())
        .expect("tools/azurite/create-container.js");
    let out = Command::new("node").arg(script).arg(url).arg(container).output().expect("run node");
    assert!(out.status.success(), "create container {container}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A unique container name for one test.
pub fn container_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{}-{}-{nanos}", test.replace('_', "-"), std::process::id())
}

/// A private Azurite process on its own port and data folder.
pub struct Azurite {
    child: Option<Child>,
    bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
}

impl Azurite {
    /// Starts on a free port with `dir` as its data folder, and waits until it accepts
    /// connections.
    pub fn start(bin: &Path, dir: &Path) -> Azurite {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut a = Azurite { child: None, bin: bin.to_path_buf(), dir: dir.to_path_buf(), port };
        a.restart();
        a
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and folder.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(&self.bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &self.port.to_string(), "--location"])
            .arg(&self.dir)
            .args(["--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("azurite exited during start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "azurite did not listen on {} within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server as an operator would (SIGTERM: Azurite saves its metadata and
    /// exits) and waits for it; the port is closed on return. Azurite's metadata store saves
    /// on an interval, so SIGKILL could lose objects it acknowledged: that would test
    /// Azurite, not this kit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let term = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            if !term.is_ok_and(|s| s.success()) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    /// Kills the server (SIGKILL) and waits for it to exit; the port is closed on return.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}
