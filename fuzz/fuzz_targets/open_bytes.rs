#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| microkv_fuzz::open_bytes(data));
