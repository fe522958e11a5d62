//! Step `admit`: after parsing and planning, a request is checked against its caller's models,
//! downgraded when a budget says so, held under its `max_cost_usd`, and then admitted by the
//! governor with its worst case reserved. What it reserved travels on as a `Bill`. Chat and
//! embeddings go through the same function; only the token estimate differs.

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::billing::{Bill, Pricing};
use crate::govern::{Ask, Caller, Governor, Refusal};
use crate::pricing::{max_output_within, worst_case_usd};
use crate::request::{Parsed, Request};
use crate::route::{Health, PlannedAttempt, RouteError, Router};
use crate::tokens::{estimate_input_tokens, requested_max_output, rough_input_tokens};
use switchyard_protocol::openai::ChatRequest;

/// Everything admission needs from the gateway.
pub struct Gate<'a> {
    pub governor: &'a Arc<Governor>,
    pub pricing: &'a Pricing,
    pub router: &'a Router,
    pub health: &'a Health,
}

pub struct Admitted {
    pub bill: Bill,
    pub headers: Vec<(&'static str, String)>,
    /// The model the request was moved to by a budget's downgrade rule.
    pub downgraded_to: Option<String>,
}

#[derive(Debug)]
pub enum AdmitError {
    ModelNotAllowed {
        model: String,
    },
    Unpriced {
        model: String,
    },
    /// `max_cost_usd` cannot be met: even the prompt costs more.
    TooExpensive {
        max_cost_usd: f64,
        input_cost_usd: f64,
    },
    Refused(Refusal),
    Route(RouteError),
}

/// The customer a request is accounted to: the one its key is bound to, else the one it names.
pub fn customer<'a>(caller: &'a Caller, parsed: &'a Parsed) -> Option<&'a str> {
    caller.bound_customer().or(parsed.fields.customer_identifier.as_deref())
}

/// Step `admit`, the same for every endpoint: the caller's models, a budget's downgrade (chat
/// only: a cheaper chat model is no substitute for an embeddings model), `max_cost_usd`, then the
/// limits and budgets that apply, with the worst case reserved at the dearest planned target.
/// `started`: when the request started, from which its overall deadline counts (time spent
/// queued for a rate limit is part of it).
pub async fn admit(
    gate: &Gate<'_>,
    caller: &Caller,
    parsed: &mut Parsed,
    plan: &mut Vec<PlannedAttempt>,
    now_ms: i64,
    started: tokio::time::Instant,
) -> Result<Admitted, AdmitError> {
    let requested = parsed.request.model().to_string();
    if !caller.may_use(&requested) {
        return Err(AdmitError::ModelNotAllowed { model: requested });
    }
    let customer = customer(caller, parsed).map(str::to_string);
    let feature = parsed.feature.clone();
    let mut ask = Ask {
        caller,
        customer: customer.as_deref(),
        feature: feature.as_deref(),
        model: &requested,
        worst: Default::default(),
        now_ms,
        deadline: None,
    };

    let scopes = gate.governor.scopes(&ask);
    let downgraded_to = match parsed.request {
        Request::Chat(_) => gate.governor.downgrade(&ask, &scopes),
        Request::Embeddings(_) => None,
    };
    if let Some(to) = &downgraded_to {
        *plan = gate.router.plan(to, &parsed.fields.fallback_models, gate.health).map_err(AdmitError::Route)?;
    }
    let Some(first) = plan.first().map(|p| p.target.clone()) else {
        return Err(AdmitError::Route(RouteError::UnknownModel {
            model: requested.clone(),
            aliases: String::new(),
            providers: String::new(),
        }));
    };
    let priced =
        gate.pricing.price(&first).ok_or_else(|| AdmitError::Unpriced { model: format!("{}/{}", first.provider_name, first.model) })?;

    // Counting with the provider's tokenizer costs microseconds per KB: only when a limit,
    // budget or cost ceiling depends on it.
    let ceiling = parsed.fields.max_cost_usd;
    let precise = ceiling.is_some() || !scopes.is_empty();
    let too_expensive =
        |input| AdmitError::TooExpensive { max_cost_usd: ceiling.unwrap_or(0.0), input_cost_usd: worst_case_usd(&priced.price, input, 0) };
    let (input, max_out, tpm_out) = match &mut parsed.request {
        Request::Chat(chat) => {
            let input =
                if precise { estimate_input_tokens(chat, first.provider.tokenizer(), &first.model) } else { rough_input_tokens(chat) };
            let asked_max = requested_max_output(chat);
            let mut max_out = asked_max.unwrap_or_else(|| gate.pricing.max_output(&first));
            if let Some(ceiling) = ceiling {
                let allowed = max_output_within(&priced.price, input, ceiling).filter(|n| *n > 0).ok_or_else(|| too_expensive(input))?;
                if allowed < max_out {
                    max_out = allowed;
                    clamp_output(chat, allowed);
                }
            }
            (input, max_out, asked_max.map_or(0, |m| m.min(max_out)))
        }
        // Embeddings produce no output tokens: the input is the whole cost.
        Request::Embeddings(embeddings) => {
            let input = crate::tokens::estimate_embedding_tokens(&embeddings.input(), first.provider.tokenizer(), &first.model, precise);
            if ceiling.is_some_and(|c| worst_case_usd(&priced.price, input, 0) > c) {
                return Err(too_expensive(input));
            }
            (input, 0, 0)
        }
    };
    ask.worst.tokens = input + max_out;
    ask.worst.tpm_tokens = input + tpm_out;
    ask.worst.usd = Some(gate.pricing.worst_case_usd(plan, input, max_out));
    ask.deadline = Some(started + crate::route::overall(plan, parsed.request.stream()));
    let admission = gate.governor.admit(&ask, &scopes).await.map_err(AdmitError::Refused)?;
    let mut headers = admission.headers;
    if let Some(to) = &downgraded_to {
        headers.push(("x-switchyard-downgraded", format!("{requested} -> {to} (budget above its downgrade threshold)")));
    }
    Ok(Admitted { bill: Bill { ticket: admission.ticket, priced: Some(priced), input_estimate: input }, headers, downgraded_to })
}

/// Writes the output cap into the request, in the field the client used (default
/// `max_completion_tokens`, which every adapter reads first).
fn clamp_output(chat: &mut ChatRequest, max: u64) {
    let field = if chat.contains("max_tokens") && !chat.contains("max_completion_tokens") { "max_tokens" } else { "max_completion_tokens" };
    let value = RawValue::from_string(max.to_string()).expect("an integer is valid JSON");
    chat.set(field, value);
}
