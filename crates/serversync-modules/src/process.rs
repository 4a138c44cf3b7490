//! Running a module's process (external command modules and the PHP shim): no shell, input on
//! stdin only, output read up to a cap, stderr's last lines kept with secrets redacted, the
//! whole process group killed on time-out.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::ModuleError;

/// How much of stderr is kept for error messages (its last bytes).
const STDERR_KEEP: usize = 16 * 1024;
/// How much of stderr is shown in an error message (characters, one line).
const STDERR_SHOW: usize = 300;

/// What a finished process left.
#[derive(Debug)]
pub struct ProcessOutput {
    /// Everything it wrote to stdout (at most the cap).
    pub stdout: Vec<u8>,
    /// The last lines of stderr, on one line, secrets redacted, at most ~300 characters.
    pub stderr: String,
    /// Its exit status.
    pub status: std::process::ExitStatus,
}

impl ProcessOutput {
    /// `Ok` when it exited 0, else [`ModuleError::Process`] saying how it ended, with stderr.
    pub fn check(self) -> Result<ProcessOutput, ModuleError> {
        if self.status.success() {
            return Ok(self);
        }
        Err(ModuleError::Process {
            what: describe_status(&self.status),
            stderr: self.stderr,
        })
    }
}

/// `exited with status 3`, `was killed by signal 9`.
pub fn describe_status(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("was killed by signal {sig}");
        }
    }
    match status.code() {
        Some(c) => format!("exited with status {c}"),
        None => "ended abnormally".into(),
    }
}

/// Runs `program args…` in `cwd` with `stdin` as its standard input.
///
/// The environment is the parent's (modules may need `PATH`, `HOME`), never with secrets
/// added. Stdout beyond `max_stdout` bytes, or a run longer than `timeout`, kills the
/// process group and fails ([`ModuleError::TooLarge`], [`ModuleError::ModuleTimeout`]).
/// Every string of `secrets` (4 characters or longer) is replaced by `[redacted]` in the
/// kept stderr.
pub async fn run(
    program: &str,
    args: &[String],
    cwd: &Path,
    stdin: Vec<u8>,
    timeout: Duration,
    max_stdout: u64,
    secrets: &[&str],
) -> Result<ProcessOutput, ModuleError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| ModuleError::Process {
        what: format!("could not be started ({program}: {e})"),
        stderr: String::new(),
    })?;
    let pgid = child.id();
    let (Some(mut child_in), Some(out), Some(err)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        kill_group(pgid);
        return Err(ModuleError::Process {
            what: "could not be given its pipes".into(),
            stderr: String::new(),
        });
    };
    let work = async {
        let feed = async move {
            // A module that exits without reading its input is not an error by itself.
            let _ = child_in.write_all(&stdin).await;
            let _ = child_in.shutdown().await;
            drop(child_in);
        };
        let (_, stdout, stderr_tail, status) = tokio::join!(
            feed,
            read_capped(out, max_stdout),
            read_tail(err),
            child.wait()
        );
        (stdout, stderr_tail, status)
    };
    let (stdout, stderr_tail, status) = match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => {
            kill_group(pgid);
            return Err(ModuleError::ModuleTimeout { after: timeout });
        }
    };
    // Whatever the module left running in its group goes with it.
    kill_group(pgid);
    let stderr = last_chars(
        &crate::http::one_line(&redact(&stderr_tail, secrets), STDERR_KEEP, ""),
        STDERR_SHOW,
    );
    let stdout = match stdout {
        Ok(s) => s,
        Err(()) => {
            return Err(ModuleError::TooLarge {
                what: "the module's output".into(),
                limit: max_stdout,
            })
        }
    };
    let status = status.map_err(|e| ModuleError::Process {
        what: format!("could not be waited for: {e}"),
        stderr: stderr.clone(),
    })?;
    Ok(ProcessOutput {
        stdout,
        stderr,
        status,
    })
}

/// Replaces each secret (4+ characters) in `text` by `[redacted]`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, "[redacted]");
        }
    }
    out
}

/// The last `max` characters of `s`, `…` in front when cut: an error's last lines say what
/// went wrong (a Python traceback ends with the exception, PHP with the fatal error).
fn last_chars(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let start = s.char_indices().nth(n - max).map_or(0, |(i, _)| i);
    format!("…{}", s[start..].trim_start())
}

/// Reads all of `r`, failing (and stopping) past `cap` bytes.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: u64) -> Result<Vec<u8>, ()> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(buf),
            Ok(n) => {
                if (buf.len() + n) as u64 > cap {
                    return Err(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// Reads all of `r`, keeping only its last [`STDERR_KEEP`] bytes (as text, lossily).
async fn read_tail(mut r: impl AsyncRead + Unpin) -> String {
    let mut keep: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                keep.extend_from_slice(&chunk[..n]);
                if keep.len() > 2 * STDERR_KEEP {
                    keep.drain(..keep.len() - STDERR_KEEP);
                }
            }
        }
    }
    if keep.len() > STDERR_KEEP {
        keep.drain(..keep.len() - STDERR_KEEP);
    }
    String::from_utf8_lossy(&keep).into_owned()
}

/// Kills the process group `pgid` (the child and everything it started); a group that is
/// already gone is fine.
fn kill_group(pgid: Option<u32>) {
    #[cfg(unix)]
    if let Some(id) = pgid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(id),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    #[cfg(not(unix))]
    let _ = pgid;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".into(), script.into()]
    }

    #[tokio::test]
    async fn stdin_in_stdout_out_stderr_redacted() {
        let out = run(
            "sh",
            &sh("cat; echo 'pw hunter22 oops' >&2; exit 3"),
            Path::new("."),
            b"{\"a\":1}".to_vec(),
            Duration::from_secs(10),
            1024,
            &["hunter22"],
        )
        .await
        .unwrap();
        assert_eq!(out.stdout, b"{\"a\":1}");
        assert_eq!(out.stderr, "pw [redacted] oops");
        let e = out.check().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the module's process exited with status 3: pw [redacted] oops"
        );
    }

    #[tokio::test]
    async fn the_last_lines_of_stderr_are_kept() {
        let out = run(
            "sh",
            &sh(
                "i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; \
                 echo 'Error: the real cause' >&2; exit 1",
            ),
            Path::new("."),
            Vec::new(),
            Duration::from_secs(10),
            1024,
            &[],
        )
        .await
        .unwrap();
        assert!(out.stderr.starts_with('…'), "{}", out.stderr);
        assert!(
            out.stderr.ends_with("line 1999 Error: the real cause"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.chars().count() <= STDERR_SHOW + 1);
    }

    #[tokio::test]
    async fn output_over_the_cap_fails() {
        let e = run(
            "sh",
            &sh("yes abcdefgh"),
            Path::new("."),
            Vec::new(),
            Duration::from_secs(10),
            100_000,
            &[],
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the module's output is larger than the limit of 100000 bytes"
        );
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child.pid");
        let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let started = std::time::Instant::now();
        let e = run(
            "sh",
            &sh(&script),
            dir.path(),
            Vec::new(),
            Duration::from_millis(500),
            1024,
            &[],
        )
        .await
        .unwrap_err();
        assert_eq!(
            e,
            ModuleError::ModuleTimeout {
                after: Duration::from_millis(500)
            }
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid = std::fs::read_to_string(&marker).unwrap();
        // The grandchild `sleep` is gone too (give the kernel a moment to reap it).
        let mut alive = true;
        for _ in 0..50 {
            alive = Path::new(&format!("/proc/{}", pid.trim())).exists()
                && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                    .unwrap_or_default()
                    .contains(") Z");
            if !alive {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            !alive,
            "the module's child process {pid} survived the time-out"
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_a_clear_error() {
        let e = run(
            "/nonexistent/prog",
            &[],
            Path::new("."),
            Vec::new(),
            Duration::from_secs(1),
            10,
            &[],
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the module's process could not be started (/nonexistent/prog: "),
            "{e}"
        );
    }
}
