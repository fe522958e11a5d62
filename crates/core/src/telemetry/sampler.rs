//! Which requests are traced: parent-based — a caller's `traceparent` decides with its sampled
//! flag — and otherwise a ratio decided by the trace id, so that every service sampling the
//! same trace id at the same ratio keeps or drops the same traces.

use super::context::{TraceId, TraceParent};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// 0 samples nothing, 1 everything.
    ratio: f64,
}

impl Sampler {
    pub fn new(ratio: f64) -> Self {
        Self { ratio: ratio.clamp(0.0, 1.0) }
    }

    pub fn sample(&self, parent: Option<&TraceParent>, trace_id: TraceId) -> bool {
        match parent {
            Some(p) => p.sampled,
            None => self.by_ratio(trace_id),
        }
    }

    /// The last 8 bytes of the trace id (the random part in W3C's level 2) against the ratio.
    fn by_ratio(&self, trace_id: TraceId) -> bool {
        if self.ratio >= 1.0 {
            return true;
        }
        if self.ratio <= 0.0 {
            return false;
        }
        let low = u64::from_be_bytes(trace_id.0[8..].try_into().unwrap_or([0; 8]));
        // 2^64 × ratio, below which a trace is sampled.
        let bound = (self.ratio * 18_446_744_073_709_551_616.0) as u64;
        low < bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::context::SpanId;

    #[test]
    fn a_callers_decision_wins_over_the_ratio() {
        let trace_id = TraceId::random();
        let parent = |sampled| TraceParent { trace_id, parent_id: SpanId([1; 8]), sampled };
        assert!(Sampler::new(0.0).sample(Some(&parent(true)), trace_id));
        assert!(!Sampler::new(1.0).sample(Some(&parent(false)), trace_id));
    }

    #[test]
    fn the_ratio_decides_by_trace_id_deterministically() {
        let (none, all, half) = (Sampler::new(0.0), Sampler::new(1.0), Sampler::new(0.5));
        let mut kept = 0;
        for _ in 0..10_000 {
            let id = TraceId::random();
            assert!(!none.sample(None, id));
            assert!(all.sample(None, id));
            let first = half.sample(None, id);
            assert_eq!(first, half.sample(None, id), "the same trace id gets the same decision");
            kept += usize::from(first);
        }
        assert!((4_500..5_500).contains(&kept), "about half kept: {kept}");
        // The boundary: the low 8 bytes decide.
        let low = |n: u64| {
            let mut id = [0xab; 16];
            id[8..].copy_from_slice(&n.to_be_bytes());
            TraceId(id)
        };
        assert!(half.sample(None, low(u64::MAX / 2 - 1)));
        assert!(!half.sample(None, low(u64::MAX / 2 + 2)));
    }
}
