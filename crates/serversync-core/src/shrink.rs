//! A listing that suddenly shrank (issue 11): many accounts missing at once is the classic
//! sign of a broken panel (an empty reseller view, a half-restored backup, an API that pages
//! silently), not of customers leaving. Such a listing raises an alert, and no termination is
//! offered from it without `--force`.

use serde::Serialize;

/// How much a complete listing shrank against the previous complete listing of the same
/// server.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Shrink {
    /// Accounts in the previous complete listing.
    pub previous: usize,
    /// Accounts in this listing.
    pub now: usize,
    /// `(previous - now) / previous`, in `0.0..=1.0`.
    pub missing_share: f64,
}

impl Shrink {
    /// One sentence for people: "the listing shrank from 1000 to 10 accounts (99% missing at
    /// once, above the 50% limit)".
    pub fn describe(&self, max_missing_share: f64) -> String {
        format!(
            "the listing shrank from {} to {} accounts ({:.0}% missing at once, above the {:.0}% limit)",
            self.previous,
            self.now,
            self.missing_share * 100.0,
            max_missing_share * 100.0
        )
    }
}

/// The shrink of a listing of `now` accounts after one of `previous` accounts, when more than
/// `max_missing_share` (a share, `0.0..=1.0`) of the previous accounts are missing at once;
/// `None` otherwise, and when there was no previous account. Both counts must come from
/// complete listings: a failed or incomplete listing says nothing about the panel's size.
pub fn shrinkage(previous: usize, now: usize, max_missing_share: f64) -> Option<Shrink> {
    if previous == 0 || now >= previous {
        return None;
    }
    let missing_share = (previous - now) as f64 / previous as f64;
    (missing_share > max_missing_share).then_some(Shrink {
        previous,
        now,
        missing_share,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_from_1000_to_10_is_a_shrink() {
        let s = shrinkage(1000, 10, 0.5).expect("a shrink");
        assert_eq!((s.previous, s.now), (1000, 10));
        assert!((s.missing_share - 0.99).abs() < 1e-9);
        assert_eq!(
            s.describe(0.5),
            "the listing shrank from 1000 to 10 accounts (99% missing at once, above the 50% limit)"
        );
    }

    #[test]
    fn the_limit_itself_is_not_a_shrink() {
        assert_eq!(shrinkage(1000, 500, 0.5), None);
        assert!(shrinkage(1000, 499, 0.5).is_some());
    }

    #[test]
    fn growth_and_a_first_listing_are_not_shrinks() {
        assert_eq!(shrinkage(0, 0, 0.5), None);
        assert_eq!(shrinkage(10, 20, 0.5), None);
        assert_eq!(shrinkage(10, 10, 0.0), None);
        assert_eq!(shrinkage(10, 0, 0.99).map(|s| s.now), Some(0));
    }
}
