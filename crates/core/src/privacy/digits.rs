//! Reading a run of digit groups (`4111 1111 1111 1111`, `123-45-6789`) without allocating, so
//! the number detectors can try each way of cutting a run into a candidate.

/// At most this many groups are read; longer runs are not any entity this module knows.
pub(crate) const MAX_GROUPS: usize = 8;

/// A run of digit groups separated by single separator bytes.
#[derive(Debug)]
pub(crate) struct Groups {
    /// Byte offset just past each group.
    pub ends: [usize; MAX_GROUPS],
    /// Number of digits in each group.
    pub lens: [usize; MAX_GROUPS],
    /// The separator after each group (0 after the last one read).
    pub seps: [u8; MAX_GROUPS],
    pub count: usize,
    /// Whether the run went on past `MAX_GROUPS` groups.
    pub truncated: bool,
}

impl Groups {
    /// Total digits in the first `k` groups.
    pub fn digits(&self, k: usize) -> usize {
        self.lens[..k].iter().sum()
    }

    /// Whether the first `k` groups are a whole candidate: the run stops after them, or goes on
    /// after a space (a new token in prose: "card 4111 1111 1111 1111 2 times").
    pub fn cut_ok(&self, k: usize) -> bool {
        k == self.count && !self.truncated || self.seps[k - 1] == b' '
    }

    /// Whether the first `k` groups use one separator throughout.
    pub fn uniform(&self, k: usize) -> bool {
        k <= 1 || self.seps[..k - 1].iter().all(|&s| s == self.seps[0])
    }
}

/// The groups of digits starting at `start` (which must be a digit), joined by one byte of
/// `seps` each.
pub(crate) fn read(bytes: &[u8], start: usize, seps: &[u8]) -> Groups {
    let mut g = Groups { ends: [0; MAX_GROUPS], lens: [0; MAX_GROUPS], seps: [0; MAX_GROUPS], count: 0, truncated: false };
    let mut i = start;
    loop {
        let from = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        g.ends[g.count] = i;
        g.lens[g.count] = i - from;
        g.count += 1;
        let next_group = i + 1 < bytes.len() && seps.contains(&bytes[i]) && bytes[i + 1].is_ascii_digit();
        if !next_group {
            return g;
        }
        if g.count == MAX_GROUPS {
            g.truncated = true;
            return g;
        }
        g.seps[g.count - 1] = bytes[i];
        i += 1;
    }
}

/// The length of the digit group at `start`, and whether one of `seps` and another digit follow
/// it. Lets a detector turn a candidate down before reading the whole run.
pub(crate) fn first_group(bytes: &[u8], start: usize, seps: &[u8]) -> (usize, bool) {
    let len = bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    let end = start + len;
    let more = bytes.get(end).is_some_and(|b| seps.contains(b)) && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
    (len, more)
}

/// The ASCII digits of `bytes[range]` copied into `buf`, or `None` when there are more than fit.
pub(crate) fn collect<'b>(bytes: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut n = 0;
    for &b in bytes.iter().filter(|b| b.is_ascii_digit()) {
        *buf.get_mut(n)? = b;
        n += 1;
    }
    Some(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_split_at_single_separators_and_stop_at_anything_else() {
        let g = read(b"123-45-6789 is mine", 0, b"- ");
        assert_eq!(g.count, 3);
        assert_eq!(&g.lens[..3], &[3, 2, 4]);
        assert_eq!(g.ends[2], 11);
        assert!(g.uniform(3));
        assert!(g.cut_ok(3));
    }

    #[test]
    fn a_run_that_goes_on_after_a_dash_cannot_be_cut_there() {
        let g = read(b"123-45-6789-0", 0, b"- ");
        assert_eq!(g.count, 4);
        assert!(!g.cut_ok(3));
    }
}
