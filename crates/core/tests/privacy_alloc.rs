//! A clean text costs the redactor no allocation at all: with a policy on, the request path pays
//! only for the scan, and callers keep their original strings.

// The counting allocator needs `unsafe impl GlobalAlloc`; it only forwards to the system one.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use switchyard_core::privacy::{Detector, EntityKind, Redactor};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn privacy_redacting_clean_text_allocates_nothing_and_returns_none() {
    let detector = Detector::new(&EntityKind::BUILT_IN, &[]).unwrap();
    let mut redactor = Redactor::new(&detector);
    // Numbers, colons, '@', '<' and prefixes of secrets: every trigger fires, nothing matches.
    let text = "Release 1.2.3 on 2024-01-15 at 10:30:00, 4,096 units, order #4155552671, \
                ping @channel, see <b>notes</b>, sk-learn, eyJ, AKIA, std::fmt and 256.1.1.1.";
    assert_eq!(redactor.redact(text), None);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..100 {
        assert_eq!(redactor.redact(text), None);
    }
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed) - before, 0);
    // The counter is live: a text with a finding does allocate its redacted copy.
    assert!(redactor.redact("mail jane@example.com").is_some());
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);
}
