//! Vector registers carry no key material into the next signal frame: after a get, a put
//! and a reopen, a `SIGUSR1` handler copies the signal frame's saved vector state (the
//! XSAVE area the kernel writes on the thread's stack: xmm, ymm and, with AVX-512, zmm) and
//! the test looks there for any 16-byte half of the data key, the keyring's cached subkey
//! and the subkey derived for a value sealed by an earlier session (one xmm register holds
//! 16 bytes).
//!
//! Control: the same handler after the test loads the derived subkey into xmm registers
//! itself finds both halves: the frame does hold the registers, and the search sees them.
//! On main before issue 24 (nothing cleared the registers) the store's own calls left
//! halves of the subkeys there.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::sync::atomic::{AtomicBool, Ordering};

use microkv::{AutoSave, Config, Credential, MicroKV};

const FRAME: usize = 4096;
/// The handler's copy of the frame's vector state (written only by the handler, read only
/// after `raise` returned).
static mut SAVED: [u8; FRAME] = [0; FRAME];
static HANDLED: AtomicBool = AtomicBool::new(false);

extern "C" fn handler(_: libc::c_int, _: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `ucontext_t` whose `fpregs` points at the saved
    // FPU/vector state inside the signal frame on this thread's stack; the 4 KiB from
    // there lie in that frame and the live stack above it, all mapped. `SAVED` is written
    // only here, while the test thread waits in `raise`.
    unsafe {
        let uc = context.cast::<libc::ucontext_t>();
        let fp = (*uc).uc_mcontext.fpregs.cast::<u8>();
        std::ptr::copy_nonoverlapping(fp, std::ptr::addr_of_mut!(SAVED).cast::<u8>(), FRAME);
    }
    HANDLED.store(true, Ordering::SeqCst);
}

fn install() {
    // SAFETY: a zeroed sigaction with our handler and SA_SIGINFO is valid; no other
    // handler for SIGUSR1 exists in this binary.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
}

/// Raises SIGUSR1 and returns the handler's copy of the frame's vector state.
#[inline(never)]
fn signal_frame() -> Vec<u8> {
    HANDLED.store(false, Ordering::SeqCst);
    // SAFETY: raise delivers the signal to this thread; the handler above is installed.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
    assert!(HANDLED.load(Ordering::SeqCst));
    // SAFETY: the handler has run and returned; nothing writes `SAVED` now.
    unsafe { std::ptr::addr_of!(SAVED).read().to_vec() }
}

/// Which of `keys`' 16-byte halves appear in `frame`.
fn halves_found(frame: &[u8], keys: &[(&str, [u8; 32])]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, key) in keys {
        for (half, bytes) in key.chunks(16).enumerate() {
            if frame.windows(16).any(|w| w == bytes) {
                found.push(format!("{name} half {half}"));
            }
        }
    }
    found
}

/// HChaCha20 of the data key and a nonce prefix: the subkey of messages under that prefix.
fn subkey(key: &[u8; 32], prefix: &[u8]) -> [u8; 32] {
    use chacha20::cipher::array::Array;
    let key = Array::try_from(&key[..]).unwrap();
    let input = Array::try_from(prefix).unwrap();
    chacha20::hchacha::<chacha20::R20>(&key, &input).into()
}

#[test]
fn no_key_half_is_in_the_signal_frame_after_a_call() {
    install();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regs.kv");
    let config = || Config {
        autosave: AutoSave::Manual,
        ..Config::default()
    };
    {
        let db = MicroKV::open_with(&path, Credential::key([3; 32]), config()).unwrap();
        db.put("token", "a value sealed by session one").unwrap();
        db.save().unwrap();
    }
    let file = std::fs::read(&path).unwrap();
    // Session two opens session one's values with a subkey derived for the call.
    let db = MicroKV::open_with(&path, Credential::key([3; 32]), config()).unwrap();
    let [data, cached] = db.testing_key_material().unwrap();
    let derived = subkey(&data, &file[144..160]);
    let keys = [
        ("data key", *data),
        ("cached subkey", *cached),
        ("session one's subkey", derived),
    ];

    let mut failures = Vec::new();
    let held = db.get_secret_bytes("token").unwrap().unwrap();
    assert_eq!(held.expose_secret(), b"a value sealed by session one");
    let found = halves_found(&signal_frame(), &keys);
    if !found.is_empty() {
        failures.push(format!("after get_secret_bytes: {found:?}"));
    }
    db.put("other", "sealed under session two's subkey")
        .unwrap();
    let found = halves_found(&signal_frame(), &keys);
    if !found.is_empty() {
        failures.push(format!("after put: {found:?}"));
    }
    drop(held);
    drop(db);
    let again = MicroKV::open_with(&path, Credential::key([3; 32]), config()).unwrap();
    let frame = signal_frame();
    let [_, third] = again.testing_key_material().unwrap();
    let mut with_third = keys.to_vec();
    with_third.push(("session three's cached subkey", *third));
    let found = halves_found(&frame, &with_third);
    if !found.is_empty() {
        failures.push(format!("after open: {found:?}"));
    }
    drop(again);

    // Control: the subkey loaded into xmm registers by hand is found.
    // SAFETY: SSE2 loads from a 32-byte array, into registers declared as outputs' inputs.
    unsafe {
        std::arch::asm!(
            "movdqu xmm6, [{p}]",
            "movdqu xmm7, [{p} + 16]",
            p = in(reg) derived.as_ptr(),
            out("xmm6") _,
            out("xmm7") _,
        );
    }
    let control = halves_found(&signal_frame(), &keys[2..]);
    assert_eq!(
        control,
        ["session one's subkey half 0", "session one's subkey half 1"],
        "control: registers loaded by hand must show in the frame"
    );
    assert!(
        failures.is_empty(),
        "key material in the signal frame: {failures:?}"
    );
}
