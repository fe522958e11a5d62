//! Runs the real `switchyard` binary for integration tests: fresh data dir, port 0, captured
//! output, SIGTERM, and kill on drop.
//!
//! Everything is async (tokio::process) so a test's fake upstreams keep running on the same
//! runtime while the test waits for the gateway.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const READY_MARKER: &str = "switchyard listening on http://";
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running gateway. Dropping it kills the process and deletes its temp dir.
pub struct GatewayProcess {
    // Field order matters: the child is killed before its data dir is removed.
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
    config_path: PathBuf,
    data_dir: PathBuf,
    _dir: TempDir,
}

impl GatewayProcess {
    /// `BIN serve --config CFG --data-dir DIR --listen 127.0.0.1:0`, waiting (up to 20 s) for
    /// the `switchyard listening on` line. Panics with the captured output when it never comes.
    pub async fn spawn(bin: &Path, config_yaml: &str) -> GatewayProcess {
        Self::spawn_with_args(bin, config_yaml, &[], &[]).await
    }

    /// Like [`GatewayProcess::spawn`], with `extra_args` appended after the standard ones and
    /// `envs` added to the inherited environment.
    pub async fn spawn_with_args(bin: &Path, config_yaml: &str, extra_args: &[&str], envs: &[(&str, &str)]) -> GatewayProcess {
        let dir = tempfile::Builder::new().prefix("switchyard-test-").tempdir().expect("create temp dir");
        let config_path = dir.path().join("switchyard.yaml");
        std::fs::write(&config_path, config_yaml).expect("write gateway config");
        let data_dir = dir.path().join("data");
        std::fs::create_dir(&data_dir).expect("create data dir");

        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra_args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => panic!("cannot start {}: {err}", bin.display()),
        };

        let output = Arc::new(Mutex::new(String::new()));
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(drain(stdout, Arc::clone(&output), Some(ready_tx)));
        tokio::spawn(drain(stderr, Arc::clone(&output), None));

        let found = tokio::time::timeout(READY_TIMEOUT, ready_rx.recv()).await;
        let addr = match found {
            Ok(Some(addr)) => addr,
            Ok(None) => {
                let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                panic!("gateway exited ({status:?}) before printing `{READY_MARKER}…`; output:\n{}", snapshot(&output))
            }
            Err(_) => panic!("gateway did not print `{READY_MARKER}…` within {READY_TIMEOUT:?}; output:\n{}", snapshot(&output)),
        };
        GatewayProcess { child, addr, output, config_path, data_dir, _dir: dir }
    }

    /// `http://HOST:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://HOST:PORT`, for `/healthz` and friends.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Everything the process wrote so far, stdout and stderr interleaved by line.
    pub fn output(&self) -> String {
        snapshot(&self.output)
    }

    /// The process id. Panics if the process was already reaped.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("gateway process already reaped")
    }

    /// Sends SIGTERM (graceful shutdown). Panics if the process was already reaped.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGHUP (reload the config file). Panics if the process was already reaped.
    pub fn sighup(&self) {
        self.signal(libc::SIGHUP);
    }

    #[allow(unsafe_code, reason = "libc's kill has no safe wrapper in our dependencies")]
    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own un-reaped child.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed: {}", std::io::Error::last_os_error());
    }

    /// Waits up to `timeout` until the output holds `needle` at least `n` times; the count seen.
    pub async fn wait_for_output(&self, needle: &str, n: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self.output().matches(needle).count();
            if seen >= n || tokio::time::Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => Some(status.expect("wait for gateway process")),
            Err(_) => None,
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        // kill_on_drop also does this; doing it here first means it happens before the temp
        // dir is removed. Errors only mean the process already exited.
        let _ = self.child.start_kill();
    }
}

/// Appends every line of `pipe` to `output`; on stdout, reports the listening address once.
async fn drain(pipe: impl AsyncRead + Unpin, output: Arc<Mutex<String>>, mut ready: Option<mpsc::UnboundedSender<SocketAddr>>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(addr) = line.split_once(READY_MARKER).map(|(_, rest)| rest.trim().trim_end_matches('/')) {
            if let Some(tx) = ready.take() {
                match addr.parse() {
                    Ok(addr) => {
                        let _ = tx.send(addr);
                    }
                    Err(err) => panic!("cannot parse listening address {addr:?}: {err}"),
                }
            }
        }
        let mut output = output.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        output.push_str(&line);
        output.push('\n');
    }
}

fn snapshot(output: &Mutex<String>) -> String {
    output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in binary: a shell script that prints the contract's startup lines and exits on
    /// SIGTERM with status 0.
    fn fake_gateway(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("fake-switchyard");
        let script = "#!/bin/sh\n\
            echo \"args: $*\"\n\
            echo 'warming up' >&2\n\
            trap 'echo bye; exit 0' TERM\n\
            echo 'switchyard listening on http://127.0.0.1:4321'\n\
            echo \"data: $FAKE_ENV\"\n\
            while true; do sleep 0.05; done\n";
        std::fs::write(&path, script).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[tokio::test]
    async fn spawn_parses_the_address_and_sigterm_stops_it() {
        let bin_dir = tempfile::tempdir().expect("tempdir");
        let bin = fake_gateway(bin_dir.path());
        let mut gateway = GatewayProcess::spawn_with_args(&bin, "providers: {}\n", &["--extra"], &[("FAKE_ENV", "x")]).await;
        assert_eq!(gateway.base_url(), "http://127.0.0.1:4321/v1");
        assert_eq!(std::fs::read_to_string(gateway.config_path()).expect("config"), "providers: {}\n");
        assert!(gateway.data_dir().is_dir());
        gateway.sigterm();
        let status = gateway.wait_exit(Duration::from_secs(5)).await.expect("exited");
        assert!(status.success(), "{status:?}");
        let output = gateway.output();
        assert!(output.contains("args: serve --config "), "{output}");
        assert!(output.contains("--listen 127.0.0.1:0 --extra"), "{output}");
        assert!(output.contains("warming up"), "{output}");
    }

    #[tokio::test]
    #[should_panic(expected = "before printing")]
    async fn early_exit_panics_with_the_output() {
        GatewayProcess::spawn(Path::new("/bin/false"), "").await;
    }
}
