//! The one usage → USD function, and the bounds that keep a request under a cost ceiling.

use switchyard_protocol::Usage;

use super::Price;

const PER_MILLION: f64 = 1_000_000.0;

/// What `usage` cost at `price`, in USD. Canonical usage counts cache reads and writes inside
/// `input_tokens` and reasoning inside `output_tokens`; each share is billed at its own rate
/// (falling back to the input or output rate where the model has none). Inconsistent counts
/// (more cached than input) are clamped, never wrapped.
pub fn cost_usd(price: &Price, usage: &Usage) -> f64 {
    let cached = usage.cached_input_tokens.min(usage.input_tokens);
    let written = usage.cache_write_tokens.min(usage.input_tokens - cached);
    let fresh = usage.input_tokens - cached - written;
    let reasoning = usage.reasoning_tokens.min(usage.output_tokens);
    let visible = usage.output_tokens - reasoning;
    let micro = fresh as f64 * price.input
        + cached as f64 * price.cached_input_rate()
        + written as f64 * price.cache_write_rate()
        + visible as f64 * price.output
        + reasoning as f64 * price.reasoning_rate();
    micro / PER_MILLION
}

/// The most a request can cost: every input token at the dearest input rate (a cache write can
/// cost more than a plain read) and `max_output_tokens` at the dearest output rate.
pub fn worst_case_usd(price: &Price, input_tokens: u64, max_output_tokens: u64) -> f64 {
    (input_tokens as f64 * worst_input_rate(price) + max_output_tokens as f64 * worst_output_rate(price)) / PER_MILLION
}

/// The largest `max_tokens` that keeps [`worst_case_usd`] within `budget_usd`. `None` when not
/// even the input and one output token fit (or the budget is not a number): the request cannot be
/// sent under that ceiling. Free output gives `u64::MAX`.
pub fn max_output_within(price: &Price, input_tokens: u64, budget_usd: f64) -> Option<u64> {
    let left = budget_usd - worst_case_usd(price, input_tokens, 0);
    if left.is_nan() || left < 0.0 {
        return None;
    }
    let rate = worst_output_rate(price);
    if rate <= 0.0 {
        return Some(u64::MAX);
    }
    // `as` saturates at u64::MAX. Float rounding can put the estimate a token or two off either
    // way; the checks below settle it against `worst_case_usd` itself.
    let fits = |tokens: u64| worst_case_usd(price, input_tokens, tokens) <= budget_usd;
    let mut tokens = (left * PER_MILLION / rate).floor() as u64;
    for _ in 0..4 {
        if tokens == 0 || fits(tokens) {
            break;
        }
        tokens -= 1;
    }
    for _ in 0..4 {
        if tokens == u64::MAX || !fits(tokens + 1) {
            break;
        }
        tokens += 1;
    }
    (tokens > 0 && fits(tokens)).then_some(tokens)
}

fn worst_input_rate(price: &Price) -> f64 {
    price.input.max(price.cache_write_rate())
}

fn worst_output_rate(price: &Price) -> f64 {
    price.output.max(price.reasoning_rate())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SONNET: Price = Price { input: 3.0, output: 15.0, cached_input: Some(0.3), cache_write: Some(3.75), reasoning: None };

    #[test]
    fn each_share_is_billed_at_its_rate() {
        let price = Price { reasoning: Some(20.0), ..SONNET };
        let usage =
            Usage { input_tokens: 1_000, cached_input_tokens: 600, cache_write_tokens: 300, output_tokens: 500, reasoning_tokens: 200 };
        // 100 fresh × 3 + 600 × 0.3 + 300 × 3.75 + 300 visible × 15 + 200 × 20, per million.
        let expected = (100.0 * 3.0 + 600.0 * 0.3 + 300.0 * 3.75 + 300.0 * 15.0 + 200.0 * 20.0) / 1e6;
        assert!((cost_usd(&price, &usage) - expected).abs() < 1e-15, "{}", cost_usd(&price, &usage));
    }

    #[test]
    fn missing_rates_fall_back_and_bad_counts_clamp() {
        let flat = Price { input: 1.0, output: 2.0, cached_input: None, cache_write: None, reasoning: None };
        let usage = Usage { input_tokens: 10, cached_input_tokens: 4, cache_write_tokens: 3, output_tokens: 5, reasoning_tokens: 5 };
        assert_eq!(cost_usd(&flat, &usage), (10.0 * 1.0 + 5.0 * 2.0) / 1e6);
        let nonsense = Usage { input_tokens: 10, cached_input_tokens: 50, cache_write_tokens: 50, output_tokens: 1, reasoning_tokens: 9 };
        assert_eq!(cost_usd(&SONNET, &nonsense), (10.0 * 0.3 + 1.0 * 15.0) / 1e6);
    }

    #[test]
    fn worst_case_takes_the_dearest_rates() {
        assert_eq!(worst_case_usd(&SONNET, 1_000_000, 1_000_000), 3.75 + 15.0);
        let thinker = Price { reasoning: Some(60.0), ..SONNET };
        assert_eq!(worst_case_usd(&thinker, 0, 1_000_000), 60.0);
    }

    #[test]
    fn budget_bounds_max_tokens() {
        // Input 1M tokens at 3.75 = $3.75; $0.15 more buys 10 000 output tokens at $15/M.
        assert_eq!(max_output_within(&SONNET, 1_000_000, 3.90), Some(10_000));
        assert_eq!(max_output_within(&SONNET, 1_000_000, 3.70), None);
        assert_eq!(max_output_within(&SONNET, 1_000_000, 3.75), None, "no room for a single output token");
        assert_eq!(max_output_within(&SONNET, 10, f64::NAN), None);
        let free_output = Price { output: 0.0, ..SONNET };
        assert_eq!(max_output_within(&free_output, 10, 1.0), Some(u64::MAX));
    }

    proptest! {
        #[test]
        fn bound_is_within_budget_and_tight(
            input in 0.0f64..100.0, output in 0.01f64..200.0, tokens in 0u64..2_000_000, budget in 0.0f64..50.0,
        ) {
            let price = Price { input, output, cached_input: None, cache_write: None, reasoning: None };
            match max_output_within(&price, tokens, budget) {
                Some(n) => {
                    prop_assert!(worst_case_usd(&price, tokens, n) <= budget);
                    prop_assert!(worst_case_usd(&price, tokens, n + 1) > budget);
                }
                None => prop_assert!(worst_case_usd(&price, tokens, 1) > budget),
            }
        }
    }
}
