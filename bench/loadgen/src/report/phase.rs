//! Tables shared by the phases that start their own gateways (governance, cache, inbound): scenarios
//! `<prefix>open<RATE>` and `<prefix>closed`, target `direct` (nginx) plus gateway targets, one
//! of which (`base`) is the plain gateway the others are compared with.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{errors_cell, f3, fmt_thousands, list, ratio, rps, signed3, sub, Agg, Data};

pub(super) struct Phase<'a> {
    /// Scenario prefix, e.g. `gov-`.
    pub prefix: &'a str,
    /// Targets in report order, with their row names; the first is `direct`.
    pub targets: &'a [(&'a str, &'a str)],
    /// The second reference: target and how a column calls it (`plain`, `no keys`).
    pub base: (&'a str, &'a str),
    /// What the thread table calls these runs (`governance runs`).
    pub runs_name: &'a str,
    /// Meta key prefix of each target's status (`inboundstatus` → `inboundstatus:<target>`): a
    /// target left out with a reason gets a "not measured" row in the latency table.
    pub status: Option<&'a str>,
}

impl Phase<'_> {
    /// The notes a gateway target of the phase gets below its tables: left out, with the reason,
    /// and its RSS after the phase (meta `<rss_key>:<target>`).
    pub fn target_notes(&self, data: &Data, t: &str, name: &str, rss_key: &str, notes: &mut Vec<String>) {
        if let Some(st) = self.status.and_then(|k| data.meta_str(&format!("{k}:{t}"))).filter(|s| s != "ok") {
            notes.push(format!("{name}: **not measured** — {st}"));
        }
        if let Some(kb) = data.meta_f64(&format!("{rss_key}:{t}")) {
            notes.push(format!("{name}: RSS after the phase {:.1} MB", kb / 1024.0));
        }
    }

    pub fn ran(&self, data: &Data) -> bool {
        data.runs.keys().any(|(s, _)| s.starts_with(self.prefix))
    }

    pub fn measured(&self, data: &Data, t: &str) -> bool {
        data.runs.keys().any(|(s, x)| s.starts_with(self.prefix) && x == t)
    }

    pub fn closed(&self) -> String {
        format!("{}closed", self.prefix)
    }

    /// The open-loop scenarios with their rates, slowest first.
    pub fn open(&self, data: &Data) -> Vec<(String, f64)> {
        let open_prefix = format!("{}open", self.prefix);
        let mut open: Vec<(String, f64)> = data
            .runs
            .iter()
            .filter(|((s, _), _)| s.starts_with(&open_prefix))
            .map(|((s, _), a)| (s.clone(), a.rate.unwrap_or(0.0)))
            .collect();
        open.dedup_by(|a, b| a.0 == b.0);
        open.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
        open
    }

    /// Every scenario with its row label: the open-loop rates, then the closed loop.
    pub fn scenarios(&self, data: &Data) -> Vec<(String, String)> {
        let closed_conns = data.meta_str("closed_conns").unwrap_or_else(|| "?".into());
        self.open(data)
            .into_iter()
            .map(|(s, r)| (s, format!("open {} req/s", fmt_thousands(r))))
            .chain(data.run(&self.closed(), "direct").map(|_| (self.closed(), format!("closed {closed_conns} conns"))))
            .collect()
    }

    /// CPU seconds of `kind` (hopcpu | sidecpu | upcpu) per successful request, in µs.
    pub fn cpu_us(&self, data: &Data, s: &str, t: &str, kind: &str) -> Option<f64> {
        let a = data.run(s, t)?;
        let cpu = data.meta_sum(&format!("{kind}:{s}/{t}#"))?;
        (a.ok > 0).then(|| cpu * 1e6 / a.ok as f64)
    }

    /// p50 / p99 per rate, added vs direct and vs the base gateway.
    pub fn latency_table(&self, data: &Data, o: &mut String) {
        let open = self.open(data);
        let p = |s: &str, t: &str, q: f64| data.run(s, t).and_then(|a| a.q("latency", q));
        let (base, base_name) = self.base;
        let mut head = String::from("| target |");
        let mut rule = String::from("|---|");
        for (_, rate) in &open {
            let r = fmt_thousands(*rate);
            let _ = write!(head, " p50 / p99 @ {r} req/s | added vs direct | added vs {base_name} |");
            rule += "---|---|---|";
        }
        let _ = writeln!(o, "{head}\n{rule}");
        for &(t, name) in self.targets {
            if !self.measured(data, t) {
                let why = self.status.and_then(|k| data.meta_str(&format!("{k}:{t}"))).filter(|s| s != "ok");
                if let Some(why) = why {
                    let _ = writeln!(o, "| {name} | **not measured** — {}{} |", why.replace('|', "\\|"), " |".repeat(3 * open.len() - 1));
                }
                continue;
            }
            let mut row = format!("| {name} |");
            for (s, _) in &open {
                let pair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", signed3(a), signed3(b));
                let added = |reference: &str| {
                    if t == "direct" || t == reference {
                        "–".to_string()
                    } else {
                        pair(sub(p(s, t, 0.5), p(s, reference, 0.5)), sub(p(s, t, 0.99), p(s, reference, 0.99)))
                    }
                };
                let _ = write!(row, " {} / {} | {} | {} |", f3(p(s, t, 0.5)), f3(p(s, t, 0.99)), added("direct"), added(base));
            }
            let _ = writeln!(o, "{row}");
        }
        let _ = writeln!(o);
    }

    /// Closed-loop throughput, ratios, gateway and (when the phase used it) Redis CPU per
    /// request, errors.
    pub fn throughput_table(&self, data: &Data, o: &mut String) {
        let m = |k: &str| data.meta_str(k).unwrap_or_else(|| "?".into());
        let open = self.open(data);
        let (base, base_name) = self.base;
        let thr = |t: &str| data.run(&self.closed(), t).and_then(Agg::rps);
        let us = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.1}"));
        let rates: Vec<String> = open.iter().map(|(_, r)| fmt_thousands(*r)).collect();
        let redis = data.meta.keys().any(|k| k.starts_with(&format!("sidecpu:{}", self.prefix)));
        let redis_head = if redis { format!(" Redis CPU µs/req @ {} req/s · closed |", rates.join(" · ")) } else { String::new() };
        let _ = writeln!(
            o,
            "| target | max req/s ({} conns) | / direct | / {base_name} | gateway CPU µs/req @ {} req/s · closed |{redis_head} errors |",
            m("closed_conns"),
            rates.join(" · "),
        );
        let _ = writeln!(o, "|---|---|---|---|---|{}---|", if redis { "---|" } else { "" });
        let scens: Vec<String> = open.iter().map(|(s, _)| s.clone()).chain([self.closed()]).collect();
        for &(t, name) in self.targets {
            if !self.measured(data, t) {
                continue;
            }
            let cpu = |kind: &str| {
                if kind == "hopcpu" && t == "direct" {
                    return "n/a".to_string();
                }
                scens.iter().map(|s| us(self.cpu_us(data, s, t, kind))).collect::<Vec<_>>().join(" · ")
            };
            let errs: Vec<String> = scens
                .iter()
                .filter_map(|s| data.run(s, t).map(|a| (s, a)))
                .filter(|(_, a)| a.errors > 0 || a.dropped > 0)
                .map(|(s, a)| format!("{}: {}", s.trim_start_matches(self.prefix), errors_cell(a)))
                .collect();
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} |{} {} |",
                rps(thr(t)),
                if t == "direct" { "–".into() } else { ratio(thr(t), thr("direct")) },
                if t == "direct" || t == base { "–".into() } else { ratio(thr(t), thr(base)) },
                cpu("hopcpu"),
                if redis { format!(" {} |", cpu("sidecpu")) } else { String::new() },
                if errs.is_empty() { "0".into() } else { errs.join("; ") },
            );
        }
        let _ = write!(o, "\nGateway CPU = all threads of the gateway process under test (schedstat) per successful request.");
        if redis {
            let _ = write!(
                o,
                " Redis CPU = the redis-server process{} in the same windows, per request of that row (it is not pinned and runs \
                 on either core).",
                data.meta_str("gov_redis").map_or(String::new(), |r| format!(" ({r})")),
            );
        }
        let _ = writeln!(o, "\n");
    }

    /// Every run, rounds merged, then the first error of each run that had one.
    pub fn all_runs(&self, data: &Data, o: &mut String) {
        let _ = writeln!(o, "| scenario | target | achieved req/s | p50 | p90 | p99 | p99.9 | max | p50 per round | p99 per round | other processes' CPU per round (cores) |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|");
        for (s, scen) in &self.scenarios(data) {
            for &(t, name) in self.targets {
                let Some(a) = data.run(s, t) else { continue };
                let other: Vec<String> = data
                    .meta
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("othercpu:{s}/{t}#")))
                    .map(|(_, v)| v.as_f64().map_or("?".into(), |x| format!("{x:.2}")))
                    .collect();
                let _ = writeln!(
                    o,
                    "| {scen} | {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    rps(a.rps()),
                    f3(a.q("latency", 0.5)),
                    f3(a.q("latency", 0.9)),
                    f3(a.q("latency", 0.99)),
                    f3(a.q("latency", 0.999)),
                    f3(a.q("latency", 1.0)),
                    list(&a.round_p50),
                    list(&a.round_p99),
                    other.join(", "),
                );
            }
        }
        let _ = writeln!(o);
        let firsts: Vec<String> = data
            .runs
            .iter()
            .filter(|((s, _), _)| s.starts_with(self.prefix))
            .filter_map(|((s, t), a)| a.first_error.as_ref().map(|e| format!("- {s}/{t}: first error: `{}`", e.replace('`', "'"))))
            .collect();
        if !firsts.is_empty() {
            let _ = writeln!(o, "{}\n", firsts.join("\n"));
        }
    }

    /// Gateway CPU per thread name for each gateway target, µs per successful request.
    pub fn threads(&self, data: &Data, o: &mut String) {
        let mut names: Vec<String> = Vec::new();
        let mut rows: Vec<(String, BTreeMap<String, f64>, u64)> = Vec::new();
        for (s, scen) in &self.scenarios(data) {
            for &(t, tname) in self.targets.iter().skip(1) {
                let mut per: BTreeMap<String, f64> = BTreeMap::new();
                for (_, v) in data.meta.iter().filter(|(k, _)| k.starts_with(&format!("gwthreads:{s}/{t}#"))) {
                    for (name, secs) in v.as_object().into_iter().flatten() {
                        *per.entry(name.clone()).or_default() += secs.as_f64().unwrap_or(0.0);
                        if !names.contains(name) {
                            names.push(name.clone());
                        }
                    }
                }
                let ok = data.run(s, t).map_or(0, |a| a.ok);
                if !per.is_empty() && ok > 0 {
                    rows.push((format!("{scen} · {tname}"), per, ok));
                }
            }
        }
        names.retain(|n| rows.iter().any(|(_, per, ok)| per.get(n).copied().unwrap_or(0.0) * 1e6 / *ok as f64 >= 0.05));
        let total = |n: &String| -> f64 { rows.iter().map(|(_, p, _)| p.get(n).copied().unwrap_or(0.0)).sum() };
        names.sort_by(|a, b| total(b).partial_cmp(&total(a)).unwrap());
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(o, "**Gateway CPU by thread, {} (µs per successful request)**\n", self.runs_name);
        let _ = writeln!(o, "| run | {} | total |", names.join(" | "));
        let _ = writeln!(o, "|---|{}---|", "---|".repeat(names.len()));
        for (name, per, ok) in &rows {
            let cells: Vec<String> =
                names.iter().map(|n| format!("{:.1}", per.get(n).copied().unwrap_or(0.0) * 1e6 / *ok as f64)).collect();
            let sum: f64 = per.values().sum::<f64>() * 1e6 / *ok as f64;
            let _ = writeln!(o, "| {name} | {} | {sum:.1} |", cells.join(" | "));
        }
        let _ = writeln!(o);
    }
}
