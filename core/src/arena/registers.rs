//! Clearing the vector registers after a call that held key material.
//!
//! The AEAD and hash implementations keep keys, subkeys and cipher state in vector
//! registers, and nothing clears them when the call returns (ring's assembly ends with
//! `vzeroupper`, which keeps the low 128 bits). What stays there is written to memory by
//! the next signal: the kernel saves the registers into the signal frame on the thread's
//! stack, below any scrub (issue 24 found a whole subkey in two xmm slots 35.7 KiB down).
//! [`clear`] zeroes them: on x86_64 `vzeroall` where the CPU and the OS have AVX (ymm0-15,
//! all of zmm0-15 on AVX-512 hardware) plus `vpxord` on zmm16-31 where they have AVX-512F
//! and VL, `xorps` on xmm0-15 otherwise; on aarch64 `movi` on v0-v31. What the CPU has is
//! detected once (`cpuid`, and `xgetbv` for what the OS saves) and cached. On other
//! architectures, and targets built without SSE2 or NEON, it does nothing.
//!
//! Registers the platform's calling convention preserves (xmm6-15 on Windows, the low
//! halves of v8-v15 on aarch64) are declared clobbered, so the compiler saves and restores
//! them around the clearing: they hold the caller's own live values, not the callee's.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// Zeroes the vector registers of this thread (see the module documentation).
#[inline(never)]
pub(crate) fn clear() {
    imp::clear();
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod imp {
    use core::arch::asm;
    use core::sync::atomic::{AtomicU8, Ordering};

    const UNKNOWN: u8 = 0;
    const SSE: u8 = 1;
    const AVX: u8 = 2;
    const AVX512: u8 = 3;

    /// What the CPU and the OS give: one of the constants above.
    static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);

    fn detect() -> u8 {
        #[allow(unused_unsafe)]
        // SAFETY: `cpuid` exists on every x86_64 CPU and only reads identification.
        let (leaf1, leaf7) = unsafe {
            let max = core::arch::x86_64::__cpuid(0).eax;
            let leaf7 = if max >= 7 {
                core::arch::x86_64::__cpuid_count(7, 0).ebx
            } else {
                0
            };
            (core::arch::x86_64::__cpuid(1).ecx, leaf7)
        };
        let osxsave = leaf1 & (1 << 27) != 0;
        let avx = leaf1 & (1 << 28) != 0;
        if !(osxsave && avx) {
            return SSE;
        }
        let xcr0: u64;
        // SAFETY: with CPUID.1:ECX.OSXSAVE set, `xgetbv` with ecx = 0 is valid in user mode
        // and only reads XCR0 into edx:eax.
        unsafe {
            let (lo, hi): (u32, u32);
            asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi,
                 options(nomem, nostack, preserves_flags));
            xcr0 = u64::from(hi) << 32 | u64::from(lo);
        }
        // The OS saves xmm and ymm state (bits 1, 2)...
        if xcr0 & 0b110 != 0b110 {
            return SSE;
        }
        // ...and opmask, zmm0-15's upper halves and zmm16-31 (bits 5, 6, 7); AVX-512VL
        // for the 128-bit EVEX form that zeroes a whole zmm16-31 register.
        let avx512 = leaf7 & (1 << 16) != 0 && leaf7 & (1 << 31) != 0;
        if avx512 && xcr0 & 0b1110_0000 == 0b1110_0000 {
            AVX512
        } else {
            AVX
        }
    }

    pub(super) fn clear() {
        let mut level = LEVEL.load(Ordering::Relaxed);
        if level == UNKNOWN {
            level = detect();
            LEVEL.store(level, Ordering::Relaxed);
        }
        match level {
            // SAFETY: `detect` found AVX-512F in the CPU and its state enabled by the OS.
            AVX512 => unsafe { clear_avx512() },
            // SAFETY: `detect` found AVX in the CPU and its state enabled by the OS.
            AVX => unsafe { clear_avx() },
            _ => clear_sse(),
        }
    }

    fn clear_sse() {
        // SAFETY: zeroes xmm0-15 (SSE2 is part of x86_64), each declared as an output.
        unsafe {
            asm!(
                "xorps xmm0, xmm0", "xorps xmm1, xmm1", "xorps xmm2, xmm2", "xorps xmm3, xmm3",
                "xorps xmm4, xmm4", "xorps xmm5, xmm5", "xorps xmm6, xmm6", "xorps xmm7, xmm7",
                "xorps xmm8, xmm8", "xorps xmm9, xmm9", "xorps xmm10, xmm10",
                "xorps xmm11, xmm11", "xorps xmm12, xmm12", "xorps xmm13, xmm13",
                "xorps xmm14, xmm14", "xorps xmm15, xmm15",
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
                options(nomem, nostack, preserves_flags),
            );
        }
    }

    #[target_feature(enable = "avx")]
    unsafe fn clear_avx() {
        // SAFETY: the caller checked AVX; `vzeroall` zeroes ymm0-15, each declared as an
        // output.
        unsafe {
            asm!(
                "vzeroall",
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                options(nomem, nostack, preserves_flags),
            );
        }
    }

    #[target_feature(enable = "avx512f,avx512vl")]
    unsafe fn clear_avx512() {
        // SAFETY: the caller checked AVX-512F and VL; `vzeroall` zeroes zmm0-15 whole on
        // such a CPU, and `vpxord` on xmm16-31 (EVEX, 128 bits: no 512-bit operation, so no
        // change of the core's frequency license) zeroes each of zmm16-31 up to its top
        // bit; each register is declared as an output.
        unsafe {
            asm!(
                "vzeroall",
                "vpxord xmm16, xmm16, xmm16", "vpxord xmm17, xmm17, xmm17",
                "vpxord xmm18, xmm18, xmm18", "vpxord xmm19, xmm19, xmm19",
                "vpxord xmm20, xmm20, xmm20", "vpxord xmm21, xmm21, xmm21",
                "vpxord xmm22, xmm22, xmm22", "vpxord xmm23, xmm23, xmm23",
                "vpxord xmm24, xmm24, xmm24", "vpxord xmm25, xmm25, xmm25",
                "vpxord xmm26, xmm26, xmm26", "vpxord xmm27, xmm27, xmm27",
                "vpxord xmm28, xmm28, xmm28", "vpxord xmm29, xmm29, xmm29",
                "vpxord xmm30, xmm30, xmm30", "vpxord xmm31, xmm31, xmm31",
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _,
                out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _,
                out("zmm20") _, out("zmm21") _, out("zmm22") _, out("zmm23") _,
                out("zmm24") _, out("zmm25") _, out("zmm26") _, out("zmm27") _,
                out("zmm28") _, out("zmm29") _, out("zmm30") _, out("zmm31") _,
                options(nomem, nostack, preserves_flags),
            );
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod imp {
    use core::arch::asm;

    pub(super) fn clear() {
        // SAFETY: zeroes v0-v31 (Advanced SIMD is part of AArch64), each declared as an
        // output.
        unsafe {
            asm!(
                "movi v0.16b, #0", "movi v1.16b, #0", "movi v2.16b, #0", "movi v3.16b, #0",
                "movi v4.16b, #0", "movi v5.16b, #0", "movi v6.16b, #0", "movi v7.16b, #0",
                "movi v8.16b, #0", "movi v9.16b, #0", "movi v10.16b, #0", "movi v11.16b, #0",
                "movi v12.16b, #0", "movi v13.16b, #0", "movi v14.16b, #0",
                "movi v15.16b, #0", "movi v16.16b, #0", "movi v17.16b, #0",
                "movi v18.16b, #0", "movi v19.16b, #0", "movi v20.16b, #0",
                "movi v21.16b, #0", "movi v22.16b, #0", "movi v23.16b, #0",
                "movi v24.16b, #0", "movi v25.16b, #0", "movi v26.16b, #0",
                "movi v27.16b, #0", "movi v28.16b, #0", "movi v29.16b, #0",
                "movi v30.16b, #0", "movi v31.16b, #0",
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                out("v12") _, out("v13") _, out("v14") _, out("v15") _,
                out("v16") _, out("v17") _, out("v18") _, out("v19") _,
                out("v20") _, out("v21") _, out("v22") _, out("v23") _,
                out("v24") _, out("v25") _, out("v26") _, out("v27") _,
                out("v28") _, out("v29") _, out("v30") _, out("v31") _,
                options(nomem, nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(any(
    all(target_arch = "x86_64", target_feature = "sse2"),
    all(target_arch = "aarch64", target_feature = "neon")
)))]
mod imp {
    pub(super) fn clear() {}
}
