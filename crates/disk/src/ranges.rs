use std::collections::BTreeMap;

/// A set of byte ranges `[start, end)`, kept merged and sorted.
///
/// ```
/// let mut set = ingot_disk::RangeSet::default();
/// set.insert(0, 10);
/// set.insert(10, 20);
/// assert_eq!(set.iter().collect::<Vec<_>>(), vec![(0, 20)]);
/// assert!(set.overlaps(5, 6));
/// assert!(!set.overlaps(20, 30));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// Adds `[start, end)`, merging it with the ranges it touches.
    pub fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
            }
        }
        let touching: Vec<u64> = self.ranges.range(start..=end).map(|(&s, _)| s).collect();
        for s in touching {
            if let Some(e) = self.ranges.remove(&s) {
                end = end.max(e);
            }
        }
        self.ranges.insert(start, end);
    }

    /// True if any byte of `[start, end)` is in the set.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return false;
        }
        if let Some((_, &e)) = self.ranges.range(..=start).next_back() {
            if e > start {
                return true;
            }
        }
        self.ranges.range(start..end).next().is_some()
    }

    /// The parts of the set inside `[start, end)`, in ascending order.
    pub fn overlapping(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = self
            .ranges
            .range(..end)
            .rev()
            .take_while(|(_, &e)| e > start)
            .map(|(&s, &e)| (s.max(start), e.min(end)))
            .collect();
        out.reverse();
        out
    }

    /// The ranges in ascending order, as `(start, end)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&s, &e)| (s, e))
    }

    /// The number of bytes covered.
    pub fn len(&self) -> u64 {
        self.iter().map(|(s, e)| e - s).sum()
    }

    /// True if the set covers nothing.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::RangeSet;

    #[test]
    fn merges_overlapping_and_adjacent() {
        let mut s = RangeSet::default();
        s.insert(10, 20);
        s.insert(30, 40);
        s.insert(15, 31);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(10, 40)]);
        s.insert(0, 5);
        s.insert(50, 60);
        s.insert(5, 50);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(0, 60)]);
        assert_eq!(s.len(), 60);
    }

    #[test]
    fn overlap_edges() {
        let mut s = RangeSet::default();
        s.insert(10, 20);
        assert!(!s.overlaps(0, 10));
        assert!(s.overlaps(0, 11));
        assert!(s.overlaps(19, 25));
        assert!(!s.overlaps(20, 25));
        assert!(s.overlaps(0, 100));
        s.insert(30, 40);
        assert_eq!(s.overlapping(15, 35), vec![(15, 20), (30, 35)]);
        assert_eq!(s.overlapping(20, 30), vec![]);
    }
}
