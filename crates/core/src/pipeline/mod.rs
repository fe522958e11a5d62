//! The request path: one pipeline for every endpoint. An endpoint supplies only a codec — the
//! `Decode` function that turns its wire request into the canonical `Request`, and (in the server)
//! the encoder of the canonical `Answer` — and the pipeline runs the same steps for all of them,
//! each once, each a named function with typed input and output:
//!
//! 1. `authenticate` — the presented key → `Caller`;
//! 2. `parse` — canonical request, gateway fields removed, the prompt-template hook;
//! 3. `plan` — the ordered targets (pure; before admission, whose reservation covers the dearest
//!    planned target, and before the cache lookup, whose wait is bounded by the plan's deadline);
//! 4. `look_up` — the response cache (hits skip admission unless `cache.count_hits`);
//! 5. `admit` — the caller's models, limits and budgets (the worst case reserved);
//! 6. `run_attempts` — the one retry/fallback loop, breakers, backoff and the retry budget;
//! 7. `record` — the `Recorder` carried through logs exactly once on every path: `ok` here for a
//!    complete answer, by the `AnswerStream` for a stream, by `Rejection::record` for a refusal, and
//!    by its drop guard for a request dropped half-way.

mod authenticate;
mod delivered;
mod embedder;
mod error;
mod stream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use authenticate::{authenticate, Keys, Misses};
pub use embedder::RouterEmbedder;
pub use error::{BodyError, PipelineError};
pub use stream::{AnswerStream, StreamEvent};

use crate::admit::{admit, customer, AdmitError, Admitted, Gate};
use crate::attempt::{run_attempts, AttemptLog, Failed, Outcome, Served};
use crate::billing::Pricing;
use crate::cache::entry::Entry;
use crate::cache::{Status, STATUS_HEADER};
use crate::govern::{Caller, Governor};
use crate::lookup::{Cache, Fill, Lookup};
use crate::record::Recorder;
use crate::request::{parse_native, Decode, InboundBody, Parsed, RequestHeaders};
use crate::retry::{RetryBudget, RetryPolicy};
use crate::route::{Health, PlannedAttempt, Router};
use crate::telemetry::Step;
use delivered::Delivered;
use stream::{StreamParts, StreamTap};

/// Headers the gateway adds to an answer (`x-switchyard-*`, `x-ratelimit-*`, budget warnings).
pub type Headers = Vec<(&'static str, String)>;

/// Everything the steps consult: the running configuration's parts and the shared state.
pub struct Pipeline<'a> {
    pub router: &'a Router,
    pub health: &'a Health,
    pub retry_policy: &'a RetryPolicy,
    pub retry_budget: &'a RetryBudget,
    pub pricing: &'a Pricing,
    pub governor: &'a Arc<Governor>,
    pub cache: &'a Cache,
    pub keys: Keys<'a>,
    /// Cancelled when the shutdown grace period is over: streams still running end with an error.
    pub force_stop: &'a CancellationToken,
}

/// A request as the transport hands it over.
pub struct Inbound<B> {
    /// The body, read under the transport's limits: a future of `Bytes` or of an `InboundBody`.
    pub body: B,
    pub decode: Decode,
    /// The presented virtual key, if any.
    pub key: Option<String>,
    pub headers: RequestHeaders,
    /// Told, once the plan is known, that the answer will stream and how it may be held: the
    /// transport then commits the response itself if the first token is slow (see `Hold`).
    pub on_stream: Option<tokio::sync::oneshot::Sender<Hold>>,
}

/// How long a stream still waiting for its first token may be held back without a byte, and how
/// often a committed stream is kept alive: the planned first target's `hold` and `keep_alive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub hold: Duration,
    pub keep_alive: Duration,
}

/// A successful answer, canonical: the codec writes it in its wire shape.
pub struct Answer {
    pub body: AnswerBody,
    pub headers: Headers,
}

pub enum AnswerBody {
    /// The whole answer (an OpenAI `chat.completion`, or an embeddings list), already recorded.
    Complete(Bytes),
    /// Served from the cache, already recorded; replayed as a stream when the client streams.
    Cached { entry: Arc<Entry>, stream: bool, include_usage: bool },
    /// A stream, which records itself as it ends.
    Stream(Box<AnswerStream>),
}

/// A request refused or failed before any answer started. The codec maps the error to its wire
/// shape and status, then records the request with that status (exactly once: `record` consumes
/// the recorder).
pub struct Rejection {
    pub error: PipelineError,
    pub headers: Headers,
    recorder: Recorder,
}

impl Rejection {
    /// Maps the error into the codec's own error, and records the request with the status, the
    /// error class and the message that error gives the client.
    pub fn record<E>(self, map: impl FnOnce(PipelineError) -> E, describe: impl FnOnce(&E) -> (u16, &'static str, String)) -> (E, Headers) {
        let error = map(self.error);
        let (status, error_type, message) = describe(&error);
        self.recorder.failed(status, error_type, &message);
        (error, self.headers)
    }
}

/// A step's failure, with the headers gathered so far (the served target, rate-limit state).
struct Failure {
    error: PipelineError,
    headers: Headers,
}

impl<E: Into<PipelineError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure { error: e.into(), headers: Headers::new() }
    }
}

impl Pipeline<'_> {
    /// Runs a request through every step; whatever happens, `recorder` logs it once.
    pub async fn run<B, O>(&self, inbound: Inbound<B>, mut recorder: Recorder) -> Result<Answer, Rejection>
    where
        B: Future<Output = Result<O, BodyError>>,
        O: Into<InboundBody>,
    {
        match self.steps(inbound, &mut recorder).await {
            Ok(Reply::Recorded(answer)) => {
                recorder.ok(200);
                Ok(answer)
            }
            Ok(Reply::Stream(parts, headers)) => {
                recorder.response_started(200);
                Ok(Answer { body: AnswerBody::Stream(Box::new(AnswerStream::new(*parts, recorder))), headers })
            }
            Err(Failure { error, headers }) => Err(Rejection { error, headers, recorder }),
        }
    }

    /// Step `authenticate` alone, exactly as `run` does it: for an API that needs the caller's
    /// tenant before its request exists (the Responses API loads a stored conversation). The
    /// key cache makes the second check inside `run` cheap.
    pub async fn caller(&self, key: Option<&str>) -> Result<Caller, crate::govern::AuthError> {
        authenticate(&self.keys, key).await
    }

    /// The input tokens a request would cost at its first planned target, estimated as
    /// admission estimates them (`POST /v1/messages/count_tokens`): authenticated, parsed and
    /// routed like a request, but nothing is sent, reserved or logged.
    pub async fn count_tokens<B, O>(&self, inbound: Inbound<B>) -> Result<u64, PipelineError>
    where
        B: Future<Output = Result<O, BodyError>>,
        O: Into<InboundBody>,
    {
        let body: InboundBody = inbound.body.await?.into();
        let caller = authenticate(&self.keys, inbound.key.as_deref()).await?;
        let parsed = parse_native(&body.bytes, body.native, inbound.decode, inbound.headers)?;
        if !caller.may_use(parsed.request.model()) {
            return Err(AdmitError::ModelNotAllowed { model: parsed.request.model().to_string() }.into());
        }
        let plan = self.router.plan(parsed.request.model(), &parsed.fields.fallback_models, self.health)?;
        let (Some(first), Some(chat)) = (plan.first(), parsed.request.chat()) else { return Ok(0) };
        Ok(crate::tokens::estimate_input_tokens(chat, first.target.provider.tokenizer(), &first.target.model))
    }

    async fn steps<B, O>(&self, inbound: Inbound<B>, rec: &mut Recorder) -> Result<Reply, Failure>
    where
        B: Future<Output = Result<O, BodyError>>,
        O: Into<InboundBody>,
    {
        let started = Instant::now();
        let body: InboundBody = inbound.body.await?.into();
        let caller = authenticate(&self.keys, inbound.key.as_deref()).await?;
        rec.caller(&caller);
        let mut parsed = parse_native(&body.bytes, body.native, inbound.decode, inbound.headers)?;
        rec.requested(parsed.request.model(), parsed.request.stream());
        rec.fields(&parsed.fields, parsed.feature.as_deref(), &body.bytes);
        rec.trace_request(&body.bytes);
        rec.customer(customer(&caller, &parsed));
        let mut plan = self.router.plan(parsed.request.model(), &parsed.fields.fallback_models, self.health)?;
        rec.routed(plan.first().and_then(|p| p.target.alias.clone()));
        if let (Some(tell), Some(first), true) = (inbound.on_stream, plan.first(), parsed.request.stream()) {
            // The transport may have gone already; then nobody is waiting to be told.
            let _ = tell.send(Hold { hold: first.timeouts.hold, keep_alive: first.timeouts.keep_alive });
        }
        // A cached answer is still an answer of that model: only for callers allowed to use it.
        if !caller.may_use(parsed.request.model()) {
            return Err(AdmitError::ModelNotAllowed { model: parsed.request.model().to_string() }.into());
        }
        // Hits are free unless the config counts them: then admission comes first.
        let mut admitted = None;
        if self.cache.count_hits {
            admitted = Some(self.admit(&caller, &mut parsed, &mut plan, started, rec).await?);
        }
        let step = rec.step_started();
        let lookup = self.look_up(&parsed, &caller, &plan).await;
        rec.step_ended(Step::CacheLookup, step, false);
        let status = lookup.status();
        rec.cache_status(status);
        let mut headers = vec![(STATUS_HEADER, status.as_str().to_string())];
        let fill = match lookup {
            Lookup::Hit(entry) => return Ok(self.hit(rec, status, entry, &parsed, headers, admitted)),
            Lookup::SemanticHit(entry, similarity) => {
                headers.push(("x-switchyard-cache-similarity", format!("{similarity:.4}")));
                return Ok(self.hit(rec, status, entry, &parsed, headers, admitted));
            }
            Lookup::Miss(fill) => Some(fill),
            Lookup::Bypass => None,
        };
        let admitted = match admitted {
            Some(a) => a,
            None => self.admit(&caller, &mut parsed, &mut plan, started, rec).await?,
        };
        rec.bill(admitted.bill);
        headers.extend(admitted.headers);
        let served = self.attempt(&plan, &parsed, started, rec).await.map_err(|mut failure| {
            failure.headers.extend(std::mem::take(&mut headers));
            failure
        })?;
        self.respond(served, &plan, &parsed, fill, headers, rec).await
    }

    async fn admit(
        &self,
        caller: &Caller,
        parsed: &mut Parsed,
        plan: &mut Vec<PlannedAttempt>,
        started: Instant,
        rec: &mut Recorder,
    ) -> Result<Admitted, AdmitError> {
        let gate = Gate { governor: self.governor, pricing: self.pricing, router: self.router, health: self.health };
        let step = rec.step_started();
        let admitted = admit(&gate, caller, parsed, plan, crate::time::now_ms(), started).await;
        rec.step_ended(Step::Admission, step, admitted.is_err());
        admitted
    }

    /// Step `look_up`: the response cache, scoped by tenant (and customer when asked).
    async fn look_up(&self, parsed: &Parsed, caller: &Caller, plan: &[PlannedAttempt]) -> Lookup {
        let stream = parsed.request.stream();
        let wait_limit = plan.first().map_or(Duration::from_secs(120), |p| p.timeouts.attempt(stream));
        let embedder = RouterEmbedder { router: self.router, health: self.health };
        let customer = customer(caller, parsed);
        self.cache.lookup(parsed, &caller.tenant, customer, parsed.cache_control.as_deref(), wait_limit, &embedder).await
    }

    /// A cache hit: logged with cost 0 and what it saved; no upstream call, no limits or budgets
    /// (unless the config counts hits, in which case it was admitted already).
    fn hit(
        &self,
        rec: &mut Recorder,
        status: Status,
        entry: Arc<Entry>,
        parsed: &Parsed,
        mut headers: Headers,
        admitted: Option<Admitted>,
    ) -> Reply {
        rec.cache_hit(status, &entry.provider, &entry.model, entry.cost_usd);
        headers.extend(admitted.map(|a| a.headers).unwrap_or_default());
        let (stream, include_usage) = (parsed.request.stream(), parsed.request.client_wants_usage());
        if stream {
            rec.response_started(200);
        }
        Reply::Recorded(Answer { body: AnswerBody::Cached { entry, stream, include_usage }, headers })
    }

    /// Step `attempt`: the one retry and fallback loop, whatever the endpoint.
    async fn attempt(&self, plan: &[PlannedAttempt], parsed: &Parsed, started: Instant, rec: &mut Recorder) -> Result<Served, Failure> {
        let run = || run_attempts(plan, &parsed.request, self.retry_policy, self.retry_budget, self.health, &self.router.latency, started);
        // Matched here rather than wrapped (see `telemetry::outbound`): untraced, the attempts'
        // future is awaited where it is built.
        let result = match rec.trace_current() {
            Some(current) => crate::telemetry::CURRENT.scope(current, run()).await,
            None => run().await,
        };
        match result {
            Ok(served) => Ok(served),
            Err(Failed { error, attempts }) => {
                let headers =
                    attempts.last().map(|a| served_headers(&a.provider, &a.model, upstream_attempts(&attempts))).unwrap_or_default();
                rec.attempts(attempts);
                Err(Failure { error: PipelineError::Provider(error), headers })
            }
        }
    }

    /// Records what was served, bills it by the target that served it, and fills the cache.
    async fn respond(
        &self,
        served: Served,
        plan: &[PlannedAttempt],
        parsed: &Parsed,
        fill: Option<Fill>,
        mut headers: Headers,
        rec: &mut Recorder,
    ) -> Result<Reply, Failure> {
        let Served { outcome, target, attempts } = served;
        rec.priced(self.pricing.price(&target));
        headers.extend(served_headers(&target.provider_name, &target.model, upstream_attempts(&attempts)));
        rec.attempts(attempts);
        rec.first_token();
        match outcome {
            Outcome::Complete { body, usage } => {
                if let Some(u) = usage {
                    rec.usage(u);
                }
                rec.response_body(&body);
                rec.trace_response(&body);
                let cost = rec.cost_usd();
                if let (Some(fill), Some(entry)) =
                    (fill, Entry::from_completion(&body, &target.provider_name, &target.model, cost.unwrap_or(0.0)))
                {
                    fill.complete(entry).await;
                }
                if let Some(cost) = cost {
                    headers.push(("x-switchyard-cost-usd", format!("{cost:.8}")));
                }
                Ok(Reply::Recorded(Answer { body: AnswerBody::Complete(body), headers }))
            }
            Outcome::Stream { prefix, rest, deadline } => {
                let timeouts = plan.iter().find(|p| p.target.key() == target.key()).map(|p| p.timeouts).unwrap_or_default();
                let (idle, keep_alive) = (timeouts.idle, timeouts.keep_alive);
                let tap = fill.map(|f| StreamTap::new(f, &target.provider_name, &target.model));
                let show_usage = parsed.request.client_wants_usage();
                let delivered = Delivered::new(target.provider.tokenizer(), &target.model);
                let force_stop = self.force_stop.clone();
                let parts = StreamParts { prefix, rest, idle, deadline, show_usage, force_stop, tap, delivered, keep_alive };
                Ok(Reply::Stream(Box::new(parts), headers))
            }
        }
    }
}

/// What the steps produced: an answer already recorded, or a stream that will record itself.
enum Reply {
    Recorded(Answer),
    Stream(Box<StreamParts>, Headers),
}

/// Attempts that reached an upstream (targets skipped for an open circuit are logged, not sent).
fn upstream_attempts(attempts: &[AttemptLog]) -> usize {
    attempts.iter().filter(|a| a.reached_upstream()).count()
}

fn served_headers(provider: &str, model: &str, attempts: usize) -> Headers {
    vec![
        ("x-switchyard-provider", provider.to_string()),
        ("x-switchyard-model", model.to_string()),
        ("x-switchyard-attempts", attempts.to_string()),
    ]
}
