//! A v2 directory's fence (`space::search::Fence`): the posts a search starts from are
//! copies of rows, and a forged one is found by the reads it brackets, never taken for
//! an answer.

use alloc::format;
use alloc::string::String;
use hashbrown::HashMap;

use super::header::HEADER_LEN;
use super::v2_tests::fixture;
use crate::error::Error;
use crate::space::{Space, DIR_ENTRY_LEN};

/// A post's hash forged to 0 or to the largest hash (what a search's probes take for the
/// smallest or largest of the directory) fails the reads of the keys it brackets with
/// `Tampered` and no other read: every key reads its own value or fails, none goes
/// missing. Control: the same file unforged reads every key.
#[test]
fn a_forged_fence_post_fails_the_reads_it_brackets_and_hides_no_key() {
    let f = fixture();
    let n = 2000;
    let mut spaces: HashMap<String, Space> = HashMap::new();
    for i in 0..n {
        let key = format!("k{i}");
        let e = f.seal("", &key, key.as_bytes(), None);
        let space = spaces.entry(String::new()).or_default();
        space.insert(&key, &e, false).unwrap();
    }
    let good = f.encode(&spaces);
    let opened = f.decode(good.clone()).unwrap();
    for i in 0..n {
        let key = format!("k{i}");
        assert_eq!(f.value(&opened, "", &key).unwrap(), key.as_bytes());
    }
    // The one namespace's directory starts after the header, a row of 24 bytes for each
    // entry (no expiries), posts every 32 rows.
    for (post, forged) in [(640, 0u64), (640, u64::MAX), (1280, 0), (32, u64::MAX)] {
        let mut bad = good.clone();
        let at = HEADER_LEN + post * DIR_ENTRY_LEN;
        bad[at..at + 8].copy_from_slice(&forged.to_le_bytes());
        let opened = f.decode(bad).unwrap();
        let mut tampered = 0;
        for i in 0..n {
            let key = format!("k{i}");
            match f.value(&opened, "", &key) {
                Ok(value) => assert_eq!(value, key.as_bytes()),
                Err(Error::Tampered) => tampered += 1,
                Err(e) => panic!("post {post} forged {forged:#x}: {key}: {e:?}"),
            }
        }
        // At least the keys between the forged post and the next (or the one before).
        assert!(
            (31..n / 2).contains(&tampered),
            "post {post}: {tampered} tampered"
        );
    }
}
