//! The miss counter's meaning (issue 11): a service whose account is missing from one
//! complete listing may not be gone — panels glitch. Its `not_on_server` item carries how
//! many complete listings in a row missed the account (this one included), and the service
//! counts as *gone* only at the server's `gone_after` count (default
//! [`DEFAULT_GONE_AFTER`]). Scheduled scans and `auto_apply` wait for gone; a manual apply
//! may terminate after one listing, as WHMCS's tool does, and shows the count.

use serde::Serialize;

/// Complete listings in a row without the account after which a service is gone, when the
/// server sets nothing else.
pub const DEFAULT_GONE_AFTER: u32 = 3;

/// The miss count of one `not_on_server` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MissCount {
    /// Complete listings in a row without the account, this listing included when it was
    /// complete (an incomplete listing shows the stored count: it neither counts nor resets).
    pub misses: u32,
    /// The server's threshold: gone at this many misses (at least 1).
    pub gone_after: u32,
}

impl MissCount {
    /// A count of `misses` against `gone_after` (0 is read as 1: one listing is the least
    /// evidence there is).
    pub fn new(misses: u32, gone_after: u32) -> Self {
        MissCount {
            misses,
            gone_after: gone_after.max(1),
        }
    }

    /// Whether the service counts as gone: missing from `gone_after` complete listings in a
    /// row.
    pub fn is_gone(&self) -> bool {
        self.misses >= self.gone_after
    }

    /// For people: "missing in 1 of 3 listings"; past the threshold "missing in 4 listings
    /// in a row (gone after 3)".
    pub fn describe(&self) -> String {
        if self.misses > self.gone_after {
            format!(
                "missing in {} listings in a row (gone after {})",
                self.misses, self.gone_after
            )
        } else {
            format!("missing in {} of {} listings", self.misses, self.gone_after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_absent_present_is_never_gone() {
        // Absent once: 1 of 3, not gone; present again: 0 of 3.
        let once = MissCount::new(1, DEFAULT_GONE_AFTER);
        assert!(!once.is_gone());
        assert_eq!(once.describe(), "missing in 1 of 3 listings");
        let back = MissCount::new(0, DEFAULT_GONE_AFTER);
        assert!(!back.is_gone());
        assert_eq!(back.describe(), "missing in 0 of 3 listings");
        assert_eq!(
            MissCount::new(3, 2).describe(),
            "missing in 3 listings in a row (gone after 2)"
        );
        assert_eq!(
            MissCount::new(2, 2).describe(),
            "missing in 2 of 2 listings"
        );
    }

    #[test]
    fn absent_in_three_complete_listings_is_gone_on_the_third() {
        let gone: Vec<bool> = (1..=4)
            .map(|n| MissCount::new(n, DEFAULT_GONE_AFTER).is_gone())
            .collect();
        assert_eq!(gone, vec![false, false, true, true]);
    }

    #[test]
    fn gone_after_zero_means_one() {
        let c = MissCount::new(1, 0);
        assert_eq!(c.gone_after, 1);
        assert!(c.is_gone());
        assert!(!MissCount::new(0, 0).is_gone());
    }
}
