//! OpenAI-compatible vendors as rows of one table: default base URL, key variable, quirks.
//! A new compatible vendor is a new row, not a new module.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavor {
    pub name: &'static str,
    pub base_url: &'static str,
    /// Environment variable holding the API key; `None` for keyless local servers.
    pub key_env: Option<&'static str>,
    /// Environment variable overriding the base URL (and enabling keyless servers).
    pub base_url_env: Option<&'static str>,
    /// Whether the server accepts `stream_options.include_usage`; those that do not are sent the
    /// request without it (they report usage in the last chunk on their own).
    pub stream_usage_option: bool,
}

const fn row(
    name: &'static str,
    base_url: &'static str,
    key_env: Option<&'static str>,
    base_url_env: Option<&'static str>,
    stream_usage_option: bool,
) -> Flavor {
    Flavor { name, base_url, key_env, base_url_env, stream_usage_option }
}

pub const FLAVORS: &[Flavor] = &[
    row("openai", "https://api.openai.com/v1", Some("OPENAI_API_KEY"), Some("OPENAI_BASE_URL"), true),
    row("groq", "https://api.groq.com/openai/v1", Some("GROQ_API_KEY"), None, true),
    row("together", "https://api.together.xyz/v1", Some("TOGETHER_API_KEY"), None, true),
    row("mistral", "https://api.mistral.ai/v1", Some("MISTRAL_API_KEY"), None, false),
    row("deepseek", "https://api.deepseek.com/v1", Some("DEEPSEEK_API_KEY"), None, true),
    row("xai", "https://api.x.ai/v1", Some("XAI_API_KEY"), None, true),
    row("openrouter", "https://openrouter.ai/api/v1", Some("OPENROUTER_API_KEY"), None, true),
    row("fireworks", "https://api.fireworks.ai/inference/v1", Some("FIREWORKS_API_KEY"), None, true),
    row("ollama", "http://127.0.0.1:11434/v1", None, Some("OLLAMA_HOST"), true),
    row("vllm", "http://127.0.0.1:8000/v1", Some("VLLM_API_KEY"), Some("VLLM_BASE_URL"), true),
];

pub fn find(name: &str) -> Option<&'static Flavor> {
    FLAVORS.iter().find(|f| f.name == name)
}

pub fn names() -> Vec<&'static str> {
    FLAVORS.iter().map(|f| f.name).collect()
}

/// Turns what a base-URL variable holds into a base URL: `OLLAMA_HOST=127.0.0.1:11434` has no
/// scheme and no `/v1`.
pub fn normalise_base_url(flavor: &Flavor, value: &str) -> String {
    let value = value.trim().trim_end_matches('/');
    let with_scheme = if value.contains("://") { value.to_string() } else { format!("http://{value}") };
    if flavor.name == "ollama" && !with_scheme.ends_with("/v1") {
        format!("{with_scheme}/v1")
    } else {
        with_scheme
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_required_vendors_once() {
        for name in ["openai", "groq", "together", "mistral", "deepseek", "xai", "openrouter", "fireworks", "ollama", "vllm"] {
            assert!(find(name).is_some(), "{name}");
        }
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FLAVORS.len());
    }

    #[test]
    fn ollama_host_becomes_a_base_url() {
        let f = find("ollama").unwrap();
        assert_eq!(normalise_base_url(f, "127.0.0.1:11434"), "http://127.0.0.1:11434/v1");
        assert_eq!(normalise_base_url(find("vllm").unwrap(), "http://gpu:8000/v1/"), "http://gpu:8000/v1");
    }
}
