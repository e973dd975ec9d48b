//! What a running (or crashed) server leaves behind, read without connecting: the
//! pid file, whether its process still lives, and the line of its log that explains
//! a failure.

use std::fs;
use std::path::Path;

use nix::sys::signal::kill;
use nix::unistd::Pid;

/// The fields of postmaster.pid dbkit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    pub port: Option<u16>,
}

/// Line 1 is the postmaster's pid, line 4 its port.
pub fn parse_pid_file(text: &str) -> Option<PidFile> {
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok().filter(|p: &i32| *p > 0)?;
    let port = lines.nth(2).and_then(|l| l.trim().parse().ok());
    Some(PidFile { pid, port })
}

/// Is `pid` a live PostgreSQL process? A zombie (killed, not yet reaped) or a pid
/// reused by another program does not count.
pub fn process_alive(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    let proc_dir = Path::new("/proc").join(pid.to_string());
    match fs::read_to_string(proc_dir.join("stat")) {
        Ok(stat) if stat_is_dead(&stat) => false,
        Ok(_) => fs::read_to_string(proc_dir.join("comm"))
            .map(|comm| comm.starts_with("postgres") || comm.starts_with("postmaster"))
            .unwrap_or(true),
        // No procfs (macOS): trust kill(2).
        Err(_) => true,
    }
}

/// `/proc/PID/stat`: the state follows the parenthesised command name.
pub fn stat_is_dead(stat: &str) -> bool {
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// The one line of a server log that explains a failure: the last FATAL/PANIC/ERROR
/// (from the severity on), else the last line.
pub fn log_cause(log: &str) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = |l: &str, sev: &str| l.find(sev).map(|i| l[i..].to_string());
    let found = ["FATAL:", "PANIC:", "ERROR:"].iter().find_map(|sev| {
        let at = lines.iter().rposition(|l| l.contains(sev))?;
        let mut cause = message(lines[at], sev)?;
        // "configuration file ... contains errors": the line before says which.
        if cause.contains("contains errors") && at > 0 {
            if let Some(detail) = message(lines[at - 1], "LOG:") {
                cause = format!("{cause} ({detail})");
            }
        }
        Some(cause)
    });
    found
        .or(lines.last().map(|l| l.to_string()))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub fn last_line(text: &str) -> String {
    log_cause(text).unwrap_or_else(|| "no output".into())
}

pub fn read_from(path: &Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_gives_pid_and_port() {
        let text = "4242\n/x/data\n1732820000\n54123\n/x\n127.0.0.1\n  1234567   98765\nready   \n";
        assert_eq!(
            parse_pid_file(text),
            Some(PidFile {
                pid: 4242,
                port: Some(54123)
            })
        );
        assert_eq!(
            parse_pid_file("4242\n"),
            Some(PidFile {
                pid: 4242,
                port: None
            })
        );
        assert_eq!(parse_pid_file(""), None);
        assert_eq!(parse_pid_file("garbage\n"), None);
    }

    #[test]
    fn zombies_are_dead() {
        assert!(stat_is_dead("123 (postgres) Z 1 123 123 0 -1"));
        assert!(!stat_is_dead("123 (postgres) S 1 123 123 0 -1"));
        // A command name with a parenthesis and a space in it.
        assert!(stat_is_dead("123 (a) b) Z 1"));
    }

    #[test]
    fn log_cause_picks_the_last_fatal() {
        let log = "2026-01-01 10:00:00.000 UTC [1] LOG:  starting PostgreSQL 15\n\
                   2026-01-01 10:00:00.001 UTC [1] FATAL:  could not bind IPv4 address \"127.0.0.1\": Address already in use\n\
                   2026-01-01 10:00:00.002 UTC [1] LOG:  database system is shut down\n";
        assert_eq!(
            log_cause(log).unwrap(),
            "FATAL: could not bind IPv4 address \"127.0.0.1\": Address already in use"
        );
        let log = "2026-01-01 10:00:00.000 UTC [1] LOG:  invalid value for parameter \"shared_buffers\": \"lots\"\n\
                   2026-01-01 10:00:00.001 UTC [1] FATAL:  configuration file \"/x/postgresql.conf\" contains errors\n";
        assert_eq!(
            log_cause(log).unwrap(),
            "FATAL: configuration file \"/x/postgresql.conf\" contains errors \
             (LOG: invalid value for parameter \"shared_buffers\": \"lots\")"
        );
        assert_eq!(log_cause("just one line\n").unwrap(), "just one line");
        assert_eq!(log_cause("\n \n"), None);
    }
}
