//! Progress of a long operation, for a progress bar or plain lines: the library reports,
//! the binary renders.

/// Where an operation stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Units of work done and planned (range reads for a backup, blocks for a restore).
    pub done: u64,
    pub total: u64,
    pub rows: u64,
    pub bytes: u64,
}

/// Receives progress; called from the operation's task, so it must be quick.
pub trait ProgressSink: Send + Sync {
    fn update(&self, what: &str, progress: Progress);
    fn finish(&self, _what: &str) {}
}

/// Reports nothing.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn update(&self, _: &str, _: Progress) {}
}
