//! AWS shared profiles, read as the AWS SDKs and CLI read them: static keys and region from the
//! credentials file (`[name]`) and the config file (`[profile name]`, or `[default]`). Profiles
//! that need a credential exchange (SSO, assume-role, `credential_process`, web identity) are
//! refused by name rather than skipped, so a request never goes out under the wrong identity.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::Secret;

/// Keys that ask for a credential source this adapter does not run (besides every `sso_*` key).
const UNSUPPORTED: [&str; 5] = ["credential_process", "role_arn", "source_profile", "credential_source", "web_identity_token_file"];

/// The static credentials of one profile. `Debug` shows no secret.
#[derive(Debug)]
pub struct Profile {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    pub region: Option<String>,
}

type Properties = BTreeMap<String, String>;

impl Profile {
    /// The profile `configured` names, else `AWS_PROFILE`, else `default` (`get` reads a variable).
    /// `Ok(None)` when no profile was named and no file has a `default` one.
    pub fn load(configured: Option<&str>, get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let env = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let named = configured.map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).or_else(|| env("AWS_PROFILE"));
        let name = named.clone().unwrap_or_else(|| "default".to_string());
        let home = env("HOME");
        let credentials_file = file_path(env("AWS_SHARED_CREDENTIALS_FILE"), ".aws/credentials", home.as_deref());
        let config_file = file_path(env("AWS_CONFIG_FILE"), ".aws/config", home.as_deref());
        let credentials = parse(&read(credentials_file.as_deref())?);
        let config = parse(&read(config_file.as_deref())?);

        // Later sections override earlier ones: `[default]`, then `[profile default]` in the
        // config file, then the credentials file, as in the AWS SDKs.
        let bare_default = config.iter().filter(|(header, _)| name == "default" && header == "default");
        let prefixed = config.iter().filter(|(header, _)| config_profile_name(header) == Some(name.as_str()));
        let plain = credentials.iter().filter(|(header, _)| *header == name);
        let mut props = Properties::new();
        let mut found = false;
        for (_, section) in bare_default.chain(prefixed).chain(plain) {
            found = true;
            props.extend(section.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if !found {
            return match named {
                None => Ok(None),
                Some(_) => {
                    Err(format!("AWS profile `{name}` was not found in {}", describe(credentials_file.as_deref(), config_file.as_deref())))
                }
            };
        }

        let unsupported: Vec<&str> =
            props.keys().map(String::as_str).filter(|k| k.starts_with("sso_") || UNSUPPORTED.contains(k)).collect();
        if !unsupported.is_empty() {
            return Err(format!(
                "AWS profile `{name}` uses `{}`, which is not supported: only aws_access_key_id, aws_secret_access_key and \
                 aws_session_token are read from profiles; export keys instead (e.g. `aws configure export-credentials --profile {name} --format env`)",
                unsupported.join("`, `")
            ));
        }
        let secret = |key: &str| props.get(key).filter(|v| !v.is_empty()).map(|v| Secret::new(v.as_str()));
        let (access_key_id, secret_access_key) = match (secret("aws_access_key_id"), secret("aws_secret_access_key")) {
            (Some(id), Some(secret)) => (id, secret),
            (Some(_), None) => return Err(format!("AWS profile `{name}` has aws_access_key_id but no aws_secret_access_key")),
            (None, Some(_)) => return Err(format!("AWS profile `{name}` has aws_secret_access_key but no aws_access_key_id")),
            (None, None) => return Err(format!("AWS profile `{name}` has no aws_access_key_id and aws_secret_access_key")),
        };
        Ok(Some(Self {
            session_token: secret("aws_session_token"),
            region: props.get("region").filter(|r| !r.is_empty()).cloned(),
            access_key_id,
            secret_access_key,
        }))
    }
}

/// `set` (with a leading `~` meaning `home`), else `home/default`; `None` when `~` has no home.
fn file_path(set: Option<String>, default: &str, home: Option<&str>) -> Option<PathBuf> {
    match set {
        Some(path) if path == "~" => home.map(PathBuf::from),
        Some(path) => match path.strip_prefix("~/") {
            Some(rest) => home.map(|h| Path::new(h).join(rest)),
            None => Some(PathBuf::from(path)),
        },
        None => home.map(|h| Path::new(h).join(default)),
    }
}

/// The file's text; a missing file is an empty one, as in the AWS SDKs.
fn read(path: Option<&Path>) -> Result<String, String> {
    let Some(path) = path else { return Ok(String::new()) };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("AWS profile file `{}` could not be read: {e}", path.display())),
    }
}

fn describe(credentials: Option<&Path>, config: Option<&Path>) -> String {
    match (credentials, config) {
        (None, None) => "any file (HOME, AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE are unset)".to_string(),
        (Some(p), None) | (None, Some(p)) => format!("`{}`", p.display()),
        (Some(a), Some(b)) => format!("`{}` or `{}`", a.display(), b.display()),
    }
}

/// `profile name` → `name`; the config file's other sections (`default`, `sso-session x`, …) → `None`.
fn config_profile_name(header: &str) -> Option<&str> {
    header.strip_prefix("profile").filter(|rest| rest.starts_with(char::is_whitespace)).map(str::trim)
}

/// A lenient INI reader: `[section]` headers, `key = value` lines with lower-cased keys, `#` and
/// `;` comments (inline only after whitespace, since values such as tokens may hold those
/// characters), and indented lines after a property skipped as its continuation or sub-properties
/// (`s3 =` / `  max_concurrent_requests = 10`). Sections are returned in file order, repeated ones
/// included.
fn parse(text: &str) -> Vec<(String, Properties)> {
    let mut sections: Vec<(String, Properties)> = Vec::new();
    let mut after_property = false;
    for raw in text.trim_start_matches('\u{feff}').lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if after_property && raw.starts_with(char::is_whitespace) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let header = rest.split(']').next().unwrap_or_default();
            sections.push((header.trim().to_string(), Properties::new()));
            after_property = false;
            continue;
        }
        // Properties before the first section, and lines that are not `key = value`, are ignored.
        let (Some((_, props)), Some((key, value))) = (sections.last_mut(), line.split_once('=')) else { continue };
        props.insert(key.trim().to_ascii_lowercase(), strip_inline_comment(value).trim().to_string());
        after_property = true;
    }
    sections
}

fn strip_inline_comment(value: &str) -> &str {
    let cut = value.char_indices().find(|&(i, c)| (c == '#' || c == ';') && value[..i].ends_with(char::is_whitespace));
    cut.map_or(value, |(i, _)| &value[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn ini_reader_is_lenient() {
        let text = "\u{feff}# top comment\r\nstray = ignored\r\n[default]\r\n  AWS_Access_Key_ID=AKID ; inline\r\n\
                    aws_secret_access_key = se#cr;et=\n; comment\n\n[ profile  work ]  # trailing\nregion=eu-west-1\n\
                    s3 =\n  max_concurrent_requests = 10\n  region = nested\nbroken line\n[default]\nregion = us-west-2\n";
        assert_eq!(
            parse(text),
            vec![
                ("default".to_string(), props(&[("aws_access_key_id", "AKID"), ("aws_secret_access_key", "se#cr;et=")])),
                ("profile  work".to_string(), props(&[("region", "eu-west-1"), ("s3", "")])),
                ("default".to_string(), props(&[("region", "us-west-2")])),
            ]
        );
        assert_eq!(config_profile_name("profile  work"), Some("work"));
        assert_eq!(config_profile_name("profile\twork"), Some("work"));
        assert_eq!(config_profile_name("profilework"), None);
        assert_eq!(config_profile_name("sso-session corp"), None);
    }

    #[test]
    fn file_paths_expand_home() {
        let home = Some("/home/u");
        assert_eq!(file_path(None, ".aws/config", home), Some(PathBuf::from("/home/u/.aws/config")));
        assert_eq!(file_path(Some("~/creds".into()), ".aws/credentials", home), Some(PathBuf::from("/home/u/creds")));
        assert_eq!(file_path(Some("/etc/aws".into()), ".aws/credentials", None), Some(PathBuf::from("/etc/aws")));
        assert_eq!(file_path(Some("~/creds".into()), ".aws/credentials", None), None);
        assert_eq!(file_path(None, ".aws/config", None), None);
    }

    #[test]
    fn debug_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, "[p]\naws_access_key_id = AKIDP\naws_secret_access_key = p-secret\naws_session_token = p-token\n").unwrap();
        let env = |k: &str| (k == "AWS_SHARED_CREDENTIALS_FILE").then(|| path.to_str().unwrap().to_string());
        let profile = Profile::load(Some("p"), &env).unwrap().expect("profile p");
        assert_eq!(profile.session_token.as_ref().map(Secret::expose), Some("p-token"));
        let debug = format!("{profile:?}");
        assert!(debug.contains("Secret([redacted])") && !debug.contains("p-secret") && !debug.contains("p-token"), "{debug}");
    }
}
