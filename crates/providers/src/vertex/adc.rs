//! Application default credentials, looked up in the order Google's client libraries use when
//! no `access_token` is configured: the file named by `credentials_file` or
//! `GOOGLE_APPLICATION_CREDENTIALS`, then the file `gcloud auth application-default login`
//! writes, then the metadata server of the runtime.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::auth::{json_problem, Auth, Refreshing, TokenSource, DEFAULT_TOKEN_URI};
use super::authorized_user::{AuthorizedUser, AuthorizedUserFile};
use super::metadata::{MetadataServer, HOST_VARIABLE};
use super::service_account::{ServiceAccount, ServiceAccountFile};
use super::VertexConfig;

/// Replaces Google's token endpoint for credential files that name none (gcloud's user
/// credentials), e.g. for a proxy or a test.
pub const TOKEN_URI_VARIABLE: &str = "GOOGLE_OAUTH_TOKEN_URI";
const WELL_KNOWN_FILE: &str = "application_default_credentials.json";

pub struct Credentials {
    pub auth: Auth,
    /// The project the credentials belong to, when they say (a service account's `project_id`).
    pub project: Option<String>,
    /// Set when tokens come from the metadata server, which can also tell the project.
    pub metadata: Option<MetadataServer>,
    /// The project billed for user credentials' quota (`x-goog-user-project`).
    pub quota_project: Option<String>,
}

impl Credentials {
    fn new(auth: Auth) -> Self {
        Self { auth, project: None, metadata: None, quota_project: None }
    }
}

/// Finds the credentials. Reads files but makes no request: the metadata server is only asked
/// for a token on first use. `env` yields non-empty values only.
pub fn discover(config: &VertexConfig, env: &dyn Fn(&str) -> Option<String>, client: &reqwest::Client) -> Result<Credentials, String> {
    if let Some(token) = config.access_token.clone().filter(|t| !t.expose().is_empty()) {
        return Ok(Credentials::new(Auth::Static(token)));
    }
    let token_uri = env(TOKEN_URI_VARIABLE).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
    let named = config.credentials_file.clone().or_else(|| env("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from));
    // A named file must exist; gcloud's own file is used only when it does.
    if let Some(path) = named.or_else(|| well_known_file(env).filter(|p| p.is_file())) {
        return from_file(&path, &token_uri, client);
    }
    let server = MetadataServer::new(env(HOST_VARIABLE), client.clone())?;
    Ok(Credentials { metadata: Some(server.clone()), ..Credentials::new(Auth::Refreshing(Refreshing::new(TokenSource::Metadata(server)))) })
}

/// Where gcloud keeps application-default credentials: `$CLOUDSDK_CONFIG`, else
/// `~/.config/gcloud` (`%APPDATA%\gcloud` on Windows).
fn well_known_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let dir = match env("CLOUDSDK_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None if cfg!(windows) => PathBuf::from(env("APPDATA")?).join("gcloud"),
        None => PathBuf::from(env("HOME")?).join(".config").join("gcloud"),
    };
    Some(dir.join(WELL_KNOWN_FILE))
}

/// Only the `type` field, to choose how to read the rest.
#[derive(Deserialize)]
struct FileType {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// Reads a credentials file by its `type`; errors name the file, never its content.
fn from_file(path: &Path, token_uri: &str, client: &reqwest::Client) -> Result<Credentials, String> {
    let text = std::fs::read(path).map_err(|e| format!("credentials file `{}` cannot be read: {e}", path.display()))?;
    let kind = serde_json::from_slice::<FileType>(&text)
        .map_err(|e| format!("credentials file `{}` is not a Google credentials file: {}", path.display(), json_problem(&e)))?
        .kind;
    let refreshing = |source| Auth::Refreshing(Refreshing::new(source));
    match kind.as_deref() {
        None | Some("service_account") => {
            let file = ServiceAccountFile::parse(&text, path)?;
            let project = file.project_id.clone();
            let account = ServiceAccount::new(file, token_uri, client.clone())?;
            Ok(Credentials { project, ..Credentials::new(refreshing(TokenSource::ServiceAccount(account))) })
        }
        Some("authorized_user") => {
            let file = AuthorizedUserFile::parse(&text, path)?;
            let quota_project = file.quota_project_id.clone().filter(|p| !p.trim().is_empty());
            let user = AuthorizedUser::new(file, token_uri, client.clone())?;
            Ok(Credentials { quota_project, ..Credentials::new(refreshing(TokenSource::AuthorizedUser(user))) })
        }
        Some(other) => Err(format!(
            "credentials file `{}` holds `{other}` credentials; only `service_account` and `authorized_user` are supported",
            path.display()
        )),
    }
}
