//! Per-server leases: who holds a server's lock, until when, and whether that holder still
//! exists.
//!
//! A lease is a row with a holder and an expiry a few seconds ahead, renewed while its work
//! runs (DESIGN.md §4 "one analysis or apply per server at a time (a lease that a dead holder
//! loses quickly)"). An expired lease is taken over at once. A holder also records its process
//! (pid and start time, from Linux `/proc`), so a lease of a process on this machine that no
//! longer exists — killed with `kill -9`, out of memory — is taken over without waiting for
//! the expiry. A reused pid is not mistaken for the holder: its start time differs.

use std::sync::OnceLock;

use time::OffsetDateTime;

/// A process that holds (or asks for) a lease, as far as this machine can check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessId {
    /// Where `pid` means something: the boot id and pid namespace of the machine
    /// (`<boot_id>/pid:[4026531836]` from `/proc/sys/kernel/random/boot_id` and
    /// `/proc/self/ns/pid`). Two processes can compare pids only when this is equal.
    pub machine: String,
    pub pid: u32,
    /// Start time of the process in clock ticks after boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

impl ProcessId {
    /// This process, or `None` where `/proc` cannot tell (not Linux, `/proc` not mounted).
    pub fn current() -> Option<ProcessId> {
        static CURRENT: OnceLock<Option<ProcessId>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                let (_, start_ticks) = proc_stat(pid)?;
                Some(ProcessId {
                    machine: machine_id()?,
                    pid,
                    start_ticks,
                })
            })
            .clone()
    }

    /// Another process of this machine by pid (for tests and tools), or `None` when it does
    /// not exist or `/proc` cannot tell.
    pub fn of_pid(pid: u32) -> Option<ProcessId> {
        let (_, start_ticks) = proc_stat(pid)?;
        Some(ProcessId {
            machine: machine_id()?,
            pid,
            start_ticks,
        })
    }

    /// True only when this process is certainly gone: it ran on this machine (same boot and
    /// pid namespace) and its pid now names no process, a zombie, or a process started at
    /// another time (the pid was reused). Anything uncertain counts as alive.
    pub fn is_gone(&self) -> bool {
        if machine_id().as_deref() != Some(self.machine.as_str()) {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
            Ok(stat) => match parse_stat(&stat) {
                Some((state, start)) => {
                    start != self.start_ticks || matches!(state, 'Z' | 'X' | 'x')
                }
                None => false,
            },
        }
    }
}

/// Who holds a lease: a unique id, and what a person needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockHolder {
    /// Unique per holder (`<instance>:<pid>@<host>`); renewing and releasing compare it.
    pub id: String,
    /// Who acts (`cli:alice`, `web:admin`, `api:deploy`).
    pub actor: String,
    /// The host name, for messages (not compared: [`ProcessId::machine`] is).
    pub host: String,
    /// The holding process, when this machine can describe it.
    pub process: Option<ProcessId>,
}

impl LockHolder {
    /// A holder for this process acting as `actor`; `instance` makes it unique among holders
    /// of one process (e.g. a random id per application instance).
    pub fn this_process(actor: &str, instance: &str) -> LockHolder {
        let host = host_name();
        let pid = std::process::id();
        LockHolder {
            id: format!("{instance}:{pid}@{host}"),
            actor: actor.to_string(),
            host,
            process: ProcessId::current(),
        }
    }

    /// `cli:alice (pid 4242 on web-admin-1)`: for messages.
    pub fn describe(&self) -> String {
        match &self.process {
            Some(p) => format!("{} (pid {} on {})", self.actor, p.pid, self.host),
            None => format!("{} (on {})", self.actor, self.host),
        }
    }
}

/// A held (or expired, not yet taken over) server lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLock {
    pub server_id: serversync_core::model::ServerId,
    pub holder: LockHolder,
    pub taken_at: OffsetDateTime,
    /// Renewals move this ahead; after it the lease may be taken over.
    pub expires_at: OffsetDateTime,
    /// Set on the lease [`crate::Leases::lock_server`] returns when it replaced another
    /// holder's lease that had run out or whose process was gone (for the takeover metric);
    /// always `false` on leases read back.
    pub took_over: bool,
}

impl ServerLock {
    /// Whether the lease has run out at `now`.
    pub fn expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at < now
    }
}

/// The lease a change set is written under: the store checks, in the write transaction, that
/// `holder_id` still holds `server_id`'s lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldLock {
    pub server_id: serversync_core::model::ServerId,
    pub holder_id: String,
}

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`), `unknown-host` otherwise.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".into())
}

/// Boot id and pid namespace of this machine, or `None` when `/proc` cannot tell.
fn machine_id() -> Option<String> {
    static ID: OnceLock<Option<String>> = OnceLock::new();
    ID.get_or_init(|| {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
        let boot = boot.trim();
        (!boot.is_empty()).then(|| format!("{boot}/{}", ns.display()))
    })
    .clone()
}

/// State and start time of a process from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `PID (COMM) STATE PPID … STARTTIME …`: the command may hold spaces and parentheses, so
/// fields are counted after the last `)`; STATE is field 3, STARTTIME field 22.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_parsed_after_the_command() {
        let line = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 300 0 0 0 5 3 0 0 20 0 \
                    1 0 987654 12345678 900 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) R 1 2"), None);
    }

    #[test]
    fn this_process_is_alive_and_described() {
        let Some(me) = ProcessId::current() else {
            eprintln!("no /proc here: skipped");
            return;
        };
        assert_eq!(me.pid, std::process::id());
        assert!(!me.is_gone());
        // The same pid with another start time is a reused pid: gone.
        let reused = ProcessId {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(reused.is_gone());
        // Another machine's process is never judged from here.
        let elsewhere = ProcessId {
            machine: "other-boot/pid:[1]".into(),
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(!elsewhere.is_gone());
        let h = LockHolder::this_process("cli:alice", "abc");
        assert!(h.id.starts_with(&format!("abc:{}@", std::process::id())));
        assert!(h
            .describe()
            .starts_with(&format!("cli:alice (pid {} on ", std::process::id())));
    }

    #[test]
    fn a_finished_child_is_gone() {
        let Ok(mut child) = std::process::Command::new("sleep").arg("30").spawn() else {
            eprintln!("no sleep binary: skipped");
            return;
        };
        let Some(p) = ProcessId::of_pid(child.id()) else {
            let _ = child.kill();
            eprintln!("no /proc here: skipped");
            return;
        };
        assert!(!p.is_gone());
        child.kill().unwrap();
        // Before it is reaped it is a zombie, which holds nothing either (the signal takes
        // a moment to land: a generous liveness bound, not a timing assertion).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !p.is_gone() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(p.is_gone());
        child.wait().unwrap();
        assert!(p.is_gone());
    }
}
