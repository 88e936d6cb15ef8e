//! Typed secrets: `get_secret::<T>` for any `T: DeserializeOwned + Zeroize` wipes the `T`
//! when its `Secret` drops (and not after `into_inner`: the control), `SecretBytes` speaks
//! `secrecy`'s `ExposeSecret` and `Zeroize`, and `secrecy`'s own types go in and out.

use std::sync::atomic::{AtomicUsize, Ordering};

use microkv::secrecy::{ExposeSecret, SecretBox, SecretString};
use microkv::{Credential, MicroKV};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

fn db() -> MicroKV {
    MicroKV::in_memory(Credential::key([6; 32])).unwrap()
}

/// A token record, as a service keeps one.
#[derive(Serialize, Deserialize, Zeroize, PartialEq, Debug)]
struct Token {
    token: String,
    expires: u64,
    scopes: Vec<String>,
}

/// Counts the times it is wiped, so a test can see whether a drop wiped it.
#[derive(Serialize, Deserialize)]
struct Counted {
    secret: String,
}

static WIPES: AtomicUsize = AtomicUsize::new(0);

impl Zeroize for Counted {
    fn zeroize(&mut self) {
        self.secret.zeroize();
        WIPES.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_token_record_reads_as_a_secret_and_is_wiped_on_drop() {
    let db = db();
    let token = Token {
        token: "tok-123".into(),
        expires: 1_900_000_000,
        scopes: vec!["read".into(), "write".into()],
    };
    db.put("token", &token).unwrap();
    let read = db.get_secret::<Token>("token").unwrap().unwrap();
    assert_eq!(read.expose_secret(), &token);
    assert_eq!(read.expose(), &token); // microkv 0.3's name
    assert_eq!(format!("{read:?}"), "Secret(<redacted>)");

    db.put(
        "counted",
        &Counted {
            secret: "s3cr3t".into(),
        },
    )
    .unwrap();
    let before = WIPES.load(Ordering::SeqCst);
    let secret = db.get_secret::<Counted>("counted").unwrap().unwrap();
    assert_eq!(secret.expose_secret().secret, "s3cr3t");
    drop(secret);
    assert_eq!(
        WIPES.load(Ordering::SeqCst),
        before + 1,
        "dropping a Secret wipes it"
    );
    // The control: a value taken out with `into_inner` is the caller's, not wiped.
    let taken = db
        .get_secret::<Counted>("counted")
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(WIPES.load(Ordering::SeqCst), before + 1);
    assert_eq!(taken.secret, "s3cr3t");
}

#[test]
fn secret_bytes_is_expose_secret_and_zeroize() {
    fn exposed(secret: &impl ExposeSecret<[u8]>) -> Vec<u8> {
        secret.expose_secret().to_vec()
    }
    let db = db();
    db.put("api-token", "s3cr3t").unwrap();
    let mut bytes = db.get_secret_bytes("api-token").unwrap().unwrap();
    assert_eq!(exposed(&bytes), b"s3cr3t");
    let boxed = SecretBox::<[u8]>::from(&bytes);
    assert_eq!(boxed.expose_secret(), b"s3cr3t");
    bytes.zeroize();
    assert!(bytes.is_empty());
    assert_eq!(exposed(&bytes), b"");
    // The caller's copy is its own: unchanged by wiping the arena's.
    assert_eq!(boxed.expose_secret(), b"s3cr3t");
}

#[test]
fn secrecy_types_go_in_and_out() {
    let db = db();
    let password = SecretString::from("hunter2");
    db.put("password", password.expose_secret()).unwrap();
    let read = db.get_secret::<SecretString>("password").unwrap().unwrap();
    assert_eq!(read.expose_secret().expose_secret(), "hunter2");

    let key = SecretBox::<[u8]>::from(vec![7u8; 48]);
    db.put_bytes("key", key.expose_secret()).unwrap();
    let read = SecretBox::<[u8]>::from(&db.get_secret_bytes("key").unwrap().unwrap());
    assert_eq!(read.expose_secret(), key.expose_secret());

    // A store opened from a secrecy password, and refused with another.
    let storage = microkv::MemoryStorage::default();
    let config = microkv::Config {
        kdf: microkv::KdfParams::scrypt(4, 8, 1),
        ..Default::default()
    };
    let made = MicroKV::with_storage(storage.clone(), Credential::from(&password), config.clone());
    made.unwrap().save().unwrap();
    let again = MicroKV::with_storage(storage.clone(), Credential::from(password), config.clone());
    assert!(again.is_ok());
    let wrong = Credential::from(SecretString::from("hunter3"));
    let refused = MicroKV::with_storage(storage, wrong, config);
    assert!(matches!(refused, Err(microkv::Error::WrongPassword)));
}
