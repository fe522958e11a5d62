//! Step `attempt`: one call to one target under its deadlines. For streams it waits for the first
//! chunk before answering, so a failure before any content is still an ordinary HTTP error.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use switchyard_protocol::Usage;
use switchyard_providers::{ChatResponse, Chunk, ChunkStream, ErrorKind, ProviderError};
use tokio::time::Instant;

use crate::request::Request;
use crate::route::{Target, Timeouts};

pub enum Outcome {
    Complete {
        body: Bytes,
        usage: Option<Usage>,
    },
    /// `prefix` holds the chunks up to and including the first one with content (all of them
    /// when the upstream finished without any); `rest` continues after it.
    Stream {
        prefix: Vec<Chunk>,
        rest: ChunkStream,
        deadline: Instant,
    },
}

/// A stream is held back until its first content chunk, but never for more than this many
/// chunks (an upstream that streams only role or filter chunks is answered anyway).
const MAX_HELD_CHUNKS: usize = 16;

pub async fn attempt(target: &Target, request: &Request, timeouts: &Timeouts, started: Instant) -> Result<Outcome, ProviderError> {
    let deadline = started + timeouts.attempt(request.stream());
    let timed_out = || ProviderError::new(ErrorKind::Timeout, format!("provider `{}` did not answer in time", target.provider_name));
    let request = match request {
        Request::Chat(chat) => chat,
        Request::Embeddings(embeddings) => {
            let body = embeddings.to_upstream(&target.model);
            let answer =
                tokio::time::timeout_at(deadline, target.provider.embeddings(&body, &target.model)).await.map_err(|_| timed_out())??;
            return Ok(Outcome::Complete { body: answer.body, usage: Some(answer.usage) });
        }
    };
    let first_deadline = deadline.min(started + timeouts.first_token);
    if !request.stream() {
        let response = tokio::time::timeout_at(deadline, target.provider.chat(request, &target.model)).await.map_err(|_| timed_out())??;
        return match response {
            ChatResponse::Complete { body, usage } => Ok(Outcome::Complete { body, usage }),
            ChatResponse::Stream(_) => {
                Err(ProviderError::new(ErrorKind::Malformed, "provider streamed an answer to a non-streamed request"))
            }
        };
    }
    // Nothing reaches the client before the first content chunk: a failure or a stall until
    // then is still an ordinary error, which the caller may retry or fall back from.
    let first = async {
        match target.provider.chat(request, &target.model).await? {
            ChatResponse::Stream(mut rest) => {
                let mut prefix = Vec::new();
                while let Some(chunk) = rest.next().await.transpose()? {
                    let content = chunk.content;
                    prefix.push(chunk);
                    if content || prefix.len() >= MAX_HELD_CHUNKS {
                        break;
                    }
                }
                Ok((prefix, rest))
            }
            ChatResponse::Complete { .. } => {
                Err(ProviderError::new(ErrorKind::Malformed, "provider answered a stream request without streaming"))
            }
        }
    };
    let (prefix, rest) = tokio::time::timeout_at(first_deadline, first).await.map_err(|_| timed_out())??;
    Ok(Outcome::Stream { prefix, rest, deadline })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use switchyard_providers::registry::{build, ProviderConfig};

    fn target(yaml_json: serde_json::Value) -> Target {
        let config: ProviderConfig = serde_json::from_value(yaml_json).unwrap();
        Target { provider_name: Arc::from("mock"), provider: build("mock", &config).unwrap(), model: "echo".into(), alias: None }
    }

    fn request(stream: bool) -> Request {
        crate::request::decode_chat(
            serde_json::json!({"model":"mock/echo","stream":stream,"messages":[{"role":"user","content":"a b"}]}).to_string().as_bytes(),
        )
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn slow_first_token_times_out_at_its_deadline() {
        let t = target(serde_json::json!({"type":"mock","first_token":"5s"}));
        let timeouts = Timeouts {
            first_token: Duration::from_secs(2),
            total: Duration::from_secs(60),
            overall: None,
            idle: None,
            ..Timeouts::default()
        };
        let start = Instant::now();
        let err = attempt(&t, &request(true), &timeouts, start).await.err().unwrap();
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn non_stream_is_bounded_by_the_total_deadline() {
        let t = target(serde_json::json!({"type":"mock","latency":"30s"}));
        let timeouts = Timeouts { first_token: Duration::from_secs(1), non_stream: Duration::from_secs(10), ..Timeouts::default() };
        let start = Instant::now();
        assert_eq!(attempt(&t, &request(false), &timeouts, start).await.err().unwrap().kind, ErrorKind::Timeout);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        let fast = target(serde_json::json!({"type":"mock","latency":"9s"}));
        assert!(matches!(attempt(&fast, &request(false), &timeouts, Instant::now()).await, Ok(Outcome::Complete { usage: Some(_), .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn stream_returns_the_first_chunk() {
        let t = target(serde_json::json!({"type":"mock"}));
        let Ok(Outcome::Stream { prefix, .. }) = attempt(&t, &request(true), &Timeouts::default(), Instant::now()).await else {
            panic!("expected a stream")
        };
        // The role chunk is held together with the first content chunk.
        assert_eq!(prefix.len(), 2);
        assert!(std::str::from_utf8(&prefix[0].data).unwrap().contains("\"role\":\"assistant\""));
        assert!(prefix[1].content);
    }
}

/// One upstream attempt as the log keeps it.
pub use crate::store::AttemptDetail as AttemptLog;
use crate::store::AttemptError;
use crate::telemetry::{traced, AttemptSpan};

pub struct Served {
    pub outcome: Outcome,
    pub target: Target,
    pub attempts: Vec<AttemptLog>,
}

pub struct Failed {
    pub error: ProviderError,
    pub attempts: Vec<AttemptLog>,
}

/// Step `run_attempts`: walks the plan, retrying and falling back as `retry::decide` says, within
/// the retry budget and the first target's overall deadline. The only retry loop in the gateway.
use crate::breaker::Admission;

/// How a hedged pair of attempts ended.
enum Hedge {
    /// `winner` is 0 for the first target, 1 for the hedge.
    Served { outcome: Outcome, winner: usize, logs: Vec<AttemptLog> },
    /// Both failed (or the first failed before the hedge started: `hedged` false).
    Failed { error: ProviderError, logs: Vec<AttemptLog>, hedged: bool },
}

fn attempt_log(step: &crate::route::PlannedAttempt, error: Option<AttemptError>, since: Instant, span: Option<AttemptSpan>) -> AttemptLog {
    AttemptLog {
        provider: step.target.provider_name.to_string(),
        model: step.target.model.clone(),
        error,
        ms: since.elapsed().as_secs_f64() * 1000.0,
        span,
    }
}

/// An attempt's span once it ended: the upstream's HTTP status of a failure, 200 for success.
fn ended(span: Option<AttemptSpan>, result: Result<(), &ProviderError>) -> Option<AttemptSpan> {
    span.map(|s| AttemptSpan { status: result.map_or_else(|e| e.status, |()| Some(200)), ..s })
}

/// Runs `first`, and after `after` without an answer also `second`; the first success wins and
/// the other leg is dropped, which cancels its upstream request. Both legs are logged.
async fn hedge(
    first: &crate::route::PlannedAttempt,
    second: &crate::route::PlannedAttempt,
    after: Duration,
    request: &Request,
    overall: Instant,
) -> Hedge {
    let start_a = Instant::now();
    let timeouts_a = first.timeouts.within(overall - start_a);
    let span_a = AttemptSpan::begin(first.target.provider.kind());
    let a = traced(span_a.as_ref(), attempt(&first.target, request, &timeouts_a, start_a));
    tokio::pin!(a);
    tokio::select! {
        r = &mut a => {
            return match r {
                Ok(outcome) => Hedge::Served { outcome, winner: 0, logs: vec![attempt_log(first, None, start_a, ended(span_a, Ok(())))] },
                Err(error) => {
                    let logs = vec![attempt_log(first, Some(AttemptError::Failed(error.kind)), start_a, ended(span_a, Err(&error)))];
                    Hedge::Failed { error, logs, hedged: false }
                }
            };
        }
        () = tokio::time::sleep(after) => {}
    }
    let start_b = Instant::now();
    let timeouts_b = second.timeouts.within(overall.saturating_duration_since(start_b));
    let span_b = AttemptSpan::begin(second.target.provider.kind());
    let b = traced(span_b.as_ref(), attempt(&second.target, request, &timeouts_b, start_b));
    tokio::pin!(b);
    let (mut a_failed, mut b_failed): (Option<ProviderError>, Option<ProviderError>) = (None, None);
    loop {
        tokio::select! {
            r = &mut a, if a_failed.is_none() => match r {
                Ok(outcome) => {
                    let lost = b_failed.as_ref().map_or(AttemptError::HedgeCancelled, |e| AttemptError::Failed(e.kind));
                    let logs = vec![
                        attempt_log(first, None, start_a, ended(span_a, Ok(()))),
                        attempt_log(second, Some(lost), start_b, b_failed.as_ref().map_or(span_b, |e| ended(span_b, Err(e)))),
                    ];
                    return Hedge::Served { outcome, winner: 0, logs };
                }
                Err(e) => a_failed = Some(e),
            },
            r = &mut b, if b_failed.is_none() => match r {
                Ok(outcome) => {
                    let lost = a_failed.as_ref().map_or(AttemptError::HedgeCancelled, |e| AttemptError::Failed(e.kind));
                    let logs = vec![
                        attempt_log(first, Some(lost), start_a, a_failed.as_ref().map_or(span_a, |e| ended(span_a, Err(e)))),
                        attempt_log(second, None, start_b, ended(span_b, Ok(()))),
                    ];
                    return Hedge::Served { outcome, winner: 1, logs };
                }
                Err(e) => b_failed = Some(e),
            },
        }
        if let (Some(ea), Some(eb)) = (&a_failed, &b_failed) {
            let logs = vec![
                attempt_log(first, Some(AttemptError::Failed(ea.kind)), start_a, ended(span_a, Err(ea))),
                attempt_log(second, Some(AttemptError::Failed(eb.kind)), start_b, ended(span_b, Err(eb))),
            ];
            return Hedge::Failed {
                error: b_failed.take().unwrap_or_else(|| ProviderError::new(ErrorKind::Server, "both hedged attempts failed")),
                logs,
                hedged: true,
            };
        }
    }
}

pub async fn run_attempts(
    plan: &[crate::route::PlannedAttempt],
    request: &Request,
    policy: &crate::retry::RetryPolicy,
    budget: &crate::retry::RetryBudget,
    health: &crate::route::Health,
    latency: &crate::route::Latency,
    started: Instant,
) -> Result<Served, Failed> {
    use crate::retry::{judge, Decision};
    budget.deposit();
    let overall = started + crate::route::overall(plan, request.stream());
    let mut attempts: Vec<AttemptLog> = Vec::new();
    let mut last: Option<ProviderError> = None;
    let mut decision = None;
    let mut skip = None;
    for (i, step) in plan.iter().enumerate() {
        if skip == Some(i) {
            continue; // already run as the hedge of the step before
        }
        // Larger-window models are for prompts that did not fit, and only for them.
        if step.context_only != (decision == Some(Decision::LargerWindow)) {
            continue;
        }
        let has_next = i + 1 < plan.len();
        let key = step.target.key();
        match health.breakers.admit(&key) {
            Admission::Rejected if has_next => {
                // Not an upstream attempt, but the log says why the target was passed over.
                attempts.push(AttemptLog {
                    error: Some(AttemptError::CircuitOpen),
                    ms: 0.0,
                    ..attempt_log(step, None, Instant::now(), None)
                });
                continue;
            }
            Admission::Rejected => {
                let error = last.take().unwrap_or_else(|| {
                    ProviderError::new(
                        ErrorKind::Overloaded,
                        format!("provider `{}` is failing; its circuit is open", step.target.provider_name),
                    )
                });
                return Err(Failed { error, attempts });
            }
            Admission::Allowed | Admission::Probe => {}
        }
        let mut failures = 0;
        if let (Some(after), Some(next)) = (step.timeouts.hedge_after, plan.get(i + 1)) {
            if (attempts.is_empty() || budget.withdraw()) && Instant::now() < overall {
                match hedge(step, next, after, request, overall).await {
                    Hedge::Served { outcome, winner, logs } => {
                        let served = &plan[i + winner];
                        health.breakers.record(&served.target.key(), true);
                        latency.observe(&served.target.provider_name, &served.target.model, logs[winner].ms);
                        attempts.extend(logs);
                        return Ok(Served { outcome, target: served.target.clone(), attempts });
                    }
                    Hedge::Failed { error, logs, hedged } => {
                        attempts.extend(logs);
                        // Both legs were tried: never the same target again.
                        let verdict = judge(&error, 1, true, policy);
                        health.account(&step.target, &verdict);
                        decision = Some(verdict.decision);
                        last = Some(error);
                        if hedged {
                            skip = Some(i + 1);
                        }
                        if verdict.decision == Decision::Answer {
                            break;
                        }
                        continue;
                    }
                }
            }
        }
        loop {
            let extra = !attempts.is_empty();
            if extra && !budget.withdraw() {
                let error = last.take().unwrap_or_else(|| ProviderError::new(ErrorKind::Server, "retry budget exhausted"));
                return Err(Failed { error, attempts });
            }
            let now = Instant::now();
            if now >= overall {
                let error = ProviderError::new(ErrorKind::Timeout, "the request ran past its overall deadline across attempts");
                return Err(Failed { error, attempts });
            }
            // Each attempt gets its own deadlines, never past the overall one.
            let timeouts = step.timeouts.within(overall - now);
            let span = AttemptSpan::begin(step.target.provider.kind());
            let result = match crate::telemetry::outbound(span.as_ref()) {
                Some(o) => switchyard_providers::OUTBOUND.scope(o, attempt(&step.target, request, &timeouts, now)).await,
                None => attempt(&step.target, request, &timeouts, now).await,
            };
            let ms = now.elapsed().as_secs_f64() * 1000.0;
            let log = |error: Option<&ProviderError>| AttemptLog {
                provider: step.target.provider_name.to_string(),
                model: step.target.model.clone(),
                error: error.map(|e| AttemptError::Failed(e.kind)),
                ms,
                span: ended(span, error.map_or(Ok(()), Err)),
            };
            match result {
                Ok(outcome) => {
                    health.breakers.record(&key, true);
                    latency.observe(&step.target.provider_name, &step.target.model, ms);
                    attempts.push(log(None));
                    return Ok(Served { outcome, target: step.target.clone(), attempts });
                }
                Err(e) => {
                    attempts.push(log(Some(&e)));
                    failures += 1;
                    let verdict = judge(&e, failures, has_next, policy);
                    health.account(&step.target, &verdict);
                    decision = Some(verdict.decision);
                    last = Some(e);
                    match verdict.decision {
                        Decision::RetrySame(wait) => tokio::time::sleep_until((Instant::now() + wait).min(overall)).await,
                        Decision::NextTarget | Decision::LargerWindow | Decision::Answer => break,
                    }
                }
            }
        }
        if decision == Some(Decision::Answer) {
            break;
        }
    }
    let error = last.unwrap_or_else(|| ProviderError::new(ErrorKind::NotFound, "no target to try"));
    Err(Failed { error, attempts })
}

#[cfg(test)]
mod loop_tests {
    use super::*;
    use crate::retry::{RetryBudget, RetryPolicy};
    use crate::route::{Health, PlannedAttempt};
    use std::sync::Arc;
    use std::time::Duration;
    use switchyard_providers::registry::{build, ProviderConfig};

    fn step(name: &str, config: serde_json::Value) -> PlannedAttempt {
        let config: ProviderConfig = serde_json::from_value(config).unwrap();
        PlannedAttempt {
            context_only: false,
            target: Target { provider_name: Arc::from(name), provider: build(name, &config).unwrap(), model: "echo".into(), alias: None },
            timeouts: Timeouts {
                first_token: Duration::from_secs(5),
                total: Duration::from_secs(30),
                non_stream: Duration::from_secs(30),
                overall: None,
                idle: None,
                hedge_after: None,
                ..Timeouts::default()
            },
        }
    }

    /// The loop with fresh latency stats, starting now.
    async fn run(
        plan: &[PlannedAttempt],
        request: &Request,
        policy: &RetryPolicy,
        budget: &RetryBudget,
        health: &Health,
    ) -> Result<Served, Failed> {
        run_attempts(plan, request, policy, budget, health, &crate::route::Latency::default(), Instant::now()).await
    }

    fn request() -> Request {
        crate::request::decode_chat(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#).unwrap()
    }

    fn embeddings() -> Request {
        crate::request::decode_embeddings(br#"{"model":"m","input":"hi"}"#).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn embeddings_fall_back_and_open_the_failing_targets_circuit() {
        let plan = [step("down", serde_json::json!({"type":"mock","error_status":503})), step("up", serde_json::json!({"type":"mock"}))];
        let health = Health::default();
        let budget = RetryBudget::new(1.0, 100.0);
        for _ in 0..5 {
            let served = run(&plan, &embeddings(), &RetryPolicy::default(), &budget, &health).await.ok().unwrap();
            assert_eq!(&*served.target.provider_name, "up");
            assert!(matches!(served.outcome, Outcome::Complete { usage: Some(_), .. }));
        }
        let served = run(&plan, &embeddings(), &RetryPolicy::default(), &budget, &health).await.ok().unwrap();
        let trail: Vec<(&str, Option<&str>)> =
            served.attempts.iter().map(|a| (a.provider.as_str(), a.error.map(AttemptError::as_str))).collect();
        assert_eq!(trail, [("down", Some("circuit_open")), ("up", None)], "the breaker stopped calling the primary");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_primary_falls_back_at_once_and_the_last_target_gets_a_retry() {
        let plan = [step("down", serde_json::json!({"type":"mock","error_status":503})), step("up", serde_json::json!({"type":"mock"}))];
        let served = run(&plan, &request(), &RetryPolicy::default(), &RetryBudget::default(), &Health::default()).await.ok().unwrap();
        assert_eq!(&*served.target.provider_name, "up");
        let trail: Vec<(&str, Option<&str>)> =
            served.attempts.iter().map(|a| (a.provider.as_str(), a.error.map(AttemptError::as_str))).collect();
        assert_eq!(trail, [("down", Some("overloaded")), ("up", None)]);

        let alone = [step("down", serde_json::json!({"type":"mock","error_status":503}))];
        let failed = run(&alone, &request(), &RetryPolicy::default(), &RetryBudget::default(), &Health::default()).await.err().unwrap();
        assert_eq!((failed.error.kind, failed.attempts.len()), (ErrorKind::Overloaded, 2), "the only target is retried once");
    }

    #[tokio::test(start_paused = true)]
    async fn the_requests_own_errors_are_answered_without_fallback() {
        let plan = [step("bad", serde_json::json!({"type":"mock","error_status":400})), step("up", serde_json::json!({"type":"mock"}))];
        let failed = run(&plan, &request(), &RetryPolicy::default(), &RetryBudget::default(), &Health::default()).await.err().unwrap();
        assert_eq!((failed.error.kind, failed.attempts.len()), (ErrorKind::BadRequest, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_retry_after_cools_the_target_and_moves_on() {
        // The mock answers 429 with Retry-After: 1 s; a policy that waits out at most 500 ms moves on.
        let plan = [step("limited", serde_json::json!({"type":"mock","error_status":429})), step("up", serde_json::json!({"type":"mock"}))];
        let policy = RetryPolicy { max_retry_after: Duration::from_millis(500), ..RetryPolicy::default() };
        let health = Health::default();
        let served = run(&plan, &request(), &policy, &RetryBudget::default(), &health).await.ok().unwrap();
        assert_eq!((&*served.target.provider_name, served.attempts.len()), ("up", 2));
        assert!(health.cooling(&plan[0].target));
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_is_skipped_while_a_fallback_exists() {
        let plan = [step("down", serde_json::json!({"type":"mock","error_status":503})), step("up", serde_json::json!({"type":"mock"}))];
        let health = Health::default();
        for _ in 0..5 {
            run(&plan, &request(), &RetryPolicy::default(), &RetryBudget::new(1.0, 100.0), &health).await.ok().unwrap();
        }
        // Five failures in a row opened `down`: the next request goes straight to `up`.
        let served = run(&plan, &request(), &RetryPolicy::default(), &RetryBudget::new(1.0, 100.0), &health).await.ok().unwrap();
        let trail: Vec<(&str, Option<&str>)> =
            served.attempts.iter().map(|a| (a.provider.as_str(), a.error.map(AttemptError::as_str))).collect();
        assert_eq!(trail, [("down", Some("circuit_open")), ("up", None)], "the skip is logged; only `up` was called");
        assert_eq!(&*served.target.provider_name, "up");
        assert_eq!(health.breakers.snapshot(), vec![("down/echo".to_string(), "open"), ("up/echo".to_string(), "closed")]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_first_target_is_hedged_and_the_faster_answer_wins() {
        let timeouts = Timeouts {
            first_token: Duration::from_secs(30),
            total: Duration::from_secs(60),
            overall: None,
            idle: None,
            hedge_after: Some(Duration::from_millis(200)),
            ..Timeouts::default()
        };
        let mut slow = step("slow", serde_json::json!({"type":"mock","latency":"2s"}));
        slow.timeouts = timeouts;
        let fast = step("fast", serde_json::json!({"type":"mock","latency":"100ms"}));
        let started = Instant::now();
        let served = run_attempts(
            &[slow.clone(), fast.clone()],
            &request(),
            &RetryPolicy::default(),
            &RetryBudget::default(),
            &Health::default(),
            &crate::route::Latency::default(),
            started,
        )
        .await
        .ok()
        .unwrap();
        assert_eq!(&*served.target.provider_name, "fast");
        assert_eq!(started.elapsed(), Duration::from_millis(300), "the hedge answered 100 ms after it started");
        let trail: Vec<(&str, Option<&str>)> =
            served.attempts.iter().map(|a| (a.provider.as_str(), a.error.map(AttemptError::as_str))).collect();
        assert_eq!(trail, [("slow", Some("hedge_cancelled")), ("fast", None)]);

        // A first target that answers before the hedge delay is used alone.
        let mut quick = step("quick", serde_json::json!({"type":"mock","latency":"50ms"}));
        quick.timeouts = timeouts;
        let served =
            run(&[quick, fast], &request(), &RetryPolicy::default(), &RetryBudget::default(), &Health::default()).await.ok().unwrap();
        assert_eq!((&*served.target.provider_name, served.attempts.len()), ("quick", 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_prompt_too_long_moves_to_the_larger_window_model_only() {
        let mut big = step("big", serde_json::json!({"type":"mock"}));
        big.context_only = true;
        let too_long = serde_json::json!({"type":"mock","error_status":400});
        // A plain 400 is answered: the larger-window model is not for it.
        let plan = [step("small", too_long), step("other", serde_json::json!({"type":"mock"})), big.clone()];
        let failed = run(&plan, &request(), &RetryPolicy::default(), &RetryBudget::default(), &Health::default()).await.err().unwrap();
        assert_eq!((failed.error.kind, failed.attempts.len()), (ErrorKind::BadRequest, 1));
        // On a success the larger-window model is never tried either.
        let plan = [step("ok", serde_json::json!({"type":"mock"})), big];
        let served = run(&plan, &request(), &RetryPolicy::default(), &RetryBudget::default(), &Health::default()).await.ok().unwrap();
        assert_eq!(&*served.target.provider_name, "ok");
    }

    #[tokio::test(start_paused = true)]
    async fn a_traced_request_gives_every_upstream_attempt_its_own_span_and_status() {
        let plan = [step("down", serde_json::json!({"type":"mock","error_status":503})), step("up", serde_json::json!({"type":"mock"}))];
        let (tracer, _rx) = crate::telemetry::Tracer::new(1.0, false, 4);
        let current = tracer.start(None, None).current();
        let health = Health::default();
        let served =
            crate::telemetry::within(Some(current), run(&plan, &request(), &RetryPolicy::default(), &RetryBudget::default(), &health))
                .await
                .ok()
                .unwrap();
        let spans: Vec<_> = served.attempts.iter().map(|a| a.span.expect("a traced attempt has a span")).collect();
        assert_eq!(spans.iter().map(|s| s.status).collect::<Vec<_>>(), [Some(503), Some(200)]);
        assert_ne!(spans[0].span_id, spans[1].span_id);
        assert!(spans[0].start_unix_ns <= spans[1].start_unix_ns);
        // Untraced, attempts carry no span.
        let served = run(&plan, &request(), &RetryPolicy::default(), &RetryBudget::default(), &health).await.ok().unwrap();
        assert!(served.attempts.iter().all(|a| a.span.is_none()));
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_budget_stops_extra_attempts() {
        let plan = [step("down", serde_json::json!({"type":"mock","error_status":500})), step("up", serde_json::json!({"type":"mock"}))];
        let budget = RetryBudget::new(0.0, 0.0);
        while budget.withdraw() {}
        let failed = run(&plan, &request(), &RetryPolicy::default(), &budget, &Health::default()).await.err().unwrap();
        assert_eq!((failed.error.kind, failed.attempts.len()), (ErrorKind::Server, 1));
    }
}
