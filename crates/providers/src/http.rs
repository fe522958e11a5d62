//! The shared outbound HTTP client settings and the mapping of transport failures.

use std::time::Duration;

use crate::{ErrorKind, ProviderError};

/// One pooled client per provider: keep-alive, no Nagle, the provider's connect timeout.
pub fn client(connect_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(90))
        // Upstream redirects on a POST are a misconfiguration, not something to follow silently.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Upstream error bodies are read up to this size; the rest is not needed to classify them.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// Reads at most `limit` bytes of a body (error bodies: never buffer an unbounded answer).
pub async fn read_limited(response: reqwest::Response, limit: usize) -> Vec<u8> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        out.extend_from_slice(&chunk[..chunk.len().min(limit - out.len())]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// A model name as one opaque URL path segment: everything but RFC 3986 unreserved characters is
/// percent-encoded (so `/` cannot add a segment: `amazon.nova-micro-v1:0` →
/// `amazon.nova-micro-v1%3A0`), and `.` / `..`, which URL parsers resolve as moves up the path
/// even when encoded, are refused. A model name never reaches outside the configured base URL.
pub fn path_segment(provider: &str, model: &str) -> Result<String, ProviderError> {
    if matches!(model, "" | "." | "..") {
        let message = format!("model name `{model}` is not a valid model for provider `{provider}`");
        return Err(ProviderError { param: Some("model".into()), ..ProviderError::new(ErrorKind::BadRequest, message) });
    }
    let mut out = String::with_capacity(model.len());
    for b in model.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// A successful response's body as a stream of bytes, transport failures classified.
pub fn body_stream(provider: &str, response: reqwest::Response) -> crate::sse_stream::ByteStream {
    use futures_util::{StreamExt, TryStreamExt};
    let name = provider.to_string();
    response.bytes_stream().map_err(move |e| transport_error(&name, &e)).boxed()
}

/// Maps a transport error. Its text can include the URL but never headers, so no key leaks.
pub fn transport_error(provider: &str, err: &reqwest::Error) -> ProviderError {
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_body() || err.is_decode() {
        ErrorKind::Interrupted
    } else {
        ErrorKind::Connect
    };
    let what = match kind {
        ErrorKind::Timeout => "timed out",
        ErrorKind::Interrupted => "connection broke while reading the response",
        _ => "could not be reached",
    };
    ProviderError::new(kind, format!("provider `{provider}` {what}"))
}

/// The trace context of the attempt being made, when the gateway traces the request: set by the
/// attempt loop around the provider call, added to every request an adapter sends (`propagate`).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub traceparent: String,
    pub tracestate: Option<std::sync::Arc<str>>,
}

tokio::task_local! {
    pub static OUTBOUND: Outbound;
}

/// Sends a request to the provider: the one place every adapter's model calls go out, so the
/// trace context of a traced attempt is added here (after signing: those headers are not signed).
pub async fn send(provider: &str, builder: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
    propagate(builder).send().await.map_err(|e| transport_error(provider, &e))
}

/// Adds the W3C `traceparent` (and `tracestate`) of the attempt being made, if it is traced.
fn propagate(builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match OUTBOUND.try_with(Outbound::clone) {
        Ok(Outbound { traceparent, tracestate: Some(state) }) => builder.header("traceparent", traceparent).header("tracestate", &*state),
        Ok(Outbound { traceparent, tracestate: None }) => builder.header("traceparent", traceparent),
        Err(_) => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_testkit::{FakeUpstream, Reply};

    #[tokio::test]
    async fn send_adds_the_trace_context_only_inside_a_traced_attempt() {
        let up = FakeUpstream::start_repeating(Reply::json("{}")).await;
        let c = client(Duration::from_secs(2));
        send("p", c.post(up.base_url())).await.unwrap();
        let outbound =
            Outbound { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(), tracestate: Some("v=1".into()) };
        OUTBOUND.scope(outbound, send("p", c.post(up.base_url()))).await.unwrap();
        let sent: Vec<(Option<String>, Option<String>)> = up
            .requests()
            .iter()
            .map(|r| (r.header("traceparent").map(str::to_string), r.header("tracestate").map(str::to_string)))
            .collect();
        assert_eq!(sent, [(None, None), (Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()), Some("v=1".into()))]);
    }
}
