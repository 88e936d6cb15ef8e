//! The same code, written as microkv 0.3.0's API allows, compiled twice: against the
//! published 0.3.0 (which shows it is 0.3.0 code) and against this microkv (which shows
//! a 0.3.0 user's code still compiles). `tests/` runs both, and migrates files written by
//! the real 0.3.0.
#![forbid(unsafe_code)]

/// Against the published microkv 0.3.0.
pub mod on_03 {
    use microkv03 as microkv;
    include!("uses.rs");
}

/// Against this microkv.
pub mod on_ours {
    include!("uses.rs");
}
