//! Whether a URL stays on this machine: the decision behind `seed --reset` (and the
//! cleanup of scratch leftovers, which reads this machine's pids). Decided from the
//! parsed connection settings alone, before any connection or name lookup: local
//! only when every address the driver would connect to is loopback or a unix socket.

use std::net::IpAddr;

use tokio_postgres::config::Host;

/// True when every connection target is a unix socket, a loopback address, or the
/// name `localhost`. A `hostaddr` replaces its host's address (libpq semantics: the
/// host name is then only used for TLS and authentication), so `localhost` with a
/// remote `hostaddr` is remote. No target at all is not local (fail closed).
pub fn all_local(hosts: &[Host], hostaddrs: &[IpAddr]) -> bool {
    let targets = hosts.len().max(hostaddrs.len());
    targets > 0
        && (0..targets).all(|i| match (hostaddrs.get(i), hosts.get(i)) {
            (Some(addr), _) => is_loopback(*addr),
            (None, Some(Host::Unix(_))) => true,
            (None, Some(Host::Tcp(name))) => name_is_loopback(name),
            (None, None) => false,
        })
}

/// A loopback IP literal (`127.0.0.0/8`, `::1`, `::ffff:127.x`), or `localhost`. Any
/// other name, even `127.example.com`, would need a lookup to know, so it is remote.
fn name_is_loopback(name: &str) -> bool {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(is_loopback)
}

fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbUrl;

    fn local(url: &str) -> bool {
        DbUrl::parse(url, "test").unwrap().is_local()
    }

    #[test]
    fn loopback_literals_localhost_and_sockets_are_local() {
        assert!(local("postgres://u@localhost/db"));
        assert!(local("postgres://u@LOCALHOST:5432/db"));
        assert!(local("postgres://u@127.0.0.1/db"));
        assert!(local("postgres://u@127.8.9.10/db"));
        assert!(local("postgres://u@[::1]:5432/db"));
        assert!(local("postgres://u@[::ffff:127.0.0.1]/db"));
        assert!(local("postgres://u@localhost/db?hostaddr=127.0.0.1"));
        assert!(local("postgres://u@%2Ftmp%2Fpg/db"));
        assert!(local("postgres:///db?host=/var/run/postgresql&user=u"));
        assert!(local("postgres://u@localhost,127.0.0.2/db"));
    }

    #[test]
    fn a_hostaddr_decides_over_its_host() {
        assert!(!local("postgres://u@localhost/db?hostaddr=10.1.2.3"));
        assert!(!local("postgres://u@127.0.0.1/db?hostaddr=192.168.0.5"));
        assert!(!local(
            "postgres://u@localhost,localhost/db?hostaddr=127.0.0.1,10.0.0.1"
        ));
    }

    #[test]
    fn names_that_only_look_local_are_remote() {
        assert!(!local("postgres://u@127.evil.example.com/db"));
        assert!(!local("postgres://u@127.0.0.1.nip.io/db"));
        assert!(!local("postgres://u@localhost.example.com/db"));
        assert!(!local("postgres://u@db.example.com/db"));
        assert!(!local("postgres://u@10.0.0.1/db"));
        assert!(!local("postgres://u@[::2]/db"));
    }

    #[test]
    fn one_remote_host_in_a_list_makes_it_remote() {
        assert!(!local("postgres://u@localhost,db.example.com/db"));
        assert!(!local("postgres://u@localhost/db?host=db.example.com"));
    }

    #[test]
    fn no_target_is_not_local() {
        assert!(!all_local(&[], &[]));
    }
}
