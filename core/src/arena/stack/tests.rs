//! The own stack as the kernel maps it (Linux's `/proc/self/smaps`): read-write pages
//! between two `PROT_NONE` guard pages, advised out of core dumps and wiped in a forked
//! child; the thread's ordinary stack, the control, has neither advice.

extern crate std;

use std::string::String;
use std::vec::Vec;

/// The mapping holding `addr` in `/proc/self/smaps`: its permissions, its `VmFlags`, and
/// the permissions of the mappings right below and right above it (`None` where the next
/// mapping does not start at its edge).
fn mapping_of(addr: usize) -> (String, String, Option<String>, Option<String>) {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    // (start, end, perms, vmflags) of every mapping.
    let mut maps: Vec<(usize, usize, String, String)> = Vec::new();
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            maps.last_mut().unwrap().3 = flags.trim().into();
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) {
            maps.push((start, end, perms.into(), String::new()));
        }
    }
    let at = maps
        .iter()
        .position(|m| m.0 <= addr && addr < m.1)
        .expect("the address is mapped");
    let (start, end) = (maps[at].0, maps[at].1);
    let below = maps.iter().find(|m| m.1 == start).map(|m| m.2.clone());
    let above = maps.iter().find(|m| m.0 == end).map(|m| m.2.clone());
    (maps[at].2.clone(), maps[at].3.clone(), below, above)
}

fn here() -> usize {
    let local = 0u8;
    core::hint::black_box(core::ptr::addr_of!(local) as usize)
}

#[test]
fn the_own_stack_is_guarded_and_advised() {
    let (perms, flags, below, above) = mapping_of(super::on_own_stack(here));
    assert_eq!(perms, "rw-p");
    assert_eq!(below.as_deref(), Some("---p"), "a guard page below");
    assert_eq!(above.as_deref(), Some("---p"), "a guard page above");
    let flags: Vec<&str> = flags.split_whitespace().collect();
    assert!(flags.contains(&"dd"), "MADV_DONTDUMP: {flags:?}");
    assert!(flags.contains(&"wf"), "MADV_WIPEONFORK: {flags:?}");

    // The control: the thread's own stack has neither advice.
    let (_, flags, _, _) = mapping_of(here());
    let flags: Vec<&str> = flags.split_whitespace().collect();
    assert!(
        !flags.contains(&"dd") && !flags.contains(&"wf"),
        "{flags:?}"
    );
}
