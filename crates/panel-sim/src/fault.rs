use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::SimError;

/// How long [`Fault::Slow`] waits when parsed from the bare name `slow` (the CLI's
/// `--slow-secs` default).
pub const DEFAULT_SLOW: Duration = Duration::from_secs(120);

/// A way to make every account listing of a simulator fail.
///
/// Parsed from (and displayed as) the CLI names `error-in-200`, `http-500`, `truncated`,
/// `slow`, `bad-auth`. `"slow"` parses to `Slow(DEFAULT_SLOW)`; `"slow:SECS"` is also accepted.
///
/// What each one does on the wire is documented per panel; for cPanel see [`crate::cpanel`].
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
}

impl Fault {
    /// The CLI names, in declaration order.
    pub const NAMES: [&'static str; 5] =
        ["error-in-200", "http-500", "truncated", "slow", "bad-auth"];

    /// The CLI name of this fault (`Slow` of any duration is `slow`).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ErrorIn200 => "error-in-200",
            Fault::Http500 => "http-500",
            Fault::Truncated => "truncated",
            Fault::Slow(_) => "slow",
            Fault::BadAuth => "bad-auth",
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
            _ => match t.strip_prefix("slow:").map(|n| n.parse::<u64>()) {
                Some(Ok(secs)) => Ok(Fault::Slow(Duration::from_secs(secs))),
                _ => Err(SimError::UnknownFault(s.to_string())),
            },
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
        assert!("nope".parse::<Fault>().is_err());
        for name in Fault::NAMES {
            let f: Fault = name.parse().expect("every listed name parses");
            assert_eq!(f.to_string(), name);
        }
    }
}
