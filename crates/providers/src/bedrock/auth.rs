//! How a Bedrock request proves who sends it: a Bedrock API key as a bearer token, or AWS
//! Signature Version 4 over method, URL, headers and body with static credentials (from the
//! config, the standard `AWS_*` variables, or an AWS profile's files; instance roles are not read).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue};

use super::profile::Profile;
use super::BedrockConfig;
use crate::{ErrorKind, ProviderError, Secret};

/// The signing name of Bedrock Runtime.
const SERVICE: &str = "bedrock";

pub enum Auth {
    Bearer(Secret),
    SigV4 { access_key_id: Secret, secret_access_key: Secret, session_token: Option<Secret>, region: String },
}

impl Auth {
    /// The config's credentials, else the environment's, else the AWS profile's (`get` reads a
    /// variable). An API key wins over access keys, as in the AWS SDKs. `region` is the one
    /// configured (config or environment); without it the profile's region applies, else
    /// `us-east-1`. Returns the auth and the region requests go to.
    pub fn resolve(config: &BedrockConfig, region: Option<String>, get: &dyn Fn(&str) -> Option<String>) -> Result<(Self, String), String> {
        let env = |k: &str| get(k).filter(|v| !v.trim().is_empty()).map(Secret::new);
        let nonempty = |s: &Option<Secret>| s.clone().filter(|s| !s.expose().is_empty());
        let or_default = |region: Option<String>| region.unwrap_or_else(|| "us-east-1".to_string());
        if let Some(key) = nonempty(&config.api_key).or_else(|| env("AWS_BEARER_TOKEN_BEDROCK")) {
            return Ok((Auth::Bearer(key), or_default(region)));
        }
        let explicit = config.access_key_id.is_some() || config.secret_access_key.is_some();
        let (id, secret, token) = if explicit {
            (nonempty(&config.access_key_id), nonempty(&config.secret_access_key), nonempty(&config.session_token))
        } else {
            (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN"))
        };
        match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => {
                let region = or_default(region);
                Ok((Auth::SigV4 { access_key_id, secret_access_key, session_token: token, region: region.clone() }, region))
            }
            (Some(_), None) | (None, Some(_)) => Err("access_key_id and secret_access_key must be given together".to_string()),
            (None, None) => match Profile::load(config.profile.as_deref(), get)? {
                Some(profile) => {
                    let region = or_default(region.or(profile.region));
                    let Profile { access_key_id, secret_access_key, session_token, .. } = profile;
                    Ok((Auth::SigV4 { access_key_id, secret_access_key, session_token, region: region.clone() }, region))
                }
                None => Err("no credentials: set api_key (or AWS_BEARER_TOKEN_BEDROCK), access_key_id and secret_access_key \
                             (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or static keys in an AWS profile \
                             (no `default` profile was found; name one with profile or AWS_PROFILE); instance roles are not read"
                    .to_string()),
            },
        }
    }

    /// Every secret, for redacting upstream text.
    pub fn secrets(&self) -> Vec<Secret> {
        match self {
            Auth::Bearer(key) => vec![key.clone()],
            Auth::SigV4 { secret_access_key, session_token, .. } => {
                std::iter::once(secret_access_key.clone()).chain(session_token.clone()).collect()
            }
        }
    }

    /// The headers that authenticate a POST of `body` (JSON) to `url`, signed at `now`.
    pub fn headers(&self, url: &reqwest::Url, body: &[u8], now: SystemTime) -> Result<Vec<(HeaderName, HeaderValue)>, ProviderError> {
        let failed = |what: &str| ProviderError::new(ErrorKind::Auth, format!("Bedrock request could not be signed: {what}"));
        let (access_key_id, secret_access_key, session_token, region) = match self {
            Auth::Bearer(key) => {
                let value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                    .map_err(|_| failed("the API key is not a valid header value"))?;
                return Ok(vec![(http::header::AUTHORIZATION, value)]);
            }
            Auth::SigV4 { access_key_id, secret_access_key, session_token, region } => {
                (access_key_id, secret_access_key, session_token, region)
            }
        };
        // The Host header hyper will send: the port only when it is not the scheme's default.
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let identity = Credentials::new(
            access_key_id.expose(),
            secret_access_key.expose(),
            session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "switchyard-config",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SERVICE)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e.to_string()))?
            .into();
        let signed = [("host", host.as_str()), ("content-type", "application/json")];
        let request = SignableRequest::new("POST", url.as_str(), signed.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| failed(&e.to_string()))?;
        let (instructions, _signature) = sign(request, &params).map_err(|e| failed(&e.to_string()))?.into_parts();
        instructions
            .headers()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| failed("bad header name"))?;
                let mut value = HeaderValue::from_str(value).map_err(|_| failed("bad header value"))?;
                value.set_sensitive(true);
                Ok((name, value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{Bedrock, BedrockConfig};
    use super::Auth;
    use crate::Provider;

    #[test]
    fn config_reads_the_environment_and_rejects_unknown_fields() {
        let env = |k: &str| match k {
            "AWS_DEFAULT_REGION" => Some("ap-south-1".to_string()),
            "AWS_ACCESS_KEY_ID" => Some("AKIDENV".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            _ => None,
        };
        let p = Bedrock::with_env("b", &BedrockConfig::default(), &env).unwrap();
        assert_eq!(
            p.url("amazon.nova-micro-v1:0", "converse-stream").unwrap().as_str(),
            "https://bedrock-runtime.ap-south-1.amazonaws.com/model/amazon.nova-micro-v1%3A0/converse-stream"
        );
        assert!(
            matches!(&p.auth, Auth::SigV4 { access_key_id, region, .. } if access_key_id.expose() == "AKIDENV" && region == "ap-south-1")
        );
        let bearer = |k: &str| (k == "AWS_BEARER_TOKEN_BEDROCK").then(|| "ABSKenv".to_string());
        assert!(matches!(Bedrock::with_env("b", &BedrockConfig::default(), &bearer).unwrap().auth, Auth::Bearer(_)));
        assert_eq!(p.kind(), "bedrock");
        let none = Bedrock::with_env("b", &BedrockConfig::default(), &|_| None).err().unwrap();
        assert!(none.contains("no credentials"), "{none}");
        let config: BedrockConfig =
            serde_json::from_value(json!({"region": "us-west-2", "api_key": "k", "connect_timeout": "3s", "models": ["m"]})).unwrap();
        assert_eq!((config.connect_timeout, config.models.clone()), (Some(std::time::Duration::from_secs(3)), vec!["m".to_string()]));
        let err = serde_json::from_value::<BedrockConfig>(json!({"regoin": "x"})).unwrap_err().to_string();
        assert!(err.contains("unknown field `regoin`"), "{err}");
    }
}
