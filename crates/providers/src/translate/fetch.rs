//! Fetches images that clients give as http(s) URLs, for adapters whose provider needs the bytes
//! (Bedrock Converse, Gemini `inlineData`). The URL comes from an untrusted client and the request
//! leaves from inside the gateway's network, so every hop is checked against server-side request
//! forgery: only http(s), only public addresses (unless `allow_private`), redirects followed by
//! hand and re-checked, size and time bounded, and only image bytes accepted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::{Conversation, Part, Turn};
use crate::{ErrorKind, ProviderError};

/// How many images of one request are downloaded at the same time.
const CONCURRENT_FETCHES: usize = 4;

/// What the gateway may fetch on a client's behalf; read from a provider's `image_fetch:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchPolicy {
    /// Allow loopback, private, link-local and other non-public addresses. Only for tests and
    /// gateways whose clients are trusted: otherwise a client can read internal services
    /// (including the cloud metadata endpoint) through the gateway.
    pub allow_private: bool,
    /// Largest image accepted, in bytes.
    pub max_bytes: usize,
    /// For the whole fetch: every hop, and reading the body.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub max_redirects: u8,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self { allow_private: false, max_bytes: 20 * 1024 * 1024, timeout: Duration::from_secs(10), max_redirects: 3 }
    }
}

/// Downloads images under a `FetchPolicy`. One per provider; the client is pooled.
#[derive(Debug, Clone)]
pub struct ImageFetcher {
    /// Resolves through `VettingResolver`, so it only ever connects to addresses that passed
    /// the policy: the same lookup that is checked is the one connected to, and DNS rebinding
    /// between a check and the connect cannot happen.
    client: reqwest::Client,
    policy: FetchPolicy,
    /// Tests only: one local server treated as public, so that what happens after its
    /// redirects can be tested.
    trusted: Option<SocketAddr>,
}

impl ImageFetcher {
    pub fn new(policy: FetchPolicy) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(VettingResolver { allow_private: policy.allow_private }))
            // A proxy would resolve and connect on our behalf, past every check here.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.timeout)
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION"), " (image fetch)"))
            .build()
            .map_err(|e| format!("the image fetch client could not be built: {e}"))?;
        Ok(Self { client, policy, trusted: None })
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    #[cfg(test)]
    fn trusting(self, server: SocketAddr) -> Self {
        Self { trusted: Some(server), ..self }
    }

    /// Downloads `url` and returns its media type (`image/png`, …) and bytes. Every failure is
    /// a `BadRequest` naming only the host, since the query can carry signed tokens.
    pub async fn fetch(&self, url: &str) -> Result<(String, Vec<u8>), ProviderError> {
        let url = reqwest::Url::parse(url).map_err(|_| refused("", "it is not a valid URL"))?;
        let host = url.host_str().unwrap_or_default().to_string();
        match tokio::time::timeout(self.policy.timeout, self.follow(url)).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out(&host)),
        }
    }

    /// Requests `url`, following up to `max_redirects` redirects, each one checked like the first.
    async fn follow(&self, mut url: reqwest::Url) -> Result<(String, Vec<u8>), ProviderError> {
        let mut redirects = 0;
        loop {
            let host = url.host_str().unwrap_or_default().to_string();
            if !matches!(url.scheme(), "http" | "https") {
                return Err(refused(&host, &format!("only http and https URLs can be fetched, not `{}:`", url.scheme())));
            }
            if host.is_empty() {
                return Err(refused(&host, "the URL has no host"));
            }
            // The connector skips the resolver for IP literals, so those are checked here.
            if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                self.check(SocketAddr::new(ip, url.port_or_known_default().unwrap_or(0))).map_err(|reason| refused(&host, &reason))?;
            }
            let response = self
                .client
                .get(url.clone())
                .header(http::header::ACCEPT, "image/*,application/pdf;q=0.9,*/*;q=0.1")
                .send()
                .await
                .map_err(|e| self.transport(&host, &e))?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                if redirects == self.policy.max_redirects {
                    return Err(refused(&host, &format!("more than {} redirects", self.policy.max_redirects)));
                }
                redirects += 1;
                let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok());
                let location = location.ok_or_else(|| refused(&host, &format!("HTTP {status} without a Location")))?;
                url = url.join(location).map_err(|_| refused(&host, "it redirected to an invalid URL"))?;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(refused(&host, &format!("it answered HTTP {status}")));
            }
            return self.read(&host, response).await;
        }
    }

    fn check(&self, addr: SocketAddr) -> Result<(), String> {
        let ip = addr.ip();
        match refusal(ip) {
            Some(kind) if !self.policy.allow_private && self.trusted != Some(addr) => Err(format!("{ip} is {kind}")),
            _ => Ok(()),
        }
    }

    /// Reads the body up to `max_bytes` and decides its media type.
    async fn read(&self, host: &str, response: reqwest::Response) -> Result<(String, Vec<u8>), ProviderError> {
        let max = self.policy.max_bytes;
        let too_large = || refused(host, &format!("the image is larger than {max} bytes"));
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let declared = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .unwrap_or_default();
        let mut body = Vec::with_capacity(response.content_length().map_or(0, |n| n as usize));
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport(host, &e))?;
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let media_type = media_type(&declared, &body).ok_or_else(|| {
            let what = if declared.is_empty() { "no content type".to_string() } else { format!("content type `{declared}`") };
            refused(host, &format!("the answer is not an image ({what})"))
        })?;
        Ok((media_type, body))
    }

    fn timed_out(&self, host: &str) -> ProviderError {
        refused(host, &format!("no complete answer within {:?}", self.policy.timeout))
    }

    /// Never shows reqwest's own text: it contains the whole URL.
    fn transport(&self, host: &str, err: &reqwest::Error) -> ProviderError {
        let mut source = std::error::Error::source(err);
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<ResolveRefusal>() {
                return refused(host, &refusal.0);
            }
            source = e.source();
        }
        if err.is_timeout() {
            return self.timed_out(host);
        }
        let reason =
            if err.is_body() || err.is_decode() { "the connection broke while reading the image" } else { "it could not be reached" };
        refused(host, reason)
    }
}

/// The bytes' own format wins (servers often label images `application/octet-stream`, and
/// providers check the format against the bytes); otherwise a declared image or PDF type.
fn media_type(declared: &str, body: &[u8]) -> Option<String> {
    if let Some(sniffed) = sniff(body) {
        return Some(sniffed.to_string());
    }
    (!body.is_empty() && (declared.starts_with("image/") || declared == "application/pdf")).then(|| declared.to_string())
}

/// PNG, JPEG, GIF and WebP by their magic bytes.
fn sniff(body: &[u8]) -> Option<&'static str> {
    if body.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if body.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if body.starts_with(b"GIF87a") || body.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if body.len() >= 12 && body.starts_with(b"RIFF") && &body[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn refused(host: &str, reason: &str) -> ProviderError {
    let message = if host.is_empty() {
        format!("the image URL cannot be fetched: {reason}")
    } else {
        format!("the image at host `{host}` cannot be fetched: {reason}")
    };
    ProviderError::new(ErrorKind::BadRequest, message)
}

/// Why a host name led to no connection; carried through reqwest's error chain to the message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ResolveRefusal(String);

/// Looks host names up and hands the connector only the addresses the policy allows.
struct VettingResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| ResolveRefusal(format!("the name `{host}` does not resolve")))?
                .collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| allow_private || refusal(a.ip()).is_none()).collect();
            match (allowed.is_empty(), found.first()) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
                (true, Some(first)) => {
                    let kind = refusal(first.ip()).unwrap_or("not allowed");
                    Err(Box::new(ResolveRefusal(format!("`{host}` resolves to {}, which is {kind}", first.ip()))) as _)
                }
                (true, None) => Err(Box::new(ResolveRefusal(format!("the name `{host}` does not resolve"))) as _),
            }
        })
    }
}

/// Why the gateway must not connect to `ip` on a client's behalf, or `None` for a public address.
fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "an unspecified address",
        (127, _, _) => "a loopback address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (169, 254, _) => "a link-local address (cloud metadata lives there)",
        (100, 64..=127, _) => "a shared (carrier-grade NAT) address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (192, 0, 0) | (198, 18..=19, _) => "a reserved address",
        (224..=239, _, _) => "a multicast address",
        _ if ip == Ipv4Addr::BROADCAST => "the broadcast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    })
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Forms that carry an IPv4 address reach that address: mapped (::ffff:a.b.c.d), NAT64
    // (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refusal_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return refusal_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return refusal_v4(embedded(s[1], s[2]));
    }
    Some(match s[0] {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        // The rest of ::/96: deprecated IPv4-compatible addresses.
        0 if s[1..6] == [0; 5] => "a reserved address",
        0x0100 if s[1..4] == [0; 3] => "a reserved address",
        0xfc00..=0xfdff => "a unique-local (private) address",
        0xfe80..=0xfebf => "a link-local address",
        0xfec0..=0xfeff => "a site-local (private) address",
        0xff00..=0xffff => "a multicast address",
        0x2001 if s[1] == 0x0db8 => "a documentation address",
        0x3fff if s[1] <= 0x0fff => "a documentation address",
        _ => return None,
    })
}

/// Replaces every http(s) image of the user turns with a base64 `data:` URL, fetching up to
/// `CONCURRENT_FETCHES` at a time. Errors name `messages[i].content[j].image_url`.
pub async fn inline_remote_images(conversation: &mut Conversation, fetcher: &ImageFetcher) -> Result<(), ProviderError> {
    let mut remote = Vec::new();
    for (t, turn) in conversation.turns.iter().enumerate() {
        let Turn::User(parts) = turn else { continue };
        for (j, part) in parts.iter().enumerate() {
            if let Part::Image { url } = part {
                if is_remote(url) {
                    let param = conversation.turn_messages.get(t).map(|i| format!("messages[{i}].content[{j}].image_url"));
                    remote.push((t, j, url.clone(), param));
                }
            }
        }
    }
    if remote.is_empty() {
        return Ok(());
    }
    let fetched: Vec<(usize, usize, String)> = futures_util::stream::iter(remote)
        .map(|(t, j, url, param)| async move {
            match fetcher.fetch(&url).await {
                Ok((media_type, bytes)) => {
                    Ok((t, j, format!("data:{media_type};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))))
                }
                Err(e) => Err(ProviderError { param, ..e }),
            }
        })
        .buffer_unordered(CONCURRENT_FETCHES)
        .try_collect()
        .await?;
    for (t, j, url) in fetched {
        if let Turn::User(parts) = &mut conversation.turns[t] {
            parts[j] = Part::Image { url };
        }
    }
    Ok(())
}

fn is_remote(url: &str) -> bool {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    matches!(scheme.as_deref(), Some("http" | "https"))
}

#[cfg(test)]
mod tests;
