//! Which `Host` a loopback listener answers. DNS rebinding points a name the attacker owns at
//! 127.0.0.1, so the browser treats the gateway as the attacker's own origin and lets the page
//! read its answers; the one thing the browser cannot hide is that name, in `Host`. Loopback
//! names cannot be claimed that way, and `server.allowed_hosts` adds the names an operator uses.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether `authority` (`HOST` or `HOST:PORT`, as in `Host`) may address a loopback listener.
pub fn allowed(authority: &str, allowed_hosts: &[String]) -> bool {
    let Some((host, port)) = split(authority) else { return false };
    loopback_name(&host) || allowed_hosts.iter().any(|entry| matches_entry(entry, &host, port))
}

/// `localhost` (and its subdomains, which RFC 6761 reserves for loopback and browsers resolve
/// there themselves), `127.x.x.x`, `[::1]`.
fn loopback_name(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.to_canonical().is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// An entry is `HOST` (any port), `HOST:PORT`, or `.DOMAIN` (the domain and its subdomains).
fn matches_entry(entry: &str, host: &str, port: Option<&str>) -> bool {
    let Some((entry_host, entry_port)) = split(entry) else { return false };
    if entry_port.is_some() && entry_port != port {
        return false;
    }
    match entry_host.strip_prefix('.') {
        Some(domain) => host == domain || host.strip_suffix(domain).is_some_and(|sub| sub.ends_with('.')),
        None => host == entry_host,
    }
}

/// The host (lowercase, without a trailing dot) and the port of an authority; `None` when it is
/// not one (userinfo, a path, an empty host, a port that is not a number).
fn split(authority: &str) -> Option<(String, Option<&str>)> {
    if authority.contains(['@', '/', ' ', '\\']) {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        // `[::1]` has colons inside its brackets; only one after `]` starts a port.
        Some(i) if !authority[i..].contains(']') && (authority.starts_with('[') || !authority[..i].contains(':')) => {
            (&authority[..i], Some(&authority[i + 1..]))
        }
        _ => (authority, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn loopback_names_pass_with_any_port_and_case() {
        for host in [
            "localhost",
            "LOCALHOST:4000",
            "localhost.:4000",
            "app.localhost:4000",
            "127.0.0.1",
            "127.0.0.1:4000",
            "127.9.8.7:1",
            "[::1]",
            "[::1]:4000",
            "[::ffff:127.0.0.1]:4000",
        ] {
            assert!(allowed(host, &[]), "{host}");
        }
    }

    #[test]
    fn other_names_are_refused_unless_listed() {
        for host in [
            "evil.example",
            "evil.example:4000",
            "localhost.evil.example",
            "evillocalhost",
            "127.0.0.1.evil.example",
            "10.0.0.1:4000",
            "[::2]:4000",
            "",
            ":4000",
            "localhost:x",
            "user@localhost",
            "0.0.0.0:4000",
        ] {
            assert!(!allowed(host, &[]), "{host}");
        }
        let listed = vec!["gateway.internal".to_string(), "box.lan:4000".into(), ".dev.example".into()];
        assert!(allowed("Gateway.Internal:4000", &listed));
        assert!(allowed("box.lan:4000", &listed));
        assert!(!allowed("box.lan:4001", &listed));
        assert!(allowed("dev.example", &listed) && allowed("a.b.dev.example:1", &listed));
        assert!(!allowed("evildev.example", &listed));
    }
}
