//! Where the test script put a service, for the store's suites: its URL, or `None` (with the
//! reason printed) when the script said it is missing. Neither set is a broken test setup, not a
//! reason to pass silently.

pub fn required_url(url_var: &str, skip_var: &str, what: &str, example: &str) -> Option<String> {
    if let Ok(url) = std::env::var(url_var) {
        return Some(url);
    }
    match std::env::var(skip_var) {
        Ok(why) => {
            eprintln!("SKIPPED: {what} — {skip_var}={why}");
            None
        }
        Err(_) => panic!("{url_var} is not set ({example}); set {skip_var}=<reason> to skip {what} on purpose"),
    }
}
