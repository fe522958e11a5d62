//! `switchyard check --config F`: validates and prints every problem; non-zero exit if any.

use std::path::Path;
use std::process::ExitCode;

use super::load_or_report;
use crate::config::Overrides;

pub fn run(path: &Path) -> ExitCode {
    match load_or_report(Some(path), &Overrides::default()) {
        Ok(config) => {
            println!(
                "config ok: {} provider(s), {} model alias(es), listening on {}",
                config.providers.len(),
                config.models.len(),
                config.listen
            );
            ExitCode::SUCCESS
        }
        Err(_) => ExitCode::from(1),
    }
}
