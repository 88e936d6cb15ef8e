/*
 * A stand-in bcryptprimitives.dll for running the Windows test build under Wine 8, which
 * lacks this DLL: Rust's std (1.78+) imports ProcessPrng from it for its random numbers
 * (HashMap keys, getrandom), so without it no test executable starts. .ci/run builds it
 * with mingw into the Wine prefix's system32. Real Windows (10 and later) has the DLL.
 *
 * ProcessPrng fills the buffer from RtlGenRandom (advapi32's SystemFunction036), which
 * Wine implements over the host's random source. It always succeeds, as the real one does.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
