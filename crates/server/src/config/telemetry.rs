//! `telemetry:` OpenTelemetry traces of every request, exported over OTLP — HTTP/protobuf
//! (`POST {otlp_endpoint}/v1/traces`) or gRPC (`protocol: grpc`, as `OTEL_EXPORTER_OTLP_PROTOCOL`
//! names them). Off when the section is absent.

use serde::Deserialize;
use serde_yaml::Mapping;

use super::{section, ConfigError};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetrySection {
    otlp_endpoint: Option<String>,
    sample_ratio: Option<f64>,
    capture_content: Option<bool>,
    protocol: Option<Protocol>,
}

/// How spans are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    #[serde(rename = "grpc")]
    Grpc,
}

/// The validated `telemetry:` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `http://HOST:PORT` (4318 for HTTP, 4317 for gRPC, by convention), without `/v1/traces`.
    pub otlp_endpoint: String,
    pub protocol: Protocol,
    /// The share of new traces kept (0 to 1); a caller's sampled flag decides for its trace.
    pub sample_ratio: f64,
    /// Prompts and completions on the spans (`gen_ai.input.messages`, `gen_ai.output.messages`).
    pub capture_content: bool,
}

pub fn read(map: &Mapping, errors: &mut Vec<ConfigError>) -> Option<TelemetryConfig> {
    let s = section::<TelemetrySection>(map, "telemetry", errors)?;
    let Some(endpoint) = s.otlp_endpoint else {
        errors.push(ConfigError::new("telemetry.otlp_endpoint", "is required: the OTLP receiver's URL, like http://127.0.0.1:4318"));
        return None;
    };
    let endpoint = endpoint.trim().trim_end_matches('/').to_string();
    let valid = endpoint
        .split_once("://")
        .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains([' ', '?', '#']));
    if !valid {
        errors.push(ConfigError::new(
            "telemetry.otlp_endpoint",
            format!("`{}` is not an http:// or https:// URL; expected like http://127.0.0.1:4318", super::redact_url(&endpoint)),
        ));
    }
    let sample_ratio = s.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        errors.push(ConfigError::new("telemetry.sample_ratio", format!("{sample_ratio} is not between 0 and 1")));
    }
    Some(TelemetryConfig {
        otlp_endpoint: endpoint,
        protocol: s.protocol.unwrap_or_default(),
        sample_ratio,
        capture_content: s.capture_content.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, Overrides, Protocol, Source};

    fn errors(text: &str) -> Vec<String> {
        parse(text, Source::Embedded, &Overrides::default(), &|_| None).err().unwrap_or_default().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn telemetry_is_read_with_its_defaults_and_off_without_the_section() {
        let config = |text: &str| parse(text, Source::Embedded, &Overrides::default(), &|_| None).unwrap().telemetry;
        assert_eq!(config(""), None);
        let t = config("telemetry: { otlp_endpoint: http://127.0.0.1:4318/ }").unwrap();
        assert_eq!(
            (t.otlp_endpoint.as_str(), t.protocol, t.sample_ratio, t.capture_content),
            ("http://127.0.0.1:4318", Protocol::HttpProtobuf, 1.0, false)
        );
        let t = config("telemetry: { otlp_endpoint: http://c:4317, protocol: grpc, sample_ratio: 0.25, capture_content: true }").unwrap();
        assert_eq!((t.protocol, t.sample_ratio, t.capture_content), (Protocol::Grpc, 0.25, true));
    }

    #[test]
    fn a_reload_keeps_the_running_telemetry_and_says_it_needs_a_restart() {
        let config = |text: &str| parse(text, Source::Embedded, &Overrides::default(), &|_| None).unwrap();
        let running = config("telemetry: { otlp_endpoint: http://a:4318 }");
        let mut next = config("telemetry: { otlp_endpoint: http://b:4318, sample_ratio: 0.5 }");
        let kept = crate::config::keep_running(&running, &mut next);
        assert_eq!(kept.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["telemetry"]);
        assert_eq!(next.telemetry, running.telemetry);
    }

    #[test]
    fn telemetry_errors_name_the_field() {
        let e = errors("telemetry: { otlp_endpoint: http://c:4318, sample_rate: 1 }");
        assert!(e.iter().any(|e| e.starts_with("telemetry.sample_rate: unknown field")), "{e:?}");
        let e = errors("telemetry: { otlp_endpoint: 'c:4318', sample_ratio: 1.5, protocol: http/json }");
        assert!(e.iter().any(|e| e.starts_with("telemetry.protocol: unknown variant `http/json`")), "{e:?}");
        let e = errors("telemetry: { otlp_endpoint: 'c:4318', sample_ratio: 1.5 }");
        assert!(e.iter().any(|e| e.starts_with("telemetry.otlp_endpoint: `c:4318` is not")), "{e:?}");
        assert!(e.iter().any(|e| e.starts_with("telemetry.sample_ratio: 1.5 is not between 0 and 1")), "{e:?}");
        assert!(errors("telemetry: { sample_ratio: 1 }").iter().any(|e| e.starts_with("telemetry.otlp_endpoint: is required")));
    }
}
