//! `server:` what every connection is allowed: how long it may take to send a request head or
//! body, how long it may sit idle, how many connections and requests in flight the gateway
//! takes before it sheds, and which browser origins and Host names it answers.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Mapping;

use super::{section, ConfigError, HumanDuration};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    header_timeout: Option<HumanDuration>,
    idle_timeout: Option<HumanDuration>,
    body_timeout: Option<HumanDuration>,
    max_connections: Option<usize>,
    max_in_flight: Option<usize>,
    allowed_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
}

/// The validated `server:` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// From the first byte of a request head to its end. Slowloris gets no more than this.
    pub header_timeout: Duration,
    /// A connection with no request in flight and no byte of a new one. Above the 60 s that
    /// common load balancers use for their own idle cut, so that they, not the gateway, close
    /// pooled connections (a gateway closing first races the balancer's next request: a 502).
    pub idle_timeout: Duration,
    /// From the request head to the whole body: a body trickled byte by byte holds a request
    /// slot, so it gets a deadline rather than an inactivity timer.
    pub body_timeout: Duration,
    /// Open connections on the API listener; `None`: derived from the open-file limit at start.
    /// Past it, the connection idle the longest is closed to make room, or, when every one has a
    /// request in flight, the new one is answered 503.
    pub max_connections: Option<usize>,
    /// API requests being served at once; past it, 503 with `Retry-After` before reading the body.
    pub max_in_flight: usize,
    /// Browser origins allowed to call the API (CORS); none by default. `*` allows any.
    pub allowed_origins: Vec<String>,
    /// Host header values accepted besides loopback names when the listener is on loopback.
    pub allowed_hosts: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(30),
            max_connections: None,
            max_in_flight: 4096,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
        }
    }
}

pub fn read(map: &Mapping, errors: &mut Vec<ConfigError>) -> ServerConfig {
    let Some(s) = section::<ServerSection>(map, "server", errors) else { return ServerConfig::default() };
    let defaults = ServerConfig::default();
    let mut duration = |name: &str, value: Option<HumanDuration>, default: Duration| match value {
        Some(d) if d.0.is_zero() || d.0 > Duration::from_secs(3600) => {
            errors.push(ConfigError::new(&format!("server.{name}"), "must be above 0 and at most 1h"));
            default
        }
        Some(d) => d.0,
        None => default,
    };
    let header_timeout = duration("header_timeout", s.header_timeout, defaults.header_timeout);
    let idle_timeout = duration("idle_timeout", s.idle_timeout, defaults.idle_timeout);
    let body_timeout = duration("body_timeout", s.body_timeout, defaults.body_timeout);
    let mut count = |name: &str, value: Option<usize>| {
        if value == Some(0) {
            errors.push(ConfigError::new(&format!("server.{name}"), "must be more than 0"));
        }
        value.filter(|v| *v > 0)
    };
    let max_connections = count("max_connections", s.max_connections);
    let max_in_flight = count("max_in_flight", s.max_in_flight).unwrap_or(defaults.max_in_flight);
    let allowed_origins = s.allowed_origins.unwrap_or_default();
    for (i, origin) in allowed_origins.iter().enumerate() {
        if origin != "*" && !valid_origin(origin) {
            errors.push(ConfigError::new(
                &format!("server.allowed_origins[{i}]"),
                format!("`{origin}` is not an origin; expected SCHEME://HOST[:PORT] without a path, like https://app.example.com, or *"),
            ));
        }
    }
    let allowed_hosts = s.allowed_hosts.unwrap_or_default();
    for (i, host) in allowed_hosts.iter().enumerate() {
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            errors.push(ConfigError::new(
                &format!("server.allowed_hosts[{i}]"),
                format!("`{host}` is not a host name; expected HOST or HOST:PORT"),
            ));
        }
    }
    ServerConfig { header_timeout, idle_timeout, body_timeout, max_connections, max_in_flight, allowed_origins, allowed_hosts }
}

fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    !scheme.is_empty()
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' '])
}
