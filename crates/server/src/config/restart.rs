//! The settings a reload cannot apply: what was bound, opened or connected at startup (listeners,
//! the database, Redis, the key secret, the outage rules built into the governor). A reloaded
//! file that changes them keeps their running value and says which ones need a restart.

use super::{Config, ConfigError};

const NEEDS_RESTART: &str = "needs a restart to change; the running value is kept";

/// Puts `running`'s value back into `next` for every restart-only setting that differs, and
/// names each one. Messages never show the values: some are secrets.
pub fn keep_running(running: &Config, next: &mut Config) -> Vec<ConfigError> {
    let mut kept = Vec::new();
    let mut keep = |path: &str, differs: bool| {
        if differs {
            kept.push(ConfigError::new(path, NEEDS_RESTART));
        }
        differs
    };
    macro_rules! pin {
        ($path:literal, $($field:tt)+) => {
            if keep($path, running.$($field)+ != next.$($field)+) {
                next.$($field)+ = running.$($field)+.clone();
            }
        };
    }
    pin!("listen", listen);
    pin!("data_dir", data_dir);
    pin!("database", database);
    pin!("redis", redis);
    pin!("admin.listen", admin.listen);
    pin!("admin.key", admin.key);
    pin!("keys.secret", governance.key_secret);
    pin!("keys.require", governance.require_keys);
    pin!("governance.on_redis_outage.limits", governance.limits_outage);
    pin!("governance.on_redis_outage.budgets", governance.budgets_outage);
    pin!("governance.redis_timeout", governance.redis_timeout);
    pin!("governance.alerts", governance.alerts);
    pin!("log.queue", log.queue);
    pin!("cache.max_bytes", cache.max_bytes);
    pin!("cache.semantic_index", cache.semantic_index);
    pin!("server.header_timeout", server.header_timeout);
    pin!("server.idle_timeout", server.idle_timeout);
    pin!("server.max_connections", server.max_connections);
    pin!("server.max_in_flight", server.max_in_flight);
    // The exporter and its queue are started once, with the process.
    pin!("telemetry", telemetry);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Overrides, Source};

    fn config(text: &str) -> Config {
        parse(text, Source::Embedded, &Overrides::default(), &|_| None).expect("valid config")
    }

    #[test]
    fn restart_only_settings_keep_their_running_value_and_are_named() {
        let running = config("listen: 127.0.0.1:4000\nadmin: { key: admin-key-0123456789 }\nmax_body_bytes: 1000\n");
        let mut next =
            config("listen: 127.0.0.1:5000\nadmin: { key: another-admin-key-0123 }\nmax_body_bytes: 2000\ncache: { max_bytes: 2097152 }\n");
        let kept = keep_running(&running, &mut next);
        let paths: Vec<&str> = kept.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["listen", "admin.key", "cache.max_bytes"]);
        assert!(kept.iter().all(|e| !e.message.contains("admin-key")), "{kept:?}");
        assert_eq!(next.listen, running.listen);
        assert_eq!(next.admin.key, running.admin.key);
        assert_eq!(next.cache.max_bytes, running.cache.max_bytes);
        // Reloadable settings take the new value.
        assert_eq!(next.max_body_bytes, 2000);
        assert!(keep_running(&running, &mut config("listen: 127.0.0.1:4000\nadmin: { key: admin-key-0123456789 }\n")).is_empty());
    }
}
