//! Which system calls take a pointer into secret memory (`memfd_secret(2)`, the arena's
//! pages on Linux 5.14+) on this kernel, and which fail: the facts behind README's
//! "Secret memory and system calls".
//!
//! Secret memory is mapped in the process's page tables and removed from the kernel's
//! direct map. A call that copies through the user address (`copy_from_user`,
//! `copy_to_user`: `write`, `pwrite`, `send`, `read`, `getrandom`) works; a call that pins
//! the user pages to reach them through the kernel's own mapping (`get_user_pages`:
//! `O_DIRECT` I/O, `vmsplice`) fails with `EFAULT`. Each call runs on three buffers: the
//! bytes of a `SecretBytes` from a store whose arena is secret memory, a page of secret
//! memory mapped here (page-aligned, for `O_DIRECT`), and the control, the same page size
//! of ordinary memory, on which every call works (so a failure is secret memory's doing).
#![cfg(target_os = "linux")]

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;

use microkv::{Config, Credential, MemoryPolicy, MicroKV};

const PAGE: usize = 4096;

/// A page-aligned mapping of one page: secret memory or ordinary anonymous memory.
struct Page {
    ptr: *mut u8,
}

impl Page {
    fn secret() -> Page {
        // SAFETY: memfd_secret takes a flags word and returns a descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_memfd_secret, libc::O_CLOEXEC) } as i32;
        assert!(fd >= 0, "this kernel has memfd_secret (Linux 5.14+)");
        // SAFETY: fd is ours; ftruncate sizes the secret file to one page.
        assert_eq!(unsafe { libc::ftruncate(fd, PAGE as libc::off_t) }, 0);
        // SAFETY: mapping the whole file, shared, as memfd_secret requires.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: the mapping keeps the file alive.
        unsafe { libc::close(fd) };
        Page::filled(ptr.cast())
    }

    fn ordinary() -> Page {
        // SAFETY: an anonymous private mapping of one page.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        Page::filled(ptr.cast())
    }

    fn filled(ptr: *mut u8) -> Page {
        // SAFETY: ptr is a fresh writable mapping of PAGE bytes.
        unsafe { std::ptr::write_bytes(ptr, 0x5a, PAGE) };
        Page { ptr }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `secret` or `ordinary`.
        unsafe { libc::munmap(self.ptr.cast(), PAGE) };
    }
}

/// The result of a call as the errno it failed with, or 0.
fn errno(ret: isize) -> i32 {
    if ret < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

/// A pipe's two ends, closed on drop.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe fills two new descriptors, which are then owned here.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both are fresh descriptors of this process.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// The calls, each on `ptr..ptr + len`: (name, errno). With `into`, also the calls that
/// write into the buffer.
fn calls(ptr: *mut u8, len: usize, into: bool) -> Vec<(&'static str, i32)> {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str, flags: i32| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(flags)
            .open(dir.path().join(name))
            .unwrap()
    };
    let (_pipe_r, pipe_w) = pipe();
    let (_vm_r, vm_w) = pipe();
    let file = open("plain", 0);
    let (a, _b) = UnixStream::pair().unwrap();
    let buf = ptr.cast::<libc::c_void>();
    let iov = libc::iovec {
        iov_base: buf,
        iov_len: len,
    };
    let mut out = Vec::new();
    // SAFETY (each call): ptr..ptr+len is a live mapping of this process; a call reads
    // (or, with `into`, writes) at most len bytes of it; only its result is inspected.
    unsafe {
        out.push((
            "write to a pipe",
            errno(libc::write(pipe_w.as_raw_fd(), buf, len)),
        ));
        out.push((
            "write to a file",
            errno(libc::write(file.as_raw_fd(), buf, len)),
        ));
        out.push((
            "pwrite to a file",
            errno(libc::pwrite(file.as_raw_fd(), buf, len, 8192)),
        ));
        out.push((
            "send on a Unix socket",
            errno(libc::send(a.as_raw_fd(), buf, len, 0)),
        ));
        if into {
            out.push((
                "read from a file into it",
                errno(libc::pread(file.as_raw_fd(), buf, len, 0)),
            ));
            out.push(("getrandom into it", errno(libc::getrandom(buf, len, 0))));
        }
        if len.is_multiple_of(512) && (ptr as usize).is_multiple_of(PAGE) {
            let direct = open("direct", libc::O_DIRECT);
            out.push((
                "write with O_DIRECT",
                errno(libc::write(direct.as_raw_fd(), buf, len)),
            ));
        }
        out.push((
            "vmsplice into a pipe",
            errno(libc::vmsplice(vm_w.as_raw_fd(), &iov, 1, 0)),
        ));
    }
    out
}

#[test]
fn copying_calls_work_on_secret_memory_and_page_pinning_calls_fail() {
    let expected: &[(&str, i32)] = &[
        ("write to a pipe", 0),
        ("write to a file", 0),
        ("pwrite to a file", 0),
        ("send on a Unix socket", 0),
        ("read from a file into it", 0),
        ("getrandom into it", 0),
        ("write with O_DIRECT", libc::EFAULT),
        ("vmsplice into a pipe", libc::EFAULT),
    ];

    // The control: ordinary memory, every call works.
    let ordinary = Page::ordinary();
    let control = calls(ordinary.ptr, PAGE, true);
    assert_eq!(control.len(), expected.len());
    for (name, err) in &control {
        assert_eq!(*err, 0, "{name} on ordinary memory");
    }

    // A page of secret memory.
    let secret = Page::secret();
    let got = calls(secret.ptr, PAGE, true);
    eprintln!("on a page of secret memory:");
    for (name, err) in &got {
        eprintln!(
            "  {name:28} {}",
            if *err == 0 {
                "works".to_string()
            } else {
                std::io::Error::from_raw_os_error(*err).to_string()
            }
        );
    }
    assert_eq!(got, expected);

    // The store's own bytes: a SecretBytes from an arena that is secret memory.
    let config = Config {
        memory: MemoryPolicy::RequireSecretMemory,
        ..Default::default()
    };
    let db = MicroKV::in_memory_with(Credential::key([3; 32]), config).unwrap();
    assert!(db.memory_report().secret_memory, "{:?}", db.memory_report());
    db.put("token", &"t".repeat(1000)).unwrap();
    let token = db.get_secret_bytes("token").unwrap().unwrap();
    let bytes = token.expose_secret();
    // Only the calls that read it (the store's bytes are not ours to write), and no
    // O_DIRECT (not page-aligned); the rest as on the page.
    let got = calls(bytes.as_ptr().cast_mut(), bytes.len(), false);
    let reading: Vec<_> = expected
        .iter()
        .copied()
        .filter(|(name, _)| !name.ends_with("into it") && *name != "write with O_DIRECT")
        .collect();
    assert_eq!(got, reading);
}
