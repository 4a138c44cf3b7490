use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors of the simulator library.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An `--accounts-file` could not be read or is not a JSON array of account objects.
    #[error("accounts file {}: {problem}", path.display())]
    AccountsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A fault name that is not one of [`crate::Fault::NAMES`].
    #[error("unknown fault mode {0:?} (expected one of: error-in-200, http-500, truncated, slow, bad-auth, huge-total, endless, trickle, oversized-field, wrong-envelope, gzip)")]
    UnknownFault(String),
    /// Any other I/O error of the server.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
