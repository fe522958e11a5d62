//! The inbound API phase of `bench/run` (BENCH_INBOUND): what each inbound API adds over chat
//! completions on the same nginx upstream. Scenarios `inbound-open<RATE>` and `inbound-closed`;
//! targets `direct` (nginx), `chat` (the reference), `messages-native`, `messages-translated` and
//! `responses` (left out, with its reason, when the gateway has no `/v1/responses`).

use std::fmt::Write as _;

use super::phase::Phase;
use super::{f3, fmt_thousands, rps, Data};

const TARGETS: [(&str, &str); 5] = [
    ("direct", "direct nginx"),
    ("chat", "/v1/chat/completions → openai"),
    ("messages-native", "/v1/messages → anthropic (native)"),
    ("messages-translated", "/v1/messages → openai (translated)"),
    ("responses", "/v1/responses → openai"),
];

const PHASE: Phase =
    Phase { prefix: "inbound-", targets: &TARGETS, base: ("chat", "chat"), runs_name: "inbound runs", status: Some("inboundstatus") };

pub(super) fn section(data: &Data, o: &mut String) {
    if !PHASE.ran(data) {
        return;
    }
    let m = |k: &str| data.meta_str(k).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        o,
        "#### Inbound APIs: chat completions, Anthropic Messages, Responses (open loop ms, {} round(s) × ({} s warm-up + {} s measured) per target, {} connections; closed loop {} round(s), {} connections)\n",
        m("inbound_open_rounds"), m("open_warmup_s"), m("open_duration_s"), m("open_conns"), m("inbound_closed_rounds"), m("closed_conns"),
    );
    let _ = writeln!(
        o,
        "One gateway per target, each its own process on the hop's CPU, model alias `bench-model` on one provider. \
         Chat sends `{}` to a `type: openai` provider on nginx's OpenAI answer (the reference). The Messages rows send `{}` \
         with `anthropic-version: 2023-06-01`: native = a `type: anthropic` provider on a fixed Anthropic message from nginx \
         (the request is forwarded as the client wrote it, the answer written back in Anthropic's shape); translated = the \
         openai provider (the request translated through the canonical one, the OpenAI answer into an Anthropic message). \
         Responses sends `{}` to the openai provider. Every answer carries the same text. Added = this row's percentile − \
         the reference's, from the same run.\n",
        m("inbound_chat_body"),
        m("inbound_messages_body"),
        m("inbound_responses_body"),
    );
    PHASE.latency_table(data, o);
    PHASE.throughput_table(data, o);
    PHASE.all_runs(data, o);
    PHASE.threads(data, o);

    let mut notes: Vec<String> = Vec::new();
    // A target that could not keep up with the schedule: its corrected latency is queueing time.
    for (s, rate) in PHASE.open(data) {
        for (t, name) in TARGETS {
            if let Some(a) = data.run(&s, t).filter(|a| a.rps().is_some_and(|r| r < 0.97 * rate)) {
                notes.push(format!(
                    "{name}: **did not keep up** with {} req/s: achieved {} req/s; from the actual send p50 / p99 {} / {} ms",
                    fmt_thousands(rate),
                    rps(a.rps()),
                    f3(a.q("service", 0.5)),
                    f3(a.q("service", 0.99)),
                ));
            }
        }
    }
    for (t, name) in TARGETS.iter().skip(1) {
        PHASE.target_notes(data, t, name, "inboundrss", &mut notes);
    }
    for n in &notes {
        let _ = writeln!(o, "- {n}");
    }
    if !notes.is_empty() {
        let _ = writeln!(o);
    }
}
