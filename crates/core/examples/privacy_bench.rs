//! Redaction cost per kilobyte of prompt (issue 15, item 7: ≤ 20 µs/KB at p50), at 1 KB and
//! 32 KB, for prose with a few PII values per kilobyte, clean prose, and number-heavy JSON (the
//! worst case for the digit-triggered detectors). Run in release:
//! `cargo run --release -p switchyard-core --example privacy_bench`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use switchyard_core::privacy::{Detector, EntityKind, Redactor, RestoreMode, Restorer};

const PROSE: &[&str] = &[
    "The quarterly report shows revenue grew in every region, driven by renewals and a new tier. ",
    "Please summarise the customer's complaint and suggest a polite reply that offers a refund. ",
    "fn main() { let v: Vec<u32> = (0..10).collect(); println!(\"{:?}\", v); } // version 1.2.3 ",
    "Meeting moved to 2024-03-15 at 10:30; bring the Q1 numbers (about 4,096 units sold). ",
    "Order #A-4415 shipped via ground; tracking shows delivery within 3 to 5 business days. ",
];

const PII: &[&str] = &[
    "Contact jane.doe@example.com for details. ",
    "Call me at +1 415 555 2671 tomorrow. ",
    "Card on file: 4111 1111 1111 1111. ",
    "Wire to DE89 3704 0044 0532 0130 00 please. ",
    "The server at 10.20.30.40 is down. ",
    "My SSN is 123-45-6789. ",
    "Use key sk-proj-Ab3dEf6hIj9kLmNoPqRsTuVwXyZ012345678 for the test. ",
];

/// About `size` bytes of prose with one PII sentence every `pii_every` sentences (0: none).
fn prompt(size: usize, pii_every: usize, rng: &mut fastrand::Rng) -> String {
    let mut s = String::with_capacity(size + 128);
    let mut n = 0;
    while s.len() < size {
        n += 1;
        if pii_every > 0 && n % pii_every == 0 {
            s.push_str(PII[rng.usize(..PII.len())]);
        } else {
            s.push_str(PROSE[rng.usize(..PROSE.len())]);
        }
    }
    s.truncate(s.floor_char_boundary(size));
    s
}

/// JSON rows full of numbers, ids and timestamps.
fn numeric_json(size: usize, rng: &mut fastrand::Rng) -> String {
    let mut s = String::from("[");
    while s.len() < size {
        s.push_str(&format!(
            "{{\"id\":{},\"ts\":\"2024-0{}-1{}T10:{}:00Z\",\"amount\":{}.{},\"qty\":{},\"ver\":\"1.{}.{}\"}},",
            rng.u64(1_000_000..9_999_999_999),
            rng.u8(1..9),
            rng.u8(0..9),
            rng.u8(10..59),
            rng.u32(1..99_999),
            rng.u8(10..99),
            rng.u16(1..500),
            rng.u8(0..20),
            rng.u8(0..20),
        ));
    }
    s.truncate(size);
    s
}

fn measure(detector: &Detector, label: &str, text: &str) {
    let iters = (4_000_000 / text.len().max(1)).clamp(200, 20_000);
    let mut samples = Vec::with_capacity(iters);
    let mut found = 0;
    for _ in 0..iters {
        let start = Instant::now();
        let mut r = Redactor::new(detector);
        let out = black_box(r.redact(black_box(text)));
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        found = r.summary().total();
        drop(out);
    }
    samples.sort_by(f64::total_cmp);
    let kb = text.len() as f64 / 1024.0;
    let p50 = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    println!(
        "{label:<28} {:>6.1} KB  findings {found:>4}  p50 {:>8.2} µs ({:>5.2} µs/KB)  p99 {:>8.2} µs ({:>5.2} µs/KB)",
        kb,
        p50,
        p50 / kb,
        p99,
        p99 / kb
    );
}

/// Restoring a 32 KB answer (the redacted prompt played back) streamed in 3-byte chunks, the
/// way a model's deltas arrive.
fn measure_restore(detector: &Detector, rng: &mut fastrand::Rng) {
    let mut redactor = Redactor::new(detector);
    let answer = redactor.redact(&prompt(32 * 1024, 4, rng)).expect("the prompt holds PII");
    let vault = Arc::new(redactor.finish().0);
    let chunks: Vec<&str> = answer.as_bytes().chunks(3).map(|c| std::str::from_utf8(c).expect("ASCII prose")).collect();
    let mut samples = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let mut restorer = Restorer::new(vault.clone(), RestoreMode::Text);
        let mut out = 0;
        for c in &chunks {
            out += black_box(restorer.push(c)).len();
        }
        out += restorer.finish().len();
        black_box(out);
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let kb = answer.len() as f64 / 1024.0;
    let p50 = samples[samples.len() / 2];
    let per_chunk = p50 * 1000.0 / chunks.len() as f64;
    println!("restore, 3-byte chunks      {kb:>6.1} KB  p50 {p50:>8.2} µs ({:>5.2} µs/KB, {per_chunk:.0} ns/chunk)", p50 / kb);
}
fn main() {
    let detector = Detector::new(&EntityKind::BUILT_IN, &[]).expect("the built-in detector always builds");
    let mut rng = fastrand::Rng::with_seed(2026);
    for size in [1024, 32 * 1024] {
        let kb = size / 1024;
        measure(&detector, &format!("prose + PII ({kb} KB)"), &prompt(size, 4, &mut rng));
        measure(&detector, &format!("clean prose ({kb} KB)"), &prompt(size, 0, &mut rng));
        measure(&detector, &format!("numeric JSON ({kb} KB)"), &numeric_json(size, &mut rng));
    }
    measure_restore(&detector, &mut rng);
    println!("pathological inputs (32 KB of one repeated pattern):");
    for pattern in [
        "sk-",
        "a@",
        "1 ",
        "a:",
        "<EMAIL_",
        "eyJ.",
        "-----BEGIN RSA PRIVATE KEY-----",
        "aws ",
        "(1",
        "+1 ",
        "AB12 ",
        "4111 ",
        "1.",
        "x@y.",
        "ghp_",
    ] {
        let text: String = pattern.repeat(32 * 1024 / pattern.len());
        measure(&detector, &format!("  {pattern:?}"), &text);
    }
    println!("one type at a time, prose + PII (32 KB):");
    let text = prompt(32 * 1024, 4, &mut rng);
    for kind in EntityKind::BUILT_IN {
        let one = Detector::new(std::slice::from_ref(&kind), &[]).expect("one built-in type always builds");
        measure(&one, &format!("  {kind}"), &text);
    }
}
