//! Return codes, and the message of the last failure on each thread.

use std::cell::RefCell;
use std::ffi::CString;

use tdibt_core::ErrorClass;

/// A failed call: the code it returns and the message `tdibt_last_error` gives.
#[derive(Debug)]
pub struct CapiError {
    pub code: i32,
    pub message: String,
}

impl CapiError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CapiError {
            code,
            message: message.into(),
        }
    }

    /// A call made in the wrong order (before `tdibt_init`, twice, ...).
    pub fn state(message: impl Into<String>) -> Self {
        CapiError::new(crate::TDIBT_ERR_STATE, message)
    }

    /// A bad argument (a null or non-UTF-8 string where one is required, a short stats
    /// struct).
    pub fn argument(message: impl Into<String>) -> Self {
        CapiError::new(crate::TDIBT_ERR_ARGUMENT, message)
    }

    /// An error of the libraries, with the code of its family (the CLI's exit code, negated).
    pub fn of(class: ErrorClass, error: impl std::fmt::Display) -> Self {
        let code = match class {
            ErrorClass::Failure => crate::TDIBT_ERR_FAILURE,
            ErrorClass::Config => crate::TDIBT_ERR_CONFIG,
            ErrorClass::Checkpoint => crate::TDIBT_ERR_CHECKPOINT,
            ErrorClass::TDengine => crate::TDIBT_ERR_TDENGINE,
            ErrorClass::Repository => crate::TDIBT_ERR_REPOSITORY,
            ErrorClass::Verification => crate::TDIBT_ERR_VERIFICATION,
        };
        CapiError::new(code, error.to_string())
    }
}

impl From<tdibt_backup::BackupError> for CapiError {
    fn from(e: tdibt_backup::BackupError) -> Self {
        CapiError::of(e.class(), e)
    }
}

impl From<tdibt_capture::CaptureError> for CapiError {
    fn from(e: tdibt_capture::CaptureError) -> Self {
        CapiError::of(e.class(), e)
    }
}

impl From<tdibt_core::config::ConfigError> for CapiError {
    fn from(e: tdibt_core::config::ConfigError) -> Self {
        CapiError::of(ErrorClass::Config, e)
    }
}

impl From<tdibt_core::CheckpointError> for CapiError {
    fn from(e: tdibt_core::CheckpointError) -> Self {
        CapiError::of(ErrorClass::Checkpoint, e)
    }
}

impl From<tdibt_core::OwnerError> for CapiError {
    fn from(e: tdibt_core::OwnerError) -> Self {
        CapiError::of(ErrorClass::Checkpoint, e)
    }
}

impl From<tdibt_taosdump::TaosdumpError> for CapiError {
    fn from(e: tdibt_taosdump::TaosdumpError) -> Self {
        use tdibt_taosdump::TaosdumpError as E;
        let class = match &e {
            E::Backup(b) => b.class(),
            E::Capture(c) => c.class(),
            E::Checkpoint(_) | E::UnknownDatabase(_) => ErrorClass::Checkpoint,
            E::Config(_) => ErrorClass::Config,
            E::TDengine(_) => ErrorClass::TDengine,
            E::Refused(_) => ErrorClass::Repository,
            _ => ErrorClass::Failure,
        };
        CapiError::of(class, e)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Keeps `message` as this thread's last error (a NUL inside it is replaced).
pub fn set_last(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = c);
}

/// This thread's last error; valid until this thread's next failing call.
pub fn last() -> *const std::ffi::c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr())
}
