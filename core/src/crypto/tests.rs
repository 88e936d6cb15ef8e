//! The AEAD implementations against RustCrypto's XChaCha20-Poly1305, a published test
//! vector and each other; the keyring and the key wrap against tampering.
use super::aead::{Aead, Chosen};
use super::rustcrypto_aead::RustCrypto;
use super::*;
use crate::arena::{Arena, HeapPages, MemoryPolicy};
use crate::error::Error;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305};

fn arena() -> Arc<Arena> {
    Arena::new(Arc::new(HeapPages), MemoryPolicy::BestEffort)
}

/// A keyring on a random data key.
fn random_keyring(arena: &Arc<Arena>) -> Keyring {
    let mut key = [0u8; KEY_LEN];
    random(&mut key).unwrap();
    Keyring::with_key(arena, &key).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// RustCrypto's XChaCha20-Poly1305 used directly: `ciphertext || tag`.
fn reference_seal(key: &[u8], nonce: &XNonce, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = plaintext.to_vec();
    let tag = XChaCha20Poly1305::new_from_slice(key)
        .unwrap()
        .encrypt_inout_detached(&(*nonce).into(), aad, InOutBuf::from(&mut out[..]))
        .unwrap();
    out.extend_from_slice(&tag);
    out
}

/// Every implementation compiled into this test build (this build's, and RustCrypto's,
/// a dev-dependency, in a ring build), under the subkey and nonce that [`xchacha`]
/// derives, seals `plaintext` to `expected` (XChaCha20-Poly1305 by the reference) and
/// opens it back, both ways.
fn check_paths(key: &[u8], nonce: &XNonce, aad: &[u8], plaintext: &[u8], expected: &[u8]) {
    check::<Chosen>("chosen", key, nonce, aad, plaintext, expected);
    check::<RustCrypto>("rustcrypto", key, nonce, aad, plaintext, expected);
    #[cfg(all(
        feature = "ring",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        not(microkv_aead = "rustcrypto")
    ))]
    check::<super::ring_aead::Ring>("ring", key, nonce, aad, plaintext, expected);
}

fn check<A: Aead>(
    name: &str,
    key: &[u8],
    nonce: &XNonce,
    aad: &[u8],
    plaintext: &[u8],
    expected: &[u8],
) {
    let len = plaintext.len();
    let mut joined = vec![0u8; len + TAG_LEN];
    xchacha(key, nonce, |k, n| {
        A::seal(k, n, aad, plaintext, &mut joined)
    })
    .unwrap();
    assert_eq!(joined, expected, "{name} seal, length {len}");

    let mut body = plaintext.to_vec();
    let tag = xchacha(key, nonce, |k, n| A::seal_in_place(k, n, aad, &mut body)).unwrap();
    assert_eq!(body, expected[..len], "{name} seal_in_place, length {len}");
    assert_eq!(tag[..], expected[len..], "{name} tag, length {len}");

    let mut plain = vec![0u8; len];
    xchacha(key, nonce, |k, n| A::open(k, n, aad, expected, &mut plain)).unwrap();
    assert_eq!(plain, plaintext, "{name} open, length {len}");

    let mut buf = expected[..len].to_vec();
    let tag = Tag::try_from(&expected[len..]).unwrap();
    xchacha(key, nonce, |k, n| {
        A::open_in_place(k, n, aad, &mut buf, &tag)
    })
    .unwrap();
    assert_eq!(buf, plaintext, "{name} open_in_place, length {len}");

    // A failed open wipes what it wrote.
    let mut bad = expected.to_vec();
    bad[len] ^= 1;
    let mut plain = vec![0x77u8; len];
    let failed = xchacha(key, nonce, |k, n| A::open(k, n, aad, &bad, &mut plain));
    assert!(
        matches!(failed, Err(Error::Crypto)),
        "{name} open of a bad tag"
    );
    assert!(plain.iter().all(|&b| b == 0), "{name}: a failed open wiped");
}

/// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
#[test]
fn xchacha20_poly1305_test_vector() {
    let key: Vec<u8> = (0x80..=0x9f).collect();
    let nonce = XNonce::try_from(&(0x40..=0x57).collect::<Vec<u8>>()[..]).unwrap();
    let aad = hex("50515253c0c1c2c3c4c5c6c7");
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you \
only one tip for the future, sunscreen would be it.";
    let mut expected = hex(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb\
         731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452\
         2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9\
         21f9664c97637da9768812f615c68b13b52e",
    );
    expected.extend_from_slice(&hex("c0875924c1c7987947deafd8780acf49"));
    assert_eq!(reference_seal(&key, &nonce, &aad, plaintext), expected);
    check_paths(&key, &nonce, &aad, plaintext, &expected);

    // Through the keyring, as the store and the file format call it.
    let arena = arena();
    let ring = Keyring::with_key(&arena, &key).unwrap();
    let mut body = plaintext.to_vec();
    let tag = ring.seal_in_place(&nonce, &aad, &mut body).unwrap();
    assert_eq!(body, expected[..plaintext.len()]);
    assert_eq!(tag[..], expected[plaintext.len()..]);
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&expected);
    assert_eq!(&ring.open(&arena, &aad, &sealed).unwrap()[..], plaintext);
    let (ct, tag) = expected.split_at(plaintext.len());
    let mut buf = ct.to_vec();
    ring.open_in_place(&nonce, &aad, &mut buf, tag).unwrap();
    assert_eq!(buf, plaintext);
}

/// Random keys, nonces, associated data and plaintexts: every length up to 1100, then
/// every seventh up to 5000 (the unoptimised test build makes all 5001 slow): every
/// implementation agrees with RustCrypto's XChaCha20-Poly1305.
#[test]
fn every_path_matches_rustcrypto_on_random_inputs() {
    let arena = arena();
    let ring = random_keyring(&arena);
    let mut key = [0u8; KEY_LEN];
    let mut nonce: XNonce = [0; NONCE_LEN];
    let mut data = vec![0u8; 5000 + 64];
    let lengths = (0..=1100).chain((1101..5000).step_by(7)).chain([5000]);
    for len in lengths {
        random(&mut key).unwrap();
        random(&mut nonce).unwrap();
        random(&mut data).unwrap();
        let (plaintext, rest) = data.split_at(len);
        let aad = &rest[..len % 61];
        let expected = reference_seal(&key, &nonce, aad, plaintext);
        check_paths(&key, &nonce, aad, plaintext, &expected);

        // The keyring's own nonces and key.
        let sealed = ring.seal(aad, plaintext).unwrap();
        let (n, body) = sealed.split_at(NONCE_LEN);
        let n = XNonce::try_from(n).unwrap();
        assert_eq!(
            body,
            reference_seal(ring.data_key(), &n, aad, plaintext),
            "keyring seal, length {len}"
        );
        assert_eq!(&ring.open(&arena, aad, &sealed).unwrap()[..], plaintext);

        // A message under another prefix (an earlier session's): the subkey derived
        // for the call instead of the cached one.
        let mut foreign = nonce.to_vec();
        foreign.extend_from_slice(&reference_seal(ring.data_key(), &nonce, aad, plaintext));
        assert_eq!(&ring.open(&arena, aad, &foreign).unwrap()[..], plaintext);
    }
}

#[test]
fn tampering_is_rejected_at_every_length() {
    let arena = arena();
    let ring = random_keyring(&arena);
    let aad = b"\x01\x00\x00\x00\x00name";
    for len in [0, 1, 63, 64, 511, 512, 513, 4096] {
        let plaintext = vec![0x5a; len];
        let sealed = ring.seal(aad, &plaintext).unwrap();
        assert_eq!(
            &ring.open(&arena, aad, &sealed).unwrap()[..],
            &plaintext[..]
        );
        // Every byte position: nonce, ciphertext, tag.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(ring.open(&arena, aad, &bad), Err(Error::Crypto)),
                "length {len}, byte {i} flipped"
            );
        }
        assert!(matches!(
            ring.open(&arena, b"\x01\x00\x00\x00\x00other", &sealed),
            Err(Error::Crypto)
        ));
        assert!(matches!(
            ring.open(&arena, aad, &sealed[..sealed.len() - 1]),
            Err(Error::Crypto)
        ));

        // In place, detached: ciphertext, tag and associated data.
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(len);
        let mut bad_tag = tag.to_vec();
        bad_tag[15] ^= 0x80;
        // A failed open wipes the buffer: each attempt starts from the ciphertext.
        let mut buf = ct.to_vec();
        assert!(matches!(
            ring.open_in_place(nonce, aad, &mut buf, &bad_tag),
            Err(Error::Tampered)
        ));
        assert!(buf.iter().all(|&b| b == 0), "length {len}: wiped");
        buf.copy_from_slice(ct);
        assert!(matches!(
            ring.open_in_place(nonce, b"", &mut buf, tag),
            Err(Error::Tampered)
        ));
        buf.copy_from_slice(ct);
        if len > 0 {
            buf[len / 2] ^= 0x04;
            assert!(matches!(
                ring.open_in_place(nonce, aad, &mut buf, tag),
                Err(Error::Tampered)
            ));
            buf.copy_from_slice(ct);
        }
        ring.open_in_place(nonce, aad, &mut buf, tag).unwrap();
        assert_eq!(buf, plaintext);
    }
    assert!(matches!(
        ring.open(&arena, aad, &[0u8; SEAL_OVERHEAD - 1]),
        Err(Error::Crypto)
    ));
}

#[test]
fn wrapped_data_key_round_trips_and_rejects_tampering() {
    let arena = arena();
    let schedule = KeySchedule::derive(&arena, b"root secret", b"salt").unwrap();
    let ring = Keyring::generate(&arena).unwrap();
    let wrapped = schedule.wrap(ring.data_key(), b"header").unwrap();
    let back = schedule.unwrap(&arena, &wrapped, b"header").unwrap();
    assert_eq!(back.data_key(), ring.data_key());
    for i in 0..WRAPPED_LEN {
        let mut bad = wrapped;
        bad[i] ^= 0x10;
        assert!(matches!(
            schedule.unwrap(&arena, &bad, b"header"),
            Err(Error::Tampered)
        ));
    }
    assert!(matches!(
        schedule.unwrap(&arena, &wrapped, b"other"),
        Err(Error::Tampered)
    ));
}

#[test]
fn the_nonce_counter_never_wraps() {
    let arena = arena();
    let ring = Keyring::generate(&arena).unwrap();
    ring.set_counter(u64::MAX - 2);
    let counter = |nonce: &XNonce| u64::from_le_bytes(nonce[16..].try_into().unwrap());
    assert_eq!(counter(&ring.next_nonce().unwrap()), u64::MAX - 2);
    assert_eq!(counter(&ring.next_nonce().unwrap()), u64::MAX - 1);
    // Spent: every later call fails (with `fetch_add`, the first failure wrapped the
    // counter to 0, and the next call handed out nonce 0 again).
    for _ in 0..3 {
        assert!(matches!(ring.next_nonce(), Err(Error::Crypto)));
    }
    assert!(matches!(ring.seal(b"aad", b"plain"), Err(Error::Crypto)));
}

/// The scrub's depth is measured, not assumed: between one step and the measuring stack,
/// and a call run on a stack of its own leaves the thread's stack untouched.
#[test]
fn the_scrub_depth_is_measured_in_this_build() {
    use crate::arena::stack;
    let depth = super::scrub::depth();
    extern crate std;
    std::println!("scrub depth in this build: {depth} bytes");
    if stack::own_stack_supported() {
        assert!(depth > 1024 && depth < stack::OWN_STACK, "{depth}");
        // A call that uses 64 KiB of stack, measured as such.
        let used = stack::depth_of(|| {
            let mut big = [1u8; 64 * 1024];
            core::hint::black_box(&mut big);
        })
        .unwrap();
        assert!((64 * 1024..80 * 1024).contains(&used), "{used}");
    } else {
        assert_eq!(depth, stack::FALLBACK_SCRUB);
    }
}

#[test]
fn values_under_other_prefixes_open_through_the_kept_subkey_and_without_it() {
    let arena = arena();
    let key = [0x42u8; KEY_LEN];
    // Two earlier sessions' values (their own prefixes), opened by a third.
    let first = Keyring::with_key(&arena, &key).unwrap();
    let second = Keyring::with_key(&arena, &key).unwrap();
    let sealed: Vec<(Vec<u8>, Vec<u8>)> = (0..6u8)
        .map(|i| {
            let plain = alloc::vec![i; 40 + usize::from(i)];
            let ring = if i % 2 == 0 { &first } else { &second };
            (ring.seal(b"aad", &plain).unwrap(), plain)
        })
        .collect();
    let reader = Keyring::with_key(&arena, &key).unwrap();
    for _ in 0..3 {
        for (s, plain) in &sealed {
            let mut out = alloc::vec![0u8; plain.len()];
            reader.open_into(b"aad", s, &mut out).unwrap();
            assert_eq!(&out, plain);
            // Tampered, under the kept prefix and under the other one: refused.
            let mut bad = s.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert!(reader.open_into(b"aad", &bad, &mut out).is_err());
        }
    }
}

/// A read region ([`scrubbed`]) defers the scrubs of the AEAD calls inside it and scrubs
/// for them as it closes: after an open inside one, no copy of the cached subkey is left in
/// the dead stack below. Control: the same region closed without its scrub leaves ring's
/// copy there, which shows the calls' own scrubs were deferred, and that the scan finds it.
#[cfg(all(feature = "std", target_os = "linux"))]
#[test]
fn a_read_region_scrubs_for_the_calls_it_deferred() {
    extern crate std;
    use std::os::unix::fs::FileExt;

    #[inline(never)]
    fn at_depth(n: usize, f: &dyn Fn()) {
        let mut pad = [0u8; 1024];
        core::hint::black_box(&mut pad);
        if n == 0 {
            f()
        } else {
            at_depth(n - 1, f)
        }
        core::hint::black_box(&mut pad);
    }
    #[inline(never)]
    fn frame_address() -> usize {
        let here = 0u8;
        core::hint::black_box(&here) as *const u8 as usize
    }

    let arena = arena();
    let ring = Keyring::generate(&arena).unwrap();
    let sealed = ring.seal(b"aad", &[7u8; 64]).unwrap();
    let [_, subkey] = ring.key_material();
    let mem = std::fs::File::open("/proc/self/mem").unwrap();
    let mut buf = vec![0u8; 120 * 1024];
    // Whether the subkey is in the dead stack 6-126 KiB below this frame after `region`
    // ran an open 8 KiB below it.
    let mut left_behind = |region: &dyn Fn(&dyn Fn())| {
        let top = frame_address();
        at_depth(8, &|| {
            region(&|| {
                let mut out = [0u8; 64];
                ring.open_into(b"aad", &sealed, &mut out).unwrap();
            })
        });
        mem.read_exact_at(&mut buf, (top - 126 * 1024) as u64)
            .unwrap();
        buf.windows(32).any(|w| w == &subkey[..])
    };
    assert!(
        left_behind(&|open| super::scrub::unscrubbed(open)),
        "control: a region closed without its scrub leaves ring's copy of the subkey"
    );
    assert!(
        !left_behind(&|open| super::scrub::scrubbed(open)),
        "a closed region leaves no copy of the subkey"
    );
}
