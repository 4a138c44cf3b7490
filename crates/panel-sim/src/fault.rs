use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::SimError;

/// How long [`Fault::Slow`] waits when parsed from the bare name `slow` (the CLI's
/// `--slow-secs` default).
pub const DEFAULT_SLOW: Duration = Duration::from_secs(120);

/// How long [`Fault::Trickle`] waits between two bytes when parsed from the bare name
/// `trickle`.
pub const DEFAULT_TRICKLE: Duration = Duration::from_secs(2);

/// The `metadata.chunk.records` that [`Fault::HugeTotal`] announces (10^14).
pub const HUGE_TOTAL: u64 = 100_000_000_000_000;

/// The length of the over-long values of [`Fault::OversizedField`] (10 MB).
pub const OVERSIZED_FIELD_BYTES: usize = 10_000_000;

/// A way to make every account listing of a simulator fail (or, for the hostile modes, try
/// to hurt the client).
///
/// Parsed from (and displayed as) the CLI names in [`Fault::NAMES`]. `"slow"` parses to
/// `Slow(DEFAULT_SLOW)`; `"slow:SECS"` is also accepted; likewise `"trickle"` is
/// `Trickle(DEFAULT_TRICKLE)` and `"trickle:MS"` sets the pause in milliseconds.
///
/// The transport modes (`endless`, `trickle`, `gzip`) work the same for every panel
/// ([`crate::transport`]); the others are documented per panel — for cPanel see
/// [`crate::cpanel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 200 with an error envelope (`metadata.result: 0` for WHM API 1) and no data.
    ErrorIn200,
    /// HTTP 500 with an HTML error page.
    Http500,
    /// HTTP 200 whose JSON body is cut in half; the connection then ends.
    Truncated,
    /// Wait this long before answering (the answer is then the normal one).
    Slow(Duration),
    /// Refuse every credential the way a wrong token is refused.
    BadAuth,
    /// A real page whose envelope claims [`HUGE_TOTAL`] records (cPanel:
    /// `metadata.chunk.records`).
    HugeTotal,
    /// HTTP 200 whose body never ends: the normal answer, repeated without end (no
    /// `Content-Length`).
    Endless,
    /// The normal answer, one byte at a time with this pause between bytes.
    Trickle(Duration),
    /// The normal answer with the first account's e-mail and the second account's plan
    /// [`OVERSIZED_FIELD_BYTES`] long.
    OversizedField,
    /// A body that is not the documented envelope (cPanel: a top-level JSON array of the
    /// accounts).
    WrongEnvelope,
    /// The normal answer gzip-compressed with `Content-Encoding: gzip`, whatever the request
    /// asked for.
    Gzip,
}

impl Fault {
    /// The CLI names, in declaration order.
    pub const NAMES: [&'static str; 11] = [
        "error-in-200",
        "http-500",
        "truncated",
        "slow",
        "bad-auth",
        "huge-total",
        "endless",
        "trickle",
        "oversized-field",
        "wrong-envelope",
        "gzip",
    ];

    /// The CLI name of this fault (`Slow` of any duration is `slow`).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ErrorIn200 => "error-in-200",
            Fault::Http500 => "http-500",
            Fault::Truncated => "truncated",
            Fault::Slow(_) => "slow",
            Fault::BadAuth => "bad-auth",
            Fault::HugeTotal => "huge-total",
            Fault::Endless => "endless",
            Fault::Trickle(_) => "trickle",
            Fault::OversizedField => "oversized-field",
            Fault::WrongEnvelope => "wrong-envelope",
            Fault::Gzip => "gzip",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "error-in-200" => Ok(Fault::ErrorIn200),
            "http-500" => Ok(Fault::Http500),
            "truncated" => Ok(Fault::Truncated),
            "slow" => Ok(Fault::Slow(DEFAULT_SLOW)),
            "bad-auth" => Ok(Fault::BadAuth),
            "huge-total" => Ok(Fault::HugeTotal),
            "endless" => Ok(Fault::Endless),
            "trickle" => Ok(Fault::Trickle(DEFAULT_TRICKLE)),
            "oversized-field" => Ok(Fault::OversizedField),
            "wrong-envelope" => Ok(Fault::WrongEnvelope),
            "gzip" => Ok(Fault::Gzip),
            _ => {
                if let Some(Ok(secs)) = t.strip_prefix("slow:").map(|n| n.parse::<u64>()) {
                    Ok(Fault::Slow(Duration::from_secs(secs)))
                } else if let Some(Ok(ms)) = t.strip_prefix("trickle:").map(|n| n.parse::<u64>()) {
                    Ok(Fault::Trickle(Duration::from_millis(ms)))
                } else {
                    Err(SimError::UnknownFault(s.to_string()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_names() {
        assert_eq!(
            "error-in-200".parse::<Fault>().ok(),
            Some(Fault::ErrorIn200)
        );
        assert_eq!("http-500".parse::<Fault>().ok(), Some(Fault::Http500));
        assert_eq!("truncated".parse::<Fault>().ok(), Some(Fault::Truncated));
        assert_eq!(
            "slow".parse::<Fault>().ok(),
            Some(Fault::Slow(DEFAULT_SLOW))
        );
        assert_eq!(
            "slow:3".parse::<Fault>().ok(),
            Some(Fault::Slow(Duration::from_secs(3)))
        );
        assert_eq!("bad-auth".parse::<Fault>().ok(), Some(Fault::BadAuth));
        assert_eq!(
            "trickle:250".parse::<Fault>().ok(),
            Some(Fault::Trickle(Duration::from_millis(250)))
        );
        assert_eq!(
            "trickle".parse::<Fault>().ok(),
            Some(Fault::Trickle(DEFAULT_TRICKLE))
        );
        assert_eq!("Huge-Total".parse::<Fault>().ok(), Some(Fault::HugeTotal));
        assert!("nope".parse::<Fault>().is_err());
        assert!("trickle:x".parse::<Fault>().is_err());
        for name in Fault::NAMES {
            let f: Fault = name.parse().expect("every listed name parses");
            assert_eq!(f.to_string(), name);
        }
    }
}
