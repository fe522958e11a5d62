//! Anthropic Messages API adapter.
