//! The real PostgreSQL and Redis that tests use. `scripts/test.sh` always says where they are
//! (`SWITCHYARD_TEST_POSTGRES_URL`, `SWITCHYARD_TEST_REDIS_URL`) or why they are missing
//! (`SWITCHYARD_SKIP_POSTGRES`, `SWITCHYARD_SKIP_REDIS`, never set under CI); a test that finds
//! neither is run outside the script, and uses this machine's standard ports.

#[derive(Debug, Clone, Copy)]
pub enum Service {
    Postgres,
    Redis,
}

impl Service {
    fn vars(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Service::Postgres => ("SWITCHYARD_TEST_POSTGRES_URL", "SWITCHYARD_SKIP_POSTGRES", "postgres://postgres@127.0.0.1:5432/test"),
            Service::Redis => ("SWITCHYARD_TEST_REDIS_URL", "SWITCHYARD_SKIP_REDIS", "redis://127.0.0.1:6379"),
        }
    }
}

/// The service's URL, or `None` after printing `SKIPPED: <what> — <why>` when the test script
/// said the service is missing.
pub fn service_url(service: Service, what: &str) -> Option<String> {
    let (url_var, skip_var, default) = service.vars();
    if let Ok(url) = std::env::var(url_var) {
        return Some(url);
    }
    match std::env::var(skip_var) {
        Ok(why) => {
            eprintln!("SKIPPED: {what} — {skip_var}={why}");
            None
        }
        Err(_) => Some(default.to_string()),
    }
}
