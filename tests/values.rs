//! Values are MessagePack, as in microkv 0.3: a number read as another numeric type is
//! the same number or a typed error, never a different number; self-describing types
//! (`serde_json::Value`, untagged enums, skipped fields, flattened structs) round-trip.

use std::collections::BTreeMap;

use microkv::{Credential, Error, MicroKV};
use serde::{Deserialize, Serialize};

fn db() -> MicroKV {
    MicroKV::in_memory(Credential::key([6; 32])).unwrap()
}

/// `Error::Serialization` whose message names no digit of the stored value (errors end
/// up in logs: they must not quote secrets).
fn typed_error<T: std::fmt::Debug>(r: microkv::Result<Option<T>>, secret: &str) {
    match r {
        Err(Error::Serialization(why)) => assert!(!why.contains(secret), "{why}"),
        other => panic!("expected a typed error, got {other:?}"),
    }
}

#[test]
fn numbers_read_as_other_numeric_types_are_the_same_number_or_an_error() {
    let db = db();
    db.put("u32", &5u32).unwrap();
    db.put("i32", &5i32).unwrap();
    db.put("neg", &-5i32).unwrap();
    db.put("big", &300u32).unwrap();
    db.put("max", &u64::MAX).unwrap();
    db.put("float", &1.5f64).unwrap();
    db.put("text", "777").unwrap();
    assert_eq!(db.get::<i64>("u32").unwrap(), Some(5));
    assert_eq!(db.get::<u8>("u32").unwrap(), Some(5));
    assert_eq!(db.get::<u32>("i32").unwrap(), Some(5));
    assert_eq!(db.get::<i8>("neg").unwrap(), Some(-5));
    assert_eq!(db.get::<f64>("u32").unwrap(), Some(5.0));
    assert_eq!(db.get::<u64>("max").unwrap(), Some(u64::MAX));
    typed_error(db.get::<u32>("neg"), "-5");
    typed_error(db.get::<u8>("big"), "300");
    typed_error(db.get::<i64>("max"), "18446744073709551615");
    typed_error(db.get::<u32>("float"), "1.5");
    typed_error(db.get::<u32>("text"), "777");
    typed_error(db.get::<String>("u32"), "5");
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
#[serde(untagged)]
enum Untagged {
    Number(u64),
    Text(String),
    Pair { a: i8, b: bool },
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
#[serde(tag = "kind")]
enum Internal {
    Login { user: String },
    Logout,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Sparse {
    id: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    note: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    tags: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Outer {
    name: String,
    #[serde(flatten)]
    extra: BTreeMap<String, u32>,
}

#[test]
fn self_describing_types_round_trip() {
    let db = db();
    let json = serde_json::json!({
        "a": [1, -2, 3.5, null, true, "x"],
        "b": {"c": {}, "d": u64::MAX},
    });
    db.put("json", &json).unwrap();
    assert_eq!(db.require::<serde_json::Value>("json").unwrap(), json);
    for (i, v) in [
        Untagged::Number(3),
        Untagged::Text("t".into()),
        Untagged::Pair { a: -1, b: true },
    ]
    .into_iter()
    .enumerate()
    {
        db.put(&format!("untagged{i}"), &v).unwrap();
        assert_eq!(db.require::<Untagged>(&format!("untagged{i}")).unwrap(), v);
    }
    for v in [Internal::Login { user: "u".into() }, Internal::Logout] {
        db.put("internal", &v).unwrap();
        assert_eq!(db.require::<Internal>("internal").unwrap(), v);
    }
    for v in [
        Sparse {
            id: 1,
            note: None,
            tags: vec![],
        },
        Sparse {
            id: 2,
            note: Some("n".into()),
            tags: vec!["t".into()],
        },
    ] {
        db.put("sparse", &v).unwrap();
        assert_eq!(db.require::<Sparse>("sparse").unwrap(), v);
    }
    let outer = Outer {
        name: "o".into(),
        extra: BTreeMap::from([("x".to_string(), 1), ("y".to_string(), 2)]),
    };
    db.put("flatten", &outer).unwrap();
    assert_eq!(db.require::<Outer>("flatten").unwrap(), outer);
    // A struct read through a `serde_json::Value` shows its field names: structs are maps.
    let as_json: serde_json::Value = db.require("sparse").unwrap();
    assert_eq!(
        as_json,
        serde_json::json!({"id": 2, "note": "n", "tags": ["t"]})
    );
    // compare_and_swap compares encodings: a struct matches itself.
    let v = Sparse {
        id: 3,
        note: None,
        tags: vec![],
    };
    db.put("cas", &v).unwrap();
    let next = Sparse { id: 4, ..v.clone() };
    assert!(db.compare_and_swap("cas", Some(&v), Some(&next)).unwrap());
    assert!(!db.compare_and_swap("cas", Some(&v), None).unwrap());
}

#[test]
fn strings_and_byte_vectors_are_secret_bytes() {
    let db = db();
    db.put("s", "s3cr3t").unwrap();
    db.put("v", &vec![0u8, 127, 128, 255]).unwrap();
    db.put("n", &7u32).unwrap();
    assert_eq!(
        db.get_secret_bytes("s").unwrap().unwrap().expose_secret(),
        b"s3cr3t"
    );
    assert_eq!(
        db.get_secret_bytes("v").unwrap().unwrap().expose_secret(),
        &[0, 127, 128, 255]
    );
    assert!(matches!(
        db.get_secret_bytes("n"),
        Err(Error::Serialization(_))
    ));
    let long = "x".repeat(70_000);
    db.put("long", &long).unwrap();
    assert_eq!(
        db.get_secret_bytes("long")
            .unwrap()
            .unwrap()
            .expose_secret(),
        long.as_bytes()
    );
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Token(String);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Port(u16);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Account {
    token: Token,
    ports: Vec<Port>,
    backup: Option<Token>,
    by_name: BTreeMap<String, Port>,
    nested: Nested,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Nested(Token);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Credential0 {
    Bearer(Token),
    Pair { user: Token, port: Port },
}

/// Newtype structs (`struct Token(String)`, the usual way to type a secret) are written as
/// their field, as microkv 0.3 wrote them, and read back as the newtype, alone and inside
/// structs, sequences, options, maps, enums and other newtypes. messagepack-serde 0.2.4
/// alone refuses every one of them ("expected tuple struct Token").
#[test]
fn newtype_structs_round_trip_wherever_they_are() {
    let db = db();
    let token = Token("tok-8c1f".into());
    db.put("token", &token).unwrap();
    assert_eq!(db.get::<Token>("token").unwrap(), Some(token.clone()));
    // Written as the field itself: the same value reads as a plain string.
    assert_eq!(
        db.get::<String>("token").unwrap().as_deref(),
        Some("tok-8c1f")
    );
    db.put("plain", "tok-plain").unwrap();
    assert_eq!(
        db.get::<Token>("plain").unwrap(),
        Some(Token("tok-plain".into()))
    );

    let account = Account {
        token: token.clone(),
        ports: vec![Port(443), Port(8443)],
        backup: Some(Token("tok-backup".into())),
        by_name: BTreeMap::from([("ssh".to_string(), Port(22))]),
        nested: Nested(Token("tok-nested".into())),
    };
    db.put("account", &account).unwrap();
    assert_eq!(db.get::<Account>("account").unwrap(), Some(account));

    for value in [
        Credential0::Bearer(token.clone()),
        Credential0::Pair {
            user: Token("alice".into()),
            port: Port(22),
        },
    ] {
        db.put("enum", &value).unwrap();
        assert_eq!(db.get::<Credential0>("enum").unwrap(), Some(value));
    }
    db.put("ports", &vec![Port(1), Port(2)]).unwrap();
    assert_eq!(
        db.get::<Vec<Port>>("ports").unwrap(),
        Some(vec![Port(1), Port(2)])
    );
    // A stored value that is not the newtype's field is still a typed error.
    typed_error(db.get::<Port>("token"), "tok-8c1f");
}
