//! Empty: this package only holds a bench.
